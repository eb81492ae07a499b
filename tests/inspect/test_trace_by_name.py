"""`unrolled trace --model F.keras DATA.csv`: a forecaster trained here on the bundled data
is traced on that CSV with its own columns, scaling and window; feature names appear
wherever inputs are listed; the validation window stored in the file is used without
DATA, checked on load, and its absence said plainly."""
from __future__ import annotations

import json
import re
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from unrolled import forecast
from unrolled.cli import main
from unrolled.errors import ModelFileError
from unrolled.forecast.stored_window import MAX_VALUES

COLUMNS = ["precipitation", "temp_max", "temp_min", "wind"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from unrolled import datasets

    d = tmp_path_factory.mktemp("trace_by_name")
    csv = d / "weather.csv"
    shutil.copy(Path(datasets.__file__).with_name("seattle_weather.csv"), csv)
    model = d / "w.keras"
    assert main(["train", str(csv), "--target", "temp_max", "--window", "5", "--units", "3",
                 "--epochs", "1", "-o", str(model)]) == 0
    return csv, model


def _run(capsys, *args):
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def _row(text: str, t: int) -> list[float]:
    line = next(l for l in text.splitlines() if re.match(rf"\s+{t} │", l))
    return [float(v) for v in re.findall(r"[+-]\d+\.\d+", line)]


def test_trace_a_forecaster_on_its_csv_by_column_name(trained, capsys):
    csv, model = trained
    code, out, _ = _run(capsys, "trace", "--model", str(model), str(csv), "--unit", "1")
    assert code == 0
    fc = forecast.load_forecaster(model)
    windows = forecast.forecast(fc, str(csv), every_window=True)
    n = len(windows.x)
    assert f"showing window {n - 1} of {n} (the last)" in out
    assert f"the last window ends at {windows.last_input[-1]}" in out
    assert "Inputs: " + ", ".join(COLUMNS) in out
    header = next(l for l in out.splitlines() if l.lstrip().startswith("t │"))
    assert header.split("│")[1].split() == COLUMNS
    for name in COLUMNS:                                   # the contributions, by name
        assert re.search(rf"^\s+{name}·kernel_\*\[\d, 1\]", out, re.M)
    # the inputs are the stored scaling of the CSV's last window, and h is the LSTM's output
    last = _row(out, 4)
    np.testing.assert_allclose(last[:4], windows.x[-1, -1], atol=6e-5)
    lstm = fc.model.get_layer("lstm")
    h = lstm(windows.x[-1:])                               # (1, units): the last step
    assert last[-1] == pytest.approx(float(h[0, 1]), abs=6e-5)


def test_window_option_and_errors(trained, capsys):
    csv, model = trained
    code, out, _ = _run(capsys, "trace", "--model", str(model), str(csv), "--window", "0")
    assert code == 0 and re.search(r"showing window 0 of \d+;?", out)
    first = forecast.forecast(forecast.load_forecaster(model), str(csv), every_window=True).x[0]
    np.testing.assert_allclose(_row(out, 0)[:4], first[0], atol=6e-5)
    code, _, err = _run(capsys, "trace", "--model", str(model), str(csv), "--window", "99999")
    assert code == 2 and "must be in [0, " in err
    code, _, err = _run(capsys, "trace", "--model", str(model), str(csv), "--feature-names", "a,b,c,d")
    assert code == 2 and "columns it was trained on" in err
    code, _, err = _run(capsys, "trace", str(csv))
    assert code == 2 and "need --model" in err


def test_plots_name_the_features(trained, tmp_path, capsys):
    csv, model = trained
    code, _, _ = _run(capsys, "trace", "--model", str(model), str(csv), "--plot", str(tmp_path / "g.png"),
                      "--plot-weights", str(tmp_path / "w.png"))
    assert code == 0 and (tmp_path / "g.png").exists() and (tmp_path / "w.png").exists()
    from unrolled.inspect.plots import plot_gates, plot_weights
    from unrolled.inspect.trace import trace

    fc = forecast.load_forecaster(model)
    x = forecast.forecast(fc, str(csv)).x
    tr = trace(fc.model, x, feature_names=COLUMNS)
    legend = plot_gates(tr).axes[0].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == COLUMNS
    fig = plot_weights(fc.model, feature_names=COLUMNS)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == COLUMNS


def test_plain_model_takes_feature_names(tmp_path, capsys):
    import unrolled
    from unrolled.layers import LSTM, Dense

    model = unrolled.Sequential([unrolled.Input((4, 2)), LSTM(2), Dense(1)])
    model.save(tmp_path / "m.keras")
    np.save(tmp_path / "x.npy", np.random.default_rng(0).normal(size=(3, 4, 2)).astype(np.float32))
    code, out, _ = _run(capsys, "trace", "--model", str(tmp_path / "m.keras"), str(tmp_path / "x.npy"),
                        "--feature-names", "price,volume")
    assert code == 0 and "Inputs: price, volume" in out and "showing window 2 of 3 (the last)" in out
    assert re.search(r"^\s+volume·kernel_\*\[1, 0\]", out, re.M)
    code, out, _ = _run(capsys, "trace", "--model", str(tmp_path / "m.keras"))
    assert code == 0 and "Inputs: x[0], x[1]" in out
    code, _, err = _run(capsys, "trace", "--model", str(tmp_path / "m.keras"), "--feature-names", "a")
    assert code == 2 and "1 name(s) for 2 feature(s)" in err
    code, _, err = _run(capsys, "trace", "--model", str(tmp_path / "m.keras"), str(tmp_path / "x.csv"))
    assert code == 2 and "not a forecaster" in err


# -- the stored validation window --------------------------------------------------------
def test_the_file_stores_the_last_validation_window(trained, capsys):
    csv, model = trained
    fc = forecast.load_forecaster(model)
    assert fc.window is not None and fc.window.x.shape == (5, 4)
    windows = forecast.forecast(fc, str(csv), every_window=True)
    k = windows.last_input.index(fc.window.ends)           # the window ending that day
    np.testing.assert_allclose(fc.window.x, windows.x[k], rtol=0, atol=1e-6)
    blocks = fc.training["blocks"]
    assert blocks["val"][0] < k + 5 <= blocks["val"][1] <= blocks["test"][0]   # validation rows
    code, out, _ = _run(capsys, "trace", "--model", str(model))
    assert code == 0 and "validation window stored in the model file" in out
    assert f"ending at {fc.window.ends}" in out and "RANDOM" not in out


def _rewrite(src: Path, dst: Path, change) -> None:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "unrolled.json":
                meta = json.loads(data)
                change(meta["unrolled_forecast"])
                data = json.dumps(meta).encode()
            zout.writestr(item, data)


def test_an_older_file_without_a_window_says_random(trained, tmp_path, capsys):
    _, model = trained
    old = tmp_path / "old.keras"
    _rewrite(model, old, lambda m: m.pop("inspect_window"))
    assert forecast.load_forecaster(old).window is None
    code, out, _ = _run(capsys, "trace", "--model", str(old))
    assert code == 0 and "RANDOM" in out and "holds no validation window" in out


@pytest.mark.parametrize("damage, field", [
    (lambda w: w["x"].pop(), "inspect_window.x should be 5 rows"),
    (lambda w: w["x"][2].__setitem__(1, float("nan")), "inspect_window.x[2] should be"),
    (lambda w: w["x"][0].append(1.0), "inspect_window.x[0] should be"),
    (lambda w: w.__setitem__("ends", "x" * 500), "inspect_window.ends should be"),
    (lambda w: w.__setitem__("extra", 1), "inspect_window.keys should be"),
    (lambda w: w.__setitem__("x", [[0.0] * 4] * (MAX_VALUES)), "inspect_window.x should be"),
])
def test_a_damaged_window_is_refused_on_load(trained, tmp_path, damage, field):
    _, model = trained
    bad = tmp_path / "bad.keras"
    _rewrite(model, bad, lambda m: damage(m["inspect_window"]))
    with pytest.raises(ModelFileError, match=re.escape(field)):
        forecast.load_forecaster(bad)


def test_explain_lists_the_forecasters_columns(trained, capsys):
    _, model = trained
    code, out, _ = _run(capsys, "explain", "--model", str(model))
    assert code == 0 and "Input features (4), in order: " + ", ".join(COLUMNS) in out
    assert "x_t[0] = precipitation, x_t[1] = temp_max, x_t[2] = temp_min, x_t[3] = wind" in out
    code, _, err = _run(capsys, "explain", "--model", str(model), "--feature-names", "a,b,c,d")
    assert code == 2 and "columns it was trained on" in err
    code, _, err = _run(capsys, "explain", "--feature-names", "a")
    assert code == 2 and "needs --model" in err


def test_inspect_a_quantile_forecaster_explains_the_median(trained, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    csv, _ = trained
    model = tmp_path / "q.keras"
    assert main(["train", str(csv), "--target", "temp_max", "--window", "4", "--units", "2",
                 "--epochs", "1", "--quantiles", "0.1,0.5,0.9", "-o", str(model)]) == 0
    capsys.readouterr()
    assert main(["inspect", str(model), "-o", str(tmp_path / "q.html")]) == 0
    html = (tmp_path / "q.html").read_text(encoding="utf-8")
    assert "Integrated gradients of temp_max step 1 quantile 0.5 (in the data" in html
    assert main(["inspect", str(model), "-o", str(tmp_path / "q2.html"), "--output-index", "2"]) == 0
    assert "temp_max step 1 quantile 0.9 (in the data" in (tmp_path / "q2.html").read_text(encoding="utf-8")
