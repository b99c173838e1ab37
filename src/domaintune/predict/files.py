"""`domaintune predict`: texts from options, a table file or standard input; labels out."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from domaintune.data.clean import to_text
from domaintune.data.sources import read_table
from domaintune.errors import UserError
from domaintune.predict.predictor import Predictor
from domaintune.rundir import write_text


def describe_value(value: object) -> str:
    """A cell that is not a text, in a user's words."""
    if isinstance(value, list | np.ndarray):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    return "null"


def column_texts(frame: pd.DataFrame, file: Path, *, column: str) -> list[str]:
    """Every cell of `column` as text; a null, list or object cell is refused, naming its row
    (counted from 1, as the data rows of the file), since there is no text to label."""
    texts = frame[column].map(to_text)
    missing = np.flatnonzero(texts.isna().to_numpy())
    if len(missing):
        first = int(missing[0])
        more = f" (and {len(missing) - 1} more rows)" if len(missing) > 1 else ""
        raise UserError(
            f"{file}: row {first + 1}{more} has {describe_value(frame[column].iloc[first])} in "
            f"column '{column}', not a text: give every row a text, or remove the rows without one"
        )
    return texts.tolist()


def read_texts(texts: list[str] | None, file: Path | None, *, text_column: str) -> list[str]:
    """Texts from --text options, a table file, or standard input (one text per line)."""
    if texts:
        return list(texts)
    if file is None or str(file) == "-":
        lines = [line.rstrip("\n") for line in sys.stdin]
        return [line for line in lines if line.strip()]
    frame = read_table(file)
    if text_column not in frame.columns:
        raise UserError(
            f"{file} has no column '{text_column}' (its columns: {', '.join(map(str, frame.columns))})"
            ": pass --text-column"
        )
    return column_texts(frame, file, column=text_column)


def predict_command(
    model: Path,
    *,
    texts: list[str] | None,
    file: Path | None,
    text_column: str,
    output: Path | None,
    output_format: str,
    batch_size: int,
    backend: str = "auto",
) -> None:
    """Label texts and write one row per text: text, label, and a probability per label."""
    if output_format not in {"csv", "jsonl"}:
        raise UserError(f"--format {output_format}: choose csv or jsonl")
    if backend not in {"auto", "torch", "onnx"}:
        raise UserError(f"--backend {backend}: choose auto, torch or onnx")
    rows = read_texts(texts, file, text_column=text_column)
    if not rows:
        raise UserError("no texts to label: pass --text, --file, or lines on standard input")
    predictor = Predictor(model, backend=backend)
    print(f"backend {predictor.backend.name}: {predictor.backend_reason}", file=sys.stderr)
    probabilities = predictor.predict_proba(rows, batch_size=batch_size)
    table = pd.DataFrame(
        {"text": rows, "label": [predictor.labels[i] for i in probabilities.argmax(1)]}
    )
    for index, label in enumerate(predictor.labels):
        table[f"p_{label}"] = probabilities[:, index].round(6)
    if output_format == "csv":
        content = table.to_csv(index=False)
    else:
        content = table.to_json(orient="records", lines=True, force_ascii=False)
    if output is None:
        sys.stdout.write(content)
    else:
        write_text(output, content)
        print(f"wrote {len(table)} predictions to {output}", file=sys.stderr)
