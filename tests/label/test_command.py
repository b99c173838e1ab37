"""`domaintune label pick` and `label import` end to end, with the tiny BERT as the encoder."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from domaintune.errors import UserError
from domaintune.label.command import import_command, pick_command
from tests.helpers import WORDS, domaintune, make_rows, snapshot

LABELS = ",".join(WORDS)


@pytest.fixture
def pool(tmp_path: Path) -> Path:
    """60 texts with their gold labels hidden in a separate file, the annotator of these tests."""
    rows = make_rows(60)
    rows.insert(0, "id", [f"t{i}" for i in range(60)])
    rows[["id", "text"]].to_csv(tmp_path / "pool.csv", index=False)
    rows.to_csv(tmp_path / "gold.csv", index=False)
    return tmp_path / "pool.csv"


def pick(pool: Path, model: Path, **settings: object) -> None:
    options = {
        "labels": LABELS, "run": None, "labelled_path": None, "k": 9, "file_format": None,
        "out": None, "text_column": "text", "id_column": None, "model": str(model), "seed": 0,
    }  # fmt: skip
    pick_command(pool, **{**options, **settings})  # type: ignore[arg-type]


def fill(path: Path, gold: Path) -> Path:
    """The picked CSV with every label filled in from the gold labels."""
    truth = pd.read_csv(gold, dtype=str).set_index("id")["label"]
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    table["label"] = table["id"].map(truth)
    table.to_csv(path, index=False)
    return path


def test_cold_start_then_labels_then_the_next_round_never_picks_a_labelled_row(
    pool: Path, tiny_model: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.chdir(pool.parent)
    pick(pool, tiny_model)
    first = pd.read_csv("to_label.csv", dtype=str, keep_default_na=False)
    assert list(first.columns[:6]) == [
        "id", "text", "label", "suggestion", "suggestion_probability", "reason",
    ]  # fmt: skip
    assert len(first) == 9 == first["id"].nunique() and (first["label"] == "").all()
    named = first["reason"][first["reason"].str.startswith("near the name")]
    assert {reason.split("'")[1] for reason in named} == set(WORDS)  # every label has its picks
    assert set(first["suggestion"]) <= set(WORDS)
    assert "suggestions by similarity to the label names" in capsys.readouterr().out

    merged = import_command(fill(Path("to_label.csv"), pool.parent / "gold.csv"),
                            into=Path("labels.csv"), labels=LABELS)  # fmt: skip
    assert (merged.added, merged.total) == (9, 9)
    pick(pool, tiny_model, labelled_path=Path("labels.csv"), k=12)
    second = pd.read_csv("to_label-2.csv", dtype=str)  # the first file is not overwritten
    assert pd.read_csv("to_label.csv", dtype=str)["label"].notna().all()
    assert len(second) == 12 and not set(second["id"]) & set(first["id"])
    assert second["reason"].str.startswith("uncertain").all()
    assert "logistic regression on 9 labelled rows" in capsys.readouterr().out

    import_command(fill(Path("to_label-2.csv"), pool.parent / "gold.csv"),
                   into=Path("labels.csv"), labels=None)  # fmt: skip
    labels = pd.read_csv("labels.csv", dtype=str)
    assert list(labels.columns) == ["id", "text", "label"] and len(labels) == 21
    assert labels["id"].tolist()[:9] == first["id"].tolist()  # the first round's rows kept


def test_a_label_with_no_labelled_row_yet_is_picked_by_its_name(
    pool: Path, tiny_model: Path, tmp_path: Path
) -> None:
    gold = pd.read_csv(tmp_path / "gold.csv", dtype=str)
    known = gold[gold["label"] != "positive"].head(6)
    known[["id", "text", "label"]].to_csv(tmp_path / "labels.csv", index=False)
    pick(pool, tiny_model, labelled_path=tmp_path / "labels.csv", out=tmp_path / "next.csv")
    picked = pd.read_csv(tmp_path / "next.csv", dtype=str)
    assert (picked["reason"] == "near the name 'positive'").sum() == 3
    assert (picked["reason"].str.startswith("uncertain")).sum() == 6


def test_with_a_run_its_model_gives_the_probabilities_and_label_studio_round_trips(
    pool: Path, tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    run = tmp_path / "run"
    config = BertConfig.from_pretrained(tiny_model)
    config.id2label = dict(enumerate(WORDS))
    config.label2id = {label: i for i, label in enumerate(WORDS)}
    torch.manual_seed(1)
    BertForSequenceClassification(config).save_pretrained(run / "model")
    AutoTokenizer.from_pretrained(tiny_model).save_pretrained(run / "model")

    tasks_path = tmp_path / "tasks.json"
    pick(pool, tiny_model, labels=None, run=run, out=tasks_path, k=6)
    out = capsys.readouterr().out
    assert f"suggestions by domaintune run {run}" in out and '<Choices name="label"' in out
    tasks = json.loads(tasks_path.read_text())
    assert len(tasks) == 6 and all(t["data"]["reason"].startswith("uncertain") for t in tasks)
    margins = [float(t["data"]["reason"].split()[-1].rstrip(")")) for t in tasks]
    assert margins == sorted(margins)

    truth = pd.read_csv(tmp_path / "gold.csv", dtype=str).set_index("id")["label"]
    for number, task in enumerate(tasks):  # as Label Studio exports them once annotated
        choice = truth[task["data"]["id"]]
        result = {"from_name": "label", "to_name": "text", "type": "choices",
                  "value": {"choices": [choice]}}  # fmt: skip
        task["id"] = number + 1
        task["annotations"] = [{"result": [result], "was_cancelled": False}] if number else []
    export = tmp_path / "export.json"
    export.write_text(json.dumps(tasks))
    merged = import_command(export, into=tmp_path / "labels.csv", labels=LABELS)
    assert (merged.added, merged.skipped_empty) == (5, 1)
    labels = pd.read_csv(tmp_path / "labels.csv", dtype=str).set_index("id")["label"]
    assert labels.to_dict() == {t["data"]["id"]: truth[t["data"]["id"]] for t in tasks[1:]}


def test_labels_other_than_the_runs_are_refused(
    pool: Path, tiny_model: Path, tmp_path: Path
) -> None:
    with pytest.raises(UserError, match="give --labels a,b,c"):
        pick(pool, tiny_model, labels=None)
    with pytest.raises(UserError, match=r"every row of .*pool\.csv is labelled"):
        gold = pd.read_csv(tmp_path / "gold.csv", dtype=str)
        gold.to_csv(tmp_path / "labels.csv", index=False)
        pick(pool, tiny_model, labelled_path=tmp_path / "labels.csv", out=tmp_path / "o.csv")
    assert not (tmp_path / "o.csv").exists()


def test_bad_input_is_one_error_line_exit_2_and_nothing_written(tmp_path: Path) -> None:
    (tmp_path / "pool.csv").write_text("id,text\n1,late flight\n2,great crew\n1,lost bag\n")
    (tmp_path / "labels.csv").write_text("id,text,label\n1,late flight,negative\n")
    (tmp_path / "filled.csv").write_text("id,text,label\n1,late flight,positive\n")
    before = snapshot(tmp_path)
    done = domaintune("label", "pick", "pool.csv", "--labels", LABELS, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        "error: pool.csv: the id '1' is on rows 1, 3: ids must be unique, so that each label "
        "finds its row"
    ]
    done = domaintune(
        "label", "import", "filled.csv", "--into", "labels.csv", "--labels", LABELS, cwd=tmp_path
    )
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert "row 1 labels the id '1' 'positive', but labels.csv already has it as 'negative'" in line
    assert snapshot(tmp_path) == before
