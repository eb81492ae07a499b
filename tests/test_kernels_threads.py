"""The kernels' thread pool (runtime/threads.py): jobs run at once, workers are kept off
the caller's CPU, the caller's own affinity is never touched, and a forked child gets a
working pool of its own."""
from __future__ import annotations

import multiprocessing
import os
import threading
import time

import pytest

from unrolled.core.kernels.runtime import threads

linux_affinity = pytest.mark.skipif(
    not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2,
    reason="needs Linux CPU affinity and at least two CPUs")


@pytest.fixture(autouse=True)
def fresh_pool(monkeypatch):
    """A pool of its own for each test (earlier tests may have grown the shared one)."""
    monkeypatch.setattr(threads, "_pool", None)
    monkeypatch.setattr(threads, "_placing", True)


def _run_two() -> list[int]:
    seen: list[int] = []
    threads.run_jobs([lambda: seen.append(threading.get_native_id()),
                      lambda: seen.append(threading.get_native_id())])
    return seen


def test_jobs_run_in_the_caller_and_one_worker_and_errors_come_back():
    seen = _run_two()
    assert len(seen) == 2 and threading.get_native_id() in seen
    assert len(set(seen)) == 2

    def boom() -> None:
        raise ValueError("in the worker")

    with pytest.raises(ValueError, match="in the worker"):
        threads.run_jobs([lambda: None, boom])


@linux_affinity
def test_workers_are_kept_off_the_callers_cpu_and_the_caller_is_not_pinned():
    before = os.sched_getaffinity(0)
    _run_two()
    pool = threads._pool
    cpu = pool.placed
    assert pool.size == len(pool.ids) == 1 and cpu is not None
    for tid in pool.ids:
        mask = os.sched_getaffinity(tid)
        assert cpu not in mask
        assert mask <= before
    assert os.sched_getaffinity(0) == before


@linux_affinity
def test_placement_follows_the_caller_to_another_cpu(monkeypatch):
    before = os.sched_getaffinity(0)
    _run_two()
    for cpu in sorted(before)[:2]:
        monkeypatch.setattr(threads, "_current_cpu", lambda cpu=cpu: cpu)
        _run_two()
        assert threads._pool.placed == cpu
        for tid in threads._pool.ids:
            assert os.sched_getaffinity(tid) == before - {cpu}


@linux_affinity
def test_too_few_cpus_for_every_worker_leaves_them_the_callers_whole_set():
    allowed = os.sched_getaffinity(0)
    jobs = [lambda: None] * (len(allowed) + 1)     # more workers than the other CPUs
    threads.run_jobs(jobs)
    pool = threads._pool
    assert len(pool.ids) == len(allowed) and threads._placing and pool.placed is not None
    assert all(os.sched_getaffinity(t) == allowed for t in pool.ids)


@linux_affinity
def test_a_pool_grown_later_places_its_new_workers_not_the_old_ones():
    _run_two()
    old = threads._pool
    ran: list[int] = []
    threads.run_jobs([lambda: ran.append(1)] * 3)
    new = threads._pool
    assert new is not old and new.size == len(new.ids) == 2 and len(ran) == 3
    assert threads._placing and new.placed is not None and not set(old.ids) & set(new.ids)
    for t in old.ids:                  # the old workers exit
        for _ in range(200):
            if not os.path.exists(f"/proc/self/task/{t}"):
                break
            time.sleep(0.01)
        assert not os.path.exists(f"/proc/self/task/{t}")


def _child(queue) -> None:
    queue.put(sorted(_run_two()) != [])


def test_errors_in_several_jobs_raise_one_and_the_pool_keeps_working():
    def boom(msg: str):
        def run() -> None:
            raise RuntimeError(msg)
        return run

    with pytest.raises(RuntimeError):
        threads.run_jobs([boom("a"), boom("b"), boom("c")])
    assert len(_run_two()) == 2
    with pytest.raises(RuntimeError, match="caller"):
        threads.run_jobs([boom("caller"), lambda: None])


def test_a_forked_child_runs_jobs_instead_of_waiting_for_the_parents_workers():
    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("no fork on this platform")
    _run_two()                                    # the parent's pool exists
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(queue,))
    proc.start()
    proc.join(30)
    if proc.is_alive():
        proc.kill()
        pytest.fail("the forked child hung on the parent's thread pool")
    assert proc.exitcode == 0 and queue.get(timeout=5) is True
