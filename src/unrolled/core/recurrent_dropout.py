"""In-cell ``dropout`` / ``recurrent_dropout`` with Keras 3's semantics
(``keras/src/layers/rnn/dropout_rnn_cell.py`` and the cells' ``call``).

In training, one call draws its masks once and every timestep reuses them: per sample
and per input feature (input masks, (B, F)) and per sample and per unit (recurrent masks,
(B, H)); each entry is 0 with probability ``rate`` and ``1/(1 - rate)`` otherwise. LSTM
and GRU draw one mask *per gate* (4 resp. 3: Keras's ``implementation=1``, which
``recurrent_dropout > 0`` forces) -- else a single input mask shared by the gates;
SimpleRNN always one. At inference nothing is dropped. With masks ``m_g`` (input) and
``r_g`` (recurrent) for gate block ``g``::

    xp_g = (x_t ⊙ m_g) @ W_g + b_g             # input side, before any kernel
    LSTM, SimpleRNN:  z_g = xp_g + (h ⊙ r_g) @ U_g
    GRU reset_after:  m_g = (h ⊙ r_g) @ U_g + b_rec_g;  hh = φ(xp_h + r ⊙ m_h)
    GRU reset_before: z, r from (h ⊙ r_z) @ U_z, (h ⊙ r_r) @ U_r;  hh = φ(xp_h + (r ⊙ (h ⊙ r_h)) @ U_h)
    GRU's carry-over term z ⊙ h uses the undropped h.

Input masks are applied to ``x`` before the sequence kernel runs (one mask: ``x ⊙ m``;
one per gate: the input widened to (B, T, G·F) with a block-diagonal kernel), so every
kernel runs them. Recurrent masks change the step itself: :func:`with_recurrent_masks`
wraps the cell, and the reference scan (:mod:`unrolled.core.scan`) runs it.

Axis legend: B batch, T timesteps, F features, H units, G gates, K masks (1 or G).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from .gru import GRUCell
from .scan import SequenceGrads

Array = np.ndarray


class DropoutMasks(NamedTuple):
    """The masks of one training call, values 0 or 1/(1-rate)."""

    inputs: Array | None        # (K, B, F) or None
    recurrent: Array | None     # (K, B, H) or None


def draw(rng: np.random.Generator, rate: float, count: int, shape: tuple[int, int],
         dtype: np.dtype) -> Array:
    """``count`` masks of ``shape``: 0 with probability ``rate``, else ``1/(1-rate)``."""
    keep = 1.0 - rate
    kept = rng.random((count,) + shape) < keep
    scale = dtype.type(1.0 / keep) if keep > 0 else dtype.type(0)
    return np.where(kept, scale, dtype.type(0)).astype(dtype)


# -- input masks: applied to x, undone on dx --------------------------------------------------
def _block_diagonal(kernel: Array, count: int) -> Array:
    """(F, G·H) -> (G·F, G·H) with kernel block g at rows g·F, columns g·H."""
    F, GH = kernel.shape
    H = GH // count
    out = np.zeros((count * F, GH), kernel.dtype)
    for g in range(count):
        out[g * F:(g + 1) * F, g * H:(g + 1) * H] = kernel[:, g * H:(g + 1) * H]
    return out


def apply_input_masks(x: Array, kernel: Array, masks: Array) -> tuple[Array, Array]:
    """The input and kernel a sequence kernel runs on: ``x ⊙ m`` and ``kernel`` for one
    mask; for G masks ``[x ⊙ m_0, ..., x ⊙ m_{G-1}]`` (B, T, G·F) and the block-diagonal
    kernel (G·F, G·H), whose product is ``(x ⊙ m_g) @ W_g`` in gate block g."""
    if masks.shape[0] == 1:
        return x * masks[0][:, None, :], kernel
    widened = np.concatenate([x * m[:, None, :] for m in masks], axis=-1)
    return widened, _block_diagonal(kernel, masks.shape[0])


def input_mask_grads(g: SequenceGrads, masks: Array, features: int) -> SequenceGrads:
    """Gradients w.r.t. the real ``x`` and ``kernel`` from those of :func:`apply_input_masks`'s."""
    if masks.shape[0] == 1:
        return g._replace(dx=g.dx * masks[0][:, None, :])
    G, F = masks.shape[0], features
    H = g.d_kernel.shape[1] // G
    d_kernel = np.empty((F, G * H), g.d_kernel.dtype)
    dx = np.zeros(g.dx.shape[:2] + (F,), g.dx.dtype)
    for k in range(G):
        d_kernel[:, k * H:(k + 1) * H] = g.d_kernel[k * F:(k + 1) * F, k * H:(k + 1) * H]
        dx += g.dx[..., k * F:(k + 1) * F] * masks[k][:, None, :]
    return g._replace(dx=dx, d_kernel=d_kernel)


