"""Small data scored by cross-validation (prepare.split cross_validation): every figure comes from
models that did not see the rows they score.

Prepare put every row in train, and the final model learnt from all of them; no split is left to
test it on. So the method is scored instead: the rows are cut into k folds stratified by class,
drawn again with a new seed for each repeat, and for each fold the final model's training (its
model, train.method and settings, from train_log.json) runs on the other folds, in a run folder of
its own under cache/, and predicts the held-out fold. The baselines are fitted on the same
training folds, their regularisation chosen by a cross-validation inside those rows: nothing is
chosen on the rows scored.

The row-level figures (per class, confusion matrix, bootstrap intervals, paired tests, by length)
are the first repeat's out-of-fold predictions, where each row is predicted once. The temperature
and the decision rules are chosen on the second repeat's predictions of the same rows (other
models, trained on other folds) and measured on the first's: no model chooses on rows it
predicted. The spread over every fold, and each baseline against the model fold by fold, go to
metrics.json's `cross_validation`.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.dummy import DummyClassifier
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import Pipeline

from domaintune.config import Config
from domaintune.data.fields import FIELDS_FILE, prepared_inputs
from domaintune.evaluate.baselines import tfidf_logreg
from domaintune.evaluate.measured import Scored, write_metrics
from domaintune.evaluate.probe import Encoder, probe_classifier
from domaintune.metrics import scores
from domaintune.predict import Predictor
from domaintune.rundir import RunDir, read_parquet
from domaintune.runfiles import (
    CrossValidation,
    DataCard,
    FoldComparison,
    FoldScores,
    Metrics,
    TrainLog,
)
from domaintune.train.trainer import run_train

INNER_FOLDS = 3
"""Folds of the cross-validation inside a training fold that chooses a baseline's C."""


def fold_plan(
    labels: np.ndarray, *, folds: int, repeats: int, seed: int
) -> tuple[int, list[tuple[int, np.ndarray, np.ndarray]]]:
    """The folds actually used (at most the smallest class's rows, so each class is in every
    fold) and, repeat after repeat, each fold's (repeat, training rows, held-out rows)."""
    smallest = int(pd.Series(labels).value_counts().min())
    k = max(2, min(folds, smallest))
    plan = []
    for repeat in range(repeats):
        splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed + repeat)
        plan += [(repeat, train, held_out) for train, held_out in splitter.split(labels, labels)]
    return k, plan


def chosen_by_inner_folds(
    make: Callable[[float], Pipeline],
    grid: list[float],
    features: Any,
    labels: np.ndarray,
    seed: int,
) -> tuple[Pipeline, float]:
    """The classifier fitted on all of `features` with the C that scores the best macro-F1 in a
    stratified cross-validation inside them; C 1 where a class has a single row."""
    smallest = int(pd.Series(labels).value_counts().min())
    if smallest < 2:
        return make(1.0).fit(features, labels), 1.0
    step = make(1.0).steps[-1][0]
    search = GridSearchCV(
        make(1.0),
        {f"{step}__C": grid},
        cv=StratifiedKFold(min(INNER_FOLDS, smallest), shuffle=True, random_state=seed),
        scoring="f1_macro",
    ).fit(features, labels)
    return search.best_estimator_, float(search.best_params_[f"{step}__C"])


def fold_config(config: Config, log: TrainLog) -> Config:
    """The final model's training, as train_log.json says it ran: the model `auto` chose, the
    method `auto` chose, the epochs the budget allowed."""
    model = config.model.model_copy(update={"name_or_path": log.model})
    train = config.train.model_copy(update={"method": log.method, "epochs": log.epochs_planned})
    return config.model_copy(update={"model": model, "train": train})


