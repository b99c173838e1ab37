"""Several text fields per row (subject and body, question and answer), as data.

Prepare cleans each field on its own and keeps it in data/*.parquet as its own column (`field:NAME`),
beside `text`, the fields joined with FIELD_SEPARATOR, which every check of prepare (junk,
duplicates, near-duplicates, label audit), the TF-IDF and probe baselines and the report read as
they read a single text. Which fields the model reads, and how (`joined` or as a `pair`), is saved
as `fields.json` in data/ and, by train, in the model folder, so that prediction asks for the same
fields in the same order. How a tokenizer joins them is train's and predict's business: this
module knows names and values only.

A single text column writes no `fields.json`: its model reads one text, as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from domaintune.config import DataConfig, PrepareConfig
from domaintune.data.card import Step, StepName, before_after
from domaintune.data.clean import normalize_text, to_text
from domaintune.errors import UserError
from domaintune.rundir import read_model_json, write_json

FIELDS_FILE = "fields.json"
FIELDS_VERSION = 1
FIELD_PREFIX = "field:"
"""Prefix of a field's column in data/*.parquet, so a field may be called `text` or `label`."""
FIELD_SEPARATOR = " | "
"""Joins the fields into `text` for prepare's checks, the baselines and the report: one line (a
Markdown table row stays whole), and a mark TF-IDF and MinHash ignore. The model never reads it."""
Mode = Literal["joined", "pair"]


@dataclass(frozen=True)
class TextFields:
    """The fields a model reads, in order, and how: `joined` (by the tokenizer's separator) or
    as a `pair` (two fields, token types 0 and 1)."""

    names: tuple[str, ...]
    mode: Mode = "joined"

    @property
    def pair(self) -> bool:
        return self.mode == "pair"

    @property
    def columns(self) -> list[str]:
        """The fields' columns in data/*.parquet."""
        return [field_column(name) for name in self.names]

    def describe(self) -> str:
        names = ", ".join(self.names)
        return f"{names} (compared as a pair)" if self.pair else f"{names} (joined)"


def field_column(name: str) -> str:
    return f"{FIELD_PREFIX}{name}"


def configured_fields(data: DataConfig) -> TextFields | None:
    """The config's fields; None for one text column, which is read as a single text."""
    if len(data.fields) == 1:
        return None
    return TextFields(tuple(data.fields), "pair" if data.text_pair else "joined")


def join_fields(values: list[str]) -> str:
    return FIELD_SEPARATOR.join(values)


def fields_frame(raw: pd.DataFrame, fields: TextFields, *, label_column: str) -> pd.DataFrame:
    """The source's fields, each in its own column, and its labels; `text` joins the fields as
    read (a cell that is not text shown as empty) so that the steps before cleaning show rows
    as the later ones do."""
    frame = pd.DataFrame({column: raw[name] for name, column in zip(fields.names, fields.columns)})
    shown = frame.apply(lambda row: join_fields([to_text(v) or "" for v in row]), axis=1)
    return frame.assign(text=shown, label=raw[label_column])


def read_fields(
    frame: pd.DataFrame, fields: TextFields, *, examples: int
) -> tuple[pd.DataFrame, Step]:
    """Every field cell as text: numbers written out, a missing cell as an empty field (a ticket
    may have no subject); a row with a list or object in a field, or with no text in any, is
    dropped (the card counts them with `not_text`)."""
    texts = {name: frame[column].map(to_text) for name, column in zip(fields.names, fields.columns)}
    present = {name: frame[column].notna() for name, column in zip(fields.names, fields.columns)}
    not_text = pd.Series(False, index=frame.index)
    empty = pd.Series(True, index=frame.index)
    for name in fields.names:
        not_text |= texts[name].isna() & present[name]  # a list, an object or a boolean
        empty &= texts[name].fillna("").str.strip() == ""
    dropped = not_text | empty
    step = Step(
        StepName.NOT_TEXT,
        "dropped rows with no text in any field, or a list or object in one; read numbers as "
        "text and a missing field as empty",
        len(frame),
        int((~dropped).sum()),
        examples=[
            {"text": repr(values)[:200], "label": label}
            for values, label in zip(
                frame.loc[dropped, fields.columns]
                .set_axis(list(fields.names), axis=1)
                .head(examples)
                .to_dict("records"),
                frame["label"][dropped],
            )
        ],
    )
    kept = frame[~dropped].assign(
        **{
            column: texts[name][~dropped].fillna("")
            for name, column in zip(fields.names, fields.columns)
        }
    )
    return kept, step


