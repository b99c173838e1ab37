"""The scores of predicted numbers (`regression.value_scores`: errors, fit and rank agreement)
resampled over test rows, the paired comparison of two models' errors, and errors by true value.

Every score is a weighted sum over rows (ranks included: a value's rank in a resample is the
count of drawn values below it plus half its ties), so each resample is a row of weights and a
batch of resamples is a few matrix products (`scoring.in_batches_of_resamples`). A constant
prediction has no order: its correlations count as 0 rather than undefined (the training-mean
baseline's), in every resample as in `value_scores`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from domaintune.evaluate.scoring import (
    in_batches_of_resamples,
    percentile_interval,
    two_sided_p_value,
)
from domaintune.runfiles import (
    REGRESSION_SCORES,
    RegressionComparison,
    RegressionIntervals,
    RoundedScores,
    TargetBucket,
)

DISTINCT_BUCKETS = 12
"""With at most this many distinct true values on test, each value is its own bucket."""
QUANTILE_BUCKETS = 5
"""Otherwise, buckets of about equal rows, cut at quantiles of the true value."""


def weighted_ranks(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Each value's average rank among the rows drawn with `weights` (resamples x rows), as
    `scipy.stats.rankdata` ranks a resample's values: rows drawn nowhere get any rank."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    first = np.r_[True, ordered[1:] != ordered[:-1]]  # where each distinct value starts
    per_value = np.add.reduceat(weights[:, order], np.flatnonzero(first), axis=1)
    group = np.empty(len(values), dtype=np.intp)
    group[order] = np.cumsum(first) - 1
    below = np.cumsum(per_value, axis=1) - per_value
    return (below + (per_value + 1) / 2)[:, group]


def weighted_pearson(x: np.ndarray, y: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Pearson's r of each resample's rows (x, y of shape resamples x rows or rows), 0 where a
    side is constant."""
    total = weights.sum(axis=1, keepdims=True)
    x_centred = x - (weights * x).sum(axis=1, keepdims=True) / total
    y_centred = y - (weights * y).sum(axis=1, keepdims=True) / total
    covariance = (weights * x_centred * y_centred).sum(axis=1)
    spread = np.sqrt((weights * x_centred**2).sum(axis=1) * (weights * y_centred**2).sum(axis=1))
    tiny = 1e-12 * np.maximum(1.0, spread.max(initial=0.0))
    return np.divide(covariance, spread, out=np.zeros_like(covariance), where=spread > tiny)


def weighted_regression_scores(
    gold: np.ndarray, predicted: np.ndarray, weights: np.ndarray
) -> dict[str, np.ndarray]:
    """`regression.value_scores` of rows weighted by each row of `weights` (one per resample)."""
    total = weights.sum(axis=1)
    error = predicted - gold
    squared = weights @ error**2
    centred = gold - (weights @ gold / total)[:, None]  # not E[x²] - E[x]²: prices lose digits
    spread = (weights * centred**2).sum(axis=1)
    spread = np.where(spread > 1e-12 * (weights @ gold**2), spread, 0.0)  # a constant truth
    r2 = np.where(spread > 0, 1 - squared / np.where(spread > 0, spread, 1), 0.0)  # as value_scores
    return {
        "mae": weights @ np.abs(error) / total,
        "rmse": np.sqrt(squared / total),
        "r2": r2,
        "spearman": weighted_pearson(
            weighted_ranks(gold, weights), weighted_ranks(predicted, weights), weights
        ),
        "pearson": weighted_pearson(gold, predicted, weights),
    }


def resampled_regression_scores(
    gold: np.ndarray, predicted: np.ndarray, rows: np.ndarray
) -> dict[str, np.ndarray]:
    """The regression scores of every bootstrap resample in `rows` (from `resample_rows`)."""
    return in_batches_of_resamples(
        lambda weights: weighted_regression_scores(gold, predicted, weights), rows, len(gold)
    )


def regression_intervals(
    gold: np.ndarray, predicted: np.ndarray, rows: np.ndarray, level: float
) -> RegressionIntervals:
    resampled = resampled_regression_scores(gold, predicted, rows)
    return RegressionIntervals(
        **{
            name: percentile_interval(resampled[name], confidence_level=level)
            for name in REGRESSION_SCORES
        }
    )


def paired_mae_comparison(
    gold: np.ndarray,
    model: np.ndarray,
    baseline: np.ndarray,
    rows: np.ndarray,
    *,
    confidence_level: float,
) -> RegressionComparison:
    """MAE difference (model - baseline) over the same resampled rows: its interval, a two-sided
    p-value, and "better" when the whole interval is below zero (the model errs less)."""
    gap = np.abs(model - gold) - np.abs(baseline - gold)
    difference = in_batches_of_resamples(
        lambda weights: {"mae": weights @ gap / weights.sum(axis=1)}, rows, len(gold)
    )["mae"]
    low, high = percentile_interval(difference, confidence_level=confidence_level)
    return RegressionComparison(
        alpha=round(1 - confidence_level, 10),
        mae_difference=float(gap.mean()),
        mae_difference_interval=(low, high),
        p_value=two_sided_p_value(difference),
        verdict="better" if high < 0 else "worse" if low > 0 else "not significant",
    )


def by_target(gold: np.ndarray, predicted: np.ndarray) -> list[TargetBucket]:
    """Errors by true value: each distinct value when there are few, else quantile buckets. A
    mean error above zero at the low end and below it at the high end: extremes pulled inwards."""
    if len(np.unique(gold)) <= DISTINCT_BUCKETS:
        bucket = pd.Series(gold)
    else:
        bucket = pd.qcut(gold, QUANTILE_BUCKETS, labels=False, duplicates="drop")
    frame = pd.DataFrame({"gold": gold, "error": predicted - gold, "bucket": bucket})
    return [
        TargetBucket(
            low=float(rows["gold"].min()),
            high=float(rows["gold"].max()),
            rows=len(rows),
            mae=float(rows["error"].abs().mean()),
            mean_error=float(rows["error"].mean()),
        )
        for _, rows in frame.groupby("bucket", sort=True)
    ]


def whole_numbers(*values: np.ndarray) -> bool:
    return all(np.array_equal(part, np.round(part)) for part in values)


def rounded_scores(
    gold: np.ndarray, predicted: np.ndarray, *, low: float, high: float
) -> RoundedScores:
    """Predictions rounded to the nearest whole number (halves up) within the training range
    [low, high], as a rating scale would show them: the share exactly right, and within one."""
    rounded = np.clip(np.floor(predicted + 0.5), np.ceil(low), np.floor(high))
    off = np.abs(rounded - gold)
    return RoundedScores(exact=float(np.mean(off == 0)), within_one=float(np.mean(off <= 1)))