def train_on_fold(
    run: RunDir, config: Config, rows: pd.DataFrame, train: np.ndarray, name: str
) -> RunDir:
    """A run folder under cache/ whose prepared data is the fold's training rows (no validation
    or test rows), trained as the final model was."""
    fold = RunDir(run.cache / "cross_validation" / name)
    if fold.root.exists():
        run.clear(fold.root)
    fold.claim(f"{config.task.name}-{name}")
    fold.data.mkdir(parents=True)
    for path in (run.card, run.normalization, run.data / FIELDS_FILE):
        if path.is_file():
            (fold.data / path.name).write_bytes(path.read_bytes())
    rows.iloc[train].to_parquet(fold.split("train"), index=False)
    for split in ("validation", "test"):
        rows.iloc[:0].to_parquet(fold.split(split), index=False)
    run_train(config, fold)
    return fold


def fold_scores(values: list[float]) -> FoldScores:
    array = np.array(values)
    return FoldScores(
        macro_f1=[round(v, 4) for v in values],
        mean=float(array.mean()),
        std=float(array.std(ddof=1)) if len(array) > 1 else 0.0,
        low=float(array.min()),
        high=float(array.max()),
    )


def corrected_comparison(
    model: list[float], baseline: list[float], *, folds: int, confidence_level: float
) -> FoldComparison:
    """The model against a baseline over the same folds: the mean difference with a t interval
    whose variance Nadeau and Bengio (2003) correct by 1/J + n_test/n_train = 1/J + 1/(k-1), as
    folds sharing training rows give correlated differences (the plain t interval is too narrow)."""
    differences = np.array(model) - np.array(baseline)
    count = len(differences)
    mean = float(differences.mean())
    std = float(differences.std(ddof=1)) if count > 1 else 0.0
    scale = np.sqrt((1 / count + 1 / (folds - 1)) * std**2)
    half = float(stats.t.ppf(0.5 + confidence_level / 2, df=max(count - 1, 1)) * scale)
    low, high = mean - half, mean + half
    verdict = "better" if low > 0 else "worse" if high < 0 else "not significant"
    return FoldComparison(
        mean_difference=mean,
        std_difference=std,
        interval=(low, high),
        folds_ahead=int((differences > 0).sum()),
        verdict=verdict,
    )


def planned_time(*, folds: int, repeats: int, train_seconds: float) -> str:
    """What cross-validation is about to cost, said before it starts: it trains the final model's
    recipe once per fold and repeat, each on (k-1)/k of the rows, so on small data it takes many
    times the final training (`train.time_budget` bounds one training, not the run)."""
    trainings = folds * repeats
    total = trainings * train_seconds * (folds - 1) / folds
    about = f"{total:.0f} s" if total < 120 else f"{total / 60:.0f} minutes"
    return (
        f"cross-validation: {trainings} trainings like the final one ({folds} folds x {repeats} "
        f"repeats, each on {folds - 1}/{folds} of the rows), about {about} at its "
        f"{train_seconds:.0f} s"
    )


