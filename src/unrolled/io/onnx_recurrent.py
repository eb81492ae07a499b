"""ONNX ``LSTM`` / ``GRU`` / ``RNN`` nodes -> unrolled recurrent layers.

A node's attributes and weights become a :class:`RecurrentSpec`; the layer itself is made
once the importer knows whether the graph uses the output sequence ``Y`` or the final
state ``Y_h`` (:meth:`RecurrentSpec.make_layer`). Weights go through
:func:`unrolled.core.gates.from_framework` (ONNX packs LSTM gates i, o, f, c and GRU z, r,
h; ``W`` (D, G·H, F), ``R`` (D, G·H, H), ``B`` (D, 2·G·H) = [input bias, recurrent bias]).

Supported: ``direction`` forward / reverse (Keras's ``go_backwards``) / bidirectional
(``Bidirectional(merge_mode="concat")``), ``layout`` 0 and 1, GRU ``linear_before_reset``
1 (``reset_after=True``) and 0 (``reset_after=False``), the activations Keras has (Keras 3's
``hard_sigmoid`` is ``HardSigmoid(alpha=1/6, beta=0.5)``; ONNX's default alpha 0.2 is
Keras 2's and is refused). Refused, naming the attribute: peepholes (input ``P``),
``clip``, ``input_forget``, different activations per direction, LSTM ``g`` != ``h``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.gates import FrameworkWeights, KerasWeights, from_framework
from ..errors import ModelFileError

OPS = {"LSTM": ("LSTM", 4), "GRU": ("GRU", 3), "RNN": ("SimpleRNN", 1)}
_DEFAULT_ACTS = {"LSTM": ["Sigmoid", "Tanh", "Tanh"], "GRU": ["Sigmoid", "Tanh"], "RNN": ["Tanh"]}
_TAKES_ALPHA = ("HardSigmoid", "Affine", "Elu", "LeakyRelu", "ThresholdedRelu", "ScaledTanh")
_TAKES_BETA = ("HardSigmoid", "Affine", "ScaledTanh")
_DEFAULT_ALPHA = {"HardSigmoid": 0.2, "Elu": 1.0, "LeakyRelu": 0.01}
_DEFAULT_BETA = {"HardSigmoid": 0.5}


@dataclass(frozen=True, eq=False)
class RecurrentSpec:
    """One ONNX recurrent node, in Keras's terms (weights per direction, Keras layout)."""
    kind: str                     # "LSTM", "GRU", "SimpleRNN"
    units: int
    direction: str                # "forward", "reverse", "bidirectional"
    weights: tuple[KerasWeights, ...]
    activation: str
    recurrent_activation: str
    reset_after: bool
    use_bias: bool
    name: str
    layout: int

    @property
    def directions(self) -> int:
        return 2 if self.direction == "bidirectional" else 1

    def make_layer(self, return_sequences: bool, dtype: Any = "float32") -> Any:
        from .. import layers

        def one(go_backwards: bool, name: str) -> Any:
            kw: dict[str, Any] = {"use_bias": self.use_bias, "return_sequences": return_sequences,
                                  "go_backwards": go_backwards, "dtype": dtype, "name": name,
                                  "activation": self.activation}
            if self.kind == "SimpleRNN":
                return layers.SimpleRNN(self.units, **kw)
            kw["recurrent_activation"] = self.recurrent_activation
            if self.kind == "GRU":
                return layers.GRU(self.units, reset_after=self.reset_after, **kw)
            return layers.LSTM(self.units, **kw)

        if self.direction != "bidirectional":
            return one(self.direction == "reverse", self.name)
        bidirectional = getattr(layers, "Bidirectional", None)
        if bidirectional is None:
            raise ModelFileError(f"{self.kind} node {self.name!r} is bidirectional: importing it "
                                 "needs the Bidirectional layer, which this unrolled does not have yet.")
        return bidirectional(one(False, self.name), backward_layer=one(True, f"{self.name}_reverse"),
                             merge_mode="concat", name=f"bidirectional_{self.name}")

    def set_weights(self, layer: Any) -> None:
        cells = ([layer.forward_layer, layer.backward_layer] if self.direction == "bidirectional"
                 else [layer])
        for cell, w in zip(cells, self.weights):
            cell.set_weights([a.astype(cell.dtype) for a in w.as_list()])


def _attrs(node: Any) -> dict[str, Any]:
    from onnx import helper

    out = {}
    for a in node.attribute:
        value = helper.get_attribute_value(a)
        if isinstance(value, bytes):
            value = value.decode()
        elif isinstance(value, list):
            value = [v.decode() if isinstance(v, bytes) else v for v in value]
        out[a.name] = value
    return out


