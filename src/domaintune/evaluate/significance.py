"""Is the fine-tuned model really better than a baseline, or is the gap test-set noise?

Two paired tests on the same test rows: McNemar's exact test on which rows each model gets right
(with its mid-p variant, less conservative on few disagreements), and a paired bootstrap of the
macro-F1 difference, which also gives an interval for the gain. The verdict is "significant" only
when both agree, so a claim of improvement survives either way of looking at it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import binom

from domaintune.evaluate.scoring import percentile_interval, resampled_scores, two_sided_p_value


def mcnemar(model_correct: np.ndarray, baseline_correct: np.ndarray) -> dict[str, Any]:
    """Exact (binomial) McNemar test on the rows where exactly one of the two models is right."""
    only_model = int(np.sum(model_correct & ~baseline_correct))
    only_baseline = int(np.sum(~model_correct & baseline_correct))
    disagreements = only_model + only_baseline
    if disagreements == 0:
        return {"only_model": 0, "only_baseline": 0, "p_value": 1.0, "mid_p_value": 1.0}
    smaller = min(only_model, only_baseline)
    tail = 2 * float(binom.cdf(smaller, disagreements, 0.5))
    exact = min(1.0, tail)
    mid = min(1.0, tail - float(binom.pmf(smaller, disagreements, 0.5)))
    return {
        "only_model": only_model,
        "only_baseline": only_baseline,
        "p_value": exact,
        "mid_p_value": mid,
    }


def paired_bootstrap(
    gold: np.ndarray,
    model: np.ndarray,
    baseline: np.ndarray,
    *,
    labels: list[str],
    rows: np.ndarray,
    confidence_level: float,
) -> dict[str, Any]:
    """Macro-F1 difference (model - baseline) over the same resampled rows, with its interval.

    The p-value is two-sided: twice the share of resamples on the far side of zero.
    """
    difference = (
        resampled_scores(gold, model, labels=labels, rows=rows)["macro_f1"]
        - resampled_scores(gold, baseline, labels=labels, rows=rows)["macro_f1"]
    )
    return {
        "macro_f1_difference_interval": percentile_interval(
            difference, confidence_level=confidence_level
        ),
        "p_value": two_sided_p_value(difference),
    }


def paired_test(
    gold: np.ndarray,
    model: np.ndarray,
    baseline: np.ndarray,
    *,
    labels: list[str],
    rows: np.ndarray,
    confidence_level: float,
    point_difference: float,
) -> dict[str, Any]:
    """Both paired tests of the model against one baseline, and the verdict: better, worse, or
    not significantly different."""
    alpha = round(1 - confidence_level, 10)
    exact = mcnemar(model == gold, baseline == gold)
    paired = paired_bootstrap(
        gold, model, baseline, labels=labels, rows=rows, confidence_level=confidence_level
    )
    low, high = paired["macro_f1_difference_interval"]
    significant = exact["p_value"] < alpha and (low > 0 or high < 0)
    if significant and low > 0 and exact["only_model"] > exact["only_baseline"]:
        verdict = "better"
    elif significant and high < 0 and exact["only_model"] < exact["only_baseline"]:
        verdict = "worse"
    else:
        verdict = "not significant"
    return {
        "alpha": alpha,
        "macro_f1_difference": point_difference,
        "mcnemar": exact,
        "paired_bootstrap": paired,
        "verdict": verdict,
    }
