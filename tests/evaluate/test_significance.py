from __future__ import annotations

import numpy as np
import pytest

from domaintune.evaluate.scoring import resample_rows
from domaintune.evaluate.significance import mcnemar, paired_test

LABELS = ["a", "b"]


def test_mcnemar_exact_and_mid_p_match_the_binomial_by_hand() -> None:
    # 6 rows only the model gets right, none only the baseline: p = 2 * 0.5**6
    model = np.array([True] * 10)
    baseline = np.array([False] * 6 + [True] * 4)
    result = mcnemar(model, baseline)
    assert (result["only_model"], result["only_baseline"]) == (6, 0)
    assert result["p_value"] == pytest.approx(2 * 0.5**6)
    assert result["mid_p_value"] == pytest.approx(2 * 0.5**6 - 0.5**6)
    assert mcnemar(model, model)["p_value"] == 1.0
    balanced = mcnemar(np.array([True, False]), np.array([False, True]))
    assert balanced["p_value"] == 1.0 and balanced["mid_p_value"] < 1.0


def paired(seed: int, model_accuracy: float, baseline_accuracy: float, n: int = 400):
    rng = np.random.default_rng(seed)
    gold = rng.choice(LABELS, n)
    flip = {"a": "b", "b": "a"}
    wrong = lambda accuracy: np.array([g if rng.random() < accuracy else flip[g] for g in gold])  # noqa: E731
    return gold, wrong(model_accuracy), wrong(baseline_accuracy)


def test_a_clearly_better_model_is_better_and_equal_models_are_not_significant() -> None:
    rows = resample_rows(400, samples=500, seed=0)
    gold, model, baseline = paired(0, 0.9, 0.7)
    shared = {"labels": LABELS, "rows": rows, "confidence_level": 0.95}
    result = paired_test(gold, model, baseline, **shared, point_difference=0.2)
    assert result["verdict"] == "better"
    assert result["paired_bootstrap"]["macro_f1_difference_interval"][0] > 0
    result = paired_test(gold, baseline, model, **shared, point_difference=-0.2)
    assert result["verdict"] == "worse"
    gold, model, baseline = paired(1, 0.8, 0.8)
    result = paired_test(gold, model, baseline, **shared, point_difference=0.0)
    assert result["verdict"] == "not significant"
