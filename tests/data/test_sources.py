from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from pydantic import ValidationError

from domaintune.config import DataConfig
from domaintune.data.sniff import SAMPLE_BYTES, sniff_delimiter
from domaintune.data.sources import read_source, read_table
from domaintune.errors import UserError
from tests.exported import (
    COLUMNS,
    TICKETS,
    cp1252_csv,
    nested_jsonl,
    semicolon_csv,
    unicode_text,
    utf16_semicolon_csv,
    workbook,
)

ROWS = pd.DataFrame(
    {"text": ["late again", "thanks a lot", "seat change?"], "label": ["n", "p", "q"]}
)


def read(path: Path | str, **options: str | None) -> pd.DataFrame:
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


TEXTS = [row[1] for row in TICKETS]
LABELS = [row[2] for row in TICKETS]


@pytest.mark.parametrize(
    ("writer", "encoding"),
    [
        (semicolon_csv, "utf-8-sig"),
        (unicode_text, "utf-16"),
        (utf16_semicolon_csv, "utf-16"),
        (cp1252_csv, "cp1252"),
    ],
)
def test_exported_text_tables_read_their_columns_and_texts_exactly(
    tmp_path: Path, writer: Callable[[Path], Path], encoding: str
) -> None:
    """Catches what each export used to give: a semicolon CSV read as one column `id;text;...`,
    UTF-16 read as bytes (NULs in every column name), cp1252 curly quotes and euro signs garbled,
    a decimal comma or a quoted semicolon splitting a cell, a quoted line break splitting a row."""
    frame = read(writer(tmp_path))
    assert list(frame.columns) == COLUMNS
    assert frame["text"].tolist() == TEXTS
    assert frame["label"].tolist() == LABELS
    assert frame["amount"].tolist() == [row[3] for row in TICKETS]
    assert frame.attrs["encoding"] == encoding


def test_a_comma_csv_full_of_semicolons_stays_comma_separated(tmp_path: Path) -> None:
    """Catches a sniffer that counts delimiters in the texts (every text here holds two or
    three semicolons, unquoted where no comma forces quotes) rather than in the header and rows."""
    path = tmp_path / "notes.csv"
    rows = [f"{i},step one; step two; step three,label{i % 2}" for i in range(30)]
    path.write_text("id,text,label\n" + "\n".join(rows) + "\n")
    frame = read(path)
    assert list(frame.columns) == ["id", "text", "label"]
    assert frame["text"][0] == "step one; step two; step three"


def test_a_semicolon_csv_with_commas_in_texts_and_amounts_is_semicolon_separated(
    tmp_path: Path,
) -> None:
    path = tmp_path / "claims.csv"
    rows = [f"{i};damage to car, rear door, scratched;{i},50;claims" for i in range(30)]
    path.write_text("id;text;amount;label\n" + "\n".join(rows) + "\n")
    frame = read(path)
    assert frame["text"][0] == "damage to car, rear door, scratched"
    assert frame["amount"][0] == "0,50"


@pytest.mark.parametrize(
    ("head", "delimiter"),
    [
        ('id,text\n1,"a; b; c"\n2,d;e\n', ","),
        ("id;text\n1;a, b, c\n2;d,e\n", ";"),
        ("id\ttext\n1\ta, b; c\n", "\t"),
        ("id|text|label\n1|a, b; c|x\n", "|"),
        ("text\nhello, world; bye\n", "\t"),  # one column: no delimiter splits its rows
        ("text\nhello world\n", ","),
        ('id;text\n1;"one\nline; cut', ";"),  # the cut last record is left out
    ],
)
def test_sniff_delimiter(head: str, delimiter: str) -> None:
    assert sniff_delimiter(head) == delimiter


def test_an_explicit_delimiter_overrides_the_sniffed_one(tmp_path: Path) -> None:
    """Catches `data.delimiter` ignored: read with `;`, this comma file is one column."""
    path = tmp_path / "data.csv"
    ROWS.to_csv(path, index=False)
    assert list(read_table(path, delimiter=";").columns) == ["text,label"]
    assert DataConfig(delimiter="tab").delimiter == "\t"
    with pytest.raises(ValidationError, match="one character"):
        DataConfig(delimiter=";;")


def test_a_workbook_reads_its_first_or_named_sheet_as_text_cells(tmp_path: Path) -> None:
    """Catches 1 read as 1.0, a date as a timestamp with 00:00:00, a sheet other than the first
    read by default, and a named sheet ignored."""
    path = workbook(tmp_path)
    frame = read(path)
    assert list(frame.columns) == ["id", "text", "label", "amount", "opened"]
    assert frame["text"].tolist() == TEXTS and frame["label"].tolist() == LABELS
    assert frame["id"].tolist()[:2] == ["1", "2"]
    assert frame["amount"].tolist()[:3] == ["12.5", "0", "99.9"]
    assert frame["opened"][0] == "2024-03-01"
    archive = read(path, sheet="Archive")
    assert archive.to_dict("list") == {
        "id": ["100"],
        "text": ["Old ticket from 2019"],
        "label": ["billing"],
    }


def test_a_missing_sheet_lists_the_sheets(tmp_path: Path) -> None:
    path = workbook(tmp_path)
    with pytest.raises(UserError, match=r"has no sheet 'Data' \(its sheets: Tickets, Archive\)"):
        read(path, sheet="Data")