def normalize_fields(
    frame: pd.DataFrame, fields: TextFields, prepare: PrepareConfig, *, summary: str, examples: int
) -> tuple[pd.DataFrame, Step]:
    """Each field normalised as `normalize_text` normalises a text, then `text` made of them."""
    before = frame[fields.columns].apply(lambda row: join_fields(row.tolist()), axis=1)
    cleaned = {
        column: frame[column].map(lambda text: normalize_text(text, prepare))
        for column in fields.columns
    }
    frame = frame.assign(**cleaned)
    after = frame[fields.columns].apply(lambda row: join_fields(row.tolist()), axis=1)
    step = Step(
        StepName.NORMALIZE,
        f"{summary}, in each field",
        len(frame),
        len(frame),
        changed=int((before != after).sum()),
        examples=before_after(before, after, examples=examples),
    )
    return frame.assign(text=after), step


def field_values(record: object, fields: TextFields, *, where: str) -> list[str]:
    """A {field: text} input's texts in the fields' order; refused, naming `where` and what is
    wrong, when it is not such an object, lacks a field or holds a field that is not a text."""
    names = ", ".join(fields.names)
    if not isinstance(record, Mapping):
        raise UserError(
            f"{where} is {type(record).__name__}, not an object of fields: this model reads the "
            f"fields {names}; give one {{field: text}} per input"
        )
    missing = [name for name in fields.names if name not in record]
    if missing:
        raise UserError(f"{where} has no field '{missing[0]}' (this model reads {names})")
    wrong = next((name for name in fields.names if not isinstance(record[name], str)), None)
    if wrong is not None:
        raise UserError(f"{where}: the field '{wrong}' is not a text")
    return [record[name] for name in fields.names]


def prepared_inputs(frame: pd.DataFrame, fields: TextFields | None, *, path: Path) -> list[Any]:
    """A prepared split as prediction takes it: its texts, or one {field: text} per row."""
    if fields is None:
        return frame["text"].tolist()
    missing = [c for c in fields.columns if c not in frame.columns]
    if missing:
        raise UserError(
            f"{path} has no column '{missing[0]}', but the model reads the fields "
            f"{', '.join(fields.names)}: prepare the data again with these data.text_columns"
        )
    renamed = frame[fields.columns].set_axis(list(fields.names), axis=1)
    return renamed.to_dict("records")


def save_fields(folder: Path, fields: TextFields) -> Path:
    path = folder / FIELDS_FILE
    write_json(path, {"version": FIELDS_VERSION, "names": list(fields.names), "mode": fields.mode})
    return path


def load_fields(folder: Path) -> TextFields | None:
    """The fields a model or prepared data reads; None without `fields.json` (one text)."""
    path = folder / FIELDS_FILE
    if not path.is_file():
        return None
    saved = read_model_json(path)
    version = saved.get("version") if isinstance(saved, dict) else None
    if version not in range(1, FIELDS_VERSION + 1):
        raise UserError(
            f"{path} has format version {version!r}; this domaintune reads versions 1 to "
            f"{FIELDS_VERSION}: upgrade domaintune, or train the model again"
        )
    names, mode = saved.get("names"), saved.get("mode")
    valid = (
        isinstance(names, list)
        and len(names) >= 2
        and all(isinstance(name, str) for name in names)
        and len(set(names)) == len(names)
        and mode in ("joined", "pair")
        and (mode != "pair" or len(names) == 2)
    )
    if not valid:
        raise UserError(
            f"{path} must list two or more distinct field names and a mode (joined, or pair "
            "with two fields): train the model again"
        )
    return TextFields(tuple(names), mode)
