from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import copy_run, make_rows

from domaintune.config import EvaluateConfig, load_config
from domaintune.errors import UserError
from domaintune.evaluate import fit_baseline, run_evaluate
from domaintune.rundir import RunDir


def test_baselines_are_tuned_on_validation_and_beat_chance_on_learnable_text() -> None:
    rows = make_rows(300)
    splits = {"train": rows[:200], "validation": rows[200:250], "test": rows[250:]}
    options = EvaluateConfig(tfidf_c_grid=[0.1, 10.0])
    predicted, details = fit_baseline("tfidf_logreg", splits, options, class_weight=None)
    assert details["c"] in {0.1, 10.0}
    assert (predicted == splits["test"]["label"].to_numpy()).mean() > 0.8
    majority, _ = fit_baseline("majority", splits, options, class_weight=None)
    assert len(set(majority)) == 1
    assert isinstance(splits["test"], pd.DataFrame)


def test_metrics_hold_every_part_of_the_evaluation(finished_run: RunDir) -> None:
    metrics = json.loads(finished_run.metrics.read_text())
    predictions = pd.read_parquet(finished_run.predictions)
    labels = metrics["labels"]
    for name in ["accuracy", "macro_f1", *(f"f1[{label}]" for label in labels)]:
        low, high = metrics["intervals"][name]
        point = metrics[name] if name in metrics else metrics["per_class"][name[3:-1]]["f1-score"]
        assert low <= point <= high
    for name, test in metrics["significance"].items():
        assert (
            test["macro_f1_difference"]
            == metrics["macro_f1"] - metrics["baselines"][name]["macro_f1"]
        )
        assert test["verdict"] in {"better", "worse", "not significant"}
    calibration = metrics["calibration"]
    assert calibration["validation_nll_after"] <= calibration["validation_nll_before"]
    # the abstain table at threshold 0 is the model as it is
    assert metrics["decision"]["abstain_table"][0]["accuracy"] == metrics["accuracy"]
    rule = metrics["decision"]["class_rule"]
    assert rule["reached_on_validation"] is True
    assert 0 < rule["test"]["flagged_share"] <= 1
    abstain = metrics["decision"]["abstain"]
    assert abstain["target_accuracy"] == 0.95
    assert abstain["reached_on_validation"] == (abstain["test"] is not None)
    probe = metrics["baselines"]["linear_probe"]
    assert probe["train_rows_embedded"] == len(pd.read_parquet(finished_run.split("train")))
    assert len(predictions) == metrics["test_rows"]


def test_an_unknown_decision_label_is_refused_before_anything_is_cleared(
    finished_run: RunDir, tmp_path: Path
) -> None:
    run = copy_run(finished_run, tmp_path)
    config = load_config(
        str(run.config), ["evaluate.decision.label=nope", "evaluate.decision.value=0.9"]
    )
    with pytest.raises(UserError, match="'nope' is not a label of this data"):
        run_evaluate(config, run)
    assert run.metrics.is_file() and run.calibration.is_file()
