"""One thread owns the model: it drains a bounded queue and runs the requests that wait together as one
batch. Hand-written (a few lines over ``queue`` and ``concurrent.futures``) because the model is not
thread-safe and must run on one thread, which no web framework's thread pool guarantees."""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("cogaze.serve")


class QueueFull(Exception):
    """The queue holds ``max_queue`` requests; ``retry_after`` is the estimated wait in seconds."""

    def __init__(self, queued: int, retry_after: int):
        super().__init__(f"{queued} requests are waiting for the model; retry in about {retry_after} s")
        self.queued = queued
        self.retry_after = retry_after


@dataclass
class BatchInfo:
    """How a request was run: seconds it waited in the queue, the batch it ran in and the model's seconds."""

    queue_s: float
    batch_size: int
    model_s: float


@dataclass
class _Job:
    item: Any
    future: Future = field(default_factory=Future)
    enqueued: float = field(default_factory=time.perf_counter)


_STOP = object()


class BatchWorker:
    """Runs ``run_batch(items) -> results`` (same length and order) on one thread over a bounded queue.

    :meth:`submit` returns a Future of ``(result, BatchInfo)`` or raises :class:`QueueFull`. The thread
    takes the first waiting request and every other one already queued, up to ``max_batch``; when there
    is concurrent load (more were queued, or the last batch held several) it waits up to ``max_wait_s``
    for more to fill the batch. A lone request is never delayed. If a batch raises, each of its requests
    is re-run alone, so one bad request cannot fail the others.
    """

    def __init__(self, run_batch: Callable[[Sequence[Any]], Sequence[Any]], max_queue: int = 64,
                 max_batch: int = 16, max_wait_s: float = 0.02, name: str = "cogaze-model"):
        self.run_batch = run_batch
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max_queue)
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._last_batch = 1
        self._item_s = 1.0  # running mean of model seconds per request, for Retry-After
        self.batches = 0
        self.processed = 0

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    @property
    def max_queue(self) -> int:
        return self._queue.maxsize

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the queued requests, then end the thread."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(timeout)
        while True:  # anything submitted after the stop mark fails instead of waiting forever
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                return
            if job is not _STOP and job.future.set_running_or_notify_cancel():
                job.future.set_exception(RuntimeError("the server is shutting down"))

    def submit(self, item: Any) -> Future:
        job = _Job(item)
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            queued = self._queue.qsize()
            wait = queued * self._item_s / max(1, min(self.max_batch, queued))
            raise QueueFull(queued, max(1, min(120, math.ceil(wait)))) from None
        return job.future

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            jobs, stop = self._collect(first)
            jobs = [j for j in jobs if j.future.set_running_or_notify_cancel()]
            if jobs:
                self._run(jobs)
            if stop:
                return

    def _collect(self, first: _Job) -> tuple[list[_Job], bool]:
        jobs = [first]
        busy = self._last_batch > 1 or not self._queue.empty()
        deadline = time.perf_counter() + (self.max_wait_s if busy else 0.0)
        while len(jobs) < self.max_batch:
            remaining = deadline - time.perf_counter()
            try:
                nxt = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if nxt is _STOP:
                return jobs, True
            jobs.append(nxt)
        return jobs, False

    def _run(self, jobs: list[_Job]) -> None:
        start = time.perf_counter()
        try:
            results = list(self.run_batch([j.item for j in jobs]))
            if len(results) != len(jobs):
                raise RuntimeError(f"the model returned {len(results)} results for {len(jobs)} requests")
        except Exception as err:  # reported to each waiting request; the server keeps serving
            if len(jobs) > 1:
                log.warning("a batch of %d failed (%s); running its requests one by one", len(jobs), err)
                for job in jobs:
                    self._run_alone(job)
                return
            log.exception("prediction failed")
            jobs[0].future.set_exception(err)
            return
        seconds = time.perf_counter() - start
        self._finish(jobs, results, start, seconds)

    def _run_alone(self, job: _Job) -> None:
        start = time.perf_counter()
        try:
            (result,) = list(self.run_batch([job.item]))
        except Exception as err:
            log.exception("prediction failed")
            job.future.set_exception(err)
            return
        self._finish([job], [result], start, time.perf_counter() - start)

    def _finish(self, jobs: list[_Job], results: list[Any], start: float, seconds: float) -> None:
        self._last_batch = len(jobs)
        self._item_s = 0.8 * self._item_s + 0.2 * (seconds / len(jobs))
        self.batches += 1
        self.processed += len(jobs)
        for job, result in zip(jobs, results):
            job.future.set_result((result, BatchInfo(start - job.enqueued, len(jobs), seconds)))
