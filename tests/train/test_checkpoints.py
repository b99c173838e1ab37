"""Resume: a training process killed with SIGKILL continues from its last complete checkpoint."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from domaintune.config import Config, build_config
from domaintune.data.prepare import run_prepare
from domaintune.errors import UserError
from domaintune.rundir import RunDir
from domaintune.runfiles import TrainLog
from domaintune.train.checkpoints import differences, drop_incomplete, is_complete, latest_complete
from domaintune.train.trainer import run_train
from tests.helpers import fast_config, write_tickets

CLI = [sys.executable, "-c", "from domaintune.cli import main; main()"]


def test_only_checkpoints_with_a_readable_state_count(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    run.claim("test")
    root = run.checkpoints
    for step, state in ((10, "{}"), (20, "{}"), (30, '{"half')):
        folder = root / f"checkpoint-{step}"
        folder.mkdir(parents=True)
        (folder / "trainer_state.json").write_text(state)
    (root / "checkpoint-40").mkdir()  # killed before its state was written
    assert not is_complete(root / "checkpoint-30")
    assert latest_complete(root) == root / "checkpoint-20"
    drop_incomplete(run)
    assert sorted(p.name for p in root.iterdir()) == ["checkpoint-10", "checkpoint-20"]
    assert latest_complete(tmp_path / "none") is None


def test_cut_short_checkpoints_are_kept_outside_a_marked_run(tmp_path: Path) -> None:
    """Catches a removal of checkpoint folders in a folder domaintune did not make."""
    run = RunDir(tmp_path)
    (run.checkpoints / "checkpoint-40").mkdir(parents=True)
    with pytest.raises(UserError, match="did not write"):
        drop_incomplete(run)
    assert (run.checkpoints / "checkpoint-40").is_dir()


def test_differences_name_changed_keys() -> None:
    saved = {"train": {"epochs": 3, "seed": 1}, "model": {"name": "a"}}
    now = {"train": {"epochs": 5, "seed": 1}, "model": {"name": "a"}}
    assert differences(saved, now) == ["train.epochs (3 then, 5 now)"]


def evaluations(log: TrainLog) -> list[dict]:
    """Per-epoch validation figures, without the timings that differ between runs."""
    return [
        {
            key: value
            for key, value in entry.items()
            if "runtime" not in key and "per_second" not in key
        }
        for entry in log.history
        if "eval_loss" in entry
    ]


def wait_for_complete_checkpoint(process: subprocess.Popen, folder: Path) -> None:
    """Poll until the Trainer has finished writing a checkpoint (or the process has ended)."""
    deadline = time.monotonic() + 300  # a guard against a hung test, not a timing assumption
    while latest_complete(folder) is None and process.poll() is None:
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.02)


def prepared(folder: Path, tiny_model: Path, *overrides: str) -> tuple[Config, RunDir]:
    """A prepared run directory whose config.yaml has the fast test settings."""
    data = write_tickets(folder)
    # frozen embeddings, the default: the resumed optimizer state then lacks the table
    config = fast_config(
        data, tiny_model, "train.epochs=6", "train.freeze_embeddings=true", *overrides
    )
    run = RunDir(folder / "killed")
    run_prepare(config, run)
    return config, run


@pytest.mark.slow
def test_killed_training_resumes_to_the_same_result(tmp_path: Path, tiny_model: Path) -> None:
    config, killed = prepared(tmp_path, tiny_model)
    whole = RunDir(tmp_path / "whole")
    shutil.copytree(killed.root, whole.root)  # the same prepared data and config
    first = run_train(config, whole)  # in this process: uninterrupted

    process = subprocess.Popen(
        [*CLI, "train", "--out", str(killed.root)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_complete_checkpoint(process, killed.checkpoints)
    assert process.poll() is None, "training ended before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not killed.model.exists() and not killed.train_log.exists()

    resumed = subprocess.run(
        [*CLI, "train", "--resume", "--out", str(killed.root)], capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resumed from" in resumed.stdout

    second = TrainLog.read(killed.train_log)
    assert second.resumed_from and first.resumed_from is None
    assert evaluations(second) == evaluations(first)
    assert second.best_validation_macro_f1 == first.best_validation_macro_f1
    weights = load_file(whole.model / "model.safetensors")
    again = load_file(killed.model / "model.safetensors")
    assert weights.keys() == again.keys()
    assert all(torch.equal(weights[name], again[name]) for name in weights)
    assert not killed.checkpoints.exists()


def test_resume_needs_a_checkpoint_and_the_same_config(tmp_path: Path, tiny_model: Path) -> None:
    config, run = prepared(tmp_path, tiny_model)
    with pytest.raises(UserError, match="nothing to resume"):
        run_train(config, run, resume=True)
    (run.checkpoints / "checkpoint-5").mkdir(parents=True)
    (run.checkpoints / "checkpoint-5/trainer_state.json").write_text("{}")
    shutil.copy(run.config, run.checkpoint_config)
    changed = build_config(config.model_dump(), ["train.epochs=2"])
    with pytest.raises(UserError, match=r"train.epochs \(6.0 then, 2.0 now\)"):
        run_train(changed, run, resume=True)


def test_a_corrupt_checkpoint_config_says_to_start_over(tmp_path: Path, tiny_model: Path) -> None:
    """Catches a YAML or Unicode traceback when the checkpoints' config.yaml was damaged."""
    config, run = prepared(tmp_path, tiny_model, "train.precision=fp32")  # any CPU sets it up
    (run.checkpoints / "checkpoint-5").mkdir(parents=True)
    (run.checkpoints / "checkpoint-5/trainer_state.json").write_text("{}")
    for damaged in (b"data: [unclosed\n", b"\xff\xfe", b"just text\n"):
        run.checkpoint_config.write_bytes(damaged)
        with pytest.raises(UserError, match=r"config\.yaml is corrupt.*without --resume"):
            run_train(config, run, resume=True)
    assert (run.checkpoints / "checkpoint-5").is_dir()
