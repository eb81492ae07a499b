"""Read an ONNX graph of recurrent operators into an ordinary unrolled model
(``unrolled.load_model("m.onnx")``; needs the ``[onnx]`` extra).

The importer interprets the graph instead of running it (:mod:`unrolled.io.onnx_values`):
constants are folded with ONNX's reference evaluator, ``Shape``-derived sizes stay
symbolic, and the data flowing from the input collects a chain of layers:

======================================  ===============================================
ONNX                                    unrolled
======================================  ===============================================
``LSTM`` / ``GRU`` / ``RNN``            LSTM / GRU / SimpleRNN (Bidirectional for
                                        ``direction="bidirectional"``; ``go_backwards``
                                        for ``"reverse"``; :mod:`.onnx_recurrent`)
``Y`` used                              ``return_sequences=True``
``Y_h``, or ``Y`` at its last step       ``return_sequences=False``
(``Gather``/``Slice`` on time)
``MatMul`` (+ ``Add``), ``Gemm``        Dense (its activation: the op after it)
``Transpose``, ``Squeeze``,             nothing: they only move axes; the importer tracks
``Unsqueeze``, ``Reshape``, ``Identity``,  which axis is batch, time, direction, features
``Dropout``, ``Cast`` to float
``Shape``, ``ConstantOfShape``, ...     zero initial states (PyTorch's exporter), folded
======================================  ===============================================

The model always takes (batch, timesteps, features) and returns batch-first outputs:
(batch, timesteps, directions·hidden) for a full sequence, (batch, directions·hidden) for
a final state — whatever axis order the graph uses. ``model.onnx_signature`` records the
graph's axis order for its input and output (see :func:`graph_input`,
:func:`model_output`). Everything else is refused in one :class:`ModelFileError`: unknown
operators (all listed at once), peepholes and other attributes Keras has no equivalent
for, non-zero constant initial states, ``sequence_lens`` inputs. Several outputs (PyTorch's
``y, h_n, c_n``) or ``initial_h``/``initial_c`` graph inputs make a graph model
(:func:`model_inputs` builds its inputs from the graph's feeds).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..errors import ModelFileError
from .onnx_recurrent import OPS, RecurrentSpec, recurrent_spec
from .onnx_values import Fill, GraphInput, Shaped, Stack, Sym, Tensor, as_shaped, is_zero_fill

ACTIVATIONS = {"Relu": "relu", "Tanh": "tanh", "Sigmoid": "sigmoid", "Softplus": "softplus",
               "Softsign": "softsign", "Elu": "elu", "Selu": "selu", "Exp": "exponential",
               "HardSigmoid": "hard_sigmoid", "Softmax": "softmax"}


@dataclass(frozen=True)
class Use:
    """A recurrent spec in a chain, with the output the graph takes from it."""
    spec: RecurrentSpec
    output: str            # "Y" (sequence), "Y_h" (final h) or "Y_c" (final c)


@dataclass(frozen=True)
class DenseSpec:
    kernel: np.ndarray     # (in, units)
    bias: np.ndarray | None
    activation: str
    name: str


@dataclass(frozen=True)
class ActivationSpec:
    activation: str
    name: str


def _onnx():
    try:
        import onnx
        from onnx import numpy_helper
        from onnx.reference import ReferenceEvaluator
    except ImportError as err:
        raise ImportError("Reading ONNX files needs the onnx package: pip install 'unrolled[onnx]'.") from err
    return onnx, numpy_helper, ReferenceEvaluator


class _Importer:
    def __init__(self, proto: Any, path: str) -> None:
        self.onnx, self.numpy_helper, self.evaluator = _onnx()
        self.proto, self.path = proto, path
        self.values: dict[str, Any] = {"": None}
        self.binding: dict[str, str] = {}        # "?k" input-axis labels -> "B" / "T" / "F"
        self.names: dict[str, int] = {}
        self.initial: dict[int, list[GraphInput]] = {}   # recurrent spec -> its state inputs

    # -- helpers ---------------------------------------------------------------------------
    def fail(self, node: Any, why: str) -> ModelFileError:
        return ModelFileError(f"{self.path}: {node.op_type} node {node.name or node.output[0]!r}: {why}")

    def label(self, axis: str) -> str:
        return self.binding.get(axis, axis)

    def labels(self, t: Tensor) -> tuple[str, ...]:
        return tuple(self.label(a) for a in t.axes)

    def unique(self, base: str) -> str:
        base = "".join(c if c.isalnum() or c == "_" else "_" for c in base).strip("_").lower() or "layer"
        n = self.names.get(base, 0)
        self.names[base] = n + 1
        return base if n == 0 else f"{base}_{n}"

    def layer_name(self, node: Any) -> str:
        """A layer name from the node's: unrolled's exporter adds ``_<n>`` to its layers'."""
        name = node.name or node.op_type
        if self.proto.producer_name == "unrolled" and "_" in name and name.rsplit("_", 1)[1].isdigit():
            name = name.rsplit("_", 1)[0]
        return self.unique(name)

    def attrs(self, node: Any) -> dict[str, Any]:
        from .onnx_recurrent import _attrs

        return _attrs(node)

    def const_input(self, node: Any, value: Any, what: str) -> np.ndarray:
        if not isinstance(value, np.ndarray):
            raise self.fail(node, f"{what} must be a constant.")
        return value

    # -- reading ---------------------------------------------------------------------------
    def run(self, output_names: list[str] | None) -> Any:
        graph = self.proto.graph
        for imp in self.proto.opset_import:
            if imp.domain not in ("", "ai.onnx"):
                raise ModelFileError(f"{self.path}: operators of domain {imp.domain!r} are not "
                                     "supported (only the standard ai.onnx operators).")
        for init in graph.initializer:
            self.values[init.name] = self.numpy_helper.to_array(init)
        data_inputs = [i for i in graph.input if i.name not in self.values]
        if not data_inputs:
            raise ModelFileError(f"{self.path}: the graph has no input.")
        x_info = data_inputs[0]
        dims = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None
                for d in x_info.type.tensor_type.shape.dim]
        if len(dims) != 3:
            raise ModelFileError(f"{self.path}: input {x_info.name!r} has rank {len(dims)}; a "
                                 "recurrent model's input has rank 3 (batch, timesteps, features).")
        self.values[x_info.name] = Tensor((), ("?0", "?1", "?2"), tuple(dims))
        for extra in data_inputs[1:]:
            self.values[extra.name] = GraphInput(extra.name)
        outputs = output_names or [o.name for o in graph.output]
        known = {o.name for o in graph.output} | {o for n in graph.node for o in n.output}
        if missing := [o for o in outputs if o not in known]:
            raise ModelFileError(f"{self.path}: no value named {missing}; the graph's outputs are "
                                 f"{[o.name for o in graph.output]}.")
        nodes = self._needed(graph, outputs)
        if not any(n.op_type in OPS for n in nodes):
            raise ModelFileError(
                f"{self.path}: the graph has no LSTM, GRU or RNN operator; unrolled imports graphs "
                "built on them. (PyTorch's dynamo exporter unrolls nn.RNN into per-step "
                "MatMul/Tanh nodes: export it with torch.onnx.export(..., dynamo=False).)")
        self._refuse_unknown(nodes)
        for node in nodes:
            self._step(node)
        single = (len(outputs) == 1 and isinstance(self.values[outputs[0]], Tensor)
                  and not self.initial)
        self.input_name, self.output_names = x_info.name, outputs
        self.chain_only = single and not any(isinstance(u, Use) and u.output == "Y_c"
                                             for u in self.values[outputs[0]].chain)
        return self

    def _needed(self, graph: Any, outputs: list[str]) -> list[Any]:
        want, keep = set(outputs), []
        for node in reversed(graph.node):
            if want & set(node.output):
                keep.append(node)
                want |= {i for i in node.input if i}
        return keep[::-1]

    def _refuse_unknown(self, nodes: list[Any]) -> None:
        const = {n for n, v in self.values.items() if isinstance(v, np.ndarray)}
        unknown = []
        for node in nodes:
            inputs = [i for i in node.input if i]
            if node.op_type == "Constant" or (inputs and all(i in const for i in inputs)):
                const |= set(node.output)          # folded, whatever the operator
            elif node.op_type not in _HANDLERS:
                unknown.append(node.op_type)
        if unknown:
            raise ModelFileError(
                f"{self.path}: unrolled cannot import the operator(s) {sorted(set(unknown))} "
                f"(used {len(unknown)} time(s)); it reads {', '.join(sorted(_HANDLERS))}, and "
                "anything computed from constants alone.")

    def _step(self, node: Any) -> None:
        inputs = [self.values.get(i) if i else None for i in node.input]
        if node.op_type == "Constant":
            outs = [self._constant(node)]
        elif node.input and all(isinstance(v, np.ndarray) or v is None for v in inputs) and any(
                isinstance(v, np.ndarray) for v in inputs):
            feeds = {i: v for i, v in zip(node.input, inputs) if i}
            try:
                outs = self.evaluator(node).run(None, feeds)
            except Exception as err:
                raise self.fail(node, f"cannot be evaluated on its constant inputs ({err}).") from err
        else:
            outs = _HANDLERS[node.op_type](self, node, inputs)
        for name, value in zip(node.output, outs):
            if name:
                self.values[name] = value

    def _constant(self, node: Any) -> np.ndarray:
        a = node.attribute[0]
        if a.name == "value":
            return self.numpy_helper.to_array(a.t)
        from onnx import helper

        return np.asarray(helper.get_attribute_value(a))

