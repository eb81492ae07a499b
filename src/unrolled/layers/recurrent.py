"""What every recurrent layer shares: input checks, initial states, the output options
``return_sequences`` / ``return_state`` / ``go_backwards``, masks, and the call into one
sequence kernel (:mod:`unrolled.core.kernels.interface`): the selector chooses it per call
(:meth:`Recurrent.kernel_for`), and every kernel -- the reference scan of
:mod:`unrolled.core.scan` included -- is called the same way in forward, backward and
inference, and its result turned into the layer's outputs in one place (``_outputs``).

A subclass (LSTM, GRU, SimpleRNN) supplies its cell, its weights, and how the scan's
gradients map onto its weight list.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ..core.kernels import dropout as dropout_kernel
from ..core.kernels import select as kernel_select
from ..core.kernels.interface import ScanCall, ScanResult, ScanWeights, SequenceKernel
from ..core.kernels.masked import MaskedKernel
from ..core.kernels.reference import REFERENCE
from ..core.kernels.select import Choice
from ..core.recurrent_dropout import (DropoutMasks, apply_input_masks, draw, input_mask_grads,
                                      with_recurrent_masks)
from ..core.scan import SequenceGrads
from ..errors import ConfigError, InputShapeError
from ..random import make_rng
from .base import Layer, as_input_array
from .penalties import Penalized, activity_regularized

_MEMO_ENTRIES = 8


class RecurrentCache(NamedTuple):
    """What :meth:`Recurrent.backward` needs: the kernel that ran the forward and its saved
    values (a NamedTuple of that kernel's own type)."""
    kernel: SequenceKernel
    saved: Any
    batch: int


RECURRENT_DROPOUT_REASON = ("recurrent_dropout in training runs on the reference scan "
                            "(core/scan.py); inference uses the usual kernels")


class DropoutSaved(NamedTuple):
    """``RecurrentCache.saved`` of a training call with dropout: the kernel's own saved
    values, the weights it ran on (widened kernel, masked cell) and the masks."""
    saved: Any
    weights: ScanWeights
    masks: DropoutMasks


@activity_regularized
class Recurrent(Penalized, Layer):
    """Base class of LSTM/GRU/SimpleRNN. Input (batch, timesteps, features)."""

    supports_masking = True
    keras_call_kwargs = {"training": False, "mask": None}  # what Keras records per call
    first_arg_name = "sequences"                           # Keras's name of call()'s input
    n_carry = 1  # how many state arrays the cell carries (LSTM: h and c)

    def __init__(self, units: int, *, return_sequences: bool = False, return_state: bool = False,
                 go_backwards: bool = False, stateful: bool = False, unroll: bool = False,
                 zero_output_for_mask: bool = False, dropout: float = 0.0,
                 recurrent_dropout: float = 0.0, implementation: int = 2,
                 batch_input_shape: Any = None, batch_size: int | None = None,
                 **kwargs: Any) -> None:
        # Keras's kernel_/recurrent_/bias_regularizer and _constraint, activity_regularizer.
        self._take_penalties(kwargs, {"kernel": "kernel", "recurrent": "recurrent_kernel",
                                      "bias": "bias"})
        super().__init__(**kwargs)
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units <= 0:
            raise ConfigError(
                f"{type(self).__name__}: units must be a positive integer, got {units!r}."
            )
        self.stateful = bool(stateful)
        self.states: list[np.ndarray] | None = None   # stateful: the carry between calls
        self._fixed_batch = None if batch_input_shape is None else batch_input_shape[0]
        if batch_input_shape is not None and self.input_shape_arg is None:
            self.input_shape_arg = tuple(batch_input_shape[1:])
        if batch_size is not None:
            self._fixed_batch = int(batch_size)
        # Keras clamps both rates to [0, 1]; ``implementation`` (Keras's kwarg, not saved)
        # 1 = one input dropout mask per gate (recurrent_dropout forces it, as in Keras).
        self.dropout = min(1.0, max(0.0, float(dropout)))
        self.recurrent_dropout = min(1.0, max(0.0, float(recurrent_dropout)))
        self.implementation = 1 if self.recurrent_dropout else int(implementation)
        self.units = int(units)
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.unroll = bool(unroll)  # accepted for Keras compatibility; changes no numbers
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.features: int | None = None

    # -- what subclasses provide ----------------------------------------------------------
    @property
    def cell(self) -> Any:
        raise NotImplementedError

    def _build_weights(self, features: int) -> None:
        raise NotImplementedError

    def _scan_weights(self) -> tuple[np.ndarray, np.ndarray | None, tuple[np.ndarray, ...]]:
        """``(kernel, input_bias or None, cell params)`` for the scan."""
        raise NotImplementedError

    def _pack_grads(self, g: SequenceGrads) -> list[np.ndarray]:
        """Scan gradients in the order of ``self.weights``."""
        raise NotImplementedError

    # -- shapes --------------------------------------------------------------------------
    def validate_input(self, shape: tuple[int, ...]) -> None:
        who = type(self).__name__
        want_f = self.features if self.features is not None else "features"
        if len(shape) != 3:
            hint = ""
            if len(shape) == 2:
                hint = (" If this is one sequence, add a batch axis (x[None]); if each "
                        "timestep has a single feature, add a feature axis (x[..., None]).")
            elif len(shape) > 3:
                hint = (" Merge the extra axes into the features axis, e.g. "
                        f"x.reshape({shape[0]}, {shape[1]}, -1), or drop axes of size 1 "
                        "with np.squeeze.")
            elif len(shape) == 1:
                hint = " A single series needs batch and feature axes: x[None, :, None]."
            raise InputShapeError(
                f"{who} expects input of rank 3 (batch, timesteps, {want_f}), got rank "
                f"{len(shape)} with shape {tuple(shape)}.{hint}"
            )
        if shape[1] == 0:
            raise InputShapeError(
                f"{who} got an input with 0 timesteps (axis 1 of shape {tuple(shape)}); "
                "a recurrent layer needs at least one timestep."
            )
        if self.features is not None and shape[2] != self.features:
            hint = ""
            if shape[1] == self.features:
                hint = " Are timesteps and features swapped? Try x.transpose(0, 2, 1)."
            raise InputShapeError(
                f"{who} {self.name!r} expects input of shape (batch, timesteps, "
                f"{self.features}), got {tuple(shape)}: axis 2 (features) is {shape[2]}, "
                f"expected {self.features}.{hint}"
            )

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise InputShapeError(
                f"{type(self).__name__} needs input_shape (timesteps, features) with a known "
                f"features axis, got batch shape {tuple(input_shape)}."
            )
        batch = input_shape[0] if input_shape[0] is not None else self._fixed_batch
        if self.stateful and batch is None:
            raise InputShapeError(
                f"{type(self).__name__} {self.name!r} has stateful=True, which needs a fixed batch "
                f"size, but its input shape is {tuple(input_shape)} (batch None). Hint: start the "
                "model with Input((timesteps, features), batch_size=B), or pass "
                "batch_input_shape=(B, timesteps, features) to this layer.")
        self.features = int(input_shape[-1])
        self._build_weights(self.features)
        super().build((batch,) + tuple(input_shape[1:]))
        if self.stateful:
            self.states = [np.zeros((batch, self.units), self.dtype) for _ in range(self.n_carry)]

    # -- stateful (Keras 3: the final states become the next call's initial states) -------
    def reset_state(self) -> None:
        """Set the carried states of a ``stateful`` layer back to zeros."""
        if self.states is not None:
            for s in self.states:
                s[...] = 0

    def reset_states(self) -> None:
        """Keras's compatibility alias of :meth:`reset_state`."""
        self.reset_state()

    def _stateful_initial(self, batch: int, initial: Any) -> Any:
        """The carried states as this call's initial state (unless one is given)."""
        if not self.stateful or self.states is None:
            return initial
        expected = self.states[0].shape[0]
        if batch != expected:
            raise InputShapeError(
                f"{type(self).__name__} {self.name!r} is stateful with batch size {expected}, got "
                f"a batch of {batch}. Every batch must have {expected} samples (predict/fit with "
                f"batch_size={expected} and a number of samples divisible by it).")
        return initial if initial is not None else tuple(s.copy() for s in self.states)

    def _remember(self, result: ScanResult) -> None:
        if self.stateful and self.states is not None:
            for store, final in zip(self.states, result.final):
                store[...] = final

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> Any:
        batch, steps = input_shape[0], input_shape[1]
        out = (batch, steps, self.units) if self.return_sequences else (batch, self.units)
        if self.return_state:
            return [out] + [(batch, self.units)] * self.n_carry
        return out

    # -- forward / backward --------------------------------------------------------------
    def _initial_state(self, batch: int, initial_state: Any) -> tuple[np.ndarray, ...]:
        if initial_state is None:
            return tuple(np.zeros((batch, self.units), self.dtype) for _ in range(self.n_carry))
        states = [initial_state] if isinstance(initial_state, np.ndarray) else list(initial_state)
        if len(states) != self.n_carry:
            raise InputShapeError(
                f"{type(self).__name__} expects initial_state as a list of {self.n_carry} "
                f"array(s) of shape (batch, {self.units}), got {len(states)}."
            )
        out = []
        for k, s in enumerate(states):
            s = as_input_array(s, self.dtype, f"{type(self).__name__} initial_state[{k}]")
            if s.shape != (batch, self.units):
                raise InputShapeError(
                    f"{type(self).__name__} initial_state[{k}] must have shape "
                    f"(batch, units) = ({batch}, {self.units}), got {s.shape}."
                )
            out.append(s)
        return tuple(out)

    def __call__(self, x: Any, initial_state: Any = None, training: bool = False,
                 mask: Any = None) -> Any:
        # Fast lane for the usual call on a built layer: a float ndarray of our dtype and
        # an accepted shape needs none of Layer.__call__'s conversion and checks (which
        # would pass unchanged); anything else takes the full path and its messages. A
        # mask is checked by ``call``/``forward`` on either path (the wrapper has already
        # sent symbolic calls elsewhere).
        if (type(x) is np.ndarray and x.dtype == self.dtype and x.ndim == 3
                and self.features is not None and x.shape[2] == self.features and x.shape[1]):
            return self.call(x, training=training, initial_state=initial_state, mask=mask)
        return super().__call__(x, initial_state=initial_state, training=training, mask=mask)

    def call(self, x: np.ndarray, training: bool = False, initial_state: Any = None,
             mask: Any = None) -> Any:
        if training:
            return self.forward(x, training=training, initial_state=initial_state, mask=mask)[0]
        # inference: no saved values, and a fast kernel in one call
        if mask is not None:
            mask = self._check_mask(mask, x.shape)
        initial = None if initial_state is None else self._initial_state(x.shape[0], initial_state)
        if self.stateful:
            initial = self._stateful_initial(x.shape[0], initial)
        choice = self.kernel_for(x.shape[0], x.shape[1], False, mask is not None)
        result = choice.kernel.infer(self._scan_weights_tuple(), x, initial, mask, self._scan_call())
        if self.stateful:
            self._remember(result)
        return self._outputs(result)

    # -- the sequence kernel -------------------------------------------------------------
    def kernel_for(self, batch: int, timesteps: int, training: bool,
                   masked: bool = False) -> Choice:
        """The kernel (with the reasons) for a call of this layer, see
        :mod:`unrolled.core.kernels.select`; remembered per batch size and options (deciding
        anew costs ~10 µs, a third of a tiny call), and kept as ``self.kernel_choice``
        for ``summary()`` and ``unrolled info``."""
        key = kernel_select.memo_key(self, batch, training, masked)
        last = self.__dict__.get("_kernel_last")
        # Same call as the last one (the usual loop): compare the key item by item, where
        # identical objects compare at once, instead of hashing it (~2 µs: the activation
        # objects and the dtype hash their contents).
        if last is not None and last[0] == key:
            self.__dict__["kernel_choice"] = last[1]
            return last[1]
        memo = self.__dict__.get("_kernel_memo")
        if memo is None:
            memo = self.__dict__["_kernel_memo"] = {}
        choice = memo.get(key)
        if choice is None:
            choice = kernel_select.select(
                kernel_select.request_for(self, batch, timesteps, training, masked))
            if len(memo) >= _MEMO_ENTRIES:
                memo.clear()
            memo[key] = choice
        self.__dict__["kernel_choice"] = choice
        self.__dict__["_kernel_last"] = (key, choice)
        return choice

    def _scan_weights_tuple(self) -> ScanWeights:
        kernel, input_bias, params = self._scan_weights()
        return ScanWeights(self.cell, kernel, input_bias, params, self.n_carry)

    def _scan_call(self) -> ScanCall:
        return ScanCall(self.go_backwards, self.return_sequences, self.zero_output_for_mask)

    def _outputs(self, result: ScanResult) -> Any:
        """The layer's output from a kernel's result: the sequence or the last output, then
        with ``return_state`` the final states (a copy where one array would appear twice)."""
        output = result.sequence if self.return_sequences else result.last
        if self.return_state:
            output = [output] + [s.copy() if s is output else s for s in result.final]
        return output

    def forward(self, x: np.ndarray, training: bool = False, initial_state: Any = None,
                mask: Any = None, dropout_masks: DropoutMasks | None = None
                ) -> tuple[Any, RecurrentCache]:
        """``x`` (batch, timesteps, features) -> output (batch, units) or
        (batch, timesteps, units) with ``return_sequences``; with ``return_state`` a list
        ``[output, *final_states]`` each state (batch, units). ``mask`` (batch, timesteps),
        True = use the step: Keras's masked loop (see :mod:`unrolled.core.scan`): masked
        steps carry every state over; the output is the last output (zeros before the first
        unmasked step, or zeros at every masked step with ``zero_output_for_mask``)."""
        if mask is not None:
            mask = self._check_mask(mask, x.shape)
        initial = None if initial_state is None else self._initial_state(x.shape[0], initial_state)
        initial = self._stateful_initial(x.shape[0], initial)
        if training and dropout_masks is None:
            dropout_masks = self.draw_dropout_masks(x.shape[0])
        if training and dropout_masks is not None:
            return self._forward_dropout(x, initial, mask, dropout_masks)
        choice = self.kernel_for(x.shape[0], x.shape[1], training, mask is not None)
        result, saved = choice.kernel.forward(self._scan_weights_tuple(), x, initial, mask,
                                              self._scan_call(), training)
        self._remember(result)
        return self._outputs(result), RecurrentCache(choice.kernel, saved, x.shape[0])

    # -- in-cell dropout (Keras 3's semantics: unrolled.core.recurrent_dropout) ------------
    def _dropout_active(self, rate: float) -> bool:
        # Keras's LSTM/GRU cells drop when 0 < rate < 1; SimpleRNN's whenever rate > 0.
        return 0.0 < rate < 1.0 or (rate == 1.0 and self.cell.n_gates == 1)

    def draw_dropout_masks(self, batch: int) -> DropoutMasks | None:
        """This training call's masks (None when neither rate is active): input masks
        (K, batch, features), recurrent masks (K, batch, units); K = the gate count for
        LSTM/GRU with ``implementation=1`` (forced by recurrent_dropout), else 1."""
        drop_in, drop_rec = self._dropout_active(self.dropout), self._dropout_active(self.recurrent_dropout)
        if not (drop_in or drop_rec):
            return None
        rng = self.__dict__.get("_dropout_rng")
        if rng is None:
            rng = self.__dict__["_dropout_rng"] = make_rng(getattr(self, "seed", None))
        G = self.cell.n_gates
        count = G if (G > 1 and self.implementation == 1) else 1
        inputs = draw(rng, self.dropout, count, (batch, self.features), self.dtype) if drop_in else None
        recurrent = draw(rng, self.recurrent_dropout, G, (batch, self.units), self.dtype) if drop_rec else None
        return DropoutMasks(inputs, recurrent)

    def dropout_kernel_name(self, batch: int, timesteps: int, masked: bool = False) -> str:
        """The kernel of a training call with recurrent dropout."""
        return self._dropout_choice(masked)[1]

    def _dropout_choice(self, masked: bool) -> tuple[bool, str, tuple[str, ...]]:
        """(use the dropout kernel?, its name, the reasons) for recurrent dropout in training."""
        name, source = kernel_select.forced()
        if name == "reference":
            return False, "reference", (f"forced by {source}",)
        why_not = dropout_kernel.eligible(self.cell, masked)
        if why_not is not None:
            return False, "reference", (why_not,)
        return True, dropout_kernel.loops_name(self.cell, self.dtype), (dropout_kernel.REASON,)

    def _forward_dropout(self, x: np.ndarray, initial: Any, mask: Any, masks: DropoutMasks
                         ) -> tuple[Any, RecurrentCache]:
        """Training with dropout. With recurrent masks: the dropout kernel
        (:mod:`unrolled.core.kernels.dropout`: LSTM, GRU, SimpleRNN; a masked call through
        :class:`~unrolled.core.kernels.masked.MaskedKernel`), else the reference
        scan over the cell wrapped with its masks; input masks alone: on x, any kernel."""
        for what, m, width in (("input", masks.inputs, self.features),
                               ("recurrent", masks.recurrent, self.units)):
            if m is not None and (m.ndim != 3 or m.shape[1:] != (x.shape[0], width)):
                raise InputShapeError(
                    f"{type(self).__name__} {self.name!r}: {what} dropout masks must have shape "
                    f"(masks, batch, {width}) with batch {x.shape[0]}, got {m.shape}. Hint: draw "
                    "them with layer.draw_dropout_masks(batch).")
        w = self._scan_weights_tuple()
        fast, name, reasons = (self._dropout_choice(mask is not None)
                               if masks.recurrent is not None else (False, "", ()))
        if fast:   # the dropout kernel takes the real x, kernel and masks
            kernel: Any = dropout_kernel.DropoutKernel(masks)
            extra: tuple[str, ...] = ()
            if mask is not None:   # one call with rows held, or one per group of samples
                kernel = MaskedKernel(kernel)
            result, saved = kernel.forward(w, x, initial, mask, self._scan_call(), True)
            if mask is not None:
                extra = (kernel_select.MASKED_HELD_REASON if saved.held
                         else kernel_select.MASKED_REASON,)
            compiled = dropout_kernel.compiled_loops(self.cell, self.dtype, start=False) is not None
            self.__dict__["kernel_choice"] = Choice(
                kernel, "numba" if compiled else "numpy",
                dropout_kernel.reasons(compiled, self.cell) + extra)
            self._remember(result)
            return self._outputs(result), RecurrentCache(kernel, saved, x.shape[0])
        if masks.inputs is not None:
            x, kernel = apply_input_masks(x, w.kernel, masks.inputs)
            w = w._replace(kernel=kernel)
        if masks.recurrent is not None:
            w = w._replace(cell=with_recurrent_masks(w.cell, masks.recurrent))
            choice = Choice(REFERENCE, "reference", reasons or (RECURRENT_DROPOUT_REASON,))
            self.__dict__["kernel_choice"] = choice
        else:
            choice = self.kernel_for(x.shape[0], x.shape[1], True, mask is not None)
        result, saved = choice.kernel.forward(w, x, initial, mask, self._scan_call(), True)
        self._remember(result)
        return self._outputs(result), RecurrentCache(choice.kernel, DropoutSaved(saved, w, masks),
                                                     x.shape[0])

    def backward_with_states(self, dy: Any, cache: RecurrentCache
                             ) -> tuple[np.ndarray, list[np.ndarray], tuple[np.ndarray, ...]]:
        """Like :meth:`backward`, also returning dL/d initial_state (each (batch, units))."""
        if self.return_state:
            d_out, *d_states = dy
        else:
            d_out, d_states = dy, [None] * self.n_carry
        d_seq, d_last = (d_out, None) if self.return_sequences else (None, d_out)
        saved, w = cache.saved, None
        if isinstance(saved, DropoutSaved):
            saved, w = saved.saved, saved.weights
        g: SequenceGrads = cache.kernel.backward(w or self._scan_weights_tuple(), saved,
                                                 d_seq, d_last, tuple(d_states))
        if isinstance(cache.saved, DropoutSaved) and cache.saved.masks.inputs is not None:
            g = input_mask_grads(g, cache.saved.masks.inputs, self.features)
        return g.dx, self._pack_grads(g), g.d_initial

    def backward(self, dy: Any, cache: RecurrentCache) -> tuple[np.ndarray, list[np.ndarray]]:
        dx, grads, _ = self.backward_with_states(dy, cache)
        return dx, grads

    # -- masking (Keras 3's RNN semantics) -----------------------------------------------
    def compute_mask(self, x: Any, mask: np.ndarray | None) -> np.ndarray | None:
        """The mask for the next layer: the input mask, unchanged (not reversed by
        ``go_backwards``), with ``return_sequences``; else None -- as Keras's RNN."""
        return mask if self.return_sequences else None

    def _check_mask(self, mask: Any, shape: tuple[int, ...]) -> np.ndarray:
        m = np.asarray(mask)
        if m.ndim == 3 and m.shape[-1] == 1:
            m = m[..., 0]
        if m.shape != tuple(shape[:2]):
            raise InputShapeError(
                f"{type(self).__name__} {self.name!r} expects a mask of shape (batch, "
                f"timesteps) = {tuple(shape[:2])} for input {tuple(shape)}, got {m.shape}."
            )
        return m.astype(bool, copy=False)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "stateful": self.stateful,
            "unroll": self.unroll,
            "zero_output_for_mask": self.zero_output_for_mask,
            "units": self.units,
        }


