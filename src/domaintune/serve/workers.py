"""The model's copies that run the server's batches: how many, on how many threads each, and the
function each runs on a batch."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

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
each. The workers share one Python interpreter, and the part of a batch that holds its lock
(normalising, tokenising, building the answer; for PyTorch also calling each layer) was 11-19% of
a batch's time at batches of 8 and 16 (MiniLM-L6 on one thread, ONNX int8 and PyTorch, two cores
of a Xeon with AMX). With up to a fifth of each batch under the lock, workers past about five
would wait for it, each holding a copy of the model. Not measured on more than two cores."""


def load_workers(path: Path, *, backend: str, workers: int | None) -> list[Predictor]:
    """One predictor per worker of the batcher (`serve.workers`), each its own copy of the model
    and tokenizer, so that batches run side by side without sharing state.

    On a CPU, by default one worker per physical core up to `MAX_CPU_WORKERS`, beyond that as
    many compute threads each as it takes to keep the cores busy: two cores make two workers of
    one thread, six make three of two, sixteen four of four. A model on one thread runs a batch
    without waking and syncing a team of threads, and two such on two cores kept both busy while
    the event loop answered clients. ONNX Runtime: random batches of 8 test texts ran at 887
    texts/s, against 658 for batches of 16 on one session of two threads and 718 for batches of 32
    sorted by length (MiniLM-L6 int8, AMD EPYC, `bench/serve_load.py`'s texts). PyTorch, whose
    compute threads are the whole process's, so they are set to the cores a worker gets: random
    batches of 16 ran at 550-602 texts/s on two workers of one thread, against 333-341 on one
    worker of two (MiniLM-L6 bf16, two cores of a Xeon with AMX). On a GPU, one worker: it runs
    one batch at a time anyway."""
    cores = physical_cores()
    threads = max(1, cores // workers) if workers else math.ceil(cores / MAX_CPU_WORKERS)
    count = workers or cores // threads
    first = load_predictor(path, backend=backend, threads=threads)
    onnx = isinstance(first.backend, OnnxBackend)
    if not onnx and first.backend.device.type != "cpu":
        if workers is not None and workers > 1:
            raise UserError(
                f"serve.workers {workers}: a model on the GPU takes one worker; leave workers unset"
            )
        return [first]
    if not onnx and count > 1:
        torch.set_num_threads(threads)
    copy = "onnx" if onnx else first.backend.name  # auto resolved once: every copy alike
    return [first] + [load_predictor(path, backend=copy, threads=threads) for _ in range(count - 1)]


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
