"""Masked calls inside the fast kernels' time loops: what the loops need from a mask, and
Keras's output rules applied around them.

Keras's masked loop (see :mod:`unrolled.core.scan`, the oracle) carries every state
component over a masked step. So a fast loop only has to *skip* masked steps per sample
(carry h and c; in backward, dL/dz = 0 there and dL/dh, dL/dc pass through). The outputs
then follow from the carried h alone:

* output at step t = the carried h after step t, where it *shows* one, else zeros. It
  shows one from the sample's first unmasked step on (before it, Keras outputs zeros even
  when the initial state is not zero); with ``zero_output_for_mask`` only at unmasked
  steps;
* so the gradient of output t flows into the carried h after step t where it shows, and
  nowhere where it does not (:meth:`StepMask.upstream`).

:class:`StepMask` holds the mask in the loops' layout and the ``shows`` matrix.

Axis legend: B batch, T timesteps, H units.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

Array = np.ndarray
# "No mask" for the compiled loops. Writable (never written) like every real mask, so
# masked and unmasked calls share one compiled signature.
NO_MASK = np.zeros((0, 0), bool)


class StepMask(NamedTuple):
    """One call's mask, prepared once per call (a few (B, T) passes)."""

    steps: Array           # (T, B) bool, processing order, C-contiguous: True = run the step
    raw: Array             # (T, B) bool in the input's time order (go_backwards: unreversed)
    shows: Array | None    # (B, T) bool, processing order: output t shows the carried h
                           # (else zeros); None when every output shows it
    any_skipped: Array     # (T,) bool: some row skips step t (processing order)

    @classmethod
    def prepare(cls, mask: Array, go_backwards: bool, zero_output_for_mask: bool
                ) -> "StepMask":
        m = np.asarray(mask, dtype=bool)                          # (B, T)
        raw = np.array(m.T, dtype=bool, order="C")               # (T, B), a writable copy
        steps = np.ascontiguousarray(raw[::-1]) if go_backwards else raw
        runs = steps.all(axis=1)                                  # (T,): every row runs t
        if zero_output_for_mask:
            shows = None if runs.all() else np.ascontiguousarray(steps.T)
        elif runs[0]:   # every sample starts unmasked (e.g. right padding): all show
            shows = None
        else:           # from each sample's first unmasked step on (some start masked)
            shows = np.ascontiguousarray(np.logical_or.accumulate(steps, axis=0).T)
        return cls(steps, raw, shows, ~runs)

    def outputs(self, sequence: Array | None, h_last: Array) -> tuple[Array | None, Array]:
        """Keras's masked outputs from the loop's carried h: ``(sequence (B, T, H) or None,
        last (B, H))``. ``sequence`` is the carried h after every step (processing order)."""
        if self.shows is None:
            last = sequence[:, -1] if sequence is not None else h_last
            return sequence, last
        if sequence is not None:
            sequence = sequence * self.shows[:, :, None]          # a new array
            return sequence, sequence[:, -1]
        return None, h_last * self.shows[:, -1:]

    def upstream(self, d_sequence: Array | None, d_last: Array | None, d_h: Array | None
                 ) -> tuple[Array | None, Array | None]:
        """The gradients reaching the loop: ``(dL/d carried h per step (B, T, H) or None,
        dL/d final h (B, H) or None)`` from those of the outputs and the final h."""
        if self.shows is not None:
            if d_sequence is not None:
                d_sequence = d_sequence * self.shows[:, :, None]
            if d_last is not None:
                d_last = d_last * self.shows[:, -1:]
        if d_last is None:
            return d_sequence, d_h
        return d_sequence, d_last if d_h is None else d_h + d_last


def keep_carried(any_skipped: bool, skip_t: Array, prev: Array, new: Array) -> None:
    """After a step computed for every row: rows that skip it (``skip_t`` (B, 1) True)
    carry their previous state over."""
    if any_skipped:
        np.copyto(new, prev, where=skip_t)


def skip_backward(any_skipped: bool, skip_t: Array, d_in: Array, d_prev: Array,
                  *step_grads: Array) -> None:
    """After a backward step computed for every row: rows that skip it pass ``d_in`` (the
    carry's gradient entering the step) through to ``d_prev`` and get zero in each of
    ``step_grads`` (dL/d pre-activations)."""
    if any_skipped:
        np.copyto(d_prev, d_in, where=skip_t)
        for d in step_grads:
            np.copyto(d, 0, where=skip_t)
