"""regression evaluation: scores, their bootstrap, baselines, comparisons and the stage's files."""

from __future__ import annotations

import itertools
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from domaintune.config import EvaluateConfig, load_config
from domaintune.evaluate.regression_baselines import fit_best_alpha, tfidf_ridge, training_mean
from domaintune.evaluate.regression_scores import (
    by_target,
    paired_mae_comparison,
    resampled_regression_scores,
    rounded_scores,
    weighted_regression_scores,
    whole_numbers,
)
from domaintune.evaluate.scoring import resample_rows
from domaintune.evaluate.stage import run_evaluate
from domaintune.regression import value_scores
from domaintune.rundir import RunDir
from domaintune.runfiles import RegressionMetrics
from tests.helpers import make_rated_reviews


def ratings(rows: int, *, noise: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Whole-number truths 1-5 (many ties) and predictions around them."""
    rng = np.random.default_rng(seed)
    gold = rng.integers(1, 6, rows).astype(float)
    return gold, gold + rng.normal(0, noise, rows)


def test_each_resample_scores_as_the_rows_it_drew() -> None:
    """Catches ranks taken over all rows instead of the drawn ones, ties ranked apart, and
    weights applied to one side of a sum only: every score of a resample must be `value_scores`
    (scipy's correlations) of the rows it drew."""
    gold, predicted = ratings(50, noise=0.9)
    predicted[:10] = np.round(predicted[:10])  # ties among the predictions too
    rows = resample_rows(50, samples=70, seed=1)  # more than one batch of resamples
    resampled = resampled_regression_scores(gold, predicted, rows)
    assert all(len(values) == 70 for values in resampled.values())
    for sample in (0, 1, 63, 64, 69):
        drawn = rows[sample]
        for name, value in value_scores(gold[drawn], predicted[drawn]).items():
            assert resampled[name][sample] == pytest.approx(value, abs=1e-9), name
    whole = weighted_regression_scores(gold, predicted, np.ones((1, 50)))
    for name, value in value_scores(gold, predicted).items():
        assert whole[name][0] == pytest.approx(value, abs=1e-9), name


def test_values_far_from_zero_keep_their_digits() -> None:
    """Catches R² from E[x²] - E[x]², which loses the spread of prices near a million."""
    rng = np.random.default_rng(4)
    gold = 1e6 + rng.normal(0, 3, 300)
    predicted = gold + rng.normal(0, 1, 300)
    whole = weighted_regression_scores(gold, predicted, np.ones((1, 300)))
    assert whole["r2"][0] == pytest.approx(value_scores(gold, predicted)["r2"], abs=1e-6)


def test_a_thousand_resamples_of_thousands_of_rows_take_little_time() -> None:
    gold, predicted = ratings(3000, noise=0.8)
    started = time.perf_counter()
    resampled_regression_scores(gold, predicted, resample_rows(3000, samples=1000, seed=0))
    assert time.perf_counter() - started < 10  # about 0.3 s on a busy two-core machine


def test_a_constant_prediction_has_no_correlation_rather_than_an_undefined_one() -> None:
    gold, _ = ratings(40, noise=0)
    constant = np.full(40, gold.mean())
    point = value_scores(gold, constant)
    assert point["spearman"] == point["pearson"] == 0.0
    assert point["r2"] == pytest.approx(0.0)
    resampled = resampled_regression_scores(gold, constant, resample_rows(40, samples=5, seed=0))
    assert not any(np.isnan(values).any() for values in resampled.values())
    assert (resampled["pearson"] == 0).all() and (resampled["spearman"] == 0).all()


def test_the_paired_comparison_tells_a_better_and_a_worse_model_apart() -> None:
    gold, close = ratings(400, noise=0.3)
    far = gold + np.random.default_rng(5).normal(0, 1.5, 400)
    rows = resample_rows(400, samples=500, seed=2)
    better = paired_mae_comparison(gold, close, far, rows, confidence_level=0.95)
    assert better.verdict == "better"
    assert better.mae_difference < 0 and better.mae_difference_interval[1] < 0
    assert better.p_value < 0.01
    assert better.alpha == pytest.approx(0.05)
    point = value_scores(gold, close)["mae"] - value_scores(gold, far)["mae"]
    assert better.mae_difference == pytest.approx(point)
    worse = paired_mae_comparison(gold, far, close, rows, confidence_level=0.95)
    assert worse.verdict == "worse" and worse.mae_difference_interval[0] > 0
    same = paired_mae_comparison(gold, close, close, rows, confidence_level=0.95)
    assert same.verdict == "not significant" and same.p_value == 1.0


def test_few_distinct_values_are_buckets_of_their_own_and_show_a_pull_to_the_middle() -> None:
    gold, _ = ratings(300, noise=0)
    shrunk = gold.mean() + 0.5 * (gold - gold.mean())  # extremes pulled halfway to the mean
    buckets = by_target(gold, shrunk)
    assert [(b.low, b.high) for b in buckets] == [(v, v) for v in (1.0, 2.0, 3.0, 4.0, 5.0)]
    assert sum(b.rows for b in buckets) == 300
    assert buckets[0].mean_error > 0.9 and buckets[-1].mean_error < -0.9
    assert buckets[0].mae == pytest.approx(abs(buckets[0].mean_error))


def test_many_distinct_values_fall_into_quantile_buckets() -> None:
    rng = np.random.default_rng(3)
    gold = rng.normal(50, 10, 500)
    buckets = by_target(gold, gold + 1.0)
    assert len(buckets) == 5
    assert [b.rows for b in buckets] == [100] * 5
    assert all(a.high < b.low for a, b in itertools.pairwise(buckets))
    assert buckets[0].low == gold.min() and buckets[-1].high == gold.max()
    assert all(b.mean_error == pytest.approx(1.0) for b in buckets)


def test_rounded_predictions_stay_on_the_training_scale() -> None:
    gold = np.array([1.0, 2.0, 3.0, 5.0, 5.0])
    predicted = np.array([0.2, 2.5, 4.4, 5.9, 2.6])  # 0.2 -> 1, 2.5 -> 3, 5.9 -> 5 (the top)
    rounded = rounded_scores(gold, predicted, low=1.0, high=5.0)
    assert rounded.exact == pytest.approx(2 / 5)
    assert rounded.within_one == pytest.approx(4 / 5)
    assert whole_numbers(gold, np.array([2.0]))
    assert not whole_numbers(gold, np.array([2.5]))


class Constant:
    """A stand-in regressor that always predicts its alpha."""

    def __init__(self, alpha: float) -> None:
        self.alpha = alpha

    def fit(self, features: Any, gold: np.ndarray) -> Constant:
        return self

    def predict(self, features: Any) -> np.ndarray:
        return np.full(len(features), self.alpha)


def test_alpha_is_chosen_on_validation_never_on_test() -> None:
    """Catches the grid searched on test: validation's values sit at 1, test's at 10."""
    features = {name: np.zeros((4, 1)) for name in ("train", "validation", "test")}
    gold = {"train": np.ones(4), "validation": np.ones(4), "test": np.full(4, 10.0)}
    predicted, alpha, error = fit_best_alpha(Constant, features, gold, [10.0, 1.0])
    assert alpha == 1.0 and error == 0.0
    assert (predicted == 1.0).all()


def test_tfidf_ridge_reads_ratings_from_words_better_than_the_training_mean() -> None:
    frame = make_rated_reviews(300)
    splits = {"train": frame[:200], "validation": frame[200:250], "test": frame[250:]}
    gold = {name: part["label"].to_numpy(dtype=float) for name, part in splits.items()}
    options = EvaluateConfig()
    predicted, details = tfidf_ridge(splits, gold, options)
    mean, described = training_mean(gold)
    assert details["alpha"] in options.ridge_alpha_grid
    assert details["validation_mae"] < 1.0
    assert value_scores(gold["test"], predicted)["mae"] < value_scores(gold["test"], mean)["mae"]
    assert "training mean" in described["description"]
    assert mean == pytest.approx(np.full(50, gold["train"].mean()))


def test_evaluate_scores_a_trained_model_against_its_baselines(rated_run: RunDir) -> None:
    metrics = RegressionMetrics.read(rated_run.metrics)
    assert '"objective": "regression"' in rated_run.metrics.read_text()
    assert metrics.target == "label" and metrics.test_rows > 0
    low, high = metrics.intervals.mae
    assert low <= metrics.mae <= high
    assert metrics.mae < 0.6 and metrics.spearman > 0.8  # the ratings are in the words
    assert set(metrics.baselines) == {"majority", "tfidf_logreg", "linear_probe"}
    mean = metrics.baselines["majority"]
    assert mean.alpha is None and mean.spearman == 0.0  # a constant has no order
    assert metrics.significance["majority"].verdict == "better"
    for name in ("tfidf_logreg", "linear_probe"):
        assert metrics.baselines[name].alpha in EvaluateConfig().ridge_alpha_grid
        assert metrics.baselines[name].validation_mae is not None
    assert metrics.baselines["linear_probe"].train_rows_embedded > 0
    assert metrics.rounded is not None and metrics.rounded.within_one > 0.9  # ratings 1-5
    assert [(b.low, b.high) for b in metrics.by_target] == [(v, v) for v in (1, 2, 3, 4, 5)]
    assert sum(b.rows for b in metrics.by_target) == metrics.test_rows
    predictions = pd.read_parquet(rated_run.predictions)
    assert list(predictions.columns) == ["text", "label", "predicted", "error"]
    assert len(predictions) == metrics.test_rows
    gold, predicted = predictions["label"].to_numpy(), predictions["predicted"].to_numpy()
    assert predictions["error"].to_numpy() == pytest.approx(predicted - gold)
    assert value_scores(gold, predicted)["mae"] == pytest.approx(metrics.mae)
    card = rated_run.model_card.read_text()
    assert "MAE" in card and 'function_to_apply="none"' in card and "Spearman" in card
    assert rated_run.config.is_file()


def test_a_target_of_fractions_gets_no_rounded_scores(tmp_path: Path, rated_run: RunDir) -> None:
    """Catches rounded scores given to values that are not whole numbers: the same run with its
    test values moved by a quarter is evaluated again."""
    run = RunDir(tmp_path / "run")
    shutil.copytree(rated_run.root, run.root)
    test = pd.read_parquet(run.split("test"))
    test.assign(label=test["label"] + 0.25).to_parquet(run.split("test"))
    metrics = run_evaluate(load_config(str(run.config)), run)
    assert isinstance(metrics, RegressionMetrics)
    assert metrics.rounded is None
    assert [b.low for b in metrics.by_target] == [v + 0.25 for v in (1, 2, 3, 4, 5)]
