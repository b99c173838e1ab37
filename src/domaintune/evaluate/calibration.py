"""Calibration: how far predicted probabilities are from observed accuracy, and temperature scaling.

A fine-tuned classifier is usually over-confident. Temperature scaling divides the logits by one
scalar T fitted on the validation split (minimum negative log-likelihood); the ranking of the
labels, and so every predicted label, stays the same. The temperature is saved beside the model in
`calibration.json` (domaintune.temperature), which `predict.Predictor` reads.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax

LOG_TEMPERATURE_BOUNDS = (-4.0, 4.0)
"""T between e^-4 and e^4 (0.018 to 55): wide enough for any classifier seen in practice."""


def negative_log_likelihood(
    logits: np.ndarray, gold: np.ndarray, *, temperature: float = 1.0
) -> float:
    """Mean NLL of the gold label ids under softmax(logits / T)."""
    scaled = log_softmax(np.asarray(logits, dtype=np.float64) / temperature, axis=1)
    return float(-scaled[np.arange(len(gold)), gold].mean())


def fit_temperature(logits: np.ndarray, gold: np.ndarray) -> float:
    """The T minimising NLL on held-out rows; searched over log T so that T stays positive."""
    result = minimize_scalar(
        lambda log_t: negative_log_likelihood(logits, gold, temperature=float(np.exp(log_t))),
        bounds=LOG_TEMPERATURE_BOUNDS,
        method="bounded",
    )
    best = float(np.exp(result.x))
    # The bounded search can stop a hair worse than T = 1; never make the model worse on its data.
    unscaled = negative_log_likelihood(logits, gold)
    return best if negative_log_likelihood(logits, gold, temperature=best) <= unscaled else 1.0


def reliability(probs: np.ndarray, gold: np.ndarray, *, bins: int) -> dict[str, Any]:
    """Expected calibration error over equal-width confidence bins, and each bin's figures.

    ECE = sum over bins of (rows in bin / all rows) * |accuracy in bin - mean confidence in bin|.
    """
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == gold
    edges = np.linspace(0.0, 1.0, bins + 1)
    # right-closed bins, (0, 1/b], ..., so a confidence of exactly 1 falls in the last one
    which = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    counts = np.bincount(which, minlength=bins)
    confidence_sum = np.bincount(which, weights=confidence, minlength=bins)
    correct_sum = np.bincount(which, weights=correct.astype(float), minlength=bins)
    filled = counts > 0
    mean_confidence = np.divide(confidence_sum, counts, out=np.zeros(bins), where=filled)
    accuracy = np.divide(correct_sum, counts, out=np.zeros(bins), where=filled)
    ece = float((counts / counts.sum() * np.abs(accuracy - mean_confidence)).sum())
    return {
        "ece": ece,
        "bins": [
            {
                "lower": float(edges[i]),
                "upper": float(edges[i + 1]),
                "rows": int(counts[i]),
                "confidence": float(mean_confidence[i]),
                "accuracy": float(accuracy[i]),
            }
            for i in range(bins)
            if filled[i]
        ],
    }
