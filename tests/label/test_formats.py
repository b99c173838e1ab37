"""The files a person labels in: the CSV to fill, Label Studio's tasks, config and export."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree

import pandas as pd
import pytest

from domaintune.errors import UserError
from domaintune.label.formats import (
    fill_in_table,
    label_studio_config,
    read_filled,
    write_picked,
)

PICKED = pd.DataFrame(
    {
        "id": ["4", "9"],
        "text": ["refund please", "love it"],
        "suggestion": ["billing", "praise"],
        "suggestion_probability": [0.61, 0.93],
        "reason": ["uncertain (margin 0.10)", "near the name 'praise'"],
        "shop": ["x", "y"],
    }
)


def test_the_csv_to_fill_has_an_empty_label_column_after_the_text() -> None:
    table = fill_in_table(PICKED)
    assert list(table.columns) == [
        "id", "text", "label", "suggestion", "suggestion_probability", "reason", "shop",
    ]  # fmt: skip
    assert table["label"].tolist() == ["", ""]


def test_label_studio_tasks_carry_the_suggestion_as_a_prediction(tmp_path: Path) -> None:
    path = tmp_path / "tasks.json"
    write_picked(PICKED, path, file_format="label-studio", model_version="lr")
    tasks = json.loads(path.read_text())
    assert tasks[0]["data"]["id"] == "4" and tasks[0]["data"]["text"] == "refund please"
    prediction = tasks[0]["predictions"][0]
    assert prediction["model_version"] == "lr" and prediction["score"] == 0.61
    assert prediction["result"] == [
        {"from_name": "label", "to_name": "text", "type": "choices",
         "value": {"choices": ["billing"]}},
    ]  # fmt: skip
    config = ElementTree.fromstring(label_studio_config(["billing", 'say "hi"']))
    choices = config.find("Choices")
    assert choices is not None and choices.get("name") == "label"
    assert choices.get("toName") == config.find("Text").get("name") == "text"
    assert [c.get("value") for c in choices] == ["billing", 'say "hi"']


def annotated(choice: str, *, cancelled: bool = False) -> dict:
    result = {"type": "choices", "from_name": "label", "to_name": "text",
              "value": {"choices": [choice]}}  # fmt: skip
    return {"result": [result], "was_cancelled": cancelled}


def test_a_label_studio_export_gives_each_task_its_annotated_label(tmp_path: Path) -> None:
    export = [
        {"id": 1, "data": {"id": "4", "text": "refund please"}, "annotations": [annotated("billing")]},
        {"id": 2, "data": {"id": "9", "text": "love it"}, "annotations": [annotated("x", cancelled=True)]},
        {"id": 3, "data": {"id": "5", "text": "hm"}, "annotations": []},
    ]  # fmt: skip
    path = tmp_path / "export.json"
    path.write_text(json.dumps(export))
    rows = read_filled(path)
    assert rows[["id", "label", "source"]].values.tolist() == [
        ["4", "billing", "task 1"], ["9", "", "task 2"], ["5", "", "task 3"],
    ]  # fmt: skip


def test_annotations_that_disagree_are_a_conflict(tmp_path: Path) -> None:
    export = [{"data": {"id": "4", "text": "t"}, "annotations": [annotated("a"), annotated("b")]}]
    path = tmp_path / "export.json"
    path.write_text(json.dumps(export))
    with pytest.raises(UserError, match="task 1 \\(id '4'\\) was annotated with different labels"):
        read_filled(path)


def test_a_filled_csv_saved_by_excel_with_semicolons_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "filled.csv"
    path.write_text("id;text;label;suggestion\n4;refund please; billing ;billing\n9;love it;;x\n")
    rows = read_filled(path)
    assert rows[["id", "text", "label", "source"]].values.tolist() == [
        ["4", "refund please", "billing", "row 1"], ["9", "love it", "", "row 2"],
    ]  # fmt: skip
