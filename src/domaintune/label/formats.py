"""The files a person labels in, out and back: a CSV to fill in, or Label Studio's JSON.

Out: a CSV (id, text, an empty `label` column to fill, the model's `suggestion` and its
`suggestion_probability`, why the row was picked, the pool's other columns), or a Label Studio
import file, one task per row with the suggestion as a pre-annotation (a prediction with its
score), and the labeling config (XML) that matches it: a `Choices` named `label` on a `Text`
named `text`.

Back: a filled table (any file `predict --file` reads, so a CSV that went through Excel comes
back as it was saved) or a Label Studio JSON export. Each gives rows of id, text, label and where
each came from (row N of the file, or task N), for the error messages of `merge.py`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

import pandas as pd

from domaintune.data.clean import to_text
from domaintune.errors import UserError
from domaintune.label.pool import ID, LABEL, TEXT
from domaintune.predict.stream import open_table
from domaintune.rundir import atomic_path

FORMATS = ("csv", "label-studio")
SUGGESTION, PROBABILITY, REASON = "suggestion", "suggestion_probability", "reason"
CHOICES = "label"
"""The name of the Choices control in the labeling config, and of the results we read back."""
SOURCE = "source"
"""The column of an imported row that says where it was: `row 3`, `task 7`."""


def fill_in_table(picked: pd.DataFrame) -> pd.DataFrame:
    """id, text, an empty label, the suggestion, its probability, the reason, the rest."""
    front = [ID, TEXT]
    ours = [SUGGESTION, PROBABILITY, REASON]
    others = [c for c in picked.columns if c not in {*front, *ours, LABEL}]
    table = picked[front].copy()
    table[LABEL] = ""
    return pd.concat([table, picked[[*ours, *others]]], axis=1)


def label_studio_tasks(picked: pd.DataFrame, *, model_version: str) -> list[dict[str, Any]]:
    """One task per row: its id and text (and other columns) as data, the suggestion as a
    prediction Label Studio shows pre-selected."""
    tasks = []
    for record in picked.to_dict("records"):
        data = {
            key: value
            for key, value in record.items()
            if key not in {SUGGESTION, PROBABILITY} and not pd.isna(value)
        }
        result = {
            "from_name": CHOICES,
            "to_name": TEXT,
            "type": "choices",
            "value": {"choices": [record[SUGGESTION]]},
        }
        prediction = {
            "model_version": model_version,
            "score": round(float(record[PROBABILITY]), 4),
            "result": [result],
        }
        tasks.append({"data": data, "predictions": [prediction]})
    return tasks


def label_studio_config(labels: list[str]) -> str:
    """The labeling config that matches the tasks: one choice per label, on the text."""
    choices = "\n".join(f"    <Choice value={quoteattr(label)}/>" for label in labels)
    return (
        "<View>\n"
        f'  <Text name="{TEXT}" value="${TEXT}"/>\n'
        f'  <Choices name="{CHOICES}" toName="{TEXT}" choice="single" showInLine="true">\n'
        f"{choices}\n"
        "  </Choices>\n"
        "</View>\n"
    )


def write_picked(picked: pd.DataFrame, path: Path, *, file_format: str, model_version: str) -> None:
    """The file to label, written to a temporary name and renamed over `path` when complete."""
    with atomic_path(path) as temporary:
        if file_format == "csv":
            fill_in_table(picked).to_csv(temporary, index=False)
        else:
            tasks = label_studio_tasks(picked, model_version=model_version)
            temporary.write_text(
                json.dumps(tasks, indent=1, ensure_ascii=False, default=str), encoding="utf-8"
            )


def read_json_document(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except (ValueError, UnicodeDecodeError) as error:
        raise UserError(f"{path} is not a valid JSON file ({error}): check its format") from None


def is_label_studio_export(document: Any) -> bool:
    """A JSON list of tasks, each an object with `data` (what Label Studio exports as JSON)."""
    return (
        isinstance(document, list)
        and bool(document)
        and all(isinstance(task, dict) and isinstance(task.get("data"), dict) for task in document)
    )


def task_choice(task: dict[str, Any], *, path: Path, number: int) -> str | None:
    """The label a task's annotations give (None: not annotated, or every annotation cancelled
    or empty); annotations that give different labels are a conflict."""
    given: list[str] = []
    for annotation in task.get("annotations") or []:
        if annotation.get("was_cancelled"):
            continue
        for result in annotation.get("result") or []:
            choices = (result.get("value") or {}).get("choices")
            if result.get("type") == "choices" and choices:
                given += [str(choice).strip() for choice in choices]
    if len(set(given)) > 1:
        raise UserError(
            f"{path}: task {number} (id '{task['data'].get(ID)}') was annotated with different "
            f"labels ({', '.join(repr(label) for label in dict.fromkeys(given))}): settle on one "
            "in Label Studio and export again"
        )
    return given[0] if given else None


def read_label_studio(document: list[dict[str, Any]], path: Path) -> pd.DataFrame:
    rows = []
    for number, task in enumerate(document, start=1):
        data = task["data"]
        ident, text = to_text(data.get(ID)), to_text(data.get(TEXT))
        if ident is None or text is None:
            raise UserError(
                f"{path}: task {number} has no data.{ID if ident is None else TEXT}: export the "
                "project that `domaintune label pick --format label-studio` made its tasks for"
            )
        label = task_choice(task, path=path, number=number)
        rows.append({ID: ident.strip(), TEXT: text, LABEL: label or "", SOURCE: f"task {number}"})
    return pd.DataFrame(rows, columns=[ID, TEXT, LABEL, SOURCE])


def read_table_file(path: Path) -> pd.DataFrame:
    table = open_table(path)
    missing = [c for c in (ID, TEXT, LABEL) if c not in table.columns]
    if missing:
        raise UserError(
            f"{path} has no column '{missing[0]}' (its columns: {', '.join(table.columns)}): "
            "give the file `domaintune label pick` wrote, with the label column filled in"
        )
    frame = pd.concat(list(table.chunks(rows=10_000, columns=[ID, TEXT, LABEL])), ignore_index=True)
    cells = {column: frame[column].map(to_text).fillna("") for column in (ID, TEXT, LABEL)}
    rows = pd.DataFrame(cells)
    rows[ID] = rows[ID].str.strip()
    rows[LABEL] = rows[LABEL].str.strip()
    rows[SOURCE] = [f"row {number}" for number in range(1, len(rows) + 1)]
    return rows


def read_filled(path: Path) -> pd.DataFrame:
    """The rows of a filled file: id, text, label ('' where none was given), source."""
    if not path.is_file():
        raise UserError(f"{path} not found: give the file you filled in")
    if path.suffix.lower() == ".json":
        document = read_json_document(path)
        if is_label_studio_export(document):
            return read_label_studio(document, path)
    return read_table_file(path)