# -- operators on data ---------------------------------------------------------------------
def _axis(node: Any, t: Tensor, axis: int, imp: _Importer) -> int:
    if not -len(t.axes) <= axis < len(t.axes):
        raise imp.fail(node, f"axis {axis} is out of range for rank {len(t.axes)}.")
    return axis % len(t.axes)


def _ints(imp: _Importer, node: Any, value: Any, what: str) -> list[int]:
    arr = imp.const_input(node, value, what)
    return [int(v) for v in np.asarray(arr).reshape(-1)]


def _recurrent(imp: _Importer, node: Any, inputs: list[Any]) -> list[Any]:
    x = inputs[0]
    if not isinstance(x, Tensor):
        raise imp.fail(node, "input X must come from the graph's input.")
    spec = recurrent_spec(node, inputs, imp.layer_name(node))
    want = ("B", "T", "F") if spec.layout else ("T", "B", "F")
    if len(x.axes) != 3:
        raise imp.fail(node, f"X has rank {len(x.axes)}, expected 3 {want}.")
    for axis, label in zip(x.axes, want):
        have = imp.label(axis)
        if have.startswith("?"):
            imp.binding[have] = label
        elif have != label:
            raise imp.fail(node, f"X has axes {imp.labels(x)} but layout={spec.layout} reads "
                                 f"them as {want}.")
    if x.flipped:
        raise imp.fail(node, "X is a direction='reverse' sequence kept in input order; Keras's "
                             "go_backwards produces it in processing order.")
    if x.dims[2] is not None and x.dims[2] != spec.weights[0].kernel.shape[0]:
        raise imp.fail(node, f"X has {x.dims[2]} features, W expects {spec.weights[0].kernel.shape[0]}.")
    names = ("sequence_lens", "initial_h", "initial_c")
    for name, value in zip(names, inputs[4:7]):
        if value is None:
            continue
        if name == "sequence_lens":
            raise imp.fail(node, "input 'sequence_lens' (per-sample lengths) is not imported yet; "
                                 "export the graph without it (pad and mask instead).")
        if isinstance(value, GraphInput):
            continue                                   # a model input (see _graph_model)
        if not is_zero_fill(value):
            raise imp.fail(node, f"input {name!r} is not all zeros; a Keras layer starts from "
                                 "zeros unless given initial_state as an input.")
    given = [v for v in inputs[5:7] if isinstance(v, GraphInput)]
    if given:
        wanted = 2 if node.op_type == "LSTM" else 1
        if len(given) != wanted:
            raise imp.fail(node, "initial_h and initial_c must both be graph inputs (or both "
                                 "zeros): a Keras LSTM takes its initial state as [h, c].")
        imp.initial[id(spec)] = given
    D, (T, B) = spec.directions, ((x.dims[1], x.dims[0]) if spec.layout else (x.dims[0], x.dims[1]))
    y_axes = ("B", "T", "D", "F") if spec.layout else ("T", "D", "B", "F")
    y_dims = (B, T, D, spec.units) if spec.layout else (T, D, B, spec.units)
    s_axes = ("B", "D", "F") if spec.layout else ("D", "B", "F")
    s_dims = (B, D, spec.units) if spec.layout else (D, B, spec.units)
    y = Tensor(x.chain + (Use(spec, "Y"),), y_axes, y_dims, flipped=spec.direction == "reverse")
    outs = [y, Tensor(x.chain + (Use(spec, "Y_h"),), s_axes, s_dims)]
    if node.op_type == "LSTM":
        outs.append(Tensor(x.chain + (Use(spec, "Y_c"),), s_axes, s_dims))
    return outs


