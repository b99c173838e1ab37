"""Compare finished runs side by side: each run's test scores with intervals, and its baselines.

Reads only each run directory's metrics.json, so runs made with different configs, models or data
can be compared; the table says which test split each figure comes from (its size).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.table import Table

from domaintune.errors import UserError
from domaintune.rundir import RunDir, read_json
from domaintune.runfiles import Interval, Metrics

COLUMNS = ("run", "model", "test rows", "accuracy", "macro-F1", "ECE", "fine-tuned vs this")
"""ECE: the fine-tuned model's calibration error after temperature scaling. The last column is the
paired tests' verdict for the run's fine-tuned model against that baseline."""


def load_metrics(folders: list[Path]) -> dict[str, Metrics]:
    """metrics.json of each run, keyed by the run's folder as given; missing ones are errors."""
    for folder in folders:
        path = RunDir(folder).metrics
        raw = read_json(path) if path.is_file() else None
        objective = raw.get("objective") if isinstance(raw, dict) else None
        if objective in {"multi_label", "regression", "generation", "language_model"}:
            raise UserError(f"{folder} is a {objective} run: compare does not support them yet")
    return {str(folder): Metrics.read(RunDir(folder).metrics) for folder in folders}


def rows(runs: dict[str, Metrics]) -> list[dict[str, Any]]:
    """One row for each run's fine-tuned model and one for each of its baselines."""
    table = []
    for name, metrics in runs.items():
        table.append(
            {
                "run": name,
                "model": "fine-tuned",
                "test_rows": metrics.test_rows,
                "accuracy": metrics.accuracy,
                "accuracy_interval": metrics.intervals.accuracy,
                "macro_f1": metrics.macro_f1,
                "macro_f1_interval": metrics.intervals.macro_f1,
                "ece_after": metrics.calibration.ece_after,
                "verdict": "",
            }
        )
        for baseline, scores in metrics.baselines.items():
            table.append(
                {
                    "run": name,
                    "model": f"baseline: {baseline}",
                    "test_rows": metrics.test_rows,
                    "accuracy": scores.accuracy,
                    "accuracy_interval": scores.intervals.accuracy,
                    "macro_f1": scores.macro_f1,
                    "macro_f1_interval": scores.intervals.macro_f1,
                    "ece_after": None,
                    "verdict": metrics.significance[baseline].verdict,
                }
            )
    return table


def _cells(row: dict[str, Any]) -> list[str]:
    def with_interval(value: float, interval: Interval) -> str:
        return f"{value:.3f} [{interval[0]:.3f}, {interval[1]:.3f}]"

    return [
        row["run"],
        row["model"],
        str(row["test_rows"]),
        with_interval(row["accuracy"], row["accuracy_interval"]),
        with_interval(row["macro_f1"], row["macro_f1_interval"]),
        "" if row["ece_after"] is None else f"{row['ece_after']:.3f}",
        row["verdict"],
    ]


def rich_table(table: list[dict[str, Any]]) -> Table:
    rendered = Table(title="Test scores with intervals")
    for column in COLUMNS:
        rendered.add_column(column, justify="right" if column == "test rows" else "left")
    for row in table:
        rendered.add_row(*_cells(row), style=None if row["model"] == "fine-tuned" else "dim")
    return rendered


def markdown_table(table: list[dict[str, Any]]) -> str:
    lines = [f"| {' | '.join(COLUMNS)} |", f"|{'---|' * len(COLUMNS)}"]
    lines += [f"| {' | '.join(cell.replace('|', '/') for cell in _cells(row))} |" for row in table]
    return "\n".join(lines) + "\n"


def json_table(table: list[dict[str, Any]]) -> str:
    return json.dumps(table, indent=2, ensure_ascii=False) + "\n"
