"""``train --per-series``: one model per series on every back end, the same numbers and
weights as a serial run, a broken series reported, a killed run resumed."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest

from unrolled.errors import ConfigError, DataError
from unrolled.forecast.fit import FitConfig
from unrolled.forecast.model_file import load_forecaster
from unrolled.forecast.per_series import (file_stems, finished, read_manifest, train_series,
                                          train_per_series)
from unrolled.parallel import LocalPoolExecutor, SerialExecutor, load_dask_backend

OPTIONS = dict(targets=["sales"], features=None, window=4, horizon=1, time_column="day",
               fill=None, transform="auto", season="auto", calendar=False, linear=True)
CONFIG = FitConfig(units=3, epochs=2, batch_size=16, interval=0.9)
BROKEN = "s13"


def write_series(path, n=50, rows=40, seed=0):
    """``n`` small series (store, day, sales, temp); series ``BROKEN`` has a bad cell."""
    rng = np.random.default_rng(seed)
    lines = ["store,day,sales,temp"]
    for s in range(n):
        t = np.arange(rows)
        temp = 10 + 5 * np.sin(2 * np.pi * t / 7 + s) + rng.normal(0, 1, rows)
        sales = rng.uniform(5, 50) + 0.3 * temp + rng.normal(0, 1, rows)
        for i in range(rows):
            cell = "oops" if (f"s{s:02d}" == BROKEN and i == 5) else f"{sales[i]:.4f}"
            lines.append(f"s{s:02d},{i},{cell},{temp[i]:.4f}")
    path.write_text("\n".join(lines) + "\n")
    return str(path)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_series(tmp_path_factory.mktemp("many") / "stores.csv")


def _train(data, out, executor):
    with executor:
        return train_per_series(data, "store", OPTIONS, CONFIG, str(out), executor, seed=0)


def _model_files(run):
    """Every member of every model file (``metadata.json`` without its save time)."""
    out = {}
    for name, path in run.files.items():
        if name in run.failures:
            continue
        with zipfile.ZipFile(path) as z:
            members = {m: z.read(m) for m in z.namelist()}
        meta = json.loads(members["metadata.json"])
        assert meta.pop("date_saved")
        members["metadata.json"] = json.dumps(meta).encode()
        out[name] = members
    return out


@pytest.fixture(scope="module")
def serial(data, tmp_path_factory):
    return _train(data, tmp_path_factory.mktemp("serial"), SerialExecutor(root_seed=0))


def test_serial_run_trains_49_and_reports_the_broken_series(serial):
    assert list(serial.failures) == [BROKEN]
    err = serial.failures[BROKEN]
    assert err.type == "DataError" and "'oops'" in err.message, err.message
    assert len(serial.metrics) == 49 and not serial.skipped
    for name, m in serial.metrics.items():
        assert m["mae"] > 0 and "persistence" in m["baselines"] and m["windows"] > 0
    assert not os.path.exists(serial.files[BROKEN])
    assert read_manifest(serial.out_dir)["series"]["s00"] == "s00.keras"
    fc = load_forecaster(serial.files["s00"])     # a forecaster `unrolled predict` reads
    assert fc.spec.window == 4 and fc.spec.targets == ["sales"]


def test_each_model_is_the_one_train_gives_that_series_alone(serial, data):
    from unrolled.data import as_table
    from unrolled.forecast.many import split_series

    part = split_series(as_table(data), "store")["s07"]
    alone = train_series("s07", part, OPTIONS, CONFIG, seed=0)
    assert alone.metrics == serial.metrics["s07"]


@pytest.mark.parametrize("backend", ["local pool", "dask"])
def test_same_metrics_and_weights_as_serial(backend, serial, data, tmp_path, request):
    if backend == "dask":
        client = request.getfixturevalue("dask_client")
        ex = load_dask_backend().DaskExecutor(client=client, root_seed=0)
    else:
        ex = LocalPoolExecutor(2, root_seed=0)
    run = _train(data, tmp_path, ex)
    assert list(run.failures) == [BROKEN]
    assert run.metrics == serial.metrics            # every float, bit for bit
    ours, theirs = _model_files(run), _model_files(serial)
    assert list(ours) == list(theirs) and len(ours) == 49
    for name in ours:      # weights (model.weights.h5), config, forecaster metadata: same bytes
        assert ours[name] == theirs[name], name
    assert "pickled in all" in run.shipping


def test_a_killed_run_resumes_without_retraining(data, tmp_path):
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    cmd = [sys.executable, "-m", "unrolled", "train", data, "--target", "sales",
           "--series-column", "store", "--per-series", "-o", str(out), "--window", "4",
           "--units", "3", "--epochs", "2", "--batch-size", "16", "--time-column", "day",
           "--jobs", "1"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(out.glob("*.keras"))) < 35:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = {p.name: p.stat().st_mtime_ns for p in out.glob("*.keras")}
    assert 35 <= len(done) < 49, "the run was not killed halfway"
    plan = []
    with SerialExecutor(root_seed=0) as ex:
        run = train_per_series(data, "store", OPTIONS, CONFIG, str(out), ex, seed=0,
                               on_plan=lambda todo, skipped: plan.append((todo, skipped)))
    assert plan == [(50 - len(done), len(done))]
    assert sorted(run.skipped) == sorted(n[:-len(".keras")] for n in done)
    for name, mtime in done.items():
        assert (out / name).stat().st_mtime_ns == mtime      # not rewritten
    assert len(list(out.glob("*.keras"))) == 49 and list(run.failures) == [BROKEN]
    assert not [p for p in os.listdir(out) if p.endswith(".tmp")]


def test_other_settings_in_the_same_folder_are_refused(serial, data):
    with pytest.raises(ConfigError, match="other settings.*units: 3 before, 5 now"):
        train_per_series(data, "store", OPTIONS, FitConfig(units=5, epochs=1),
                         serial.out_dir, SerialExecutor(), seed=0)


def test_a_partial_file_is_not_finished(tmp_path):
    good = tmp_path / "a.keras"
    with zipfile.ZipFile(good, "w") as z:
        z.writestr("config.json", "{}" * 1000)
    assert finished(str(good))
    cut = tmp_path / "b.keras"
    cut.write_bytes(good.read_bytes()[:-30])
    assert not finished(str(cut)) and not finished(str(tmp_path / "none.keras"))


def test_file_names_are_safe_and_never_collide():
    stems = file_stems(["s1", "a/b", "a_b", "../x", "Store", "store", ".hidden", "ü"])
    assert stems["s1"] == "s1" and stems["a_b"] == "a_b"
    assert stems["a/b"].startswith("a_b-") and stems["../x"].startswith("_x-")
    assert stems["Store"] != stems["store"] and stems["Store"].lower() != stems["store"].lower()
    assert all("/" not in s and not s.startswith(".") for s in stems.values())
    assert len({s.casefold() for s in stems.values()}) == len(stems)


def test_a_series_above_the_memory_cap_is_refused(data):
    from unrolled.data import as_table
    from unrolled.forecast.many import split_series

    part = split_series(as_table(data), "store")["s01"]
    with pytest.raises(DataError, match=r"series 's01' \(40 rows\).*cap of 0 MB"):
        train_series("s01", part, OPTIONS, CONFIG, seed=0, cap_mb=0.001)


def test_predict_and_evaluate_take_the_folder(serial, data, tmp_path, capsys):
    from unrolled.cli import main
    from unrolled.data import as_table
    from unrolled.forecast import evaluate, forecast
    from unrolled.forecast.many import split_series
    from unrolled.forecast.per_series_apply import evaluate_folder, forecast_folder

    res = forecast_folder(serial.out_dir, data, every_window=True)
    assert list(res.problems) == [BROKEN] and "no model" in res.problems[BROKEN]
    names = np.array(res.forecasts.series[1])
    part = split_series(as_table(data, time_column=None), "store")["s07"]
    alone = forecast(load_forecaster(serial.files["s07"]), part, every_window=True)
    np.testing.assert_array_equal(res.forecasts.values[names == "s07"], alone.values)
    assert len(set(names)) == 49
    ev = evaluate_folder(serial.out_dir, data, series=["s03", "s04"])
    assert list(ev.comparisons) == ["s03", "s04"] and not ev.problems
    one = evaluate(load_forecaster(serial.files["s04"]), split_series(
        as_table(data, time_column=None), "store")["s04"]).comparison
    assert ev.comparisons["s04"].model == one.model

    out = tmp_path / "f.csv"
    assert main(["predict", serial.out_dir, data, "-o", str(out)]) == 1   # one series had no model
    lines = out.read_text().splitlines()
    assert lines[0].startswith("store,last_input,step,day,sales") and len(lines) == 50
    assert f"{BROKEN}: DataError: no model" in capsys.readouterr().err
    assert main(["evaluate", serial.out_dir, data, "--series", "s01,s02",
                 "--series-column", "store"]) == 0
    printed = capsys.readouterr().out
    assert "s01" in printed and "s02" in printed and "s03" not in printed


def test_the_command_reports_and_resumes(tmp_path, capsys):
    from unrolled.cli import main

    data = write_series(tmp_path / "few.csv", n=15)      # s13 is broken
    out = tmp_path / "models"
    cmd = ["train", data, "--target", "sales", "--series-column", "store", "--per-series",
           "-o", str(out), "--window", "4", "--units", "3", "--epochs", "1",
           "--time-column", "day", "--jobs", "1"]
    assert main(cmd) == 1                                # as make -k: not every series made it
    printed = capsys.readouterr()
    assert "15 series in column 'store': 0 finished by an earlier run, 15 to train" in printed.out
    assert "best baseline" in printed.out and "s14" in printed.out
    assert "1 series failed (the others are unaffected):\n  s13: DataError:" in printed.out
    assert "[15/15 series, 1 failed" in printed.err
    assert "pickled in all" in printed.out
    assert main(cmd) == 1
    again = capsys.readouterr().out
    assert "14 finished by an earlier run, 1 to train" in again and " *" in again
    other = list(cmd)
    other[other.index("--units") + 1] = "4"
    assert main(other) == 2                              # other settings in the same folder
    assert "(units: 3 before, 4 now)" in capsys.readouterr().err
    other = list(cmd)
    other[other.index("-o") + 1] = str(tmp_path / "m.keras")
    assert main(other) == 2
    assert "-o names a folder" in capsys.readouterr().err


def test_the_command_on_a_running_cluster_by_address(dask_client, serial, data, tmp_path,
                                                     capsys, monkeypatch):
    from unrolled.cli import main

    out = tmp_path / "models"
    monkeypatch.setenv("UNROLLED_SCHEDULER", dask_client.scheduler.address)
    assert main(["train", data, "--target", "sales", "--series-column", "store",
                 "--per-series", "-o", str(out), "--window", "4", "--units", "3",
                 "--epochs", "2", "--batch-size", "16", "--time-column", "day"]) == 1
    assert "to train on Dask (tcp://127.0.0.1:" in capsys.readouterr().out
    for name, path in serial.files.items():
        mine = out / os.path.basename(path.replace(".keras", ".metrics.json"))
        if name == BROKEN:
            assert not mine.exists()
        else:
            assert json.loads(mine.read_text()) == serial.metrics[name]
