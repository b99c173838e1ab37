from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix, f1_score

from domaintune.evaluate.scoring import bootstrap_intervals, resample_rows, scores_from_confusion
from domaintune.metrics import scores

LABELS = ["a", "b", "c"]


def random_predictions(seed: int, n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    gold = rng.choice(LABELS, n, p=[0.6, 0.3, 0.1])
    predicted = np.where(rng.random(n) < 0.7, gold, rng.choice(LABELS, n))
    return gold, predicted


def test_scores_from_confusion_match_scikit_learn() -> None:
    gold, predicted = random_predictions(0)
    matrix = confusion_matrix(gold, predicted, labels=LABELS)
    ours = scores_from_confusion(matrix)
    expected = scores(gold, predicted)
    for name in ("accuracy", "macro_f1", "weighted_f1"):
        assert ours[name] == pytest.approx(expected[name])
    assert ours["f1"] == pytest.approx(f1_score(gold, predicted, labels=LABELS, average=None))


def test_bootstrap_intervals_hold_the_estimate_and_narrow_with_more_data() -> None:
    gold, predicted = random_predictions(1, n=200)
    rows = resample_rows(200, samples=500, seed=0)
    small = bootstrap_intervals(gold, predicted, labels=LABELS, rows=rows, confidence_level=0.95)
    point = scores(gold, predicted)
    for name in ("accuracy", "macro_f1", "weighted_f1"):
        assert small[name][0] <= point[name] <= small[name][1]
    assert set(small) >= {"f1[a]", "f1[b]", "f1[c]"}
    gold, predicted = random_predictions(1, n=5000)
    rows = resample_rows(5000, samples=500, seed=0)
    large = bootstrap_intervals(gold, predicted, labels=LABELS, rows=rows, confidence_level=0.95)
    width = lambda interval: interval[1] - interval[0]  # noqa: E731
    assert width(large["macro_f1"]) < width(small["macro_f1"]) / 2
