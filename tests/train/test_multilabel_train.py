"""multi_label training: a sigmoid per label, pos_weight, thresholds tuned on validation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from transformers import EvalPrediction
from transformers.modeling_outputs import SequenceClassifierOutput

from domaintune.config import load_config
from domaintune.data.prepare import run_prepare
from domaintune.models import load_classifier, load_model_config
from domaintune.multilabel import (
    PROBLEM_TYPE,
    load_thresholds,
    multi_hot,
    prior_logits,
    set_scores,
    sigmoid,
    tune_thresholds,
)
from domaintune.rundir import RunDir
from domaintune.runfiles import TrainLog
from domaintune.train.trainer import (
    multi_label_metrics,
    positive_weighted_loss,
    positive_weights,
    run_train,
    start_from_priors,
)
from tests.helpers import domaintune, fast_config, write_tagged_tickets


def test_positive_weights_make_a_rare_labels_positives_count_more() -> None:
    rows = multi_hot([("a",), ("a", "b"), ("a",), ("a",)], ["a", "b"])
    assert positive_weights(rows).tolist() == [0.0, 3.0]
    logits = torch.zeros(2, 2)
    labels = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    outputs = SequenceClassifierOutput(logits=logits)
    plain = positive_weighted_loss(torch.ones(2))(outputs, labels)
    assert plain == pytest.approx(np.log(2))
    heavier = positive_weighted_loss(torch.tensor([1.0, 3.0]))(outputs, labels)
    assert heavier == pytest.approx(np.log(2) * (1 + 1 + 3 + 1) / 4)


def test_a_new_head_starts_from_each_labels_base_rate(tiny_ticket_model: Path) -> None:
    rows = multi_hot([("a",), ("a", "b"), ("a",), ("c",)], ["a", "b", "c"])
    prior = prior_logits(rows)
    assert sigmoid(prior) == pytest.approx([0.75, 0.25, 0.25])  # each label's share of rows
    weighted = prior_logits(rows, positive_weights(rows))
    assert sigmoid(weighted) == pytest.approx([0.5, 0.5, 0.5])  # what pos_weight balances
    never = prior_logits(multi_hot([("a",), ("a",)], ["a", "b"]))
    assert np.isfinite(never).all() and sigmoid(never)[1] == pytest.approx(0.25)  # half a row
    model = load_classifier(
        str(tiny_ticket_model), labels=["a", "b", "c"], problem_type=PROBLEM_TYPE
    )
    start_from_priors(model, rows, None)
    assert model.classifier.bias.detach().numpy() == pytest.approx(prior)


def test_epochs_are_scored_at_thresholds_tuned_on_validation() -> None:
    """A label ranked perfectly but never above 0.5 (a head still near a rare label's base rate)
    scores as the saved model will, with its tuned threshold, not 0."""
    gold = np.array([[1, 0], [0, 1], [0, 0], [1, 1]], dtype=float)
    logits = np.array([[-1.0, -3.0], [-2.5, 2.0], [-3.0, -4.0], [-1.2, 3.0]])
    scores = multi_label_metrics(EvalPrediction(predictions=logits, label_ids=gold))
    assert scores["macro_f1"] == pytest.approx(1.0)


def test_thresholds_maximise_each_labels_f1_and_default_without_positives() -> None:
    probabilities = np.array([[0.9, 0.2, 0.1], [0.3, 0.25, 0.2], [0.2, 0.1, 0.3]])
    gold = np.array([[1, 1, 0], [1, 0, 0], [0, 0, 0]], dtype=bool)
    thresholds = tune_thresholds(probabilities, gold)
    assert thresholds.tolist() == [0.21, 0.11, 0.5]
    scored = set_scores(gold, probabilities >= thresholds)
    assert scored["micro_f1"] < 1.0 and scored["macro_f1"] < 1.0  # label 1 catches row 1 too
    assert set_scores(gold, gold)["subset_accuracy"] == 1.0
    assert set_scores(gold, ~gold)["hamming_loss"] == 1.0


def test_training_learns_label_sets_and_saves_thresholds(
    tmp_path: Path, tiny_ticket_model: Path
) -> None:
    data = write_tagged_tickets(tmp_path)
    config = fast_config(
        data, tiny_ticket_model, "task.objective=multi_label", "prepare.balance=class_weights"
    )
    run = RunDir(tmp_path / "run")
    run_prepare(config, run)
    log = run_train(config, run)
    assert load_model_config(str(run.model)).problem_type == "multi_label_classification"
    assert log.labels == ["billing", "bug", "feature", "login"]
    assert log.class_weights is not None and log.class_weights["bug"] > log.class_weights["login"]
    assert log.best_validation_macro_f1 is not None and log.best_validation_macro_f1 > 0.8
    thresholds = load_thresholds(run.model, log.labels)
    assert ((thresholds >= 0.05) & (thresholds <= 0.95)).all()
    assert TrainLog.read(run.train_log) == log


def test_tune_searches_multi_label_by_validation_macro_f1(
    tmp_path: Path, tiny_ticket_model: Path
) -> None:
    config = {
        "task": {"name": "tags", "objective": "multi_label"},
        "data": {"source": str(write_tagged_tickets(tmp_path))},
        "model": {"name_or_path": str(tiny_ticket_model)},
        "train": {"threads": 1, "early_stopping_patience": 0, "freeze_embeddings": False},
        "tune": {
            "n_trials": 2,
            "learning_rate": [0.001, 0.003],
            "batch_size": [8],
            "epochs": [2, 3],
        },
    }
    path = tmp_path / "tags.yaml"
    path.write_text(yaml.safe_dump(config))
    result = domaintune("tune", str(path), "--out", "run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    trials = json.loads((tmp_path / "run/tune/trials.json").read_text())
    assert all(
        0 < trial["validation_macro_f1"] <= 1 for trial in trials if trial["state"] == "complete"
    )
    assert load_config(str(tmp_path / "run/tune/best.yaml")).task.objective == "multi_label"
