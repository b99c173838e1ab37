"""multi_label through prepare: label sets read from lists and strings, pruned, split by label."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from domaintune.config import PrepareConfig, build_config
from domaintune.data.labels import drop_rare_labels, label_set, map_label_sets, map_labels
from domaintune.data.prepare import run_prepare
from domaintune.data.split import iterative_assignment, split_label_sets
from domaintune.errors import UserError
from domaintune.rundir import RunDir
from domaintune.runfiles import DataCard
from tests.helpers import make_tagged_tickets, write_tagged_tickets

MULTI = {"task": {"objective": "multi_label"}}


@pytest.mark.parametrize(
    ("value", "separator", "labels"),
    [
        (["login", "billing", "login"], None, ("billing", "login")),
        (np.array(["bug"]), None, ("bug",)),
        ('["bug", " feature "]', None, ("bug", "feature")),
        ("bug, feature,", None, ("bug", "feature")),
        ("bug|a,b", "|", ("a,b", "bug")),
        ([], None, ()),
        ("[]", None, ()),
        ("  ", None, None),
        (None, None, None),
        (5.0, None, ("5",)),
    ],
)
def test_label_set(value: object, separator: str | None, labels: tuple | None) -> None:
    assert label_set(value, separator=separator) == labels


def test_empty_lists_are_dropped_and_counted_and_mapping_applies_per_label() -> None:
    frame = pd.DataFrame({"text": list("abcd"), "label": [["billing", "x"], [], None, "login,x"]})
    kept, steps = map_label_sets(
        frame,
        mapping={"billing": "money", "login": "access"},
        separator=None,
        source="t.jsonl",
        examples=5,
    )
    assert kept["label"].tolist() == [("money",), ("access",)]
    assert {s.name: s.removed for s in steps} == {
        "missing_label": 1,
        "map_labels": 0,
        "empty_labels": 1,
    }
    assert "(x)" in steps[1].description


def test_all_empty_lists_and_unreadable_labels_are_one_line_errors_naming_the_row() -> None:
    empty = pd.DataFrame({"text": list("abc"), "label": [None, [], "[]"]})
    with pytest.raises(UserError, match=r"t.jsonl: every row's label list is empty .*row 2"):
        map_label_sets(empty, mapping={}, separator=None, source="t.jsonl", examples=5)
    nested = pd.DataFrame({"text": list("ab"), "label": [["bug"], [["bug", "login"]]]})
    with pytest.raises(UserError, match=r"t.jsonl: row 2 has a label that cannot be read") as info:
        map_label_sets(nested, mapping={}, separator=None, source="t.jsonl", examples=5)
    assert "\n" not in str(info.value)
    broken = pd.DataFrame({"text": ["a"], "label": ['["bug", ']})
    with pytest.raises(UserError, match="row 1"):
        map_label_sets(broken, mapping={}, separator=None, source="t.csv", examples=5)


def test_rare_labels_leave_the_sets_and_rows_left_without_one_go() -> None:
    sets = [("bug",)] * 10 + [("login",)] * 10 + [("bug", "rare")] * 2 + [("rare",)]
    frame = pd.DataFrame({"text": [f"t{i}" for i in range(len(sets))], "label": sets})
    kept, step = drop_rare_labels(frame, PrepareConfig(), source="t", examples=5)
    assert set(kept["label"]) == {("bug",), ("login",)}
    assert (step.removed, step.changed) == (1, 3)
    assert "(rare)" in step.description
    with pytest.raises(UserError, match="1 label"):
        drop_rare_labels(
            frame[frame["label"] != ("login",)], PrepareConfig(), source="t", examples=5
        )


def test_iterative_split_spreads_every_label_in_the_configured_shares() -> None:
    frame = make_tagged_tickets(400).assign(label=lambda f: f["label"].map(tuple))
    prepare = PrepareConfig(validation_size=0.1, test_size=0.2)
    parts = split_label_sets(frame, prepare)
    assert sum(map(len, parts.values())) == 400
    assert set().union(*(set(p["text"]) for p in parts.values())) == set(frame["text"])
    totals = frame["label"].explode().value_counts()
    for name, share in (("train", 0.7), ("validation", 0.1), ("test", 0.2)):
        counts = parts[name]["label"].explode().value_counts()
        for label, total in totals.items():
            assert abs(counts[label] - share * total) <= 1.0, (name, label)
    again = split_label_sets(frame, prepare)
    assert again["test"]["text"].tolist() == parts["test"]["text"].tolist()


def test_iterative_assignment_gives_a_rare_label_rows_in_every_part() -> None:
    members = np.zeros((100, 2), dtype=bool)
    members[:90, 0] = True
    members[90:, 1] = True
    part = iterative_assignment(members, [0.8, 0.1, 0.1], seed=0)
    assert np.bincount(part[90:]).tolist() == [8, 1, 1]
    assert np.bincount(part).tolist() == [80, 10, 10]


@pytest.mark.parametrize("form", ["jsonl", "parquet", "csv"])
def test_prepare_writes_label_lists_and_a_card_per_label(tmp_path: Path, form: str) -> None:
    path = write_tagged_tickets(tmp_path)
    separator = None
    if form == "parquet":
        frame = pd.read_json(path, lines=True)
        path = tmp_path / "tagged.parquet"
        frame.to_parquet(path)
    elif form == "csv":
        frame = pd.read_json(path, lines=True)
        frame["label"] = frame["label"].map("|".join)
        path = tmp_path / "tagged.csv"
        frame.to_csv(path, index=False)
        separator = "|"
    config = build_config({**MULTI, "data": {"source": str(path), "label_separator": separator}})
    run = RunDir(tmp_path / "run")
    card = run_prepare(config, run)
    train = pd.read_parquet(run.split("train"))
    assert isinstance(train["label"].iloc[0], np.ndarray)
    assert card.labels == ["billing", "bug", "feature", "login"]
    assert card.classes.raw == {"login": 134, "feature": 133, "billing": 80, "bug": 80}
    assert set(card.splits["test"]) == set(card.labels)
    assert sum(card.splits["train"].values()) == sum(len(x) for x in train["label"])
    assert card.objective == "multi_label"
    assert 1.2 < card.label_sets["train"]["cardinality"] < 1.45
    assert card.step("label_audit").description.startswith("confident learning (cleanlab, multi")
    assert DataCard.read(run.card) == card


def test_a_classification_card_has_no_multi_label_fields(tmp_path: Path, tickets_csv: Path) -> None:
    run = RunDir(tmp_path / "run")
    run_prepare(build_config({"data": {"source": str(tickets_csv)}}), run)
    text = run.card.read_text()
    assert "objective" not in text and "label_sets" not in text


def test_resampling_and_a_separator_without_multi_label_are_refused() -> None:
    with pytest.raises(UserError, match="cannot balance label sets"):
        build_config({**MULTI, "prepare": {"balance": "oversample"}})
    with pytest.raises(UserError, match=r"only with task\.objective: multi_label"):
        build_config({"data": {"label_separator": "|"}})


def test_the_audit_finds_label_sets_planted_wrong(tmp_path: Path) -> None:
    frame = make_tagged_tickets(400)
    planted = frame.index % 20 == 7
    frame.loc[planted, "label"] = frame.loc[planted, "label"].map(
        lambda labels: ["bug"] if "bug" not in labels else ["billing"]
    )
    path = tmp_path / "noisy.parquet"
    frame.to_parquet(path)
    run = RunDir(tmp_path / "run")
    config = build_config({**MULTI, "data": {"source": str(path)}})
    card = run_prepare(config, run)
    audit = pd.read_parquet(run.label_audit)
    likely = set(audit.loc[audit["likely_error"], "text"])
    wrong = set(frame.loc[planted, "text"])
    assert likely and likely <= wrong  # confident learning accuses no clean row here
    assert len(set(audit["text"]) & wrong) >= 0.8 * len(wrong)  # most are at least flagged
    assert len(audit) <= 2 * len(wrong)
    assert card.label_audit.likely_errors == len(likely)
    assert set(audit["split"]) <= {"train", "validation", "test", "dropped"}


def test_lists_under_classification_point_to_multi_label(tmp_path: Path) -> None:
    frame = pd.DataFrame({"text": ["a b", "c d", "e f"], "label": [["x"], "y", ["x", "y"]]})
    _, steps = map_labels(frame, mapping={}, examples=5)
    assert steps[0].removed == 2 and "2 hold a list of labels" in steps[0].description
    path = write_tagged_tickets(tmp_path)
    with pytest.raises(UserError, match=r"every label is a list .*--objective multi_label"):
        run_prepare(build_config({"data": {"source": str(path)}}), RunDir(tmp_path / "run"))


def test_a_split_column_keeps_the_users_test_label_sets_and_validation_is_carved_by_label(
    tmp_path: Path,
) -> None:
    frame = make_tagged_tickets(320)
    frame["part"] = np.where(np.arange(320) % 5 == 0, "test", "train")
    path = tmp_path / "tagged.jsonl"
    frame.to_json(path, orient="records", lines=True)
    config = build_config({**MULTI, "data": {"source": str(path), "split_column": "part"}})
    run = RunDir(tmp_path / "run")
    card = run_prepare(config, run)
    test = pd.read_parquet(run.split("test"))
    assert set(test["text"]) == set(frame.loc[frame["part"] == "test", "text"])
    assert card.split.method == "split_column"
    assert card.split.made == {"validation": "random", "test": "given"}
    validation = pd.read_parquet(run.split("validation"))
    assert set(validation["label"].explode()) == set(card.labels)  # every label carved into it
    train = pd.read_parquet(run.split("train"))
    carved = validation["label"].explode().value_counts()
    before = pd.concat([train, validation])["label"].explode().value_counts()
    for label, total in before.items():  # each label's share as configured, not only the rows'
        assert abs(carved[label] - 0.1 * total) <= 1.0, label
    assert card.split.rows["test"] == len(test)


def test_a_time_split_of_label_sets_tests_on_the_latest_rows(tmp_path: Path) -> None:
    frame = make_tagged_tickets(320)
    frame["created"] = pd.date_range("2024-01-01", periods=320, freq="D").strftime("%Y-%m-%d")
    frame = frame.sample(frac=1, random_state=0)
    path = tmp_path / "tagged.jsonl"
    frame.to_json(path, orient="records", lines=True)
    config = build_config(
        {
            **MULTI,
            "data": {"source": str(path), "time_column": "created"},
            "prepare": {"split": "time"},
        }
    )
    run = RunDir(tmp_path / "run")
    card = run_prepare(config, run)
    assert card.split.made == {"validation": "time", "test": "time"}
    latest = frame.sort_values("created")["text"].tail(len(pd.read_parquet(run.split("test"))))
    assert set(pd.read_parquet(run.split("test"))["text"]) == set(latest)
    assert card.split.time_range["train"][1] < card.split.time_range["test"][0]


def test_chunks_are_refused_for_multi_label_and_head_tail_is_kept() -> None:
    with pytest.raises(
        UserError, match=r"chunks is not supported with task\.objective: multi_label"
    ):
        build_config({**MULTI, "model": {"long_text": "chunks"}})
    assert (
        build_config({**MULTI, "model": {"long_text": "head_tail"}}).model.long_text == "head_tail"
    )


def test_multi_label_balances_nothing_unless_asked() -> None:
    assert build_config(MULTI).prepare.balance == "none"
    asked = build_config({**MULTI, "prepare": {"balance": "class_weights"}})
    assert asked.prepare.balance == "class_weights"
    assert build_config({}).prepare.balance == "class_weights"  # one label per text: unchanged
