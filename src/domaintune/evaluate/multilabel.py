"""The evaluate stage for task.objective multi_label: label sets scored, per label, against
baselines, with intervals.

The same contract as `stage.run_evaluate`: the model (PyTorch fp32) predicts validation and test;
each label is decided by the threshold train tuned on validation (model/thresholds.json). Scores:
micro-, macro- and samples-F1, subset accuracy and Hamming loss, with bootstrap intervals over
test rows; per label precision, recall, F1, support and average precision. Baselines fit on train
and choose C and each label's threshold on validation, never on test: the most frequent label
set, one-vs-rest TF-IDF + LR, and one-vs-rest LR on the frozen encoder's embeddings (the probe).
Each is compared to the model by a paired bootstrap of micro-F1 on the same resampled rows.

Also the model card (model/README.md). Not done for multi_label: temperature calibration (the
sigmoids are used as they are), decision rules and abstaining, and error analysis by length.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, precision_recall_fscore_support
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from domaintune.config import Config, EvaluateConfig
from domaintune.data.fields import prepared_inputs
from domaintune.errors import UserError
from domaintune.evaluate.model_card import write_multi_label_model_card
from domaintune.evaluate.probe import Encoder, embedded_splits
from domaintune.evaluate.scoring import (
    in_batches_of_resamples,
    percentile_interval,
    resample_rows,
    two_sided_p_value,
)
from domaintune.multilabel import load_thresholds, multi_hot, set_scores, sigmoid, tune_thresholds
from domaintune.predict import Predictor
from domaintune.rundir import RunDir, read_parquet, write_parquet, write_text
from domaintune.runfiles import (
    DataCard,
    LabelReport,
    MultiLabelMetrics,
    SetBaseline,
    SetComparison,
    SetIntervals,
    TrainLog,
)

SCORES = ("micro_f1", "macro_f1", "samples_f1", "subset_accuracy", "hamming_loss")


def weighted_set_scores(
    gold: np.ndarray, predicted: np.ndarray, weights: np.ndarray
) -> dict[str, np.ndarray]:
    """The multi_label scores of rows weighted by each row of `weights` (one per resample), so
    the pooled counts of every resample are one matrix product each."""
    gold, predicted = gold.astype(bool), predicted.astype(bool)
    rows, labels = gold.shape
    tp = weights @ (gold & predicted)
    fp = weights @ (~gold & predicted)
    fn = weights @ (gold & ~predicted)
    counted = 2 * tp + fp + fn
    label_f1 = np.divide(2 * tp, counted, out=np.zeros_like(tp), where=counted > 0)
    row_tp = (gold & predicted).sum(axis=1)
    row_total = gold.sum(axis=1) + predicted.sum(axis=1)
    row_f1 = np.divide(2 * row_tp, row_total, out=np.zeros(rows), where=row_total > 0)
    pooled = counted.sum(axis=1)
    return {
        "micro_f1": np.divide(
            2 * tp.sum(axis=1), pooled, out=np.zeros(len(weights)), where=pooled > 0
        ),
        "macro_f1": label_f1.mean(axis=1),
        "samples_f1": weights @ row_f1 / rows,
        "subset_accuracy": weights @ (gold == predicted).all(axis=1) / rows,
        "hamming_loss": weights @ (gold != predicted).sum(axis=1) / (rows * labels),
        "f1": label_f1,
    }


def resampled_set_scores(
    gold: np.ndarray, predicted: np.ndarray, rows: np.ndarray
) -> dict[str, np.ndarray]:
    """The multi_label scores of every bootstrap resample in `rows` (from `resample_rows`)."""
    return in_batches_of_resamples(
        lambda weights: weighted_set_scores(gold, predicted, weights), rows, len(gold)
    )


def intervals(
    gold: np.ndarray, predicted: np.ndarray, labels: list[str], rows: np.ndarray, level: float
) -> SetIntervals:
    resampled = resampled_set_scores(gold, predicted, rows)
    return SetIntervals(
        **{name: percentile_interval(resampled[name], confidence_level=level) for name in SCORES},
        f1={
            label: percentile_interval(resampled["f1"][:, i], confidence_level=level)
            for i, label in enumerate(labels)
        },
    )


def one_vs_rest(c: float, *, class_weight: str | None, seed: int, scale: bool) -> Any:
    """A logistic regression per label; `scale` standardises dense features (the probe's)."""
    model = OneVsRestClassifier(
        LogisticRegression(C=c, class_weight=class_weight, max_iter=2000, random_state=seed)
    )
    return make_pipeline(StandardScaler(), model) if scale else model


def fit_thresholded(
    make: Callable[[float], Any],
    features: dict[str, Any],
    gold: dict[str, np.ndarray],
    c_grid: list[float],
) -> tuple[np.ndarray, float, float]:
    """Fit one model per C on train; per C, tune each label's threshold on validation; keep the C
    whose validation micro-F1 is best. Returns its test label sets, C and validation micro-F1."""
    best: tuple[float, float, Any, np.ndarray] | None = None
    for c in c_grid:
        model = make(c).fit(features["train"], gold["train"])
        probabilities = model.predict_proba(features["validation"])
        thresholds = tune_thresholds(probabilities, gold["validation"])
        score = set_scores(gold["validation"], probabilities >= thresholds)["micro_f1"]
        if best is None or score > best[0]:
            best = (score, c, model, thresholds)
    assert best is not None  # the config refuses an empty grid
    score, c, model, thresholds = best
    return model.predict_proba(features["test"]) >= thresholds, c, score


def baseline_sets(
    name: str,
    config: Config,
    splits: dict[str, pd.DataFrame],
    gold: dict[str, np.ndarray],
    *,
    max_length: int,
) -> tuple[np.ndarray, dict[str, Any]]:
    """A baseline's predicted test label sets (multi-hot) and how it was chosen."""
    options = config.evaluate
    class_weight = "balanced" if config.prepare.balance == "class_weights" else None
    if name == "majority":
        sets = pd.Series([tuple(np.flatnonzero(row)) for row in gold["train"]])
        common = np.zeros(gold["train"].shape[1], dtype=bool)
        common[list(sets.value_counts().index[0])] = True
        predicted = np.tile(common, (len(gold["test"]), 1))
        return predicted, {"description": "always the most frequent label set of training"}
    if name == "tfidf_logreg":
        vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, strip_accents="unicode")
        vectorizer.fit(splits["train"]["text"])
        features = {part: vectorizer.transform(frame["text"]) for part, frame in splits.items()}
        predicted, c, score = fit_thresholded(
            lambda c: one_vs_rest(c, class_weight=class_weight, seed=options.seed, scale=False),
            features,
            gold,
            options.tfidf_c_grid,
        )
        return predicted, {
            "description": "one-vs-rest TF-IDF of words and word pairs with logistic regression, "
            "its regularisation and each label's threshold chosen on the validation split",
            "c": c,
            "validation_micro_f1": score,
        }
    encoder = Encoder(config.model.name_or_path, max_length=max_length)
    embed_rows, features = embedded_splits(
        encoder,
        splits,
        max_train_rows=options.probe_max_train_rows,
        batch_size=options.batch_size,
        seed=options.seed,
    )
    probe_gold = {**gold, "train": gold["train"][embed_rows]}
    predicted, c, score = fit_thresholded(
        lambda c: one_vs_rest(c, class_weight=class_weight, seed=options.seed, scale=True),
        features,
        probe_gold,
        options.probe_c_grid,
    )
    return predicted, {
        "description": "linear probe: one-vs-rest logistic regression on the frozen pre-trained "
        "model's mean-pooled embeddings, C and each label's threshold chosen on validation",
        "c": c,
        "train_rows_embedded": len(embed_rows),
        "validation_micro_f1": score,
    }


