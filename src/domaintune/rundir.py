"""The run directory: the only contract between stages, and how files in it are written.

Every path a stage reads or writes is named here. Every write goes to a temporary name first and is
renamed when complete, so a run killed at any moment never leaves a file that looks finished.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from domaintune.errors import UserError

STAGES = ("prepare", "train", "evaluate", "report")


@dataclass(frozen=True)
class RunDir:
    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def data(self) -> Path:
        return self.root / "data"

    def split(self, name: str) -> Path:
        return self.data / f"{name}.parquet"

    @property
    def card(self) -> Path:
        return self.data / "card.json"

    @property
    def label_audit(self) -> Path:
        """Rows whose label is probably wrong (confident learning): split, text, label,
        suggested_label, label_quality (lower is more suspect)."""
        return self.data / "label_audit.parquet"

    @property
    def model(self) -> Path:
        return self.root / "model"

    @property
    def calibration(self) -> Path:
        """The temperature fitted by evaluate, beside the weights so that predictions use it."""
        return self.model / "calibration.json"

    @property
    def model_card(self) -> Path:
        """The Hugging Face model card, written by evaluate: it holds the test figures."""
        return self.model / "README.md"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def checkpoint_config(self) -> Path:
        """The config the checkpoints were made with: a resumed run must match it."""
        return self.checkpoints / "config.yaml"

    @property
    def cache(self) -> Path:
        """Derived from data/ and the model's tokenizer; safe to delete, rebuilt when missing."""
        return self.root / "cache"

    def tokenized(self, key: str) -> Path:
        return self.cache / f"tokenized-{key}"

    @property
    def tune(self) -> Path:
        """`domaintune tune`: trials.json, best.yaml, and each running trial's checkpoints."""
        return self.root / "tune"

    @property
    def train_log(self) -> Path:
        return self.root / "train_log.json"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.json"

    @property
    def predictions(self) -> Path:
        return self.root / "predictions.parquet"

    @property
    def report_md(self) -> Path:
        return self.root / "report.md"

    @property
    def report_html(self) -> Path:
        return self.root / "report.html"

    @property
    def plots(self) -> Path:
        return self.root / "plots"

    def outputs(self, stage: str) -> list[Path]:
        """What each stage writes; a stage that runs again makes the later stages' outputs stale."""
        return {
            "prepare": [self.data, self.cache, self.tune],
            "train": [self.model, self.checkpoints, self.train_log],
            "evaluate": [self.metrics, self.predictions, self.calibration, self.model_card],
            "report": [self.report_md, self.report_html, self.plots],
        }[stage]

    def clear_from(self, stage: str) -> None:
        """Remove the outputs of `stage` and of every stage after it."""
        for later in STAGES[STAGES.index(stage) :]:
            for path in self.outputs(later):
                remove(path)

    def require(self, *paths: Path, stage: str) -> None:
        """Fail with what to run first when an input of a stage is missing."""
        for path in paths:
            if not path.exists():
                raise UserError(
                    f"{path} is missing: run `domaintune {stage} --out {self.root}` first"
                )


def remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def _temporary(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path to write a file or folder at; rename it over `path` on success."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = _temporary(path)
    remove(temporary)
    try:
        yield temporary
        remove(path)
        os.replace(temporary, path)
    finally:
        remove(temporary)


def write_text(path: Path, text: str) -> None:
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")


def write_json(path: Path, value: Any) -> None:
    write_text(path, json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def write_parquet(path: Path, frame: pd.DataFrame) -> None:
    with atomic_path(path) as temporary:
        frame.to_parquet(temporary, index=False)
