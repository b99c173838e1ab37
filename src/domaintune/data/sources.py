"""Read the user's data, whatever its form, into one table of text and raw label.

Sources: a built-in (`builtin:NAME`), a CSV/TSV/TXT/JSONL/JSON/Parquet file or an Excel workbook,
a folder of such files, a folder with one sub-folder of .txt files per class, or a Hugging Face Hub
data set (`hub:NAME`). A delimited file's encoding and delimiter are told from its first bytes
(`sniff.py`); a workbook's sheet is read as text cells (`excel.py`); a dotted text or label column
(`meta.body`) reaches into nested JSON objects (`nested.py`). Every failure is a `UserError` that
names the file and what to do.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd

from domaintune import assets
from domaintune.config import DataConfig
from domaintune.data.excel import EXCEL_SUFFIXES, sheet_rows
from domaintune.data.nested import frame_paths, with_fields
from domaintune.data.sniff import (
    SAMPLE_BYTES,
    check_header,
    decode,
    head_of,
    resolve_delimiter,
    sniff_encoding,
)
from domaintune.errors import UserError, first_line

HUB_PREFIX = "hub:"
DELIMITED_SUFFIXES = {".csv", ".tsv", ".txt"}
"""Read as delimited text; .txt is what Excel's "Unicode text" writes (UTF-16, tabs)."""
TABLE_SUFFIXES = {*DELIMITED_SUFFIXES, ".jsonl", ".json", ".parquet", *EXCEL_SUFFIXES}
FOLDER_SUFFIXES = TABLE_SUFFIXES - {".txt"}
"""The table files a folder source is made of: a stray notes.txt beside them is no table."""


def read_source(data: DataConfig) -> pd.DataFrame:
    """The source as a table with at least the configured text and label columns (and the split
    or time column, when one is configured)."""
    return read_checked(data.source, data)


def read_split_files(data: DataConfig) -> dict[str, pd.DataFrame]:
    """Data the user split into files (data.train, data.validation, data.test), each read and
    checked as a source is, by split name."""
    return {name: read_checked(path, data) for name, path in data.split_files().items()}


def read_checked(source: str, data: DataConfig) -> pd.DataFrame:
    """One source, refused with what to set when it lacks a configured column."""
    frame = read_any(source, data)
    if frame.empty:
        raise UserError(f"{source} has no rows: give a file with a header and at least two classes")
    columns = [
        *((column, "text") for column in data.fields),
        (data.target_column, "target") if data.target_column else (data.label_column, "label"),
        (data.split_column, "split"),
        (data.time_column, "time"),
    ]
    frame = with_fields(frame, [column for column, _ in columns if column is not None])
    for column, which in columns:
        if column is not None and column not in frame.columns:
            names = [*map(str, frame.columns), *frame_paths(frame)]
            raise UserError(
                f"{source} has no column '{column}' (its columns: {', '.join(names)}): "
                f"{what_to_set(data, which)}"
            )
    return frame


def read_unlabelled(source: str, data: DataConfig) -> pd.DataFrame:
    """data.unlabelled (`source`) as a table with the text column, read as any source is; a label
    column in it, if any, is never read. Missing, empty or without the text column: a
    `UserError`."""
    column = data.fields[0]
    local = not (assets.is_builtin(source) or source.startswith(HUB_PREFIX))
    if local and not Path(source).expanduser().exists():
        raise UserError(
            f"data.unlabelled: {source} not found: give an existing file or folder of texts "
            "without labels (--unlabelled), or remove data.unlabelled"
        )
    frame = with_fields(read_any(source, data), [column])
    if column not in frame.columns:
        names = [*map(str, frame.columns), *frame_paths(frame)]
        raise UserError(
            f"data.unlabelled: {source} has no column '{column}' (its columns: "
            f"{', '.join(names)}): put its texts in a column named '{column}', as in "
            f"{data.source}"
        )
    if frame.empty:
        raise UserError(
            f"data.unlabelled: {source} has no rows: give a file with a header and texts in "
            f"column '{column}', or remove data.unlabelled"
        )
    return frame


def what_to_set(data: DataConfig, which: str) -> str:
    """The setting and flag that name a missing column."""
    if which == "text" and data.text_columns:
        return "set data.text_columns, or --text-column once per field"
    return f"set data.{which}_column, or --{which}-column"


