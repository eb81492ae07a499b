"""What an inspecting command looks at: a model file and the input it runs on.

A forecaster (``unrolled train``'s ``.keras``) brings its columns, scaling and window:
its DATA is the CSV it was trained on (or one like it), read, scaled and windowed with
the statistics stored in the file, with the features named by their columns. Any other
model takes a ``.npy`` array. Without DATA a forecaster uses the validation window stored
in its file (:mod:`unrolled.forecast.stored_window`); files without one, and other models,
get a random input, and the note says so.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError, DataError, UnrolledError


@dataclass
class Subject:
    model: Any
    x: np.ndarray                       # (batch, timesteps, features), as the model takes it
    feature_names: list[str] | None
    note: str                           # where x came from, in one sentence
    forecaster: Any = None              # forecast.Forecaster when the file is one
    evaluation: Any = None              # forecast.Evaluation on DATA, when it has targets
    evaluation_note: str = ""
    stored_window: bool = False         # x is the validation window stored in the forecaster


def load_array(path: str) -> tuple[np.ndarray, bool]:
    """The array in ``path`` (.npy, or an .npz with one array) and whether a batch axis
    was added to a 2-D one."""
    try:
        data: Any = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise DataError(f"cannot read {path!r} as a NumPy .npy file: {err}") from err
    if not isinstance(data, np.ndarray):                   # an .npz archive
        with data:
            if len(data.files) != 1:
                raise DataError(f"{path!r} holds {len(data.files)} arrays ({', '.join(data.files)}); "
                                "save the input alone with np.save('x.npy', x).")
            data = data[data.files[0]]
    if data.ndim == 2:                                     # one sample (timesteps, features)
        return data[None], True
    return data, False


MAX_NPZ_BYTES = 1 << 30   # an .npz whose arrays declare more is refused before reading


def several_inputs(model: Any) -> bool:
    return len(getattr(model, "inputs", None) or ()) > 1


def load_inputs(path: str, model: Any) -> dict[str, np.ndarray]:
    """The arrays of a model with several inputs, from one .npz holding one array per
    input name (``np.savez('x.npz', enc=a, dec=b)``)."""
    import zipfile

    names = [t.name for t in model.inputs]
    hint = f"np.savez('x.npz', {', '.join(f'{n}=...' for n in names)})"
    if not zipfile.is_zipfile(path):
        raise ConfigError(f"the model has {len(names)} inputs ({', '.join(names)}): give them "
                          f"as one .npz with an array per input name, e.g. {hint}; {path!r} is not one.")
    try:
        with zipfile.ZipFile(path) as zf:
            declared = sum(info.file_size for info in zf.infolist())
        if declared > MAX_NPZ_BYTES:
            raise DataError(f"{path!r} declares {declared:,} bytes of arrays; refused "
                            f"(limit {MAX_NPZ_BYTES:,}).")
        with np.load(path, allow_pickle=False) as data:
            missing = [n for n in names if n not in data.files]
            if missing:
                raise DataError(f"{path!r} holds {data.files}; the model's inputs are {names} "
                                f"(no {missing}). Save them by name: {hint}.")
            return {n: np.array(data[n]) for n in names}
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        if isinstance(err, UnrolledError):
            raise
        raise DataError(f"cannot read {path!r} as a NumPy .npz file: {err}") from err


def forecaster_or_none(path: str) -> Any:
    """The Forecaster in ``path``, or None for a model file without forecasting metadata."""
    if not path.endswith(".keras") or not os.path.isfile(path):
        return None
    from ..forecast.model_file import KEY, load_forecaster
    from ..io.keras_file import read_extra

    if not isinstance((read_extra(path) or {}).get(KEY), dict):
        return None
    return load_forecaster(path)


def load_model_file(path: str) -> Any:
    if not os.path.exists(path):
        raise ConfigError(f"model file not found: {path}")
    if os.path.isdir(path):
        raise ConfigError(f"{path} is a directory; give the model file itself.")
    import unrolled

    return unrolled.load_model(path, compile=False)


def load_subject(model_path: str, data: str | None, seed: int = 0,
                 timesteps: int | None = None, score: bool = True) -> Subject:
    """The model in ``model_path`` and its input from ``data`` (CSV for a forecaster,
    .npy otherwise), or a seeded random input when ``data`` is None. ``score``: for a
    forecaster on a CSV with its targets, also evaluate it there (the report's forecast
    section)."""
    rng = np.random.default_rng(seed)
    if not os.path.exists(model_path):
        raise ConfigError(f"model file not found: {model_path}")
    fc = forecaster_or_none(model_path)
    if fc is not None:
        return _forecaster_subject(fc, data, rng, score)
    model = load_model_file(model_path)
    if data is not None:
        if data.lower().endswith((".csv", ".tsv", ".txt")):
            raise ConfigError(f"{model_path} is not a forecaster (it has no column names or "
                              "scaling), so it cannot read a CSV: give the input as a .npy "
                              "array of shape (batch, timesteps, features).")
        if several_inputs(model):
            xs = load_inputs(data, model)
            return Subject(model, xs, None, f"{data}: " + ", ".join(f"{k} {v.shape}" for k, v in xs.items()))
        x, added = load_array(data)
        return Subject(model, x, None, f"{data}, shape {x.shape}" + (" (batch axis added)" if added else ""))
    if several_inputs(model):
        names = [t.name for t in model.inputs]
        raise ConfigError(f"{model_path} has {len(names)} inputs ({', '.join(names)}): give them "
                          "as one .npz holding an array per input name, e.g. "
                          f"np.savez('x.npz', {', '.join(f'{n}=...' for n in names)}).")
    shape = getattr(model, "input_batch_shape", None)
    if shape is None or len(shape) != 3 or shape[2] is None:
        raise ConfigError(f"{model_path} has no known (timesteps, features) input shape; "
                          "pass the input as a .npy file.")
    steps = shape[1] or timesteps or 6
    dtype = getattr(model.layers[0], "dtype", np.float32) if getattr(model, "layers", None) else np.float32
    x = rng.standard_normal((1, steps, shape[2])).astype(dtype)
    return Subject(model, x, None, f"a RANDOM standard-normal input of shape {x.shape} (seed {seed}): "
                   "no data was given, so these numbers show the mechanism, not your data")


def _forecaster_subject(fc: Any, data: str | None, rng: np.random.Generator,
                        score: bool = True) -> Subject:
    from ..forecast import evaluate, forecast

    spec = fc.spec
    names = list(spec.inputs)         # CSV features, then seasonal lags and calendar inputs
    if data is None:
        if fc.window is not None:
            return Subject(fc.model, fc.window.x[None], names, fc.window.note(), fc,
                           stored_window=True)
        x = rng.standard_normal((1, spec.window, len(names))).astype(np.float32)
        return Subject(fc.model, x, names,
                       f"a RANDOM window of {spec.window} rows (standard normal in the model's "
                       "scaled units, i.e. around the training means): no data was given and "
                       "the model file holds no validation window (files from unrolled train "
                       "before it stored one), so these numbers show the mechanism, not your "
                       "data", fc)
    if data.lower().endswith((".npy", ".npz")):
        x, _ = load_array(data)
        return Subject(fc.model, x, names, f"{data} (already scaled windows), shape {x.shape}", fc)
    result = forecast(fc, data, every_window=True)
    subject = Subject(fc.model, result.x, names,
                      f"{len(result.x)} window(s) of {spec.window} rows from {data}, scaled with "
                      "the training statistics stored in the model; the last window ends at "
                      f"{result.last_input[-1]}", fc)
    if not score:
        return subject
    try:
        subject.evaluation = evaluate(fc, data)
    except UnrolledError as err:   # e.g. the targets are not in DATA
        subject.evaluation_note = f"No forecast-vs-truth section: {err}"
    return subject