def _last_step(imp: _Importer, node: Any, t: Tensor, first: bool) -> tuple[Any, ...]:
    """The chain of ``t`` with its last recurrent layer returning only its final state."""
    k = max((i for i, item in enumerate(t.chain) if isinstance(item, Use)), default=None)
    if k is None or t.chain[k].output != "Y":
        raise imp.fail(node, "picks one timestep of a value that is not a recurrent sequence.")
    use = t.chain[k]
    if use.spec.direction == "bidirectional":
        raise imp.fail(node, "picks one timestep of a bidirectional sequence: at the last step the "
                             "backward direction has seen one input only, which no Keras layer "
                             "returns; use Y_h (both directions' final states) instead.")
    if first != t.flipped:
        raise imp.fail(node, "picks a timestep other than the one a recurrent layer ends on; only "
                             "the final step can be imported.")
    return t.chain[:k] + (Use(use.spec, "Y_h"),) + t.chain[k + 1:]


def _gather(imp: _Importer, node: Any, inputs: list[Any]) -> list[Any]:
    data, index = inputs[0], inputs[1]
    axis = int(imp.attrs(node).get("axis", 0))
    idx = _ints(imp, node, index, "indices")
    if np.asarray(index).ndim != 0:
        raise imp.fail(node, "only a scalar index is supported.")
    if isinstance(data, Stack):
        if axis != 0:
            raise imp.fail(node, "only axis 0 of stacked final states can be indexed.")
        entry = data.entries[idx[0]]
        if isinstance(entry, tuple):
            raise imp.fail(node, "picks one direction's final state of a bidirectional layer; a "
                                 "Keras Bidirectional layer returns both (use the whole Y_h).")
        return [entry]
    if not isinstance(data, Tensor):
        raise imp.fail(node, "unsupported data.")
    axis = _axis(node, data, axis, imp)
    label, size = imp.label(data.axes[axis]), data.dims[axis]
    drop = data.axes[:axis] + data.axes[axis + 1:], data.dims[:axis] + data.dims[axis + 1:]
    if label == "T":
        i = idx[0]
        last = i == -1 or (size is not None and i == size - 1)
        if not last and i != 0:
            raise imp.fail(node, f"picks timestep {i}; only the first or last step can be imported.")
        chain = _last_step(imp, node, data, first=not last)
        return [Tensor(chain, *drop)]
    if size == 1 and label in ("D", "1"):
        return [data.with_(axes=drop[0], dims=drop[1])]
    raise imp.fail(node, f"indexes axis {axis} ({label}), which unrolled cannot express.")


