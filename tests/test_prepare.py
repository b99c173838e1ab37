from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from domaintune.config import build_config
from domaintune.data.prepare import run_prepare
from domaintune.errors import UserError
from domaintune.rundir import RunDir


def test_prepare_writes_splits_card_and_config(tmp_path: Path, tickets_csv: Path) -> None:
    config = build_config({"data": {"source": str(tickets_csv)}})
    run = RunDir(tmp_path / "run")
    card = run_prepare(config, run)
    parts = {name: pd.read_parquet(run.split(name)) for name in ("train", "validation", "test")}
    assert all(list(part.columns) == ["text", "label"] for part in parts.values())
    assert sum(len(part) for part in parts.values()) == card["rows_kept"] == 299
    assert json.loads(run.card.read_text()) == card
    assert "@airline great flight & friendly crew" in set().union(
        *(set(p["text"]) for p in parts.values())
    )
    steps = [step["name"] for step in card["steps"]]
    assert steps == [
        "read",
        "missing_label",
        "not_text",
        "normalize",
        "too_short",
        "too_long",
        "not_letters",
        "other_language",
        "typos",
        "conflicts",
        "exact_duplicates",
        "near_duplicates",
        "label_audit",
        "leakage",
        "balance",
    ]
    assert card["leakage"]["near_duplicate_pairs_after"] == {"train_validation": 0, "train_test": 0}
    audit = pd.read_parquet(run.label_audit)
    assert list(audit.columns) == [
        "text",
        "label",
        "suggested_label",
        "label_quality",
        "likely_error",
        "split",
    ]
    assert card["label_audit"]["flagged"] == len(audit)
    assert all(step["rows_after"] <= step["rows_before"] for step in card["steps"])
    assert run.config.is_file()


def test_failed_prepare_keeps_the_previous_data(tmp_path: Path, tickets_csv: Path) -> None:
    run = RunDir(tmp_path / "run")
    run_prepare(build_config({"data": {"source": str(tickets_csv)}}), run)
    before = run.split("train").read_bytes()
    with pytest.raises(UserError):
        run_prepare(build_config({"data": {"source": str(tickets_csv), "text_column": "x"}}), run)
    assert run.split("train").read_bytes() == before
