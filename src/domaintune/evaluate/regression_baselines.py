"""The regression baselines, named as evaluate.baselines names the classification ones.

majority: always the training mean. tfidf_logreg: ridge regression on the classification
baseline's TF-IDF features. linear_probe: ridge on the frozen pre-trained encoder's standardised
embeddings. Each ridge is fitted on train for every alpha of evaluate.ridge_alpha_grid and keeps
the alpha with the lowest validation MAE: the test split chooses nothing.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from scipy.linalg import LinAlgWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_absolute_error
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from domaintune.config import EvaluateConfig
from domaintune.evaluate.probe import Encoder, embedded_splits

NAMES = {
    "majority": "the training mean",
    "tfidf_logreg": "TF-IDF + ridge",
    "linear_probe": "a ridge probe on the frozen pre-trained model",
}
"""evaluate.baselines' names (the classification ones) as regression runs them, in words."""

BaselineFit = tuple[np.ndarray, dict[str, Any]]
"""A baseline's test predictions, and how it was chosen (RegressionBaseline's other fields)."""


def fit_best_alpha(
    make: Callable[[float], Any],
    features: dict[str, Any],
    gold: dict[str, np.ndarray],
    alpha_grid: list[float],
) -> tuple[np.ndarray, float, float]:
    """Fit one model per alpha on train and keep the one of lowest validation MAE (the first such
    alpha of the grid on a tie). Returns its test predictions, its alpha and validation MAE."""
    best: tuple[float, float, Any] | None = None
    for alpha in alpha_grid:
        with warnings.catch_warnings():  # the grid's smallest alphas may be ill-conditioned:
            warnings.simplefilter("ignore", LinAlgWarning)  # validation judges them
            model = make(alpha).fit(features["train"], gold["train"])
        error = mean_absolute_error(gold["validation"], model.predict(features["validation"]))
        if best is None or error < best[0]:
            best = (float(error), alpha, model)
    assert best is not None  # the config refuses an empty grid
    error, alpha, model = best
    return model.predict(features["test"]), alpha, error


def training_mean(gold: dict[str, np.ndarray]) -> BaselineFit:
    mean = float(gold["train"].mean())
    return np.full(len(gold["test"]), mean), {
        "description": f"always the training mean, {mean:.3f}"
    }


def tfidf_ridge(
    splits: dict[str, pd.DataFrame], gold: dict[str, np.ndarray], options: EvaluateConfig
) -> BaselineFit:
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, strip_accents="unicode")
    vectorizer.fit(splits["train"]["text"])
    features = {name: vectorizer.transform(frame["text"]) for name, frame in splits.items()}
    predicted, alpha, error = fit_best_alpha(
        lambda alpha: Ridge(alpha=alpha), features, gold, options.ridge_alpha_grid
    )
    return predicted, {
        "description": "TF-IDF of words and word pairs with ridge regression, its "
        "regularisation chosen on the validation split's MAE",
        "alpha": alpha,
        "validation_mae": error,
    }


def probe_ridge(
    encoder: Encoder,
    splits: dict[str, pd.DataFrame],
    gold: dict[str, np.ndarray],
    options: EvaluateConfig,
) -> BaselineFit:
    """Ridge on embeddings of at most probe_max_train_rows training rows, drawn at random."""
    rows, features = embedded_splits(
        encoder,
        splits,
        max_train_rows=options.probe_max_train_rows,
        batch_size=options.batch_size,
        seed=options.seed,
    )
    predicted, alpha, error = fit_best_alpha(
        lambda alpha: make_pipeline(StandardScaler(), Ridge(alpha=alpha)),
        features,
        {**gold, "train": gold["train"][rows]},
        options.ridge_alpha_grid,
    )
    return predicted, {
        "description": "linear probe: ridge regression on the frozen pre-trained model's "
        "standardised mean-pooled embeddings, its regularisation chosen on the validation "
        "split's MAE",
        "alpha": alpha,
        "train_rows_embedded": len(rows),
        "validation_mae": error,
    }
