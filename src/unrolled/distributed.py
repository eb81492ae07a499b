"""A model over a Dask array or dataframe: ``unrolled.distributed.predict(model, data)``.

``data`` is a ``dask.array`` shaped like the model's input (``(batch, timesteps,
features)`` for a recurrent model), or a ``dask.dataframe`` with one sample per row (its
``timesteps · features`` values in row-major order: timestep 0's features first). The
model runs on each block or partition where it lives; the result is a lazy dask array
``(batch, *output)`` chunked like ``data`` along the batch axis, or a dask dataframe with
the same index and divisions and one column per output value.

How the model travels: it is written once as a ``.keras`` file's bytes (a path is read
as it is) and named by the SHA-256 of those bytes. With a ``distributed.Client`` (the one
given, else the current one) the bytes are scattered to every worker once
(``client.scatter(..., broadcast=True)``) and each task receives only a reference to
them; each worker process turns them into a model the first time a task needs it and
keeps it, keyed by the hash, for every later task (:func:`loaded_models` counts the
loads). Without a client, dask's local scheduler runs the tasks in this process and the
same cache applies. Nothing is pickled but bytes: unrolled's models load from their file
format, never from pickles.

Needs ``pip install 'unrolled[dask]'`` (and ``dask[dataframe]`` for dataframes);
dask is imported only when this module's functions run.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from .errors import ConfigError, InputShapeError

DASK_HINT = "pip install 'unrolled[dask]'"

_models: dict[str, Any] = {}          # digest -> model, in each process that ran a task
_loads: dict[str, int] = {}           # digest -> times the model was built in this process
_locks: dict[str, threading.Lock] = {}
_cache_lock = threading.Lock()


@dataclass(frozen=True)
class ModelBytes:
    """A model file's bytes, named by their SHA-256 (what is shipped to workers)."""

    digest: str
    data: bytes
    suffix: str = ".keras"

    @classmethod
    def of(cls, model: Any) -> ModelBytes:
        """The bytes of ``model`` (an unrolled model, or a path unrolled loads)."""
        if isinstance(model, (str, os.PathLike)):
            path = os.fspath(model)
            with open(path, "rb") as f:
                data = f.read()
            suffix = os.path.splitext(path)[1] or ".keras"
        else:
            if type(model).__name__ == "Forecaster":
                raise ConfigError(
                    "distributed.predict maps a network (model.predict); a Forecaster also "
                    "scales, windows and decodes. Score CSV/Parquet files with `unrolled "
                    "predict MODEL 'data/*.csv' --output-dir OUT --scheduler ...`, or pass "
                    "forecaster.model to get the network's standardised outputs")
            if not hasattr(model, "predict") or not hasattr(model, "save"):
                raise ConfigError(f"distributed.predict expects an unrolled model or the path "
                                  f"of a model file, got {type(model).__name__}")
            with tempfile.TemporaryDirectory(prefix="unrolled-ship-") as tmp:
                path = os.path.join(tmp, "model.keras")
                model.save(path)
                with open(path, "rb") as f:
                    data = f.read()
            # named by what it computes (the file also stores when it was saved), so the
            # same model predicted twice is built once per worker
            return cls(_fingerprint(model), data, ".keras")
        return cls(hashlib.sha256(data).hexdigest(), data, suffix)

    def __repr__(self) -> str:
        return f"ModelBytes({self.digest[:12]}, {len(self.data)} bytes)"


def _fingerprint(model: Any) -> str:
    """SHA-256 of the model's config and weights."""
    import json

    from .models.saving import model_to_config

    h = hashlib.sha256(json.dumps(model_to_config(model), sort_keys=True,
                                  default=str).encode("utf-8"))
    for w in model.get_weights():
        w = np.ascontiguousarray(w)
        h.update(f"{w.dtype.str}{w.shape}".encode("ascii"))
        h.update(w.tobytes())
    return h.hexdigest()


def model_for(payload: ModelBytes) -> Any:
    """The model ``payload`` holds, built once per process and then reused."""
    with _cache_lock:
        model = _models.get(payload.digest)
        if model is not None:
            return model
        lock = _locks.setdefault(payload.digest, threading.Lock())
    with lock:
        if payload.digest in _models:
            return _models[payload.digest]
        from .models.saving import load_model

        fd, path = tempfile.mkstemp(prefix="unrolled-model-", suffix=payload.suffix)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(payload.data)
            model = load_model(path, compile=False)
        finally:
            os.remove(path)
        _warm_kernels()
        with _cache_lock:
            _models[payload.digest] = model
            _loads[payload.digest] = _loads.get(payload.digest, 0) + 1
        return model


def loaded_models() -> dict[str, int]:
    """``digest → times built`` in this process (on a worker: ``client.run(loaded_models)``)."""
    with _cache_lock:
        return dict(_loads)


def forget_models() -> None:
    """Drop this process's cached models (they are rebuilt on the next task)."""
    with _cache_lock:
        _models.clear()
        _loads.clear()


