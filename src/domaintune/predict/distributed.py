"""`predict --engine ray`: label a file too big for one machine's time on a Ray cluster.

Why Ray Data rather than Spark: Ray installs with pip (`domaintune[distributed]`) and runs in
Python alone, where Spark needs a Java runtime beside it and moves rows between the JVM and Python
workers; Ray Data's actors each load the model once and keep it for every batch they label (a
Spark UDF reloads it per task or needs a broadcast trick); its streaming execution reads, labels and
writes blocks at once, so neither the cluster nor the driver holds the whole data set; and the same
command runs on a laptop (a Ray started in the process), a cluster (`--address auto` on one of its
machines, `ray://HOST:10001` from outside), or a Kubernetes one (KubeRay).

Every batch is labelled by `files.label_chunk` with a `Predictor(model)` per actor: the texts,
columns and predictions of `predict` on one machine. When `--file` is one local file it is first
checked as `predict` checks it (a row without a text is named before the cluster starts).

On a cluster of several machines, the run folder, the input and the output folder must be at the
same path on every machine (a shared file system), and domaintune installed on each; the input may
also be a URI Ray reads (s3://, gs://). The output is a folder of part files (Parquet by default),
written to a temporary folder beside it and renamed once complete, and marked as domaintune's: an
existing output folder is replaced only when it is empty or so marked. The parts hold every row
with the input's columns, but not in the input's order: Ray Data's `preserve_order` did not keep
it reliably (Ray 2.60, measured), so keep an id column to join on.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pandas as pd

from domaintune.errors import UserError, first_line
from domaintune.models import load_model_config
from domaintune.predict.files import (
    TEXT,
    check_texts,
    kept_columns,
    label_chunk,
    model_fields,
    output_names,
    text_columns,
)
from domaintune.predict.predictor import Predictor, check_model_folder, model_folder
from domaintune.predict.stream import CsvTable, open_table, roots
from domaintune.rundir import atomic_path

INSTALL = "pip install 'domaintune[distributed]'"
MARKER = ".domaintune-predictions"
"""Written into the output folder: the folder holds predictions, so a later run may replace it.
Its leading dot makes readers of the folder (pyarrow, pandas, Ray, Spark) skip it."""
INPUT_FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".parquet": "parquet"}
OUTPUT_FORMATS = ("parquet", "csv", "jsonl")


def import_ray() -> Any:
    try:
        import ray
        import ray.data
    except ImportError:
        raise UserError(f"--engine ray needs Ray: {INSTALL}") from None
    return ray


class LabelBatches:
    """A Ray actor: loads the model once, then labels every batch it is given."""

    def __init__(
        self,
        model: str,
        *,
        source: str,
        text_column: str,
        kept: list[str],
        renames: dict[str, str],
        batch_size: int,
        threads: int,
        backend: str,
    ) -> None:
        import torch

        torch.set_num_threads(threads)
        self.predictor = Predictor(model, backend=backend, threads=threads)
        self.settings = {
            "source": source,
            "text_column": text_column,
            "kept": kept,
            "renames": renames,
            "batch_size": batch_size,
        }

    def __call__(self, frame: pd.DataFrame) -> pd.DataFrame:
        # the row numbers of a block within the file are not known here: a bad row is "a row"
        return label_chunk(self.predictor, frame, start=None, **self.settings)


def input_format(file: str) -> str:
    """The input's format: its suffix, or that of the table files in a local folder."""
    suffix = Path(file).suffix.lower()
    if suffix in INPUT_FORMATS:
        return INPUT_FORMATS[suffix]
    folder = Path(file)
    found = (
        {p.suffix.lower() for p in folder.iterdir() if p.suffix.lower() in INPUT_FORMATS}
        if folder.is_dir()
        else set()
    )
    if len(found) == 1:
        return INPUT_FORMATS[found.pop()]
    raise UserError(
        f"--engine ray reads CSV, TSV, JSONL or Parquet: {file} is not such a file, nor a folder "
        "of one kind of them (label an Excel workbook or a .txt file with --engine local, or "
        "save it as CSV)"
    )


def first_file(file: str, suffix: str) -> Path | None:
    """The input file, or the first of its kind in a local folder; None for a URI."""
    path = Path(file)
    if path.is_file():
        return path
    if path.is_dir():
        return next(iter(sorted(path.glob(f"*{suffix}"))), None)
    return None


