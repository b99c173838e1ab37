from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from domaintune.config import build_config
from domaintune.data.card import StepName
from domaintune.data.prepare import run_prepare
from domaintune.errors import UserError
from domaintune.rundir import RunDir
from domaintune.runfiles import DataCard
from tests.exported import utf16_semicolon_csv
from tests.helpers import add_label_noise, make_rows


def test_prepare_writes_splits_card_and_config(tmp_path: Path, tickets_csv: Path) -> None:
    config = build_config({"data": {"source": str(tickets_csv)}})
    run = RunDir(tmp_path / "run")
    card = run_prepare(config, run)
    parts = {name: pd.read_parquet(run.split(name)) for name in ("train", "validation", "test")}
    assert all(list(part.columns) == ["text", "label"] for part in parts.values())
    assert sum(len(part) for part in parts.values()) == card.rows_kept == 299
    assert DataCard.read(run.card) == card
    assert "@airline great flight & friendly crew" in set().union(
        *(set(p["text"]) for p in parts.values())
    )
    steps = [step.name for step in card.steps]
    assert steps == [
        "read",
        "missing_label",
        "not_text",
        "normalize",
        "too_short",
        "too_long",
        "not_letters",
        "other_language",
        "typos",
        "conflicts",
        "exact_duplicates",
        "near_duplicates",
        "label_audit",
        "leakage",
        "balance",
    ]
    assert card.leakage.near_duplicate_pairs_after == {"train_validation": 0, "train_test": 0}
    audit = pd.read_parquet(run.label_audit)
    assert list(audit.columns) == [
        "text",
        "label",
        "suggested_label",
        "label_quality",
        "likely_error",
        "split",
    ]
    assert card.label_audit.flagged == len(audit)
    assert all(step.rows_after <= step.rows_before for step in card.steps)
    assert run.config.is_file()


def test_drop_mode_removes_doubted_labels_from_train_and_keeps_the_test_rows(
    tmp_path: Path, tickets_csv: Path
) -> None:
    """Catches drop mode shrinking validation or test (which would flatter every score, and make
    runs with and without it incomparable) or leaving likely errors in train."""
    add_label_noise(tickets_csv)
    flagged = run_prepare(
        build_config({"data": {"source": str(tickets_csv)}}), RunDir(tmp_path / "a")
    )
    dropped = build_config(
        {"data": {"source": str(tickets_csv)}, "prepare": {"label_audit": "drop"}}
    )
    card = run_prepare(dropped, RunDir(tmp_path / "b"))
    split = {
        mode: {
            n: pd.read_parquet(RunDir(tmp_path / mode).split(n))
            for n in ("train", "validation", "test")
        }
        for mode in ("a", "b")
    }
    for name in ("validation", "test"):
        pd.testing.assert_frame_equal(split["a"][name], split["b"][name])
    audit = pd.read_parquet(RunDir(tmp_path / "a").label_audit)
    likely_train = set(audit.loc[audit["likely_error"] & (audit["split"] == "train"), "text"])
    assert likely_train, "the added noise should leave likely errors in train"
    assert set(split["b"]["train"]["text"]) == set(split["a"]["train"]["text"]) - likely_train
    step = card.step(StepName.AUDIT_DROP)
    assert step is not None and step.removed == len(likely_train)
    assert flagged.step(StepName.AUDIT_DROP) is None


def test_failed_prepare_keeps_the_previous_data(tmp_path: Path, tickets_csv: Path) -> None:
    run = RunDir(tmp_path / "run")
    run_prepare(build_config({"data": {"source": str(tickets_csv)}}), run)
    before = run.split("train").read_bytes()
    with pytest.raises(UserError):
        run_prepare(build_config({"data": {"source": str(tickets_csv), "text_column": "x"}}), run)
    assert run.split("train").read_bytes() == before


