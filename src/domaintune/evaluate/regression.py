"""The evaluate stage for task.objective regression: predicted numbers scored against the true
ones and against baselines, with intervals.

The same contract as `stage.run_evaluate`: the model (PyTorch fp32) predicts the test split, on
the raw scale of the target (train folds the standardisation back into the head). Scores: MAE,
RMSE, R², Spearman and Pearson, with bootstrap intervals over test rows; errors by true value;
for whole-number targets, rounded predictions' exact and within-one shares. Baselines
(`regression_baselines`) choose their ridge alpha on validation, never on test, and each is
compared to the model by a paired bootstrap of MAE on the same resampled rows.

Not done for regression: calibration, decision rules and abstaining (they choose among classes),
error analysis by length, and reading long texts in windows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from domaintune.config import Config
from domaintune.data.fields import prepared_inputs
from domaintune.errors import UserError
from domaintune.evaluate.model_card import write_regression_model_card
from domaintune.evaluate.probe import Encoder
from domaintune.evaluate.regression_baselines import (
    BaselineFit,
    probe_ridge,
    tfidf_ridge,
    training_mean,
)
from domaintune.evaluate.regression_scores import (
    by_target,
    paired_mae_comparison,
    regression_intervals,
    rounded_scores,
    whole_numbers,
)
from domaintune.evaluate.scoring import resample_rows
from domaintune.predict import Predictor
from domaintune.regression import value_scores
from domaintune.rundir import RunDir, read_parquet, write_parquet, write_text
from domaintune.runfiles import DataCard, RegressionBaseline, RegressionMetrics, TrainLog


def fit_baseline(
    name: str,
    config: Config,
    splits: dict[str, pd.DataFrame],
    gold: dict[str, np.ndarray],
    *,
    max_length: int,
) -> BaselineFit:
    """The configured baseline `name`'s test predictions, and how it was chosen."""
    if name == "majority":
        return training_mean(gold)
    if name == "tfidf_logreg":
        return tfidf_ridge(splits, gold, config.evaluate)
    encoder = Encoder(config.model.name_or_path, max_length=max_length)
    return probe_ridge(encoder, splits, gold, config.evaluate)


def targets(splits: dict[str, pd.DataFrame]) -> dict[str, np.ndarray]:
    """Each split's true values; a label that is not a number means prepare ran for another
    objective."""
    gold = {}
    for name, frame in splits.items():
        try:
            gold[name] = frame["label"].to_numpy(dtype=np.float64)
        except (TypeError, ValueError):
            raise UserError(
                f"the {name} split's labels are not numbers: run prepare again with "
                "task.objective regression"
            ) from None
    return gold


def run_evaluate_regression(config: Config, run: RunDir) -> RegressionMetrics:
    """Score model/ on data/test.parquet as numbers; write metrics.json, predictions and the
    model card."""
    options = config.evaluate
    card, log = DataCard.read(run.card), TrainLog.read(run.train_log)
    run.clear_from("evaluate")
    splits = {name: read_parquet(run.split(name)) for name in ("train", "validation", "test")}
    gold = targets(splits)
    predictor = Predictor(run.model, backend="torch", precision="fp32")
    if not predictor.regression:
        raise UserError(f"{run.model} is not a regression model: run train again")
    # a model of several fields reads them; the baselines read `text`, them joined
    texts = prepared_inputs(splits["test"], predictor.fields, path=run.split("test"))
    predicted = predictor.predict_values(texts, batch_size=options.batch_size)
    test_gold = gold["test"]

    rows = resample_rows(len(test_gold), samples=options.bootstrap_samples, seed=options.seed)
    level = options.confidence_level
    baselines, comparisons = {}, {}
    for name in options.baselines:
        baseline, details = fit_baseline(name, config, splits, gold, max_length=log.max_length)
        baselines[name] = RegressionBaseline(
            **value_scores(test_gold, baseline),
            intervals=regression_intervals(test_gold, baseline, rows, level),
            **details,
        )
        comparisons[name] = paired_mae_comparison(
            test_gold, predicted, baseline, rows, confidence_level=level
        )
    train_gold = gold["train"]
    rounded = (
        rounded_scores(test_gold, predicted, low=train_gold.min(), high=train_gold.max())
        if whole_numbers(train_gold, test_gold)
        else None
    )
    metrics = RegressionMetrics(
        objective="regression",
        target=card.label_column,
        **value_scores(test_gold, predicted),
        test_rows=len(test_gold),
        intervals=regression_intervals(test_gold, predicted, rows, level),
        confidence_level=level,
        bootstrap_samples=options.bootstrap_samples,
        rounded=rounded,
        by_target=by_target(test_gold, predicted),
        baselines=baselines,
        significance=comparisons,
    )
    predictions = splits["test"][["text"]].assign(
        label=test_gold, predicted=predicted, error=predicted - test_gold
    )
    write_parquet(run.predictions, predictions)
    metrics.write(run.metrics)
    write_regression_model_card(run.model_card, config, card, log, metrics)
    write_text(run.config, config.to_yaml())
    return metrics
