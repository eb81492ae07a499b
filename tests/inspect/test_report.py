"""The HTML report: self-contained, renders in headless Chromium without console errors,
shows the parameter count, every column name and the top-ranked feature; `unrolled
inspect` works on a forecaster trained here and on a model saved by Keras."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import unrolled
from unrolled.inspect.attributions import attributions
from unrolled.inspect.report import report, write_report
from unrolled.layers import LSTM, Dense, Masking
from tests.peers import require

pytest.importorskip("matplotlib")
ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--enable-logging=stderr", "--v=0"]


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    message = "headless Chromium is not installed (Debian package 'chromium'; .ci/run installs it)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def render(html_path: Path, tmp_path: Path) -> tuple[str, np.ndarray, str]:
    """(the DOM text Chromium built, the screenshot as an RGB(A) array, its log)."""
    browser = _chromium()
    url = html_path.resolve().as_uri()
    common = CHROMIUM_FLAGS + [f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([browser, *common, "--dump-dom", url], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    shot = tmp_path / "shot.png"
    run = subprocess.run([browser, *common, "--window-size=1200,2400", f"--screenshot={shot}", url],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and shot.exists(), run.stderr[-2000:]
    import matplotlib.image

    return dom.stdout, matplotlib.image.imread(str(shot)), dom.stderr + run.stderr


def console_errors(log: str) -> list[str]:
    """Lines of Chromium's log that report a page problem (dbus noise is the sandbox's)."""
    return [line for line in log.splitlines()
            if re.search(r"CONSOLE|Uncaught|Failed to load resource|ERR_FILE_NOT_FOUND|net::ERR", line)]


def _model():
    unrolled.set_random_seed(0)
    model = unrolled.Sequential([unrolled.Input((8, 3)), Masking(), LSTM(4), Dense(1)])
    rng = np.random.default_rng(0)
    for layer in model.layers:
        for w in layer.weights:
            w[...] = rng.uniform(-0.6, 0.6, size=w.shape)
    return model


def test_report_is_self_contained_and_renders(tmp_path):
    model = _model()
    x = np.random.default_rng(1).normal(size=(5, 8, 3)).astype(np.float32)
    names = ["temp_max", "wind", "precipitation"]
    path = Path(write_report(str(tmp_path / "r.html"), model, x, feature_names=names))
    text = path.read_text(encoding="utf-8")
    assert "<script" not in text.lower()
    assert not re.search(r"(src|href)\s*=\s*['\"](?!data:)", text), "everything must be embedded"
    dom, shot, log = render(path, tmp_path)
    assert console_errors(log) == []
    visible = re.sub(r"<[^>]+>", " ", dom)
    assert str(model.count_params()) in visible
    for name in names:
        assert name in visible
    top = attributions(model, x, sample=-1, feature_names=names).ranked(1)[0][0]
    assert re.search(rf"rank.*?1\s+{top}", visible, re.S)
    pixels = shot[..., :3]
    assert pixels.std() > 0.05 and (pixels < 0.5).mean() > 0.001     # not blank
    for section in ("every input feeds every gate", "Gates and states", "What drove", "Each unit"):
        assert section in visible


def test_report_of_a_model_without_recurrent_layers_says_so():
    model = unrolled.Sequential([unrolled.Input((4, 2)), Dense(1)])
    html = report(model, np.ones((1, 4, 2), np.float32))
    assert "no LSTM, GRU or SimpleRNN layer" in html


def _cli(*args, cwd):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "MPLBACKEND": "Agg"}
    return subprocess.run([sys.executable, "-m", "unrolled", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def test_inspect_a_forecaster_trained_on_the_bundled_data(tmp_path):
    from unrolled import datasets

    csv = tmp_path / "weather.csv"
    shutil.copy(Path(datasets.__file__).with_name("seattle_weather.csv"), csv)
    train = _cli("train", str(csv), "--target", "temp_max", "--window", "7", "--units", "4",
                 "--epochs", "2", "-o", "w.keras", cwd=tmp_path)
    assert train.returncode == 0, train.stderr
    out = _cli("inspect", "w.keras", str(csv), "-o", "w.html", "--units", "0,3", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "Wrote the report to w.html" in out.stdout
    html = (tmp_path / "w.html").read_text(encoding="utf-8")
    for column in ("precipitation", "temp_max", "temp_min", "wind"):
        assert column in html
    assert "temp_max step 1 (in the data" in html and "persistence" in html
    dom, shot, log = render(tmp_path / "w.html", tmp_path)
    assert console_errors(log) == [] and shot[..., :3].std() > 0.05
    stored = _cli("inspect", "w.keras", "-o", "r.html", cwd=tmp_path)   # no DATA
    assert stored.returncode == 0 and "validation window stored in the model file" in stored.stdout
    assert "validation window stored in the model file" in (tmp_path / "r.html").read_text(encoding="utf-8")
    bad = _cli("inspect", "w.keras", str(csv), "-o", "r.txt", cwd=tmp_path)
    assert bad.returncode == 2 and "ending in .html" in bad.stderr and "Traceback" not in bad.stderr


def test_inspect_a_model_saved_by_keras(tmp_path):
    keras = require("keras")
    model = keras.Sequential([keras.Input((6, 2)), keras.layers.LSTM(3), keras.layers.Dense(1)])
    model.save(tmp_path / "k.keras")
    np.save(tmp_path / "x.npy", np.random.default_rng(0).normal(size=(4, 6, 2)).astype(np.float32))
    out = _cli("inspect", "k.keras", "x.npy", "-o", "k.html", "--window", "2", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    html = (tmp_path / "k.html").read_text(encoding="utf-8")
    assert "window 2 of 4" in html and str(model.count_params()) in html
    csv = _cli("inspect", "k.keras", "x.csv", "-o", "k2.html", cwd=tmp_path)
    assert csv.returncode == 2 and "not a forecaster" in csv.stderr
