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

import numpy as np
import torch

from domaintune.errors import UserError
from domaintune.machine import physical_cores
from domaintune.predict import Predictor
from domaintune.predict.backends import Backend, OnnxBackend
from domaintune.serve import check_backend
from domaintune.serve.batching import Failed
from domaintune.serve.schemas import Prediction


def load_predictor(path: Path, *, backend: str | Backend, threads: int | None = None) -> Predictor:
    """The run's predictor, on `backend` (auto: the run's ONNX export if there is one; or a
    backend already made); `threads`: ONNX Runtime's compute threads (None: one per physical
    core)."""
    if isinstance(backend, str):
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
each. Each worker holds a copy of the model, and every text and answer passes through the
server's one event loop, which took 0.3 ms of CPU a text under 16 clients (two cores of a Xeon
with AMX): past a few workers it, not the model, would set the pace. Not measured on more than
two cores."""


@dataclass
class Workers:
    """The copies of the model that run the server's batches, one per worker of the batcher:
    this process's `predictor` alone, run by a thread of the batcher, or one copy in a process
    of its own per worker (`processes`). `predictor` says what the model is (labels, fields,
    token limit, rules, backend) either way."""

    predictor: Predictor
    processes: list[ModelProcess] = field(default_factory=list)
    """The copies in processes of their own; then `predictor`'s backend is `InProcesses`, and
    this process holds no copy."""

    def functions(self) -> list[Callable[[list[str]], list[Prediction]]]:
        """One function per worker, for the batcher: a batch of texts -> their predictions."""
        return list(self.processes) or [batch_predictor(self.predictor)]

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

    Several workers each run their copy in a process of their own (`ModelProcess`), so that none
    waits for Python's lock while another copy or the event loop holds it: PyTorch takes it for
    every layer it calls, ONNX Runtime for the Python part of a batch (13-19% of it). Under 16
    single-text clients for 60 s (`bench/serve_load.py`, MiniLM-L6 of the default task, two
    cores of a Xeon with AMX): PyTorch bf16 409-483 texts/s over four runs (0.64 to 0.699 of
    offline batch 32) against 342 (0.49) from two threads of the server the same hour; ONNX
    int8 553 and 510 (0.86, 0.81) against 531 and 500 (0.84, 0.80), alternating. PyTorch's
    remaining gap is padding and batch size, not the server: two processes computing random
    batches of 7 test texts with no server ran 576 texts/s, against 688 for one of two threads
    on batches of 32 sorted by length. The price is memory: each process holds its own libraries
    as well as its copy, 0.6 GB resident for MiniLM-L6 and 1.0 GB for MPNet-base (bf16 on a
    Xeon with AMX). The server's own process then loads no copy (`InProcesses`): it needs the
    model's labels, fields and rules, not its weights, and held 0.52 GB with MPNet-base, against
    1.00 GB with a copy (resident once listening, two workers). One worker, and a model on a GPU
    (which runs one batch at a time anyway), run in this process."""
    check_backend(backend)
    count, threads = share_cores(physical_cores(), workers)
    predictor = None
    if torch.cuda.is_available():  # the only case where a copy in this process may be chosen
        predictor = load_predictor(path, backend=backend, threads=threads)
        if not isinstance(predictor.backend, OnnxBackend):  # PyTorch on the GPU
            if workers is not None and workers > 1:
                raise UserError(
                    f"serve.workers {workers}: a model on the GPU takes one worker; leave "
                    "workers unset"
                )
            return Workers(predictor)
        backend = "onnx"  # the export on the CPU, as auto chose: every copy alike
    if count == 1:
        return Workers(predictor or load_predictor(path, backend=backend, threads=threads))
    processes = [ModelProcess(path, backend=backend, threads=threads) for _ in range(count)]
    try:
        loaded = [process.wait_loaded() for process in processes]
        described = load_predictor(path, backend=InProcesses(loaded[0].backend))
    except BaseException:
        for process in processes:
            process.close()
        raise
    return Workers(described, processes=processes)


class InProcesses:
    """The backend of the server's own `Predictor` when the model's copies run in processes of
    their own: named as they named what they loaded, it holds no model, so the server's process
    keeps no copy it never computes with (with MPNet-base, 0.48 GB of the 1.00 it held)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def logits(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        raise RuntimeError(
            f"the model ({self.name}) computes in the server's model processes, not in this one"
        )


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
    worker thread or in a `ModelProcess`, so the event loop does none of this work."""
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
        self._arguments = (path, backend, threads)
        self._lock = threading.Lock()
        self.loaded: Loaded | None = None
        self._start()

    def _start(self) -> None:
        context = get_context("spawn")
        self._pipe, theirs = context.Pipe()
        self._process = context.Process(
            target=serve_copy, args=(theirs, *self._arguments), name="domaintune-model", daemon=True
        )
        self._process.start()
        theirs.close()

    def wait_loaded(self) -> Loaded:
        """Once the copy is loaded and warm, what loaded; raises what loading it raised."""
        self.loaded = self._receive()
        return self.loaded

    def __call__(self, texts: list[str]) -> list[Prediction]:
        """The predictions of `texts`. A process that has died (killed for memory, say) is
        started again first, so that a batch it took with it fails alone: the batcher predicts
        that batch again text by text, on the new process."""
        with self._lock:
            if not self._process.is_alive():
                self._pipe.close()
                self._start()
                self.wait_loaded()
            with contextlib.suppress(OSError):  # died since: reading the answer says how
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
        if isinstance(answer, Failed):
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
        answer(pipe, Failed(error))
        return
    answer(pipe, Loaded(os.getpid(), predictor.backend.name, compute_threads(predictor)))
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
            answer(pipe, Failed(error))


def compute_threads(predictor: Predictor) -> int:
    """The threads `predictor`'s model computes on: its ONNX Runtime session's, or PyTorch's."""
    if isinstance(predictor.backend, OnnxBackend):
        return predictor.backend.session.get_session_options().intra_op_num_threads
    return torch.get_num_threads()


def answer(pipe: Connection, message: object) -> None:
    """Send `message`; an error that cannot be pickled is sent as its type and message."""
    try:
        pipe.send(message)
    except (pickle.PicklingError, TypeError, AttributeError):
        if not isinstance(message, Failed):
            raise
        error = message.error
        pipe.send(Failed(RuntimeError(f"{type(error).__name__}: {error}")))
