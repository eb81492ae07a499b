"""Models from ONNX graphs: :func:`load_onnx` (``unrolled.load_model("m.onnx")``).

:func:`unrolled.io.onnx_import.read_onnx` interprets the graph (formats only, no model
classes); this module turns what it found into layers and a model: a ``Sequential`` for
one chain of layers, a graph ``Model`` for several outputs (PyTorch's ``y, h_n, c_n``), a
cell state, or ``initial_h``/``initial_c`` graph inputs. ``model.onnx_signature`` records
the graph's axis orders (:func:`unrolled.io.onnx_import.graph_input`, ``model_inputs``,
``model_output`` convert arrays between the two).
"""
from __future__ import annotations

import os
from typing import Any

from ..errors import ModelFileError
from ..io.onnx_import import DenseSpec, Stack, Tensor, Use, read_onnx


def load_onnx(path: str | os.PathLike, outputs: list[str] | None = None) -> Any:
    """An unrolled model computing the ONNX graph at ``path``; ``outputs``: the graph
    output(s) to import (default: all)."""
    imp = read_onnx(path, outputs)
    if imp.chain_only:
        return _sequential(imp, imp.input_name, imp.output_names[0])
    return _graph(imp, imp.input_name, imp.output_names)


def _sequential(imp: Any, input_name: str, output_name: str) -> Any:
    from ..layers import Dense, Input
    from .sequential import Sequential

    out = imp.values[output_name]
    if not isinstance(out, Tensor):
        raise ModelFileError(f"{imp.path}: output {output_name!r} does not depend on the input "
                             f"{input_name!r}; there is nothing to import.")
    in_axes = tuple(imp.label(a) for a in ("?0", "?1", "?2"))
    if sorted(in_axes) != ["B", "F", "T"]:
        raise ModelFileError(f"{imp.path}: cannot tell which input axis is batch and which is "
                             "time: no recurrent operator reads the input.")
    if out.flipped:
        raise ModelFileError(
            f"{imp.path}: output {output_name!r} is the full sequence of a direction='reverse' "
            "operator in input order; Keras's go_backwards returns it in processing order, and "
            "no Keras layer reverses time. Reverse it in the graph (Slice with step -1) or use "
            "the final state.")
    out_axes = imp.labels(out)
    x_dims = imp.values[input_name].dims
    steps, features = x_dims[in_axes.index("T")], x_dims[in_axes.index("F")]
    if features is None:
        raise ModelFileError(f"{imp.path}: the input's features axis has no fixed size.")
    layers, setters = [], []
    for item in out.chain:
        if isinstance(item, Use):
            if item.output == "Y_c":
                raise ModelFileError(f"{imp.path}: output {output_name!r} uses the cell state "
                                     f"Y_c of {item.spec.name!r}; a Sequential model returns "
                                     "only outputs (return_state is not imported yet).")
            layer = item.spec.make_layer(item.output == "Y")
            setters.append((item.spec.set_weights, layer))
        elif isinstance(item, DenseSpec):
            layer = Dense(item.kernel.shape[1], activation=item.activation,
                          use_bias=item.bias is not None, name=item.name)
            ws = [item.kernel] + ([] if item.bias is None else [item.bias])
            setters.append((lambda la, ws=ws: la.set_weights([w.astype(la.dtype) for w in ws]), layer))
        else:
            from .. import layers as layer_module

            layer = layer_module.Activation(item.activation, name=item.name)
        layers.append(layer)
    model = Sequential([Input((steps, features))] + layers, name=imp.unique(imp.proto.graph.name or "onnx_model"))
    for setter, layer in setters:
        setter(layer)
    model.onnx_signature = {"input": input_name, "input_axes": in_axes,
                            "output": output_name, "output_axes": out_axes,
                            "outputs": [(output_name, out_axes)]}
    return model


def _input_axes(imp: Any, input_name: str) -> tuple[tuple[str, ...], int | None, int]:
    in_axes = tuple(imp.label(a) for a in ("?0", "?1", "?2"))
    if sorted(in_axes) != ["B", "F", "T"]:
        raise ModelFileError(f"{imp.path}: cannot tell which input axis is batch and which is "
                             "time: no recurrent operator reads the input.")
    x_dims = imp.values[input_name].dims
    steps, features = x_dims[in_axes.index("T")], x_dims[in_axes.index("F")]
    if features is None:
        raise ModelFileError(f"{imp.path}: the input's features axis has no fixed size.")
    return in_axes, steps, features

