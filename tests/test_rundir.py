from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from domaintune.errors import UserError
from domaintune.rundir import (
    MARKER,
    RunDir,
    atomic_path,
    read_json,
    read_parquet,
    write_json,
    write_parquet,
)
from tests.helpers import snapshot


def marked(folder: Path) -> RunDir:
    """A run folder domaintune made, as prepare leaves it before writing."""
    run = RunDir(folder)
    run.claim("test")
    return run


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
    run = marked(tmp_path)
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
    run = marked(tmp_path)
    write_json(run.model / "config.json", {})
    write_json(run.calibration, {"temperature": 1.5})
    (run.model_card).write_text("card")
    run.clear_from("evaluate")
    assert (run.model / "config.json").exists()
    assert not run.calibration.exists() and not run.model_card.exists()


def test_tokens_and_tuning_are_cleared_with_the_data_they_came_from(tmp_path: Path) -> None:
    run = marked(tmp_path)
    write_json(run.tokenized("abc") / "facts.json", {})
    write_json(run.tune / "trials.json", [])
    run.clear_from("train")  # re-training reuses the tokens
    assert run.tokenized("abc").exists() and run.tune.exists()
    run.clear_from("prepare")
    assert not run.cache.exists() and not run.tune.exists()


def test_an_export_goes_with_the_model_it_was_made_from(tmp_path: Path) -> None:
    """Catches a stale ONNX export surviving a new model (prediction would serve the old one),
    or an export lost when only the evaluation or the report is made again."""
    run = marked(tmp_path)
    for stage in ("report", "evaluate", "train", "prepare"):
        write_json(run.parity, {})
        run.clear_from(stage)
        assert run.parity.exists() is (stage in ("report", "evaluate")), stage


def test_a_corrupt_export_file_names_the_export_command(tmp_path: Path) -> None:
    """Catches advice to run `domaintune export --out RUN`, a command that takes RUN itself."""
    run = marked(tmp_path / "run")
    write_json(run.parity, {})
    run.parity.write_text("{")
    with pytest.raises(UserError, match=rf"re-run `domaintune export {run.root}`$"):
        read_json(run.parity)
    with pytest.raises(UserError, match=rf"run `domaintune export {run.root}` first"):
        run.require(run.onnx_model, stage="export")


def test_claim_makes_a_missing_folder_and_marks_it_with_the_run_identity(tmp_path: Path) -> None:
    """Catches a run folder made without its marker, or a marker that says nothing of the run."""
    run = RunDir(tmp_path / "runs" / "tickets")
    run.claim("tickets")
    identity = json.loads((run.root / MARKER).read_text())
    assert identity["made_by"] == "domaintune" and identity["task"] == "tickets"
    assert identity["version"] and identity["created"]
    assert [path.name for path in run.root.iterdir()] == [MARKER]


def test_claim_adopts_an_empty_folder_and_keeps_the_first_identity(tmp_path: Path) -> None:
    """Catches an empty folder refused, or a marker rewritten (its created time lost) on re-runs."""
    run = RunDir(tmp_path)
    run.claim("first")
    first = run.marker.read_bytes()
    run.claim("second")
    assert run.marker.read_bytes() == first


def test_a_folder_with_files_domaintune_did_not_write_is_refused_untouched(
    tmp_path: Path,
) -> None:
    """Catches a stage that would clear (and delete) a folder of the user's: issue 10, item 2."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "card.json").write_text('{"mine": true}')
    (tmp_path / "train_log.json").write_text("my log")
    (tmp_path / "notes.txt").write_text("notes")
    before = snapshot(tmp_path)
    run = RunDir(tmp_path)
    with pytest.raises(UserError, match=rf"{tmp_path} holds files domaintune did not write"):
        run.claim("tickets")
    for stage in ("prepare", "train", "evaluate", "report"):
        with pytest.raises(UserError, match="give --out a new or empty folder"):
            run.clear_from(stage)
    with pytest.raises(UserError, match="did not write"):
        run.clear(run.train_log)
    assert snapshot(tmp_path) == before


def test_a_file_is_refused_as_a_run_folder(tmp_path: Path) -> None:
    """Catches --out naming a file, which would otherwise fail later with a traceback."""
    (tmp_path / "report.pdf").write_bytes(b"%PDF")
    with pytest.raises(UserError, match="is a file, not a folder"):
        RunDir(tmp_path / "report.pdf").claim("tickets")
    assert (tmp_path / "report.pdf").read_bytes() == b"%PDF"


def test_clear_removes_only_paths_inside_the_run(tmp_path: Path) -> None:
    """Catches a removal that reaches outside the marked folder, or follows a link out of it."""
    outside = tmp_path / "mine"
    outside.mkdir()
    (outside / "keep.txt").write_text("keep")
    run = marked(tmp_path / "run")
    with pytest.raises(ValueError, match="not inside the run folder"):
        run.clear(run.root / ".." / "mine")
    with pytest.raises(ValueError, match="not inside the run folder"):
        run.clear(run.root)
    run.plots.symlink_to(outside, target_is_directory=True)
    run.clear_from("report")
    assert not run.plots.is_symlink() and (outside / "keep.txt").read_text() == "keep"


@pytest.mark.parametrize(
    ("relative", "content", "stage"),
    [
        ("data/card.json", b'{"labels": ["a", "b"], "spl', "prepare"),
        ("train_log.json", b"\x00\x17garbage", "train"),
        ("model/calibration.json", b"", "evaluate"),
        ("cache/tokenized-abc/facts.json", b"\xff\xfe{}", "prepare"),
    ],
)
def test_a_corrupt_run_file_names_itself_and_the_stage_to_run_again(
    tmp_path: Path, relative: str, content: bytes, stage: str
) -> None:
    """Catches a JSON or Unicode traceback, or advice to re-run the wrong stage."""
    run = marked(tmp_path / "run")
    path = run.root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    with pytest.raises(UserError) as raised:
        read_json(path)
    message = str(raised.value)
    assert message.startswith(f"{path} is corrupt (")
    assert message.endswith(f"re-run `domaintune {stage} --out {run.root}`")
    assert "\n" not in message


def test_a_corrupt_json_file_outside_a_run_says_to_write_it_again(tmp_path: Path) -> None:
    """Catches a traceback for a JSON file that no stage of a run writes."""
    path = tmp_path / "other.json"
    path.write_text("{")
    with pytest.raises(UserError, match=r"other\.json is corrupt \(not JSON: .*\): delete it"):
        read_json(path)


def test_a_damaged_parquet_table_of_a_run_names_the_stage_to_run_again(tmp_path: Path) -> None:
    """Catches pyarrow's traceback when a split was cut short: one UserError naming the file and
    the stage that writes it, while a table that is fine reads back as written."""
    run = RunDir(tmp_path / "run")
    frame = pd.DataFrame({"text": ["a", "b"], "label": ["x", "y"]})
    write_parquet(run.split("test"), frame)
    pd.testing.assert_frame_equal(read_parquet(run.split("test")), frame)
    run.split("test").write_bytes(run.split("test").read_bytes()[:30])
    with pytest.raises(UserError) as caught:
        read_parquet(run.split("test"))
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{run.split('test')} is corrupt (not a Parquet table: ")
    assert message.endswith(f"re-run `domaintune prepare --out {run.root}`")
