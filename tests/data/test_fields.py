from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from domaintune.config import build_config
from domaintune.data.fields import (
    FIELD_SEPARATOR,
    TextFields,
    load_fields,
    prepared_inputs,
    save_fields,
)
from domaintune.data.prepare import prepare_data, run_prepare
from domaintune.errors import UserError
from domaintune.rundir import RunDir, read_parquet
from domaintune.runfiles import DataCard
from tests.support_tickets import write_support_tickets

FIELDS = ["data.text_columns=[subject, body]", "data.label_column=queue"]


def ticket_config(data: Path, *overrides: str):
    return build_config(
        {"data": {"source": str(data)}},
        [*FIELDS, "prepare.label_audit='off'", "prepare.language=any", *overrides],
    )


def test_prepare_keeps_each_field_cleaned_and_text_as_them_joined(tmp_path: Path) -> None:
    data = write_support_tickets(tmp_path)
    run = RunDir(tmp_path / "run")
    card = run_prepare(ticket_config(data), run)

    splits = pd.concat([read_parquet(run.split(name)) for name in ("train", "validation", "test")])
    assert {"text", "label", "field:subject", "field:body"} <= set(splits.columns)
    joined = splits["field:subject"] + FIELD_SEPARATOR + splits["field:body"]
    assert (splits["text"] == joined).all()  # the checks and baselines read what the model does
    # the entity in a body is repaired in the field itself, whitespace collapsed
    assert "see subject & please help thanks" in set(splits["field:body"])
    # a ticket without a subject is kept with an empty one; one with neither field is dropped
    assert (splits["field:subject"] == "").sum() == 1
    not_text = card.step("not_text")
    assert not_text is not None and not_text.removed == 1

    assert card.fields is not None
    assert card.fields.names == ["subject", "body"] and card.fields.mode == "joined"
    body, subject = card.fields.lengths["body"]["train"], card.fields.lengths["subject"]["train"]
    assert body.words_max >= 3 and subject.words_p50 >= 1
    assert DataCard.read(run.card).fields == card.fields  # written and read back
    assert load_fields(run.data) == TextFields(("subject", "body"), "joined")


def test_text_pair_is_recorded_as_the_mode(tmp_path: Path) -> None:
    data = write_support_tickets(tmp_path)
    run = RunDir(tmp_path / "run")
    card = run_prepare(ticket_config(data, "data.text_pair=true"), run)
    assert card.fields is not None and card.fields.mode == "pair"
    assert load_fields(run.data) == TextFields(("subject", "body"), "pair")


def test_one_text_column_writes_no_fields(tmp_path: Path, tickets_csv: Path) -> None:
    """A single text column is read as before: no field columns, no fields.json, none in the card."""
    run = RunDir(tmp_path / "run")
    config = build_config(
        {"data": {"source": str(tickets_csv)}},
        ["prepare.label_audit='off'", "data.text_columns=[text]"],
    )
    card = run_prepare(config, run)
    assert card.fields is None and "fields" not in json.loads(run.card.read_text())
    assert load_fields(run.data) is None
    assert list(read_parquet(run.split("train")).columns) == ["text", "label"]


def test_a_field_missing_from_the_file_names_file_field_and_columns(tmp_path: Path) -> None:
    data = write_support_tickets(tmp_path)
    config = ticket_config(data, "data.text_columns=[subject, description]")
    with pytest.raises(UserError) as error:
        prepare_data(config)
    message = str(error.value)
    assert "\n" not in message
    assert str(data) in message and "'description'" in message
    assert "its columns: id, subject, body, queue" in message
    assert "data.text_columns" in message


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["data.text_columns=[subject, body, id]", "data.text_pair=true"], "exactly two"),
        (["data.text_pair=true"], "exactly two"),
        (["data.text_columns=[subject, subject]"], "distinct"),
        (["data.text_columns=[]"], "distinct"),
        (["data.text_columns=[subject, body]", "prepare.fix_typos=true"], "fix_typos"),
        (
            ["data.text_columns=[q, a]", "data.text_pair=true", "model.long_text=chunks"],
            "model.long_text: chunks windows one text: set model.long_text: truncate",
        ),
    ],
)
def test_impossible_field_settings_are_refused_by_the_config(
    overrides: list[str], message: str
) -> None:
    with pytest.raises(UserError, match=message):
        build_config({}, overrides)


