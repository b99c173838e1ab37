"""The run directory: the only contract between stages, and how files in it are written.

Every path a stage reads or writes is named here. Every write goes to a temporary name first and is
renamed when complete, so a run killed at any moment never leaves a file that looks finished.

A stage clears its outputs before writing them, so a run folder must never be a folder of the
user's: domaintune marks each folder it makes (or adopts while empty) with a `.domaintune` file,
refuses a folder that holds anything else, and removes paths only inside a marked folder.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from domaintune.errors import UserError, first_line

STAGES = ("prepare", "train", "evaluate", "report")
EXPORT = "export"
"""`domaintune export`: a step beside the chain of stages, run on a finished run when wanted."""
MODEL_MAKERS = ("prepare", "train")
"""Stages whose re-run makes a new model, and so a stale export."""
MARKER = ".domaintune"
"""The file that says domaintune made this folder; only folders holding it are ever cleared."""


def not_a_run_folder(root: Path) -> UserError:
    return UserError(
        f"{root} holds files domaintune did not write (it has no {MARKER} marker), and a stage "
        f"clears the folders it writes: give --out a new or empty folder"
    )


def version() -> str:
    try:
        return metadata.version("domaintune")
    except metadata.PackageNotFoundError:  # run from a source tree that is not installed
        return "unknown"


@dataclass(frozen=True)
class RunDir:
    root: Path

    @property
    def marker(self) -> Path:
        return self.root / MARKER

    def is_marked(self) -> bool:
        return self.marker.is_file()

    def check_claimable(self) -> None:
        """Refuse, before any work is done, a folder a stage could not safely write into."""
        if self.is_marked():
            return
        if self.root.exists() and not self.root.is_dir():
            raise UserError(f"{self.root} is a file, not a folder: give --out a folder for the run")
        if self.root.is_dir() and any(self.root.iterdir()):
            raise not_a_run_folder(self.root)

    def claim(self, task: str) -> None:
        """Make the folder (or adopt it while empty) and mark it as this run's; a marked folder
        keeps the identity it was first given."""
        self.check_claimable()
        if self.is_marked():
            return
        self.root.mkdir(parents=True, exist_ok=True)
        created = datetime.now(timezone.utc).isoformat(timespec="seconds")
        write_json(
            self.marker,
            {"made_by": "domaintune", "version": version(), "task": task, "created": created},
        )

    def clear(self, *paths: Path) -> None:
        """Remove paths of this run: only inside a folder domaintune marked as its own."""
        if not self.is_marked():
            raise not_a_run_folder(self.root)
        root = Path(os.path.abspath(self.root))
        for path in paths:
            if root not in Path(os.path.abspath(path)).parents:  # by name: a link is not followed
                raise ValueError(f"{path} is not inside the run folder {self.root}")
            _remove(path)

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
    def normalization(self) -> Path:
        """The text normalisation prepare applied, as data: train copies it into the model."""
        return self.data / "normalization.json"

    @property
    def unlabelled(self) -> Path:
        """Texts without labels (data.unlabelled), cleaned, for a distilled student: text."""
        return self.data / "unlabelled.parquet"

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
    def decision_rules(self) -> Path:
        """The decision rules evaluate chose on validation, beside the weights so that every
        prediction applies them."""
        return self.model / "decision.json"

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

    @property
    def labeling_curve(self) -> Path:
        """`bench/labeling_curve.py --run`: macro-F1 against labels spent, the labeling loop
        against random picks; no stage writes or clears it, and the report shows it when there."""
        return self.root / "labeling_curve.json"

    @property
    def export(self) -> Path:
        """`domaintune export`: the ONNX model and its parity with PyTorch."""
        return self.root / "export"

    @property
    def onnx_model(self) -> Path:
        """The exported model: ONNX, attention fused, int8 weights unless exported without."""
        return self.export / "model.onnx"

    @property
    def parity(self) -> Path:
        """How the exported model's predictions compare with PyTorch fp32 on the test split."""
        return self.export / "parity.json"

    def outputs(self, stage: str) -> list[Path]:
        """What each stage writes; a stage that runs again makes the later stages' outputs stale."""
        return {
            "prepare": [self.data, self.cache, self.tune],
            "train": [self.model, self.checkpoints, self.train_log],
            "evaluate": [
                self.metrics,
                self.predictions,
                self.calibration,
                self.decision_rules,
                self.model_card,
            ],
            "report": [self.report_md, self.report_html, self.plots],
            EXPORT: [self.export],
        }[stage]

    def clear_from(self, stage: str) -> None:
        """Remove the outputs of `stage` and of every stage after it; a stage that makes a new
        model also removes the export made from the old one."""
        for later in STAGES[STAGES.index(stage) :]:
            self.clear(*self.outputs(later))
        if stage in MODEL_MAKERS:
            self.clear(*self.outputs(EXPORT))

    def command(self, stage: str) -> str:
        """The command line that runs `stage` on this run."""
        if stage == EXPORT:
            return f"domaintune export {self.root}"
        return f"domaintune {stage} --out {self.root}"

    def stage_writing(self, path: Path) -> str | None:
        """The stage that writes `path`, if any: the one to run again when it is corrupt.

        The nearest output wins: evaluate writes model/calibration.json inside train's model/.
        """
        written_by = {
            output: stage for stage in (*STAGES, EXPORT) for output in self.outputs(stage)
        }
        for candidate in (path, *path.parents):  # the file itself, then its nearest folder
            if candidate in written_by:
                return written_by[candidate]
        return None

    def require(self, *paths: Path, stage: str) -> None:
        """Fail with what to run first when an input of a stage is missing."""
        for path in paths:
            if not path.exists():
                raise UserError(f"{path} is missing: run `{self.command(stage)}` first")


