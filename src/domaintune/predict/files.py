"""`domaintune predict`: texts from options, a table file or standard input; labels out.

A file is read, labelled and written a chunk at a time (`--chunk-size` rows; see `stream.py`), so
memory stays the same whatever the file's size. Before the model is loaded, the file is read once
to check every text: a row without a text is reported (its number counted over the whole file)
before anything is labelled or written, not hours into a long file. The output is written to a
temporary file beside `--output` and renamed over it at the end, so an error or an interruption
never leaves a half-written file.

Each output row is the input's row with its predictions: `text` (the text as given, whatever its
column is called), the input's other columns (all of them by default; `--keep-columns` picks), then
`label`, `confidence`, `decision` and `p_<label>` (see `Predictor.decide`). A kept column named like
one of those is written as `input_<name>`, with a note saying so. `label_chunk` makes these rows
for every engine, here and on Ray (`distributed.py`). A multi_label model writes `labels` (a list
in JSONL and Parquet; in CSV and TSV joined by the training data's label separator) and
`p_<label>` instead.

A model trained on several text fields (`data.text_columns`; its folder holds `fields.json`) reads
each field from the file's column of that name, and writes the fields under their names where a
single text is written as `text`. `--text` values and standard-input lines are then JSON objects
of the fields (`{"subject": "...", "body": "..."}`): a plain text cannot say which field it is.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import chain, islice
from pathlib import Path
from typing import TextIO

import numpy as np
import pandas as pd
from pydantic import ValidationError
from tqdm import tqdm

from domaintune.config import DataConfig
from domaintune.data.clean import to_text
from domaintune.data.fields import TextFields, load_fields
from domaintune.data.nested import with_fields
from domaintune.errors import UserError
from domaintune.multilabel import is_multi_label, load_separator
from domaintune.predict.choose import BACKENDS
from domaintune.predict.generate import Writer, is_generative
from domaintune.predict.predictor import Predictor, model_folder
from domaintune.predict.stream import (
    TableFile,
    TableWriter,
    open_table,
    output_format,
)
from domaintune.regression import is_regression
from domaintune.rundir import atomic_path, read_json

TEXT = "text"
"""The output column holding each text, as given."""
DECISION_COLUMNS = ("label", "confidence", "decision")
SET_COLUMNS = ("labels",)
"""A multi_label model's decision column: the list of labels given to a text."""
VALUE_COLUMNS = ("value",)
"""A regression model's one output column: the value predicted for a text."""
JOINED_FORMATS = {"csv", "tsv"}
"""Formats without lists: a multi_label text's labels are joined by the data's separator."""
RENAMED = "input_"
"""The prefix of a kept input column whose name an output column has."""
CHUNK_ROWS = 10_000
"""Rows read, labelled and written at a time, unless --chunk-size says otherwise."""
ENGINES = ("local", "ray")


def describe_value(value: object) -> str:
    """A cell that is not a text, in a user's words."""
    if isinstance(value, list | np.ndarray):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    return "null"


def not_a_text(source: str, *, column: str, row: int | None, value: object, more: int) -> UserError:
    """The error for a cell with no text to label: where it is (row counted from 1, as the data
    rows of the file) and what it holds."""
    where = f"row {row}" if row is not None else "a row"
    others = f" (and {more} more rows)" if more else ""
    return UserError(
        f"{source}: {where}{others} has {describe_value(value)} in column '{column}', not a "
        "text: give every row a text, or remove the rows without one"
    )


def missing_texts(frame: pd.DataFrame, column: str) -> tuple[pd.Series, np.ndarray]:
    """Every cell of `column` as text (numbers written out), and the positions of those that have
    none (null, a list, an object, a boolean)."""
    texts = frame[column].map(to_text)
    return texts, np.flatnonzero(texts.isna().to_numpy())


