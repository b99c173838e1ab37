"""The run files' models: they read and write a finished run's files unchanged, and refuse files of
another schema version or shape with one line that names the file and the stage to run again."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from domaintune.data.card import StepName
from domaintune.errors import UserError
from domaintune.rundir import RunDir
from domaintune.runfiles import DataCard, Metrics, RunFile, TrainLog

FILES: list[tuple[type[RunFile], Callable[[RunDir], Path], str]] = [
    (DataCard, lambda run: run.card, "prepare"),
    (TrainLog, lambda run: run.train_log, "train"),
    (Metrics, lambda run: run.metrics, "evaluate"),
]
IDS = ["card", "train_log", "metrics"]


def written(source: Path, run: RunDir, where: Callable[[RunDir], Path]) -> Path:
    """`source`'s content as the same file of `run`, where a stage would have written it."""
    path = where(run)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(source.read_bytes())
    return path


def refusal(model: type[RunFile], path: Path) -> str:
    with pytest.raises(UserError) as raised:
        model.read(path)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    return message


@pytest.mark.parametrize(("model", "where", "stage"), FILES, ids=IDS)
def test_a_finished_runs_files_read_and_write_back_unchanged(
    finished_run: RunDir, tmp_path: Path, model: type[RunFile], where: Callable, stage: str
) -> None:
    """Catches a field dropped, added, renamed or retyped on the way through a model (an int
    written back as a float, a baseline's missing details written as nulls): the JSON a stage
    writes through its model must be the JSON it wrote before the models existed."""
    source = where(finished_run)
    again = tmp_path / source.name
    model.read(source).write(again)
    assert json.loads(again.read_text()) == json.loads(source.read_text())
    assert again.read_text() == source.read_text()
    assert json.loads(source.read_text())["schema_version"] == model.schema_version


def test_attributes_are_the_files_figures(finished_run: RunDir) -> None:
    """Catches a per-class figure read from the wrong key: F1 is `f1-score` in the per-class
    report and `f1[label]` among the intervals."""
    raw = json.loads(finished_run.metrics.read_text())
    metrics = Metrics.read(finished_run.metrics)
    for label in raw["labels"]:
        assert metrics.per_class[label].f1_score == raw["per_class"][label]["f1-score"]
        assert list(metrics.intervals.f1[label]) == raw["intervals"][f"f1[{label}]"]
    assert set(metrics.intervals.f1) == set(raw["labels"])
    assert "c" not in raw["baselines"]["majority"] and metrics.baselines["majority"].c is None
    assert metrics.baselines["tfidf_logreg"].c == raw["baselines"]["tfidf_logreg"]["c"]


def test_every_step_in_the_card_has_a_name_of_the_vocabulary(finished_run: RunDir) -> None:
    """Catches a step made with a name inspect and the report do not know."""
    card = DataCard.read(finished_run.card)
    assert {step.name for step in card.steps} <= set(StepName)
    assert card.step(StepName.LABEL_AUDIT) is not None


@pytest.mark.parametrize(("model", "where", "stage"), FILES, ids=IDS)
@pytest.mark.parametrize(
    ("offset", "age"), [(None, "an older"), (-1, "an older"), (1, "a newer")], ids=str
)
def test_another_schema_version_is_refused_with_the_stage_to_run_again(
    finished_run: RunDir,
    tmp_path: Path,
    model: type[RunFile],
    where: Callable,
    stage: str,
    offset: int | None,
    age: str,
) -> None:
    """Catches a file of another version (None: from before versions) read as if it were this
    one's: the report once checked for a `calibration` key instead."""
    run = RunDir(tmp_path / "run")
    path = written(where(finished_run), run, where)
    content = json.loads(path.read_text())
    if offset is None:
        del content["schema_version"]
    else:
        content["schema_version"] += offset
    path.write_text(json.dumps(content))
    message = refusal(model, path)
    assert f"written by {age} domaintune" in message
    assert message.endswith(f"re-run `domaintune {stage} --out {run.root}`")


def drop(field: str) -> Callable[[dict[str, Any]], None]:
    def change(content: dict[str, Any]) -> None:
        del content[field]

    return change


WRONG_SHAPES = {
    "card without rows_read": (DataCard, drop("rows_read"), "rows_read: Field required"),
    "card with an extra key": (
        DataCard,
        lambda content: content.update(rows_lost=3),
        "rows_lost: Extra inputs are not permitted",
    ),
    "log with words for a number": (
        TrainLog,
        lambda content: content.update(max_length="long"),
        "max_length: Input should be a valid integer",
    ),
    "metrics without a calibration figure": (
        Metrics,
        lambda content: content["calibration"].pop("ece_after"),
        "calibration.ece_after: Field required",
    ),
}


@pytest.mark.parametrize(("model", "change", "said"), WRONG_SHAPES.values(), ids=list(WRONG_SHAPES))
def test_a_file_of_the_wrong_shape_is_refused_in_one_line(
    finished_run: RunDir, tmp_path: Path, model: type[RunFile], change: Callable, said: str
) -> None:
    """Catches a wrong-shaped file passing (to fail later on a missing key) or a pydantic
    traceback of many lines reaching the user."""
    where, stage = next((w, s) for m, w, s in FILES if m is model)
    run = RunDir(tmp_path / "run")
    path = written(where(finished_run), run, where)
    content = json.loads(path.read_text())
    change(content)
    path.write_text(json.dumps(content))
    message = refusal(model, path)
    assert f"is corrupt (not the shape domaintune writes: {said}" in message
    assert message.endswith(f"re-run `domaintune {stage} --out {run.root}`")


@pytest.mark.parametrize("content", ["[1, 2]", '{"schema_version": "1"}', '{"cut short'])
def test_a_file_that_is_no_run_file_is_refused_in_one_line(tmp_path: Path, content: str) -> None:
    run = RunDir(tmp_path / "run")
    run.metrics.parent.mkdir(parents=True)
    run.metrics.write_text(content)
    message = refusal(Metrics, run.metrics)
    assert "is corrupt (" in message
    assert message.endswith(f"re-run `domaintune evaluate --out {run.root}`")


def test_a_missing_file_says_which_stage_writes_it(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "run")
    message = refusal(TrainLog, run.train_log)
    assert message == f"{run.train_log} is missing: run `domaintune train --out {run.root}` first"