def test_bad_rows_are_counted_and_explained_never_a_crash(tmp_path: Path) -> None:
    """Missing labels, labels outside the mapping, numbers and lists as text, a 1 MB text and a
    file whose lines mix UTF-8 and cp1252: each is counted in the card with its reason."""
    good = make_rows(120, seed=5)
    records = [
        {"body": text, "stars": {"negative": 1, "neutral": 3, "positive": 5}[label]}
        for text, label in zip(good["text"], good["label"])
    ]
    records += [
        {"body": "no label at all here", "stars": None},
        {"body": "a label nobody mapped", "stars": 9},
        {"body": 12345, "stars": 1},
        {"body": ["a", "list"], "stars": 5},
        {"body": "word " * 210_000, "stars": 3},
    ]
    lines = [json.dumps(record, ensure_ascii=False).encode("utf-8") for record in records]
    lines.append(
        json.dumps({"body": "caf\u00e9 au lait was cold", "stars": 1}, ensure_ascii=False).encode(
            "cp1252"
        )
    )
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    config = build_config(
        {
            "data": {
                "source": str(path),
                "text_column": "body",
                "label_column": "stars",
                "label_mapping": {1: "negative", 3: "neutral", 5: "positive"},
            }
        }
    )
    card = run_prepare(config, RunDir(tmp_path / "run"))
    steps = {step.name: step for step in card.steps}
    assert steps["read"].changed == 1 and "not UTF-8" in steps["read"].description
    assert steps["missing_label"].removed == 1
    assert steps["map_labels"].removed == 1 and "(9)" in steps["map_labels"].description
    assert steps["not_text"].removed == 1 and steps["not_text"].changed == 1
    assert steps["too_long"].removed == 1
    texts = set().union(
        *(
            pd.read_parquet(RunDir(tmp_path / "run").split(n))["text"]
            for n in ("train", "validation", "test")
        )
    )
    assert "café au lait was cold" in texts and "12345" not in texts  # digits only: junk


def split_column_data(folder: Path) -> tuple[Path, pd.DataFrame]:
    """Tickets whose every fifth row is the user's test set, with a training row that
    near-duplicates a test row and one that repeats a test text under another label."""
    frame = make_rows(300, seed=3)
    frame["part"] = ["Test" if i % 5 == 0 else "train" for i in range(300)]
    frame.loc[1, ["text", "label"]] = [frame.loc[0, "text"] + " again!!", frame.loc[0, "label"]]
    frame.loc[2, ["text", "label"]] = [frame.loc[5, "text"].upper(), "neutral"]
    path = folder / "tickets.csv"
    frame.to_csv(path, index=False)
    return path, frame


def test_a_split_column_keeps_the_users_test_rows_and_drops_the_leaking_training_copies(
    tmp_path: Path,
) -> None:
    path, frame = split_column_data(tmp_path)
    run = RunDir(tmp_path / "run")
    card = run_prepare(build_config({"data": {"source": str(path), "split_column": "part"}}), run)
    test = pd.read_parquet(run.split("test"))
    assert sorted(test["text"]) == sorted(frame.loc[frame["part"] == "Test", "text"])
    train = set(pd.read_parquet(run.split("train"))["text"])
    assert frame.loc[1, "text"] not in train and frame.loc[2, "text"] not in train
    assert card.split.method == "split_column" and card.split.split_column == "part"
    assert card.split.made == {"validation": "random", "test": "given"}
    assert card.split.near_train_kept == {"test": 1}
    assert card.split.rows["test"] == 60 and card.split.rows["validation"] == 24
    assert card.step("cross_split_duplicates").removed == 1
    assert (
        card.step("leakage").removed == 1
        and "test split you gave" in card.step("leakage").description
    )
    assert card.leakage.near_duplicate_pairs_after["train_test"] == 0


def test_separate_files_give_the_splits_and_a_class_missing_from_test_is_a_warning(
    tmp_path: Path,
) -> None:
    frame = make_rows(330, seed=4)
    test = frame.iloc[300:]
    test = test[test["label"] != "neutral"]
    frame.iloc[:270].to_csv(tmp_path / "train.csv", index=False)
    frame.iloc[270:300].to_csv(tmp_path / "dev.csv", index=False)
    test.to_csv(tmp_path / "test.csv", index=False)
    config = build_config(
        {"data": {"train": str(tmp_path / "train.csv")}},
        [f"data.validation={tmp_path / 'dev.csv'}", f"data.test={tmp_path / 'test.csv'}"],
    )
    run = RunDir(tmp_path / "run")
    card = run_prepare(config, run)
    parts = {name: pd.read_parquet(run.split(name)) for name in ("train", "validation", "test")}
    assert [len(parts[name]) for name in parts] == [270, 30, len(test)]
    assert parts["test"]["text"].tolist() == test["text"].tolist()
    assert card.source == str(tmp_path / "train.csv") and card.split.method == "files"
    assert card.split.files["test"] == str(tmp_path / "test.csv")
    assert card.split.made == {"validation": "given", "test": "given"}
    assert card.split.warnings == [
        "class 'neutral' has no rows in the test split you gave: its test scores cannot be measured"
    ]
    assert DataCard.read(run.card) == card


