"""This run's model against other runs' models on the same test rows, paired.

A distilled model is worth serving only if it keeps most of its teacher's quality and beats the
same small model trained alone; other settings or models are judged the same way. The other runs
are read, never re-run: their predictions.parquet holds their model's label for each test row, and
pairing needs nothing more, as long as the rows are the same texts in the same order (the same
data prepared alike gives that; anything else is refused, since unpaired figures would mislead).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from domaintune.errors import UserError
from domaintune.evaluate import significance
from domaintune.evaluate.scoring import bootstrap_intervals
from domaintune.metrics import scores
from domaintune.rundir import RunDir, read_parquet
from domaintune.runfiles import Comparison, Metrics, OtherRun, TrainLog


def runs_to_compare(compare_runs: list[str], distilled_from: str | None) -> dict[str, str]:
    """Each run folder to compare with, and its role; the teacher first, each run once."""
    roles = {} if distilled_from is None else {distilled_from: "teacher"}
    for folder in compare_runs:
        roles.setdefault(folder, "compared")
    return roles


def predicted_by(folder: str, test: pd.DataFrame) -> np.ndarray:
    """The labels the other run's model predicted for `test`'s rows, in their order."""
    path = RunDir(Path(folder)).predictions
    if not path.is_file():
        raise UserError(
            f"evaluate.compare_runs: {folder} has no {path.name}: give a run whose evaluate "
            "stage finished"
        )
    other = read_parquet(path)
    if len(other) != len(test) or not np.array_equal(
        other["text"].to_numpy(), test["text"].to_numpy()
    ):
        raise UserError(
            f"evaluate.compare_runs: {folder}'s test rows differ from this run's ({len(other)} "
            f"against {len(test)} rows): compare runs prepared from the same data with the same "
            "prepare settings"
        )
    return other["predicted"].astype(str).to_numpy()


def compare_other_runs(
    roles: dict[str, str],
    test: pd.DataFrame,
    predicted: np.ndarray,
    *,
    labels: list[str],
    rows: np.ndarray,
    confidence_level: float,
    model_macro_f1: float,
) -> dict[str, OtherRun]:
    """Each other run's test macro-F1 with its interval, and this model's paired tests against
    it; its model, size and speed where its files say. A teacher without this run's test rows
    is left out (the report still names it); a run asked for is an error then."""
    gold = test["label"].astype(str).to_numpy()
    compared = {}
    for folder, role in roles.items():
        try:
            theirs = predicted_by(folder, test)
        except UserError:
            if role == "teacher":  # it may have learnt other rows, or been moved: named, unpaired
                continue
            raise
        interval = bootstrap_intervals(
            gold, theirs, labels=labels, rows=rows, confidence_level=confidence_level
        )
        other = RunDir(Path(folder))
        log = TrainLog.read(other.train_log) if other.train_log.is_file() else None
        metrics = Metrics.read(other.metrics) if other.metrics.is_file() else None
        macro_f1 = scores(gold, theirs)["macro_f1"]
        compared[folder] = OtherRun(
            role=role,
            model=None if log is None else log.model,
            parameters=None if log is None else log.parameters,
            macro_f1=macro_f1,
            macro_f1_interval=interval["macro_f1"],
            texts_per_second=None if metrics is None else metrics.texts_per_second,
            comparison=Comparison.model_validate(
                significance.paired_test(
                    gold,
                    predicted,
                    theirs,
                    labels=labels,
                    rows=rows,
                    confidence_level=confidence_level,
                    point_difference=model_macro_f1 - macro_f1,
                )
            ),
        )
    return compared
