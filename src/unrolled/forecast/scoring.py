"""Scoring many files with one forecaster: one task per file, one output per file.

``unrolled predict MODEL 'data/*.csv' --output-dir OUT`` turns every input file into a
task (:func:`score_file`) that a parallel executor maps over its workers. Each task
writes ``OUT/<stem>.forecast.csv`` (the input's name without its extension, so
``data/store_7.csv`` and ``data/store_7.parquet`` would collide: :func:`output_paths`
refuses that before anything runs) atomically: a reader sees the whole file or none.

The model travels as a :class:`ModelRef` — its path and the SHA-256 of its bytes, a few
hundred bytes per task. Each worker process loads it the first time a task needs it and
keeps it for every later task (:func:`forecaster_for`), checking that the file it reads
is the one the run started with. On a cluster the model and data paths must therefore be
readable by every worker (a shared filesystem), as with ``dask.dataframe.read_csv``.

Parquet inputs (``.parquet``/``.pq``) need pyarrow (``pip install 'unrolled[parquet]'``);
typed columns are taken as they are (datetimes as the time axis), strings go through the
same cell rules as a CSV.
"""
from __future__ import annotations

import glob
import hashlib
import os
import threading
import time
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

from ..errors import ConfigError, DataError

SUFFIX = ".forecast.csv"
PARQUET = (".parquet", ".pq")
PARQUET_HINT = "pip install 'unrolled[parquet]'"

_cache: dict[str, Any] = {}      # digest -> Forecaster, per process
_loads: dict[str, int] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class ModelRef:
    """A model file named by its path and the SHA-256 of its bytes."""

    path: str
    digest: str

    @classmethod
    def of(cls, path: str | os.PathLike[str]) -> ModelRef:
        path = os.path.abspath(os.fspath(path))
        return cls(path, _sha256(path))


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def forecaster_for(ref: ModelRef) -> Any:
    """The forecaster ``ref`` names, loaded once per process."""
    with _lock:
        if ref.digest in _cache:
            return _cache[ref.digest]
        from .model_file import load_forecaster

        if _sha256(ref.path) != ref.digest:
            raise ConfigError(f"{ref.path} changed after the run started (its SHA-256 differs "
                              "from the one this run was given); run the command again")
        fc = load_forecaster(ref.path)
        _cache[ref.digest] = fc
        _loads[ref.digest] = _loads.get(ref.digest, 0) + 1
        return fc


def forecaster_loads() -> dict[str, int]:
    """``digest → times loaded`` in this process."""
    with _lock:
        return dict(_loads)


def expand_inputs(patterns: list[str]) -> list[str]:
    """Paths from paths and glob patterns (``'data/*.csv'``), in order, each once.

    Raises:
        ConfigError: a pattern that matches no file, or a path that does not exist.
    """
    out: list[str] = []
    for pattern in patterns:
        if glob.has_magic(pattern):
            found = sorted(p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p))
            if not found:
                raise ConfigError(f"{pattern!r} matches no file; hint: quote the pattern so "
                                  "the shell leaves it to unrolled, and check the folder")
        else:
            if not os.path.isfile(pattern):
                raise ConfigError(f"{pattern}: no such file")
            found = [pattern]
        out += [p for p in found if p not in out]
    return out


def output_paths(inputs: list[str], out_dir: str) -> list[str]:
    """``out_dir/<stem>.forecast.csv`` for each input; two inputs with one stem are refused."""
    seen: dict[str, str] = {}
    out = []
    for path in inputs:
        stem = os.path.splitext(os.path.basename(path))[0]
        if stem in seen:
            raise ConfigError(f"{seen[stem]} and {path} would both write {stem}{SUFFIX}; "
                              "rename one, or score them with separate --output-dir")
        seen[stem] = path
        out.append(os.path.join(out_dir, stem + SUFFIX))
    return out


def read_input(spec: Any, path: str, delimiter: str = ",", fmt: Any = None) -> Any:
    """The table a forecaster with ``spec`` reads from a CSV or Parquet file."""
    from .apply import read_for

    if path.lower().endswith(PARQUET):
        try:
            import pyarrow.parquet as pq
        except ImportError as err:
            raise ImportError(f"reading {path} needs pyarrow ({err}); install it with "
                              f"{PARQUET_HINT}") from None
        from ..data.table import from_frame
        from .pipeline import load_table

        try:
            frame = pq.read_table(path).to_pandas()
        except (OSError, ValueError) as err:  # pyarrow.ArrowInvalid is a ValueError
            raise DataError(f"{path}: not a readable Parquet file ({err})") from None
        table = replace(from_frame(frame, time_column=None), source=path)
        return load_table(table, spec.time_column or "none")
    return read_for(spec, path, delimiter=delimiter, fmt=fmt)


class FileScore(NamedTuple):
    """What one file's task did."""

    source: str
    output: str
    windows: int
    rows: int
    seconds: float


def score_file(ref: ModelRef, source: str, output: str, every_window: bool = False,
               series: list[str] | None = None, fill: str | None = None,
               delimiter: str = ",", fmt: Any = None,
               cap_mb: float | None = None) -> FileScore:
    """Forecast one file with the model ``ref`` and write ``output`` atomically."""
    from ..io.atomic import atomic_write_bytes
    from .apply import forecast

    start = time.perf_counter()
    fc = forecaster_for(ref)
    if fill is not None:
        fc = replace(fc, spec=replace(fc.spec, fill=fill))
    table = read_input(fc.spec, source, delimiter, fmt)
    _check_memory(source, len(table), fc.spec,
                  every_window, cap_mb)
    result = forecast(fc, table, every_window=every_window, series=series)
    atomic_write_bytes(output, result.csv_text().encode("utf-8"))
    return FileScore(source, output, len(result.values),
                     len(result.values) * result.spec.horizon, time.perf_counter() - start)


def _check_memory(source: str, rows: int, spec: Any, every_window: bool,
                  cap_mb: float | None) -> None:
    """A file whose windows would exceed the per-task cap is refused."""
    from ..parallel.memory import check_memory

    per_window = spec.window * len(spec.inputs) * 4  # float32 inputs
    windows = rows if every_window else 1
    check_memory(f"{source} ({rows} rows)", 3 * rows * len(spec.inputs) * 8
                 + 2 * windows * per_window,
                 "rows × inputs as float64 three times, plus two copies of the windows",
                 cap_mb)