def column_texts(
    frame: pd.DataFrame, source: str | Path, *, column: str, start: int | None = 0
) -> list[str]:
    """Every cell of `column` as text; a cell without one is refused, naming its row: `start` is
    how many rows of the file came before this frame (None where that is not known)."""
    texts, missing = missing_texts(frame, column)
    if len(missing):
        first = int(missing[0])
        row = None if start is None else start + first + 1
        raise not_a_text(
            str(source), column=column, row=row, value=frame[column].iloc[first],
            more=len(missing) - 1,
        )  # fmt: skip
    return texts.tolist()


def check_texts(table: TableFile, *, columns: list[str], chunk_rows: int) -> int:
    """Read the text columns of the whole file, in chunks; refuse it (naming the first row
    without a text and counting the others) if any row has none in one of them. Returns the
    number of rows."""
    rows, first, more = 0, None, 0
    with tqdm(
        total=table.rows, desc="checking", unit="rows", leave=False, disable=None, file=sys.stderr
    ) as bar:
        for frame in table.chunks(rows=chunk_rows, columns=columns):
            for column in columns:
                _, missing = missing_texts(frame, column)
                if len(missing) and first is None:
                    row = rows + int(missing[0]) + 1
                    first = (row, column, frame[column].iloc[int(missing[0])])
                    more = len(missing) - 1
                elif len(missing):
                    more += len(missing)
            rows += len(frame)
            bar.update(len(frame))
    if first is not None:
        row, column, value = first
        raise not_a_text(str(table.path), column=column, row=row, value=value, more=more)
    return rows


def text_columns(
    file: str | Path,
    columns: list[str],
    *,
    text_column: str,
    fields: TextFields | None,
    nested: list[str] | tuple[str, ...] = (),
) -> list[str]:
    """The columns the model reads from the file: the text column, or each of its fields, each
    a column or a dotted path into nested objects (`nested`); one missing is refused, naming
    the file, the column and the columns and paths it has."""
    wanted = list(fields.names) if fields is not None else [text_column]
    missing = [column for column in wanted if column not in columns and column not in nested]
    names = ", ".join([*columns, *nested])
    if missing and fields is not None:
        raise UserError(
            f"{file} has no column '{missing[0]}', a field this model reads (its columns: "
            f"{names}): give a file with the columns {', '.join(fields.names)}"
        )
    if missing:
        raise UserError(
            f"{file} has no column '{text_column}' (its columns: {names}): pass --text-column"
        )
    return wanted


def kept_columns(
    columns: list[str], keep: list[str] | None, *, source: str | Path, text_column: str | list[str]
) -> list[str]:
    """The input columns written beside the predictions: `keep` (in the file's order), or all
    of them when it is None; the text column (written as `text`) or the fields (written first,
    under their names) in any case."""
    read = [text_column] if isinstance(text_column, str) else text_column
    others = [c for c in columns if c not in read]
    if keep is None:
        return others
    unknown = [c for c in keep if c not in columns]
    if unknown:
        raise UserError(
            f"--keep-columns: {source} has no column '{unknown[0]}' (its columns: "
            f"{', '.join(columns)})"
        )
    return [c for c in others if c in keep]


def parse_keep_columns(value: str | None) -> list[str] | None:
    """`--keep-columns id,date` as a list; None (keep all) without it; `''` keeps none."""
    if value is None:
        return None
    return [name.strip() for name in value.split(",") if name.strip()]


def output_names(
    kept: list[str],
    labels: list[str],
    *,
    source: str | Path,
    fields: TextFields | None = None,
    decision_columns: tuple[str, ...] = DECISION_COLUMNS,
) -> dict[str, str]:
    """New names for the kept columns (and fields) whose names output columns have (`label` ->
    `input_label`); refused when the new name is taken as well."""
    taken = {*decision_columns, *(f"p_{label}" for label in labels)}
    if fields is None:
        taken.add(TEXT)
    kept = [*(fields.names if fields is not None else ()), *kept]
    renames = {}
    for column in kept:
        if column in taken:
            renamed = f"{RENAMED}{column}"
            if renamed in taken or renamed in kept:
                raise UserError(
                    f"{source}: its column '{column}' has the name of an output column, and "
                    f"'{renamed}' is taken too: rename one, or leave it out with --keep-columns"
                )
            renames[column] = renamed
    return renames


