"""Backprop through time, written once for every recurrent cell.

A recurrent layer computes, for input ``x`` (batch, timesteps, features)::

    xp = x @ kernel + input_bias          # (T, B, G·H) one GEMM for all timesteps
    for t in 0..T-1:                      # the only sequential part
        carry[t+1], saved[t] = cell.step(xp[t], carry[t])

and its backward pass is the same loop reversed, followed by a few large GEMMs over all
timesteps for the weight gradients. A *cell* supplies ``step`` / ``step_backward`` /
``recurrent_grads``; this module owns the loop, time-major storage, ``go_backwards`` and
the input projection and its gradients.

Keras semantics kept here: with ``go_backwards`` the input is reversed and the returned
sequence stays in processing order (i.e. reversed), exactly as Keras returns it.

Masking (``mask`` (batch, timesteps), True = use this step), as Keras 3's ``backend.rnn``
loop: the mask is reversed with the input; at a masked step every carry component is
carried over unchanged and the step's output is the previous *output* (zeros before the
first step) or zeros with ``zero_output_for_mask``. The output chain is kept apart from
the carry: a sample masked from the start outputs zeros while its state stays the
initial state. The last output is ``outputs[:, -1]`` (with ``zero_output_for_mask`` and
a masked last step, that is zeros).

Axis legend: B batch, T timesteps, F features, H units, G gates per unit.
"""
from __future__ import annotations

from typing import Any, NamedTuple, Protocol

import numpy as np

Array = np.ndarray


class Cell(Protocol):
    """What :func:`sequence_forward` needs from a recurrent cell (see ``core/lstm.py``)."""

    n_gates: int

    def step(self, params: tuple[Array, ...], xp_t: Array, carry: tuple[Array, ...]
             ) -> tuple[tuple[Array, ...], tuple[Array, ...]]: ...

    def step_backward(self, params: tuple[Array, ...], saved_t: tuple[Array, ...],
                      carry_prev: tuple[Array, ...], carry_t: tuple[Array, ...],
                      d_carry: tuple[Array, ...]) -> tuple[Array, tuple[Array, ...]]: ...

    def recurrent_grads(self, params: tuple[Array, ...], saved: tuple[Array, ...],
                        carries: tuple[Array, ...], dxp: Array) -> tuple[Array, ...]: ...


class SequenceCache(NamedTuple):
    """Everything the backward pass needs, saved by the forward pass (time-major)."""

    x: Array                       # (T, B, F) input in processing order
    carries: tuple[Array, ...]     # each (T+1, B, H): carry[0] is the initial state
    saved: tuple[Array, ...]       # each (T, B, ...): what cell.step chose to keep
    go_backwards: bool
    mask: Array | None = None      # (T, B) bool in processing order; None: no masking
    zero_output_for_mask: bool = False


class SequenceGrads(NamedTuple):
    dx: Array                      # (B, T, F)
    d_kernel: Array                # (F, G·H)
    d_input_bias: Array | None     # (G·H,)
    d_recurrent: tuple[Array, ...]  # one per cell param
    d_initial: tuple[Array, ...]   # one per carry component, each (B, H)


def _project(x: Array, kernel: Array, input_bias: Array | None, go_backwards: bool
             ) -> tuple[Array, Array]:
    """Time-major input in processing order (T, B, F) and its projection (T, B, G·H),
    one GEMM for all timesteps."""
    xt = np.swapaxes(x, 0, 1)
    if go_backwards:
        xt = xt[::-1]
    xt = np.ascontiguousarray(xt)
    xp = xt @ kernel
    if input_bias is not None:
        xp += input_bias
    return xt, xp


def _carry_storage(initial: tuple[Array, ...], steps: int, dtype: np.dtype) -> tuple[Array, ...]:
    """One (T+1, B, H) array per carry component, with the initial state at index 0."""
    carries = tuple(np.empty((steps + 1,) + c.shape, dtype=dtype) for c in initial)
    for store, c0 in zip(carries, initial):
        store[0] = c0
    return carries


