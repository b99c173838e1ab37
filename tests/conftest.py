"""Fixtures: a tiny BERT and tokenizer built locally, and small labelled data sets on disk.

Nothing here touches the network: the model is built from a config with random weights and the
tokenizer from a word list, both saved the way `from_pretrained` expects (safetensors).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from domaintune.rundir import RunDir
from tests.helpers import (
    FILLER,
    TAGS,
    WORDS,
    add_label_noise,
    build_tiny_bert,
    domaintune,
    fast_config,
    fast_settings,
    write_rated_reviews,
    write_tickets,
)
from tests.support_tickets import QUEUES, save_tiny_bert
from tests.support_tickets import WORDS as TICKET_WORDS


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer BERT with a word-level vocabulary covering the test data."""
    words = {w for words in WORDS.values() for w in words.split()} | set(FILLER)
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert"), words)


@pytest.fixture(scope="session")
def tiny_ticket_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny BERT with a vocabulary covering the tagged support tickets (multi_label)."""
    words = {w for words in TAGS.values() for w in words.split()} | set(FILLER) | {"ticket"}
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-ticket-bert"), words)


@pytest.fixture
def tickets_csv(tmp_path: Path) -> Path:
    return write_tickets(tmp_path)


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> RunDir:
    """One real run of the whole CLI, shared by the tests that only read its outputs.

    Tests that change a run work on a copy (`copy_run`). The run sets a class rule and an abstain
    rule, so that every part of the evaluation has something to report.
    """
    folder = tmp_path_factory.mktemp("e2e")
    data = write_tickets(folder)
    add_label_noise(data)
    args = ["run", "--data", str(data), "--text-column", "text", "--label-column", "label"]
    rules = [
        "--set",
        "evaluate.decision.label=negative",
        "--set",
        "evaluate.decision.value=0.9",
        "--set",
        "evaluate.abstain_target_accuracy=0.95",
    ]
    result = domaintune(
        *args, *fast_settings(tiny_model), *rules, "--out", "runs/tickets", cwd=folder
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return RunDir(folder / "runs/tickets")


@pytest.fixture(scope="session")
def rated_run(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> RunDir:
    """One regression run through prepare, train and evaluate on rated reviews (ratings 1-5 in
    their words), shared by the tests that only read its outputs."""
    from domaintune.data.prepare import run_prepare
    from domaintune.evaluate.stage import run_evaluate
    from domaintune.train.trainer import run_train

    folder = tmp_path_factory.mktemp("rated")
    config = fast_config(
        write_rated_reviews(folder),
        tiny_model,
        "task.objective=regression",
        "evaluate.bootstrap_samples=200",
    )
    run = RunDir(folder / "run")
    run_prepare(config, run)
    run_train(config, run)
    run_evaluate(config, run)
    return run


@pytest.fixture(scope="session")
def ticket_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer BERT whose vocabulary covers the support tickets (tests/support_tickets.py)."""
    return save_tiny_bert(tmp_path_factory.mktemp("ticket-bert"), TICKET_WORDS)


@pytest.fixture(scope="session")
def ticket_classifier(tmp_path_factory: pytest.TempPathFactory, ticket_model: Path) -> Path:
    """A random 3-queue classifier that reads the fields subject and body, joined: a model folder
    as train writes one (`fields.json` and `normalization.json` beside the weights), untrained."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from domaintune.config import PrepareConfig
    from domaintune.data.clean import save_normalization
    from domaintune.data.fields import TextFields, save_fields

    folder = tmp_path_factory.mktemp("ticket-classifier")
    config = BertConfig.from_pretrained(ticket_model)
    config.id2label = dict(enumerate(QUEUES))
    config.label2id = {label: i for i, label in enumerate(QUEUES)}
    torch.manual_seed(2)
    BertForSequenceClassification(config).save_pretrained(folder)
    AutoTokenizer.from_pretrained(ticket_model).save_pretrained(folder)
    save_fields(folder, TextFields(("subject", "body")))
    save_normalization(folder, PrepareConfig())
    return folder


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that uses `finished_run` or `rated_run` is `slow` wherever it lives: the fixture
    trains a model, which `make test-fast` leaves out."""
    for item in items:
        if {"finished_run", "rated_run"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
