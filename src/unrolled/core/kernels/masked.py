"""Masked calls on any unmasked sequence kernel, for any mask (not only right padding).

Keras's masked loop (see :mod:`unrolled.core.scan`) carries every state over a masked
step, so each sample's final state is what the cell computes over *its unmasked steps
alone, in order*. :class:`MaskedKernel` therefore gathers each sample's unmasked steps to
the front, groups the samples by how many they have (n), runs the wrapped kernel once per
group on (rows, n, features) -- one call when all samples have the same count -- and
scatters back. A kernel that can hold a row's state after the row's own number of steps
(``takes_lengths``: the compiled recurrent-dropout loops) runs all samples in one call
instead, on (B, max n, features), each row held after its count:

* output at step t = h after the last unmasked step ≤ t (zeros before the first), or zeros
  at every masked step with ``zero_output_for_mask``: a gather from the group's sequence;
* final state = the group's final state (the initial state for a sample with no step);
* backward: dL/d(group sequence)[k] sums dL/d output over the steps that show h_k; dL/dx
  is zero at masked steps; weight gradients add up over the groups.

Axis legend: B batch, T timesteps, F features, H units, n unmasked steps of a group.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ..scan import SequenceGrads
from .interface import ScanCall, ScanResult, ScanWeights, SequenceKernel

Array = np.ndarray


class _Group(NamedTuple):
    rows: Array            # (Bg,) sample indices
    n: int                 # unmasked steps of each of them (of the longest, when held)
    saved: Any             # the wrapped kernel's saved values for this group
    kernel: Any            # the kernel that ran it (the wrapped one, or its per-rows copy)
    steps: Array | None = None   # held: (B, n) each sample's unmasked steps, then others


class MaskedSaved(NamedTuple):
    """What :meth:`MaskedKernel.backward` needs."""

    groups: tuple[_Group, ...]
    mask: Array            # (B, T) bool, processing order
    counts: Array          # (B,) unmasked steps per sample
    features: int
    dtype: np.dtype
    call: ScanCall

    @property
    def held(self) -> bool:
        """Whether all samples ran in one call, each held after its count."""
        return any(g.steps is not None for g in self.groups)


class MaskedKernel:
    """:class:`.interface.SequenceKernel` that runs masked calls on ``inner`` (which needs
    no mask support): same results as the reference scan's masked loop."""

    def __init__(self, inner: SequenceKernel) -> None:
        self.inner = inner
        self.name = inner.name

    def __repr__(self) -> str:
        return f"MaskedKernel({self.inner!r})"

    def infer(self, w: ScanWeights, x: Array, initial: tuple[Array, ...] | None,
              mask: Array | None, call: ScanCall) -> ScanResult:
        return self._run(w, x, initial, mask, call, None)[0]

    def forward(self, w: ScanWeights, x: Array, initial: tuple[Array, ...] | None,
                mask: Array | None, call: ScanCall, training: bool
                ) -> tuple[ScanResult, MaskedSaved]:
        return self._run(w, x, initial, mask, call, training)

    def _run(self, w: ScanWeights, x: Array, initial: tuple[Array, ...] | None,
             mask: Array | None, call: ScanCall, training: bool | None
             ) -> tuple[ScanResult, Any]:
        if mask is None:
            if training is None:
                return self.inner.infer(w, x, initial, None, call), None
            return self.inner.forward(w, x, initial, None, call, training)
        B, T, F = x.shape
        H = w.params[0].shape[0]
        m = np.asarray(mask, bool)
        if call.go_backwards:            # Keras reverses input and mask, then runs forward
            x, m = x[:, ::-1], m[:, ::-1]
        counts = m.sum(axis=1)                                  # (B,)
        final = [np.zeros((B, H), x.dtype) if initial is None else np.array(s, x.dtype)
                 for s in (initial or (None,) * w.n_carry)]
        want_seq = call.return_sequences
        seq_c = np.zeros((B, T, H), x.dtype) if want_seq else None   # h_k, compact, per sample
        inner_call = ScanCall(False, want_seq, False)
        groups = []
        takes_lengths = getattr(self.inner, "takes_lengths", None)
        held = takes_lengths is not None and counts.max() > 0 and takes_lengths(w, x)
        if held:
            n = int(counts.max())
            # Each sample's unmasked steps first, in order (a stable sort of "masked").
            steps = np.argsort(~m, axis=1, kind="stable")[:, :n]     # (B, n)
            xc = x[np.arange(B)[:, None], steps]
            xc[np.arange(n)[None] >= counts[:, None]] = 0   # held steps: never NaN · 0
            res, saved_c = self.inner.forward(w, xc, initial, None, inner_call,
                                              bool(training), lengths=counts)
            final = [np.array(f) for f in res.final]
            if want_seq:
                seq_c[:, :n] = res.sequence
            groups.append(_Group(np.arange(B), n, saved_c, self.inner, steps))
        for n in ([] if held else np.unique(counts)):
            if n == 0:
                continue                  # nothing runs: state = initial, outputs = zeros
            rows = np.flatnonzero(counts == n)
            xg = x[rows][m[rows]].reshape(len(rows), int(n), F)        # (Bg, n, F)
            init_g = None if initial is None else tuple(np.ascontiguousarray(s[rows])
                                                        for s in initial)
            # A kernel with per-sample state of its own (the dropout kernel's masks) runs
            # each group on that state's rows.
            inner = self.inner.for_rows(rows) if hasattr(self.inner, "for_rows") else self.inner
            if training is None:
                res, saved = inner.infer(w, xg, init_g, None, inner_call), None
            else:
                res, saved = inner.forward(w, xg, init_g, None, inner_call, training)
            for store, f in zip(final, res.final):
                store[rows] = f
            if want_seq:
                seq_c[rows, :n] = res.sequence
            groups.append(_Group(rows, int(n), saved, inner))
        shown = _shown_step(m, call.zero_output_for_mask)             # (B, T) index or -1
        if want_seq:
            b = np.arange(B)[:, None]
            sequence = np.where((shown >= 0)[..., None], seq_c[b, np.maximum(shown, 0)], 0)
            sequence = sequence.astype(x.dtype, copy=False)
            last = sequence[:, -1].copy()
        else:
            sequence = None
            last = np.where((shown[:, -1] >= 0)[:, None], final[0], 0).astype(x.dtype)
        result = ScanResult(sequence, last, tuple(final))
        saved = MaskedSaved(tuple(groups), m, counts, F, x.dtype, call)
        return result, (saved if training is not None else None)

    def backward(self, w: ScanWeights, saved: Any, d_sequence: Array | None,
                 d_last: Array | None, d_final: tuple[Array | None, ...]) -> SequenceGrads:
        if not isinstance(saved, MaskedSaved):
            return self.inner.backward(w, saved, d_sequence, d_last, d_final)
        m, counts, call = saved.mask, saved.counts, saved.call
        B, T = m.shape
        H = w.params[0].shape[0]
        dtype = saved.dtype
        shown = _shown_step(m, call.zero_output_for_mask)            # (B, T)
        d_out = None
        if d_sequence is not None:
            d_out = np.array(d_sequence, dtype)                      # processing order
        if d_last is not None:
            if d_out is not None or call.return_sequences:
                d_out = np.zeros((B, T, H), dtype) if d_out is None else d_out
                d_out[:, -1] += d_last
                d_last = None
        d_final = [None if d is None else np.asarray(d, dtype) for d in d_final]
        if d_last is not None:          # the last output is the final h where it shows one
            shows = (shown[:, -1] >= 0)[:, None]
            extra = np.where(shows, d_last, 0).astype(dtype)
            d_final[0] = extra if d_final[0] is None else d_final[0] + extra
        dx = np.zeros((B, T, saved.features), dtype)
        d_initial = [np.zeros((B, H), dtype) if d is None else d.copy() for d in d_final]
        total: SequenceGrads | None = None
        for g in saved.groups:
            d_seq_g = None
            if d_out is not None:
                d_seq_g = _compact_grad(d_out[g.rows], shown[g.rows], g.n)   # (Bg, n, H)
            d_fin_g = tuple(None if d is None else d[g.rows] for d in d_final)
            grads = g.kernel.backward(w, g.saved, d_seq_g, None, d_fin_g)
            if g.steps is not None:        # held rows: dx is zero past each count
                dx[np.arange(B)[:, None], g.steps] = grads.dx
            else:
                sub = dx[g.rows]
                sub[m[g.rows]] = grads.dx.reshape(-1, saved.features)
                dx[g.rows] = sub
            for store, d in zip(d_initial, grads.d_initial):
                store[g.rows] = d
            total = grads if total is None else _add_grads(total, grads)
        if call.go_backwards:
            dx = dx[:, ::-1]
        dx = np.ascontiguousarray(dx)
        if total is None:   # every step of every sample masked: no weight saw the input
            G = w.kernel.shape[1]
            return SequenceGrads(dx, np.zeros_like(w.kernel),
                                 None if w.input_bias is None else np.zeros(G, dtype),
                                 tuple(np.zeros_like(p) for p in w.params), tuple(d_initial))
        return total._replace(dx=dx, d_initial=tuple(d_initial))


