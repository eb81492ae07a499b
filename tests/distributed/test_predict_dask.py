"""``unrolled.distributed.predict`` over Dask arrays and dataframes equals ``model.predict``
on the whole array: without a client (dask's threads), and on a real 2-worker
LocalCluster, where the model is built once per worker however many blocks there are."""
from __future__ import annotations

import sys

import numpy as np
import pytest

import unrolled
from tests.peers import require
from unrolled import distributed as ud
from unrolled.errors import ConfigError, InputShapeError
from unrolled.layers import GRU, LSTM, Dense

# blocks of different sizes run different batch compositions; the kernels' float32
# rounding then differs in the last bits, never more
TOL = dict(rtol=1e-5, atol=1e-6)


def _model(seed: int, cell=LSTM, sequences: bool = False):
    unrolled.set_random_seed(seed)
    m = unrolled.Sequential([unrolled.Input((7, 3)), cell(5, return_sequences=sequences),
                             Dense(2)])
    rng = np.random.default_rng(seed)
    m.set_weights([rng.normal(0, 0.5, w.shape).astype(np.float32) for w in m.get_weights()])
    return m


@pytest.fixture(scope="module")
def x():
    return np.random.default_rng(3).normal(size=(53, 7, 3)).astype(np.float32)


def test_without_a_client_on_dasks_threads(x):
    da = require("dask.array")
    dask = require("dask")
    m = _model(0)
    with dask.config.set(scheduler="threads"):
        y = ud.predict(m, da.from_array(x, chunks=(10, 7, 3)))
        assert y.shape == (53, 2) and y.dtype == np.float32 and y.chunks[0] == (10,) * 5 + (3,)
        got = y.compute()
    np.testing.assert_allclose(got, m.predict(x, verbose=0), **TOL)
    assert np.abs(got).max() > 0.05  # not a vacuous comparison


def test_on_a_local_cluster_equals_predict_and_ships_once_per_worker(x, cluster_client):
    da = require("dask.array")
    m = _model(1, cell=GRU, sequences=True)   # (B, 7, 2): an output with a time axis
    blocks = da.from_array(x, chunks=(6, 7, 3))  # 9 blocks on 2 workers
    y = ud.predict(m, blocks, client=cluster_client)
    assert y.shape == (53, 7, 2)
    got = cluster_client.compute(y).result()
    np.testing.assert_allclose(got, m.predict(x, verbose=0), **TOL)
    digest = ud.ModelBytes.of(m).digest
    loads = [counts.get(digest, 0) for counts in cluster_client.run(ud.loaded_models).values()]
    assert sum(loads) >= 1 and max(loads) == 1, loads  # built at most once per worker
    # the graph refers to the scattered bytes; it does not carry them once per block
    import pickle
    graph = pickle.dumps(dict(y.__dask_graph__()))
    assert len(graph) < len(ud.ModelBytes.of(m).data), (len(graph),)
    # each worker was set up once: threads x task slots <= cores (Dask's nanny sets 1)
    threads = cluster_client.run(lambda: __import__("os").environ.get("UNROLLED_NUM_THREADS"))
    assert set(threads.values()) == {"1"}, threads
    # the same model again: nothing is rebuilt
    cluster_client.compute(ud.predict(m, blocks, client=cluster_client)).result()
    again = [c.get(digest, 0) for c in cluster_client.run(ud.loaded_models).values()]
    assert again == loads


def test_a_dataframe_on_a_local_cluster_keeps_the_index(x, cluster_client, tmp_path):
    dd = require("dask.dataframe")
    pd = require("pandas")
    m = _model(2)
    path = tmp_path / "m.keras"
    m.save(str(path))
    cols = [f"t{t}_f{f}" for t in range(7) for f in range(3)]
    frame = pd.DataFrame(x.reshape(len(x), -1), columns=cols,
                         index=pd.RangeIndex(100, 100 + len(x), name="sample"))
    frame["label"] = "a"  # a column the model does not read
    ddf = dd.from_pandas(frame, npartitions=4)
    out = ud.predict(str(path), ddf, columns=cols, output_names=["lo", "hi"],
                     client=cluster_client)
    got = cluster_client.compute(out).result()
    assert list(got.columns) == ["lo", "hi"] and list(got.index) == list(frame.index)
    np.testing.assert_allclose(got.to_numpy(), m.predict(x, verbose=0), **TOL)


def test_refusals_say_what_was_expected(x):
    da = require("dask.array")
    dd = require("dask.dataframe")
    pd = require("pandas")
    m = _model(0)
    with pytest.raises(InputShapeError, match=r"timesteps is 3, expected 7.*swapped"):
        ud.predict(m, da.from_array(x.transpose(0, 2, 1), chunks=10), client=None)
    with pytest.raises(ConfigError, match="dask array or dask dataframe"):
        ud.predict(m, x)
    frame = dd.from_pandas(pd.DataFrame(np.zeros((4, 20))), npartitions=1)
    with pytest.raises(InputShapeError, match=r"7, 3\) = 21 values.*got 20 column"):
        ud.predict(m, frame)
    labelled = dd.from_pandas(pd.DataFrame({"a": ["x"] * 4, **{f"c{i}": [0.0] * 4
                                                                 for i in range(21)}}), 1)
    with pytest.raises(ConfigError, match=r"columns \['a'\] are not numeric"):
        ud.predict(m, labelled)
    from unrolled.forecast.model_file import Forecaster
    with pytest.raises(ConfigError, match="unrolled predict MODEL 'data/\\*.csv'"):
        ud.predict(Forecaster(m, None, None), da.from_array(x, chunks=10))
    a, b = unrolled.Input((7, 3)), unrolled.Input((7, 3))
    two = unrolled.Model([a, b], [Dense(1)(LSTM(2)(a)), Dense(1)(LSTM(2)(b))])
    with pytest.raises(ConfigError, match="one input and one output"):
        ud.predict(two, da.from_array(x, chunks=10))


def test_missing_dask_names_the_extra(monkeypatch, x):
    monkeypatch.setitem(sys.modules, "dask", None)
    monkeypatch.setitem(sys.modules, "dask.array", None)
    with pytest.raises(ImportError, match=r"unrolled\[dask\]"):
        ud.predict(_model(0), x)