def _warm_kernels() -> None:
    """Load the compiled kernels before the first block, so every block runs on the same
    kernel (the NumPy fallback used while numba compiles rounds differently)."""
    try:
        from .parallel.worker import warm
    except ImportError:  # pragma: no cover - the parallel layer is part of the package
        return
    warm()


def _predict_block(block: np.ndarray, payload: ModelBytes, batch_size: int | None) -> np.ndarray:
    model = model_for(payload)
    out = model.predict(np.ascontiguousarray(block), batch_size=batch_size, verbose=0)
    return np.asarray(out, dtype=np.float32)


def _predict_frame(part: Any, payload: ModelBytes, sample_shape: tuple[int, ...],
                   columns: list[str] | None, names: list[str], batch_size: int | None) -> Any:
    import pandas as pd

    values = (part[columns] if columns is not None else part).to_numpy(dtype=np.float32)
    x = values.reshape((len(values),) + sample_shape)
    if len(x) == 0:
        out = np.zeros((0, len(names)), dtype=np.float32)
    else:
        out = _predict_block(x, payload, batch_size).reshape(len(x), -1)
    return pd.DataFrame(out, index=part.index, columns=names)


def _dask_modules() -> tuple[Any, Any]:
    try:
        import dask
        import dask.array as da
    except ImportError as err:
        raise ImportError(f"unrolled.distributed needs dask ({err}); install it with "
                          f"{DASK_HINT}") from None
    return dask, da


_LOCAL_SCHEDULERS = {"threads", "threading", "sync", "synchronous", "single-threaded",
                     "processes", "multiprocessing"}


def _current_client(client: Any) -> Any:
    """The client given, else the one dask would compute on (none when dask's config
    names a local scheduler, as ``dask.config.set(scheduler="threads")`` does)."""
    if client is not None:
        return client
    import dask

    if str(dask.config.get("scheduler", None) or "") in _LOCAL_SCHEDULERS:
        return None
    try:
        from distributed import default_client
    except ImportError:
        return None
    try:
        return default_client()
    except ValueError:  # no client in this process
        return None


def _input_shape(model: Any) -> tuple[Any, ...]:
    """The model's input shape ``(None, *sample)``; one input and one output only."""
    if len(getattr(model, "inputs", None) or [None]) > 1 or \
            len(getattr(model, "outputs", None) or [None]) > 1:
        raise ConfigError("distributed.predict maps models with one input and one output; "
                          f"this one has {len(model.inputs)} input(s) and {len(model.outputs)} "
                          "output(s). Hint: build a Model of the one output you need")
    shape = tuple(getattr(model, "input_batch_shape", None) or ())
    if not shape:
        raise ConfigError("distributed.predict needs a built model (its input shape is "
                          "unknown); hint: start it with unrolled.Input((timesteps, features))")
    return shape


def _output_shape(model: Any, sample: tuple[int, ...]) -> tuple[int, ...]:
    out = model.compute_output_shape((1,) + sample)
    if isinstance(out, list):
        out = out[0]
    return tuple(int(d) for d in tuple(out)[1:])


def _check_sample(expected: tuple[Any, ...], got: tuple[int, ...], what: str) -> None:
    names = ["timesteps", "features"] if len(expected) == 3 else [
        f"axis {i}" for i in range(1, len(expected))]
    if len(got) != len(expected) - 1:
        raise InputShapeError(
            f"the model expects {what} of shape (batch, "
            f"{', '.join(str(d) for d in expected[1:])}), got {len(got) + 1} axes "
            f"(batch, {', '.join(map(str, got))}); hint: reshape the array to the model's input")
    for axis, (want, have) in enumerate(zip(expected[1:], got), start=1):
        if want is not None and want != have:
            swapped = (len(expected) == 3 and tuple(expected[1:]) == tuple(reversed(got)))
            raise InputShapeError(
                f"the model expects {what} of shape (batch, "
                f"{', '.join(str(d) for d in expected[1:])}), got (batch, "
                f"{', '.join(map(str, got))}): {names[axis - 1]} is {have}, expected {want}"
                + (". Are timesteps and features swapped? Try x.transpose(0, 2, 1)" if swapped
                   else ""))


