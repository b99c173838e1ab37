from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from domaintune.config import load_config
from domaintune.errors import UserError
from domaintune.evaluate.other_runs import compare_other_runs, predicted_by, runs_to_compare
from domaintune.evaluate.scoring import resample_rows
from domaintune.evaluate.stage import run_evaluate
from domaintune.metrics import scores
from domaintune.report.build import run_report
from domaintune.rundir import RunDir
from domaintune.runfiles import TrainLog
from tests.helpers import copy_run


def test_the_teacher_comes_first_and_each_run_once() -> None:
    roles = runs_to_compare(["b", "t", "a", "b"], "t")
    assert list(roles.items()) == [("t", "teacher"), ("b", "compared"), ("a", "compared")]
    assert runs_to_compare([], None) == {}


def with_predictions(folder: Path, texts: list[str], predicted: list[str]) -> str:
    run = RunDir(folder)
    run.root.mkdir(parents=True)
    pd.DataFrame({"text": texts, "label": predicted, "predicted": predicted}).to_parquet(
        run.predictions
    )
    return str(folder)


TEST = pd.DataFrame({"text": ["a", "b", "c", "d"], "label": ["x", "y", "x", "y"]})


def test_another_runs_test_rows_must_be_these(tmp_path: Path) -> None:
    same = with_predictions(tmp_path / "same", ["a", "b", "c", "d"], ["x", "x", "x", "y"])
    assert predicted_by(same, TEST).tolist() == ["x", "x", "x", "y"]
    reordered = with_predictions(tmp_path / "reordered", ["b", "a", "c", "d"], ["x"] * 4)
    with pytest.raises(UserError, match="test rows differ from this run's"):
        predicted_by(reordered, TEST)
    with pytest.raises(UserError, match=r"has no predictions\.parquet"):
        predicted_by(str(tmp_path / "nothing"), TEST)


def test_a_teacher_on_other_rows_is_left_out_but_a_run_asked_for_is_an_error(
    tmp_path: Path,
) -> None:
    other = with_predictions(tmp_path / "other", ["e", "f", "g", "h"], ["x"] * 4)
    settings = {
        "labels": ["x", "y"],
        "rows": resample_rows(4, samples=100, seed=0),
        "confidence_level": 0.95,
        "model_macro_f1": 1.0,
    }
    predicted = TEST["label"].to_numpy()
    assert compare_other_runs({other: "teacher"}, TEST, predicted, **settings) == {}
    with pytest.raises(UserError, match="test rows differ"):
        compare_other_runs({other: "compared"}, TEST, predicted, **settings)


def test_evaluate_compares_other_runs_paired_and_the_report_shows_them(
    finished_run: RunDir, tmp_path: Path
) -> None:
    """A run whose model is right on every test row is compared with this one: its score, this
    model's (negative) gain and its paired interval reach metrics.json and the report."""
    run = copy_run(finished_run, tmp_path / "this")
    perfect = copy_run(finished_run, tmp_path / "perfect")
    predictions = pd.read_parquet(perfect.predictions)
    predictions["predicted"] = predictions["label"]
    predictions.to_parquet(perfect.predictions)
    log = json.loads(perfect.train_log.read_text())

    config = load_config(str(run.config), [f"evaluate.compare_runs=[{perfect.root}]"])
    metrics = run_evaluate(config, run)
    other = metrics.other_runs[str(perfect.root)]
    assert other.role == "compared" and other.macro_f1 == 1.0
    assert other.model == log["model"] and other.parameters == log["parameters"]
    assert other.comparison.macro_f1_difference == pytest.approx(metrics.macro_f1 - 1.0)
    low, high = other.comparison.paired_bootstrap.macro_f1_difference_interval
    assert low <= metrics.macro_f1 - 1.0 <= high and high <= 0
    assert metrics.texts_per_second is not None and metrics.texts_per_second > 0
    ours = pd.read_parquet(run.predictions)
    assert metrics.macro_f1 == scores(ours["label"].to_numpy(), ours["predicted"].to_numpy())[
        "macro_f1"
    ] and not np.array_equal(ours["predicted"], predictions["predicted"])

    run_report(config, run)
    report = run.report_md.read_text()
    assert "### Against other runs" in report
    row = next(line for line in report.splitlines() if line.startswith(f"| `{perfect.root}`"))
    assert "| compared |" in row and f"{metrics.macro_f1 - 1.0:+.3f}" in row

    trained = TrainLog.read(run.train_log)  # now as a student of the perfect run, also asked for
    trained.model_copy(update={"distilled_from": str(perfect.root)}).write(run.train_log)
    compared = run_evaluate(config, run).other_runs
    assert [other.role for other in compared.values()] == ["teacher"]