def paired_comparison(
    gold: np.ndarray,
    model: np.ndarray,
    baseline: np.ndarray,
    rows: np.ndarray,
    options: EvaluateConfig,
) -> SetComparison:
    """Micro-F1 difference (model - baseline) over the same resampled rows, its interval and a
    two-sided p-value (twice the share of resamples on the far side of zero), as
    `significance.paired_bootstrap` does for macro-F1."""
    difference = (
        resampled_set_scores(gold, model, rows)["micro_f1"]
        - resampled_set_scores(gold, baseline, rows)["micro_f1"]
    )
    low, high = percentile_interval(difference, confidence_level=options.confidence_level)
    return SetComparison(
        alpha=round(1 - options.confidence_level, 10),
        micro_f1_difference=set_scores(gold, model)["micro_f1"]
        - set_scores(gold, baseline)["micro_f1"],
        micro_f1_difference_interval=(low, high),
        p_value=two_sided_p_value(difference),
        verdict="better" if low > 0 else "worse" if high < 0 else "not significant",
    )


def run_evaluate_multi_label(config: Config, run: RunDir) -> MultiLabelMetrics:
    """Score model/ on data/test.parquet as label sets; write metrics.json and predictions."""
    options = config.evaluate
    if options.decision is not None or options.abstain_target_accuracy is not None:
        raise UserError(
            "evaluate.decision and evaluate.abstain_target_accuracy are not supported for "
            "multi_label yet: each label's threshold is tuned on validation instead"
        )
    card, log = DataCard.read(run.card), TrainLog.read(run.train_log)
    labels = card.labels
    run.clear_from("evaluate")
    splits = {name: read_parquet(run.split(name)) for name in ("train", "validation", "test")}
    predictor = Predictor(run.model, backend="torch", precision="fp32")
    if predictor.labels != labels:
        raise UserError(f"{run.model} predicts {predictor.labels}, the data has {labels}")
    gold = {name: multi_hot(frame["label"], labels) >= 0.5 for name, frame in splits.items()}
    # a model of several fields reads them; the baselines read `text`, them joined
    texts = prepared_inputs(splits["test"], predictor.fields, path=run.split("test"))
    probabilities = sigmoid(predictor.predict_logits(texts, batch_size=options.batch_size))
    thresholds = load_thresholds(run.model, labels)
    predicted = probabilities >= thresholds
    test_gold = gold["test"]

    rows = resample_rows(len(texts), samples=options.bootstrap_samples, seed=options.seed)
    level = options.confidence_level
    precision, recall, f1, support = precision_recall_fscore_support(
        test_gold, predicted, average=None, zero_division=0
    )
    baselines, comparisons = {}, {}
    for name in options.baselines:
        baseline, details = baseline_sets(name, config, splits, gold, max_length=log.max_length)
        baselines[name] = SetBaseline(
            **set_scores(test_gold, baseline),
            intervals=intervals(test_gold, baseline, labels, rows, level),
            **details,
        )
        comparisons[name] = paired_comparison(test_gold, predicted, baseline, rows, options)
    metrics = MultiLabelMetrics(
        objective="multi_label",
        **set_scores(test_gold, predicted),
        test_rows=len(texts),
        labels=labels,
        intervals=intervals(test_gold, predicted, labels, rows, level),
        confidence_level=level,
        bootstrap_samples=options.bootstrap_samples,
        per_label={
            label: LabelReport(
                precision=float(precision[i]),
                recall=float(recall[i]),
                f1=float(f1[i]),
                support=int(support[i]),
                threshold=float(thresholds[i]),
            )
            for i, label in enumerate(labels)
        },
        average_precision={
            label: float(average_precision_score(test_gold[:, i], probabilities[:, i]))
            if test_gold[:, i].any()
            else 0.0
            for i, label in enumerate(labels)
        },
        co_occurrence=(test_gold.T.astype(int) @ test_gold.astype(int)).tolist(),
        baselines=baselines,
        significance=comparisons,
    )
    names = np.array(labels)
    predictions = splits["test"][["text", "label"]].assign(
        label=[list(map(str, values)) for values in splits["test"]["label"]],
        predicted=[names[row].tolist() for row in predicted],
    )
    for index, label in enumerate(labels):
        predictions[f"p_{label}"] = probabilities[:, index]
    write_parquet(run.predictions, predictions)
    metrics.write(run.metrics)
    write_multi_label_model_card(run.model_card, config, card, log, metrics)
    write_text(run.config, config.to_yaml())
    return metrics
