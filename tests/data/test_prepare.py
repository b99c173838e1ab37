from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from domaintune.config import build_config
from domaintune.data.prepare import run_prepare
from domaintune.errors import UserError
from domaintune.rundir import RunDir
from domaintune.runfiles import DataCard
from tests.exported import utf16_semicolon_csv
from tests.helpers import make_rows


def test_prepare_writes_splits_card_and_config(tmp_path: Path, tickets_csv: Path) -> None:
    config = build_config({"data": {"source": str(tickets_csv)}})
    run = RunDir(tmp_path / "run")
    card = run_prepare(config, run)
    parts = {name: pd.read_parquet(run.split(name)) for name in ("train", "validation", "test")}
    assert all(list(part.columns) == ["text", "label"] for part in parts.values())
    assert sum(len(part) for part in parts.values()) == card.rows_kept == 299
    assert DataCard.read(run.card) == card
    assert "@airline great flight & friendly crew" in set().union(
        *(set(p["text"]) for p in parts.values())
    )
    steps = [step.name for step in card.steps]
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
    assert card.leakage.near_duplicate_pairs_after == {"train_validation": 0, "train_test": 0}
    audit = pd.read_parquet(run.label_audit)
    assert list(audit.columns) == [
        "text",
        "label",
        "suggested_label",
        "label_quality",
        "likely_error",
        "split",
    ]
    assert card.label_audit.flagged == len(audit)
    assert all(step.rows_after <= step.rows_before for step in card.steps)
    assert run.config.is_file()


def test_failed_prepare_keeps_the_previous_data(tmp_path: Path, tickets_csv: Path) -> None:
    run = RunDir(tmp_path / "run")
    run_prepare(build_config({"data": {"source": str(tickets_csv)}}), run)
    before = run.split("train").read_bytes()
    with pytest.raises(UserError):
        run_prepare(build_config({"data": {"source": str(tickets_csv), "text_column": "x"}}), run)
    assert run.split("train").read_bytes() == before


def test_bad_rows_are_counted_and_explained_never_a_crash(tmp_path: Path) -> None:
    """Missing labels, labels outside the mapping, numbers and lists as text, a 1 MB text and a
    file whose lines mix UTF-8 and cp1252: each is counted in the card with its reason."""
    good = make_rows(120, seed=5)
    records = [
        {"body": text, "stars": {"negative": 1, "neutral": 3, "positive": 5}[label]}
        for text, label in zip(good["text"], good["label"])
    ]
    records += [
        {"body": "no label at all here", "stars": None},
        {"body": "a label nobody mapped", "stars": 9},
        {"body": 12345, "stars": 1},
        {"body": ["a", "list"], "stars": 5},
        {"body": "word " * 210_000, "stars": 3},
    ]
    lines = [json.dumps(record, ensure_ascii=False).encode("utf-8") for record in records]
    lines.append(
        json.dumps({"body": "caf\u00e9 au lait was cold", "stars": 1}, ensure_ascii=False).encode(
            "cp1252"
        )
    )
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    config = build_config(
        {
            "data": {
                "source": str(path),
                "text_column": "body",
                "label_column": "stars",
                "label_mapping": {1: "negative", 3: "neutral", 5: "positive"},
            }
        }
    )
    card = run_prepare(config, RunDir(tmp_path / "run"))
    steps = {step.name: step for step in card.steps}
    assert steps["read"].changed == 1 and "not UTF-8" in steps["read"].description
    assert steps["missing_label"].removed == 1
    assert steps["map_labels"].removed == 1 and "(9)" in steps["map_labels"].description
    assert steps["not_text"].removed == 1 and steps["not_text"].changed == 1
    assert steps["too_long"].removed == 1
    texts = set().union(
        *(
            pd.read_parquet(RunDir(tmp_path / "run").split(n))["text"]
            for n in ("train", "validation", "test")
        )
    )
    assert "café au lait was cold" in texts and "12345" not in texts  # digits only: junk


def test_a_utf16_semicolon_export_prepares_its_texts_and_labels(tmp_path: Path) -> None:
    """The issue's file end to end: UTF-16 with a BOM, semicolons, CRLF, texts holding commas,
    semicolons and quotes, as a spreadsheet saves it. Catches NULs in the column names, one
    column `id;text;label;amount`, and texts or labels split or shifted."""
    frame = make_rows(120, seed=3)
    rows = [
        [str(i), f'{text}; "{label}", twice', label, f"{i},50"]
        for i, (text, label) in enumerate(zip(frame["text"], frame["label"]))
    ]
    path = utf16_semicolon_csv(tmp_path, rows)
    card = run_prepare(build_config({"data": {"source": str(path)}}), RunDir(tmp_path / "run"))
    parts = pd.concat(
        pd.read_parquet(RunDir(tmp_path / "run").split(name))
        for name in ("train", "validation", "test")
    )
    label_of = {text: label for _, text, label, _ in rows}
    assert len(parts) == card.rows_kept >= 110
    assert all(label_of[text] == label for text, label in zip(parts["text"], parts["label"]))
    assert "as utf-16" in card.steps[0].description