def label_chunk(
    predictor: Predictor,
    frame: pd.DataFrame,
    *,
    source: str | Path,
    text_column: str,
    kept: list[str],
    renames: dict[str, str],
    start: int | None,
    batch_size: int,
) -> pd.DataFrame:
    """The output rows of a chunk of input rows: the text (or the predictor's fields, from their
    columns), the kept columns, the predictions. A dotted column absent from the chunk is read
    from its nested objects (Ray's batches hold a JSON object as one column)."""
    fields = predictor.fields
    if fields is None:
        frame = with_fields(frame, [text_column])
        texts = column_texts(frame, source, column=text_column, start=start)
        decided = predictor.decide(texts, batch_size=batch_size, progress=False)
        front = {TEXT: texts}
    else:
        frame = with_fields(frame, list(fields.names))
        front = {
            name: column_texts(frame, source, column=name, start=start) for name in fields.names
        }
        records = [dict(zip(fields.names, values)) for values in zip(*front.values())]
        decided = predictor.decide(records, batch_size=batch_size, progress=False)
        front = {renames.get(name, name): values for name, values in front.items()}
    table = frame[kept].rename(columns=renames).reset_index(drop=True)
    for position, (name, values) in enumerate(front.items()):
        table.insert(position, name, values)
    return pd.concat([table, decided.reset_index(drop=True)], axis=1)


@dataclass
class Source:
    """Where texts come from: rows in chunks, each holding `text_column` (or every field of
    `fields`) and the `kept` columns."""

    name: str
    text_column: str
    kept: list[str]
    total: int | None
    chunks: Callable[[], Iterator[pd.DataFrame]]


