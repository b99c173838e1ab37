"""The regression report: written from the run's own figures, its judgements from them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from domaintune.config import load_config
from domaintune.errors import UserError
from domaintune.report.build import run_report
from domaintune.report.regression import (
    comparison_sentence,
    findings,
    largest_errors,
    next_steps,
    pull_to_middle,
)
from domaintune.rundir import RunDir
from domaintune.runfiles import (
    DataCard,
    RegressionComparison,
    RegressionMetrics,
    TargetBucket,
    TrainLog,
)


@pytest.fixture(scope="module")
def reported(tmp_path_factory: pytest.TempPathFactory, rated_run: RunDir) -> RunDir:
    """A copy of the shared regression run, with its report written."""
    run = RunDir(tmp_path_factory.mktemp("reported") / "run")
    shutil.copytree(rated_run.root, run.root)
    run_report(load_config(str(run.config)), run)
    return run


def test_the_report_states_the_runs_own_figures(reported: RunDir) -> None:
    metrics = RegressionMetrics.read(reported.metrics)
    log = TrainLog.read(reported.train_log)
    card = DataCard.read(reported.card)
    report = reported.report_md.read_text()
    low, high = metrics.intervals.mae
    assert f"off by {metrics.mae:.3f} on average (MAE [{low:.3f}, {high:.3f}]" in report
    assert f"R² {metrics.r2:.3f} and Spearman {metrics.spearman:.3f}" in report
    assert f"The lowest validation RMSE, {log.best_validation_rmse:.3f}" in report
    assert f"| train | {card.targets['train'].rows} |" in report
    for section in ("Errors by true value", "Rounded to whole numbers", "largest errors"):
        assert section in report
    majority = metrics.significance["majority"]
    assert f"lowers MAE by {-majority.mae_difference:.3f} against the training mean" in report
    assert 'function_to_apply="none"' in report and "domaintune predict" in report
    assert "onfusion" not in report and "macro-F1" not in report
    assert "Predict a number for each text." in report and "Classify" not in report
    html = reported.report_html.read_text()
    assert html.count("data:image/png;base64,") == 4


def test_the_largest_errors_come_first(reported: RunDir) -> None:
    predictions = pd.read_parquet(reported.predictions)
    shown = largest_errors(predictions, 3)
    assert [abs(e["error"]) for e in shown] == sorted(predictions["error"].abs(), reverse=True)[:3]
    report = reported.report_md.read_text()
    assert f"{shown[0]['error']:+.3f} |" in report


def comparison(verdict: str, difference: float, low: float, high: float) -> dict:
    return {
        "alpha": 0.05,
        "mae_difference": difference,
        "mae_difference_interval": (low, high),
        "p_value": 0.5,
        "verdict": verdict,
    }


def test_each_verdict_is_said_in_words() -> None:
    better = RegressionComparison(**comparison("better", -0.2, -0.3, -0.1))
    assert comparison_sentence("tfidf_logreg", better) == (
        "lowers MAE by 0.200 against TF-IDF + ridge, interval [-0.300, -0.100]: better"
    )
    unclear = RegressionComparison(**comparison("not significant", 0.01, -0.05, 0.07))
    assert "cannot be told apart" in comparison_sentence("tfidf_logreg", unclear)
    worse = RegressionComparison(**comparison("worse", 0.2, 0.1, 0.3))
    assert "raises MAE by 0.200" in comparison_sentence("linear_probe", worse)


def with_figures(reported: RunDir, **changes: object) -> RegressionMetrics:
    metrics = RegressionMetrics.read(reported.metrics)
    return metrics.model_copy(update=changes)


def test_a_model_no_better_than_tfidf_ridge_is_told_so_first(reported: RunDir) -> None:
    metrics = with_figures(reported)
    metrics.significance["tfidf_logreg"] = RegressionComparison(
        **comparison("not significant", 0.01, -0.05, 0.07)
    )
    card, log = DataCard.read(reported.card), TrainLog.read(reported.train_log)
    steps = next_steps(metrics, card, log, findings(metrics, card, log))
    assert steps[0].startswith("The fine-tuned model is not better than TF-IDF + ridge")


def test_extremes_pulled_to_the_middle_are_found(reported: RunDir) -> None:
    def bucket(value: float, mean_error: float) -> TargetBucket:
        return TargetBucket(
            low=value, high=value, rows=10, mae=abs(mean_error), mean_error=mean_error
        )

    pulled = with_figures(reported, by_target=[bucket(1, 0.8), bucket(3, 0.0), bucket(5, -0.7)])
    assert pull_to_middle(pulled, spread=1.4) is not None
    card, log = DataCard.read(reported.card), TrainLog.read(reported.train_log)
    steps = " ".join(next_steps(pulled, card, log, findings(pulled, card, log)))
    assert "pulls extremes to the middle" in steps and "predicted 0.80 too high" in steps
    one_sided = with_figures(reported, by_target=[bucket(1, 0.8), bucket(5, 0.1)])
    assert pull_to_middle(one_sided, spread=1.4) is None


def test_a_report_before_evaluate_asks_for_it(tmp_path: Path, rated_run: RunDir) -> None:
    run = RunDir(tmp_path / "run")
    shutil.copytree(rated_run.root, run.root)
    run.metrics.unlink()
    with pytest.raises(UserError, match="evaluate"):
        run_report(load_config(str(run.config)), run)
