"""The micro-batcher on a plain function (no model): how it gathers texts into batches, that each
caller gets its own results, and that it never hangs a caller."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from domaintune.serve.batching import MicroBatcher


class Recorder:
    """A batch function that records each batch it is given and which thread ran it."""

    def __init__(self, *, seconds: float = 0.0, fail_on: str | None = None) -> None:
        self.batches: list[list[str]] = []
        self.threads: set[str] = set()
        self.seconds = seconds
        self.fail_on = fail_on

    def __call__(self, texts: list[str]) -> list[str]:
        self.batches.append(list(texts))
        self.threads.add(threading.current_thread().name)
        if self.seconds:
            time.sleep(self.seconds)
        if self.fail_on in texts:
            raise ValueError(f"cannot read {self.fail_on}")
        return [text.upper() for text in texts]


async def running(batcher: MicroBatcher, work):
    await batcher.start()
    try:
        return await work
    finally:
        await batcher.stop()


def test_concurrent_single_texts_share_batches_and_each_caller_gets_its_own_answer() -> None:
    """Catches a batcher that runs each request alone (no throughput gain) or hands a caller
    another caller's result: 40 concurrent one-text submits must run in a few batches, each
    answered with its own text."""
    recorder = Recorder(seconds=0.02)
    batcher = MicroBatcher([recorder], max_batch=16, max_wait_ms=50)
    texts = [f"text {index}" for index in range(40)]

    async def clients():
        return await asyncio.gather(*(batcher.submit([text]) for text in texts))

    answers = asyncio.run(running(batcher, clients()))

    assert answers == [[text.upper()] for text in texts]
    assert batcher.counts.batches == len(recorder.batches) <= 4
    assert batcher.counts.texts == 40
    assert max(len(batch) for batch in recorder.batches) == 16
    assert sorted(text for batch in recorder.batches for text in batch) == sorted(texts)


def test_a_list_longer_than_a_batch_is_split_and_answered_in_order() -> None:
    """Catches batches above max_batch (memory, latency) or a list answered out of order when
    its texts ran in several batches."""
    recorder = Recorder()
    batcher = MicroBatcher([recorder], max_batch=4, max_wait_ms=0)
    texts = [f"t{index}" for index in range(10)]

    answers = asyncio.run(running(batcher, batcher.submit(texts)))

    assert answers == [text.upper() for text in texts]
    assert [len(batch) for batch in recorder.batches] == [4, 4, 2]


def test_a_full_batch_queued_while_the_model_was_busy_runs_at_once() -> None:
    """Catches a batcher that sleeps its wait window before every batch: when a full batch
    queued while the model was busy, it must start as soon as the model is free."""
    recorder = Recorder(seconds=0.3)
    batcher = MicroBatcher([recorder], max_batch=2, max_wait_ms=30_000)

    async def clients():
        first = asyncio.create_task(batcher.submit(["a", "b"]))  # a full batch: runs at once
        await asyncio.sleep(0.1)  # the model is busy with it
        started = time.perf_counter()
        late = await batcher.submit(["c", "d"])
        return await first, late, time.perf_counter() - started

    first, late, waited = asyncio.run(running(batcher, clients()))

    assert (first, late) == (["A", "B"], ["C", "D"])
    assert waited < 5, f"the queued texts waited {waited:.1f} s: the wait window was added"
    assert recorder.batches == [["a", "b"], ["c", "d"]]


def test_two_groups_of_clients_taking_turns_merge_into_one_batch() -> None:
    """Catches groups of clients that stay split once split (a late client, a pause): each
    batch would then run while the event loop answers the other group, which slows the model
    down (the loop takes the GIL and a core). What queued meanwhile waits, at most the window,
    for the clients just answered, and no longer than until they are back."""
    recorder = Recorder(seconds=0.2)
    batcher = MicroBatcher([recorder], max_batch=8, max_wait_ms=2000)
    second_round: dict[str, float] = {}

    async def client(name: str, delay: float) -> None:
        await asyncio.sleep(delay)
        await batcher.submit([f"{name}1"])  # answered, the client comes back at once
        started = time.perf_counter()
        await batcher.submit([f"{name}2"])
        second_round[name] = time.perf_counter() - started

    async def clients():
        await batcher.submit(["w1", "w2"])  # a batch of two: two clients are expected next
        await asyncio.gather(client("a", 0), client("b", 0), client("c", 0.1), client("d", 0.1))

    asyncio.run(running(batcher, clients()))

    assert [sorted(batch) for batch in recorder.batches] == [
        ["w1", "w2"],
        ["a1", "b1"],
        ["a2", "b2", "c1", "d1"],  # c and d queued meanwhile; a and b came back to join them
        ["c2", "d2"],  # a and b have left: this one waits out the window
    ]
    assert second_round["a"] < 1.5, "the merged batch waited out its window with all there"


def test_a_text_reaching_an_idle_model_waits_for_as_many_as_the_last_batch_at_most_the_window() -> (
    None
):
    """Catches a window that is not applied (clients answered together, coming back a moment
    apart, would run alone), one that always runs out (a full batch kept waiting), or one not
    bounded (a lone client waiting for a batch that never fills)."""
    recorder = Recorder()
    batcher = MicroBatcher([recorder], max_batch=8, max_wait_ms=1000)

    async def timed(texts: list[str]) -> float:
        started = time.perf_counter()
        await batcher.submit(texts)
        return time.perf_counter() - started

    async def clients():
        await batcher.submit(["a", "b"])  # two clients answered together...
        first = asyncio.create_task(timed(["c"]))  # ...come back a moment apart
        await asyncio.sleep(0.05)
        await batcher.submit(["d"])
        pair = await first
        alone = await timed(["e"])  # one of them left: e waits the window once...
        next_alone = await timed(["f"])  # ...and a lone client no more after that
        return pair, alone, next_alone

    pair, alone, next_alone = asyncio.run(running(batcher, clients()))

    assert recorder.batches == [["a", "b"], ["c", "d"], ["e"], ["f"]]
    assert pair < 0.9, f"c waited {pair:.2f} s: the window ran out although d had come"
    assert 0.9 < alone < 10
    assert next_alone < 0.9


def test_the_model_runs_in_one_worker_thread_off_the_event_loop() -> None:
    """Catches predicting on the event loop (which would stall every other request) or on
    several threads at once (batches fighting over the same cores)."""
    recorder = Recorder(seconds=0.01)
    batcher = MicroBatcher([recorder], max_batch=2, max_wait_ms=0)

    async def clients():
        loop_thread = threading.current_thread().name
        await asyncio.gather(*(batcher.submit([f"t{index}"]) for index in range(9)))
        return loop_thread

    loop_thread = asyncio.run(running(batcher, clients()))

    assert len(recorder.threads) == 1
    assert loop_thread not in recorder.threads


def test_a_text_the_model_cannot_take_fails_its_own_request_only() -> None:
    """Catches one bad text failing every request that shared its batch, a batcher whose loop
    dies on the error (every later request would hang), or a failed caller left waiting."""
    recorder = Recorder(fail_on="bad")
    batcher = MicroBatcher([recorder], max_batch=4, max_wait_ms=50)

    async def clients():
        bad, good = await asyncio.gather(
            batcher.submit(["bad"]), batcher.submit(["good"]), return_exceptions=True
        )
        return bad, good, await batcher.submit(["later"])

    bad, good, later = asyncio.run(running(batcher, clients()))

    assert isinstance(bad, ValueError) and "cannot read bad" in str(bad)
    assert (good, later) == (["GOOD"], ["LATER"])
    assert recorder.batches[0] == ["bad", "good"]


def test_a_caller_that_gave_up_costs_no_model_time() -> None:
    """Catches texts of a cancelled request (a client that disconnected) still being predicted
    while other clients wait."""
    recorder = Recorder(seconds=0.2)
    batcher = MicroBatcher([recorder], max_batch=1, max_wait_ms=0)

    async def clients():
        busy = asyncio.create_task(batcher.submit(["busy"]))
        await asyncio.sleep(0.05)
        gone = asyncio.create_task(batcher.submit(["gone"]))
        await asyncio.sleep(0.01)
        gone.cancel()
        return await busy, await batcher.submit(["next"])

    assert asyncio.run(running(batcher, clients())) == (["BUSY"], ["NEXT"])
    assert ["gone"] not in recorder.batches


def test_stopping_fails_queued_texts_instead_of_leaving_them_waiting() -> None:
    """Catches a shutdown that leaves requests hanging on futures nobody will complete."""
    recorder = Recorder(seconds=0.2)
    batcher = MicroBatcher([recorder], max_batch=1, max_wait_ms=0)

    async def scenario():
        await batcher.start()
        running_now = asyncio.create_task(batcher.submit(["first"]))
        queued = asyncio.create_task(batcher.submit(["second"]))
        await asyncio.sleep(0.05)
        await batcher.stop()
        return await asyncio.gather(running_now, queued, return_exceptions=True)

    outcomes = asyncio.run(asyncio.wait_for(scenario(), 10))
    assert all(isinstance(outcome, RuntimeError) for outcome in outcomes)


def test_stopping_fails_a_text_waiting_in_the_window() -> None:
    """Catches a shutdown that drops the texts already taken off the queue to wait for others:
    their callers would wait forever."""
    batcher = MicroBatcher([Recorder()], max_batch=8, max_wait_ms=60_000)

    async def scenario():
        await batcher.start()
        waiting = asyncio.create_task(batcher.submit(["alone"]))
        await asyncio.sleep(0.1)  # taken off the queue, waiting for others to join it
        await batcher.stop()
        return await asyncio.gather(waiting, return_exceptions=True)

    (outcome,) = asyncio.run(asyncio.wait_for(scenario(), 10))
    assert isinstance(outcome, RuntimeError)


def test_submitting_before_start_is_an_error_not_a_hang() -> None:
    """Catches an app whose lifespan did not start the batcher: requests must fail loudly."""
    batcher = MicroBatcher([Recorder()], max_batch=1, max_wait_ms=0)
    with pytest.raises(RuntimeError, match="not running"):
        asyncio.run(batcher.submit(["a"]))


def test_texts_waiting_together_are_shared_among_idle_workers_that_run_side_by_side() -> None:
    """Catches workers that run one batch at a time (the second core idle) or one worker taking
    every waiting text while the other stays idle: each worker blocks at a barrier of two, which
    only breaks when both batches run at once, and the 16 texts split 8 and 8."""
    meeting = threading.Barrier(2, timeout=10)

    class Meeting(Recorder):
        def __call__(self, texts: list[str]) -> list[str]:
            meeting.wait()
            return super().__call__(texts)

    first, second = Meeting(), Meeting()
    batcher = MicroBatcher([first, second], max_batch=32, max_wait_ms=1000)
    texts = [f"text {index}" for index in range(16)]

    async def clients():
        return await asyncio.gather(*(batcher.submit([text]) for text in texts))

    answers = asyncio.run(running(batcher, clients()))

    assert answers == [[text.upper()] for text in texts]
    assert [len(batch) for batch in first.batches + second.batches] == [8, 8]
    assert first.threads.isdisjoint(second.threads)
