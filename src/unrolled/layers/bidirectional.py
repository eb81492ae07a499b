"""``Bidirectional``: one recurrent layer reading the sequence forwards, a copy reading it
backwards, their outputs merged -- Keras 3's wrapper, weights and order included.

Input (batch, timesteps, features). With ``y`` the forward layer's output and ``y_rev``
the backward layer's (flipped back to time order when it is a sequence)::

    concat: [y, y_rev] on the last axis    sum: y + y_rev    ave: (y + y_rev) / 2
    mul:    y * y_rev                      None: the list [y, y_rev]

``return_state`` appends the forward layer's final states, then the backward layer's
(LSTM: ``[out, h_fwd, c_fwd, h_bwd, c_bwd]``); ``initial_state`` is split the same way,
first half forward. Weights: the forward layer's, then the backward layer's
(``forward_<name>``, ``backward_<name>``), each in its own layout: twice the parameters.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ..core.kernels import bidirectional as directions
from ..core.kernels.bidirectional import DirectionPlan
from ..errors import ConfigError, InputShapeError
from .base import Layer
from .recurrent import planned_kernel_name
from .sublayers import SubLayerPenalties

MERGE_MODES = ("concat", "sum", "mul", "ave", None)


class BidirectionalCache(NamedTuple):
    forward: Any
    backward: Any
    y: np.ndarray        # forward output, time order
    y_rev: np.ndarray    # backward output, flipped to time order if a sequence
    at_once: bool = False   # the directions ran side by side (backward runs them so too)


def _removeprefix(name: str, prefix: str) -> str:
    return name[len(prefix):] if name.startswith(prefix) else name


class Bidirectional(SubLayerPenalties, Layer):
    """Bidirectional wrapper for a recurrent layer (LSTM, GRU, SimpleRNN, RNN(cell)).

    ``layer`` is only used as a template: the forward layer is a copy built from its config
    and named ``forward_<name>``; without ``backward_layer`` the backward one is a copy with
    ``go_backwards=True`` named ``backward_<name>`` (as Keras). Per-direction weights and
    gate views: ``bi.forward_layer.kernel_i``, ``bi.backward_layer.recurrent_kernel_f``.
    """

    def __init__(self, layer: Layer, merge_mode: str | None = "concat", weights: Any = None,
                 backward_layer: Layer | None = None, **kwargs: Any) -> None:
        for what, obj in (("layer", layer), ("backward_layer", backward_layer)):
            if obj is not None and not (isinstance(obj, Layer) and hasattr(obj, "go_backwards")):
                raise ConfigError(
                    f"Bidirectional expects {what} to be a recurrent layer (LSTM, GRU, SimpleRNN "
                    f"or RNN), got {obj!r}. Hint: Bidirectional(LSTM(units, ...)).")
        if merge_mode not in MERGE_MODES:
            raise ConfigError(f"Bidirectional merge_mode must be one of 'concat', 'sum', 'mul', "
                              f"'ave' or None, got {merge_mode!r}.")
        super().__init__(**kwargs)
        self.forward_layer = self._copy(layer, f"forward_{_removeprefix(layer.name, 'forward_')}")
        if backward_layer is None:
            backward_layer = self._copy(layer, f"backward_{_removeprefix(layer.name, 'backward_')}",
                                        go_backwards=True)
        self.backward_layer = backward_layer
        fwd, bwd = self.forward_layer, self.backward_layer
        if fwd.go_backwards == bwd.go_backwards:
            raise ConfigError(
                "Bidirectional: the forward and backward layers must have different go_backwards, "
                f"got {fwd.go_backwards} for both.")
        for attr in ("stateful", "return_sequences", "return_state"):
            if getattr(fwd, attr, False) != getattr(bwd, attr, False):
                raise ConfigError(
                    f"Bidirectional: forward and backward layers must agree on {attr}, got "
                    f"{getattr(fwd, attr, False)} (forward) and {getattr(bwd, attr, False)} (backward).")
        for sub in (fwd, bwd):  # Keras: masked steps output zeros when returning sequences
            if hasattr(sub, "zero_output_for_mask"):
                sub.zero_output_for_mask = sub.return_sequences
        self.merge_mode = merge_mode
        self.stateful = bool(getattr(fwd, "stateful", False))
        self.return_sequences = bool(fwd.return_sequences)
        self.return_state = bool(fwd.return_state)
        self._initial_weights = None if weights is None else list(weights)
        if self._initial_weights is not None and fwd.built and bwd.built:
            self.set_weights(self._initial_weights)
            self._initial_weights = None

    @staticmethod
    def _copy(layer: Layer, name: str, **changes: Any) -> Layer:
        """A fresh layer from ``layer``'s config (built like it), as Keras's round trip."""
        config = {**layer.get_config(), "name": name, **changes}
        fresh = type(layer).from_config(config)
        if layer.built and layer.build_input_shape is not None:
            fresh.build(layer.build_input_shape)
        return fresh

    # -- weights (the sub-layers own them; ours are theirs, forward first) ----------------
    @property
    def _weights(self) -> dict[str, np.ndarray]:  # type: ignore[override]
        out = {}
        for sub in (self.forward_layer, self.backward_layer):
            out.update({f"{sub.name}/{k}": v for k, v in zip(sub.weight_names, sub.weights)})
        return out

    @_weights.setter
    def _weights(self, value: dict[str, np.ndarray]) -> None:
        pass  # Layer.__init__ sets an empty dict; the sub-layers hold the arrays

    @property
    def trainable_weights(self) -> list[np.ndarray]:
        if not self.trainable:
            return []
        return self.forward_layer.trainable_weights + self.backward_layer.trainable_weights

    @property
    def non_trainable_weights(self) -> list[np.ndarray]:
        if not self.trainable:
            return self.weights
        return self.forward_layer.non_trainable_weights + self.backward_layer.non_trainable_weights

    def sublayers(self) -> list[Layer]:
        return [self.forward_layer, self.backward_layer]

    def _sub_caches(self, cache: Any) -> list[tuple[Any, Any]]:
        return [(self.forward_layer, cache.forward), (self.backward_layer, cache.backward)]

    def kernel_layers(self) -> list[Layer]:
        """The recurrent layers whose kernel choice ``summary()`` reports."""
        return [self.forward_layer, self.backward_layer]

    def kernel_notes(self, batch: int = 32) -> list[str]:
        """How the directions would run an inference call of ``batch`` (before the first
        call; afterwards the sub-layers' choices carry it)."""
        shape = self.build_input_shape or (None, None, None)
        x = np.empty((batch, shape[1] or 1, 0), self.dtype)     # only its sizes are read
        subs = (self.forward_layer, self.backward_layer)
        kept = [sub.__dict__.get("kernel_choice") for sub in subs]
        try:
            return [self._plan(x, False, None).reason]
        finally:   # planning asks the sub-layers' kernel_for, which records a choice
            for sub, choice in zip(subs, kept):
                if choice is None:
                    sub.__dict__.pop("kernel_choice", None)
                else:
                    sub.__dict__["kernel_choice"] = choice

    def keras_children(self) -> list[tuple[str, Layer]]:
        return [("forward_layer", self.forward_layer), ("backward_layer", self.backward_layer)]

    def param_formula(self) -> str:
        fwd, bwd = self.forward_layer, self.backward_layer
        n_f, n_b = fwd.count_params(), bwd.count_params()
        if n_f == n_b and type(fwd) is type(bwd):
            return (f"2 × ({fwd.param_formula()}) = 2 × {n_f} = {n_f + n_b}"
                    f"  [{fwd.name} {n_f}, {bwd.name} {n_b}]")
        return f"{n_f} + {n_b} = {n_f + n_b}  [{fwd.name}: {fwd.param_formula()}; {bwd.name}: {bwd.param_formula()}]"

    # -- shapes ----------------------------------------------------------------------------
    def build(self, input_shape: tuple[int | None, ...]) -> None:
        for sub in (self.forward_layer, self.backward_layer):
            if not sub.built:
                sub.build(tuple(input_shape))
        super().build(input_shape)
        if self._initial_weights is not None:
            self.set_weights(self._initial_weights)
            self._initial_weights = None

    def validate_input(self, shape: tuple[int, ...]) -> None:
        self.forward_layer.validate_input(shape)

    @property
    def features(self) -> int | None:
        return getattr(self.forward_layer, "features", None)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> Any:
        out = self.forward_layer.compute_output_shape(input_shape)
        states: list[Any] = []
        if self.return_state:
            out, states = out[0], list(out[1:])
        if self.merge_mode == "concat":   # the real width, also with another backward layer
            back = self.backward_layer.compute_output_shape(input_shape)
            back = back[0] if self.return_state else back
            out = tuple(out[:-1]) + (out[-1] + back[-1],)
        outputs = [out, out] if self.merge_mode is None else [out]
        if self.return_state or self.merge_mode is None:
            return outputs + states + states
        return out

    def compute_mask(self, x: Any, mask: Any) -> Any:
        if isinstance(mask, list):
            mask = mask[0]
        out = mask if self.return_sequences else None
        masks = [out, out] if self.merge_mode is None else [out]
        if self.return_state:
            n = len(self.forward_layer.compute_output_shape((None, 1, 1))) - 1
            masks += [None] * (2 * n)
        return masks if len(masks) > 1 else masks[0]

    # -- forward / backward ----------------------------------------------------------------
    def __call__(self, x: Any, *args: Any, **kwargs: Any) -> Any:
        # Fast lane for the usual call on a built layer (as the recurrent layers' own): a
        # float ndarray of our dtype and accepted shape needs none of Layer.__call__'s
        # conversion and checks; anything else takes the full path and its messages.
        if (not args and (not kwargs or kwargs.keys() <= {"training"})
                and type(x) is np.ndarray and self.built and x.ndim == 3
                and x.dtype == self.dtype and x.shape[1]
                and x.shape[2] == self.features):
            return self.call(x, training=bool(kwargs.get("training", False)))
        return super().__call__(x, *args, **kwargs)

    def call(self, x: np.ndarray, training: bool = False, initial_state: Any = None,
             mask: Any = None) -> Any:
        if training:
            return self.forward(x, training=training, initial_state=initial_state, mask=mask)[0]
        # inference: each direction's own inference call (no saved values), side by side
        outs, _ = self._directions(x, False, initial_state, mask, infer=True)
        return self._merge(outs)[0]

    def _split_initial(self, initial_state: Any) -> tuple[Any, Any]:
        if initial_state is None:
            return None, None
        states = [initial_state] if isinstance(initial_state, np.ndarray) else list(initial_state)
        if len(states) % 2:
            raise InputShapeError(
                f"Bidirectional {self.name!r} expects initial_state as the forward layer's states "
                f"followed by the backward layer's (an even number of arrays), got {len(states)}.")
        half = len(states) // 2
        return states[:half], states[half:]

    def _plan(self, x: np.ndarray, training: bool, mask: Any) -> DirectionPlan:
        """Whether the directions run side by side (:mod:`unrolled.core.kernels.bidirectional`)."""
        fwd = self.forward_layer
        B, T = x.shape[0], x.shape[1]
        def names() -> list[str]:
            return [planned_kernel_name(sub, B, T, training, mask is not None)
                    for sub in (fwd, self.backward_layer)]
        cell = getattr(fwd, "cell", None)
        return directions.plan(names, B, T, int(getattr(fwd, "units", 1) or 1),
                               int(getattr(cell, "n_gates", 1) or 1))

    def _directions(self, x: np.ndarray, training: bool, initial_state: Any, mask: Any,
                    infer: bool) -> tuple[list[Any], DirectionPlan]:
        """Both directions' outputs (and caches unless ``infer``), run as planned."""
        fwd_state, bwd_state = self._split_initial(initial_state)
        plan = self._plan(x, training, mask)

        def job(sub: Layer, state: Any) -> Any:
            kwargs: dict[str, Any] = {}
            if state is not None:
                kwargs["initial_state"] = state
            if mask is not None:
                kwargs["mask"] = mask
            if infer:
                return lambda: sub.call(x, training=False, **kwargs)
            return lambda: sub.forward(x, training=training, **kwargs)

        results = directions.run([job(self.forward_layer, fwd_state),
                                  job(self.backward_layer, bwd_state)], plan.at_once)
        noted = self.__dict__.setdefault("_noted_choices", {})
        for sub in (self.forward_layer, self.backward_layer):   # for summary() / info
            choice = sub.__dict__.get("kernel_choice")
            if choice is None or choice.reasons[-1:] == (plan.reason,):
                continue
            key = (id(choice), plan.reason)
            if key not in noted:      # the sub-layers remember their choices: few entries
                if len(noted) > 32:
                    noted.clear()
                reasons = tuple(r for r in choice.reasons if not r.startswith("bidirectional:"))
                noted[key] = (choice, choice._replace(reasons=reasons + (plan.reason,)))
            sub.__dict__["kernel_choice"] = noted[key][1]
        return results, plan

    def _merge(self, outs: list[Any]) -> tuple[Any, np.ndarray, np.ndarray]:
        """The layer's output from the directions' outputs, and y, y_rev (time order)."""
        (y, *s_f) = outs[0] if self.return_state else [outs[0]]
        (y_rev, *s_b) = outs[1] if self.return_state else [outs[1]]
        if self.return_sequences:
            y_rev = y_rev[:, ::-1]
        if self.merge_mode == "concat":
            merged: Any = np.concatenate([y, y_rev], axis=-1)
        elif self.merge_mode == "sum":
            merged = y + y_rev
        elif self.merge_mode == "ave":
            merged = (y + y_rev) / y.dtype.type(2)
        elif self.merge_mode == "mul":
            merged = y * y_rev
        else:
            merged = [y, np.ascontiguousarray(y_rev)]
        outputs = merged if isinstance(merged, list) else [merged]
        if self.return_state:
            outputs = outputs + list(s_f) + list(s_b)
        return (outputs if len(outputs) > 1 else outputs[0]), y, y_rev

    def forward(self, x: np.ndarray, training: bool = False, initial_state: Any = None,
                mask: Any = None) -> tuple[Any, BidirectionalCache]:
        """``x`` (batch, timesteps, features) -> the merged output (see the module docstring)."""
        results, plan = self._directions(x, training, initial_state, mask, infer=False)
        result, y, y_rev = self._merge([out for out, _ in results])
        return result, BidirectionalCache(results[0][1], results[1][1], y, y_rev, plan.at_once)

    def backward_with_states(self, dy: Any, cache: BidirectionalCache
                             ) -> tuple[np.ndarray, list[np.ndarray], tuple[np.ndarray, ...]]:
        """dL/dx, the gradients of ``trainable_weights`` (forward's then backward's) and
        dL/d initial_state (forward's states then backward's)."""
        y, y_rev = cache.y, cache.y_rev
        d_list = list(dy) if isinstance(dy, (list, tuple)) else [dy]
        n_out = 2 if self.merge_mode is None else 1
        d_merged, d_states = d_list[:n_out], d_list[n_out:]
        if self.merge_mode is None:
            d_y, d_rev = d_merged
        else:
            d = d_merged[0]
            if d is None:
                d_y = d_rev = None
            elif self.merge_mode == "concat":
                d_y, d_rev = d[..., :y.shape[-1]], d[..., y.shape[-1]:]
            elif self.merge_mode == "sum":
                d_y, d_rev = d, d
            elif self.merge_mode == "ave":
                d_y = d_rev = d / d.dtype.type(2)
            else:  # mul
                d_y, d_rev = d * y_rev, d * y
        if d_rev is not None and self.return_sequences:
            d_rev = d_rev[:, ::-1]
        half = len(d_states) // 2

        def job(sub: Layer, sub_cache: Any, d_out: Any, d_st: list[Any], out: np.ndarray) -> Any:
            if d_out is None and not self.return_state:
                d_out = np.zeros_like(out)
            if d_out is not None:
                d_out = np.ascontiguousarray(d_out)
            sub_dy = [d_out, *d_st] if self.return_state else d_out
            return lambda: sub.backward_with_states(sub_dy, sub_cache)

        (dx_f, g_f, di_f), (dx_b, g_b, di_b) = directions.run(
            [job(self.forward_layer, cache.forward, d_y, d_states[:half], y),
             job(self.backward_layer, cache.backward, d_rev, d_states[half:], y_rev)],
            cache.at_once)
        grads = ((g_f if self.forward_layer.trainable else [])
                 + (g_b if self.backward_layer.trainable else []))
        return dx_f + dx_b, (grads if self.trainable else []), tuple(di_f) + tuple(di_b)

    def backward(self, dy: Any, cache: BidirectionalCache) -> tuple[np.ndarray, list[np.ndarray]]:
        dx, grads, _ = self.backward_with_states(dy, cache)
        return dx, grads

    # -- stateful --------------------------------------------------------------------------
    def reset_state(self) -> None:
        if not self.stateful:
            raise AttributeError("Layer must be stateful.")
        self.forward_layer.reset_state()
        self.backward_layer.reset_state()

    def reset_states(self) -> None:
        self.reset_state()

    # -- config ----------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        from .serialization import serialize
        return {**super().get_config(), "merge_mode": self.merge_mode,
                "layer": serialize(self.forward_layer),
                "backward_layer": serialize(self.backward_layer)}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Bidirectional":
        from .serialization import deserialize
        config = dict(config)
        config["layer"] = deserialize(config["layer"])
        if config.get("backward_layer") is not None:
            config["backward_layer"] = deserialize(config["backward_layer"])
        return cls(**config)
