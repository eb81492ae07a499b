"""``unrolled predict MODEL 'data/*.csv' --output-dir OUT``: one task per file, each output
byte-identical to the single-file ``predict -o`` of that file, serially, on the local pool
and on a real 2-worker LocalCluster; a broken file is reported and the others written;
Parquet inputs give the same forecasts as the CSV they were written from."""
from __future__ import annotations

import os

import pytest

from tests.forecast import series, write_csv
from tests.peers import require
from unrolled.cli import main
from unrolled.errors import ConfigError
from unrolled.forecast import scoring


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("many")
    write_csv(d / "train.csv", series(160))
    model = d / "m.keras"
    assert main(["train", str(d / "train.csv"), "--target", "temp", "--window", "6",
                 "--horizon", "2", "--season", "0", "--units", "4", "--epochs", "2",
                 "--no-linear", "--no-plot", "-o", str(model)]) == 0
    data = d / "data"
    data.mkdir()
    for i in range(3):
        write_csv(data / f"s{i}.csv", series(30 + 5 * i, seed=i + 1))
    cols = series(30, seed=9)
    del cols["humidity"]                       # an input column the model needs
    write_csv(data / "broken.csv", cols)
    expected = {}
    for i in range(3):
        out = d / f"single{i}.csv"
        assert main(["predict", str(model), str(data / f"s{i}.csv"), "--all", "-o",
                     str(out)]) == 0
        expected[f"s{i}.forecast.csv"] = out.read_bytes()
    return d, model, data, expected


def _run(setup, out, *extra):
    d, model, data, expected = setup
    rc = main(["predict", str(model), str(data / "*.csv"), "--all", "--output-dir", str(out),
               *extra])
    assert rc == 1  # one file failed
    assert sorted(os.listdir(out)) == sorted(expected)  # nothing else: no temp files
    for name, text in expected.items():
        assert (out / name).read_bytes() == text, name
    return rc


def test_serially_and_on_the_local_pool(setup, tmp_path, capsys):
    _run(setup, tmp_path / "serial", "--jobs", "1")
    _run(setup, tmp_path / "pool", "--jobs", "2")
    text = capsys.readouterr().out
    assert text.count("broken.csv: FAILED: DataError: column 'humidity' not found") == 2
    assert "3 of 4 file(s) scored: 90 window(s), 180 forecast row(s)" in text


def test_on_a_local_cluster_loads_the_model_once_per_worker(setup, tmp_path, capsys,
                                                            cluster_client):
    address = cluster_client.scheduler.address
    _run(setup, tmp_path / "cluster", "--scheduler", address)
    assert "Dask (" in capsys.readouterr().out
    digest = scoring.ModelRef.of(setup[1]).digest
    loads = [c.get(digest, 0) for c in cluster_client.run(scoring.forecaster_loads).values()]
    assert sum(loads) >= 1 and max(loads) == 1, loads


def test_parquet_equals_its_csv(setup, tmp_path):
    pd = require("pandas")
    require("pyarrow")
    d, model, data, expected = setup
    src = tmp_path / "in"
    src.mkdir()
    frame = pd.read_csv(data / "s1.csv", parse_dates=["date"])
    frame.to_parquet(src / "s1.parquet")
    assert main(["predict", str(model), str(src / "*.parquet"), "--all", "--output-dir",
                 str(tmp_path / "out"), "--jobs", "1"]) == 0
    assert (tmp_path / "out" / "s1.forecast.csv").read_bytes() == expected["s1.forecast.csv"]


@pytest.mark.parametrize("argv,message", [
    (["{data}/s0.csv", "{data}/s1.csv"], "2 inputs need --output-dir DIR"),
    (["{data}/*.nothing", "--output-dir", "{tmp}"], "matches no file"),
    (["{data}/s0.csv", "{data}/*.csv", "-o", "{tmp}/x.csv"], "pass --output-dir DIR"),
])
def test_bad_arguments_stop_before_any_work(setup, tmp_path, capsys, argv, message):
    d, model, data, _ = setup
    args = [a.format(data=data, tmp=tmp_path) for a in argv]
    assert main(["predict", str(model), *args]) == 2
    assert message in capsys.readouterr().err


def test_two_inputs_with_one_name_are_refused(tmp_path):
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    with pytest.raises(ConfigError, match="would both write x.forecast.csv"):
        scoring.output_paths([str(tmp_path / "a" / "x.csv"), str(tmp_path / "b" / "x.csv")],
                             str(tmp_path))


def test_a_model_changed_after_the_start_is_refused(setup, tmp_path):
    d, model, data, _ = setup
    copy = tmp_path / "m.keras"
    copy.write_bytes(model.read_bytes() + b"\0")   # bytes no process has loaded
    ref = scoring.ModelRef.of(copy)
    copy.write_bytes(model.read_bytes())
    with pytest.raises(ConfigError, match="changed after the run started"):
        scoring.forecaster_for(ref)


def test_a_file_over_the_task_memory_cap_is_refused(setup, tmp_path, capsys):
    d, model, data, _ = setup
    assert main(["predict", str(model), str(data / "s0.csv"), "--all", "--output-dir",
                 str(tmp_path), "--jobs", "1", "--task-memory", "0.001"]) == 1
    out = capsys.readouterr().out
    assert "s0.csv: FAILED: DataError:" in out and "above the per-task cap of 0 MB" in out
    assert os.listdir(tmp_path) == []