def run_evaluate_cross_validated(config: Config, run: RunDir) -> Metrics:
    """Score the method by repeated k-fold cross-validation; write the run's evaluate outputs."""
    options = config.evaluate
    card = DataCard.read(run.card)
    log = TrainLog.read(run.train_log)
    labels = card.labels
    rows = read_parquet(run.split("train"))
    gold_ids = rows["label"].map(labels.index).to_numpy()
    k, plan = fold_plan(
        rows["label"].to_numpy(),
        folds=options.cv_folds,
        repeats=options.cv_repeats,
        seed=options.seed,
    )
    repeats = options.cv_repeats
    logits = np.zeros((repeats, len(rows), len(labels)), dtype=np.float32)
    baseline_names = list(options.baselines)
    predicted = {name: np.empty((repeats, len(rows)), dtype=object) for name in baseline_names}
    chosen_c: dict[str, list[float]] = {name: [] for name in baseline_names}
    fold_f1: dict[str, list[float]] = {name: [] for name in ["model", *baseline_names]}
    class_weight = "balanced" if config.prepare.balance == "class_weights" else None
    embedded = None
    if "linear_probe" in baseline_names:
        encoder = Encoder(log.model, max_length=log.max_length)
        embedded = encoder.embed(rows["text"].tolist(), batch_size=options.batch_size)
    gold, texts = rows["label"].to_numpy(), rows["text"].to_numpy()
    trained = fold_config(config, log)
    print(
        planned_time(folds=k, repeats=repeats, train_seconds=log.train_seconds),
        file=sys.stderr,
        flush=True,
    )
    seconds = 0.0
    for number, (repeat, train, held_out) in enumerate(plan, start=1):
        name = f"repeat{repeat + 1}-fold{(number - 1) % k + 1}"
        print(f"cross-validation: {name} ({number}/{len(plan)})", file=sys.stderr, flush=True)
        started = time.perf_counter()
        fold = train_on_fold(run, trained, rows, train, name)
        seconds += time.perf_counter() - started
        predictor = Predictor(fold.model, backend="torch", precision="fp32")
        inputs = prepared_inputs(rows.iloc[held_out], predictor.fields, path=run.split("train"))
        logits[repeat, held_out] = predictor.predict_logits(inputs, batch_size=options.batch_size)
        run.clear(fold.root)
        fold_f1["model"].append(
            scores(gold[held_out], np.array(labels)[logits[repeat, held_out].argmax(axis=1)])[
                "macro_f1"
            ]
        )
        for baseline in baseline_names:
            if baseline == "majority":
                model = DummyClassifier(strategy="most_frequent").fit(texts[train], gold[train])
                result = model.predict(texts[held_out])
            else:
                features = embedded if baseline == "linear_probe" else texts
                grid = options.probe_c_grid if baseline == "linear_probe" else options.tfidf_c_grid
                make = probe_classifier if baseline == "linear_probe" else tfidf_logreg
                model, c = chosen_by_inner_folds(
                    lambda c, make=make: make(c, class_weight=class_weight, seed=options.seed),
                    grid,
                    features[train],
                    gold[train],
                    options.seed,
                )
                chosen_c[baseline].append(c)
                result = model.predict(features[held_out])
            predicted[baseline][repeat, held_out] = result
            fold_f1[baseline].append(scores(gold[held_out], result)["macro_f1"])
    cross_validation = CrossValidation(
        folds=k,
        repeats=repeats,
        seeds=[options.seed + repeat for repeat in range(repeats)],
        rows=len(rows),
        method=log.method,
        model=fold_scores(fold_f1["model"]),
        baselines={name: fold_scores(fold_f1[name]) for name in baseline_names},
        comparisons={
            name: corrected_comparison(
                fold_f1["model"], fold_f1[name], folds=k, confidence_level=options.confidence_level
            )
            for name in baseline_names
        },
        train_seconds=round(seconds, 1),
    )
    choosing = 1 if repeats > 1 else 0
    scored = Scored(
        test=rows,
        logits={"validation": logits[choosing], "test": logits[0]},
        gold_ids={"validation": gold_ids, "test": gold_ids},
        baselines={
            name: (
                predicted[name][0].astype(str),
                baseline_details(name, chosen_c[name], class_weight),
            )
            for name in baseline_names
        },
    )
    return write_metrics(
        config,
        run,
        card,
        log,
        scored,
        cross_validation=cross_validation,
        fitted_on="out-of-fold predictions of the second repeat"
        if repeats > 1
        else "out-of-fold predictions",
    )


def baseline_details(name: str, chosen: list[float], class_weight: str | None) -> dict[str, Any]:
    """How a baseline was made under cross-validation, for metrics.json and the report."""
    descriptions = {
        "majority": "always the most frequent class of the training folds",
        "tfidf_logreg": "TF-IDF of words and word pairs with logistic regression, fitted on the "
        "training folds, its regularisation chosen by cross-validation within them",
        "linear_probe": "logistic regression on the frozen pre-trained model's mean-pooled "
        "embeddings, fitted on the training folds, its regularisation chosen within them",
    }
    details: dict[str, Any] = {"description": descriptions[name]}
    if chosen:
        details |= {"c": float(np.median(chosen)), "class_weight": class_weight}
    return details
