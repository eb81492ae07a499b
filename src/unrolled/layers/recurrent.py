"""What every recurrent layer shares: input checks, initial states, the output options
``return_sequences`` / ``return_state`` / ``go_backwards``, and the call into the one
BPTT implementation in :mod:`unrolled.core.scan`.

A subclass (LSTM, GRU, SimpleRNN) supplies its cell, its weights, and how the scan's
gradients map onto its weight list.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ..core.kernels import dispatch
from ..core.kernels.cells_numba import CellKernel
from ..core.kernels.lstm_fast import LSTMKernelCache, lstm_backward, lstm_forward, lstm_infer
from ..core.scan import SequenceCache, SequenceGrads, sequence_backward, sequence_forward
from ..errors import ConfigError, InputShapeError
from .base import Layer, as_input_array


class RecurrentCache(NamedTuple):
    sequence: SequenceCache | LSTMKernelCache | None
    batch: int
    kernel: Any = None  # the fast kernel's loops that made ``sequence``; None: reference


class CellRecompute(NamedTuple):
    """``RecurrentCache.kernel`` of an inference-only (GRU/SimpleRNN) kernel's forward:
    what backward needs to rerun the reference forward (``sequence`` is None)."""
    x: np.ndarray
    initial: tuple[np.ndarray, ...] | None


class Recurrent(Layer):
    """Base class of LSTM/GRU/SimpleRNN. Input (batch, timesteps, features)."""

    supports_masking = True
    keras_call_kwargs = {"training": False, "mask": None}  # what Keras records per call
    first_arg_name = "sequences"                           # Keras's name of call()'s input
    n_carry = 1  # how many state arrays the cell carries (LSTM: h and c)

    def __init__(self, units: int, *, return_sequences: bool = False, return_state: bool = False,
                 go_backwards: bool = False, stateful: bool = False, unroll: bool = False,
                 zero_output_for_mask: bool = False, dropout: float = 0.0,
                 recurrent_dropout: float = 0.0, **kwargs: Any) -> None:
        for key in ("kernel_regularizer", "recurrent_regularizer", "bias_regularizer",
                    "activity_regularizer", "kernel_constraint", "recurrent_constraint",
                    "bias_constraint"):
            if kwargs.pop(key, None) is not None:
                raise ConfigError(f"{type(self).__name__}: {key} is not supported by unrolled yet.")
        super().__init__(**kwargs)
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units <= 0:
            raise ConfigError(
                f"{type(self).__name__}: units must be a positive integer, got {units!r}."
            )
        if stateful:
            raise ConfigError(f"{type(self).__name__}: stateful=True is not supported by unrolled yet.")
        if dropout or recurrent_dropout:
            raise ConfigError(
                f"{type(self).__name__}: dropout/recurrent_dropout inside the cell are not "
                "supported yet; put a Dropout layer before the recurrent layer instead."
            )
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
        self.features = int(input_shape[-1])
        self._build_weights(self.features)
        super().build(input_shape)

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
        if mask is not None:  # masked calls take the full path, then the reference scan
            return super().__call__(x, initial_state=initial_state, training=training, mask=mask)
        # Fast lane for the usual call on a built layer: a float ndarray of our dtype and
        # an accepted shape needs none of Layer.__call__'s conversion and checks (which
        # would pass unchanged); anything else takes the full path and its messages.
        if (type(x) is np.ndarray and x.dtype == self.dtype and x.ndim == 3
                and self.features is not None and x.shape[2] == self.features and x.shape[1]):
            return self.call(x, training=training, initial_state=initial_state)
        return super().__call__(x, initial_state=initial_state, training=training)

    def call(self, x: np.ndarray, training: bool = False, initial_state: Any = None,
             mask: Any = None) -> Any:
        if mask is not None:
            return self.forward(x, training=training, initial_state=initial_state, mask=mask)[0]
        if not training:  # inference: no cache to build, and fast kernels in one call
            initial = None if initial_state is None else self._initial_state(x.shape[0], initial_state)
            sel = dispatch.select_for_layer(self, x.shape[0], x.shape[1], False)
            if isinstance(sel.kernel, CellKernel):  # GRU / SimpleRNN inference kernel
                return self._cell_infer(sel.kernel, x, initial)
            if sel.kernel is not None:
                kernel, input_bias, params = self._scan_weights()
                h0, c0 = (None, None) if initial is None else initial
                seq, h_last, c_last = lstm_infer(sel.kernel, x, kernel, input_bias, params[0],
                                                 h0, c0, self.go_backwards, self.return_sequences)
                return self._fast_output(seq, h_last, c_last)
        return self.forward(x, training=training, initial_state=initial_state)[0]

    def _cell_infer(self, cell_kernel: CellKernel, x: np.ndarray,
                    initial: tuple[np.ndarray, ...] | None) -> Any:
        kernel, input_bias, params = self._scan_weights()
        seq, h_last = cell_kernel.infer(self.cell, x, kernel, input_bias, params,
                                        None if initial is None else initial[0],
                                        self.go_backwards, self.return_sequences)
        output = seq if self.return_sequences else h_last
        if self.return_state:
            output = [output, h_last.copy() if output is h_last else h_last]
        return output

    def _fast_output(self, seq: np.ndarray | None, h_last: np.ndarray, c_last: np.ndarray) -> Any:
        output = seq if self.return_sequences else h_last
        if self.return_state:
            output = [output, h_last.copy() if output is h_last else h_last, c_last]
        return output

    def forward(self, x: np.ndarray, training: bool = False,
                initial_state: Any = None, mask: Any = None) -> tuple[Any, RecurrentCache]:
        """``x`` (batch, timesteps, features) -> output (batch, units) or
        (batch, timesteps, units) with ``return_sequences``; with ``return_state`` a list
        ``[output, *final_states]`` each state (batch, units). ``mask`` (batch, timesteps),
        True = use the step: see :meth:`_forward_masked`."""
        if mask is not None:
            return self._forward_masked(x, training, initial_state, mask)
        initial = None if initial_state is None else self._initial_state(x.shape[0], initial_state)
        kernel, input_bias, params = self._scan_weights()
        sel = dispatch.select_for_layer(self, x.shape[0], x.shape[1], training)
        if isinstance(sel.kernel, CellKernel) and training:  # GRU / SimpleRNN training kernel
            h0 = None if initial is None else initial[0]
            seq, h_last, fast = sel.kernel.forward(self.cell, x, kernel, input_bias, params, h0,
                                                   self.go_backwards, self.return_sequences)
            output = seq if self.return_sequences else h_last
            if self.return_state:
                output = [output, h_last.copy() if output is h_last else h_last]
            return output, RecurrentCache(fast, x.shape[0], sel.kernel)
        if isinstance(sel.kernel, CellKernel):  # inference-only: backward reruns the reference
            output = self._cell_infer(sel.kernel, x, initial)
            recompute = CellRecompute(x.copy(), None if initial is None
                                      else tuple(s.copy() for s in initial))
            return output, RecurrentCache(None, x.shape[0], recompute)
        if sel.kernel is not None:  # fast LSTM kernel (see unrolled.core.kernels)
            h0, c0 = (None, None) if initial is None else initial   # None: start from zeros
            seq, h_last, c_last, fast = lstm_forward(
                sel.kernel, x, kernel, input_bias, params[0], h0, c0,
                self.go_backwards, training, self.return_sequences)
            return (self._fast_output(seq, h_last, c_last),
                    RecurrentCache(fast, x.shape[0], sel.kernel))
        if initial is None:
            initial = self._initial_state(x.shape[0], None)
        seq, final, cache = sequence_forward(self.cell, x, kernel, input_bias, params, initial,
                                             self.go_backwards)
        output = seq if self.return_sequences else final[0].copy()
        if self.return_state:
            output = [output] + [f.copy() for f in final]
        return output, RecurrentCache(cache, x.shape[0])

    def backward_with_states(self, dy: Any, cache: RecurrentCache
                             ) -> tuple[np.ndarray, list[np.ndarray], tuple[np.ndarray, ...]]:
        """Like :meth:`backward`, also returning dL/d initial_state (each (batch, units))."""
        if isinstance(cache.kernel, CellRecompute):   # forward ran an inference-only kernel
            rc = cache.kernel
            initial = rc.initial or self._initial_state(rc.x.shape[0], None)
            kernel, input_bias, params = self._scan_weights()
            _, _, sequence = sequence_forward(self.cell, rc.x, kernel, input_bias, params,
                                              initial, self.go_backwards)
            cache = RecurrentCache(sequence, cache.batch)
        if cache.kernel is None and cache.sequence.mask is not None:
            return self._backward_masked(dy, cache)
        if self.return_state:
            d_out, *d_states = dy
        else:
            d_out, d_states = dy, [None] * self.n_carry
        d_final = list(d_states)
        d_outputs = None
        if self.return_sequences:
            d_outputs = d_out
        elif d_out is not None:
            d_final[0] = d_out if d_final[0] is None else d_final[0] + d_out
        kernel, input_bias, params = self._scan_weights()
        if isinstance(cache.kernel, CellKernel):
            g = cache.kernel.backward(self.cell, cache.sequence, kernel, input_bias, params,
                                      d_outputs, d_final[0])
            return g.dx, self._pack_grads(g), g.d_initial
        if cache.kernel is not None:
            g = lstm_backward(cache.kernel, cache.sequence, kernel, input_bias, params[0],
                              d_outputs, d_final[0], d_final[1])
            return g.dx, self._pack_grads(g), g.d_initial
        g = sequence_backward(self.cell, cache.sequence, kernel, params, d_outputs,
                              tuple(d_final), has_bias=input_bias is not None)
        return g.dx, self._pack_grads(g), g.d_initial

    def backward(self, dy: Any, cache: RecurrentCache) -> tuple[np.ndarray, list[np.ndarray]]:
        dx, grads, _ = self.backward_with_states(dy, cache)
        return dx, grads

    # -- masking (Keras 3's RNN semantics; always the reference scan) --------------------
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

    def _forward_masked(self, x: np.ndarray, training: bool, initial_state: Any,
                        mask: Any) -> tuple[Any, RecurrentCache]:
        """Keras's masked loop (see :mod:`unrolled.core.scan`): masked steps carry every
        state over; the output is the last output (zeros before the first unmasked step,
        or zeros at every masked step with ``zero_output_for_mask``)."""
        mask = self._check_mask(mask, x.shape)
        dispatch.select_masked(self)
        initial = self._initial_state(x.shape[0], initial_state)
        kernel, input_bias, params = self._scan_weights()
        seq, final, cache = sequence_forward(self.cell, x, kernel, input_bias, params, initial,
                                             self.go_backwards, mask, self.zero_output_for_mask)
        output = seq if self.return_sequences else seq[:, -1].copy()
        if self.return_state:
            output = [output] + [f.copy() for f in final]
        return output, RecurrentCache(cache, x.shape[0])

    def _backward_masked(self, dy: Any, cache: RecurrentCache
                         ) -> tuple[np.ndarray, list[np.ndarray], tuple[np.ndarray, ...]]:
        # The last output is not the final h under a mask, so its gradient enters the
        # output sequence at the last step rather than the final carry.
        if self.return_state:
            d_out, *d_states = dy
        else:
            d_out, d_states = dy, [None] * self.n_carry
        d_outputs = d_out
        if not self.return_sequences and d_out is not None:
            steps = cache.sequence.x.shape[0]
            d_outputs = np.zeros((cache.batch, steps, self.units), dtype=self.dtype)
            d_outputs[:, -1] = d_out
        kernel, input_bias, params = self._scan_weights()
        g = sequence_backward(self.cell, cache.sequence, kernel, params, d_outputs,
                              tuple(d_states), has_bias=input_bias is not None)
        return g.dx, self._pack_grads(g), g.d_initial

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "stateful": False,
            "unroll": self.unroll,
            "zero_output_for_mask": self.zero_output_for_mask,
            "units": self.units,
        }


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
