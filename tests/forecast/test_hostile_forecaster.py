"""A forecaster file whose ``unrolled.json`` (or model) lies: ModelFileError from the API,
exit 2 with the message from the CLI, quickly and within a small memory budget."""
from __future__ import annotations

import json
import os
import time
import tracemalloc
import zipfile

import pytest

from tests.forecast import series, write_csv
from unrolled.cli import main
from unrolled.errors import ModelFileError
from unrolled.forecast.model_file import KEY, load_forecaster

MB = 1 << 20


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    d = tmp_path_factory.mktemp("fc")
    data = write_csv(d / "data.csv", series(80))
    model = d / "model.keras"
    # --no-linear: a Sequential network, whose config the edits below know how to damage
    assert main(["train", str(data), "--target", "temp", "--window", "4", "--units", "2",
                 "--epochs", "1", "--no-linear", "--no-plot", "-o", str(model)]) == 0
    return data, model


def _rewrite(src, dst, meta_edit=None, config_edit=None) -> None:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for name in zin.namelist():
            data = zin.read(name)
            if name == "unrolled.json" and meta_edit is not None:
                extra = json.loads(data)
                meta_edit(extra[KEY])
                data = json.dumps(extra).encode()
            if name == "config.json" and config_edit is not None:
                config = json.loads(data)
                config_edit(config)
                data = json.dumps(config).encode()
            zout.writestr(name, data)


def _set(path: str, value):
    def edit(meta):
        *parents, last = path.split(".")
        node = meta
        for key in parents:
            node = node[key]
        node[last] = value
    return edit


def _horizon_3(meta):
    """A consistent format-2 metadata claiming horizon 3 (so only the model disagrees)."""
    spec = meta["spec"]
    spec.update(horizon=3, linear=False, lags=[], season=None)
    meta.update(ridge=None, intervals=None)
    for key in ("mean", "scale"):
        meta["scaler_z"][key] = meta["scaler_z"][key][:1] * 3
    meta["scaler_z"]["columns"] = ["temp@1", "temp@2", "temp@3"]


def _window(n):
    def edit(config):
        config["build_config"]["input_shape"][1] = n
        config["config"]["layers"][0]["config"]["batch_shape"][1] = n
    return edit


CASES = {
    "window_2e7": (_set("spec.window", 20_000_000), None, "spec.window should be an integer"),
    "window_1e10": (_set("spec.window", 10 ** 10), None, "spec.window"),
    "window_text": (_set("spec.window", "14"), None, "spec.window"),
    "window_float": (_set("spec.window", 4.0), None, "spec.window"),
    "features_not_list": (_set("spec.features", "temp"), None, "spec.features"),
    "features_numbers": (_set("spec.features", [1, 2]), None, "spec.features"),
    "unknown_spec_key": (_set("spec.evil", 1), None, "keys among"),
    "fill_unknown": (_set("spec.fill", "zeros"), None, "spec.fill"),
    "scale_zero": (_set("scaler_y.scale", [0.0]), None, "scaler_y.scale"),
    "scale_short": (_set("scaler_x.mean", [1.0]), None, "scaler_x.mean"),
    "mean_nan": (_set("scaler_y.mean", [float("nan")]), None, "scaler_y.mean"),
    "format": (_set("format", 99), None, "format 99"),
    "not_object": (lambda m: m.clear(), None, "the metadata should be"),
    "training_list": (_set("training", [1]), None, "training"),
    "model_window_huge": (lambda m: _horizon_3(m), _window(5_000_000),
                          "does not match the model"),
    "model_window_over_cap": (None, _window(10 ** 12), "MAX_INPUT_VALUES"),
}


@pytest.mark.parametrize("case", CASES)
def test_hostile_metadata_is_model_file_error_quickly(trained, tmp_path, capsys, case):
    meta_edit, config_edit, message = CASES[case]
    data, good = trained
    bad = tmp_path / "bad.keras"
    _rewrite(good, bad, meta_edit, config_edit)
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(ModelFileError, match=message.replace(".", r"\.")):
            load_forecaster(bad)
    finally:
        seconds, peak = time.perf_counter() - start, tracemalloc.get_traced_memory()[1] / MB
        tracemalloc.stop()
    assert seconds < 3 and peak < 30, (seconds, peak)
    assert main(["predict", str(bad), str(data)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("unrolled predict: error: ") and message in err
    assert sorted(os.listdir(tmp_path)) == ["bad.keras"]


@pytest.mark.parametrize("command", ["predict", "evaluate"])
def test_directory_or_missing_model_exits_2_without_traceback(trained, tmp_path, capsys, command):
    data, _ = trained
    assert main([command, str(tmp_path), str(data)]) == 2
    err = capsys.readouterr().err
    assert err == f"unrolled {command}: error: {tmp_path} is a directory, not a model file.\n"
    assert main([command, str(tmp_path / "nope.keras"), str(data)]) == 2
    assert "model file not found" in capsys.readouterr().err
    assert main([command, str(trained[1]), str(tmp_path)]) == 2
    assert "is a directory, not a CSV file" in capsys.readouterr().err


def test_a_huge_window_that_fits_costs_nothing_until_data_is_given(trained, tmp_path, capsys):
    data, good = trained
    bad = tmp_path / "big.keras"
    def window_without_linear_path(meta):  # the ridge kernel would no longer fit the window
        _set("spec.window", 5_000_000)(meta)
        meta["spec"]["linear"] = False
        meta["ridge"] = None
        meta.pop("inspect_window", None)   # never stored for a window this large

    _rewrite(good, bad, window_without_linear_path, _window(5_000_000))
    tracemalloc.start()
    start = time.perf_counter()
    try:
        fc = load_forecaster(bad)
    finally:
        seconds, peak = time.perf_counter() - start, tracemalloc.get_traced_memory()[1] / MB
        tracemalloc.stop()
    assert fc.spec.window == 5_000_000 and seconds < 3 and peak < 30
    assert main(["predict", str(bad), str(data)]) == 2
    assert "has 80 rows but the model reads windows of 5000000 rows" in capsys.readouterr().err