def read_any(source: str, data: DataConfig) -> pd.DataFrame:
    """A built-in, a Hub data set, a file or a folder, by what `source` names."""
    if assets.is_builtin(source):
        return assets.load_dataset(source)
    if source.startswith(HUB_PREFIX):
        return read_hub(source.removeprefix(HUB_PREFIX), split=data.hub_split)
    path = Path(source).expanduser()
    if path.is_dir():
        return read_folder(path, sheet=data.sheet, delimiter=data.delimiter)
    if path.is_file():
        return read_table(path, sheet=data.sheet, delimiter=data.delimiter)
    raise UserError(
        f"data source '{source}' not found: give an existing file or folder, "
        f"builtin:NAME ({', '.join(assets.DATASETS)}) or hub:OWNER/NAME"
    )


def check_suffix(path: Path) -> str:
    """The file's suffix, when domaintune reads files of that type."""
    suffix = path.suffix.lower()
    if suffix == ".xls":
        raise UserError(
            f"{path}: the old Excel format (.xls) is not read: save it as .xlsx (Excel Workbook) "
            "or CSV UTF-8"
        )
    if suffix not in TABLE_SUFFIXES:
        raise UserError(
            f"{path}: unsupported file type '{suffix}': use {', '.join(sorted(TABLE_SUFFIXES))}"
        )
    return suffix


def read_table(path: Path, *, sheet: str | None = None, delimiter: str = "auto") -> pd.DataFrame:
    """One file, chosen by its suffix: `sheet` for a workbook (None: the first), `delimiter` for
    delimited text (`auto`: sniffed)."""
    suffix = check_suffix(path)
    if path.stat().st_size == 0:
        raise UserError(f"{path} is empty: give a file with a header and at least two classes")
    try:
        if suffix == ".parquet":
            return pd.read_parquet(path)
        if suffix in EXCEL_SUFFIXES:
            rows = sheet_rows(path, sheet)
            header = next(rows)
            return pd.DataFrame(list(rows), columns=header)
        raw = path.read_bytes()
        encoding = sniff_encoding(raw[:SAMPLE_BYTES], source=str(path))
        text, fallback = decode(raw, encoding, source=str(path))
        if suffix in DELIMITED_SUFFIXES:
            sep = resolve_delimiter(delimiter, suffix=suffix, head=head_of(text))
            frame = _read_delimited(text, sep=sep)
            check_header(list(frame.columns), source=str(path), encoding=encoding)
        else:
            try:
                frame = _read_json(text, lines=suffix == ".jsonl")
            except UserError as error:
                raise UserError(f"{path}: {error}") from None
        frame.attrs["lines_not_utf8"] = fallback
        frame.attrs["encoding"] = encoding
        return frame
    except UserError:
        raise
    except Exception as error:  # pandas and pyarrow raise many types for a malformed file
        kind = suffix.lstrip(".").upper()
        raise UserError(
            f"{path} is not a valid {kind} file ({first_line(error)}): check its format"
        ) from None


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


def read_folder(path: Path, *, sheet: str | None = None, delimiter: str = "auto") -> pd.DataFrame:
    """Table files in the folder, concatenated; or, without any, one sub-folder of .txt per class."""
    tables = sorted(p for p in path.iterdir() if p.suffix.lower() in FOLDER_SUFFIXES)
    if tables:
        frames = [read_table(p, sheet=sheet, delimiter=delimiter) for p in tables]
        frame = pd.concat(frames, ignore_index=True)
        frame.attrs["lines_not_utf8"] = sum(f.attrs.get("lines_not_utf8", 0) for f in frames)
        encodings = {f.attrs["encoding"] for f in frames if "encoding" in f.attrs}
        if encodings:
            frame.attrs["encoding"] = ", ".join(sorted(encodings))
        return frame
    rows = [
        {"text": file.read_text(encoding="utf-8", errors="replace"), "label": folder.name}
        for folder in sorted(p for p in path.iterdir() if p.is_dir())
        for file in sorted(folder.glob("*.txt"))
    ]
    if not rows:
        raise UserError(
            f"{path} holds no data: put CSV/TSV/JSONL/Parquet/Excel files in it, "
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
