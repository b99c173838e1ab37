"""Gather texts that arrive together into one batch for the model, run in one worker thread.

Many clients each sending one text would make a model run batches of one: on a CPU that is a
third of its batch throughput (issue 12: 84 texts/s at batch 1, 152 at batch 32 for MiniLM-L6 on
two cores). The batcher puts every text of every request on one queue and a single task takes
them off in batches:

- a batch holds what queued while the model was busy and, when that is not a full batch, waits
  at most `max_wait_ms` for the clients just answered: clients that wait for an answer before
  sending again come back together, a few milliseconds later. The wait ends as soon as they are
  all there (or `max_batch` texts are), so clients that stop cost one window at most, and a text
  reaching an idle model after a batch of one runs at once;
- each batch runs in a worker's thread, so the event loop keeps reading requests and writing
  answers while the model computes (in a process of its own when there are several workers;
  PyTorch and ONNX Runtime release the GIL while they compute). A worker runs one batch at a
  time; with several (one per core, each computing on one thread: see `load_workers` in
  serve/workers.py), one gathers at a time and takes its share of the texts waiting with the
  other idle workers, so that one batch computes while another's clients are answered;
- every text has its own future, so each result goes back to the request that sent it, in order,
  and a client that has gone away costs no model time when its texts have not started;
- a batch that fails is predicted again text by text, so a text the model cannot take fails its
  own request, not the requests that happened to share its batch.

Why wait for the clients just answered rather than start at once on what queued: without it,
one late client splits a group of clients into two that take turns, and each batch then runs
while the event loop answers the other group. The loop's Python work takes the GIL and a core
from the model between its operations: with a thread doing Python 30% of the time, MiniLM-L6
predicted 38-54 texts/s instead of 81 on two cores (measured here). One group, gathered while
the model is free, lets each batch run with the event loop idle.

Written here rather than taken from a library: the micro-batching packages on PyPI (batched,
async-batcher, aiobatch) are young 0.x releases that poll the queue on a timer, sleep the wait
window before every batch even when texts are already waiting, and run the batch function on
the shared default executor; what is needed is one asyncio queue and one worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Generic, TypeVar

Result = TypeVar("Result")


@dataclass
class BatchCounts:
    """What the batcher has done: the batches the model ran and how many texts each held."""

    batches: int = 0
    texts: int = 0
    sizes: dict[int, int] = field(default_factory=dict)
    """Batch size -> how many batches of that size ran."""
    busy_seconds: float = 0.0
    """Time the worker thread spent predicting: against the time passed, how busy the model is."""

    def add(self, size: int, seconds: float) -> None:
        self.batches += 1
        self.texts += size
        self.sizes[size] = self.sizes.get(size, 0) + 1
        self.busy_seconds += seconds

    @property
    def mean_size(self) -> float:
        return self.texts / self.batches if self.batches else 0.0


@dataclass
class Pending(Generic[Result]):
    text: str
    future: asyncio.Future[Result]


class MicroBatcher(Generic[Result]):
    """Runs batches of the texts submitted together, each batch by one of `workers` (functions
    `predict(texts) -> one result per text`), each worker in its own thread, one batch at a time.

    `start()` and `stop()` run inside the event loop that serves requests (the app's lifespan);
    `submit(texts)` returns their results in order.
    """

    def __init__(
        self,
        workers: Sequence[Callable[[list[str]], Sequence[Result]]],
        *,
        max_batch: int,
        max_wait_ms: float,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        if not workers:
            raise ValueError("a batcher needs at least one worker")
        self.workers = list(workers)
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000
        self.counts = BatchCounts()
        self._queue: asyncio.Queue[Pending[Result]] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._executor: ThreadPoolExecutor | None = None
        self._gathering: asyncio.Lock | None = None
        self._arrived: asyncio.Event | None = None
        """Set whenever texts are queued: a worker waiting for more wakes on it."""
        self._running = 0
        """Workers running a batch now."""

    @property
    def queued(self) -> int:
        """Texts waiting for the model."""
        return self._queue.qsize() if self._queue is not None else 0

    @property
    def running(self) -> bool:
        return bool(self._tasks) and not any(task.done() for task in self._tasks)

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._gathering = asyncio.Lock()
        self._arrived = asyncio.Event()
        self._executor = ThreadPoolExecutor(
            max_workers=len(self.workers), thread_name_prefix="domaintune-model"
        )
        self._tasks = [
            asyncio.create_task(self._serve(predict), name=f"domaintune-batcher-{index}")
            for index, predict in enumerate(self.workers)
        ]

    async def stop(self) -> None:
        """Stop: texts queued or in a running batch get an error (none is left waiting); the
        worker threads finish the batches they hold before this returns."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        while self._queue is not None and not self._queue.empty():
            fail([self._queue.get_nowait()], RuntimeError("the server is shutting down"))
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    async def submit(self, texts: list[str]) -> list[Result]:
        """The results of `texts`, in order, predicted in batches with whatever else is queued."""
        if self._queue is None or not self.running:
            raise RuntimeError("the batcher is not running: start() it in the serving event loop")
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in texts]
        for text, future in zip(texts, futures):
            self._queue.put_nowait(Pending(text, future))
        assert self._arrived is not None
        self._arrived.set()
        return list(await asyncio.gather(*futures))

    async def _serve(self, predict: Callable[[list[str]], Sequence[Result]]) -> None:
        """One worker's loop: gather a batch, run it, again. One worker gathers at a time, so
        the clients a batch answered come back to one batch, not split among several."""
        assert self._queue is not None and self._gathering is not None
        # Texts the next batch waits for: the clients this worker's last batch answered, who are
        # likely to come back, and what queued meanwhile when no other worker is gathering it.
        # Until a batch ran, a full one.
        expected = self.max_batch
        while True:
            async with self._gathering:
                batch = await self._gather(expected)
            batch = [pending for pending in batch if not pending.future.done()]  # callers gone
            if batch:
                await self._run(predict, batch)
                queued = 0 if self._gathering.locked() else self._queue.qsize()
                expected = min(self.max_batch, queued + len(batch))

    async def _gather(self, expected: int) -> list[Pending[Result]]:
        """The next batch: at least one text; waiting at most `max_wait` until `expected` have
        queued; then what is queued, up to `max_batch` and to this worker's share of the texts
        waiting, shared with the idle workers."""
        assert self._queue is not None and self._arrived is not None
        loop = asyncio.get_running_loop()
        batch = [await self._queue.get()]
        try:
            deadline = loop.time() + self.max_wait
            while len(batch) + self._queue.qsize() < expected:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                self._arrived.clear()
                with contextlib.suppress(asyncio.TimeoutError):  # builtin from Python 3.11 only
                    await asyncio.wait_for(self._arrived.wait(), remaining)
        except asyncio.CancelledError:  # stopped while gathering: this text is off the queue
            fail(batch, RuntimeError("the server is shutting down"))
            raise
        idle = len(self.workers) - self._running
        share = -(-(len(batch) + self._queue.qsize()) // idle)
        while len(batch) < min(self.max_batch, share) and not self._queue.empty():
            batch.append(self._queue.get_nowait())
        return batch

    async def _run(
        self, predict: Callable[[list[str]], Sequence[Result]], batch: list[Pending[Result]]
    ) -> None:
        loop = asyncio.get_running_loop()
        texts = [pending.text for pending in batch]
        self._running += 1
        try:
            outcomes, seconds = await loop.run_in_executor(
                self._executor, predict_each, predict, texts
            )
        except asyncio.CancelledError:  # stopped while the batch ran
            fail(batch, RuntimeError("the server is shutting down"))
            raise
        finally:
            self._running -= 1
        self.counts.add(len(texts), seconds)
        for pending, outcome in zip(batch, outcomes):
            if pending.future.done():
                continue
            if isinstance(outcome, Failed):
                pending.future.set_exception(outcome.error)
            else:
                pending.future.set_result(outcome)


@dataclass
class Failed:
    """An error in place of a result: a text's own failure in a batch, or an error a model's
    process (serve/workers.py) sends back to be raised in the server."""

    error: Exception


def predict_each(
    predict: Callable[[list[str]], Sequence[Result]], texts: list[str]
) -> tuple[list[Result | Failed], float]:
    """One outcome per text, and the seconds it took. A batch that fails is predicted again text
    by text, so that a text the model cannot take fails its own request, not its batch-mates'."""
    started = time.perf_counter()
    try:
        outcomes: list[Result | Failed] = list(checked(predict, texts))
    except Exception as error:
        if len(texts) == 1:
            outcomes = [Failed(error)]
        else:
            outcomes = [predict_each(predict, [text])[0][0] for text in texts]
    return outcomes, time.perf_counter() - started


def checked(predict: Callable[[list[str]], Sequence[Result]], texts: list[str]) -> Sequence[Result]:
    results = predict(texts)
    if len(results) != len(texts):
        raise RuntimeError(f"the model gave {len(results)} results for {len(texts)} texts")
    return results


def fail(batch: list[Pending[Result]], error: BaseException) -> None:
    for pending in batch:
        if not pending.future.done():
            pending.future.set_exception(error)
