"""Batches built ahead of the step that trains on them.

Drawing a fresh batch from a task's generator, tokenising it, encoding it for the method and
collating it is Python work; the step itself is mostly torch kernels, which release the GIL.
A :class:`Prefetch` builds the batches of the next steps on a worker thread while the current
step computes, so that work stays off the training step's critical path. A batch is a
function of its step alone (see :meth:`train.loop.Trainer.prepare`), so building it early
changes nothing: a run and its resumption train on exactly the same batches. An error while
building a batch (a fresh example longer than the context, say) is raised by :meth:`get` of
that step, in the training thread.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

T = TypeVar("T")


class Prefetch(Generic[T]):
    """``make(step)`` for steps ``start, start + 1, … < end``, ``ahead`` steps in advance."""

    def __init__(self, make: Callable[[int], T], start: int, end: int, ahead: int = 2) -> None:
        self.make, self.end, self.ahead = make, end, ahead
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lwb-prefetch")
        self.pending: dict[int, Future[T]] = {}
        self.next = start

    def _fill(self, upto: int) -> None:
        while self.next < min(upto, self.end):
            self.pending[self.next] = self.pool.submit(self.make, self.next)
            self.next += 1

    def get(self, step: int) -> T:
        """Step ``step``'s batch (steps are asked for in order); queues the next ones."""
        if step not in self.pending:  # first call, or a step out of order: build from here
            for future in self.pending.values():
                future.cancel()
            self.pending, self.next = {}, step
        self._fill(step + 1 + self.ahead)
        return self.pending.pop(step).result()

    def close(self) -> None:
        for future in self.pending.values():
            future.cancel()
        self.pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> Prefetch[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