def test_dotted_columns_reach_into_nested_json(tmp_path: Path) -> None:
    """Catches `meta.body` unaddressable (the issue's JSONL), and the nested paths missing from
    the error that lists a file's columns."""
    path = nested_jsonl(tmp_path)
    frame = read(path, text_column="meta.body", label_column="routing.team.name")
    assert frame["meta.body"].tolist() == TEXTS
    assert frame["routing.team.name"].tolist() == LABELS
    with pytest.raises(UserError, match=r"its columns: id, meta, routing, amount, meta\.body"):
        read(path, text_column="meta.text")


def test_a_key_holding_a_dot_wins_over_the_nested_path(tmp_path: Path) -> None:
    """Catches a flat file's column `meta.body` shadowed by a nested object of the same path."""
    path = tmp_path / "flat.json"
    records = [
        {"meta.body": "flat text", "meta": {"body": "nested text"}, "label": "a"},
        {"meta.body": "flat two", "meta": {"body": "nested two"}, "label": "b"},
    ]
    path.write_text(json.dumps(records))
    assert read(path, text_column="meta.body")["meta.body"].tolist() == ["flat text", "flat two"]


def test_utf16_without_a_byte_order_mark_reads_without_nuls(tmp_path: Path) -> None:
    """Catches UTF-16 without its mark read as UTF-8 (it is valid UTF-8: ASCII and NULs), which
    gave the issue's column names full of NUL characters."""
    path = tmp_path / "export.csv"
    path.write_bytes("text;label\r\ncaf\u00e9 ferm\u00e9;a\r\nok;b\r\n".encode("utf-16-le"))
    frame = read(path)
    assert list(frame.columns) == ["text", "label"]
    assert frame["text"].tolist() == ["caf\u00e9 ferm\u00e9", "ok"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (bytes(range(256)) * 40, r"cannot be read as text \(tried byte-order marks, UTF-8"),
        (b"PK\x03\x04" + bytes(200), "is a zip archive"),
    ],
)
def test_an_unreadable_file_names_itself_and_what_was_tried(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(content)
    with pytest.raises(UserError, match=message) as error:
        read(path)
    assert str(path) in str(error.value)


def test_a_utf8_file_with_a_few_cp1252_lines_keeps_them_and_counts_them(tmp_path: Path) -> None:
    """Catches the detector deciding for a whole file that is UTF-8 with one line pasted from a
    cp1252 system: its UTF-8 lines would be garbled (cafÃ©)."""
    path = tmp_path / "mixed.csv"
    path.write_bytes(
        "text,label\ncaf\u00e9 cr\u00e8me,a\n".encode()
        + "\u201cquoted\u201d \u20ac5,b\n".encode("cp1252")
    )
    frame = read(path)
    assert frame["text"].tolist() == ["caf\u00e9 cr\u00e8me", "\u201cquoted\u201d \u20ac5"]
    assert frame.attrs["lines_not_utf8"] == 1 and frame.attrs["encoding"] == "utf-8"


def test_a_cp1252_file_with_utf8_lines_past_the_sample_reads_both(tmp_path: Path) -> None:
    """Catches a file decided as cp1252 from its first 64 KiB garbling the UTF-8 lines pasted in
    after them (naÃ¯ve)."""
    path = tmp_path / "pasted.csv"
    legacy = "".join(f"caf\u00e9 \u20ac{i},a\n" for i in range(6000)).encode("cp1252")
    assert len(legacy) > SAMPLE_BYTES
    path.write_bytes(b"text,label\n" + legacy + "na\u00efve \u2713,b\n".encode())
    frame = read(path)
    assert frame.attrs["encoding"] == "cp1252"
    assert frame["text"].iloc[0] == "caf\u00e9 \u20ac0"
    assert frame["text"].iloc[-1] == "na\u00efve \u2713"


@pytest.mark.parametrize(
    ("texts", "encoding"),
    [
        (
            [
                "\u0421\u043f\u0430\u0441\u0438\u0431\u043e \u0437\u0430 \u0431\u044b\u0441\u0442\u0440\u0443\u044e \u0434\u043e\u0441\u0442\u0430\u0432\u043a\u0443, \u0432\u0441\u0451 \u043e\u0442\u043b\u0438\u0447\u043d\u043e",
                "\u0417\u0430\u043a\u0430\u0437 \u043f\u0440\u0438\u0448\u0451\u043b \u043f\u043e\u0432\u0440\u0435\u0436\u0434\u0451\u043d\u043d\u044b\u043c \u0438 \u043f\u043e\u0437\u0434\u043d\u043e",
            ],
            "cp1251",
        ),
        (
            [
                "Tr\u00e8s d\u00e9\u00e7u, le caf\u00e9 \u00e9tait froid",
                "rembours\u00e9 5 \u20ac, \u00ab merci \u00bb",
            ],
            "cp1252",
        ),
    ],
)
def test_a_legacy_encoding_is_told_by_the_detector(
    tmp_path: Path, texts: list[str], encoding: str
) -> None:
    """Catches Cyrillic from a Russian Windows read as cp1252 (mojibake), and French cp1252 read
    as cp775 or mac_latin2, the detector's own first choices for such samples."""
    path = tmp_path / "legacy.csv"
    lines = [f'{i},"{text}",x' for i, text in enumerate(texts)]
    path.write_bytes(("id,text,label\r\n" + "\r\n".join(lines) + "\r\n").encode(encoding))
    frame = read(path)
    assert frame["text"].tolist() == texts and frame.attrs["encoding"] == encoding
