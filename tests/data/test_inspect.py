from __future__ import annotations

from typing import Any

from domaintune.data.card import StepName
from domaintune.data.inspect import summary, verdict
from domaintune.runfiles import DataCard
from tests import runfile_examples as examples


def card(steps: dict[StepName, dict[str, int]] | None = None, **changes: Any) -> DataCard:
    """Two classes of 500, 10 likely label errors: a card with nothing wrong but `changes`."""
    steps = steps or {}
    fields = {
        "labels": ["a", "b"],
        "classes": {"raw": {"a": 500, "b": 500}, "clean": {"a": 500, "b": 500}},
        "steps": [examples.step(name, **steps.get(name, {})) for name in StepName],
        "label_audit": {"mode": "flag", "likely_errors": 10, "flagged": 40, "by_split": {}},
    }
    return examples.card(**(fields | changes))


def test_clean_balanced_data_gets_a_clean_verdict() -> None:
    assert verdict(card()) == ["nothing stands out: the data looks ready to train on"]


def test_verdict_names_each_problem_with_its_count() -> None:
    problems = card(
        classes={"raw": {"a": 900, "b": 60}, "clean": {"a": 900, "b": 60}},
        label_audit={"mode": "flag", "likely_errors": 120, "flagged": 200, "by_split": {}},
        steps={StepName.EXACT_DUPLICATES: {"removed": 80}, StepName.CONFLICTS: {"changed": 4}},
    )
    advice = verdict(problems)
    assert advice[0].startswith("120 labels (12%) look wrong")
    assert any("few examples of b (60)" in line for line in advice)
    assert any("imbalanced (15.0:1)" in line for line in advice)
    assert any(line.startswith("80 duplicates") for line in advice)
    assert any(line.startswith("4 rows share a text") for line in advice)


def test_summary_reads_the_card() -> None:
    rows = dict(summary(card(steps={StepName.EXACT_DUPLICATES: {"removed": 7}})))
    assert rows["exact duplicates"] == "7"
    assert rows["balance"] == "largest / smallest class = 1.0"
    assert rows["suspected label errors"].startswith("10 likely (1.0%), 40 doubtful")


def test_a_users_split_is_summarised_and_its_twins_and_gaps_advised() -> None:
    given = card(
        steps={StepName.CROSS_SPLIT_DUPLICATES: {"removed": 2, "rows_after": 998}},
        split={
            "method": "split_column",
            "split_column": "part",
            "made": {"validation": "random", "test": "given"},
            "rows": {"train": 800, "validation": 80, "test": 118},
            "near_train_kept": {"test": 3},
            "warnings": ["class 'b' has no rows in the test split you gave"],
        },
    )
    rows = dict(summary(given))
    assert rows["split"] == "split column: validation carved (random), test as given"
    advice = verdict(given)
    assert advice[0].startswith("5 rows of your held-out splits repeat or nearly repeat")
    assert advice[1] == "class 'b' has no rows in the test split you gave"
