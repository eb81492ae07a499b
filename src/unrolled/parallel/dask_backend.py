"""The Dask back end: the same tasks on a ``dask.distributed`` cluster.

``DaskExecutor("tcp://HOST:8786")`` connects to a running scheduler (``dask scheduler`` /
``dask worker tcp://HOST:8786`` on the machines); ``DaskExecutor("local")`` starts a
``LocalCluster`` of worker processes on this machine and stops it on :meth:`close`.

* The tasks are submitted at once (``client.map(run_task, indices, tasks, pure=False)``);
  outcomes stream back with ``as_completed``.
* Worker setup: a worker plugin (:class:`UnrolledWorkerSetup`) runs
  :func:`.worker.setup` once on every worker, including workers that join or are
  restarted later: the run's threads per task (default 1; start workers with
  ``--nthreads 1`` and one worker process per ``threads`` cores), numba's kernels loaded.
* Worker loss: when a worker dies, the scheduler runs its tasks again elsewhere (up to
  ``distributed.scheduler.allowed-failures`` times, default 3, then ``KilledWorker``,
  reported as that task's failure); ``retries`` (default 1) also re-runs a task whose
  function raised something :func:`.tasks.run_task` does not catch.
"""
from __future__ import annotations

from typing import Any, Iterator

from .base import Executor
from .tasks import Outcome, Task, TaskError, run_task

try:
    from distributed import Client, LocalCluster, as_completed
    from distributed.diagnostics.plugin import WorkerPlugin
except ImportError as err:  # pragma: no cover - exercised through the message below
    raise ImportError(
        f"the Dask back end needs dask.distributed ({err}); install the extra: "
        "pip install 'unrolled[dask]'") from None


class UnrolledWorkerSetup(WorkerPlugin):
    """Runs :func:`.worker.setup` on each worker as it starts (or now, if running)."""

    name = "unrolled-setup"
    idempotent = True

    def __init__(self, warm: bool = True, threads: int = 1) -> None:
        self.warm, self.threads = warm, threads

    def setup(self, worker: Any) -> None:
        from . import worker as setup_mod

        setup_mod.setup(self.threads, self.warm)


class DaskExecutor(Executor):
    """Runs tasks on a Dask cluster (an address, or ``"local"`` for a LocalCluster)."""

    def __init__(self, scheduler: str = "local", root_seed: int = 0, retries: int = 1,
                 warm: bool = True, n_workers: int | None = None,
                 client: Any = None, threads: int = 1) -> None:
        super().__init__(root_seed, threads)
        self.retries = int(retries)
        self._cluster = None
        if client is not None:
            self.client, self._own_client = client, False
        elif scheduler == "local":
            from .worker import cores

            # The scheduler serves HTTP (health, metrics) even without a dashboard, on port
            # 8787 unless told otherwise; ":0" takes a free port, so two clusters coexist.
            self._cluster = LocalCluster(n_workers=n_workers or max(1, cores() // self.threads),
                                         threads_per_worker=1,
                                         processes=True, host="127.0.0.1",
                                         dashboard_address=":0")
            self.client, self._own_client = Client(self._cluster), True
        else:
            self.client, self._own_client = Client(scheduler, timeout="30s"), True
        self.client.register_plugin(UnrolledWorkerSetup(warm, self.threads),
                                    name="unrolled-setup")
        info = self.client.scheduler_info(n_workers=-1)
        workers = info.get("workers", {})
        self.workers = sum(int(w.get("nthreads", 1)) for w in workers.values()) or 1
        where = "LocalCluster" if self._cluster is not None else self.client.scheduler.address
        self.name = f"Dask ({where}: {len(workers)} workers, {self.workers} task slots)"

    def _run(self, tasks: list[Task]) -> Iterator[Outcome]:
        for task in tasks:
            self.shipping.add(task.payload_bytes())
        submitted = self.client.map(run_task, range(len(tasks)), tasks, pure=False,
                                    retries=self.retries, threads=self.threads)
        futures = {fut: (i, task) for i, (fut, task) in enumerate(zip(submitted, tasks))}
        try:
            # with_results: results arrive in batches, not one round trip per future
            # loop= of our client: without it as_completed takes the default client's,
            # which is another cluster's (or none) when the caller's client is not default
            for fut, result in as_completed(list(futures), loop=self.client.loop,
                                            with_results=True, raise_errors=False):
                i, task = futures.pop(fut)
                fut.release()
                # Decided by what came back, not fut.status: right after a worker dies the
                # status can still read other than "error" while the result is the error.
                if isinstance(result, Outcome):
                    yield result
                else:   # KilledWorker, a lost connection: result is (type, error, traceback)
                    err = result[1] if isinstance(result, tuple) else result
                    yield Outcome(i, task.key, None,
                                  TaskError(task.key, type(err).__name__, str(err)), 0.0, "")
        except BaseException:
            self.client.cancel(list(futures))
            raise

    def close(self) -> None:
        if self._own_client:
            self.client.close()
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None