def _slice(imp: _Importer, node: Any, inputs: list[Any]) -> list[Any]:
    data = inputs[0]
    starts, ends = _ints(imp, node, inputs[1], "starts"), _ints(imp, node, inputs[2], "ends")
    axes = _ints(imp, node, inputs[3], "axes") if len(inputs) > 3 and inputs[3] is not None \
        else list(range(len(starts)))
    steps = _ints(imp, node, inputs[4], "steps") if len(inputs) > 4 and inputs[4] is not None \
        else [1] * len(starts)
    if isinstance(data, Fill):
        return [data]
    if isinstance(data, GraphInput):
        if axes != [0] or steps != [1] or starts[0] < 0:
            raise imp.fail(node, f"slices graph input {data.name!r} other than by rows of axis 0.")
        return [GraphInput(data.name, data.row + starts[0])]
    if isinstance(data, Stack):
        if axes != [0] or steps != [1]:
            raise imp.fail(node, "only axis 0 of stacked final states can be sliced.")
        return [Stack(data.entries[starts[0]:ends[0]], data.rest_axes)]
    if not isinstance(data, Tensor):
        raise imp.fail(node, "unsupported data.")
    out = data
    big = np.iinfo(np.int64).max // 2
    for start, end, axis, step in zip(starts, ends, axes, steps):
        axis = _axis(node, data, axis, imp)
        label, size = imp.label(data.axes[axis]), data.dims[axis]
        whole = step == 1 and start in (0, -big * 2) and (end >= big or (size is not None and end >= size))
        if whole:
            continue
        if label == "T" and step == -1 and start == -1 and end <= -big:
            out = out.with_(flipped=not out.flipped)
        elif label == "T" and step == 1 and start == -1 and end >= big:
            chain = _last_step(imp, node, out, first=False)
            out = out.with_(chain=chain, axes=out.axes[:axis] + ("1",) + out.axes[axis + 1:],
                            dims=out.dims[:axis] + (1,) + out.dims[axis + 1:], flipped=False)
        else:
            raise imp.fail(node, f"slices axis {axis} ({label}) as [{start}:{end}:{step}], which "
                                 "unrolled cannot express (supported: the whole axis, the last "
                                 "timestep [-1:], time reversed [::-1]).")
    return [out]


def _axes_operand(imp: _Importer, node: Any, inputs: list[Any]) -> list[int] | None:
    """Squeeze's / Unsqueeze's ``axes``: an attribute up to opset 12, the second input from
    opset 13; None when neither is given."""
    axes = imp.attrs(node).get("axes")
    if axes is None and len(inputs) > 1 and inputs[1] is not None:
        axes = _ints(imp, node, inputs[1], "axes")
    return axes


