"""Read the user's data, whatever its form, into one table of text and raw label.

Sources: a built-in (`builtin:NAME`), a CSV/TSV/JSONL/JSON/Parquet file, a folder of such files,
a folder with one sub-folder of .txt files per class, or a Hugging Face Hub data set (`hub:NAME`).
Every failure is a `UserError` that names the file and what to do.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd

from domaintune import assets
from domaintune.config import DataConfig
from domaintune.errors import UserError, first_line

HUB_PREFIX = "hub:"
TABLE_SUFFIXES = {".csv", ".tsv", ".jsonl", ".json", ".parquet"}
FALLBACK_ENCODINGS = ("cp1252", "latin-1")
"""Tried, in order, for a line that is not UTF-8; latin-1 decodes any bytes, so it never fails."""


def read_source(data: DataConfig) -> pd.DataFrame:
    """The source as a table with at least the configured text and label columns."""
    source = data.source
    if assets.is_builtin(source):
        frame = assets.load_dataset(source)
    elif source.startswith(HUB_PREFIX):
        frame = read_hub(source.removeprefix(HUB_PREFIX), split=data.hub_split)
    else:
        path = Path(source).expanduser()
        if path.is_dir():
            frame = read_folder(path)
        elif path.is_file():
            frame = read_table(path)
        else:
            raise UserError(
                f"data source '{source}' not found: give an existing file or folder, "
                f"builtin:NAME ({', '.join(assets.DATASETS)}) or hub:OWNER/NAME"
            )
    if frame.empty:
        raise UserError(f"{source} has no rows: give a file with a header and at least two classes")
    missing = [c for c in (*data.fields, data.label_column) if c not in frame.columns]
    if missing:
        if missing[0] == data.label_column and missing[0] not in data.fields:
            fix = "set data.label_column, or --label-column"
        elif data.text_columns:
            fix = "set data.text_columns, or --text-column once per field"
        else:
            fix = "set data.text_column, or --text-column"
        raise UserError(
            f"{source} has no column '{missing[0]}' (its columns: {', '.join(map(str, frame.columns))})"
            f": {fix}"
        )
    return frame


def read_table(path: Path) -> pd.DataFrame:
    """One file, chosen by its suffix."""
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise UserError(
            f"{path}: unsupported file type '{suffix}': use {', '.join(sorted(TABLE_SUFFIXES))}"
        )
    if path.stat().st_size == 0:
        raise UserError(f"{path} is empty: give a file with a header and at least two classes")
    try:
        if suffix == ".parquet":
            return pd.read_parquet(path)
        text, fallback = decode_lines(path.read_bytes())
        if suffix in {".csv", ".tsv"}:
            frame = _read_delimited(text, sep="\t" if suffix == ".tsv" else ",")
        else:
            frame = _read_json(text, lines=suffix == ".jsonl")
        frame.attrs["lines_not_utf8"] = fallback
        return frame
    except UserError as error:
        raise UserError(f"{path}: {error}") from None
    except Exception as error:  # pandas and pyarrow raise many types for a malformed file
        kind = suffix.lstrip(".").upper()
        raise UserError(
            f"{path} is not a valid {kind} file ({first_line(error)}): check its format"
        ) from None


def decode_lines(raw: bytes) -> tuple[str, int]:
    """Text of a file whose lines may mix encodings (files pasted together from several systems):
    each line is read as UTF-8 when it is, else as cp1252. Returns the text and how many lines
    needed the fallback."""
    try:
        return raw.decode("utf-8"), 0
    except UnicodeDecodeError:
        pass
    lines, fallback = [], 0
    for line in raw.splitlines(keepends=True):
        try:
            lines.append(line.decode("utf-8"))
            continue
        except UnicodeDecodeError:
            fallback += 1
        for encoding in FALLBACK_ENCODINGS:
            try:
                lines.append(line.decode(encoding))
                break
            except UnicodeDecodeError:
                continue
    return "".join(lines), fallback


def _read_delimited(text: str, *, sep: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False)


def _read_json(text: str, *, lines: bool) -> pd.DataFrame:
    if lines:
        records = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise UserError(f"line {number} is not valid JSON ({error.msg})") from None
            if not isinstance(record, dict):
                raise UserError(f"line {number} is not a JSON object: write one object per line")
            records.append(record)
        return pd.DataFrame.from_records(records)
    value = json.loads(text)
    if isinstance(value, dict):  # {"data": [...]} or column-oriented
        lists = [v for v in value.values() if isinstance(v, list)]
        value = (
            lists[0] if len(lists) == 1 and all(isinstance(r, dict) for r in lists[0]) else value
        )
    return pd.DataFrame(value)


def read_folder(path: Path) -> pd.DataFrame:
    """Table files in the folder, concatenated; or, without any, one sub-folder of .txt per class."""
    tables = sorted(p for p in path.iterdir() if p.suffix.lower() in TABLE_SUFFIXES)
    if tables:
        frames = [read_table(p) for p in tables]
        frame = pd.concat(frames, ignore_index=True)
        frame.attrs["lines_not_utf8"] = sum(f.attrs.get("lines_not_utf8", 0) for f in frames)
        return frame
    rows = [
        {"text": file.read_text(encoding="utf-8", errors="replace"), "label": folder.name}
        for folder in sorted(p for p in path.iterdir() if p.is_dir())
        for file in sorted(folder.glob("*.txt"))
    ]
    if not rows:
        raise UserError(
            f"{path} holds no data: put CSV/TSV/JSONL/Parquet files in it, "
            "or one sub-folder of .txt files per class"
        )
    return pd.DataFrame(rows)


def read_hub(name: str, *, split: str) -> pd.DataFrame:
    """A Hugging Face Hub data set through `datasets.load_dataset`; needs the Hub."""
    import datasets

    from domaintune.hub import hub_reachable

    try:
        if not hub_reachable():
            raise ConnectionError("the Hub cannot be reached from this machine")
        dataset = datasets.load_dataset(name, split=split)
    except Exception as error:  # offline, unknown name, or unknown split: all surface alike
        raise UserError(
            f"Hub data set '{name}' (split '{split}') could not be loaded ({first_line(error)}): "
            "check the name and your connection, or download it and give a local file"
        ) from None
    return dataset.to_pandas()