def read_dataset(ray: Any, file: str, *, file_format: str, delimiter: str = "auto") -> Any:
    """The input as a Ray dataset, read as `predict` reads it: CSV cells as text, in the encoding
    and with the delimiter told from the first file (a UTF-8 file's cp1252 lines aside: Ray reads
    strict UTF-8)."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    if file_format == "parquet":
        return ray.data.read_parquet(file)
    if file_format == "jsonl":
        return ray.data.read_json(file, lines=True, file_extensions=["jsonl", "json"])
    header = first_file(file, f".{file_format}")
    if file_format == "tsv" and delimiter == "auto":
        delimiter = "\t"
    encoding, columns = "utf8", []
    if header is not None:
        table = CsvTable(header, delimiter=delimiter)
        delimiter, columns = table.delimiter, table.columns
        encoding = "utf8" if table.encoding in ("utf-8", "utf-8-sig") else table.encoding
    elif delimiter == "auto":
        delimiter = ","
    return ray.data.read_csv(
        file,
        read_options=pa_csv.ReadOptions(encoding=encoding),
        parse_options=pa_csv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
        convert_options=pa_csv.ConvertOptions(
            column_types={name: pa.string() for name in columns}, strings_can_be_null=False
        ),
        file_extensions=[file_format],
    )


def check_output_folder(output: Path) -> None:
    """Refuse to replace a folder that is not empty and not one this command wrote."""
    if "://" in str(output):
        raise UserError(
            f"--output {output}: give a folder path every machine of the cluster sees (a shared "
            "file system); the output is written to a temporary folder and renamed there"
        )
    if output.is_file():
        raise UserError(f"--output {output} is a file: --engine ray writes a folder of part files")
    if output.is_dir() and any(output.iterdir()) and not (output / MARKER).is_file():
        raise UserError(
            f"--output {output} holds files domaintune did not write: give a new or empty folder"
        )


def user_error_in(error: BaseException) -> UserError | None:
    """The `UserError` a Ray task raised, found in the exceptions that wrap it."""
    seen: set[int] = set()
    stack: list[BaseException | None] = [error]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, UserError):
            return current
        stack += [current.__cause__, current.__context__, getattr(current, "cause", None)]
    return None


def predict_on_ray(
    model: Path,
    *,
    file: Path | None,
    text_column: str | None,
    keep_columns: list[str] | None,
    output: Path | None,
    output_format: str | None,
    batch_size: int,
    chunk_rows: int,
    address: str | None,
    workers: int | None,
    backend: str = "auto",
    delimiter: str = "auto",
) -> None:
    """Label `file` on a Ray cluster with a pool of actors, writing a folder of part files."""
    if file is None or str(file) == "-":
        raise UserError("--engine ray labels a file, a folder of files or a URI: pass --file")
    if output is None:
        raise UserError("--engine ray writes a folder of part files: pass --output FOLDER")
    file_format = (output_format or "parquet").lower()
    if file_format not in OUTPUT_FORMATS:
        raise UserError(f"--format {file_format}: --engine ray writes {', '.join(OUTPUT_FORMATS)}")
    if workers is not None and workers < 1:
        raise UserError("--workers must be at least 1")
    check_output_folder(output)
    folder = model_folder(model)
    check_model_folder(folder)
    fields = model_fields(folder, text_column)
    text_column = text_column or TEXT
    config = load_model_config(str(folder))
    labels = [config.id2label[i] for i in range(len(config.id2label))]
    source = str(file)
    kind = input_format(source)
    if Path(source).is_file():  # checked as `predict` checks it, before the cluster starts
        table = open_table(Path(source), delimiter=delimiter)
        read = text_columns(
            file, table.columns, text_column=text_column, fields=fields, nested=table.nested
        )
        check_texts(table, columns=read, chunk_rows=chunk_rows)

    ray = import_ray()
    started = not ray.is_initialized()
    if started:
        try:
            ray.init(address=address, include_dashboard=False, logging_level="warning")
        except (ConnectionError, RuntimeError, ValueError) as error:
            raise UserError(
                f"could not start or reach Ray at {address or 'this machine'} "
                f"({first_line(error)}): check --address"
            ) from None
    try:
        dataset = read_dataset(ray, source, file_format=kind, delimiter=delimiter)
        columns = [str(c) for c in dataset.schema().names]
        wanted = list(fields.names) if fields is not None else [text_column]
        nested = [name for name in wanted if name not in columns and roots(columns, [name])]
        # a dotted path is read from its object's column
        read = text_columns(file, columns, text_column=text_column, fields=fields, nested=nested)
        kept = kept_columns(columns, keep_columns, source=source, text_column=read)
        renames = output_names(kept, labels, source=source, fields=fields)
        for column, renamed in renames.items():
            print(f"note: the input column '{column}' is written as '{renamed}'")
        pool = (
            ray.data.ActorPoolStrategy(size=workers)
            if workers is not None
            else ray.data.ActorPoolStrategy(min_size=1, max_size=None)
        )
        labelled = dataset.map_batches(
            LabelBatches,
            fn_constructor_kwargs={
                "model": str(Path(model).resolve()),  # workers may run in other folders
                "source": source,
                "text_column": text_column,
                "kept": kept,
                "renames": renames,
                "batch_size": batch_size,
                "threads": 1,
                "backend": backend,
            },
            batch_format="pandas",
            batch_size=chunk_rows,
            compute=pool,
            num_cpus=1,
        )
        with atomic_path(output) as temporary:
            write(labelled, str(temporary.resolve()), file_format=file_format)
            (temporary / MARKER).write_text("predictions written by domaintune predict\n")
    except UserError:
        raise
    except Exception as error:  # a Ray task's error reaches the driver wrapped, maybe twice
        found = user_error_in(error)
        if found is not None:
            raise found from None
        raise UserError(f"the Ray job failed ({first_line(error)}): see Ray's log above") from None
    finally:
        if started:
            ray.shutdown()
    print(f"wrote predictions to {output}/ ({file_format} parts)", file=sys.stdout)


def write(dataset: Any, folder: str, *, file_format: str) -> None:
    if file_format == "parquet":
        dataset.write_parquet(folder)
    elif file_format == "csv":
        dataset.write_csv(folder)
    else:
        dataset.write_json(folder, force_ascii=False, date_format="iso")