def _squeeze(imp: _Importer, node: Any, inputs: list[Any]) -> list[Any]:
    t = inputs[0]
    if isinstance(t, Fill):
        return [t]
    axes = _axes_operand(imp, node, inputs)
    if axes is None:
        axes = [i for i, d in enumerate(t.dims) if d == 1]
    axes = sorted(_axis(node, t, a, imp) for a in axes)
    for a in axes:
        if t.dims[a] != 1 or imp.label(t.axes[a]) not in ("D", "1"):
            raise imp.fail(node, f"squeezes axis {a} ({imp.label(t.axes[a])}, size {t.dims[a]}), "
                                 "which is not an axis of size one.")
    keep = [i for i in range(len(t.axes)) if i not in axes]
    return [t.with_(axes=tuple(t.axes[i] for i in keep), dims=tuple(t.dims[i] for i in keep))]


def _unsqueeze(imp: _Importer, node: Any, inputs: list[Any]) -> list[Any]:
    t = inputs[0]
    if isinstance(t, Fill):
        return [t]
    axes = _axes_operand(imp, node, inputs)
    if axes is None:
        raise imp.fail(node, "has no axes (an attribute, or the second input from opset 13).")
    rank = len(t.axes) + len(axes)
    axes = sorted(a % rank for a in axes)
    labels, dims = list(t.axes), list(t.dims)
    for a in axes:
        labels.insert(a, "1")
        dims.insert(a, 1)
    return [t.with_(axes=tuple(labels), dims=tuple(dims))]


def _transpose(imp: _Importer, node: Any, inputs: list[Any]) -> list[Any]:
    t = inputs[0]
    if isinstance(t, Fill):
        return [t]
    perm = imp.attrs(node).get("perm") or list(range(len(t.axes)))[::-1]
    return [t.with_(axes=tuple(t.axes[p] for p in perm), dims=tuple(t.dims[p] for p in perm))]


def _reshape(imp: _Importer, node: Any, inputs: list[Any]) -> list[Any]:
    t, target = inputs[0], as_shaped(inputs[1])
    if isinstance(t, Fill):
        return [t]
    if target is None or not isinstance(t, Tensor):
        raise imp.fail(node, "the new shape must be a constant (or built from Shape).")
    want = [Sym(imp.label(w.label)) if isinstance(w, Sym) else w for w in target.values.reshape(-1)]
    labels = [imp.label(a) for a in t.axes]
    dims = list(t.dims)
    sym = [Sym(lb) if d is None else d for lb, d in zip(labels, dims)]
    want = [sym[i] if w == 0 and i < len(sym) else w for i, w in enumerate(want)]
    out_axes, out_dims, i = [], [], 0
    for j, w in enumerate(want):
        rest = len(want) - j - 1
        if i < len(labels) and (w == sym[i] or (isinstance(w, Sym) and w.label == labels[i])):
            out_axes.append(t.axes[i]); out_dims.append(dims[i]); i += 1
            continue
        while i < len(labels) and dims[i] == 1 and labels[i] in ("D", "1") and w != 1:
            i += 1                                            # dropped axis of size one
        if i < len(labels) and (w == sym[i] or (isinstance(w, Sym) and w.label == labels[i])):
            out_axes.append(t.axes[i]); out_dims.append(dims[i]); i += 1
        elif (i + 1 < len(labels) and labels[i] == "D" and labels[i + 1] == "F"
              and (w == -1 and rest == len(labels) - i - 2 or w == dims[i] * dims[i + 1])):
            out_axes.append("F"); out_dims.append(dims[i] * dims[i + 1]); i += 2
        elif w == 1:
            out_axes.append("1"); out_dims.append(1)
        elif w == -1 and i < len(labels) and rest == len(labels) - i - 1:
            out_axes.append(t.axes[i]); out_dims.append(dims[i]); i += 1
        else:
            raise imp.fail(node, f"reshapes {tuple(sym)} ({labels}) to {tuple(want)}, which is not "
                                 "a merge of directions into features or a change of size-one axes.")
    while i < len(labels) and dims[i] == 1 and labels[i] in ("D", "1"):
        i += 1
    if i != len(labels):
        raise imp.fail(node, f"reshapes {tuple(sym)} to {tuple(want)}, which unrolled cannot express.")
    return [t.with_(axes=tuple(out_axes), dims=tuple(out_dims))]


