"""Tables read and written a chunk at a time, so that `predict --file` labels a file of any size at
constant memory.

Reading uses the libraries' streaming readers: pyarrow's Parquet reader (`iter_batches`: a batch at
a time, the row count from the file's metadata without reading it) and its CSV reader (`open_csv`:
a block at a time), openpyxl's read-only mode for an Excel sheet (a row at a time), and for JSON
Lines `json.loads` on one line at a time. A file is read as `data.sources.read_table` reads it
whole, with the same detection (`data.sniff`, `data.excel`, `data.nested`): the encoding (a
byte-order mark, UTF-8 with cp1252 lines, or the detector's choice) and the delimiter (comma,
semicolon, tab or pipe) told from the first 64 KiB, every CSV cell as text (an empty cell is an
empty text, `NA` the text NA, a quoted cell may span lines), every sheet cell as the text it shows,
a JSONL record per non-blank line, and a dotted column name (`meta.body`) reaching into nested
objects. A `.json` file is one JSON document, which cannot be read in parts: it is read whole
(give JSONL for big files).

Writing appends each chunk to one CSV, TSV, JSON Lines or Parquet file, so the output never has to
fit in memory either.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import cached_property
from itertools import islice
from pathlib import Path
from typing import BinaryIO, Protocol, TextIO

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from domaintune.data.excel import EXCEL_SUFFIXES, sheet_rows
from domaintune.data.nested import MISSING, frame_paths, lookup, nested_paths, with_fields
from domaintune.data.sniff import (
    SAMPLE_BYTES,
    Decoder,
    check_header,
    resolve_delimiter,
    sniff_encoding,
)
from domaintune.data.sources import check_suffix, read_table
from domaintune.errors import UserError, first_line

BLOCK_BYTES = 1 << 20
"""Bytes read (and decoded) at a time; CSV blocks are parsed at this size too."""

OUTPUT_FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".parquet": "parquet"}
"""The formats predictions are written in, by the suffix that names each."""


class UTF8Stream(io.RawIOBase):
    """A binary file's bytes, as UTF-8: decoded a block at a time by `data.sniff.Decoder` (as
    `read_table` decodes the whole file) and written back as UTF-8. Counts the lines of a UTF-8
    file that needed the cp1252 fallback."""

    def __init__(
        self,
        raw: BinaryIO,
        *,
        encoding: str = "utf-8",
        source: str = "the file",
        block_bytes: int = BLOCK_BYTES,
    ) -> None:
        self.raw = raw
        self.block_bytes = block_bytes
        self.decoder = Decoder(encoding, source=source)
        self.pending = memoryview(b"")
        self.ended = False

    @property
    def lines_not_utf8(self) -> int:
        return self.decoder.lines_not_utf8

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while not self.pending and not self.ended:
            block = self.raw.read(self.block_bytes)
            self.ended = not block
            self.pending = memoryview(self.decoder.decode(block, final=self.ended).encode("utf-8"))
        size = min(len(buffer), len(self.pending))
        buffer[:size] = self.pending[:size]
        self.pending = self.pending[size:]
        return size


def file_encoding(path: Path) -> str:
    """The encoding `read_table` reads the file with, from its first bytes."""
    with path.open("rb") as raw:
        return sniff_encoding(raw.read(SAMPLE_BYTES), source=str(path))


@contextmanager
def utf8_file(path: Path, encoding: str) -> Iterator[io.BufferedReader]:
    with path.open("rb") as raw:
        stream = UTF8Stream(raw, encoding=encoding, source=str(path), block_bytes=BLOCK_BYTES)
        yield io.BufferedReader(stream, buffer_size=BLOCK_BYTES)


class TableFile(Protocol):
    """A table file read in chunks."""

    path: Path

    @property
    def columns(self) -> list[str]:
        """The file's columns, in its order."""
        ...

    @property
    def rows(self) -> int | None:
        """How many rows, when known without reading the file (Parquet); else None."""
        ...

    @property
    def nested(self) -> list[str]:
        """Dotted paths into the file's nested objects (JSON, Parquet structs), which `chunks`
        gives as columns too."""
        ...

    def chunks(self, *, rows: int, columns: list[str]) -> Iterator[pd.DataFrame]:
        """The file's `columns`, at most `rows` rows at a time, in the file's order."""
        ...