# -- recurrent masks: a cell wrapper for the reference scan ------------------------------------
def _masked_product(h: Array, U: Array, r: Array) -> Array:
    """Σ over gate blocks: ``(h ⊙ r_g) @ U_g`` in block g (one mask: ``(h ⊙ r_0) @ U``)."""
    if r.shape[0] == 1:
        return (h * r[0]) @ U
    H = U.shape[1] // r.shape[0]
    return np.concatenate([(h * r[g]) @ U[:, g * H:(g + 1) * H] for g in range(r.shape[0])], axis=1)


def _masked_product_backward(d: Array, U: Array, r: Array) -> Array:
    """dL/dh of :func:`_masked_product` given dL/d(product) ``d``."""
    if r.shape[0] == 1:
        return (d @ U.T) * r[0]
    H = U.shape[1] // r.shape[0]
    return sum((d[:, g * H:(g + 1) * H] @ U[:, g * H:(g + 1) * H].T) * r[g] for g in range(r.shape[0]))


def _masked_weight_grad(h_prev: Array, d: Array, r: Array, U: Array) -> Array:
    """Σ_t of ``(h ⊙ r_g)ᵀ d_g`` per block; ``h_prev`` (T, B, H), ``d`` (T, B, cols)."""
    T, B, H = h_prev.shape
    K = r.shape[0]
    cols = d.shape[-1] // K
    out = np.empty((H, d.shape[-1]), d.dtype)
    for g in range(K):
        hg = (h_prev * r[g][None]).reshape(T * B, H)
        out[:, g * cols:(g + 1) * cols] = hg.T @ d[..., g * cols:(g + 1) * cols].reshape(T * B, cols)
    return out


@dataclass(frozen=True)
class AdditiveDropoutCell:
    """Recurrent dropout for a cell whose recurrent term is ``z = xp + h_prev @ U`` and
    whose ``h_prev`` enters nowhere else (LSTM, SimpleRNN). The wrapped cell runs on
    ``xp + Σ_g (h ⊙ r_g) @ U_g`` with a zero recurrent kernel (so its own ``h_prev @ U``
    adds exact zeros); the recurrent paths' gradients are computed here."""

    base: Any
    masks: Array                 # (K, B, H)

    @property
    def n_gates(self) -> int:
        return self.base.n_gates

    def _zero(self, U: Array) -> tuple[Array]:
        return (np.zeros_like(U),)

    def step(self, params, xp_t, carry):
        (U,) = params
        rec = _masked_product(carry[0], U, self.masks)
        return self.base.step(self._zero(U), xp_t + rec, carry)

    def step_backward(self, params, saved_t, carry_prev, carry_t, d_carry):
        (U,) = params
        dz, d_prev = self.base.step_backward(self._zero(U), saved_t, carry_prev, carry_t, d_carry)
        dh_prev = d_prev[0] + _masked_product_backward(dz, U, self.masks)
        return dz, (dh_prev,) + tuple(d_prev[1:])

    def recurrent_grads(self, params, saved, carries, dxp):
        (U,) = params
        return (_masked_weight_grad(carries[0][:-1], dxp, self.masks, U),)


