"""The model's copies that run the server's batches: how many, on how many threads each, and the
function each runs on a batch."""

from __future__ import annotations

import contextlib
import math
import os
import pickle
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing import get_context
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import torch

from domaintune.errors import UserError
from domaintune.machine import physical_cores
from domaintune.predict import Predictor
from domaintune.predict.backends import OnnxBackend
from domaintune.serve import check_backend
from domaintune.serve.schemas import Prediction


def load_predictor(path: Path, *, backend: str, threads: int | None = None) -> Predictor:
    """The run's predictor, on `backend` (auto: the run's ONNX export if there is one);
    `threads`: ONNX Runtime's compute threads (None: one per physical core)."""
    check_backend(backend)
    predictor = Predictor(path, backend=backend, threads=threads)
    if predictor.multi_label or predictor.regression:
        kind = "multi_label" if predictor.multi_label else "regression"
        raise UserError(
            f"{predictor.folder} is a {kind} model: serve is not supported for {kind} yet; use "
            "`domaintune predict`"
        )
    return predictor


MAX_CPU_WORKERS = 4
"""Workers on a CPU unless `serve.workers` says otherwise; more cores become compute threads of
each. ONNX Runtime's workers share the server's Python interpreter, and the part of a batch that
holds its lock (normalising, tokenising, building the answer) was 13-19% of a batch's time at
batches of 8 and 16 (MiniLM-L6 int8 on one thread, two cores of a Xeon with AMX): with a fifth
of each batch under the lock, workers past about five would wait for it, each holding a copy of
the model. PyTorch's workers are processes, but each batch's answer still passes through the one
event loop. Not measured on more than two cores."""


@dataclass
class Workers:
    """The copies of the model that run the server's batches, one per worker of the batcher:
    in this process (`copies`, each run by a thread of the batcher) or each in a process of its
    own (`processes`). `predictor`, in this process, says what the model is (labels, fields,
    backend); it is the first copy when the copies are here."""

    predictor: Predictor
    copies: list[Predictor] = field(default_factory=list)
    processes: list[ModelProcess] = field(default_factory=list)

    def functions(self) -> list[Callable[[list[str]], list[Prediction]]]:
        """One function per worker, for the batcher: a batch of texts -> their predictions."""
        return [batch_predictor(copy) for copy in self.copies] + list(self.processes)

    def close(self) -> None:
        for process in self.processes:
            process.close()