def sequence_forward(cell: Cell, x: Array, kernel: Array, input_bias: Array | None,
                     params: tuple[Array, ...], initial: tuple[Array, ...],
                     go_backwards: bool = False, mask: Array | None = None,
                     zero_output_for_mask: bool = False
                     ) -> tuple[Array, tuple[Array, ...], SequenceCache]:
    """Run ``cell`` over ``x`` (B, T, F) from carry ``initial`` (each (B, H)).

    Returns ``(outputs (B, T, H), final carry, cache)``; ``outputs[:, t]`` is the first
    carry component (h) after step t, in processing order. With ``mask`` (B, T) see the
    module docstring: ``outputs[:, t]`` is then the masked output of step t.
    """
    if mask is not None:
        return _masked_forward(cell, x, kernel, input_bias, params, initial, go_backwards,
                               mask, zero_output_for_mask)
    xt, xp = _project(x, kernel, input_bias, go_backwards)
    steps = xt.shape[0]
    carries = _carry_storage(initial, steps, x.dtype)
    saved: tuple[Array, ...] = ()
    carry = tuple(initial)
    for t in range(steps):
        carry, kept = cell.step(params, xp[t], carry)
        if t == 0:  # allocate storage once the cell has told us what it keeps
            saved = tuple(np.empty((steps,) + k.shape, dtype=k.dtype) for k in kept)
        for store, k in zip(saved, kept):
            store[t] = k
        for store, c in zip(carries, carry):
            store[t + 1] = c
    outputs = np.swapaxes(carries[0][1:], 0, 1)      # (B, T, H)
    return outputs, tuple(c[-1] for c in carries), SequenceCache(xt, carries, saved, go_backwards)


def sequence_backward(cell: Cell, cache: SequenceCache, kernel: Array,
                      params: tuple[Array, ...], d_outputs: Array | None,
                      d_final: tuple[Array | None, ...], has_bias: bool = True) -> SequenceGrads:
    """Gradients of a loss through :func:`sequence_forward`.

    ``d_outputs`` is dL/d outputs (B, T, H) or None when only the last state was used;
    ``d_final`` holds dL/d final-carry per component (each (B, H) or None).
    """
    if cache.mask is not None:
        return _masked_backward(cell, cache, kernel, params, d_outputs, d_final, has_bias)
    xt, carries, saved = cache[:3]
    steps, batch = xt.shape[0], xt.shape[1]
    d_out_t = None if d_outputs is None else np.swapaxes(d_outputs, 0, 1)  # (T, B, H)
    d_carry = tuple(
        np.zeros(c.shape[1:], dtype=xt.dtype) if d is None else d.astype(xt.dtype, copy=False)
        for c, d in zip(carries, d_final)
    )
    dxp = np.empty((steps, batch, kernel.shape[1]), dtype=xt.dtype)   # (T, B, G·H)
    for t in range(steps - 1, -1, -1):
        if d_out_t is not None:
            d_carry = (d_carry[0] + d_out_t[t],) + d_carry[1:]
        dxp[t], d_carry = cell.step_backward(
            params,
            tuple(s[t] for s in saved),
            tuple(c[t] for c in carries),
            tuple(c[t + 1] for c in carries),
            d_carry,
        )
    return _weight_grads(cell, cache, kernel, params, dxp, d_carry, has_bias)


def _weight_grads(cell: Cell, cache: SequenceCache, kernel: Array, params: tuple[Array, ...],
                  dxp: Array, d_carry: tuple[Array, ...], has_bias: bool) -> SequenceGrads:
    """The GEMMs over all timesteps once the time loop has produced dxp (T, B, G·H)."""
    xt, carries, saved, go_backwards = cache[:4]
    steps, batch = xt.shape[0], xt.shape[1]
    d_recurrent = cell.recurrent_grads(params, saved, carries, dxp)
    flat_dxp = dxp.reshape(steps * batch, -1)                         # (T·B, G·H)
    d_kernel = xt.reshape(steps * batch, -1).T @ flat_dxp            # (F, G·H)
    d_bias = flat_dxp.sum(axis=0) if has_bias else None
    dx = dxp @ kernel.T                                               # (T, B, F)
    if go_backwards:
        dx = dx[::-1]
    return SequenceGrads(np.ascontiguousarray(np.swapaxes(dx, 0, 1)), d_kernel, d_bias,
                         d_recurrent, d_carry)