@contextmanager
def reading(path: Path) -> Iterator[None]:
    """A library's error while reading becomes a `UserError` naming the file."""
    try:
        yield
    except UserError:
        raise
    except (pa.ArrowException, ValueError, OSError, UnicodeDecodeError) as error:
        kind = path.suffix.lstrip(".").upper()
        raise UserError(
            f"{path} is not a valid {kind} file ({first_line(error)}): check its format"
        ) from None


class ParquetTable:
    def __init__(self, path: Path) -> None:
        self.path = path
        with reading(path), pq.ParquetFile(path) as file:
            # a named index pandas stored (`set_index("id")`) is a column like the others
            names = file.schema_arrow.names
            self.columns = [name for name in names if not name.startswith("__index_level_")]
            self.rows: int | None = file.metadata.num_rows
            self.nested = [
                path
                for field in file.schema_arrow
                if pa.types.is_struct(field.type)
                for path in struct_paths(field)
            ]

    def chunks(self, *, rows: int, columns: list[str]) -> Iterator[pd.DataFrame]:
        read = roots(self.columns, columns)
        with reading(self.path), pq.ParquetFile(self.path) as file:
            for batch in file.iter_batches(batch_size=rows, columns=read):
                yield with_fields(batch.to_pandas(ignore_metadata=True), columns)[columns]


def struct_paths(field: pa.Field, prefix: str = "") -> Iterator[str]:
    """The dotted paths into a Parquet struct column."""
    for inner in field.type:
        path = f"{prefix}{field.name}.{inner.name}"
        yield path
        if pa.types.is_struct(inner.type):
            yield from struct_paths(inner, prefix=f"{prefix}{field.name}.")


def roots(columns: list[str], names: list[str]) -> list[str]:
    """The file's columns that hold `names`: each itself, or the column a dotted path starts in."""
    found: dict[str, None] = {}
    for name in names:
        if name in columns:
            found[name] = None
        else:
            found.update(dict.fromkeys(c for c in columns if name.startswith(f"{c}.")))
    return list(found)


class CsvTable:
    """A CSV, TSV or TXT file; its encoding and delimiter told as `read_table` tells them, every
    cell read as text."""

    def __init__(self, path: Path, *, delimiter: str = "auto") -> None:
        self.path = path
        self.rows: int | None = None
        self.nested: list[str] = []
        self.encoding = file_encoding(path)
        with reading(path), utf8_file(path, self.encoding) as stream:
            head = stream.read(SAMPLE_BYTES).decode("utf-8", errors="ignore")
        suffix = path.suffix.lower()
        self.delimiter = resolve_delimiter(delimiter, suffix=suffix, head=head)
        self.parse = pa_csv.ParseOptions(delimiter=self.delimiter, newlines_in_values=True)
        with reading(path), utf8_file(path, self.encoding) as stream:
            self.columns: list[str] = pa_csv.open_csv(stream, parse_options=self.parse).schema.names
        check_header(self.columns, source=str(path), encoding=self.encoding)

    def chunks(self, *, rows: int, columns: list[str]) -> Iterator[pd.DataFrame]:
        convert = pa_csv.ConvertOptions(
            column_types={name: pa.string() for name in self.columns},
            include_columns=columns,
            strings_can_be_null=False,
        )
        read = pa_csv.ReadOptions(block_size=BLOCK_BYTES)
        with reading(self.path), utf8_file(self.path, self.encoding) as stream:
            reader = pa_csv.open_csv(
                stream, read_options=read, parse_options=self.parse, convert_options=convert
            )
            for table in rechunk(reader, rows=rows):
                yield table.to_pandas()


