"""The small, valid files the fuzzer mutates, one per loader, written into a folder."""
from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

import numpy as np

import unrolled
from unrolled.layers import GRU, LSTM, Dense, Dropout, Masking, SimpleRNN

# loader kind -> seed file name
SEEDS = {
    "keras": "trained.keras",
    "keras_plain": "plain.keras",
    "weights": "trained.weights.h5",
    "forecaster": "forecaster.keras",
    "torch": "lstm.pt",
    "safetensors": "lstm.safetensors",
    "onnx": "model.onnx",
    "h5": "legacy.h5",
}


def trained_model() -> unrolled.Sequential:
    """Compiled, one step trained (so the file holds optimizer variables)."""
    unrolled.set_random_seed(0)
    model = unrolled.Sequential([unrolled.Input((5, 3)), LSTM(4, return_sequences=True),
                                 GRU(3), Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    rng = np.random.default_rng(0)
    model.fit(rng.normal(size=(4, 5, 3)).astype("f4"), rng.normal(size=(4, 2)).astype("f4"),
              epochs=1, verbose=0)
    return model


def write_seeds(folder: str, with_torch: bool = True) -> dict[str, str]:
    """Write every seed file; returns kind -> path."""
    from unrolled.models.saving import save_model, save_weights

    paths = {kind: os.path.join(folder, name) for kind, name in SEEDS.items()}
    model = trained_model()
    save_model(model, paths["keras"])
    try:
        save_model(model, paths["h5"])   # Keras's legacy HDF5 model format
    except Exception:  # noqa: BLE001 - a writer without .h5: that loader is not fuzzed
        del paths["h5"]
    save_weights(model, paths["weights"])
    plain = unrolled.Sequential([unrolled.Input((4, 2)), Masking(0.0), SimpleRNN(3),
                                 Dropout(0.2), Dense(1)])
    save_model(plain, paths["keras_plain"])
    _forecaster(folder, paths["forecaster"])
    if with_torch:
        import torch

        torch.manual_seed(0)
        torch.save(torch.nn.LSTM(3, 4).state_dict(), paths["torch"])
    else:
        del paths["torch"]
    try:
        from unrolled.io.safetensors_file import write_safetensors
        from unrolled.io.torch_weights import to_torch_state_dict

        write_safetensors(paths["safetensors"], to_torch_state_dict(model.layers[0]))
    except ImportError:
        del paths["safetensors"]
    try:
        from unrolled.io import export_onnx

        export_onnx(model, paths["onnx"])
    except ImportError:
        del paths["onnx"]
    return paths


def _forecaster(folder: str, path: str) -> None:
    from tests.forecast import series, write_csv
    from unrolled.cli import main

    data = write_csv(Path(folder) / "series.csv", series(40))
    with contextlib.redirect_stdout(io.StringIO()):
        code = main(["train", str(data), "--target", "temp", "--window", "3", "--units", "2",
                     "--epochs", "1", "-o", path])
    assert code == 0
