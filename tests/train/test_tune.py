from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import optuna
import pytest
import yaml

from domaintune.config import build_config, load_config
from domaintune.errors import UserError
from domaintune.train.tune import PruningCallback
from tests.helpers import domaintune


def test_a_trial_below_the_median_is_pruned() -> None:
    study = optuna.create_study(
        direction="maximize",
        pruner=optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=0),
    )
    good = study.ask()
    good.report(0.9, step=1)
    study.tell(good, 0.9)

    weak = study.ask()
    callback = PruningCallback(weak, optuna.TrialPruned)
    with pytest.raises(optuna.TrialPruned):
        callback.on_evaluate(None, SimpleNamespace(epoch=1.0), None, {"eval_macro_f1": 0.2})
    study.tell(weak, state=optuna.trial.TrialState.PRUNED)
    assert study.trials[1].intermediate_values == {1: 0.2}


@pytest.mark.slow
def test_tune_searches_and_writes_a_config_that_run_accepts(
    tmp_path: Path, tickets_csv: Path, tiny_model: Path
) -> None:
    config = {
        "task": {"name": "tickets"},
        "data": {"source": str(tickets_csv)},
        "model": {"name_or_path": str(tiny_model)},
        "prepare": {"split": "random"},  # tune scores trials on a validation split
        "train": {"threads": 1, "early_stopping_patience": 0},
        "tune": {
            "n_trials": 3,
            "learning_rate": [0.0005, 0.003],
            "batch_size": [8, 16],
            "epochs": [1, 2],
        },
    }
    path = tmp_path / "tickets.yaml"
    path.write_text(yaml.safe_dump(config))
    result = domaintune("tune", str(path), "--out", "run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    tune = tmp_path / "run/tune"
    assert f"domaintune run {Path('run/tune/best.yaml')}" in result.stdout.replace("\n", " ")

    trials = json.loads((tune / "trials.json").read_text())
    assert [trial["number"] for trial in trials] == [0, 1, 2]
    assert {trial["state"] for trial in trials} <= {"complete", "pruned"}
    finished = [trial for trial in trials if trial["state"] == "complete"]
    best = max(finished, key=lambda trial: trial["validation_macro_f1"])
    assert set(best["settings"]) == {
        "learning_rate",
        "batch_size",
        "epochs",
        "warmup_ratio",
        "weight_decay",
    }
    assert all(trial["validation_macro_f1_by_epoch"] for trial in trials)

    tuned = load_config(str(tune / "best.yaml"))  # what `domaintune run best.yaml` loads
    assert tuned.task.name == "tickets-tuned"
    for key, value in best["settings"].items():
        assert getattr(tuned.train, key) == pytest.approx(value)
    assert not list(tune.glob("trial-*")), "a trial's checkpoints were left behind"


def test_warmup_bounds_below_1_are_accepted_and_1_or_more_refused() -> None:
    """Catches a bound of 1 let through to a trial, where it drew a warm-up the train section
    refuses and the search ended in a pydantic traceback."""
    assert build_config({}, ["tune.warmup_ratio=[0.0, 0.99]"]).tune.warmup_ratio == (0.0, 0.99)
    for bounds in ("[0.0, 1.0]", "[0.5, 2]"):
        with pytest.raises(UserError, match=r"tune\.warmup_ratio: .*give bounds below 1"):
            build_config({}, [f"tune.warmup_ratio={bounds}"])


def test_tune_refuses_a_warmup_bound_of_1_in_one_line_before_writing(
    tmp_path: Path, tickets_csv: Path
) -> None:
    """Catches the error reaching the user as a traceback, on several lines, or after the run
    folder was created."""
    config = {"data": {"source": str(tickets_csv)}, "tune": {"warmup_ratio": [0.1, 1.0]}}
    path = tmp_path / "tickets.yaml"
    path.write_text(yaml.safe_dump(config))
    result = domaintune("tune", str(path), "--out", "run", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "tune.warmup_ratio" in lines[0] and "give bounds below 1" in lines[0]
    assert not (tmp_path / "run").exists()


def test_tune_refuses_small_data_kept_for_cross_validation(
    tmp_path: Path, tickets_csv: Path, tiny_model: Path
) -> None:
    """300 rows are cross-validated by default: no validation split to score trials on."""
    config = {"data": {"source": str(tickets_csv)}, "model": {"name_or_path": str(tiny_model)}}
    path = tmp_path / "tickets.yaml"
    path.write_text(yaml.safe_dump(config))
    result = domaintune("tune", str(path), "--out", "run", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "prepare.split=random" in lines[0], result.stderr
