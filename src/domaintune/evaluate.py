"""The evaluate stage: score the fine-tuned model on the test split, against baselines, with intervals.

Reads model/ and data/ from the run directory; writes metrics.json and predictions.parquet (one row
per test example, in the test split's order). Baselines see exactly the rows the model saw: they
are fitted on the training split, tuned on the validation split and scored on the test split.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.dummy import DummyClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    accuracy_score,
    classification_report,
    confusion_matrix,
    f1_score,
)
from sklearn.pipeline import Pipeline, make_pipeline

from domaintune.config import Config, EvaluateConfig
from domaintune.predict import Predictor
from domaintune.rundir import RunDir, read_json, write_json, write_parquet, write_text


def scores(gold: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    return {
        "accuracy": float(accuracy_score(gold, predicted)),
        "macro_f1": float(f1_score(gold, predicted, average="macro", zero_division=0)),
        "weighted_f1": float(f1_score(gold, predicted, average="weighted", zero_division=0)),
    }


def scores_from_confusion(matrices: np.ndarray) -> dict[str, np.ndarray]:
    """Accuracy, macro/weighted F1 and per-class F1 from confusion matrices of shape (..., k, k)."""
    true_positive = np.diagonal(matrices, axis1=-2, axis2=-1).astype(float)
    support = matrices.sum(axis=-1)
    predicted = matrices.sum(axis=-2)
    denominator = support + predicted
    f1 = np.divide(
        2 * true_positive, denominator, out=np.zeros_like(true_positive), where=denominator > 0
    )
    total = support.sum(axis=-1)
    return {
        "accuracy": true_positive.sum(axis=-1) / total,
        "macro_f1": f1.mean(axis=-1),
        "weighted_f1": (f1 * support).sum(axis=-1) / total,
        "f1": f1,
    }


def bootstrap_intervals(
    gold: np.ndarray, predicted: np.ndarray, labels: list[str], options: EvaluateConfig
) -> dict[str, list[float]]:
    """Percentile bootstrap intervals over test rows for the headline scores and each class's F1.

    Each resample is reduced to its confusion matrix with one `bincount`, so a thousand resamples
    of a large test split take well under a second.
    """
    k = len(labels)
    index = {label: i for i, label in enumerate(labels)}
    codes = np.array([index[g] * k + index[p] for g, p in zip(gold, predicted)])
    rng = np.random.default_rng(options.seed)
    rows = rng.integers(0, len(codes), (options.bootstrap_samples, len(codes)))
    offsets = np.arange(options.bootstrap_samples)[:, None] * k * k
    matrices = np.bincount(
        (codes[rows] + offsets).ravel(), minlength=options.bootstrap_samples * k * k
    )
    resampled = scores_from_confusion(matrices.reshape(options.bootstrap_samples, k, k))
    tail = (1 - options.confidence_level) / 2 * 100
    samples = {name: resampled[name] for name in ("accuracy", "macro_f1", "weighted_f1")}
    samples |= {f"f1[{label}]": resampled["f1"][:, i] for i, label in enumerate(labels)}
    return {
        name: [float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail))]
        for name, values in samples.items()
    }


def tfidf_logreg(c: float, class_weight: str | None, seed: int) -> Pipeline:
    return make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, strip_accents="unicode"),
        LogisticRegression(C=c, class_weight=class_weight, max_iter=2000, random_state=seed),
    )


def fit_baseline(
    name: str,
    splits: dict[str, pd.DataFrame],
    options: EvaluateConfig,
    class_weight: str | None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Test predictions of one baseline, and how it was chosen."""
    train, validation, test = splits["train"], splits["validation"], splits["test"]
    if name == "majority":
        model = DummyClassifier(strategy="most_frequent").fit(train["text"], train["label"])
        return model.predict(test["text"]), {"description": "always the most frequent class"}
    fitted = {
        c: tfidf_logreg(c, class_weight, options.seed).fit(train["text"], train["label"])
        for c in options.tfidf_c_grid
    }
    tried = {
        c: f1_score(validation["label"], model.predict(validation["text"]), average="macro")
        for c, model in fitted.items()
    }
    best_c = max(tried, key=tried.get)
    model = fitted[best_c]
    return model.predict(test["text"]), {
        "description": "TF-IDF of words and word pairs with logistic regression, "
        "its regularisation chosen on the validation split",
        "c": best_c,
        "class_weight": class_weight,
        "validation_macro_f1": float(tried[best_c]),
    }


def run_evaluate(config: Config, run: RunDir) -> dict[str, Any]:
    """Score model/ on data/test.parquet; write metrics.json and predictions.parquet."""
    run.require(run.split("test"), run.card, stage="prepare")
    run.require(run.model, stage="train")
    options = config.evaluate
    run.clear_from("evaluate")
    labels: list[str] = read_json(run.card)["labels"]
    splits = {name: pd.read_parquet(run.split(name)) for name in ("train", "validation", "test")}
    test = splits["test"]
    gold = test["label"].to_numpy()

    predictor = Predictor(run.model)
    probabilities = predictor.predict_proba(test["text"].tolist(), options.batch_size)
    predicted = np.array(predictor.labels)[probabilities.argmax(axis=1)]

    report = classification_report(
        gold, predicted, labels=labels, output_dict=True, zero_division=0
    )
    metrics: dict[str, Any] = {
        **scores(gold, predicted),
        "test_rows": len(test),
        "labels": labels,
        "intervals": bootstrap_intervals(gold, predicted, labels, options),
        "confidence_level": options.confidence_level,
        "per_class": {label: report[label] for label in labels},
        "confusion_matrix": confusion_matrix(gold, predicted, labels=labels).tolist(),
        "baselines": {},
    }
    class_weight = "balanced" if config.prepare.balance == "class_weights" else None
    for name in options.baselines:
        baseline_predicted, details = fit_baseline(name, splits, options, class_weight)
        metrics["baselines"][name] = {
            **scores(gold, baseline_predicted),
            "intervals": bootstrap_intervals(gold, baseline_predicted, labels, options),
            **details,
        }

    predictions = test[["text", "label"]].assign(predicted=predicted)
    for index, label in enumerate(predictor.labels):
        predictions[f"p_{label}"] = probabilities[:, index]
    write_parquet(run.predictions, predictions)
    write_json(run.metrics, metrics)
    write_text(run.config, config.to_yaml())  # the settings these figures were measured with
    return metrics