class ExcelTable:
    """A sheet of an Excel workbook, read a row at a time (`data.excel.sheet_rows`)."""

    rows: int | None = None

    def __init__(self, path: Path, *, sheet: str | None) -> None:
        self.path = path
        self.sheet = sheet
        self.nested: list[str] = []
        rows = sheet_rows(path, sheet)
        self.columns: list[str] = next(rows)
        rows.close()

    def chunks(self, *, rows: int, columns: list[str]) -> Iterator[pd.DataFrame]:
        cells = sheet_rows(self.path, self.sheet)
        header = next(cells)
        while group := list(islice(cells, rows)):
            yield pd.DataFrame(group, columns=header)[columns]


def rechunk(batches: Iterable[pa.RecordBatch], *, rows: int) -> Iterator[pa.Table]:
    """Record batches of any sizes as tables of `rows` rows (the last one fewer), without copying."""
    pending: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        pending.append(batch)
        count += batch.num_rows
        while count >= rows:
            table = pa.Table.from_batches(pending)
            yield table.slice(0, rows)
            rest = table.slice(rows)
            pending, count = rest.to_batches(), rest.num_rows
    if count:
        yield pa.Table.from_batches(pending)


class JsonlTable:
    """A JSON Lines file: one object per non-blank line; a row per object."""

    rows: int | None = None

    def __init__(self, path: Path) -> None:
        self.path = path
        self.encoding = file_encoding(path)

    def records(self) -> Iterator[dict]:
        with reading(self.path), utf8_file(self.path, self.encoding) as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8")
            for number, line in enumerate(text, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as error:
                    raise UserError(
                        f"{self.path}: line {number} is not valid JSON ({error.msg})"
                    ) from None
                if not isinstance(record, dict):
                    raise UserError(
                        f"{self.path}: line {number} is not a JSON object: write one object per line"
                    )
                yield record

    @cached_property
    def keys(self) -> tuple[list[str], list[str]]:
        """Every key of any record, and every dotted path into their nested objects, in the order
        they first appear (one pass over the file)."""
        keys: dict[str, None] = {}
        paths: dict[str, None] = {}
        for record in self.records():
            keys.update(dict.fromkeys(record))
            paths.update(dict.fromkeys(nested_paths([record])))
        return list(keys), [path for path in paths if path not in keys]

    @property
    def columns(self) -> list[str]:
        return self.keys[0]

    @property
    def nested(self) -> list[str]:
        return self.keys[1]

    def chunks(self, *, rows: int, columns: list[str]) -> Iterator[pd.DataFrame]:
        records = self.records()
        while group := list(islice(records, rows)):
            yield pd.DataFrame(
                {name: [self.field(record, name) for record in group] for name in columns},
                columns=columns,
            )

    def field(self, record: dict, name: str) -> object:
        """A record's value of a key, or (when no record has that key: a key holding the dot
        wins, as in `read_table`'s table) of a dotted path; None where it has none."""
        if name in self.columns:
            return record.get(name)
        value = lookup(record, name)
        return None if value is MISSING else value


class WholeTable:
    """A file that cannot be read in parts (a `.json` document): read whole, given in chunks."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.frame = read_table(path)
        self.columns = [str(c) for c in self.frame.columns]
        self.nested = frame_paths(self.frame)
        self.rows: int | None = len(self.frame)

    def chunks(self, *, rows: int, columns: list[str]) -> Iterator[pd.DataFrame]:
        for start in range(0, len(self.frame), rows):
            part = self.frame.iloc[start : start + rows].reset_index(drop=True)
            yield with_fields(part, columns)[columns]


def open_table(path: Path, *, sheet: str | None = None, delimiter: str = "auto") -> TableFile:
    """A CSV/TSV/TXT/JSONL/JSON/Parquet file or an Excel sheet (`sheet`, None: the first), to read
    in chunks; refused (a `UserError`) when it is missing, empty, of another type or malformed, or
    has two columns of one name. `delimiter`: as `data.delimiter`."""
    if not path.is_file():
        raise UserError(f"{path} not found: give an existing file, or '-' for standard input")
    suffix = check_suffix(path)
    if path.stat().st_size == 0:
        raise UserError(f"{path} is empty: give a file with a header and a column of texts")
    table: TableFile
    if suffix == ".parquet":
        table = ParquetTable(path)
    elif suffix in EXCEL_SUFFIXES:
        table = ExcelTable(path, sheet=sheet)
    elif suffix == ".jsonl":
        table = JsonlTable(path)
    elif suffix == ".json":
        table = WholeTable(path)
    else:
        table = CsvTable(path, delimiter=delimiter)
    twice = sorted({c for c in table.columns if table.columns.count(c) > 1})
    if twice:
        raise UserError(f"{path} has the column '{twice[0]}' twice: give each column its own name")
    return table


def output_format(output: Path | None, given: str | None) -> str:
    """The format to write: `--format`, else the output file's suffix, else JSON Lines."""
    suffix = OUTPUT_FORMATS.get(output.suffix.lower()) if output is not None else None
    if given is None:
        return suffix or "jsonl"
    given = given.lower()
    if given not in OUTPUT_FORMATS.values():
        raise UserError(f"--format {given}: choose {', '.join(OUTPUT_FORMATS.values())}")
    if suffix is not None and suffix != given:
        raise UserError(
            f"--format {given} but --output {output} names a {suffix} file: "
            "give one, or make them agree"
        )
    return given


class TableWriter:
    """Writes chunks of one table, one after another, to one CSV, TSV, JSON Lines or Parquet file
    (or a text stream: standard output)."""

    def __init__(self, target: Path | TextIO, *, file_format: str) -> None:
        self.format = file_format
        self.parquet: pq.ParquetWriter | None = None
        self.schema: pa.Schema | None = None
        self.target = target
        self.handle: TextIO | None = None
        if file_format == "parquet" and not isinstance(target, Path):
            raise UserError("--format parquet writes a binary file: give --output FILE.parquet")
        if isinstance(target, Path) and file_format != "parquet":
            self.handle = target.open("w", encoding="utf-8", newline="")
        elif not isinstance(target, Path):
            self.handle = target
        self.rows = 0

    def write(self, frame: pd.DataFrame) -> None:
        if self.format == "parquet":
            self._write_parquet(frame)
        elif self.format in {"csv", "tsv"}:
            assert self.handle is not None
            frame.to_csv(
                self.handle,
                index=False,
                header=self.rows == 0,
                sep="\t" if self.format == "tsv" else ",",
            )
        else:
            assert self.handle is not None
            lines = frame.to_json(
                orient="records", lines=True, force_ascii=False, date_format="iso"
            )
            self.handle.write(lines if lines.endswith("\n") else lines + "\n")
        if self.handle is not None:
            self.handle.flush()
        self.rows += len(frame)

    def _write_parquet(self, frame: pd.DataFrame) -> None:
        assert isinstance(self.target, Path)
        if self.parquet is None:
            table = pa.Table.from_pandas(frame, preserve_index=False)
            # a column with no value in the first chunk is taken to hold text
            fields = [
                field.with_type(pa.string()) if pa.types.is_null(field.type) else field
                for field in table.schema
            ]
            self.schema = pa.schema(fields)
            self.parquet = pq.ParquetWriter(self.target, self.schema)
        try:
            table = pa.Table.from_pandas(frame, schema=self.schema, preserve_index=False)
        except (pa.ArrowException, ValueError, TypeError) as error:
            raise UserError(
                f"rows {self.rows + 1}-{self.rows + len(frame)} cannot be written to Parquet with "
                f"the column types of the rows before ({first_line(error)}): give --format jsonl "
                "or csv"
            ) from None
        self.parquet.write_table(table)

    def close(self) -> None:
        if self.parquet is not None:
            self.parquet.close()
        if self.handle is not None and isinstance(self.target, Path):
            self.handle.close()
