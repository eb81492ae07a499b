"""The executor interface on every back end: order, seeds, failures as data, worker loss."""
from __future__ import annotations

import os
import sys

import pytest

from tests.peers import require
from unrolled.errors import ConfigError, DataError
from unrolled.parallel import (LocalPoolExecutor, SerialExecutor, Task, check_memory,
                               load_dask_backend, make_executor, scheduler_address, task_seed)

from . import _tasks


def _tasks_list(n=6):
    return [Task(f"t{i}", _tasks.draw, (i,)) for i in range(n)]


def _values(outcomes):
    return [o.value[:2] if o.ok else (o.error.type, o.error.key) for o in outcomes]


def test_task_seed_depends_on_root_and_key_only():
    assert task_seed(0, "series a") == task_seed(0, "series a")
    assert len({task_seed(0, "series a"), task_seed(1, "series a"),
                task_seed(0, "series b")}) == 3
    assert 0 <= task_seed(7, "x") < 2**63


def test_serial_pool_and_dask_agree_in_task_order(dask_client):
    tasks = _tasks_list()
    serial = SerialExecutor(root_seed=3, warm=False).map(tasks)
    with LocalPoolExecutor(2, root_seed=3, warm=False) as pool:
        streamed = []
        local = pool.map(tasks, on_outcome=streamed.append)
    with load_dask_backend().DaskExecutor(client=dask_client, root_seed=3, warm=False) as ex:
        on_dask = ex.map(tasks)
        assert ex.workers == 2
    assert _values(serial) == _values(local) == _values(on_dask)
    assert [o.index for o in serial] == list(range(6))
    assert sorted(o.index for o in streamed) == list(range(6))
    assert len({o.value[1] for o in serial}) == 6         # a different seed per task
    assert _values(SerialExecutor(root_seed=4, warm=False).map(tasks)) != _values(serial)
    assert len(ex.shipping.sizes) == 6 and min(ex.shipping.sizes) > 0


def test_a_failing_task_is_data_and_the_others_finish(dask_client):
    tasks = [Task(f"t{i}", _tasks.fail_on, (i, 2)) for i in range(5)]
    for ex in (SerialExecutor(warm=False), LocalPoolExecutor(2, warm=False),
               load_dask_backend().DaskExecutor(client=dask_client, warm=False)):
        with ex:
            out = ex.map(tasks)
        assert [o.value for o in out] == [0, 1, None, 9, 16]
        err = out[2].error
        assert (err.key, err.type) == ("t2", "ValueError")
        assert "broken on purpose" in err.message and "fail_on" in err.traceback


def test_dask_uses_its_own_client_when_another_is_the_default(dask_client, monkeypatch):
    # A caller's client need not be the process's default one (set_as_default=False, or a
    # second cluster): the executor must not reach for the default client's event loop.
    distributed = require("distributed")
    import distributed.client as client_module

    def no_default_client():
        raise ValueError("No clients found")

    monkeypatch.setattr(client_module, "default_client", no_default_client)
    with distributed.Client(dask_client.scheduler.address, set_as_default=False) as own:
        with load_dask_backend().DaskExecutor(client=own, root_seed=3, warm=False) as ex:
            on_dask = ex.map(_tasks_list())
    assert _values(on_dask) == _values(SerialExecutor(root_seed=3, warm=False).map(_tasks_list()))


def test_duplicate_keys_are_refused():
    with pytest.raises(ConfigError, match="share the key 'a'"):
        SerialExecutor(warm=False).map([Task("a", _tasks.empty), Task("a", _tasks.empty)])


def test_local_pool_survives_a_dead_worker(tmp_path):
    tasks = [Task(f"t{i}", _tasks.die_once, (i, str(tmp_path))) if i == 1 else
             Task(f"t{i}", _tasks.fail_on, (i, -1)) for i in range(4)]
    with LocalPoolExecutor(2, warm=False, retries=1) as ex:
        out = ex.map(tasks)
    assert [o.value for o in out] == [0, 1, 4, 9]
    assert ex.restarts >= 1


