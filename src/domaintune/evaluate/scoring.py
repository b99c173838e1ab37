"""The bootstrap of scores over test rows (the point scores are `domaintune.metrics.scores`).

The bootstrap is vectorised: one `bincount` turns all resamples into confusion matrices at once, so a thousand resamples of a
large test split take well under a second. The same resampled rows serve every model scored on the
split, which is what a paired comparison needs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


def scores_from_confusion(matrices: np.ndarray) -> dict[str, np.ndarray]:
    """Accuracy, macro/weighted F1 and per-class F1 from confusion matrices of shape (..., k, k)."""
    true_positive = np.diagonal(matrices, axis1=-2, axis2=-1).astype(float)
    support = matrices.sum(axis=-1)
    predicted = matrices.sum(axis=-2)
    denominator = support + predicted
    f1 = np.divide(
        2 * true_positive, denominator, out=np.zeros_like(true_positive), where=denominator > 0
    )
    total = support.sum(axis=-1)
    return {
        "accuracy": true_positive.sum(axis=-1) / total,
        "macro_f1": f1.mean(axis=-1),
        "weighted_f1": (f1 * support).sum(axis=-1) / total,
        "f1": f1,
    }


def resample_rows(rows: int, *, samples: int, seed: int) -> np.ndarray:
    """Row indices of `samples` bootstrap resamples, shape (samples, rows)."""
    return np.random.default_rng(seed).integers(0, rows, (samples, rows))


RESAMPLES_AT_ONCE = 64
"""Resamples weighed at a time: their (resamples x test rows) weights stay small in memory."""


def resample_weights(rows: np.ndarray, count: int) -> np.ndarray:
    """How often each of `count` rows is drawn in each resample of `rows` (from `resample_rows`):
    a score that is a weighted sum over rows then scores every resample in one matrix product."""
    samples = len(rows)
    offsets = np.arange(samples)[:, None] * count
    drawn = np.bincount((rows + offsets).ravel(), minlength=samples * count)
    return drawn.reshape(samples, count).astype(np.float64)


def in_batches_of_resamples(
    weighted: Callable[[np.ndarray], dict[str, np.ndarray]], rows: np.ndarray, count: int
) -> dict[str, np.ndarray]:
    """`weighted` (scores of rows weighted by each row of its argument) for every resample in
    `rows`, RESAMPLES_AT_ONCE at a time, each score concatenated over the batches."""
    parts = [
        weighted(resample_weights(rows[start : start + RESAMPLES_AT_ONCE], count))
        for start in range(0, len(rows), RESAMPLES_AT_ONCE)
    ]
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}


def two_sided_p_value(difference: np.ndarray) -> float:
    """A paired bootstrap's p-value: twice the share of resampled differences on the far side
    of zero, at most 1."""
    far_side = min(np.mean(difference <= 0), np.mean(difference >= 0))
    return float(min(1.0, 2 * far_side))


def resampled_scores(
    gold: np.ndarray, predicted: np.ndarray, *, labels: list[str], rows: np.ndarray
) -> dict[str, np.ndarray]:
    """The scores of each resample in `rows` (from `resample_rows`)."""
    k = len(labels)
    index = {label: i for i, label in enumerate(labels)}
    codes = np.array([index[g] * k + index[p] for g, p in zip(gold, predicted)])
    samples = len(rows)
    offsets = np.arange(samples)[:, None] * k * k
    matrices = np.bincount((codes[rows] + offsets).ravel(), minlength=samples * k * k)
    return scores_from_confusion(matrices.reshape(samples, k, k))


def percentile_interval(values: np.ndarray, *, confidence_level: float) -> list[float]:
    tail = (1 - confidence_level) / 2 * 100
    return [float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail))]


def bootstrap_intervals(
    gold: np.ndarray,
    predicted: np.ndarray,
    *,
    labels: list[str],
    rows: np.ndarray,
    confidence_level: float,
) -> dict[str, Any]:
    """Percentile intervals over the resampled `rows` for the headline scores and each class's F1."""
    resampled = resampled_scores(gold, predicted, labels=labels, rows=rows)
    samples = {name: resampled[name] for name in ("accuracy", "macro_f1", "weighted_f1")}
    samples |= {f"f1[{label}]": resampled["f1"][:, i] for i, label in enumerate(labels)}
    return {
        name: percentile_interval(values, confidence_level=confidence_level)
        for name, values in samples.items()
    }
