"""Fixtures of the server tests: a run folder around a tiny random classifier, built without
training (a model folder, metrics.json and a model card), so the API tests stay fast."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from domaintune.rundir import RunDir
from domaintune.temperature import save_temperature
from tests.runfile_examples import LABELS, metrics

pytest.importorskip(
    "fastapi", reason="the server tests need the serve extra: pip install -e '.[serve]'"
)

MODEL_CARD = """---
library_name: transformers
---

# tickets

A text classifier for customer messages, fine-tuned from `tiny-bert` with domaintune.

## Intended use

Read the tone of a customer's message,
so that complaints are answered first.

Output: one label per text.

## Evaluation

| model | accuracy |
|---|---|

## Limitations

- The weakest class is 'neutral'.
- Texts longer than 64 tokens are cut.
"""


@pytest.fixture(autouse=True)
def torch_threads_kept() -> Iterator[None]:
    """Serving PyTorch on several workers sets the process's compute threads to one per worker;
    the tests after a server's keep the cores they had."""
    import torch

    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def served_run(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> RunDir:
    """A run as the server reads it: model/ (a tiny 3-label classifier with random weights, a
    calibration temperature and a model card) and metrics.json; no data, no training."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    run = RunDir(tmp_path_factory.mktemp("served") / "tickets")
    config = BertConfig.from_pretrained(tiny_model)
    config.id2label = dict(enumerate(LABELS))
    config.label2id = {label: index for index, label in enumerate(LABELS)}
    torch.manual_seed(0)  # the same random weights every run
    BertForSequenceClassification(config).save_pretrained(run.model)
    AutoTokenizer.from_pretrained(tiny_model).save_pretrained(run.model)
    save_temperature(run.model, 1.5, {"fitted_on": "validation"})
    run.model_card.write_text(MODEL_CARD, encoding="utf-8")
    metrics().write(run.metrics)
    return run


@pytest.fixture
def run_copy(served_run: RunDir, tmp_path: Path) -> RunDir:
    """A copy of `served_run` that a test may change (e.g. give it decision rules)."""
    copy = RunDir(tmp_path / "tickets")
    shutil.copytree(served_run.root, copy.root)
    return copy
