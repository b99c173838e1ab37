from __future__ import annotations

from pathlib import Path

import pytest

from domaintune.errors import UserError
from domaintune.rundir import RunDir, atomic_path, read_json, write_json


def test_atomic_path_leaves_nothing_when_writing_fails(tmp_path: Path) -> None:
    target = tmp_path / "metrics.json"
    with pytest.raises(RuntimeError), atomic_path(target) as temporary:
        temporary.write_text("half")
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_replaces_a_folder_whole(tmp_path: Path) -> None:
    target = tmp_path / "model"
    target.mkdir()
    (target / "old.bin").write_text("old")
    with atomic_path(target) as temporary:
        temporary.mkdir()
        (temporary / "new.bin").write_text("new")
    assert [p.name for p in target.iterdir()] == ["new.bin"]


def test_json_round_trip(tmp_path: Path) -> None:
    write_json(tmp_path / "a.json", {"f1": 0.5, "label": "négatif"})
    assert read_json(tmp_path / "a.json") == {"f1": 0.5, "label": "négatif"}


def test_clear_from_removes_later_stages_only(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    write_json(run.card, {})
    write_json(run.train_log, {})
    write_json(run.metrics, {})
    run.clear_from("train")
    assert run.card.exists()
    assert not run.train_log.exists() and not run.metrics.exists()


def test_require_says_which_stage_to_run(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    with pytest.raises(UserError, match="domaintune train"):
        run.require(run.model, stage="train")


def test_clearing_evaluate_removes_its_files_in_model_but_keeps_the_weights(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    write_json(run.model / "config.json", {})
    write_json(run.calibration, {"temperature": 1.5})
    (run.model_card).write_text("card")
    run.clear_from("evaluate")
    assert (run.model / "config.json").exists()
    assert not run.calibration.exists() and not run.model_card.exists()


def test_tokens_and_tuning_are_cleared_with_the_data_they_came_from(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    write_json(run.tokenized("abc") / "facts.json", {})
    write_json(run.tune / "trials.json", [])
    run.clear_from("train")  # re-training reuses the tokens
    assert run.tokenized("abc").exists() and run.tune.exists()
    run.clear_from("prepare")
    assert not run.cache.exists() and not run.tune.exists()
