from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from domaintune.config import build_config
from domaintune.data.prepare import run_prepare
from domaintune.data.split import SPLITS
from domaintune.errors import UserError
from domaintune.rundir import RunDir
from domaintune.runfiles import DataCard
from tests.helpers import make_rows


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    return path


def test_unlabelled_texts_are_cleaned_and_lose_twins_of_labelled_rows_and_of_each_other(
    tmp_path: Path, tickets_csv: Path
) -> None:
    """Catches an unlabelled twin of a test, validation or training text that survives (the
    teacher's view of a held-out text would reach the student), repeats within the pool, texts
    not cleaned as labelled ones are, a label column read, and labelled splits changed by the
    pool."""
    plain = RunDir(tmp_path / "plain")
    one_split = {"prepare": {"split": "random"}}  # the held-out twins need held-out splits
    run_prepare(build_config({"data": {"source": str(tickets_csv)}, **one_split}), plain)
    splits = {name: pd.read_parquet(plain.split(name)) for name in SPLITS}
    fresh = [f"{text} &amp; more" for text in make_rows(40, seed=7)["text"].str.replace("#", "#9")]
    planted = [
        splits["test"]["text"].iloc[0].upper(),  # an exact twin, ignoring case
        splits["validation"]["text"].iloc[0] + " again",  # a near twin
        splits["train"]["text"].iloc[0],
        fresh[0].replace("&amp;", "&"),  # a repeat of a fresh text once HTML is unescaped
        fresh[1] + " still",  # a near repeat of a fresh text
        "   ",
        None,
    ]
    records = [{"text": text, "label": "not read"} for text in [*fresh, *planted]]
    pool = write_jsonl(tmp_path / "pool.jsonl", records)
    config = build_config(
        {"data": {"source": str(tickets_csv), "unlabelled": str(pool)}, **one_split}
    )
    run = RunDir(tmp_path / "run")
    card = run_prepare(config, run)

    for name in SPLITS:
        assert pd.read_parquet(run.split(name)).equals(splits[name])
    kept = pd.read_parquet(run.unlabelled)
    assert list(kept.columns) == ["text"]
    assert kept["text"].tolist() == [text.replace("&amp;", "&") for text in fresh]
    summary = card.unlabelled
    assert summary is not None and DataCard.read(run.card).unlabelled == summary
    assert summary.source == str(pool)
    assert (summary.rows_read, summary.rows_kept) == (len(records), len(fresh))
    assert summary.labelled_twins == {"test": 1, "validation": 1, "train": 1}
    removed = {step.name: step.removed for step in summary.steps if step.removed}
    assert removed == {
        "not_text": 1,
        "too_short": 1,
        "exact_duplicates": 1,
        "labelled_twins": 3,
        "near_duplicates": 1,
    }
    assert summary.steps[0].name == "read"


def test_a_missing_unlabelled_file_is_refused_with_its_name(
    tmp_path: Path, tickets_csv: Path
) -> None:
    missing = tmp_path / "nowhere.csv"
    config = build_config({"data": {"source": str(tickets_csv), "unlabelled": str(missing)}})
    with pytest.raises(UserError, match=r"data\.unlabelled: .*nowhere\.csv not found"):
        run_prepare(config, RunDir(tmp_path / "run"))
    assert not (tmp_path / "run").exists()


def test_unlabelled_texts_without_the_text_column_are_refused_naming_it(
    tmp_path: Path, tickets_csv: Path
) -> None:
    pool = tmp_path / "pool.csv"
    pool.write_text("body\nsome text without a label\n", encoding="utf-8")
    config = build_config({"data": {"source": str(tickets_csv), "unlabelled": str(pool)}})
    with pytest.raises(UserError, match=r"pool\.csv has no column 'text' \(its columns: body\)"):
        run_prepare(config, RunDir(tmp_path / "run"))


@pytest.mark.parametrize(
    ("settings", "refused"),
    [
        ({"data": {"text_columns": ["subject", "body"]}}, "one text column"),
        ({"task": {"objective": "regression"}}, "classification"),
    ],
)
def test_unlabelled_texts_are_refused_where_distillation_cannot_read_them(
    settings: dict, refused: str
) -> None:
    data = {**settings.get("data", {}), "unlabelled": "pool.csv"}
    with pytest.raises(UserError, match=rf"data\.unlabelled.*{refused}"):
        build_config({**settings, "data": data})


def test_unlabelled_texts_all_dropped_leave_an_empty_table(
    tmp_path: Path, tickets_csv: Path
) -> None:
    pool = write_jsonl(tmp_path / "pool.jsonl", [{"text": "   "}, {"text": None}])
    config = build_config({"data": {"source": str(tickets_csv), "unlabelled": str(pool)}})
    run = RunDir(tmp_path / "run")
    card = run_prepare(config, run)
    assert card.unlabelled is not None and card.unlabelled.rows_kept == 0
    kept = pd.read_parquet(run.unlabelled)
    assert list(kept.columns) == ["text"] and kept.empty