def _concat(imp: _Importer, node: Any, inputs: list[Any]) -> list[Any]:
    axis = int(imp.attrs(node).get("axis", 0))
    if all(isinstance(v, (Fill, np.ndarray)) for v in inputs) and any(isinstance(v, Fill) for v in inputs):
        if all(is_zero_fill(v) for v in inputs):
            return [Fill(0.0)]
        raise imp.fail(node, "concatenates non-zero fills.")
    if all(isinstance(v, (Shaped, np.ndarray)) for v in inputs):
        return [Shaped(np.concatenate([as_shaped(v).values.reshape(-1) for v in inputs]))]
    entries: list[Any] = []      # (B, H) tensors; a bidirectional layer's (2, B, H) gives 2 rows
    for v in inputs:
        if isinstance(v, Stack):
            entries += v.entries
        elif isinstance(v, Tensor) and axis == 0 and imp.labels(v)[:1] == ("D",):
            if v.dims[0] == 1:
                entries.append(v.with_(axes=v.axes[1:], dims=v.dims[1:]))
            else:
                entries += [(v, d) for d in range(v.dims[0])]
        else:
            raise imp.fail(node, f"concatenates along axis {axis}, which unrolled cannot express "
                                 "(supported: final states stacked on axis 0, as PyTorch's h_n).")
    return [Stack(tuple(entries))]


def _shape(imp: _Importer, node: Any, inputs: list[Any]) -> list[Any]:
    t = inputs[0]
    if not isinstance(t, Tensor):
        raise imp.fail(node, "Shape of an unsupported value.")
    a = imp.attrs(node)
    vals = [d if d is not None else Sym(imp.label(lb)) for d, lb in zip(t.dims, t.axes)]
    return [Shaped(np.array(vals[a.get("start", 0):a.get("end", len(vals))], dtype=object))]


def _shaped_op(imp: _Importer, node: Any, inputs: list[Any]) -> list[Any]:
    """Gather / Unsqueeze / Squeeze / Slice / Cast / Identity on a Shaped vector."""
    v = as_shaped(inputs[0]).values
    a = imp.attrs(node)
    op = node.op_type
    if op == "Gather":
        idx = np.asarray(imp.const_input(node, inputs[1], "indices"))
        return [Shaped(np.asarray(v[idx], dtype=object))]
    if op == "Unsqueeze":
        return [Shaped(np.asarray(v, dtype=object).reshape(-1))]
    if op == "Squeeze":
        return [Shaped(np.asarray(v, dtype=object).reshape(()))] if np.size(v) == 1 else [Shaped(v)]
    if op == "Slice":
        s, e = _ints(imp, node, inputs[1], "starts")[0], _ints(imp, node, inputs[2], "ends")[0]
        step = _ints(imp, node, inputs[4], "steps")[0] if len(inputs) > 4 and inputs[4] is not None else 1
        return [Shaped(v.reshape(-1)[s:e:step])]
    if op in ("Cast", "Identity"):
        return [Shaped(v)]
    if op == "Reshape":
        return [Shaped(np.asarray(v, dtype=object).reshape(-1))]
    if op in ("Mul", "Add", "Sub", "Div"):
        a, b = (np.asarray(as_shaped(i).values, dtype=object) for i in inputs[:2])
        return [Shaped(np.vectorize(lambda p, q: _arith(op, p, q), otypes=[object])(a, b))]
    raise imp.fail(node, f"{op} on a shape is not supported ({a}).")