def test_a_class_with_no_training_rows_is_refused(tmp_path: Path) -> None:
    frame = make_rows(120)
    frame["part"] = ["test" if label == "neutral" else "train" for label in frame["label"]]
    frame.to_csv(tmp_path / "data.csv", index=False)
    config = build_config({"data": {"source": str(tmp_path / "data.csv"), "split_column": "part"}})
    with pytest.raises(UserError, match="class 'neutral' has no training rows after cleaning"):
        run_prepare(config, RunDir(tmp_path / "run"))


def test_a_time_split_tests_on_the_latest_rows_and_gives_each_splits_range(tmp_path: Path) -> None:
    """Support messages over five months, their dates written as an export would mix them."""
    frame = make_rows(300, seed=6)
    stamps = pd.date_range("2024-01-01 08:00", "2024-05-31 18:00", periods=300)
    forms = ["%Y-%m-%d %H:%M", "%d %B %Y %H:%M", "%m/%d/%Y %I:%M %p", "%Y-%m-%dT%H:%M:%SZ"]
    frame["sent"] = [stamp.strftime(forms[i % 4]) for i, stamp in enumerate(stamps)]
    frame = frame.sample(frac=1, random_state=0)  # files are rarely in time order
    frame.to_csv(tmp_path / "messages.csv", index=False)
    run = RunDir(tmp_path / "run")
    card = run_prepare(
        build_config(
            {"data": {"source": str(tmp_path / "messages.csv"), "time_column": "sent"}},
            ["prepare.split=time"],
        ),
        run,
    )
    ranges = card.split.time_range
    assert card.split.method == "time" and card.split.time_column == "sent"
    assert card.split.made == {"validation": "time", "test": "time"}
    assert ranges["train"][1] <= ranges["validation"][0] <= ranges["validation"][1]
    assert ranges["validation"][1] <= ranges["test"][0] and ranges["test"][1] >= "2024-05-31"
    test = pd.read_parquet(run.split("test"))
    latest = frame.assign(when=stamps[frame.index]).sort_values("when")["text"].tail(len(test))
    assert len(test) == 30 and set(test["text"]) == set(latest)


def test_a_utf16_semicolon_export_prepares_its_texts_and_labels(tmp_path: Path) -> None:
    """The issue's file end to end: UTF-16 with a BOM, semicolons, CRLF, texts holding commas,
    semicolons and quotes, as a spreadsheet saves it. Catches NULs in the column names, one
    column `id;text;label;amount`, and texts or labels split or shifted."""
    frame = make_rows(120, seed=3)
    rows = [
        [str(i), f'{text}; "{label}", twice', label, f"{i},50"]
        for i, (text, label) in enumerate(zip(frame["text"], frame["label"]))
    ]
    path = utf16_semicolon_csv(tmp_path, rows)
    card = run_prepare(build_config({"data": {"source": str(path)}}), RunDir(tmp_path / "run"))
    parts = pd.concat(
        pd.read_parquet(RunDir(tmp_path / "run").split(name))
        for name in ("train", "validation", "test")
    )
    label_of = {text: label for _, text, label, _ in rows}
    assert len(parts) == card.rows_kept >= 110
    assert all(label_of[text] == label for text, label in zip(parts["text"], parts["label"]))
    assert "as utf-16" in card.steps[0].description


def test_small_data_keeps_a_class_of_two_rows_and_refuses_resampling(tmp_path: Path) -> None:
    """Cross-validation needs two rows a class, not min_rows_per_class; resampling would put
    copies of a row in a training and a held-out fold, so it is refused with one line."""
    labels = ["common"] * 8 + ["rare"] * 2
    frame = pd.DataFrame({"text": [f"message {i} on {label}" for i, label in enumerate(labels)]})
    frame["label"] = labels
    path = tmp_path / "small.csv"
    frame.to_csv(path, index=False)
    settings = {"data": {"source": str(path)}, "prepare": {"label_audit": "off"}}
    card = run_prepare(build_config(settings), RunDir(tmp_path / "run"))
    assert card.split.method == "cross_validation"
    assert card.split.rows == {"train": 10, "validation": 0, "test": 0}
    with pytest.raises(UserError, match=r"prepare\.balance oversample") as error:
        run_prepare(
            build_config(settings, ["prepare.balance=oversample"]), RunDir(tmp_path / "other")
        )
    assert "\n" not in str(error.value)
    assert not (tmp_path / "other" / "data").exists()