@dataclass(frozen=True)
class GRUDropoutCell:
    """Keras's GRU step (``implementation=1``) with recurrent masks r_z, r_r, r_h."""

    base: Any                    # the GRUCell: activations and reset_after
    masks: Array                 # (3, B, H)
    n_gates: int = 3

    def step(self, params, xp_t, carry):
        U = params[0]
        b_rec = params[1] if len(params) > 1 else None
        (h,) = carry
        H = h.shape[-1]
        sig, act, r_m = self.base.recurrent_activation, self.base.activation, self.masks
        if self.base.reset_after:
            m = _masked_product(h, U, r_m)                               # (B, 3H)
            if b_rec is not None:
                m = m + b_rec
            pz, pr = xp_t[:, :H] + m[:, :H], xp_t[:, H:2 * H] + m[:, H:2 * H]
            z, r = sig(pz), sig(pr)
            ph = xp_t[:, 2 * H:] + r * m[:, 2 * H:]
        else:
            m = _masked_product(h, U[:, :2 * H], r_m[:2])                # (B, 2H)
            pz, pr = xp_t[:, :H] + m[:, :H], xp_t[:, H:2 * H] + m[:, H:]
            z, r = sig(pz), sig(pr)
            ph = xp_t[:, 2 * H:] + (r * (h * r_m[2])) @ U[:, 2 * H:]
            m = np.concatenate([m, np.zeros_like(h)], axis=1)
        hh = act(ph)
        h_new = z * h + (1 - z) * hh
        pre = np.concatenate([pz, pr, ph], axis=1)
        gates = np.concatenate([z, r, hh], axis=1)
        return (h_new,), (gates, pre, m)

    def step_backward(self, params, saved_t, carry_prev, carry_t, d_carry):
        U = params[0]
        gates, pre, m = saved_t
        (h,) = carry_prev
        (dh,) = d_carry
        H = h.shape[-1]
        sig, act, r_m = self.base.recurrent_activation, self.base.activation, self.masks
        z, r, hh = gates[:, :H], gates[:, H:2 * H], gates[:, 2 * H:]
        pz, pr, ph = pre[:, :H], pre[:, H:2 * H], pre[:, 2 * H:]
        dxp = np.empty_like(gates)                                       # (B, 3H)
        dxp[:, :H] = sig.backward(pz, z, dh * (h - hh))                 # through z
        dp = act.backward(ph, hh, dh * (1 - z))                         # through hh
        dxp[:, 2 * H:] = dp
        dh_prev = dh * z                                                 # z ⊙ h: undropped h
        if self.base.reset_after:
            dxp[:, H:2 * H] = sig.backward(pr, r, dp * m[:, 2 * H:])    # through r ⊙ m_h
            dm = dxp.copy()
            dm[:, 2 * H:] *= r
            dh_prev = dh_prev + _masked_product_backward(dm, U, r_m)
        else:
            hr_h = h * r_m[2]
            ds = dp @ U[:, 2 * H:].T                                     # through (r ⊙ h r_h) @ U_h
            dxp[:, H:2 * H] = sig.backward(pr, r, ds * hr_h)
            dh_prev = (dh_prev + _masked_product_backward(dxp[:, :2 * H], U[:, :2 * H], r_m[:2])
                       + ds * r * r_m[2])
        return dxp, (dh_prev,)

    def recurrent_grads(self, params, saved, carries, dxp):
        U = params[0]
        H = U.shape[0]
        gates = saved[0]                                                 # (T, B, 3H)
        h_prev = carries[0][:-1]                                         # (T, B, H)
        r = gates[..., H:2 * H]
        if self.base.reset_after:
            dm = dxp.copy()
            dm[..., 2 * H:] *= r
            grads = (_masked_weight_grad(h_prev, dm, self.masks, U),)
            return grads + ((dm.reshape(-1, 3 * H).sum(axis=0),) if len(params) > 1 else ())
        dU = np.empty_like(U)
        dU[:, :2 * H] = _masked_weight_grad(h_prev, dxp[..., :2 * H], self.masks[:2], U[:, :2 * H])
        rh = (r * h_prev * self.masks[2][None]).reshape(-1, H)
        dU[:, 2 * H:] = rh.T @ dxp[..., 2 * H:].reshape(-1, H)
        return (dU,)


def with_recurrent_masks(cell: Any, masks: Array) -> Any:
    """``cell`` with recurrent dropout masks ``masks`` (K, B, H) applied to ``h_prev``."""
    if isinstance(cell, GRUCell):
        return GRUDropoutCell(cell, masks)
    return AdditiveDropoutCell(cell, masks)


__all__ = ["DropoutMasks", "draw", "apply_input_masks", "input_mask_grads",
           "with_recurrent_masks"]
