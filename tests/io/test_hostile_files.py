"""Hostile model files cost little: every declared size is checked before allocation.

Each test makes its own hostile file from a small real one, loads it, and asserts the
error (``ModelFileError`` naming the inconsistency), the time and the peak memory the
load took (``tracemalloc`` sees NumPy's buffers), and that nothing was left on disk.
"""
from __future__ import annotations

import io
import json
import os
import time
import tracemalloc
import zipfile

import h5py
import numpy as np
import pytest

import unrolled
from unrolled.errors import ModelFileError
from unrolled.io import limits
from unrolled.models.saving import load_model, load_weights, read_extra, save_model, save_weights
from unrolled.layers import LSTM, Dense

MB = 1 << 20


def _small(compiled: bool = False) -> unrolled.Sequential:
    model = unrolled.Sequential([unrolled.Input((5, 3)), LSTM(4), Dense(1)])
    if compiled:
        model.compile(optimizer="adam", loss="mse")
        model.fit(np.ones((4, 5, 3), "f4"), np.ones((4, 1), "f4"), epochs=1, verbose=0)
    return model


def _members(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def _write(path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def _edit_h5(data: bytes, edit) -> bytes:
    buffer = io.BytesIO(data)
    with h5py.File(buffer, "a") as h5:
        edit(h5)
    return buffer.getvalue()


def _hostile(tmp_path, config_edit=None, h5_edit=None, compiled=False, extra=None):
    good = tmp_path / "good.keras"
    save_model(_small(compiled), good, extra=extra)
    members = _members(good)
    if config_edit is not None:
        config = json.loads(members["config.json"])
        config_edit(config)
        members["config.json"] = json.dumps(config).encode()
    if h5_edit is not None:
        members["model.weights.h5"] = _edit_h5(members["model.weights.h5"], h5_edit)
    bad = tmp_path / "bad.keras"
    _write(bad, members)
    return bad


def _cost(fn, *args):
    """Run ``fn(*args)`` expecting ModelFileError; return (error, seconds, peak MB)."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(ModelFileError) as info:
            fn(*args)
    finally:
        seconds = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1] / MB
        tracemalloc.stop()
    return str(info.value), seconds, peak


def _lstm_config(config):
    return next(layer["config"] for layer in config["config"]["layers"]
                if layer["class_name"] == "LSTM")


def test_huge_units_are_refused_before_anything_is_built(tmp_path):
    # 4000 units: an orthogonal (4000, 16000) draw took more than a minute before.
    bad = _hostile(tmp_path, config_edit=lambda c: _lstm_config(c).update(units=4000))
    message, seconds, peak = _cost(load_model, bad)
    assert "declares more than" in message and "stores only" in message
    assert seconds < 2 and peak < 20
    assert sorted(os.listdir(tmp_path)) == ["bad.keras", "good.keras"]


def test_building_from_a_file_draws_no_random_weights(tmp_path, monkeypatch):
    from unrolled.core import initializers

    def forbidden(self, shape, rng):
        raise AssertionError("a random initial weight was drawn while loading")
    save_model(_small(), tmp_path / "m.keras")
    monkeypatch.setattr(initializers.Orthogonal, "sample", forbidden)
    monkeypatch.setattr(initializers.GlorotUniform, "sample", forbidden)
    load_model(tmp_path / "m.keras")


def test_huge_optimizer_variable_is_refused_before_it_is_read(tmp_path):
    # A gzip-compressed, never-written dataset: a few KB on disk, 1 GB once read.
    def edit(h5):
        del h5["optimizer/vars/2"]
        h5["optimizer/vars"].create_dataset("2", shape=(1 << 28,), dtype="f4",
                                            chunks=(1 << 16,), compression="gzip")
    bad = _hostile(tmp_path, h5_edit=edit, compiled=True)
    assert bad.stat().st_size < 200_000
    message, seconds, peak = _cost(load_model, bad)
    assert "optimizer variables declare" in message
    assert seconds < 2 and peak < 20
    message, seconds, peak = _cost(load_weights, _small(compiled=True), bad)
    assert "optimizer variables declare" in message and peak < 20


def test_huge_compressed_weight_dataset_is_refused(tmp_path):
    def edit(h5):
        del h5["layers/dense/vars/0"]
        h5["layers/dense/vars"].create_dataset("0", shape=(1 << 27, 1), dtype="f4",
                                               chunks=(1 << 16, 1), compression="gzip")
    bad = _hostile(tmp_path, h5_edit=edit)
    message, seconds, peak = _cost(load_model, bad)
    assert "more than the limit" in message and "UNROLLED_MAX_WEIGHT_VALUES" in message
    assert seconds < 2 and peak < 20


def test_weight_dataset_of_the_wrong_declared_shape_is_never_read(tmp_path):
    def edit(h5):
        del h5["layers/dense/vars/0"]
        h5["layers/dense/vars"].create_dataset("0", shape=(1 << 22, 1), dtype="f4",
                                               chunks=(1 << 16, 1), compression="gzip")
    bad = _hostile(tmp_path, h5_edit=edit)
    message, seconds, peak = _cost(load_model, bad)
    assert "expected (4, 1)" in message and peak < 10


@pytest.mark.parametrize("timesteps", [10 ** 12, 1 << 25])
def test_huge_declared_input_shape_is_refused(tmp_path, timesteps):
    def edit(config):
        config["build_config"]["input_shape"] = [None, timesteps, 3]
        config["config"]["layers"][0]["config"]["batch_shape"] = [None, timesteps, 3]
    message, seconds, peak = _cost(load_model, _hostile(tmp_path, config_edit=edit))
    assert "values per sample" in message and "MAX_INPUT_VALUES" in message
    assert seconds < 2 and peak < 20


@pytest.mark.parametrize("edit, expect", [
    (lambda c: c.update(class_name=["Sequential"]), "class_name ['Sequential'] is not a string"),
    (lambda c: c["config"].update(layers=[{"class_name": ["LSTM"], "config": {}}]),
     "class_name ['LSTM'] is not a string"),
    (lambda c: _lstm_config(c).update(units=1e300), "units"),
    (lambda c: c["config"]["layers"][0]["config"].update(batch_shape="abc"), "Input shape"),
])
def test_odd_config_values_end_in_model_file_error(tmp_path, edit, expect):
    message, _, _ = _cost(load_model, _hostile(tmp_path, config_edit=edit))
    assert expect in message


def test_empty_optimizer_dataset_is_model_file_error(tmp_path):
    def edit(h5):
        del h5["optimizer/vars/2"]
        h5["optimizer/vars"].create_dataset("2", shape=(0,), dtype="f4")
    bad = _hostile(tmp_path, h5_edit=edit, compiled=True)
    message, _, _ = _cost(load_model, bad)
    assert "optimizer variable 2" in message


def test_a_directory_or_missing_path_is_model_file_error(tmp_path):
    with pytest.raises(ModelFileError, match="is a directory"):
        load_model(tmp_path)
    with pytest.raises(ModelFileError, match="is a directory"):
        load_weights(_small(), tmp_path)
    with pytest.raises(ModelFileError, match="not found"):
        read_extra(tmp_path / "missing.keras")


def test_weights_file_with_huge_optimizer_dataset(tmp_path):
    path = tmp_path / "m.weights.h5"
    save_weights(_small(compiled=True), path)
    with h5py.File(path, "a") as h5:
        h5["optimizer/vars"].create_dataset("999", shape=(1 << 28,), dtype="f4",
                                            chunks=(1 << 16,), compression="gzip")
    message, seconds, peak = _cost(load_weights, _small(compiled=True), path)
    assert "optimizer variables declare" in message and peak < 20


def test_caps_are_documented():
    with open(os.path.join(os.path.dirname(__file__), "..", "..", "README.md")) as f:
        readme = f.read()
    for name in ("MAX_WEIGHT_VALUES", "MAX_INPUT_VALUES", "MAX_JSON_BYTES", "MAX_MEMBER_BYTES"):
        assert name in readme and name in (limits.__doc__ or "")


@pytest.mark.parametrize("where", ["layers/dense/vars/1", "optimizer/vars/2"])
def test_compression_bomb_chunk_is_refused_before_hdf5_inflates_it(tmp_path, where):
    # 64 KB of deflate that HDF5 would inflate to 64 MB for a dataset of a few values.
    import zlib

    def edit(h5):
        old = h5[where]
        shape, dtype = old.shape, old.dtype
        del h5[where]
        ds = h5.create_dataset(where, shape=shape, dtype=dtype, chunks=shape or None,
                               compression="gzip")
        ds.id.write_direct_chunk((0,) * len(shape), zlib.compress(bytes(64 << 20), 9))
    bad = _hostile(tmp_path, h5_edit=edit, compiled=True)
    assert bad.stat().st_size < 400_000
    message, seconds, peak = _cost(load_model, bad)
    assert "inflates past its declared" in message
    assert seconds < 2 and peak < 20


def test_oversized_json_member_is_refused_before_it_is_parsed(tmp_path):
    good = tmp_path / "good.keras"
    save_model(_small(), good)
    members = _members(good)
    members["unrolled.json"] = b"[" + b"1," * (limits.MAX_JSON_BYTES // 2) + b"1]"
    bad = tmp_path / "bad.keras"
    _write(bad, members)
    message, seconds, peak = _cost(read_extra, bad)
    assert "unrolled.json declares" in message and "limit" in message
    assert seconds < 2 and peak < 30