def _remove(path: Path) -> None:
    """Unguarded: callers are `RunDir.clear` and `atomic_path` (its own temporary, and the path it
    replaces, which a stage writes only after clearing its outputs in a marked folder)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():  # a link goes, never what it points to
        path.unlink()


def _temporary(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path to write a file or folder at; rename it over `path` on success."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = _temporary(path)
    _remove(temporary)
    try:
        yield temporary
        _remove(path)
        os.replace(temporary, path)
    finally:
        _remove(temporary)


def write_text(path: Path, text: str) -> None:
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")


def write_json(path: Path, value: Any) -> None:
    write_text(path, json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def read_json(path: Path) -> Any:
    """A JSON file's value; a file cut short or overwritten is a `UserError` saying what to re-run."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as error:  # JSONDecodeError and UnicodeDecodeError alike
        raise corrupt(path, _reason(error)) from None


def read_model_json(path: Path) -> Any:
    """A settings file saved beside a model (normalization.json, fields.json); a damaged one is a
    `UserError` saying to train the model again."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UserError(f"{path} is not valid JSON ({error}): train the model again") from None


def corrupt(path: Path, reason: str) -> UserError:
    """The error for a file of a run that cannot be used as it is, with what to re-run."""
    return UserError(f"{path} is corrupt ({reason}): {remedy(path)}")


def _reason(error: ValueError) -> str:
    if isinstance(error, json.JSONDecodeError):
        return f"not JSON: {error.msg} at line {error.lineno} column {error.colno}"
    return "not UTF-8 text"


def writer(path: Path) -> tuple[RunDir, str] | None:
    """The run and the stage that write `path`, found by reading it as a file of each enclosing
    folder; None for a path no stage writes."""
    for root in path.parents:
        stage = RunDir(root).stage_writing(path)
        if stage is not None:
            return RunDir(root), stage
    return None


def remedy(path: Path) -> str:
    """Which stage to run again to replace `path`."""
    found = writer(path)
    if found is None:
        return "delete it and run the step that wrote it again"
    run, stage = found
    return f"re-run `{run.command(stage)}`"


def read_parquet(path: Path) -> pd.DataFrame:
    """A table of the run; a damaged one is a `UserError` saying what to re-run."""
    try:
        return pd.read_parquet(path)
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as error:  # pyarrow's ArrowInvalid is a ValueError
        raise corrupt(path, f"not a Parquet table: {first_line(error)}") from None


def write_parquet(path: Path, frame: pd.DataFrame) -> None:
    with atomic_path(path) as temporary:
        frame.to_parquet(temporary, index=False)
