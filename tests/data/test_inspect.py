from __future__ import annotations

from domaintune.data.inspect import summary, verdict


def card(**changes) -> dict:
    steps = {
        "exact_duplicates": {"removed": 0, "changed": 0},
        "near_duplicates": {"removed": 0, "changed": 0},
        "conflicts": {"removed": 0, "changed": 0},
        "too_short": {"removed": 0, "changed": 0},
        "label_audit": {"removed": 0, "changed": 0, "rows_before": 1000},
    }
    for name, step in changes.pop("steps", {}).items():
        steps[name].update(step)
    base = {
        "rows_read": 1000,
        "classes": {"clean": {"a": 500, "b": 500}},
        "lengths": {"train": {"words_p50": 12.0, "words_p99": 40.0, "words_max": 60}},
        "language": "en",
        "steps": [{"name": name, **step} for name, step in steps.items()],
        "label_audit": {"mode": "flag", "likely_errors": 10, "flagged": 40},
    }
    return base | changes


def test_clean_balanced_data_gets_a_clean_verdict() -> None:
    assert verdict(card()) == ["nothing stands out: the data looks ready to train on"]


def test_verdict_names_each_problem_with_its_count() -> None:
    problems = card(
        classes={"clean": {"a": 900, "b": 60}},
        label_audit={"mode": "flag", "likely_errors": 120, "flagged": 200},
        steps={"exact_duplicates": {"removed": 80}, "conflicts": {"changed": 4}},
    )
    advice = verdict(problems)
    assert advice[0].startswith("120 labels (12%) look wrong")
    assert any("few examples of b (60)" in line for line in advice)
    assert any("imbalanced (15.0:1)" in line for line in advice)
    assert any(line.startswith("80 duplicates") for line in advice)
    assert any(line.startswith("4 rows share a text") for line in advice)


def test_summary_reads_the_card() -> None:
    rows = dict(summary(card(steps={"exact_duplicates": {"removed": 7}})))
    assert rows["exact duplicates"] == "7"
    assert rows["balance"] == "largest / smallest class = 1.0"
    assert rows["suspected label errors"].startswith("10 likely (1.0%), 40 doubtful")