def test_prepared_inputs_are_records_of_the_fields(tmp_path: Path) -> None:
    fields = TextFields(("subject", "body"))
    frame = pd.DataFrame(
        {"text": ["a | b"], "label": ["x"], "field:subject": ["a"], "field:body": ["b"]}
    )
    assert prepared_inputs(frame, fields, path=tmp_path) == [{"subject": "a", "body": "b"}]
    assert prepared_inputs(frame, None, path=tmp_path) == ["a | b"]
    with pytest.raises(UserError, match=r"no column 'field:body'.*prepare the data again"):
        prepared_inputs(frame.drop(columns="field:body"), fields, path=tmp_path)


@pytest.mark.parametrize(
    "saved",
    [
        {"version": 1, "names": ["subject"], "mode": "joined"},
        {"version": 1, "names": ["a", "b", "c"], "mode": "pair"},
        {"version": 1, "names": ["a", "a"], "mode": "joined"},
        {"version": 1, "names": ["a", "b"], "mode": "concatenated"},
        {"version": 9, "names": ["a", "b"], "mode": "joined"},
    ],
)
def test_a_damaged_fields_file_is_refused(tmp_path: Path, saved: dict) -> None:
    (tmp_path / "fields.json").write_text(json.dumps(saved))
    with pytest.raises(UserError, match=r"fields\.json"):
        load_fields(tmp_path)


def test_fields_file_round_trips(tmp_path: Path) -> None:
    fields = TextFields(("question", "answer"), "pair")
    save_fields(tmp_path, fields)
    assert load_fields(tmp_path) == fields


def test_joined_fields_may_be_read_in_windows_and_a_pair_only_cut() -> None:
    """Catches the pair refusal catching joined fields too."""
    joined = build_config({}, ["data.text_columns=[q, a]", "model.long_text=head_tail"])
    assert joined.model.long_text == "head_tail"
    pair = build_config({}, ["data.text_columns=[q, a]", "data.text_pair=true"])
    assert pair.model.long_text == "truncate"


def test_fields_given_as_nested_paths_and_a_split_column(tmp_path: Path) -> None:
    """Catches the merge of fields with nested JSON and own splits: a dotted field unchecked or
    unread, or the user's test rows losing their fields."""
    from tests.support_tickets import ticket_rows

    frame = ticket_rows(240)
    data = tmp_path / "tickets.jsonl"
    with data.open("w") as out:
        for i, row in frame.iterrows():
            meta = {"subject": row["subject"], "body": row["body"]}
            part = "test" if i % 4 == 0 else "train"
            out.write(json.dumps({"meta": meta, "queue": row["queue"], "part": part}) + "\n")
    config = ticket_config(
        data, "data.text_columns=[meta.subject, meta.body]", "data.split_column=part"
    )
    prepared = prepare_data(config)
    test = prepared.splits["test"]
    assert prepared.card.split.method == "split_column"
    assert prepared.card.fields is not None
    assert prepared.card.fields.names == ["meta.subject", "meta.body"]
    given = frame.iloc[::4]
    assert sorted(test["field:meta.subject"]) == sorted(given["subject"])
    assert sorted(test["field:meta.body"]) == sorted(given["body"])
    missing = ticket_config(data, "data.text_columns=[meta.subject, meta.title]")
    with pytest.raises(UserError, match=r"no column 'meta.title'.*set data.text_columns"):
        prepare_data(missing)
