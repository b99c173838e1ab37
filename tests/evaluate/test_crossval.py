"""Cross-validation of small data: every row scored once a repeat by a model that did not see
it, the spread over folds, and the fold-by-fold comparison with its corrected interval."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from domaintune.evaluate.crossval import corrected_comparison, fold_plan, planned_time
from domaintune.runfiles import DataCard, Metrics, TrainLog
from tests.helpers import FAST_TRAINING, domaintune, make_rows


def test_each_repeat_holds_every_row_out_once_and_a_class_is_in_every_fold() -> None:
    """Catches folds that overlap or miss rows, a repeat that redraws nothing, and more folds
    than the smallest class has rows (a fold without it cannot score it)."""
    labels = np.array(["a"] * 9 + ["b"] * 3)
    folds, plan = fold_plan(labels, folds=5, repeats=2, seed=0)
    assert folds == 3 and len(plan) == 6
    for repeat in (0, 1):
        held = [held_out for r, _, held_out in plan if r == repeat]
        assert sorted(np.concatenate(held).tolist()) == list(range(12))
        assert all("b" in labels[rows] for rows in held)
    first, second = ([tuple(h) for r, _, h in plan if r == repeat] for repeat in (0, 1))
    assert first != second
    for _, train, held_out in plan:
        assert not set(train) & set(held_out)


def test_the_fold_comparison_widens_the_t_interval_for_shared_training_rows() -> None:
    """Catches the plain t interval (too narrow: folds share training rows) and a wrong verdict."""
    model = [0.80, 0.82, 0.78, 0.81, 0.79]
    baseline = [0.70, 0.75, 0.71, 0.69, 0.72]
    compared = corrected_comparison(model, baseline, folds=5, confidence_level=0.95)
    differences = np.array(model) - np.array(baseline)
    plain = 2.776 * differences.std(ddof=1) / np.sqrt(5)
    low, high = compared.interval
    assert compared.mean_difference == pytest.approx(0.086)
    assert (high - low) / 2 == pytest.approx(
        2.776 * np.sqrt(1 / 5 + 1 / 4) * differences.std(ddof=1), rel=1e-3
    )
    assert (high - low) / 2 > plain
    assert compared.verdict == "better" and compared.folds_ahead == 5
    even = corrected_comparison([0.7, 0.8, 0.6], [0.75, 0.7, 0.65], folds=3, confidence_level=0.95)
    assert even.verdict == "not significant"


def test_the_planned_time_counts_every_fold_of_every_repeat_on_its_share_of_rows() -> None:
    """Catches the estimate leaving out the repeats, or each fold's smaller training set."""
    line = planned_time(folds=5, repeats=2, train_seconds=600)
    assert line.startswith("cross-validation: 10 trainings like the final one (5 folds x 2")
    assert "about 80 minutes at its 600 s" in line  # 10 x 600 s x 4/5
    assert "about 48 s" in planned_time(folds=4, repeats=2, train_seconds=8)


@pytest.mark.slow
def test_four_rows_a_class_train_few_shot_and_are_scored_by_cross_validation(
    tmp_path: Path, tiny_model: Path
) -> None:
    """The small-data path end to end with the defaults: prepare keeps every row, train picks
    few-shot, evaluate cross-validates, the report says so, and the saved model predicts through
    `predict` and `transformers.pipeline` alike."""
    make_rows(12).to_csv(tmp_path / "few.csv", index=False)
    result = domaintune(
        "run", "--data", "few.csv", "--model", str(tiny_model), "--out", "run",
        "--set", "evaluate.bootstrap_samples=200", "--set", "train.threads=1",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    run = tmp_path / "run"
    card = DataCard.read(run / "data" / "card.json")
    assert card.split.method == "cross_validation"
    assert card.split.rows == {"train": 12, "validation": 0, "test": 0}
    assert TrainLog.read(run / "train_log.json").method == "fewshot"
    metrics = Metrics.read(run / "metrics.json")
    cv = metrics.cross_validation
    assert cv is not None and (cv.folds, cv.repeats, cv.rows, cv.method) == (4, 2, 12, "fewshot")
    assert len(cv.model.macro_f1) == 8 and set(cv.comparisons) == set(metrics.baselines)
    assert cv.model.low <= cv.model.mean <= cv.model.high
    predictions = pd.read_parquet(run / "predictions.parquet")
    assert sorted(predictions["text"]) == sorted(pd.read_csv(tmp_path / "few.csv")["text"])
    assert metrics.test_rows == 12
    assert "cross-validated (4 folds x 2 repeats, 12 rows)" in result.stdout.replace("\n", " ")
    assert "cross-validation: 8 trainings like the final one (4 folds x 2 repeats" in result.stderr
    report = (run / "report.md").read_text()
    assert "4-fold cross-validation repeated 2 times" in report and "Trained few-shot" in report
    assert not (run / "cache" / "cross_validation").exists() or not any(
        (run / "cache" / "cross_validation").iterdir()
    )

    texts = ["thanks great love", "late delayed cancelled"]
    predicted = domaintune("predict", "run", "--text", texts[0], "--text", texts[1], cwd=tmp_path)
    assert predicted.returncode == 0, predicted.stderr
    labels = [json.loads(line)["label"] for line in predicted.stdout.splitlines()]
    from transformers import pipeline

    assert [
        p["label"] for p in pipeline("text-classification", model=str(run / "model"))(texts)
    ] == labels


@pytest.mark.slow
def test_full_fine_tuning_without_a_validation_split_trains_every_epoch(
    tmp_path: Path, tiny_model: Path
) -> None:
    """Catches the Trainer asked to evaluate, stop early or keep a best checkpoint with no
    validation rows (it would fail, or keep a checkpoint chosen on nothing)."""
    make_rows(12).to_csv(tmp_path / "few.csv", index=False)
    overrides = [*FAST_TRAINING, "train.method=full", "train.epochs=2", "evaluate.cv_repeats=1"]
    result = domaintune(
        "run", "--data", "few.csv", "--model", str(tiny_model), "--out", "run",
        *(part for key in overrides for part in ("--set", key)),
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    log = TrainLog.read(tmp_path / "run" / "train_log.json")
    assert log.method == "full" and log.epochs_run == 2 and log.best_validation_macro_f1 is None
    assert not any("eval_loss" in entry for entry in log.history)
    cv = Metrics.read(tmp_path / "run" / "metrics.json").cross_validation
    assert cv is not None and cv.method == "full" and len(cv.model.macro_f1) == 4