# -- masking -------------------------------------------------------------------------------
def _masked_forward(cell: Cell, x: Array, kernel: Array, input_bias: Array | None,
                    params: tuple[Array, ...], initial: tuple[Array, ...], go_backwards: bool,
                    mask: Array, zero_output_for_mask: bool
                    ) -> tuple[Array, tuple[Array, ...], SequenceCache]:
    """:func:`sequence_forward` with a mask, as Keras's loop (``backend/torch/rnn.py``)::

        new, kept = cell.step(xp[t], carry[t])
        carry[t+1] = where(m[t], new, carry[t])                 # every component
        out[t]     = where(m[t], new_h, 0 if zero_output_for_mask else out[t-1])   # out[-1] = 0
    """
    mt = np.swapaxes(np.asarray(mask, dtype=bool), 0, 1)     # (T, B)
    if go_backwards:
        mt = mt[::-1]
    mt = np.ascontiguousarray(mt)
    xt, xp = _project(x, kernel, input_bias, go_backwards)
    steps = xt.shape[0]
    carries = _carry_storage(initial, steps, x.dtype)
    outputs = np.empty((steps,) + initial[0].shape, dtype=x.dtype)   # (T, B, H)
    saved: tuple[Array, ...] = ()
    carry = tuple(initial)
    prev_out = np.zeros_like(initial[0])                      # Keras: zeros before step 0
    for t in range(steps):
        new, kept = cell.step(params, xp[t], carry)
        if t == 0:
            saved = tuple(np.empty((steps,) + k.shape, dtype=k.dtype) for k in kept)
        for store, k in zip(saved, kept):
            store[t] = k
        m = mt[t][:, None]                                    # (B, 1)
        carry = tuple(np.where(m, n, c) for n, c in zip(new, carry))
        for store, c in zip(carries, carry):
            store[t + 1] = c
        prev_out = np.where(m, new[0], 0 if zero_output_for_mask else prev_out)
        outputs[t] = prev_out
    cache = SequenceCache(xt, carries, saved, go_backwards, mt, zero_output_for_mask)
    return np.swapaxes(outputs, 0, 1), tuple(c[-1] for c in carries), cache


def _masked_backward(cell: Cell, cache: SequenceCache, kernel: Array, params: tuple[Array, ...],
                     d_outputs: Array | None, d_final: tuple[Array | None, ...],
                     has_bias: bool) -> SequenceGrads:
    """Backward of :func:`_masked_forward`. Per sample, at an unmasked step the step's
    gradient is the carry's plus the output's (out = new_h); at a masked step nothing
    reaches the cell (dxp = 0), the carry's gradient passes through unchanged, and the
    output's gradient flows on to the previous output (or is dropped with
    ``zero_output_for_mask``, whose masked outputs are constants)."""
    xt, carries, saved = cache.x, cache.carries, cache.saved
    mt, zero_out = cache.mask, cache.zero_output_for_mask
    steps, batch = xt.shape[0], xt.shape[1]
    d_out_t = None if d_outputs is None else np.swapaxes(d_outputs, 0, 1)  # (T, B, H)
    d_carry = tuple(
        np.zeros(c.shape[1:], dtype=xt.dtype) if d is None else d.astype(xt.dtype, copy=False)
        for c, d in zip(carries, d_final)
    )
    zero = xt.dtype.type(0)
    d_prev_out = np.zeros(carries[0].shape[1:], dtype=xt.dtype)   # dL/d out[t] via out[t+1]
    dxp = np.empty((steps, batch, kernel.shape[1]), dtype=xt.dtype)   # (T, B, G·H)
    for t in range(steps - 1, -1, -1):
        m = mt[t][:, None]                                        # (B, 1)
        d_out = d_prev_out if d_out_t is None else d_prev_out + d_out_t[t]
        d_new = tuple(np.where(m, d, zero) for d in (d_carry[0] + d_out,) + d_carry[1:])
        dxp[t], d_prev_carry = cell.step_backward(
            params,
            tuple(s[t] for s in saved),
            tuple(c[t] for c in carries),
            tuple(c[t + 1] for c in carries),   # == the step's new carry where m is True
            d_new,
        )
        dxp[t] = np.where(m, dxp[t], zero)
        d_carry = tuple(np.where(m, dp, d) for dp, d in zip(d_prev_carry, d_carry))
        d_prev_out = np.zeros_like(d_out) if zero_out else np.where(m, zero, d_out)
    return _weight_grads(cell, cache, kernel, params, dxp, d_carry, has_bias)


def stacked_prev(carry: Array) -> Array:
    """The carry entering each step, flattened for one GEMM: (T+1, B, H) -> (T·B, H)."""
    return carry[:-1].reshape(-1, carry.shape[-1])


__all__: list[Any] = ["Cell", "SequenceCache", "SequenceGrads", "sequence_forward",
                      "sequence_backward", "stacked_prev"]