def _arith(op: str, p: Any, q: Any) -> Any:
    """Integer arithmetic on sizes; a symbolic size survives only ``·1``, ``+0`` (and alike)."""
    if not isinstance(p, Sym) and not isinstance(q, Sym):
        return {"Mul": p * q, "Add": p + q, "Sub": p - q, "Div": p // q if q else 0}[op]
    if op == "Mul" and 1 in (p, q):
        return q if p == 1 else p
    if op in ("Add", "Sub") and q == 0:
        return p
    return Sym(f"({p}{op}{q})")


def _data_or_shape(handler: Callable) -> Callable:
    def dispatch(imp: _Importer, node: Any, inputs: list[Any]) -> list[Any]:
        if any(isinstance(v, Shaped) for v in inputs[:1]) or (
                node.op_type in ("Mul", "Add", "Sub", "Div")
                and any(isinstance(v, Shaped) for v in inputs)):
            return _shaped_op(imp, node, inputs)
        return handler(imp, node, inputs)
    return dispatch


def _no_data(imp: _Importer, node: Any, inputs: list[Any]) -> list[Any]:
    raise imp.fail(node, "arithmetic on data (not on sizes) is not supported.")


def _passthrough(imp: _Importer, node: Any, inputs: list[Any]) -> list[Any]:
    if node.op_type == "Cast":
        to = imp.attrs(node).get("to")
        if to not in (1, 10, 11):     # FLOAT, FLOAT16, DOUBLE
            raise imp.fail(node, f"casts data to ONNX type {to}; only float casts are supported.")
    return [inputs[0]] + [None] * (len(node.output) - 1)


def _constant_of_shape(imp: _Importer, node: Any, inputs: list[Any]) -> list[Any]:
    value = imp.attrs(node).get("value")
    v = 0.0 if value is None else float(imp.numpy_helper.to_array(value).reshape(-1)[0])
    return [Fill(v)]


def _fill_op(imp: _Importer, node: Any, inputs: list[Any]) -> list[Any]:   # Expand, Tile
    if isinstance(inputs[0], Fill):
        return [inputs[0]]
    if isinstance(inputs[0], np.ndarray) and inputs[0].size and np.all(inputs[0] == inputs[0].flat[0]):
        return [Fill(float(inputs[0].flat[0]))]        # a constant expanded to a symbolic shape
    raise imp.fail(node, "is supported only on constant fills (initial states).")


def _append(t: Tensor, item: Any, last_dim: int | None = None) -> Tensor:
    dims = t.dims if last_dim is None else t.dims[:-1] + (last_dim,)
    return t.with_(chain=t.chain + (item,), dims=dims)


def _features_last(imp: _Importer, node: Any, t: Tensor) -> None:
    last = imp.label(t.axes[-1])
    if last.startswith("?"):
        imp.binding[last] = "F"
    elif last != "F":
        raise imp.fail(node, f"acts on the last axis ({last}); unrolled's Dense acts on features.")


def _matmul(imp: _Importer, node: Any, inputs: list[Any]) -> list[Any]:
    t, w = inputs
    if not isinstance(t, Tensor) or not isinstance(w, np.ndarray) or w.ndim != 2:
        raise imp.fail(node, "only data @ constant matrix (features, units) is supported.")
    _features_last(imp, node, t)
    return [_append(t, DenseSpec(w, None, "linear", imp.layer_name(node)), w.shape[1])]


def _gemm(imp: _Importer, node: Any, inputs: list[Any]) -> list[Any]:
    a = imp.attrs(node)
    t, w = inputs[0], inputs[1]
    c = inputs[2] if len(inputs) > 2 else None
    if not isinstance(t, Tensor) or not isinstance(w, np.ndarray) or a.get("transA", 0):
        raise imp.fail(node, "only data @ constant (transA=0) is supported.")
    _features_last(imp, node, t)
    kernel = a.get("alpha", 1.0) * (w.T if a.get("transB", 0) else w)
    bias = None
    if c is not None:
        c = imp.const_input(node, c, "C")
        bias = np.broadcast_to(a.get("beta", 1.0) * c, (kernel.shape[1],)).copy()
    spec = DenseSpec(kernel.astype(np.float32), bias, "linear", imp.layer_name(node))
    return [_append(t, spec, kernel.shape[1])]


def _add(imp: _Importer, node: Any, inputs: list[Any]) -> list[Any]:
    t, b = inputs if isinstance(inputs[0], Tensor) else inputs[::-1]
    if not isinstance(t, Tensor) or not isinstance(b, np.ndarray):
        raise imp.fail(node, "only data + constant bias is supported.")
    last = t.chain[-1] if t.chain else None
    units = t.dims[-1]
    if not (isinstance(last, DenseSpec) and last.bias is None and last.activation == "linear"
            and b.size == units and b.shape[-1] == units):
        raise imp.fail(node, "adds a constant that is not the bias of the MatMul before it.")
    return [t.with_(chain=t.chain[:-1] + (DenseSpec(last.kernel, b.reshape(-1), "linear", last.name),))]


def _activation(imp: _Importer, node: Any, inputs: list[Any]) -> list[Any]:
    t = inputs[0]
    if not isinstance(t, Tensor):
        raise imp.fail(node, "unsupported input.")
    a = imp.attrs(node)
    name = ACTIVATIONS[node.op_type]
    if node.op_type == "HardSigmoid" and not (np.isclose(a.get("alpha", 0.2), 1 / 6)
                                              and np.isclose(a.get("beta", 0.5), 0.5)):
        raise imp.fail(node, "HardSigmoid with alpha != 1/6 is Keras 2's hard_sigmoid, not Keras 3's.")
    if node.op_type == "Elu" and a.get("alpha", 1.0) != 1.0:
        raise imp.fail(node, "Elu with alpha != 1 has no Keras activation name.")
    if node.op_type == "Softmax" and a.get("axis", -1) not in (-1, len(t.axes) - 1):
        raise imp.fail(node, "Softmax on an axis other than the last.")
    last = t.chain[-1] if t.chain else None
    if isinstance(last, DenseSpec) and last.activation == "linear":
        return [t.with_(chain=t.chain[:-1] + (DenseSpec(last.kernel, last.bias, name, last.name),))]
    from .. import layers

    if not hasattr(layers, "Activation"):
        raise imp.fail(node, "an activation not right after a MatMul/Gemm needs an Activation "
                             "layer, which this unrolled does not have yet.")
    return [_append(t, ActivationSpec(name, imp.unique(node.op_type)))]


_HANDLERS: dict[str, Callable] = {
    **{op: _recurrent for op in OPS},
    **{op: _activation for op in ACTIVATIONS},
    "Transpose": _transpose, "Squeeze": _data_or_shape(_squeeze),
    "Unsqueeze": _data_or_shape(_unsqueeze),
    "Gather": _data_or_shape(_gather), "Slice": _data_or_shape(_slice), "Concat": _concat,
    "Identity": _data_or_shape(_passthrough), "Dropout": _passthrough,
    "Reshape": _data_or_shape(_reshape),
    "Cast": _data_or_shape(_passthrough), "Shape": _shape,
    "ConstantOfShape": _constant_of_shape, "Expand": _fill_op, "Tile": _fill_op,
    "MatMul": _matmul, "Gemm": _gemm, "Add": _data_or_shape(_add),
    **{op: _data_or_shape(_no_data) for op in ("Mul", "Sub", "Div")},
}


# -- public ---------------------------------------------------------------------------------
def read_onnx(path: str | os.PathLike, outputs: list[str] | None = None) -> "_Importer":
    """The ONNX graph at ``path`` interpreted (see the module docstring): its values, with
    ``input_name``, ``output_names`` and ``chain_only`` (one chain of layers: a Sequential)
    set. :func:`unrolled.models.onnx_models.load_onnx` builds the model from it.
    ``outputs``: the graph output(s) to import (default: all)."""
    from .guard import check_file, file_errors

    onnx, _, _ = _onnx()
    path = check_file(path, "ONNX file")
    try:
        proto = onnx.load(path)
    except Exception as err:   # DecodeError and friends: a damaged file
        raise ModelFileError(f"{path} is not a readable ONNX file ({type(err).__name__}: "
                             f"{str(err)[:300]}).") from err
    if not proto.graph.node:
        raise ModelFileError(f"{path}: the ONNX graph is empty.")
    with file_errors(path):  # whatever a damaged graph trips over is the file's fault
        return _Importer(proto, path).run(list(outputs) if outputs else None)


def _canonical(axes: tuple[str, ...]) -> list[int]:
    order = {"B": 0, "T": 1, "D": 2, "F": 3}
    return sorted(range(len(axes)), key=lambda i: order.get(axes[i], 4))


def graph_input(x: np.ndarray, signature: dict[str, Any]) -> np.ndarray:
    """Batch-first ``x`` (batch, timesteps, features) in the graph's input axis order."""
    axes = signature["input_axes"]
    return np.ascontiguousarray(np.transpose(x, [("B", "T", "F").index(a) for a in axes]))


def model_inputs(x: np.ndarray, feeds: dict[str, np.ndarray], signature: dict[str, Any]) -> Any:
    """The imported model's inputs for batch-first ``x`` and the graph's other ``feeds``
    (``initial_h``/``initial_c`` graph inputs, (D, B, H), or (B, D, H) with layout=1): ``x``
    alone, or ``[x, h, (c), ...]`` split per direction as the model's state inputs are."""
    states = signature.get("state_inputs") or []
    if not states:
        return x
    return [x] + [np.ascontiguousarray(feeds[name][:, d] if layout else feeds[name][d])
                  for name, d, layout in states]


def model_output(y: np.ndarray, signature: dict[str, Any], index: int = 0) -> np.ndarray:
    """The graph's output ``y`` (output number ``index`` of the imported ones) rearranged as
    the imported model returns it: batch first, then time, then directions·features (axes
    of size one dropped; stacked final states (layers·directions, B, H) become (B, ·H))."""
    axes = signature["outputs"][index][1] if "outputs" in signature else signature["output_axes"]
    y = np.transpose(y, _canonical(axes))
    kept = [a for a in sorted(axes, key=lambda a: {"B": 0, "T": 1, "D": 2, "F": 3}.get(a, 4))]
    shape = [n for a, n in zip(kept, y.shape) if a in ("B", "T")]
    return y.reshape(shape + [-1])
