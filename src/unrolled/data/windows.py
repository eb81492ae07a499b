"""Cutting a series into (input window, future targets) samples.

Two entry points:

* :func:`make_windows` — what a forecaster wants: ``data (time, features)`` and
  ``targets (time, targets)`` on the *same* time axis; it pairs each input window with the
  rows that follow it.
* :func:`timeseries_windows` — ``keras.utils.timeseries_dataset_from_array`` returning
  arrays: same arguments, same validation, same samples in the same order (no batching,
  no shuffling). There ``targets[i]`` belongs to the window that *starts* at row ``i``, so
  the forecast offset is expressed by shifting ``targets`` before the call.

Geometry (``w`` = window, ``r`` = sampling_rate, ``s`` = stride, ``g`` = gap,
``H`` = horizon), for sample ``i`` with first row ``a = start_index + i*s``::

    input rows   a, a + r, ..., a + (w-1)*r                 last = a + (w-1)*r
    target rows  last + 1 + g, ..., last + g + H            (consecutive, step 1)

With the defaults (``g = 0, H = 1``) the target is the row right after the window, and
``make_windows(x, y, w)`` equals ``timeseries_windows(x[:-1], y[w:], w)`` with a horizon
axis added.
"""
from __future__ import annotations

import operator
from typing import Any, overload

import numpy as np

from unrolled.errors import ConfigError, DataError


def _count(name: str, value: Any, minimum: int) -> int:
    try:
        value = operator.index(value)
    except TypeError:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value}")
    return value