def share_cores(cores: int, workers: int | None) -> tuple[int, int]:
    """How many workers, and how many compute threads each, for `cores` physical cores and
    `serve.workers` (None: one a core up to `MAX_CPU_WORKERS`)."""
    threads = max(1, cores // workers) if workers else math.ceil(cores / MAX_CPU_WORKERS)
    return workers or cores // threads, threads


def load_workers(path: Path, *, backend: str, workers: int | None) -> Workers:
    """One copy of the model and tokenizer per worker of the batcher (`serve.workers`), so that
    batches run side by side without sharing state.

    On a CPU, by default one worker per physical core up to `MAX_CPU_WORKERS`, beyond that as
    many compute threads each as it takes to keep the cores busy: two cores make two workers of
    one thread, six make three of two, sixteen four of four. A model on one thread runs a batch
    without waking and syncing a team of threads, and two such on two cores kept both busy while
    the event loop answered clients. ONNX Runtime: random batches of 8 test texts ran at 887
    texts/s, against 658 for batches of 16 on one session of two threads and 718 for batches of 32
    sorted by length (MiniLM-L6 int8, AMD EPYC, `bench/serve_load.py`'s texts).

    ONNX Runtime's copies live in this process: a session computes without Python's lock. Several
    PyTorch copies each run in a process of their own (`ModelProcess`): PyTorch takes the lock
    for every layer it calls, so two copies in one process wait for each other and for the event
    loop. 16 single-text clients for 60 s (`bench/serve_load.py`, MiniLM-L6 bf16 of the default
    task, two cores of a Xeon with AMX) got 409-483 texts/s from two processes over four runs,
    0.64 to 0.699 of offline batch 32, against 342 (0.49) from two threads in the server's
    process the same hour.
    The rest of the gap to offline is padding and batch size, not the server: two processes
    computing random batches of 7 test texts with no server ran 576 texts/s, against 688 for one
    of two threads on batches of 32 sorted by length. On a GPU, one worker in this process: it runs one batch at a time anyway."""
    count, threads = share_cores(physical_cores(), workers)
    first = load_predictor(path, backend=backend, threads=threads)
    onnx = isinstance(first.backend, OnnxBackend)
    if not onnx and first.backend.device.type != "cpu":
        if workers is not None and workers > 1:
            raise UserError(
                f"serve.workers {workers}: a model on the GPU takes one worker; leave workers unset"
            )
        count = 1
    backend = "onnx" if onnx else first.backend.name  # auto resolved once: every copy alike
    if onnx or count == 1:
        copies = [load_predictor(path, backend=backend, threads=threads) for _ in range(count - 1)]
        return Workers(first, copies=[first, *copies])
    processes = [ModelProcess(path, backend=backend, threads=threads) for _ in range(count)]
    try:
        for process in processes:
            process.wait_loaded()
    except BaseException:
        for process in processes:
            process.close()
        raise
    return Workers(first, processes=processes)


def warm_up(predictor: Predictor) -> None:
    """Predict once on this (the main) thread before the batcher's worker thread does.

    Beyond the first batch's one-off costs, this changes how PyTorch's OpenMP threads wait: GNU
    OpenMP lets an idle thread spin long before it sleeps, unless it runs more threads than
    there are cores. A prediction here gives it a second team of threads (the main thread's) so
    the worker's team spins briefly, and the cores it would burn go to other work: on two cores
    shared with other processes, MiniLM-L6 batches in the worker thread took 13 ms of CPU per
    text with this, 35-44 ms without (19 against 78 texts/s); `GOMP_SPINCOUNT=1000` does the
    same."""
    fields = predictor.fields
    text = "warm-up" if fields is None else dict.fromkeys(fields.names, "warm-up")
    predictor.predict_proba([text] * 2, batch_size=2)


def batch_predictor(predictor: Predictor) -> Callable[[list[str]], list[Prediction]]:
    """`Predictor.decide` on one batch, each row as the API's `Prediction`. Runs in the batcher's
    worker thread, so the event loop does none of this work."""
    labels = predictor.labels
    columns = [f"p_{label}" for label in labels]

    def predict(texts: list[str]) -> list[Prediction]:
        table = predictor.decide(texts, batch_size=len(texts))
        probabilities = table[columns].to_numpy().tolist()
        return [
            Prediction(
                label=label,
                confidence=confidence,
                decision=decision,
                probabilities=dict(zip(labels, row)),
            )
            for label, confidence, decision, row in zip(
                table["label"], table["confidence"].tolist(), table["decision"], probabilities
            )
        ]

    return predict


class ModelProcess:
    """A copy of the model in a process of its own, called as `batch_predictor`'s function is:
    texts in, predictions out, over a pipe. The batcher's thread that calls it waits on the pipe
    without Python's lock while the process computes.

    A pipe, not a process pool: a pool's call passes through two more threads of this process
    (one writes the call, one reads the answer), each taking the lock the event loop needs.

    The process is started with spawn, not fork: a forked copy of a process running PyTorch's
    and the event loop's threads may inherit a lock held by a thread that is not copied. It
    ignores Ctrl+C, which the terminal sends to the whole group: the server, stopping, closes
    it; and it ends when this process does (daemon), or when its pipe closes."""

    def __init__(self, path: Path, *, backend: str, threads: int) -> None:
        context = get_context("spawn")
        self._pipe, theirs = context.Pipe()
        self._process = context.Process(
            target=serve_copy,
            args=(theirs, path, backend, threads),
            name="domaintune-model",
            daemon=True,
        )
        self._process.start()
        theirs.close()
        self._lock = threading.Lock()
        self.loaded: Loaded | None = None

    def wait_loaded(self) -> Loaded:
        """Once the copy is loaded and warm, what loaded; raises what loading it raised."""
        self.loaded = self._receive()
        return self.loaded

    def __call__(self, texts: list[str]) -> list[Prediction]:
        with self._lock:
            self._pipe.send(texts)
            return self._receive()

    def _receive(self) -> Any:
        try:
            answer = self._pipe.recv()
        except (EOFError, OSError):
            self._process.join(timeout=1)
            raise RuntimeError(
                f"the model's process {self._process.pid} stopped (exit code "
                f"{self._process.exitcode})"
            ) from None
        if isinstance(answer, Raised):
            raise answer.error
        return answer

    def close(self) -> None:
        """Stop the process (it ends once it has answered the batch it holds) and wait for it."""
        with contextlib.suppress(OSError):
            self._pipe.send(None)
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join()
        self._pipe.close()


@dataclass(frozen=True)
class Loaded:
    """What a `ModelProcess` loaded, as its process sees it."""

    pid: int
    backend: str
    threads: int


@dataclass(frozen=True)
class Raised:
    """An error raised in a `ModelProcess`, sent back to be raised in the server."""

    error: Exception


def serve_copy(pipe: Connection, path: Path, backend: str, threads: int) -> None:
    """A `ModelProcess`'s life: load the copy, say what loaded, then answer each batch of texts
    the pipe brings until it brings None or closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        torch.set_num_threads(threads)
        predictor = load_predictor(path, backend=backend, threads=threads)
        warm_up(predictor)
        predict = batch_predictor(predictor)
    except Exception as error:
        answer(pipe, Raised(error))
        return
    answer(pipe, Loaded(os.getpid(), predictor.backend.name, torch.get_num_threads()))
    while True:
        try:
            texts = pipe.recv()
        except EOFError:  # the server is gone
            return
        if texts is None:
            return
        try:
            answer(pipe, predict(texts))
        except Exception as error:
            answer(pipe, Raised(error))


def answer(pipe: Connection, message: object) -> None:
    """Send `message`; an error that cannot be pickled is sent as its type and message."""
    try:
        pipe.send(message)
    except (pickle.PicklingError, TypeError, AttributeError):
        if not isinstance(message, Raised):
            raise
        error = message.error
        pipe.send(Raised(RuntimeError(f"{type(error).__name__}: {error}")))