def predict(model: Any, data: Any, *, batch_size: int | None = None, client: Any = None,
            columns: Sequence[str] | None = None, output_names: Sequence[str] | None = None
            ) -> Any:
    """``model.predict`` over every block of a Dask array or partition of a Dask dataframe.

    Args:
        model: an unrolled model (one input, one output), or the path of a model file
            unrolled loads (``.keras``, ``.h5``, ``.onnx``, ...).
        data: a ``dask.array.Array`` of the model's input shape (batch axis first; the
            other axes are put in one chunk), or a ``dask.dataframe.DataFrame`` with one
            sample per row: ``timesteps · features`` numeric columns, timestep-major.
        batch_size: samples per ``model.predict`` batch inside a block (default: as
            ``model.predict``).
        client: a ``distributed.Client`` (default: the current one, if any; else dask's
            local scheduler).
        columns: dataframes only: the input columns, in order (default: every column).
        output_names: dataframes only: names of the output columns (default ``y0, y1, ...``).

    Returns:
        A lazy dask array ``(batch, *output)`` float32 chunked like ``data`` on the batch
        axis, or a dask dataframe with ``data``'s index; ``.compute()`` runs it (with a
        client that is not the default one: ``client.compute(result).result()``).
    """
    _, da = _dask_modules()
    payload = ModelBytes.of(model)
    local = model if not isinstance(model, (str, os.PathLike)) else model_for(payload)
    in_shape = _input_shape(local)
    client = _current_client(client)
    ref: Any = payload
    if client is not None:
        _set_up_workers(client)
        ref = client.scatter(payload, broadcast=True, hash=False)
    if isinstance(data, da.Array):
        return _predict_array(da, local, data, in_shape, ref, batch_size)
    if _is_dask_frame(data):
        return _predict_dataframe(local, data, in_shape, ref, batch_size, columns, output_names)
    raise ConfigError(f"distributed.predict expects a dask array or dask dataframe, got "
                      f"{type(data).__name__}; hint: dask.array.from_array(x, chunks=(1024, "
                      "-1, -1)) for a NumPy array, or call model.predict(x) directly")


def _set_up_workers(client: Any) -> None:
    """Every worker once (and workers that join later): threads = cores // its task slots,
    compiled kernels loaded (:class:`unrolled.parallel.dask_backend.UnrolledWorkerSetup`)."""
    from .parallel import load_dask_backend

    plugin = load_dask_backend().UnrolledWorkerSetup()
    client.register_plugin(plugin, name=plugin.name)


def _is_dask_frame(data: Any) -> bool:
    module = type(data).__module__
    return module.startswith("dask") and hasattr(data, "map_partitions") and \
        hasattr(data, "columns")


def _predict_array(da: Any, model: Any, x: Any, in_shape: tuple[Any, ...], ref: Any,
                   batch_size: int | None) -> Any:
    sample = tuple(int(d) for d in x.shape[1:])
    if any(np.isnan(d) for d in x.shape[1:]):  # pragma: no cover - unknown chunk sizes
        raise InputShapeError("distributed.predict needs known sizes on the non-batch axes; "
                              "hint: x.compute_chunk_sizes()")
    _check_sample(in_shape, sample, "arrays")
    out = _output_shape(model, sample)
    x = x.rechunk({axis: -1 for axis in range(1, x.ndim)})
    chunks = (x.chunks[0],) + tuple((d,) for d in out)
    kw: dict[str, Any] = {}
    if len(chunks) < x.ndim:     # e.g. (B, T, F) -> (B, k): the last axes go
        kw["drop_axis"] = list(range(len(chunks), x.ndim))
    elif len(chunks) > x.ndim:
        kw["new_axis"] = list(range(x.ndim, len(chunks)))
    return da.map_blocks(_predict_block, x, ref, batch_size, dtype=np.float32,
                         chunks=chunks, meta=np.empty((0,) * (len(out) + 1), np.float32),
                         **kw)


def _predict_dataframe(model: Any, df: Any, in_shape: tuple[Any, ...], ref: Any,
                       batch_size: int | None, columns: Sequence[str] | None,
                       output_names: Sequence[str] | None) -> Any:
    import pandas as pd

    cols = list(columns) if columns is not None else None
    if cols is not None:
        missing = [c for c in cols if c not in df.columns]
        if missing:
            raise ConfigError(f"columns {missing} are not in the dataframe; it has "
                              f"{list(df.columns)[:20]}")
    chosen = cols if cols is not None else list(df.columns)
    text = [c for c in chosen if df[c].dtype.kind not in "biuf"]
    if text:
        raise ConfigError(f"columns {text[:10]} are not numeric; pass columns=[...] with the "
                          "model's input columns only")
    width = len(chosen)
    sample = tuple(in_shape[1:])
    if any(d is None for d in sample):
        raise InputShapeError(f"a dataframe row holds one flattened sample, so the model's "
                              f"input shape must be fixed; it is (batch, "
                              f"{', '.join(str(d) for d in sample)}). Hint: build the model "
                              "with Input((timesteps, features))")
    need = int(np.prod(sample))
    if width != need:
        raise InputShapeError(
            f"each row must hold one sample of shape ({', '.join(map(str, sample))}) = {need} "
            f"values (timestep-major), got {width} column(s); hint: pass columns=[...] in "
            "the order t0_f0, t0_f1, ..., t1_f0, ...")
    out = _output_shape(model, tuple(int(d) for d in sample))
    k = int(np.prod(out)) if out else 1
    names = list(output_names) if output_names is not None else [f"y{i}" for i in range(k)]
    if len(names) != k:
        raise ConfigError(f"output_names has {len(names)} name(s), the model gives {k} "
                          "value(s) per sample")
    meta = pd.DataFrame({n: pd.Series([], dtype="float32") for n in names},
                        index=df._meta.index)
    return df.map_partitions(_predict_frame, ref, tuple(int(d) for d in sample), cols, names,
                             batch_size, meta=meta)
