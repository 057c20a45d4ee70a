"""A small task pool for `parallel` / `pipeline`: persistent threads, no deadlock on nesting.

Starting a thread per thunk costs a GIL hand-off each (about 2 ms on a busy machine):
enough to throttle a fan-out of a thousand 50 ms calls. So thunks run on a fixed set of
worker threads (created on demand, up to `size`). A thread that waits for its own batch
"helps": it runs that batch's not-yet-started tasks itself, so a thunk that calls
`parallel` again can never wait for a worker that is waiting for it. Nested batches go to
the front of the queue (depth first), so an item that is under way finishes before new
items start, which is what keeps a pipeline's chains short.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any, Callable


class Task:
    __slots__ = ("fn", "batch", "started", "done", "result", "error")

    def __init__(self, fn: Callable[[], Any], batch: "Batch"):
        self.fn = fn
        self.batch = batch
        self.started = False
        self.done = False
        self.result: Any = None
        self.error: BaseException | None = None


class Batch:
    __slots__ = ("tasks", "remaining", "wrap", "cursor")

    def __init__(self, wrap: Callable[[Callable[[], Any]], Callable[[], Any]]):
        self.tasks: list[Task] = []
        self.remaining = 0
        self.wrap = wrap
        self.cursor = 0  # tasks before this index have started


class TaskPool:
    def __init__(self, size: int, name: str = "refute-task"):
        self.size = max(1, size)
        self.name = name
        self._queue: deque[Task] = deque()
        self._cond = threading.Condition()
        self._workers = 0
        self._idle = 0
        self._closed = False

    def run_all(self, thunks: list[Callable[[], Any]], *, nested: bool,
                wrap: Callable[[Callable[[], Any]], Callable[[], Any]]) -> list[Task]:
        """Run `thunks` concurrently; returns their tasks once every one has finished.
        `wrap(fn)` gives the callable a worker actually runs (thread-local setup)."""
        batch = Batch(wrap)
        batch.tasks = [Task(fn, batch) for fn in thunks]
        batch.remaining = len(batch.tasks)
        with self._cond:
            if nested:
                self._queue.extendleft(reversed(batch.tasks))
            else:
                self._queue.extend(batch.tasks)
            wanted = min(self.size - self._workers, max(len(batch.tasks) - self._idle, 0))
            for _ in range(wanted):
                self._workers += 1
                threading.Thread(target=self._work, name=f"{self.name}-{self._workers}", daemon=True).start()
            self._cond.notify_all()
        self._help_until_done(batch)
        return batch.tasks

    def _help_until_done(self, batch: Batch) -> None:
        while True:
            with self._cond:
                if batch.remaining == 0:
                    return
                while batch.cursor < len(batch.tasks) and batch.tasks[batch.cursor].started:
                    batch.cursor += 1
                mine = batch.tasks[batch.cursor] if batch.cursor < len(batch.tasks) else None
                if mine is not None:
                    mine.started = True
                    try:
                        self._queue.remove(mine)
                    except ValueError:
                        pass
                else:
                    self._cond.wait(0.5)
                    continue
            self._execute(mine)  # outside the lock: run one of our own tasks here

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._idle += 1
                    self._cond.wait()
                    self._idle -= 1
                if self._closed:
                    self._workers -= 1
                    return
                task = self._queue.popleft()
                task.started = True
            self._execute(task)

    def _execute(self, task: Task) -> None:
        try:
            task.result = task.batch.wrap(task.fn)()
        except BaseException as exc:  # handed to the caller of run_all
            task.error = exc
        with self._cond:
            task.done = True
            task.batch.remaining -= 1
            if task.batch.remaining == 0:
                self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._queue.clear()
            self._cond.notify_all()
