"""The logistic regressions of the TF-IDF and linear-probe baselines, and how their C is chosen.

Both baselines fit one classifier per C of the grid on the training split and keep the one with
the best macro-F1 on the validation split: the test split never chooses anything, so a baseline's
test score is as honest as the fine-tuned model's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.pipeline import Pipeline


def logistic_regression(c: float, *, class_weight: str | None, seed: int) -> LogisticRegression:
    return LogisticRegression(C=c, class_weight=class_weight, max_iter=2000, random_state=seed)


def fit_best_c(
    classifier: Callable[[float], Pipeline],
    *,
    c_grid: Sequence[float],
    train: tuple[Any, Any],
    validation: tuple[Any, Any],
) -> tuple[Pipeline, float, float]:
    """The classifier fitted on `train` (features, labels) with the C that scores the best
    validation macro-F1 (the first such C of the grid on a tie), that C, and that score."""
    fitted = {c: classifier(c).fit(*train) for c in c_grid}
    features, labels = validation
    tried = {
        c: f1_score(labels, model.predict(features), average="macro") for c, model in fitted.items()
    }
    best_c = max(tried, key=tried.get)
    return fitted[best_c], best_c, float(tried[best_c])
