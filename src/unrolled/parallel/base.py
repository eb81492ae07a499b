"""The executor interface every back end implements: run tasks, stream outcomes back."""
from __future__ import annotations

from typing import Any, Callable, Iterator, Sequence

from .tasks import Outcome, Task, check_tasks


class Shipping:
    """What a run shipped to its workers: pickled task sizes in bytes."""

    def __init__(self) -> None:
        self.sizes: list[int] = []

    def add(self, n: int) -> None:
        self.sizes.append(n)

    def __str__(self) -> str:
        if not self.sizes:
            return "nothing shipped"
        total, big = sum(self.sizes), max(self.sizes)
        return (f"{len(self.sizes)} task(s), {_size(total)} pickled in all "
                f"(largest {_size(big)}, mean {_size(total // len(self.sizes))})")


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"  # pragma: no cover


class Executor:
    """Runs a list of :class:`~.tasks.Task` and gives back one :class:`~.tasks.Outcome`
    per task. Subclasses implement :meth:`_run` (outcomes in completion order)."""

    name = "executor"
    workers = 1

    def __init__(self, root_seed: int = 0, threads: int = 1) -> None:
        self.root_seed = root_seed
        self.threads = int(threads)     # compute threads per task, the same on every back end
        self.shipping = Shipping()

    def describe(self) -> str:
        return self.name

    def run(self, tasks: Sequence[Task]) -> Iterator[Outcome]:
        """Outcomes as the tasks finish (completion order; ``outcome.index`` is the
        task's position in ``tasks``)."""
        ready = check_tasks(list(tasks), self.root_seed)
        if not ready:
            return iter(())
        return self._run(ready)

    def map(self, tasks: Sequence[Task], on_outcome: Callable[[Outcome], Any] | None = None
            ) -> list[Outcome]:
        """Every task's outcome, in task order; ``on_outcome`` sees each as it finishes."""
        tasks = list(tasks)
        out: list[Outcome | None] = [None] * len(tasks)
        for outcome in self.run(tasks):
            out[outcome.index] = outcome
            if on_outcome is not None:
                on_outcome(outcome)
        assert all(o is not None for o in out), "an executor lost an outcome"
        return out  # type: ignore[return-value]

    def _run(self, tasks: list[Task]) -> Iterator[Outcome]:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:
        """Release workers (a pool's processes, a LocalCluster, a client connection)."""

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