def test_local_pool_reports_a_task_that_keeps_killing_its_worker():
    tasks = [Task("killer", _tasks.die_always, (0,))]
    with LocalPoolExecutor(2, warm=False, retries=1) as ex:
        (out,) = ex.map(tasks)
    assert out.error.type == "WorkerLost"
    assert "BrokenProcessPool" in out.error.message and "2 time(s)" in out.error.message


def test_dask_survives_a_worker_killed_mid_task(dask_client, tmp_path):
    tasks = [Task(f"t{i}", _tasks.die_once, (i, str(tmp_path))) if i == 2 else
             Task(f"t{i}", _tasks.fail_on, (i, -1)) for i in range(4)]
    with load_dask_backend().DaskExecutor(client=dask_client, warm=False, retries=1) as ex:
        out = ex.map(tasks)
    assert [o.value for o in out] == [0, 1, 2, 9]
    assert (tmp_path / "died-2").exists()            # it did die once
    dask_client.wait_for_workers(2, timeout=60)      # the nanny restarted it


def test_scheduler_address_and_environment(monkeypatch):
    monkeypatch.delenv("UNROLLED_SCHEDULER", raising=False)
    assert scheduler_address(None) is None
    assert scheduler_address("10.0.0.5:8786") == "tcp://10.0.0.5:8786"
    assert scheduler_address("local") == "local"
    monkeypatch.setenv("UNROLLED_SCHEDULER", "tcp://h:1")
    assert scheduler_address(None) == "tcp://h:1"
    with pytest.raises(ConfigError, match="tcp://"):
        scheduler_address("nonsense")
    monkeypatch.delenv("UNROLLED_SCHEDULER")
    assert isinstance(make_executor(jobs=1), SerialExecutor)
    assert make_executor(jobs=3).workers == 3
    with pytest.raises(ConfigError, match="--jobs"):
        make_executor(jobs=0)


def test_missing_dask_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    monkeypatch.delitem(sys.modules, "unrolled.parallel.dask_backend", raising=False)
    with pytest.raises(ConfigError, match=r"unrolled\[dask\]"):
        make_executor(scheduler="local")


def test_memory_cap(monkeypatch):
    check_memory("series a", 10e6, "its windows")
    with pytest.raises(DataError, match=r"about 10 MB \(its windows\).*cap of 5 MB.*--task-memory"):
        check_memory("series a", 10e6, "its windows", cap_mb=5)
    monkeypatch.setenv("UNROLLED_TASK_MEMORY_MB", "1")
    with pytest.raises(DataError, match="cap of 1 MB"):
        check_memory("series a", 2e6, "x")


def test_every_back_end_runs_a_task_with_the_same_threads(dask_client, monkeypatch):
    monkeypatch.setenv("UNROLLED_NUM_THREADS", "7")
    tasks = [Task("a", _tasks.thread_info)]
    serial = SerialExecutor(warm=False, threads=1).map(tasks)[0].value
    assert os.environ["UNROLLED_NUM_THREADS"] == "7"          # the caller's, restored
    with LocalPoolExecutor(2, warm=False, threads=1) as ex:
        pool = ex.map(tasks)[0].value
    with load_dask_backend().DaskExecutor(client=dask_client, warm=False, threads=1) as ex:
        on_dask = ex.map(tasks)[0].value
    assert serial == pool == on_dask == ("1", [1])
    assert make_executor(threads=2).workers == max(1, len(os.sched_getaffinity(0)) // 2)


def test_dask_reports_a_task_that_keeps_killing_its_workers():
    distributed = require("distributed")
    import dask

    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        with distributed.LocalCluster(n_workers=1, processes=True, host="127.0.0.1",
                                      threads_per_worker=1, dashboard_address=":0") as cluster:
            with distributed.Client(cluster) as client:
                ex = load_dask_backend().DaskExecutor(client=client, warm=False)
                (out,) = ex.map([Task("killer", _tasks.die_always, (0,))])
                client.wait_for_workers(1, timeout=60)
                (after,) = ex.map([Task("fine", _tasks.fail_on, (3, -1))])
    assert out.error.type == "KilledWorker" and out.key == "killer"
    assert "died" in out.error.message
    assert after.value == 9                    # the cluster goes on