def window_index(
    n_rows: int, window: int, horizon: int = 1, stride: int = 1, sampling_rate: int = 1,
    gap: int = 0, start_index: int | None = None, end_index: int | None = None,
    with_targets: bool = True,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Row numbers behind every sample (see the module docstring for the geometry).

    Only rows in ``[start_index, end_index)`` are used, by inputs and targets alike.
    With ``with_targets=False`` no room is kept for targets, so the last window ends on the
    last row: the window to feed a model when forecasting beyond the data.

    Returns:
        ``input_rows (samples, window)`` and ``target_rows (samples, horizon)`` (None
        without targets), int64, 0-based. Index the time axis with ``target_rows`` to
        date each forecast.
    """
    window = _count("window", window, 1)
    horizon = _count("horizon", horizon, 1)
    stride = _count("stride", stride, 1)
    sampling_rate = _count("sampling_rate", sampling_rate, 1)
    gap = _count("gap", gap, 0)
    start = 0 if start_index is None else _count("start_index", start_index, 0)
    end = n_rows if end_index is None else _count("end_index", end_index, 0)
    if end > n_rows or start >= end:
        raise ConfigError(f"need 0 <= start_index < end_index <= {n_rows} (rows of the series), "
                          f"got start_index={start_index}, end_index={end_index}")
    span = (window - 1) * sampling_rate + 1  # rows from first to last input, inclusive
    need = span + (gap + horizon if with_targets else 0)
    if end - start < need:
        used = f"rows {start}..{end - 1} of {n_rows}" if (start, end) != (0, n_rows) else "rows"
        extra = f" + gap {gap} + horizon {horizon}" if with_targets else ""
        raise DataError(
            f"the series is too short: it has {end - start} {used}, but one sample needs "
            f"{need} (window {window} at sampling_rate {sampling_rate} spans {span}{extra}). "
            "Use a shorter window or horizon, or more data."
        )
    firsts = np.arange(start, end - need + 1, stride, dtype=np.int64)  # (samples,)
    inputs = firsts[:, None] + sampling_rate * np.arange(window)  # (samples, window)
    if not with_targets:
        return inputs, None
    targets = inputs[:, -1:] + 1 + gap + np.arange(horizon)  # (samples, horizon)
    return inputs, targets


def _as_2d(name: str, array: Any) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim == 1:
        array = array[:, None]  # a single series is one feature
    if array.ndim != 2:
        raise DataError(f"{name} must be (time, columns) or (time,), got shape {array.shape}")
    if array.dtype.kind == "f" and np.isnan(array).any():
        row = int(np.flatnonzero(np.isnan(array).any(axis=1))[0])
        raise DataError(f"{name} has NaN at row {row} (0-based): fill or drop empty cells "
                        "first, e.g. select_columns(..., fill='interpolate')")
    return array


@overload
def make_windows(data: Any, targets: None, window: int, horizon: int = ..., stride: int = ...,
                 sampling_rate: int = ..., gap: int = ..., start_index: int | None = ...,
                 end_index: int | None = ...) -> tuple[np.ndarray, None]: ...
@overload
def make_windows(data: Any, targets: Any, window: int, horizon: int = ..., stride: int = ...,
                 sampling_rate: int = ..., gap: int = ..., start_index: int | None = ...,
                 end_index: int | None = ...) -> tuple[np.ndarray, np.ndarray]: ...
def make_windows(data, targets, window, horizon=1, stride=1, sampling_rate=1, gap=0,
                 start_index=None, end_index=None):
    """Input windows and the ``horizon`` rows that follow each one.

    Args:
        data: ``(time, features)`` (or ``(time,)``, taken as one feature).
        targets: ``(time, targets)`` (or ``(time,)``) on the same time axis as ``data``
            (not shifted), or None for input windows only (up to the last row).
        window: rows per input window.
        horizon: future rows predicted per window.
        stride: rows between the starts of consecutive windows.
        sampling_rate: rows between consecutive steps inside a window.
        gap: rows skipped between a window's last row and its first target.
        start_index, end_index: only rows ``[start_index, end_index)`` are used.

    Returns:
        ``X (samples, window, features)`` and ``Y (samples, horizon, targets)`` (or None),
        in time order, with the dtypes of the inputs.
    """
    data = _as_2d("data", data)
    if targets is not None:
        targets = _as_2d("targets", targets)
        if len(targets) != len(data):
            raise DataError(f"data has {len(data)} rows but targets has {len(targets)}: they "
                            "must share the time axis (make_windows does the shifting)")
    inputs, future = window_index(len(data), window, horizon, stride, sampling_rate, gap,
                                  start_index, end_index, with_targets=targets is not None)
    X = data[inputs]  # (samples, window, features)
    return X, (None if future is None else targets[future])  # (samples, horizon, targets)


def timeseries_windows(
    data: Any, targets: Any, sequence_length: int, sequence_stride: int = 1,
    sampling_rate: int = 1, start_index: int | None = None, end_index: int | None = None,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """``keras.utils.timeseries_dataset_from_array`` as arrays, unbatched and unshuffled.

    Sample ``i`` is ``data[b + p*r : b + p*r + L*r : r]`` with ``b = start_index``,
    ``p = i*sequence_stride``, ``r = sampling_rate``, ``L = sequence_length``; its target is
    ``targets[b + p]`` — the row where the window *starts*. To forecast the row after a
    window, pass ``data[:-L]`` and ``targets[L:]`` (Keras's example 2).

    Validation copies Keras, quirks included: ``end_index`` must be below ``len(data)``
    (use None for "to the end"), ``sampling_rate`` and ``sequence_stride`` below
    ``len(data)``; a start/end index of 0 counts as unset. The only addition:
    ``sequence_length`` must be >= 1. Too little data gives zero samples, as in Keras.

    Returns:
        ``X (samples, sequence_length, *data.shape[1:])``, and if ``targets`` is not None
        also ``Y (samples, *targets.shape[1:])``.
    """
    data = np.asarray(data)
    n = len(data)
    sequence_length = _count("sequence_length", sequence_length, 1)
    # The checks below are Keras's, in Keras's order, so callers see the same failures.
    if start_index:
        if start_index < 0:
            raise ConfigError(f"`start_index` must be 0 or greater. Received: start_index={start_index}")
        if start_index >= n:
            raise ConfigError("`start_index` must be lower than the length of the data. "
                              f"Received: start_index={start_index}, for data of length {n}")
    if end_index:
        if start_index and end_index <= start_index:
            raise ConfigError("`end_index` must be higher than `start_index`. Received: "
                              f"start_index={start_index}, and end_index={end_index}")
        if end_index >= n:
            raise ConfigError("`end_index` must be lower than the length of the data. "
                              f"Received: end_index={end_index}, for data of length {n}")
        if end_index <= 0:
            raise ConfigError(f"`end_index` must be higher than 0. Received: end_index={end_index}")
    for name, value in (("sampling_rate", sampling_rate), ("sequence_stride", sequence_stride)):
        if value <= 0:
            raise ConfigError(f"`{name}` must be higher than 0. Received: {name}={value}")
        if value >= n:
            raise ConfigError(f"`{name}` must be lower than the length of the data. "
                              f"Received: {name}={value}, for data of length {n}")

    start = 0 if start_index is None else start_index
    end = n if end_index is None else end_index
    num_seqs = end - start - (sequence_length - 1) * sampling_rate
    if targets is not None:
        num_seqs = min(num_seqs, len(targets))
    firsts = np.arange(0, max(num_seqs, 0), sequence_stride)  # relative to start
    rows = start + firsts[:, None] + sampling_rate * np.arange(sequence_length)
    X = data[rows.astype(np.int64)]  # (samples, sequence_length, *features)
    if targets is None:
        return X
    targets = np.asarray(targets)
    beyond = start + firsts[start + firsts >= len(targets)]
    if beyond.size:
        raise ConfigError(
            f"targets has {len(targets)} rows, but the window starting at row {beyond[0]} "
            f"needs targets[{beyond[0]}] (Keras would fail too); pass targets with as many "
            "rows as data"
        )
    return X, targets[start + firsts]
