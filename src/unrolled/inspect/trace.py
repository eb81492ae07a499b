"""Gate-by-gate traces: every intermediate of a recurrent layer, timestep by timestep.

::

    tr = trace(lstm, x)               # x (batch, timesteps, features)
    tr["f"]                           # the forget gate, (timesteps, batch, units)
    print(tr.table(unit=0))           # one row per timestep, one column per gate
    print(tr.contributions(t=-1))     # what each feature adds to each gate at the last step

The arrays come from :func:`unrolled.core.scan.sequence_forward`, i.e. from the cell's
own ``step`` (the reference path), so ``tr["h"]`` is exactly the layer's
``return_sequences`` output, time-major. Axes: T timesteps (in processing order, so
reversed for ``go_backwards``), B batch, F features, H units. With a mask (a Masking
layer before it, or ``mask=``), ``h`` and ``c`` are the states the layer carries — at a
masked step, the state before it — and ``tr.mask`` says which steps were skipped.

==========  ===========================================================================
layer       arrays, each (T, B, H)
==========  ===========================================================================
LSTM        ``pre_i pre_f pre_g pre_o`` (pre-activations), ``i f g o`` (gates; ``g`` is
            the candidate, Keras's ``kernel_c`` block), ``c`` (cell state), ``h``
GRU         ``pre_z pre_r pre_hh``, ``z`` (update), ``r`` (reset), ``hh`` (candidate ĥ), ``h``
SimpleRNN   ``pre_h``, ``h``
==========  ===========================================================================
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.scan import sequence_forward
from ..errors import ConfigError
from ..layers.base import as_input_array
from ..layers.gru import GRU
from ..layers.lstm import LSTM
from ..layers.recurrent import Recurrent
from ..layers.simple_rnn import SimpleRNN
from ..layers.weighted_recurrent import WeightedRecurrent

Array = np.ndarray

# Per layer: traced gate names, the Keras weight block each reads, and what it is.
GATES = {"LSTM": ("i", "f", "g", "o"), "GRU": ("z", "r", "hh"), "SimpleRNN": ("h",)}
BLOCKS = {"LSTM": ("i", "f", "c", "o"), "GRU": ("z", "r", "h"), "SimpleRNN": ("",)}
MEANING = {"i": "input gate", "f": "forget gate", "g": "candidate", "o": "output gate",
           "c": "cell state", "h": "hidden state / output", "z": "update gate",
           "r": "reset gate", "hh": "candidate ĥ"}


@dataclass(frozen=True)
class Contributions:
    """What feeds each gate's pre-activation for one sample and unit at step ``t``.

    ``features[g, k] = x_t[k] · kernel_<g>[k, unit]``; ``pre = features.sum(1) +
    recurrent + bias`` and ``value = activation(pre)``. Shapes: (G, F), then (G,).
    """

    kind: str
    t: int
    sample: int
    unit: int
    gates: tuple[str, ...]
    weights: tuple[str, ...]          # the kernel block each gate reads, e.g. kernel_c
    feature_names: tuple[str, ...]
    features: Array                   # (G, F)
    recurrent: Array                  # (G,)
    bias: Array                       # (G,)
    pre: Array                        # (G,) the pre-activation the cell computed
    value: Array                      # (G,) the gate after its activation
    notes: tuple[str, ...] = ()

    @property
    def total(self) -> Array:
        """features + recurrent + bias, (G,): equals ``pre`` up to float rounding."""
        return self.features.sum(axis=1) + self.recurrent + self.bias

    def __str__(self) -> str:
        u, G = self.unit, len(self.gates)
        what = "each gate's" if G > 1 else f"{self.gates[0]}'s"
        rows = [f"Step t={self.t}, sample {self.sample}, unit {u}: what adds up to {what} "
                "pre-activation",
                f"{'':34}" + "".join(f"{g:>10}" for g in self.gates),
                f"{'':34}" + "".join(f"{w:>10}" for w in self.weights)]

        def row(label: str, values: Any) -> str:
            return f"{label:34}" + "".join(f"{v:+10.4f}" for v in values)

        block = "kernel_*" if self.kind != "SimpleRNN" else "kernel"
        for k, name in enumerate(self.feature_names):
            rows.append(row(f"  {name}·{block}[{k}, {u}]", self.features[:, k]))
        rows.append(row(f"  h_(t-1)·recurrent_{block}[:, {u}]", self.recurrent))
        rows.append(row("  bias", self.bias))
        rows.append("  " + "─" * (32 + 10 * G))
        rows.append(row("  = pre-activation", self.pre))
        rows.append(row("  → after activation", self.value))
        return "\n".join(rows + [f"  {n}" for n in self.notes])


@dataclass(frozen=True)
class Trace:
    """Every intermediate of one recurrent layer's forward pass (see module docstring).

    ``arrays[name]`` is (T, B, H); ``x`` (T, B, F) is the layer's input in processing
    order; ``h0`` (B, H) the state before step 0; ``kernel`` (F, G·H), ``input_bias``
    (G·H,) or None and ``params`` (the cell's recurrent weights) are copies taken at
    trace time. ``mask`` (T, B), when the layer ran masked: at a False step the cell
    still computed its gates (shown as computed), but the states (``c``, ``h``) carried
    over unchanged, as in Keras.
    """

    kind: str
    name: str
    arrays: dict[str, Array]
    x: Array
    h0: Array
    kernel: Array
    input_bias: Array | None
    params: tuple[Array, ...]
    activations: tuple[str, str]      # (activation, recurrent_activation)
    reset_after: bool = False
    go_backwards: bool = False
    sample: int = 0
    feature_names: tuple[str, ...] = ()
    mask: Array | None = None         # (T, B) bool, processing order; None: no mask

    def __repr__(self) -> str:
        return (f"<Trace {self.kind} {self.name!r}: timesteps={self.timesteps} batch={self.batch} "
                f"units={self.units} features={self.features}; {', '.join(self.arrays)}>")

    # -- access --------------------------------------------------------------------------
    def __getitem__(self, name: str) -> Array:
        try:
            return self.arrays[name]
        except KeyError:
            raise KeyError(f"{self.kind} trace has no {name!r}; it has {list(self.arrays)}") from None

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.arrays)

    @property
    def gates(self) -> tuple[str, ...]:
        return GATES[self.kind]

    @property
    def states(self) -> tuple[str, ...]:
        """The plotted series: gates, then states (``c`` and/or ``h``), no pre-activations."""
        return tuple(n for n in self.arrays if not n.startswith("pre_"))

    @property
    def timesteps(self) -> int:
        return self.x.shape[0]

    @property
    def batch(self) -> int:
        return self.x.shape[1]

    @property
    def units(self) -> int:
        return self.h0.shape[-1]

    @property
    def features(self) -> int:
        return self.x.shape[2]

    def locate(self, sample: int | None, unit: int) -> tuple[int, int]:
        """``(sample, unit)`` checked and made non-negative; None means ``self.sample``."""
        s = self.sample if sample is None else sample
        if not -self.batch <= s < self.batch:
            raise ConfigError(f"sample must be in [0, {self.batch}) for a batch of "
                              f"{self.batch}, got {s}.")
        if not -self.units <= unit < self.units:
            raise ConfigError(f"unit must be in [0, {self.units}) for {self.units} unit(s), got {unit}.")
        return s % self.batch, unit % self.units

    # -- views ---------------------------------------------------------------------------
    def table(self, sample: int | None = None, unit: int = 0, pre: bool = False,
              inputs: bool | None = None) -> str:
        """One row per timestep: the inputs x_t (by default when F <= 6), optionally the
        pre-activations, then every gate and state of ``unit`` for ``sample``."""
        s, u = self.locate(sample, unit)
        inputs = self.features <= 6 if inputs is None else inputs
        cols = [n for n in self.arrays if pre or not n.startswith("pre_")]
        xs = list(self.feature_names) if inputs else []
        width = max([9] + [len(n) + 1 for n in xs + cols])
        head = f"{'t':>4} │" + "".join(f"{n:>{width}}" for n in xs) + (" │" if xs else "")
        head += "".join(f"{n:>{width}}" for n in cols)
        order = " (processing order: input reversed by go_backwards)" if self.go_backwards else ""
        if not inputs:
            order += f"; the {self.features} input features are not shown (inputs=True shows them)"
        lines = [f"{self.kind} {self.name!r}: sample {s}, unit {u}, {self.timesteps} "
                 f"timestep(s){order}", head, "─" * len(head)]
        for t in range(self.timesteps):
            line = f"{t:>4} │" + "".join(f"{v:>+{width}.4f}" for v in self.x[t, s] if inputs)
            line += (" │" if xs else "") + "".join(f"{self.arrays[n][t, s, u]:>+{width}.4f}" for n in cols)
            lines.append(line + ("  masked" if self.masked(t, s) else ""))
        legend = [f"  {self._legend()}"]
        if self.mask is not None and not self.mask[:, s].all():
            legend.append("  masked: the step's gates were computed but not used; the states "
                          "carried over from the step before")
        return "\n".join(lines + legend)

    def masked(self, t: int, sample: int) -> bool:
        """Whether step ``t`` (processing order) of ``sample`` was skipped by the mask."""
        return self.mask is not None and not self.mask[t, sample]

    def _legend(self) -> str:
        act, rec = self.activations
        if self.kind == "LSTM":
            return (f"i, f, o = {rec}(pre); g = {act}(pre) is the candidate (weights kernel_c); "
                    f"c = f·c_prev + i·g; h = o·{act}(c)")
        if self.kind == "GRU":
            return (f"z, r = {rec}(pre); hh = {act}(pre) is the candidate ĥ (weights kernel_h); "
                    "h = z·h_prev + (1 − z)·hh")
        return f"h = {act}(x_t·kernel + h_prev·recurrent_kernel + bias)"

    def contributions(self, t: int = -1, sample: int | None = None, unit: int = 0) -> Contributions:
        """Split each gate's pre-activation at step ``t`` into one term per feature
        (x_t[k]·kernel_<g>[k, unit]), the recurrent term and the bias."""
        s, u = self.locate(sample, unit)
        if not -self.timesteps <= t < self.timesteps:
            raise ConfigError(f"t must be in [0, {self.timesteps}), got {t}.")
        t %= self.timesteps
        H, gates = self.units, self.gates
        h_prev = self.h0[s] if t == 0 else self["h"][t - 1, s]            # (H,)
        cols = [j * H + u for j in range(len(gates))]
        feats = self.x[t, s][None, :] * self.kernel[:, cols].T           # (G, F)
        bias = np.zeros(len(gates)) if self.input_bias is None else self.input_bias[cols].astype(float)
        U, notes = self.params[0], []
        rec = h_prev @ U[:, cols]                                        # (G,)
        if self.kind == "GRU":
            r = self["r"][t, s]
            if self.reset_after:
                b_rec = self.params[1][cols] if len(self.params) > 1 else np.zeros(3)
                bias[:2] += b_rec[:2]
                rec[2] = r[u] * (rec[2] + b_rec[2])
                notes.append("hh: recurrent = r·(h_(t-1)·recurrent_kernel_h[:, unit] + "
                             "recurrent bias) — reset_after puts the recurrent bias inside r·(…)")
            else:
                rec[2] = (r * h_prev) @ U[:, cols[2]]
                notes.append("hh: recurrent = (r ⊙ h_(t-1))·recurrent_kernel_h[:, unit]")
        pre = np.array([self[f"pre_{g}"][t, s, u] for g in gates])
        value = np.array([self[g][t, s, u] for g in gates])
        blocks = BLOCKS[self.kind]
        weights = tuple(f"kernel_{b}" if b else "kernel" for b in blocks)
        where = ("every gate", "each gate's kernel") if self.kind != "SimpleRNN" else ("the unit", "kernel")
        notes.append(f"All {self.features} feature(s) enter {where[0]} at once, each through its "
                     f"own weight in column {u} of {where[1]}.")
        if self.masked(t, s):
            notes.append(f"Step {t} is masked for sample {s}: these gates were computed but "
                         "not used; the states carried over from the step before.")
        return Contributions(self.kind, t, s, u, gates, weights, self.feature_names, feats,
                             rec.astype(float), bias, pre, value, tuple(notes))


# -- running a layer ---------------------------------------------------------------------
# Layers that pass each input feature through unchanged: column names survive them.
NAME_PRESERVING = ("InputLayer", "Masking", "Dropout", "GaussianNoise", "GaussianDropout",
                   "SpatialDropout1D", "ActivityRegularization")


def _is_model(obj: Any) -> bool:
    return hasattr(obj, "graph") and hasattr(obj, "layers")


def recurrent_layer(layer_or_model: Any, which: int | str | None = None
                    ) -> tuple[WeightedRecurrent, list[Any]]:
    """The recurrent layer to trace and the layers whose outputs reach its input, in run
    order (empty for a bare layer). Works on any graph: a Sequential, or a Functional
    model with branches or several inputs.

    ``which``: a layer name or index into ``model.layers``; default the first recurrent one.
    """
    if isinstance(layer_or_model, (LSTM, GRU, SimpleRNN)):
        return layer_or_model, []
    layers = getattr(layer_or_model, "layers", None)
    if layers is None:
        raise ConfigError(f"trace expects an LSTM, GRU or SimpleRNN layer or a model "
                          f"(Sequential or Functional), got {type(layer_or_model).__name__}.")
    listing = ", ".join(f"{l.name} ({type(l).__name__})" for l in layers) or "none"
    for k, layer in enumerate(layers):
        if (which is None and isinstance(layer, Recurrent)) or which in (k, layer.name):
            if not isinstance(layer, (LSTM, GRU, SimpleRNN)):
                raise ConfigError(f"Layer {layer.name!r} is a {type(layer).__name__}; trace "
                                  "needs an LSTM, GRU or SimpleRNN layer.")
            if not _is_model(layer_or_model):
                return layer, list(layers[:k])
            graph, node = _node_of(layer_or_model, layer)
            return layer, [n.layer for n in graph.ancestors(node)]
    wanted = "no recurrent layer" if which is None else f"no layer {which!r}"
    raise ConfigError(f"Model {getattr(layer_or_model, 'name', '')!r} has {wanted}; its layers: {listing}.")


def _node_of(model: Any, layer: Any) -> tuple[Any, Any]:
    """The model's graph and the (first) call of ``layer`` in it."""
    graph = model.graph()
    for node in graph.calls:
        if node.layer is layer:
            return graph, node
    raise ConfigError(f"Layer {layer.name!r} is not called in model {model.name!r}'s graph.")


def input_feature_names(model: Any, layer: Any, names: list[str] | None) -> list[str] | None:
    """``names`` (the columns of the model's first input) if they still name the features
    reaching ``layer`` — its input is that model input, passed only through layers that
    keep every feature (Masking, Dropout, ...) — else None."""
    if names is None:
        return None
    if not _is_model(model):
        return list(names) if getattr(model, "features", len(names)) == len(names) else None
    _, node = _node_of(model, layer)
    t = node.x
    while hasattr(t, "history") and t.history is not None:
        producer = t.node
        if producer.is_input:
            first = model.graph().inputs[0]
            return list(names) if t is first and t.shape[-1] == len(names) else None
        if type(producer.layer).__name__ not in NAME_PRESERVING or not producer.single:
            return None
        t = producer.x
    return None


def _layer_input(model: Any, layer: Any, x: Any, mask: Any) -> tuple[Any, Any, Any]:
    """(the array reaching ``layer``, its mask, its initial_state arrays or None) when
    ``model`` runs on ``x``: the graph engine computes the layer's input values."""
    graph, node = _node_of(model, layer)
    arrays = model.prepare_inputs(x)
    masks = None
    if mask is not None:
        masks = [np.asarray(mask)] + [None] * (len(arrays) - 1)
    x_in, mask_in, kwargs = graph.node_inputs(node, arrays, masks)
    if isinstance(x_in, list):
        raise ConfigError(f"Layer {layer.name!r} is called on {len(x_in)} tensors; trace "
                          "follows a recurrent layer with one input.")
    return x_in, mask_in, kwargs.get("initial_state")


def _pre_activations(kind: str, layer: Any, xp: Array, h_prev: Array, a: Array,
                     params: tuple[Array, ...]) -> Array:
    """Pre-activations (T, B, G·H) from the input projection xp (T, B, G·H), the carried
    h_prev (T, B, H) and the activated gates a (T, B, G·H), as the cell forms them."""
    U, H = params[0], h_prev.shape[-1]
    if kind != "GRU":
        return xp + h_prev @ U
    pre = np.empty_like(xp)
    if layer.reset_after:
        m = h_prev @ U + (params[1] if len(params) > 1 else 0.0)          # (T, B, 3H)
        pre[..., :2 * H] = xp[..., :2 * H] + m[..., :2 * H]
        pre[..., 2 * H:] = xp[..., 2 * H:] + a[..., H:2 * H] * m[..., 2 * H:]
    else:
        pre[..., :2 * H] = xp[..., :2 * H] + h_prev @ U[:, :2 * H]
        pre[..., 2 * H:] = xp[..., 2 * H:] + (a[..., H:2 * H] * h_prev) @ U[:, 2 * H:]
    return pre


def trace(layer_or_model: Any, x: Any, sample: int = 0, initial_state: Any = None,
          which: int | str | None = None, feature_names: list[str] | None = None,
          mask: Any = None) -> Trace:
    """Run a recurrent layer on ``x`` (batch, timesteps, features) and keep every
    intermediate, each (timesteps, batch, units).

    For a model (Sequential, or Functional with branches or several inputs: ``x`` is
    then what the model takes, a list or a dict), the graph engine computes what
    reaches the recurrent layer (``which``, default the first): the values at its input,
    the mask it is called with (a ``Masking`` layer's) and any ``initial_state`` tensors
    of its call, exactly as the model runs it. ``mask`` (batch, timesteps), True = a real step, is the input
    mask (as for a layer call). ``sample`` is the default sample of :meth:`Trace.table`
    and :meth:`Trace.contributions`.
    """
    layer, before = recurrent_layer(layer_or_model, which)
    if _is_model(layer_or_model):
        x, mask, graph_state = _layer_input(layer_or_model, layer, x, mask)
        if initial_state is None and graph_state is not None:
            initial_state = graph_state
        x = np.asarray(x)
    elif before:   # a bare list of layers (no graph)
        x = as_input_array(x, before[0].dtype, "trace")
        for prev in before:
            x_in = x
            x = (prev.forward(x, training=False) if mask is None
                 else prev.forward(x, training=False, mask=mask))[0]
            mask = prev.compute_mask(x_in, mask)
    else:
        x = as_input_array(x, layer.dtype, "trace")
    layer.validate_input(x.shape)
    if not -x.shape[0] <= sample < x.shape[0]:
        raise ConfigError(f"sample must be in [0, {x.shape[0]}) for a batch of {x.shape[0]}, got {sample}.")
    if not layer.built:
        layer.build((None,) + x.shape[1:])
    initial = layer._initial_state(x.shape[0], initial_state)
    kernel, input_bias, params = layer._scan_weights()   # exactly what the layer scans with
    if mask is not None:
        mask = layer._check_mask(mask, x.shape)
    x = x.astype(kernel.dtype, copy=False)   # as the layer's kernels: in its weights' dtype
    _, _, cache = sequence_forward(layer.cell, x, kernel, input_bias, params, initial,
                                   layer.go_backwards, mask, layer.zero_output_for_mask)
    kind = next(k for k, c in (("LSTM", LSTM), ("GRU", GRU), ("SimpleRNN", SimpleRNN))
                if isinstance(layer, c))
    h = cache.carries[0][1:]                                             # (T, B, H)
    xp = cache.x @ kernel + (0.0 if input_bias is None else input_bias)  # (T, B, G·H)
    a = cache.saved[0] if kind != "SimpleRNN" else h                    # activated gates
    pre = _pre_activations(kind, layer, xp, cache.carries[0][:-1], a, params)
    H, names = layer.units, GATES[kind]
    arrays = {f"pre_{g}": pre[..., j * H:(j + 1) * H] for j, g in enumerate(names)}
    if kind != "SimpleRNN":
        arrays.update({g: a[..., j * H:(j + 1) * H] for j, g in enumerate(names)})
    if kind == "LSTM":
        arrays["c"] = cache.carries[1][1:]
    arrays["h"] = h
    F = cache.x.shape[-1]
    names_f = tuple(feature_names) if feature_names is not None else tuple(f"x[{k}]" for k in range(F))
    if len(names_f) != F:
        raise ConfigError(f"feature_names has {len(names_f)} name(s) for {F} feature(s).")
    act = layer.activation.name
    rec = layer.recurrent_activation.name if kind != "SimpleRNN" else act
    return Trace(kind=kind, name=layer.name,
                 arrays={k: np.ascontiguousarray(v) for k, v in arrays.items()},
                 x=cache.x, h0=initial[0].copy(), kernel=kernel.copy(),
                 input_bias=None if input_bias is None else input_bias.copy(),
                 params=tuple(p.copy() for p in params), activations=(act, rec),
                 reset_after=getattr(layer, "reset_after", False),
                 go_backwards=layer.go_backwards, sample=sample % x.shape[0],
                 feature_names=names_f, mask=cache.mask)
