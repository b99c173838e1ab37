"""regression's shared parts: the target's standardisation, folded into the model's head once
trained, and the scores of predicted values. Below the stages, as `multilabel` is, since train,
evaluate and predict all use them.

The model learns the standardised target (mean 0, standard deviation 1), so the loss, learning
rate and the new head's initialisation mean the same whatever the scale of the numbers (stars
1-5, prices in thousands). Training then folds the standardisation into the head's last linear
layer, so the saved model outputs values on the data's own scale: `predict`, `serve` and
`transformers.pipeline(..., function_to_apply="none")` need nothing beside the weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.stats import pearsonr, spearmanr

PROBLEM_TYPE = "regression"
"""The Transformers config's name for one output and a mean-squared-error loss."""


def is_regression(problem_type: str | None) -> bool:
    return problem_type == PROBLEM_TYPE


@dataclass(frozen=True)
class TargetScale:
    """The training target's mean and standard deviation."""

    mean: float
    std: float

    @classmethod
    def fit(cls, values: np.ndarray) -> TargetScale:
        """From the training values; a constant target keeps a standard deviation of 1."""
        std = float(np.std(values))
        return cls(mean=float(np.mean(values)), std=std if std > 0 else 1.0)

    def standardize(self, values: np.ndarray) -> np.ndarray:
        return (np.asarray(values, dtype=np.float64) - self.mean) / self.std

    def restore(self, values: np.ndarray) -> np.ndarray:
        return np.asarray(values, dtype=np.float64) * self.std + self.mean


@torch.no_grad()
def fold_into_head(layer: torch.nn.Linear, scale: TargetScale) -> None:
    """Make a model whose output layer is `layer` output `scale.restore` of what it outputs now:
    the layer's weights times the standard deviation, its bias times it plus the mean."""
    layer.weight.mul_(scale.std)
    if layer.bias is None:
        raise ValueError("the model's output layer has no bias to add the target's mean to")
    layer.bias.mul_(scale.std).add_(scale.mean)


def value_scores(gold: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """MAE, RMSE, R² (1 - squared error / the variance of the truth), and Spearman's and
    Pearson's correlations (0 where either side is constant: no order to agree with)."""
    gold, predicted = np.asarray(gold, dtype=np.float64), np.asarray(predicted, dtype=np.float64)
    error = predicted - gold
    variance = float(np.sum((gold - gold.mean()) ** 2))
    varies = np.ptp(gold) > 0 and np.ptp(predicted) > 0
    return {
        "mae": float(np.mean(np.abs(error))),
        "rmse": float(np.sqrt(np.mean(error**2))),
        "r2": 1 - float(np.sum(error**2)) / variance if variance > 0 else 0.0,
        "spearman": float(spearmanr(gold, predicted).statistic) if varies else 0.0,
        "pearson": float(pearsonr(gold, predicted).statistic) if varies else 0.0,
    }