def field_records(lines: list[str], fields: TextFields, *, where: str) -> pd.DataFrame:
    """--text values or input lines, each a JSON object of the fields, as a table of them."""
    rows = []
    for number, line in enumerate(lines, start=1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            record = None
        if not isinstance(record, dict) or not all(name in record for name in fields.names):
            example = json.dumps({name: "..." for name in fields.names})
            raise UserError(
                f"{where} {number} is not a JSON object of the fields this model reads "
                f"({', '.join(fields.names)}): give one such as {example}, or --file with "
                "those columns"
            )
        rows.append({name: record[name] for name in fields.names})
    return pd.DataFrame(rows, columns=list(fields.names))


def stdin_chunks(chunk_rows: int, fields: TextFields | None = None) -> Iterator[pd.DataFrame]:
    """Standard input, one text (or JSON object of fields) per non-blank line, `chunk_rows`
    lines at a time."""
    lines = (line.rstrip("\n") for line in sys.stdin)
    texts = (line for line in lines if line.strip())
    while chunk := list(islice(texts, chunk_rows)):
        if fields is None:
            yield pd.DataFrame({TEXT: chunk})
        else:
            yield field_records(chunk, fields, where="input line")


def open_source(
    texts: list[str] | None,
    file: Path | None,
    *,
    text_column: str,
    keep_columns: list[str] | None,
    chunk_rows: int,
    fields: TextFields | None = None,
    sheet: str | None = None,
    delimiter: str = "auto",
) -> Source:
    """Texts from --text options, a table file (checked whole first; `sheet` and `delimiter` as
    `data.sheet` and `data.delimiter`), or standard input; for a model of several `fields`,
    those columns, or JSON objects of them."""
    if texts or file is None or str(file) == "-":
        read = list(fields.names) if fields is not None else [TEXT]
        kept = kept_columns(read, keep_columns, source="the input", text_column=read)
        if texts:
            frame = (
                pd.DataFrame({TEXT: list(texts)})
                if fields is None
                else field_records(list(texts), fields, where="--text")
            )
            return Source("--text", TEXT, kept, len(frame), lambda: iter([frame]))
        return Source("standard input", TEXT, kept, None, lambda: stdin_chunks(chunk_rows, fields))
    table = open_table(file, sheet=sheet, delimiter=delimiter)
    read = text_columns(
        file, table.columns, text_column=text_column, fields=fields, nested=table.nested
    )
    kept = kept_columns(table.columns, keep_columns, source=file, text_column=read)
    total = check_texts(table, columns=read, chunk_rows=chunk_rows)

    def chunks() -> Iterator[pd.DataFrame]:
        return table.chunks(rows=chunk_rows, columns=[*read, *kept])

    return Source(str(file), text_column, kept, total, chunks)


def read_texts(texts: list[str] | None, file: Path | None, *, text_column: str) -> list[str]:
    """All texts from --text options, a table file, or standard input (one text per line)."""
    source = open_source(
        texts, file, text_column=text_column, keep_columns=[], chunk_rows=CHUNK_ROWS
    )
    return [
        text
        for frame in source.chunks()
        for text in column_texts(frame, source.name, column=source.text_column, start=None)
    ]


def model_fields(model: Path, text_column: str | None) -> TextFields | None:
    """The fields the model reads (None: one text); --text-column is refused for a model of
    fields, which are read from the columns of their names."""
    fields = load_fields(model_folder(model))
    if fields is not None and text_column is not None:
        raise UserError(
            f"--text-column {text_column}: this model reads the fields {', '.join(fields.names)}, "
            "each from the file's column of that name; leave --text-column out"
        )
    return fields


@contextmanager
def open_output(output: Path | None, *, file_format: str) -> Iterator[TableWriter]:
    """A writer to standard output, or to a temporary file renamed to `output` once all is
    written; on an error the temporary file is removed and `output` left as it was."""
    if output is None:
        writer = TableWriter(sys.stdout, file_format=file_format)
        yield writer
        writer.close()
        return
    with atomic_path(output) as temporary:
        writer = TableWriter(temporary, file_format=file_format)
        try:
            yield writer
        finally:
            writer.close()


def progress_stream(output: Path | None) -> TextIO:
    """Progress goes to stdout, as every command's, unless the predictions go there."""
    return sys.stdout if output is not None else sys.stderr


def predict_command(
    model: Path,
    *,
    texts: list[str] | None,
    file: Path | None,
    text_column: str | None = None,
    keep_columns: str | None = None,
    output: Path | None,
    output_format: str | None,
    batch_size: int,
    chunk_rows: int = CHUNK_ROWS,
    engine: str = "local",
    address: str | None = None,
    workers: int | None = None,
    backend: str = "auto",
    sheet: str | None = None,
    delimiter: str = "auto",
) -> None:
    """Label texts and write one row per text: the text (or the fields), the input's other
    columns, the label, confidence, decision and a probability per label. `text_column` (for a
    model of one text; default `text`)."""
    delimiter = checked_delimiter(delimiter)
    if backend not in BACKENDS:
        raise UserError(f"--backend {backend}: choose {', '.join(BACKENDS)}")
    if engine not in ENGINES:
        raise UserError(f"--engine {engine}: choose {' or '.join(ENGINES)}")
    if batch_size < 1 or chunk_rows < 1:
        raise UserError("--batch-size and --chunk-size must be at least 1")
    keep = parse_keep_columns(keep_columns)
    if engine == "ray":
        from domaintune.predict.distributed import predict_on_ray

        problem_type = model_problem_type(model_folder(model))
        if is_multi_label(problem_type) or is_regression(problem_type):
            raise UserError(f"--engine ray is not supported for {problem_type} models yet")

        predict_on_ray(
            model,
            file=file,
            text_column=text_column,
            keep_columns=keep,
            output=output,
            output_format=output_format,
            batch_size=batch_size,
            chunk_rows=chunk_rows,
            address=address,
            workers=workers,
            backend=backend,
            delimiter=delimiter,
        )
        return
    if address is not None or workers is not None:
        raise UserError("--address and --workers are for --engine ray")
    fields = model_fields(model, text_column)
    text_column = text_column or TEXT
    file_format = output_format_checked(output, output_format, file=file)
    source = open_source(
        texts,
        file,
        text_column=text_column,
        keep_columns=keep,
        chunk_rows=chunk_rows,
        fields=fields,
        sheet=sheet,
        delimiter=delimiter,
    )
    frames = source.chunks()
    first = next(frames, None)
    if first is None:
        raise UserError("no texts to label: pass --text, --file, or lines on standard input")
    if is_generative(model_folder(model)):
        write_generated(
            model_folder(model), source, chain([first], frames), output, file_format, batch_size
        )
        return
    predictor = Predictor(model, backend=backend)
    renames = output_names(
        source.kept,
        [] if predictor.regression else predictor.labels,
        source=source.name,
        fields=fields,
        decision_columns=SET_COLUMNS
        if predictor.multi_label
        else VALUE_COLUMNS
        if predictor.regression
        else DECISION_COLUMNS,
    )
    separator = load_separator(predictor.folder) if file_format in JOINED_FORMATS else None
    messages = progress_stream(output)
    print(f"backend {predictor.backend.name}: {predictor.backend_reason}", file=messages)
    for column, renamed in renames.items():
        print(f"note: the input column '{column}' is written as '{renamed}'", file=messages)
    done = 0
    interactive = messages.isatty()
    with (
        open_output(output, file_format=file_format) as writer,
        tqdm(
            total=source.total,
            desc="labelling",
            unit="rows",
            file=messages,
            disable=None if output is None else False,  # never into piped predictions
            mininterval=0.5 if interactive else 30,
        ) as bar,
    ):
        for frame in chain([first], frames):
            table = label_chunk(
                predictor,
                frame,
                source=source.name,
                text_column=source.text_column,
                kept=source.kept,
                renames=renames,
                start=done,
                batch_size=batch_size,
            )
            if predictor.multi_label and separator is not None:
                table["labels"] = table["labels"].map(separator.join)
            writer.write(table)
            done += len(frame)
            bar.update(len(frame))
    if output is not None:
        print(f"wrote {done} predictions to {output}", file=messages)


def write_generated(
    folder: Path,
    source: Source,
    frames: Iterator[pd.DataFrame],
    output: Path | None,
    file_format: str,
    batch_size: int,
) -> None:
    """generation and language_model: each input with the text the model writes for it."""
    writer = Writer(folder)
    messages = progress_stream(output)
    done = 0
    with open_output(output, file_format=file_format) as out:
        for frame in frames:
            table = writer.table(frame, text_column=source.text_column, batch_size=batch_size)
            out.write(table)
            done += len(frame)
    if output is not None:
        print(f"wrote {done} generated texts to {output}", file=messages)


def model_problem_type(folder: Path) -> str | None:
    """The problem_type `folder`'s model config names (multi_label_classification, regression),
    None for a single-label classifier or a folder without one."""
    config = folder / "config.json"
    return read_json(config).get("problem_type") if config.is_file() else None


def output_format_checked(output: Path | None, given: str | None, *, file: Path | None) -> str:
    """The output format; refuses, before anything is read, Parquet bytes on standard output and
    an --output that is the input file or a folder."""
    file_format = output_format(output, given)
    if output is None:
        if file_format == "parquet":
            raise UserError("--format parquet writes a binary file: give --output FILE.parquet")
        return file_format
    if output.is_dir():
        raise UserError(f"--output {output} is a folder: give a file name")
    if file is not None and str(file) != "-" and output.resolve() == file.resolve():
        raise UserError(f"--output {output} is the input file: give another path")
    return file_format


def checked_delimiter(delimiter: str) -> str:
    """--delimiter as `data.delimiter` takes it: auto, tab, or one character."""
    try:
        return DataConfig(delimiter=delimiter).delimiter
    except ValidationError:
        raise UserError(f"--delimiter {delimiter!r}: give auto, tab, or one character") from None
