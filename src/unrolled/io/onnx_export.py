"""Export a Sequential of LSTM / GRU / SimpleRNN (also in Bidirectional) / Dense /
TimeDistributed(Dense) / Dropout layers to ONNX (``pip install unrolled[onnx]``).

The graph takes ``input`` (batch, timesteps, features) and returns ``output`` with the
model's output shape. Each layer becomes:

* **LSTM** -> ``Transpose`` to time-major (T, B, F) once, then the ONNX ``LSTM`` operator with
  ``W`` (1, 4H, F), ``R`` (1, 4H, H), ``B`` (1, 8H) = [Keras bias, zeros], gate blocks in
  ONNX's order i, o, f, c (:func:`unrolled.core.gates.reorder`). Activations map to the
  operator's ``activations`` (f = recurrent_activation, g = h = activation); Keras 3's
  ``hard_sigmoid`` is ``HardSigmoid(alpha=1/6, beta=0.5)``, ``linear`` is ``Affine(1, 0)``.
  ``return_sequences`` uses ``Y`` (T, 1, B, H), otherwise ``Y_h`` (1, B, H).
  ``go_backwards`` uses ``direction="reverse"``; ONNX aligns ``Y`` with the input's time
  axis while Keras returns the sequence in processing order, so ``Y`` is reversed in time
  (a ``Slice`` with step -1) to match Keras.
* **GRU** -> the ``GRU`` operator, gates z, r, h; Keras's ``reset_after=True`` (bias
  (2, 3H): input row, recurrent row) is ``linear_before_reset=1``, ``B`` = [row 0, row 1].
* **SimpleRNN** -> the ``RNN`` operator with the layer's activation.
* **Bidirectional** -> one operator with ``direction="bidirectional"`` (the forward layer's
  weights first); ``Y`` (T, 2, B, H) or ``Y_h`` (2, B, H) merged as ``merge_mode`` says
  (concat: directions moved next to the features and flattened; sum, mul, ave). With
  ``return_state`` the outputs are ``forward_h``, ``forward_c``, ``backward_h``, ``backward_c``.
* **Dense**, **TimeDistributed(Dense)** -> ``MatMul`` + ``Add`` (+ the activation as ONNX
  ops), on any rank.
* **Dropout** -> nothing (the identity at inference).

onnxruntime's LSTM kernel is float32-only, so the graph is float32 (float64 models are
cast). A last recurrent layer with ``return_state=True`` adds the graph outputs
``state_h`` (and ``state_c`` for an LSTM), each (batch, units), after ``output``: the
order of the model's list. Unknown layers and activations ONNX cannot express raise
:class:`~unrolled.errors.ConfigError` naming the layer.
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..core.gates import to_framework
from ..errors import ConfigError
from .atomic import atomic_write_bytes
from .onnx_layers import LAYERS as _LAYERS

OPSET = 17
IR_VERSION = 8  # the IR of opset 17; readable by every onnxruntime since 1.11

# Keras activation -> (ONNX activation name, alpha, beta) for the recurrent operators.
RNN_ACTIVATIONS: dict[str, tuple[str, float | None, float | None]] = {
    "sigmoid": ("Sigmoid", None, None), "tanh": ("Tanh", None, None),
    "relu": ("Relu", None, None), "hard_sigmoid": ("HardSigmoid", 1.0 / 6.0, 0.5),
    "linear": ("Affine", 1.0, 0.0), "elu": ("Elu", 1.0, None),
    "softsign": ("Softsign", None, None), "softplus": ("Softplus", None, None),
}


def _onnx():
    try:
        import onnx
        from onnx import helper, numpy_helper
    except ImportError as err:
        raise ImportError("ONNX export needs the onnx package: pip install 'unrolled[onnx]'.") from err
    return onnx, helper, numpy_helper


class _Graph:
    """Nodes and initializers being collected, with unique tensor names."""

    def __init__(self, helper: Any, numpy_helper: Any) -> None:
        self.helper, self.numpy_helper = helper, numpy_helper
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._count = 0

    def name(self, base: str) -> str:
        self._count += 1
        return f"{base}_{self._count}"

    def const(self, base: str, value: np.ndarray) -> str:
        name = self.name(base)
        self.initializers.append(self.numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(self, op_type: str, inputs: list[str], base: str, n_out: int = 1, **attrs: Any) -> Any:
        outs = [self.name(f"{base}_{op_type}") for _ in range(n_out)]
        self.nodes.append(self.helper.make_node(op_type, inputs, outs, name=self.name(base), **attrs))
        return outs[0] if n_out == 1 else outs


# Layer class -> (ONNX operator, its activations in the operator's order).
_RECURRENT: dict[str, tuple[str, Any]] = {
    "LSTM": ("LSTM", lambda la: (la.recurrent_activation, la.activation, la.activation)),
    "GRU": ("GRU", lambda la: (la.recurrent_activation, la.activation)),
    "SimpleRNN": ("RNN", lambda la: (la.activation,)),
}


def _directions(layer: Any) -> list[Any]:
    """The recurrent layer(s) one ONNX operator computes: a Bidirectional's two halves."""
    if type(layer).__name__ != "Bidirectional":
        return [layer]
    fwd, bwd = layer.forward_layer, layer.backward_layer
    same = lambda la: {k: v for k, v in la.get_config().items() if k not in ("name", "go_backwards")}
    if type(fwd) is not type(bwd) or same(fwd) != same(bwd):
        raise ConfigError(f"Bidirectional {layer.name!r}: its backward layer differs from the forward "
                          "one beyond go_backwards; one ONNX operator computes both directions "
                          "with one configuration.")
    if fwd.go_backwards:
        raise ConfigError(f"Bidirectional {layer.name!r}: the forward layer has go_backwards=True; "
                          "ONNX's bidirectional operator runs the first direction forwards.")
    return [fwd, bwd]