def _shown_step(m: Array, zero_output_for_mask: bool) -> Array:
    """(B, T): which unmasked step's h the output at t shows (its rank k among the
    sample's unmasked steps), or -1 for zeros."""
    shown = np.cumsum(m, axis=1) - 1
    if zero_output_for_mask:
        shown = np.where(m, shown, -1)
    return shown


def _compact_grad(d_out: Array, shown: Array, n: int) -> Array:
    """dL/d h_k (Bg, n, H): the sum of dL/d output[t] over the steps t that show h_k."""
    Bg, T, H = d_out.shape
    d_c = np.zeros((Bg, n + 1, H), d_out.dtype)          # slot n collects the "zeros" steps
    idx = np.where(shown >= 0, shown, n)
    rows = np.repeat(np.arange(Bg), T)
    np.add.at(d_c, (rows, idx.reshape(-1)), d_out.reshape(Bg * T, H))
    return np.ascontiguousarray(d_c[:, :n])


def _add_grads(a: SequenceGrads, b: SequenceGrads) -> SequenceGrads:
    return SequenceGrads(
        a.dx, a.d_kernel + b.d_kernel,
        None if a.d_input_bias is None else a.d_input_bias + b.d_input_bias,
        tuple(x + y for x, y in zip(a.d_recurrent, b.d_recurrent)), a.d_initial)


_WRAPPED: dict[int, MaskedKernel] = {}


def masked(kernel: SequenceKernel) -> MaskedKernel:
    """The (one) :class:`MaskedKernel` around ``kernel``."""
    wrapped = _WRAPPED.get(id(kernel))
    if wrapped is None or wrapped.inner is not kernel:
        wrapped = _WRAPPED[id(kernel)] = MaskedKernel(kernel)
    return wrapped
