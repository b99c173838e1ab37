"""multi_label's shared parts: label sets as multi-hot rows, sigmoid probabilities, per-label
thresholds (tuned by train on validation, saved beside the model, applied by every prediction)
and the scores of predicted label sets. Below the stages, as `metrics` is, since train, evaluate
and predict all use them.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import f1_score, hamming_loss

from domaintune.rundir import read_json, write_json

PROBLEM_TYPE = "multi_label_classification"
"""The Transformers config's name for a sigmoid per label and a binary cross-entropy loss."""
THRESHOLDS_FILE = "thresholds.json"
DEFAULT_THRESHOLD = 0.5
"""A label's threshold when validation cannot choose one (no positive there)."""
THRESHOLD_GRID = np.round(np.arange(0.05, 0.951, 0.01), 2)
"""Thresholds tried per label: every hundredth from 0.05 to 0.95."""


def prior_logits(multi_hot: np.ndarray, pos_weight: np.ndarray | None = None) -> np.ndarray:
    """Each label's best constant logit on training rows: the log-odds of its share of rows,
    times its pos_weight. A new head's biases start here (Lin et al., 2017, "prior
    initialisation"), so training begins from the labels' base rates and spends its steps on
    telling texts apart, not on pushing dozens of rare labels' sigmoids down from 0.5: started
    at 0, a Reuters run was still no better than the base rates after its first epoch. Shares
    are kept within half a row of 0 and 1."""
    rows = len(multi_hot)
    share = np.clip(multi_hot.mean(axis=0), 0.5 / rows, 1 - 0.5 / rows)
    weight = np.ones(multi_hot.shape[1]) if pos_weight is None else pos_weight
    return np.log(weight * share / (1 - share))


def is_multi_label(problem_type: str | None) -> bool:
    return problem_type == PROBLEM_TYPE


def is_label_sets(values: Iterable[Any]) -> bool:
    """Whether a split's `label` column holds label sets (Parquet lists, read as arrays)."""
    first = next(iter(values), None)
    return isinstance(first, list | tuple | np.ndarray)


def multi_hot(sets: Iterable[Iterable[str]], labels: list[str]) -> np.ndarray:
    """One row per label set, one column per label: 1.0 where the row has it."""
    index = {label: i for i, label in enumerate(labels)}
    sets = list(sets)
    rows = np.zeros((len(sets), len(labels)), dtype=np.float32)
    for row, names in enumerate(sets):
        rows[row, [index[name] for name in names]] = 1.0
    return rows


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """Each label's own probability, independent of the others."""
    return 1.0 / (1.0 + np.exp(-np.asarray(logits, dtype=np.float64)))


def set_scores(gold: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """The scores of predicted label sets (boolean matrices, rows x labels): micro-F1 (every
    label decision pooled), macro-F1 (each label's F1, averaged), samples-F1 (each row's F1,
    averaged), subset accuracy (rows whose whole set is right) and Hamming loss (the share of
    label decisions that are wrong)."""
    gold, predicted = np.asarray(gold, dtype=bool), np.asarray(predicted, dtype=bool)
    f1 = {
        f"{average}_f1": float(f1_score(gold, predicted, average=average, zero_division=0))
        for average in ("micro", "macro", "samples")
    }
    return {
        **f1,
        "subset_accuracy": float((gold == predicted).all(axis=1).mean()),
        "hamming_loss": float(hamming_loss(gold, predicted)),
    }


def tune_thresholds(probabilities: np.ndarray, gold: np.ndarray) -> np.ndarray:
    """Each label's threshold maximising its F1 on these rows (validation); the smallest of
    equal bests, and DEFAULT_THRESHOLD for a label without a positive row."""
    gold = np.asarray(gold, dtype=bool)
    chosen = np.full(gold.shape[1], DEFAULT_THRESHOLD)
    for label in range(gold.shape[1]):
        positives = gold[:, label]
        if not positives.any():
            continue
        flagged = probabilities[:, label][None, :] >= THRESHOLD_GRID[:, None]
        true_positive = (flagged & positives).sum(axis=1)
        f1 = 2 * true_positive / (flagged.sum(axis=1) + positives.sum())
        chosen[label] = float(THRESHOLD_GRID[int(np.argmax(f1))])
    return chosen


def save_thresholds(
    folder: Path, labels: list[str], thresholds: np.ndarray, **details: Any
) -> None:
    write_json(
        folder / THRESHOLDS_FILE,
        {"thresholds": dict(zip(labels, map(float, thresholds))), **details},
    )


def load_thresholds(folder: Path, labels: list[str]) -> np.ndarray:
    """The model folder's thresholds in `labels` order; DEFAULT_THRESHOLD where it has none."""
    path = folder / THRESHOLDS_FILE
    saved = read_json(path)["thresholds"] if path.is_file() else {}
    return np.array([float(saved.get(label, DEFAULT_THRESHOLD)) for label in labels])


def load_separator(folder: Path) -> str:
    """How the model's data joined labels in one string (data.label_separator, a comma when
    unset): `predict` joins a text's labels with it in CSV and TSV output."""
    path = folder / THRESHOLDS_FILE
    saved = read_json(path).get("label_separator") if path.is_file() else None
    return saved or ","
