from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from transformers.modeling_outputs import SequenceClassifierOutput

from domaintune.config import build_config
from domaintune.data.prepare import run_prepare
from domaintune.rundir import RunDir
from domaintune.train import run_train, weighted_loss


def test_weighted_loss_weighs_classes() -> None:
    logits = torch.tensor([[2.0, 0.0], [0.0, 2.0]])
    labels = torch.tensor([1, 1])
    outputs = SequenceClassifierOutput(logits=logits)
    plain = weighted_loss(torch.tensor([1.0, 1.0]))(outputs, labels)
    assert plain == pytest.approx(torch.nn.functional.cross_entropy(logits, labels))
    heavy = weighted_loss(torch.tensor([1.0, 3.0]))(outputs, labels)
    assert heavy == pytest.approx(3 * plain)


def test_training_learns_and_saves_a_model_with_label_names(
    tmp_path: Path, tickets_csv: Path, tiny_model: Path
) -> None:
    config = build_config(
        {"data": {"source": str(tickets_csv)}, "model": {"name_or_path": str(tiny_model)}},
        [
            "train.epochs=8",
            "train.learning_rate=0.001",
            "train.batch_size=8",
            "train.early_stopping_patience=0",
        ],
    )
    run = RunDir(tmp_path / "run")
    run_prepare(config, run)
    log = run_train(config, run)
    saved = json.loads((run.model / "config.json").read_text())
    assert saved["id2label"] == {"0": "negative", "1": "neutral", "2": "positive"}
    assert (run.model / "model.safetensors").is_file()
    assert log["best_validation_macro_f1"] > 0.7  # chance is 0.33 on three balanced classes
    assert log["rows_per_second"] > 0 and log["max_length"] % 8 == 0
    assert not run.checkpoints.exists()
    tokenizer_config = json.loads((run.model / "tokenizer_config.json").read_text())
    assert tokenizer_config["model_max_length"] == log["max_length"]


def test_early_stopping_ends_training_when_validation_stops_improving(
    tmp_path: Path, tickets_csv: Path, tiny_model: Path
) -> None:
    config = build_config(
        {"data": {"source": str(tickets_csv)}, "model": {"name_or_path": str(tiny_model)}},
        ["train.epochs=5", "train.learning_rate=1e-9", "train.early_stopping_patience=1"],
    )
    run = RunDir(tmp_path / "run")
    run_prepare(config, run)
    log = run_train(config, run)
    assert log["stopped_early"] and log["epochs_run"] == 2
    assert log["best_epoch"] == 1
