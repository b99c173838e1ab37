"""Accuracy and F1 of predicted labels: the one definition that training's per-epoch validation
scores and evaluation's test figures share, so the two can never mean different things by
macro-F1. It sits below the stages (see the import contract) because both import it.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, f1_score


def scores(gold: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """Accuracy, macro-F1 and weighted F1; a class never predicted scores an F1 of 0."""
    return {
        "accuracy": float(accuracy_score(gold, predicted)),
        "macro_f1": float(f1_score(gold, predicted, average="macro", zero_division=0)),
        "weighted_f1": float(f1_score(gold, predicted, average="weighted", zero_division=0)),
    }
