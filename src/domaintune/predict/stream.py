"""Tables read and written a chunk at a time, so that `predict --file` labels a file of any size at
constant memory.

Reading uses the libraries' streaming readers: pyarrow's Parquet reader (`iter_batches`: a batch at
a time, the row count from the file's metadata without reading it) and its CSV reader (`open_csv`:
a block at a time), and for JSON Lines `json.loads` on one line at a time. A file is read as
`data.sources.read_table` reads it whole: every CSV/TSV cell as text (an empty cell is an empty
text, `NA` the text NA, a quoted cell may span lines), each line decoded as UTF-8, or as cp1252 when
it is not (files pasted together from several systems), and a JSONL record per non-blank line. A
`.json` file is one JSON document, which cannot be read in parts: it is read whole (give JSONL for
big files).

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

from domaintune.data.sources import TABLE_SUFFIXES, decode_lines, read_table
from domaintune.errors import UserError, first_line

BLOCK_BYTES = 1 << 20
"""Bytes read (and decoded) at a time; CSV blocks are parsed at this size too."""

OUTPUT_FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".parquet": "parquet"}
"""The formats predictions are written in, by the suffix that names each."""


class UTF8Stream(io.RawIOBase):
    """A binary file's bytes, as UTF-8: each block of whole lines passes unchanged when it is UTF-8;
    otherwise each of its lines is decoded as `read_table` decodes it (UTF-8, else cp1252) and
    written back as UTF-8. Counts the lines that needed the fallback."""

    def __init__(self, raw: BinaryIO, *, block_bytes: int = BLOCK_BYTES) -> None:
        self.raw = raw
        self.block_bytes = block_bytes
        self.carry = b""
        self.pending = memoryview(b"")
        self.ended = False
        self.lines_not_utf8 = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while not self.pending and not self.ended:
            self.pending = memoryview(self._next_block())
        size = min(len(buffer), len(self.pending))
        buffer[:size] = self.pending[:size]
        self.pending = self.pending[size:]
        return size

    def _next_block(self) -> bytes:
        block = self.raw.read(self.block_bytes)
        if not block:
            self.ended = True
            data, self.carry = self.carry, b""
        else:
            data = self.carry + block
            cut = data.rfind(b"\n") + 1  # a line cut by the block boundary waits for its end
            data, self.carry = data[:cut], data[cut:]
        try:
            data.decode("utf-8")
            return data
        except UnicodeDecodeError:
            text, fallback = decode_lines(data)
            self.lines_not_utf8 += fallback
            return text.encode("utf-8")


@contextmanager
def utf8_file(path: Path) -> Iterator[io.BufferedReader]:
    with path.open("rb") as raw:
        yield io.BufferedReader(UTF8Stream(raw), buffer_size=BLOCK_BYTES)


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

    def chunks(self, *, rows: int, columns: list[str]) -> Iterator[pd.DataFrame]:
        with reading(self.path), pq.ParquetFile(self.path) as file:
            for batch in file.iter_batches(batch_size=rows, columns=columns):
                yield batch.to_pandas(ignore_metadata=True)


class CsvTable:
    """A CSV or TSV file; every cell read as text, as `read_table` reads it."""

    def __init__(self, path: Path, *, delimiter: str) -> None:
        self.path = path
        self.parse = pa_csv.ParseOptions(delimiter=delimiter, newlines_in_values=True)
        self.rows: int | None = None
        with reading(path), utf8_file(path) as stream:
            self.columns: list[str] = pa_csv.open_csv(stream, parse_options=self.parse).schema.names

    def chunks(self, *, rows: int, columns: list[str]) -> Iterator[pd.DataFrame]:
        convert = pa_csv.ConvertOptions(
            column_types={name: pa.string() for name in self.columns},
            include_columns=columns,
            strings_can_be_null=False,
        )
        read = pa_csv.ReadOptions(block_size=BLOCK_BYTES)
        with reading(self.path), utf8_file(self.path) as stream:
            reader = pa_csv.open_csv(
                stream, read_options=read, parse_options=self.parse, convert_options=convert
            )
            for table in rechunk(reader, rows=rows):
                yield table.to_pandas()


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

    def records(self) -> Iterator[dict]:
        with reading(self.path), utf8_file(self.path) as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8-sig")
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
    def columns(self) -> list[str]:
        """Every key of any record, in the order they first appear (one pass over the file)."""
        keys: dict[str, None] = {}
        for record in self.records():
            keys.update(dict.fromkeys(record))
        return list(keys)

    def chunks(self, *, rows: int, columns: list[str]) -> Iterator[pd.DataFrame]:
        records = self.records()
        while group := list(islice(records, rows)):
            yield pd.DataFrame.from_records(group, columns=columns)


class WholeTable:
    """A file that cannot be read in parts (a `.json` document): read whole, given in chunks."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.frame = read_table(path)
        self.columns = [str(c) for c in self.frame.columns]
        self.rows: int | None = len(self.frame)

    def chunks(self, *, rows: int, columns: list[str]) -> Iterator[pd.DataFrame]:
        for start in range(0, len(self.frame), rows):
            yield self.frame.iloc[start : start + rows][columns].reset_index(drop=True)


def open_table(path: Path) -> TableFile:
    """A CSV/TSV/JSONL/JSON/Parquet file, to read in chunks; refused (a `UserError`) when it is
    missing, empty, of another type or malformed, or has two columns of one name."""
    suffix = path.suffix.lower()
    if not path.is_file():
        raise UserError(f"{path} not found: give an existing file, or '-' for standard input")
    if suffix not in TABLE_SUFFIXES:
        raise UserError(
            f"{path}: unsupported file type '{suffix}': use {', '.join(sorted(TABLE_SUFFIXES))}"
        )
    if path.stat().st_size == 0:
        raise UserError(f"{path} is empty: give a file with a header and a column of texts")
    table: TableFile
    if suffix == ".parquet":
        table = ParquetTable(path)
    elif suffix in {".csv", ".tsv"}:
        table = CsvTable(path, delimiter="\t" if suffix == ".tsv" else ",")
    elif suffix == ".jsonl":
        table = JsonlTable(path)
    else:
        table = WholeTable(path)
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
