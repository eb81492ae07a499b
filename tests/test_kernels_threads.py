"""The kernels' thread pool (runtime/threads.py): jobs run at once, workers are kept off
the caller's CPU, the caller's own affinity is never touched, and a forked child gets a
working pool of its own."""
from __future__ import annotations

import multiprocessing
import os
import threading

import pytest

from unrolled.core.kernels.runtime import threads

linux_affinity = pytest.mark.skipif(
    not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2,
    reason="needs Linux CPU affinity and at least two CPUs")


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
    _run_two()                      # the first call may start the worker after placing
    cpu, count = threads._placed
    assert count == len(threads._workers) >= 1
    for tid in threads._workers:
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
        assert threads._placed[0] == cpu
        for tid in threads._workers:
            assert os.sched_getaffinity(tid) == before - {cpu}


@linux_affinity
def test_too_few_cpus_for_every_worker_leaves_them_the_callers_whole_set(monkeypatch):
    monkeypatch.setattr(threads, "_placed", None)
    monkeypatch.setattr(threads, "_workers", list(threads._workers) * 8)  # pretend 8+
    allowed = os.sched_getaffinity(0)
    if len(allowed) - 1 >= len(threads._workers):
        pytest.skip("this machine has a CPU for every pretended worker")
    threads._keep_workers_off()
    assert all(os.sched_getaffinity(t) == allowed for t in set(threads._workers))


def _child(queue) -> None:
    queue.put(sorted(_run_two()) != [])


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
