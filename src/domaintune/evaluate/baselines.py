"""The cheap baselines every classifier is judged against: always the most frequent class, and
TF-IDF of words and word pairs with logistic regression (the linear probe is `probe`)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.dummy import DummyClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import Pipeline, make_pipeline

from domaintune.config import EvaluateConfig
from domaintune.evaluate.regularization import fit_best_c, logistic_regression


def tfidf_logreg(c: float, *, class_weight: str | None, seed: int) -> Pipeline:
    return make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, strip_accents="unicode"),
        logistic_regression(c, class_weight=class_weight, seed=seed),
    )


def fit_baseline(
    name: str,
    splits: dict[str, pd.DataFrame],
    evaluate: EvaluateConfig,
    *,
    class_weight: str | None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Test predictions of the majority or TF-IDF baseline, and how it was chosen."""
    train, validation, test = splits["train"], splits["validation"], splits["test"]
    if name == "majority":
        model = DummyClassifier(strategy="most_frequent").fit(train["text"], train["label"])
        return model.predict(test["text"]), {"description": "always the most frequent class"}
    model, best_c, validation_macro_f1 = fit_best_c(
        lambda c: tfidf_logreg(c, class_weight=class_weight, seed=evaluate.seed),
        c_grid=evaluate.tfidf_c_grid,
        train=(train["text"], train["label"]),
        validation=(validation["text"], validation["label"]),
    )
    return model.predict(test["text"]), {
        "description": "TF-IDF of words and word pairs with logistic regression, "
        "its regularisation chosen on the validation split",
        "c": best_c,
        "class_weight": class_weight,
        "validation_macro_f1": validation_macro_f1,
    }
