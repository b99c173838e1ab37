"""serve/workers.py: how many copies of the model serve, on how many threads each."""

from __future__ import annotations

import pytest
import torch
from fastapi.testclient import TestClient

from domaintune.errors import UserError
from domaintune.rundir import RunDir
from domaintune.serve.app import create_app
from domaintune.serve.workers import load_predictor, load_workers
from tests.serve.test_app import LIMITS


def test_an_unknown_backend_is_refused_with_the_choices(served_run: RunDir) -> None:
    """Catches `--backend` typos silently served by another backend."""
    with pytest.raises(UserError, match="choose auto, torch, torch-fp32, torch-bf16, onnx"):
        load_predictor(served_run.root, backend="tensorrt")


def test_pytorch_on_a_cpu_serves_one_worker_a_core_each_on_one_thread(
    served_run: RunDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Catches several PyTorch workers fighting over the process's compute threads, one worker
    computing small batches on a team of threads (on two cores, a third slower), or a copy of
    the model a core on a large machine."""
    monkeypatch.setattr("domaintune.serve.workers.physical_cores", lambda: 2)
    torch.set_num_threads(2)
    workers = load_workers(served_run.root, backend="torch-fp32", workers=None)
    assert len(workers) == 2 and torch.get_num_threads() == 1
    assert workers[0].backend.model is not workers[1].backend.model  # each its own copy
    assert {worker.backend.name for worker in workers} == {"torch-fp32"}
    torch.set_num_threads(2)
    assert len(load_workers(served_run.root, backend="torch-fp32", workers=1)) == 1
    assert torch.get_num_threads() == 2  # one worker keeps every core
    monkeypatch.setattr("domaintune.serve.workers.physical_cores", lambda: 16)
    assert len(load_workers(served_run.root, backend="torch-fp32", workers=None)) == 4
    assert torch.get_num_threads() == 4  # a large machine: four workers of four threads
    monkeypatch.setattr("domaintune.serve.workers.physical_cores", lambda: 2)
    with TestClient(create_app(served_run.root, serve=LIMITS, backend="torch-fp32")) as client:
        assert client.get("/health").json()["workers"] == 2
        answer = client.post("/predict", json={"texts": ["late again", "thanks"]})
        assert answer.status_code == 200 and len(answer.json()["predictions"]) == 2


def test_a_model_on_the_gpu_serves_one_worker(
    served_run: RunDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Forces the GPU branch on any machine: the model's device says cuda."""
    monkeypatch.setattr("domaintune.serve.workers.physical_cores", lambda: 2)
    (first,) = load_workers(served_run.root, backend="torch-fp32", workers=1)
    monkeypatch.setattr(first.backend, "device", torch.device("cuda"))
    monkeypatch.setattr("domaintune.serve.workers.load_predictor", lambda *_, **__: first)
    assert load_workers(served_run.root, backend="torch-fp32", workers=None) == [first]
    with pytest.raises(UserError, match="a model on the GPU takes one worker"):
        load_workers(served_run.root, backend="torch-fp32", workers=2)
