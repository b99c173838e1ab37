"""Checkpoints under runs/<name>/checkpoints: which are complete, and where a resumed run starts.

The Trainer writes a checkpoint-N folder file by file and its trainer_state.json last, so a folder
whose trainer_state.json reads as JSON is complete; any other was cut short by a kill, and is
removed before resuming. A run resumes only with the config its checkpoints were made with.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from domaintune.config import Config
from domaintune.errors import UserError
from domaintune.rundir import RunDir, write_text

CHECKPOINT = re.compile(r"checkpoint-(\d+)")
STATE_FILE = "trainer_state.json"
SECTIONS_THAT_SHAPE_TRAINING = ("data", "prepare", "model", "train", "generation")


def is_complete(folder: Path) -> bool:
    try:
        json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return True


def checkpoint_folders(root: Path) -> list[Path]:
    """checkpoint-N folders, by N."""
    if not root.is_dir():
        return []
    found = [path for path in root.iterdir() if path.is_dir() and CHECKPOINT.fullmatch(path.name)]
    return sorted(found, key=lambda path: int(CHECKPOINT.fullmatch(path.name).group(1)))


def latest_complete(root: Path) -> Path | None:
    complete = [folder for folder in checkpoint_folders(root) if is_complete(folder)]
    return complete[-1] if complete else None


def drop_incomplete(run: RunDir) -> None:
    """Remove the checkpoints a kill cut short, so the Trainer never resumes from one."""
    cut_short = [path for path in checkpoint_folders(run.checkpoints) if not is_complete(path)]
    run.clear(*cut_short)


def differences(saved: dict[str, Any], current: dict[str, Any], *, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two nested dicts."""
    keys = sorted(set(saved) | set(current))
    found = []
    for key in keys:
        before, now = saved.get(key), current.get(key)
        if isinstance(before, dict) and isinstance(now, dict):
            found += differences(before, now, prefix=f"{prefix}{key}.")
        elif before != now:
            found.append(f"{prefix}{key} ({before!r} then, {now!r} now)")
    return found


def start_fresh(run: RunDir, config: Config) -> None:
    """Clear the train stage's outputs and those after it; note the config checkpoints use."""
    run.clear_from("train")
    write_text(run.checkpoint_config, config.to_yaml())


def saved_config(run: RunDir) -> dict[str, Any]:
    """The config the checkpoints were made with; a damaged copy means starting over."""
    try:
        saved = yaml.safe_load(run.checkpoint_config.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError):
        saved = None
    if not isinstance(saved, dict):
        raise UserError(
            f"{run.checkpoint_config} is corrupt, so the checkpoints cannot be checked: "
            f"run `domaintune train --out {run.root}` without --resume"
        )
    return saved


def resume_point(run: RunDir, config: Config, *, is_main: bool) -> Path:
    """The last complete checkpoint, after removing cut-off ones and checking the config."""
    if is_main:
        drop_incomplete(run)
    latest = latest_complete(run.checkpoints)
    if latest is None or not run.checkpoint_config.is_file():
        raise UserError(
            f"nothing to resume in {run.checkpoints}: no complete checkpoint was saved; "
            f"run `domaintune train --out {run.root}` without --resume"
        )
    saved = saved_config(run)
    current = config.model_dump(mode="json")
    changed = differences(
        {key: saved.get(key) for key in SECTIONS_THAT_SHAPE_TRAINING},
        {key: current[key] for key in SECTIONS_THAT_SHAPE_TRAINING},
    )
    if changed:
        raise UserError(
            f"cannot resume: the config differs from the one the checkpoints were made with "
            f"({'; '.join(changed)}): pass the same config and --set options"
        )
    if is_main:  # a new model and log will be written; the ones after them are stale
        run.clear(run.model, run.train_log)
        run.clear_from("evaluate")
    return latest
