"""Whole run files for unit tests: every field their model requires, with plain values, so that a
test states only the figures it is about (as keyword overrides of the top-level fields)."""

from __future__ import annotations

from typing import Any

from domaintune.data.card import StepName
from domaintune.runfiles import DataCard, Metrics, TrainLog

LABELS = ["negative", "neutral", "positive"]
SPLITS = ("train", "validation", "test")
REPORT = ("precision", "recall", "f1-score")
"""A class's figures in scikit-learn's classification report, beside its support."""


def counts(rows: int) -> dict[str, int]:
    return dict.fromkeys(LABELS, rows)


def step(name: StepName, **changes: Any) -> dict[str, Any]:
    """A step that kept and changed nothing, but for `changes`."""
    fields = {
        "name": name,
        "description": f"the {name} step",
        "rows_before": 1000,
        "rows_after": 1000,
        "changed": 0,
        "examples": [],
        "removed": 0,
    }
    return fields | changes


def card(**changes: Any) -> DataCard:
    lengths = dict.fromkeys(("chars_mean", "chars_p50", "chars_p95", "chars_p99"), 60.0)
    lengths |= dict.fromkeys(("words_mean", "words_p50", "words_p95", "words_p99"), 12.0)
    lengths |= {"chars_max": 80, "words_max": 16}
    fields = {
        "source": "tickets.csv",
        "text_column": "text",
        "label_column": "label",
        "labels": LABELS,
        "language": "en",
        "rows_read": 1000,
        "rows_kept": 1000,
        "steps": [step(name) for name in StepName],
        "classes": {"raw": counts(334), "clean": counts(333)},
        "balance": "class_weights",
        "splits": {"train": counts(267), "validation": counts(33), "test": counts(33)},
        "lengths": {name: lengths for name in SPLITS},
        "leakage": {"near_duplicate_pairs_after": {"train_validation": 0, "train_test": 0}},
        "label_audit": {"mode": "flag", "flagged": 0, "likely_errors": 0, "by_split": {}},
        "split": {
            "method": "random",
            "made": {"validation": "random", "test": "random"},
            "rows": {"train": 801, "validation": 99, "test": 99},
            "near_train_kept": {},
        },
    }
    return DataCard.model_validate(fields | changes)


def train_log(**changes: Any) -> TrainLog:
    fields = {
        "model": "builtin:minilm",
        "method": "full",
        "batch_size": 16,
        "learning_rate": 1e-4,
        "weight_decay": 0.01,
        "warmup_ratio": 0.1,
        "seed": 42,
        "group_by_length": True,
        "dropout": 0.0,
        "freeze_embeddings": True,
        "parameters": 1000,
        "trainable_parameters": 100,
        "labels": LABELS,
        "max_length": 64,
        "max_length_set_by": "percentile",
        "max_length_percentile": 99.0,
        "truncated_rows": 0,
        "train_rows": 800,
        "validation_rows": 100,
        "tokenized_from_cache": False,
        "class_weights": None,
        "epochs_planned": 3.0,
        "epochs_run": 3.0,
        "steps": 150,
        "best_epoch": 3.0,
        "best_validation_macro_f1": 0.8,
        "stopped_early": False,
        "resumed_from": None,
        "train_seconds": 10.0,
        "step_seconds": 9.0,
        "rows_per_second": 266.67,
        "tokens_per_second": 3200.0,
        "padded_tokens_per_second": 3500.0,
        "padded_tokens_per_token": 1.094,
        "throughput_by_epoch": [],
        "precision": "fp32",
        "device": "cpu",
        "processes": 1,
        "torch_threads": 1,
        "history": [],
    }
    return TrainLog.model_validate(fields | changes)


def intervals(low: float = 0.7, high: float = 0.9) -> dict[str, list[float]]:
    """The same interval for every score and every class's F1."""
    names = ["accuracy", "macro_f1", "weighted_f1", *(f"f1[{label}]" for label in LABELS)]
    return {name: [low, high] for name in names}


def metrics(**changes: Any) -> Metrics:
    outcome = dict.fromkeys(("threshold", "coverage", "accuracy", "error_rate"), 0.5)
    outcome |= {"wrong_per_1000": 100.0, "to_human_per_1000": 0.0}
    fields = {
        "accuracy": 0.8,
        "macro_f1": 0.8,
        "weighted_f1": 0.8,
        "test_rows": 99,
        "labels": LABELS,
        "intervals": intervals(),
        "confidence_level": 0.95,
        "bootstrap_samples": 200,
        "per_class": {label: dict.fromkeys(REPORT, 0.8) | {"support": 33.0} for label in LABELS},
        "average_precision": dict.fromkeys(LABELS, 0.8),
        "confusion_matrix": [[27, 3, 3], [3, 27, 3], [3, 3, 27]],
        "calibration": {
            "temperature": 1.0,
            "bins": 15,
            "ece_before": 0.01,
            "ece_after": 0.01,
            "validation_nll_before": 0.5,
            "validation_nll_after": 0.5,
            "reliability_before": [],
            "reliability_after": [],
        },
        "decision": {"abstain_table": [outcome], "abstain": None, "class_rule": None},
        "by_length": [],
        "baselines": {},
        "significance": {},
    }
    return Metrics.model_validate(fields | changes)


def baseline(macro_f1: float, low: float, high: float) -> dict[str, Any]:
    """A majority-style baseline: scores, intervals and a description, no other details."""
    return {
        "accuracy": macro_f1,
        "macro_f1": macro_f1,
        "weighted_f1": macro_f1,
        "intervals": intervals(low, high),
        "description": "a baseline",
    }


def comparison(difference: float, verdict: str) -> dict[str, Any]:
    return {
        "alpha": 0.05,
        "macro_f1_difference": difference,
        "mcnemar": {"only_model": 10, "only_baseline": 2, "p_value": 0.04, "mid_p_value": 0.02},
        "paired_bootstrap": {"macro_f1_difference_interval": [0.0, 0.1], "p_value": 0.04},
        "verdict": verdict,
    }
