"""Chronological train / validation / test split of a raw series.

The series is cut into three contiguous blocks, oldest first, *before* windowing:

    rows  0 ............ n_train | n_train ...... n_train+n_val | ........ n
          train                  | validation                  | test

Because each block is windowed on its own, no sample straddles two blocks: no training
input or target comes from the validation/test period, and the scaler fitted on the
train block has never seen later values. The price: the first ``window + gap`` rows of
the validation and test blocks serve only as inputs, so those blocks yield fewer
samples than rows. Nothing is shuffled.
"""
from __future__ import annotations

from typing import Any, NamedTuple, overload

import numpy as np

from unrolled.errors import ConfigError, DataError


class SplitSlices(NamedTuple):
    """Row ranges of the three blocks; index arrays with them (``x[s.train]``)."""

    train: slice
    val: slice
    test: slice


def split_sizes(n: int, val_fraction: float, test_fraction: float,
                min_rows: int = 1) -> SplitSlices:
    """The three row ranges for a series of ``n`` rows.

    Validation and test sizes are ``round(n * fraction)``; train gets the rest. A block
    with fraction 0 is empty; any other block must have at least ``min_rows`` rows (pass
    ``window + gap + horizon`` to be sure each block yields a sample).
    """
    for name, f in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0 <= f < 1:
            raise ConfigError(f"{name} must be in [0, 1), got {f}")
    if val_fraction + test_fraction >= 1:
        raise ConfigError(f"val_fraction + test_fraction must be below 1 to leave rows for "
                          f"training, got {val_fraction} + {test_fraction}")
    n_test = int(round(n * test_fraction))
    n_val = int(round(n * val_fraction))
    n_train = n - n_val - n_test
    for name, rows, f in (("train", n_train, 1), ("validation", n_val, val_fraction),
                          ("test", n_test, test_fraction)):
        if f > 0 and rows < min_rows:
            raise DataError(
                f"the {name} block would have {rows} rows of {n}, fewer than "
                f"min_rows={min_rows} (one window + gap + horizon). Use more data, a shorter "
                f"window, or change val_fraction={val_fraction} / test_fraction={test_fraction}."
            )
    return SplitSlices(slice(0, n_train), slice(n_train, n_train + n_val),
                       slice(n_train + n_val, n))


@overload
def chronological_split(n_or_arrays: int, val_fraction: float = ..., test_fraction: float = ...,
                        min_rows: int = ...) -> SplitSlices: ...
@overload
def chronological_split(n_or_arrays: tuple, val_fraction: float = ...,  # type: ignore[overload-overlap]
                        test_fraction: float = ..., min_rows: int = ...) -> tuple[tuple, tuple, tuple]: ...
@overload
def chronological_split(n_or_arrays: Any, val_fraction: float = ..., test_fraction: float = ...,
                        min_rows: int = ...) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...
def chronological_split(n_or_arrays, val_fraction=0.15, test_fraction=0.15, min_rows=1):
    """Split rows oldest-first into train, validation and test (see module docstring).

    Args:
        n_or_arrays: a row count → :class:`SplitSlices`; one array (rows on axis 0) →
            ``(train, val, test)`` arrays; a *tuple* of arrays with equal row counts, e.g.
            ``(X, Y, time)`` → ``(train, val, test)``, each a tuple in the same order.
        val_fraction, test_fraction: shares of the rows, in [0, 1).
        min_rows: the least rows a non-empty block may have.
    """
    if isinstance(n_or_arrays, (int, np.integer)) and not isinstance(n_or_arrays, bool):
        return split_sizes(int(n_or_arrays), val_fraction, test_fraction, min_rows)
    if isinstance(n_or_arrays, tuple):
        arrays = [a if a is None else np.asarray(a) for a in n_or_arrays]
        lengths = {len(a) for a in arrays if a is not None}
        if len(lengths) != 1:
            raise DataError("chronological_split: the arrays must have the same number of rows, "
                            f"got {[None if a is None else len(a) for a in arrays]}")
        s = split_sizes(lengths.pop(), val_fraction, test_fraction, min_rows)
        return tuple(tuple(None if a is None else a[part] for a in arrays) for part in s)
    array = np.asarray(n_or_arrays)
    s = split_sizes(len(array), val_fraction, test_fraction, min_rows)
    return array[s.train], array[s.val], array[s.test]