def _graph(imp: Any, input_name: str, output_names: list[str]) -> Any:
    """Several outputs (or a cell state): a graph model ``Model(x, [outputs])``."""
    from .. import layers as L
    from .functional import Functional
    in_axes, steps, features = _input_axes(imp, input_name)
    values = [imp.values[n] for n in output_names]
    chains = []
    for name, v in zip(output_names, values):
        if isinstance(v, Stack):
            chains += [(e[0] if isinstance(e, tuple) else e).chain for e in v.entries]
        elif isinstance(v, Tensor):
            if v.flipped:
                raise ModelFileError(f"{imp.path}: output {name!r} is the full sequence of a "
                                     "direction='reverse' operator in input order, which no "
                                     "Keras layer returns (reverse it with Slice step -1).")
            chains.append(v.chain)
        else:
            raise ModelFileError(f"{imp.path}: output {name!r} does not depend on the input.")
    uses: dict[int, set[str]] = {}
    for chain in chains:
        for item in chain:
            if isinstance(item, Use):
                uses.setdefault(id(item.spec), set()).add(item.output)
    x = L.Input((steps, features), name="x")
    inputs, state_sig = [x], []
    memo: dict[tuple[int, ...], Any] = {}
    calls: dict[int, Any] = {}
    setters: list[Any] = []

    def build(chain: tuple[Any, ...]) -> Any:
        key = tuple(id(c) for c in chain)
        if not chain:
            return x
        if key in memo:
            return memo[key]
        prev, item = build(chain[:-1]), chain[-1]
        if isinstance(item, Use):
            spec, used = item.spec, uses[id(item.spec)]
            if id(spec) not in calls:
                seq = "Y" in used
                state = "Y_c" in used or (seq and bool(used & {"Y_h"}))
                layer = spec.make_layer(seq)
                for sub in ([layer.forward_layer, layer.backward_layer]
                            if spec.direction == "bidirectional" else [layer]):
                    sub.return_state = state
                if spec.direction == "bidirectional":
                    layer.return_state = state
                setters.append((spec.set_weights, layer))
                kwargs = {}
                if id(spec) in imp.initial:        # [h, c] per direction, from graph inputs
                    states = []
                    for d in range(spec.directions):
                        for gi in imp.initial[id(spec)]:
                            row = gi.row + d
                            t = L.Input((spec.units,), name=imp.unique(f"{gi.name}_{row}"))
                            states.append(t)
                            inputs.append(t)
                            state_sig.append((gi.name, row, spec.layout))
                    kwargs["initial_state"] = states
                calls[id(spec)] = (layer(prev, **kwargs), state)
            out, state = calls[id(spec)]
            if item.output == "Y" or not state:
                memo[key] = out[0] if state else out
            else:
                states = out[1:]
                per = 2 if spec.kind == "LSTM" else 1
                k = 0 if item.output == "Y_h" else 1
                picked = states[k::per]
                memo[key] = picked[0] if len(picked) == 1 else L.Concatenate()(picked)
        elif isinstance(item, DenseSpec):
            layer = L.Dense(item.kernel.shape[1], activation=item.activation,
                            use_bias=item.bias is not None, name=item.name)
            ws = [item.kernel] + ([] if item.bias is None else [item.bias])
            setters.append((lambda la, ws=ws: la.set_weights([w.astype(la.dtype) for w in ws]), layer))
            memo[key] = layer(prev)
        else:
            memo[key] = L.Activation(item.activation, name=item.name)(prev)
        return memo[key]

    outs, sig = [], []
    for name, v in zip(output_names, values):
        if isinstance(v, Stack):
            rows = [e for e in v.entries if not isinstance(e, tuple) or e[1] == 0]
            parts = [build((e[0] if isinstance(e, tuple) else e).chain) for e in rows]
            outs.append(parts[0] if len(parts) == 1 else L.Concatenate()(parts))
            sig.append((name, ("D", "B", "F")))
        else:
            outs.append(build(v.chain))
            sig.append((name, imp.labels(v)))
    model = Functional(inputs if len(inputs) > 1 else x, outs if len(outs) > 1 else outs[0],
                         name=imp.unique(imp.proto.graph.name or "onnx_model"))
    for setter, layer in setters:
        setter(layer)
    model.onnx_signature = {"input": input_name, "input_axes": in_axes,
                            "output": sig[0][0], "output_axes": sig[0][1], "outputs": sig,
                            "state_inputs": state_sig}
    return model