def _recurrent(g: _Graph, layer: Any, x: str) -> tuple[str, list[str], list[str]]:
    """``x`` time-major (T, B, F) -> (T, B, D·H) with return_sequences, else (B, D·H) (a
    Bidirectional's merge applied); the final states, each (B, H), in Keras's order ([h, c]
    per direction), and their output names.

    Weights: ``W`` (D, G·H, F), ``R`` (D, G·H, H), ``B`` (D, 2·G·H) = [input bias, recurrent
    bias] with the G gate blocks in ONNX's order (:func:`unrolled.core.gates.to_framework`).
    """
    cells = _directions(layer)
    first, D = cells[0], len(cells)
    kind = type(first).__name__
    op, activations_of = _RECURRENT[kind]
    acts, alpha, beta = [], [], []
    for fn in activations_of(first):
        if fn.name not in RNN_ACTIVATIONS:
            raise ConfigError(f"{kind} {first.name!r}: activation {fn.name!r} has no ONNX {op} "
                              f"equivalent; supported: {', '.join(RNN_ACTIVATIONS)}.")
        name, a, b = RNN_ACTIVATIONS[fn.name]
        acts.append(name)
        alpha += [] if a is None else [a]   # onnxruntime consumes alphas/betas in order,
        beta += [] if b is None else [b]    # only for the activations that take them
    fws = [to_framework(kind, "onnx", c.kernel, c.recurrent_kernel, c.bias,
                        getattr(c, "reset_after", False)) for c in cells]
    inputs = [x, g.const(f"{layer.name}_W", np.stack([f.w_in for f in fws]).astype(np.float32)),   # (D, G·H, F)
              g.const(f"{layer.name}_R", np.stack([f.w_rec for f in fws]).astype(np.float32))]     # (D, G·H, H)
    direction = "bidirectional" if D == 2 else ("reverse" if first.go_backwards else "forward")
    attrs: dict[str, Any] = {"hidden_size": first.units, "activations": acts * D, "direction": direction}
    if kind == "GRU":
        attrs["linear_before_reset"] = int(first.reset_after)
    if fws[0].b_in is not None:                            # B = [input bias, recurrent bias]
        B = np.stack([np.concatenate([f.b_in, f.b_rec]) for f in fws]).astype(np.float32)  # (D, 2·G·H)
        inputs.append(g.const(f"{layer.name}_B", B))
    if alpha:
        attrs["activation_alpha"] = alpha * D
    if beta:
        attrs["activation_beta"] = beta * D
    y, *finals = g.op(op, inputs, layer.name, n_out=3 if kind == "LSTM" else 2, **attrs)
    # y (T, D, B, H); finals Y_h (and Y_c) (D, B, H): the states after the last step
    # processed, which for direction="reverse" is Keras's final state of go_backwards too.
    if D == 1:
        states = [g.op("Squeeze", [s, g.const("axes", np.array([0]))], layer.name) for s in finals]
        names = ["state_h", "state_c"][:len(states)]
        if not layer.return_sequences:
            return states[0], states, names                                       # (B, H)
        y = g.op("Squeeze", [y, g.const("axes", np.array([1]))], layer.name)      # (T, B, H)
        if layer.go_backwards:  # Keras: processing order; ONNX: input order
            y = g.op("Slice", [y, g.const("start", np.array([-1])),
                               g.const("end", np.array([np.iinfo(np.int64).min])),
                               g.const("axes", np.array([0])), g.const("step", np.array([-1]))],
                     layer.name)
        return y, states, names
    # Bidirectional: Keras's states are [h_fwd, (c_fwd,) h_bwd, (c_bwd)].
    states = [g.op("Gather", [s, g.const("index", np.array(d))], layer.name, axis=0)
              for d in range(2) for s in finals]
    names = [f"{side}_{s}" for side in ("forward", "backward") for s in ("h", "c")[:len(finals)]]
    value, axis = (y, 1) if layer.return_sequences else (finals[0], 0)   # (T, 2, B, H) / (2, B, H)
    return _merge(g, layer, value, axis), states, names


