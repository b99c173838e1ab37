"""serve/workers.py: how many copies of the model serve, on how many threads each."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import torch
from fastapi.testclient import TestClient

from domaintune.errors import UserError
from domaintune.rundir import RunDir
from domaintune.serve.app import create_app
from domaintune.serve.batching import predict_each
from domaintune.serve.workers import (
    InProcesses,
    ModelProcess,
    load_predictor,
    load_workers,
    share_cores,
)
from tests.serve.test_app import LIMITS, assert_same, expected


def test_an_unknown_backend_is_refused_with_the_choices(served_run: RunDir) -> None:
    """Catches `--backend` typos silently served by another backend."""
    with pytest.raises(UserError, match="choose auto, torch, torch-fp32, torch-bf16, onnx"):
        load_predictor(served_run.root, backend="tensorrt")


@pytest.mark.parametrize(
    ("cores", "workers", "plan"),
    [(1, None, (1, 1)), (2, None, (2, 1)), (6, None, (3, 2)), (16, None, (4, 4)), (16, 1, (1, 16))],
)
def test_the_cores_are_shared_out_one_worker_a_core_up_to_four(
    cores: int, workers: int | None, plan: tuple[int, int]
) -> None:
    """Catches one worker computing small batches on a team of threads (on two cores, a third
    slower) or a copy of the model a core on a large machine; one worker asked for takes all."""
    assert share_cores(cores, workers) == plan


def test_pytorch_on_a_cpu_serves_a_process_a_core_each_on_one_thread(
    served_run: RunDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Catches PyTorch copies sharing one interpreter (each takes Python's lock for every layer
    it calls, so they wait for each other), copies fighting over the process's compute threads,
    and processes left running after the server stops. Two cores are forced, so this runs the
    branch on any machine."""
    monkeypatch.setattr("domaintune.serve.workers.physical_cores", lambda: 2)
    threads = torch.get_num_threads()
    texts = ["late again and no bag", "thanks, a great crew"]
    wanted = expected(served_run.root, texts, backend="torch-fp32")
    app = create_app(served_run.root, serve=LIMITS, backend="torch-fp32")
    with TestClient(app) as client:
        processes = [process.loaded for process in app.state.workers.processes]
        assert [(loaded.backend, loaded.threads) for loaded in processes] == [("torch-fp32", 1)] * 2
        assert len({loaded.pid for loaded in processes} | {os.getpid()}) == 3
        here = app.state.workers.predictor.backend  # no third copy in the server's process
        assert isinstance(here, InProcesses) and here.name == "torch-fp32"
        health = client.get("/health").json()
        assert (health["workers"], health["backend"]) == (2, "torch-fp32")
        answer = client.post("/predict", json={"texts": texts})
        assert answer.status_code == 200
        assert_same(answer.json()["predictions"], wanted)
    with TestClient(app) as client:  # started again, as each test's client does
        assert_same(client.post("/predict", json={"texts": texts}).json()["predictions"], wanted)
    assert torch.get_num_threads() == threads  # this process's threads are left alone
    app.state.workers.close()
    for loaded in processes:
        with pytest.raises(ProcessLookupError):
            os.kill(loaded.pid, 0)


def test_one_pytorch_worker_runs_in_this_process_on_every_core(
    served_run: RunDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("domaintune.serve.workers.physical_cores", lambda: 2)
    workers = load_workers(served_run.root, backend="torch-fp32", workers=1)
    (predict,) = workers.functions()
    assert workers.processes == []
    wanted = expected(served_run.root, ["late again"], backend="torch-fp32")
    assert [prediction.label for prediction in predict(["late again"])] == [wanted[0]["label"]]


def test_a_copy_that_fails_to_load_raises_its_error_here(tmp_path: Path) -> None:
    """Catches a server that hangs, or fails with a bare BrokenProcessPool, when a process
    cannot load its copy of the model."""
    process = ModelProcess(tmp_path, backend="torch-fp32", threads=1)
    try:
        with pytest.raises(UserError):
            process.wait_loaded()
    finally:
        process.close()


def test_a_model_process_ignores_ctrl_c_sent_to_the_group(served_run: RunDir) -> None:
    """Ctrl+C reaches every process of the terminal's group: a copy that died of it would fail
    the batches still running while the server shuts down, with a traceback per process."""
    process = ModelProcess(served_run.root, backend="torch-fp32", threads=1)
    try:
        loaded = process.wait_loaded()
        os.kill(loaded.pid, signal.SIGINT)
        assert [prediction.label for prediction in process(["late again"])] == [
            row["label"] for row in expected(served_run.root, ["late again"], backend="torch-fp32")
        ]
    finally:
        process.close()


def test_a_model_process_that_died_is_started_again(served_run: RunDir) -> None:
    """Catches a worker that fails every batch for the rest of the server's life once its
    process is killed (for memory, say): the batcher's next batch gets its answers, from a new
    process (whether the kill lands before the call or during it)."""
    process = ModelProcess(served_run.root, backend="torch-fp32", threads=1)
    try:
        first = process.wait_loaded()
        texts = ["late again", "thanks, a great crew"]
        os.kill(first.pid, signal.SIGKILL)
        outcomes, _ = predict_each(process, texts)
        wanted = expected(served_run.root, texts, backend="torch-fp32")
        assert [outcome.label for outcome in outcomes] == [row["label"] for row in wanted]
        assert process.loaded is not None and process.loaded.pid != first.pid
    finally:
        process.close()


def test_a_model_on_the_gpu_serves_one_worker(
    served_run: RunDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Forces the GPU branch on any machine: CUDA says it is there, the model's device cuda."""
    monkeypatch.setattr("domaintune.serve.workers.physical_cores", lambda: 2)
    first = load_workers(served_run.root, backend="torch-fp32", workers=1).predictor
    monkeypatch.setattr(first.backend, "device", torch.device("cuda"))
    monkeypatch.setattr("domaintune.serve.workers.torch.cuda.is_available", lambda: True)
    monkeypatch.setattr("domaintune.serve.workers.load_predictor", lambda *_, **__: first)
    workers = load_workers(served_run.root, backend="torch-fp32", workers=None)
    assert workers.predictor is first and workers.processes == []
    with pytest.raises(UserError, match="a model on the GPU takes one worker"):
        load_workers(served_run.root, backend="torch-fp32", workers=2)
