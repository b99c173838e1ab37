from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from domaintune.config import DataConfig
from domaintune.data.sources import read_source
from domaintune.errors import UserError

ROWS = pd.DataFrame(
    {"text": ["late again", "thanks a lot", "seat change?"], "label": ["n", "p", "q"]}
)


def read(path: Path | str, **options: str) -> pd.DataFrame:
    return read_source(DataConfig(source=str(path), **options))


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".json", ".parquet"])
def test_each_file_format_reads_the_same_rows(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"data{suffix}"
    if suffix == ".csv":
        ROWS.to_csv(path, index=False)
    elif suffix == ".tsv":
        ROWS.to_csv(path, sep="\t", index=False)
    elif suffix == ".jsonl":
        ROWS.to_json(path, orient="records", lines=True)
    elif suffix == ".json":
        ROWS.to_json(path, orient="records")
    else:
        ROWS.to_parquet(path)
    frame = read(path)
    assert frame["text"].tolist() == ROWS["text"].tolist()
    assert frame["label"].astype(str).tolist() == ROWS["label"].tolist()


def test_folder_of_class_subfolders(tmp_path: Path) -> None:
    for label, texts in {"spam": ["win money", "free prize"], "ham": ["see you at 5"]}.items():
        (tmp_path / label).mkdir()
        for i, text in enumerate(texts):
            (tmp_path / label / f"{i}.txt").write_text(text)
    frame = read(tmp_path)
    assert sorted(zip(frame["text"], frame["label"])) == [
        ("free prize", "spam"),
        ("see you at 5", "ham"),
        ("win money", "spam"),
    ]


def test_folder_of_tables_is_concatenated(tmp_path: Path) -> None:
    ROWS.to_csv(tmp_path / "a.csv", index=False)
    ROWS.to_json(tmp_path / "b.jsonl", orient="records", lines=True)
    assert len(read(tmp_path)) == 6


def test_latin1_file_is_decoded(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes("text,label\ncaf\xe9 cr\xe8me,p\nno,n\n".encode("latin-1"))
    assert read(path)["text"][0] == "café crème"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b"not json\n", "line 1 is not valid JSON"),
        (b'["a list"]\n', "line 1 is not a JSON object"),
    ],
)
def test_bad_jsonl_names_file_and_line(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(content)
    with pytest.raises(UserError, match=message) as error:
        read(path)
    assert str(path) in str(error.value)


def test_missing_column_lists_the_columns(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    ROWS.to_csv(path, index=False)
    with pytest.raises(UserError, match=r"no column 'body' \(its columns: text, label\)"):
        read(path, text_column="body")


def test_corrupt_parquet_and_unknown_suffix(tmp_path: Path) -> None:
    path = tmp_path / "data.parquet"
    path.write_text("text,label\n")
    with pytest.raises(UserError, match="not a valid PARQUET file"):
        read(path)
    other = tmp_path / "data.docx"
    other.write_text("x")
    with pytest.raises(UserError, match="unsupported file type"):
        read(other)


def test_jsonl_with_odd_values_still_reads(tmp_path: Path) -> None:
    path = tmp_path / "odd.jsonl"
    lines = [
        {"text": 42, "label": "a"},
        {"text": ["x"], "label": "b"},
        {"text": "ok", "label": None},
    ]
    path.write_text("\n".join(json.dumps(line) for line in lines))
    assert len(read(path)) == 3