def _merge(g: _Graph, layer: Any, value: str, axis: int) -> str:
    """Merge the direction axis ``axis`` of ``value`` as the Bidirectional's merge_mode."""
    mode = layer.merge_mode
    if mode == "concat":     # move directions next to features, then flatten them together
        perm = [0, 2, 1, 3] if axis == 1 else [1, 0, 2]
        moved = g.op("Transpose", [value], layer.name, perm=perm)
        shape = np.array([0, 0, -1] if axis == 1 else [0, -1], np.int64)
        return g.op("Reshape", [moved, g.const("shape", shape)], layer.name)
    halves = [g.op("Gather", [value, g.const("index", np.array(d))], layer.name, axis=axis)
              for d in range(2)]
    if mode == "sum":
        return g.op("Add", halves, layer.name)
    if mode == "mul":
        return g.op("Mul", halves, layer.name)
    if mode == "ave":
        return g.op("Mul", [g.op("Add", halves, layer.name), g.const("half", np.float32(0.5))], layer.name)
    raise ConfigError(f"Bidirectional {layer.name!r} with merge_mode=None returns two arrays; "
                      "export needs one output per layer (use concat, sum, mul or ave).")


def _dims(shape: Any, prefix: str) -> list[int | str]:
    """Known sizes as ints, unknown ones as symbolic names (``batch``, ``timesteps``)."""
    names = ["batch", "timesteps"] if len(shape) == 3 else ["batch"]
    names += [f"{prefix}_dim_{i}" for i in range(len(names), len(shape))]
    return [n if d is None else int(d) for d, n in zip(shape, names)]


def build_onnx_model(model: Any) -> Any:
    """The ``onnx.ModelProto`` for ``model`` (checked with ``onnx.checker``)."""
    onnx, helper, numpy_helper = _onnx()
    if type(model).__name__ != "Sequential":
        raise ConfigError(f"ONNX export writes Sequential models; {model.name!r} is a "
                          f"{type(model).__name__} (graph) model, which it does not handle yet.")
    if not getattr(model, "built", False) or model.input_batch_shape is None:
        raise ConfigError("Build the model (give it an input shape) before exporting it.")
    g = _Graph(helper, numpy_helper)
    x, time_major = "input", False
    shape: Any = model.input_batch_shape
    states: list[str] = []              # the last layer's final states, with return_state
    state_names: list[str] = []
    for layer in model.layers:
        kind = type(layer).__name__
        if kind in _RECURRENT or kind == "Bidirectional":
            if not time_major:
                x, time_major = g.op("Transpose", [x], layer.name, perm=[1, 0, 2]), True
            x, final, names = _recurrent(g, layer, x)
            if layer.return_state:                         # Sequential: only the last layer
                states, state_names = final, names
            time_major = layer.return_sequences
        elif kind in _LAYERS:
            if time_major and not _LAYERS[kind].last_axis_only:
                x, time_major = g.op("Transpose", [x], layer.name, perm=[1, 0, 2]), False
            x = _LAYERS[kind].export(g, layer, x)
        else:
            raise ConfigError(f"Layer {layer.name!r} of type {kind} cannot be exported to ONNX; "
                              "supported: LSTM, GRU, SimpleRNN, Bidirectional of them, "
                              f"{', '.join(sorted(_LAYERS))}.")
        shape = layer.compute_output_shape(shape)
    if time_major:
        x = g.op("Transpose", [x], "output", perm=[1, 0, 2])
    shapes = shape if isinstance(shape, list) else [shape]    # return_state: [output, *states]
    names = ["output", *state_names][:len(shapes)]
    outputs = []
    for name, tensor, out_shape in zip(names, [x, *states], shapes, strict=True):
        g.nodes.append(helper.make_node("Identity", [tensor], [name], name=name))
        outputs.append(helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT,
                                                     _dims(out_shape, name)))
    in_shape = _dims(model.input_batch_shape, "input")
    graph = helper.make_graph(
        g.nodes, model.name,
        [helper.make_tensor_value_info("input", onnx.TensorProto.FLOAT, in_shape)],
        outputs, initializer=g.initializers)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="unrolled")
    proto.ir_version = IR_VERSION
    onnx.checker.check_model(proto)
    return proto


def export_onnx(model: Any, path: str | os.PathLike) -> None:
    """Write ``model`` as an ONNX file at ``path`` (atomically); see the module docstring."""
    atomic_write_bytes(path, build_onnx_model(model).SerializeToString())