def planned_kernel_name(layer: Any, batch: int, timesteps: int, training: bool,
                        masked: bool) -> str:
    """The name of the kernel a call of recurrent ``layer`` would run (wrappers such as
    Bidirectional plan with it); a layer without one sequence kernel gives its class name."""
    if not isinstance(layer, Recurrent):
        return type(layer).__name__
    if training and layer._dropout_active(layer.recurrent_dropout):
        return layer.dropout_kernel_name(batch, timesteps, masked)
    return layer.kernel_for(batch, timesteps, training, masked).name


class GateView:
    """A per-gate slice of a packed weight, e.g. ``lstm.kernel_c`` (features, units).

    Reading returns a NumPy *view* into the packed array, so writing into it (or
    assigning ``layer.kernel_c = value``) changes what the layer computes.
    """

    def __init__(self, packed: str, index: int, n_gates: int) -> None:
        self.packed, self.index, self.n_gates = packed, index, n_gates

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def _view(self, obj: Any) -> np.ndarray | None:
        arr = obj._weights.get(self.packed)
        if arr is None:
            if not obj.built:
                raise AttributeError(f"{obj.name}.{self.name} does not exist before build().")
            return None  # e.g. bias_* when use_bias=False
        step = arr.shape[-1] // self.n_gates
        return arr[..., self.index * step:(self.index + 1) * step]

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        return self if obj is None else self._view(obj)

    def __set__(self, obj: Any, value: Any) -> None:
        view = self._view(obj)
        if view is None:
            raise AttributeError(f"{obj.name} has no {self.packed}.")
        value = np.asarray(value)
        if value.shape != view.shape:
            raise ConfigError(f"{obj.name}.{self.name} has shape {view.shape}, got {value.shape}.")
        view[...] = value


def add_gate_views(cls: type, gates: tuple[str, ...]) -> type:
    """Attach ``kernel_<g>``, ``recurrent_kernel_<g>``, ``bias_<g>`` views for each gate."""
    for j, gate in enumerate(gates):
        for packed in ("kernel", "recurrent_kernel", "bias"):
            view = GateView(packed, j, len(gates))
            view.name = f"{packed}_{gate}"
            setattr(cls, view.name, view)
    return cls
