"""`unrolled demo`: the default forecaster on the held-out test part (reduced epochs): never
worse than persistence beyond noise, every baseline reported, the file forecasts again."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from unrolled import forecast
from unrolled.cli import main
from unrolled.forecast import demo

CI_EPOCHS = 30  # seed 0, full run (48 epochs): MAE 2.17 °C vs persistence 2.25, ridge 2.25


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("demo") / "output"  # created by the demo
    lines: list[str] = []
    result = demo.run_demo(epochs=CI_EPOCHS, output_dir=str(out_dir), print_fn=lines.append)
    return result, "\n".join(lines), out_dir


def test_the_model_is_no_worse_than_any_baseline_on_the_test_part(run):
    result, text, _ = run
    cmp = result.comparison
    assert set(cmp.baselines) == {"persistence", "training mean", "ridge"}
    for name in cmp.baselines:
        assert cmp.margins[name].verdict != "worse", name
    assert cmp.model.mae < min(s.mae for s in cmp.baselines.values())
    assert cmp.model.rmse < cmp.persistence.rmse
    assert cmp.margins["training mean"].verdict == "better"
    assert cmp.samples == len(result.data.test.x) == 219
    assert 2.0 < cmp.persistence.mae < 2.5  # °C: the data's units, not standardised ones
    assert result.epochs_run <= CI_EPOCHS


def test_demo_report_names_units_baselines_and_files(run):
    result, text, out_dir = run
    assert "inputs  (4): precipitation, temp_max, temp_min, wind" in text
    assert "ignored 'weather'" in text
    assert "train      2012-01-01 .. 2014-10-19" in text
    assert "Where the parameters come from" in text
    assert "(°C)" in text and "persistence" in text and "training mean" in text
    assert "model MAE" in text and "% lower" in text and "the best baseline" in text
    assert "Target transform: level" in text and "90 % intervals" in text
    assert f"Wrote the trained model: {result.model_path}" in text
    assert result.model_path == os.path.join(str(out_dir), demo.MODEL_FILE)
    if result.plot_path is not None:
        assert f"Wrote forecast vs truth on the test part: {result.plot_path}" in text
        with open(result.plot_path, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_the_saved_demo_model_forecasts_the_test_part_again(run):
    result, _, _ = run
    fc = forecast.load_forecaster(result.model_path)
    assert fc.spec.features == ["precipitation", "temp_max", "temp_min", "wind"]
    assert fc.spec.units["temp_max"] == "°C"
    again = forecast.assess(fc, result.data.test).comparison
    assert again.model.mae == pytest.approx(result.comparison.model.mae, rel=1e-6)
    assert again.baselines["ridge"].mae == pytest.approx(
        result.comparison.baselines["ridge"].mae, rel=1e-12)


def test_without_matplotlib_the_plot_is_skipped_with_the_extra_named(tmp_path, monkeypatch):
    monkeypatch.setattr(demo, "have_matplotlib", lambda: False)
    lines: list[str] = []
    result = demo.run_demo(epochs=1, output_dir=str(tmp_path), quiet=True,
                           print_fn=lines.append)
    assert result.plot_path is None
    assert "pip install 'unrolled[plot]'" in "\n".join(lines)
    assert sorted(os.listdir(tmp_path)) == [demo.MODEL_FILE]


def test_cli_passes_its_options_to_the_demo(monkeypatch, tmp_path):
    seen = {}
    monkeypatch.setattr(demo, "run_demo", lambda **kw: seen.update(kw))
    assert main(["demo", "--epochs", "3", "--output-dir", str(tmp_path), "--quiet",
                 "--no-report"]) == 0
    assert seen == {"epochs": 3, "output_dir": str(tmp_path), "quiet": True}
    seen.clear()
    assert main(["demo", "--no-report"]) == 0
    assert seen == {"epochs": demo.EPOCHS, "output_dir": demo.OUTPUT_DIR, "quiet": False}


def test_the_demo_writes_the_inspect_report(run, tmp_path):
    pytest.importorskip("matplotlib")
    from unrolled.commands.demo import write_demo_report

    result, _, _ = run
    path = write_demo_report(result, str(tmp_path / "demo.html"))
    with open(path, encoding="utf-8") as f:
        html = f.read()
    assert "<script" not in html.lower()
    assert f"the {len(result.data.test.x)} windows of the held-out test part" in html
    for name in ("precipitation", "temp_max", "temp_min", "wind", "persistence", "every input feeds every gate"):
        assert name in html
    from tests.inspect.test_report import console_errors, render

    dom, shot, log = render(Path(path), tmp_path)
    assert console_errors(log) == [] and shot[..., :3].std() > 0.05
    assert "held-out test part" in dom


def test_cli_demo_says_where_the_report_is(monkeypatch, tmp_path, capsys):
    from unrolled.commands import demo as demo_command

    monkeypatch.setattr(demo, "run_demo", lambda **kw: "result")
    monkeypatch.setattr(demo_command, "write_demo_report", lambda result, path: path)
    assert main(["demo", "--output-dir", str(tmp_path), "--quiet"]) == 0
    assert f"Wrote the inspect report" in capsys.readouterr().out
    assert main(["demo", "--report", str(tmp_path / "r.html")]) == 0
    assert str(tmp_path / "r.html") in capsys.readouterr().out
    assert main(["demo", "--report", "r.txt"]) == 2
    assert main(["demo", "--report", "r.html", "--no-report"]) == 2