def _keras_activation(name: str, alpha: float | None, beta: float | None, who: str) -> str:
    simple = {"Sigmoid": "sigmoid", "Tanh": "tanh", "Relu": "relu", "Softsign": "softsign",
              "Softplus": "softplus"}
    if name in simple:
        return simple[name]
    if name == "HardSigmoid" and np.isclose(alpha, 1 / 6) and np.isclose(beta, 0.5):
        return "hard_sigmoid"
    if name == "Affine" and alpha == 1.0 and (beta or 0.0) == 0.0:
        return "linear"
    if name == "Elu" and alpha == 1.0:
        return "elu"
    raise ModelFileError(f"{who}: activation {name}(alpha={alpha}, beta={beta}) has no Keras "
                         "equivalent (Keras 3's hard_sigmoid is HardSigmoid(alpha=1/6, beta=0.5)).")


def _activations(op: str, attrs: dict[str, Any], directions: int, who: str) -> list[str]:
    names = list(attrs.get("activations") or _DEFAULT_ACTS[op] * directions)
    per = len(_DEFAULT_ACTS[op])
    if len(names) != per * directions:
        raise ModelFileError(f"{who}: attribute 'activations' has {len(names)} entries, expected "
                             f"{per * directions} ({per} per direction).")
    alphas = list(attrs.get("activation_alpha") or [])
    betas = list(attrs.get("activation_beta") or [])
    keras = []
    for name in names:
        a = (alphas.pop(0) if alphas else _DEFAULT_ALPHA.get(name)) if name in _TAKES_ALPHA else None
        b = (betas.pop(0) if betas else _DEFAULT_BETA.get(name)) if name in _TAKES_BETA else None
        keras.append(_keras_activation(name, a, b, who))
    if directions == 2 and keras[:per] != keras[per:]:
        raise ModelFileError(f"{who}: attribute 'activations' differs between the two directions "
                             f"({keras[:per]} vs {keras[per:]}); a Keras Bidirectional layer uses one.")
    return keras[:per]


def recurrent_spec(node: Any, inputs: list[Any], name: str) -> RecurrentSpec:
    """The spec of an ONNX ``LSTM``/``GRU``/``RNN`` node; ``inputs`` are the importer's
    values for the node's inputs (weights must be constants)."""
    op = node.op_type
    kind, G = OPS[op]
    who = f"{op} node {name!r}"
    attrs = _attrs(node)
    for attr in ("clip", "input_forget"):
        if attrs.get(attr):
            raise ModelFileError(f"{who}: attribute {attr!r}={attrs[attr]} is not supported "
                                 "(Keras's layers have no such option).")
    if op == "LSTM" and len(inputs) > 7 and inputs[7] is not None:
        raise ModelFileError(f"{who}: input 'P' (peepholes) is not supported: Keras's LSTM has no "
                             "peephole connections.")
    W, R = inputs[1], inputs[2]
    B = inputs[3] if len(inputs) > 3 else None
    for label, arr in (("W", W), ("R", R), ("B", B)):
        if arr is not None and not isinstance(arr, np.ndarray):
            raise ModelFileError(f"{who}: input {label!r} must be a constant (an initializer), "
                                 "not computed by the graph.")
    direction = attrs.get("direction", "forward")
    if direction not in ("forward", "reverse", "bidirectional"):
        raise ModelFileError(f"{who}: unknown direction {direction!r}.")
    D = 2 if direction == "bidirectional" else 1
    H = int(attrs.get("hidden_size") or R.shape[-1])
    if W.ndim != 3 or W.shape[:2] != (D, G * H) or R.shape != (D, G * H, H):
        raise ModelFileError(f"{who}: W {W.shape} / R {R.shape} do not fit {direction} with "
                             f"hidden_size={H}: expected ({D}, {G * H}, features) and ({D}, {G * H}, {H}).")
    if B is not None and B.shape != (D, 2 * G * H):
        raise ModelFileError(f"{who}: B has shape {B.shape}, expected {(D, 2 * G * H)}.")
    acts = _activations(op, attrs, D, who)
    if op == "LSTM" and acts[1] != acts[2]:
        raise ModelFileError(f"{who}: attribute 'activations' uses {acts[1]} for g and {acts[2]} "
                             "for h; Keras's LSTM applies one activation to both.")
    reset_after = bool(attrs.get("linear_before_reset", 0)) if op == "GRU" else False
    weights = []
    for d in range(D):
        b_in = None if B is None else B[d, :G * H]
        b_rec = None if B is None else B[d, G * H:]
        weights.append(from_framework(kind, "onnx", FrameworkWeights(W[d], R[d], b_in, b_rec),
                                      reset_after=reset_after))
    return RecurrentSpec(kind, H, direction, tuple(weights), acts[-1] if op != "RNN" else acts[0],
                         acts[0] if op != "RNN" else "sigmoid", reset_after, B is not None,
                         name, int(attrs.get("layout", 0)))
