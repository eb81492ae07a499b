"""Hostile inputs through the CLI: exit 2 with a message, quickly, never a traceback."""
from __future__ import annotations

import json
import time
import zipfile

import pytest

import unrolled
from unrolled.cli import main
from unrolled.errors import ModelFileError
from unrolled.models.saving import save_model
from unrolled.layers import LSTM, Dense


def _with_timesteps(src, dst, timesteps):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for name in zin.namelist():
            data = zin.read(name)
            if name == "config.json":
                config = json.loads(data)
                config["build_config"]["input_shape"][1] = timesteps
                config["config"]["layers"][0]["config"]["batch_shape"][1] = timesteps
                data = json.dumps(config).encode()
            zout.writestr(name, data)


@pytest.fixture
def small(tmp_path):
    path = tmp_path / "m.keras"
    save_model(unrolled.Sequential([unrolled.Input((5, 3)), LSTM(2), Dense(1)]), path)
    return path


def test_trace_of_a_model_declaring_1e12_timesteps(small, tmp_path, capsys):
    bad = tmp_path / "huge.keras"
    _with_timesteps(small, bad, 10 ** 12)
    start = time.perf_counter()
    assert main(["trace", "--model", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("unrolled trace: error: ") and "MAX_INPUT_VALUES" in err
    assert time.perf_counter() - start < 5


def test_trace_does_not_draw_a_huge_random_input(small, tmp_path, capsys):
    bad = tmp_path / "long.keras"
    _with_timesteps(small, bad, 1_000_000)       # 3 M values: allowed, but not drawn
    assert main(["trace", "--model", str(bad)]) == 2
    assert "pass --input X.npy" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["trace", "--model", "{dir}"], ["info", "--model", "{dir}"],
                                  ["predict", "{dir}", "{dir}"]])
def test_a_directory_for_a_model_is_exit_2(tmp_path, capsys, argv):
    argv = [a.format(dir=tmp_path) for a in argv]
    try:
        code = main(argv)
    except SystemExit as exit_:   # a command without that option: argparse's usage error
        code = exit_.code
    assert code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err


def test_safetensors_sidecar_declaring_huge_units_is_refused_quickly(tmp_path):
    pytest.importorskip("safetensors")
    from unrolled.models.files import open_model, sidecar_path, write_model

    path = tmp_path / "m.safetensors"
    write_model(unrolled.Sequential([unrolled.Input((5, 3)), LSTM(2), Dense(1)]), path)
    with open(sidecar_path(path)) as f:
        sidecar = json.load(f)
    text = json.dumps(sidecar).replace('"units": 2', '"units": 4000')
    assert text != json.dumps(sidecar)
    with open(sidecar_path(path), "w") as f:
        f.write(text)
    start = time.perf_counter()
    with pytest.raises(ModelFileError, match="stores only"):
        open_model(path)
    assert time.perf_counter() - start < 3
    with pytest.raises(ModelFileError, match="is a directory"):
        open_model(tmp_path)


def test_trace_input_npy_declaring_a_huge_shape_is_refused(small, tmp_path, capsys):
    import numpy as np

    good = tmp_path / "x.npy"
    np.save(good, np.zeros((1, 5, 3), "f4"))
    bad = tmp_path / "bad.npy"
    with open(bad, "wb") as f:   # a valid header declaring 60 GB, then 1 KB of data
        np.lib.format.write_array_header_1_0(
            f, {"descr": "<f4", "fortran_order": False, "shape": (10 ** 9, 5, 3)})
        f.write(bytes(1024))
    start = time.perf_counter()
    assert main(["trace", "--model", str(small), "--input", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("unrolled trace: error: cannot read"), err
    assert time.perf_counter() - start < 5
    assert main(["trace", "--model", str(small), "--input", str(good)]) == 0
