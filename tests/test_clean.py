from __future__ import annotations

import pandas as pd
import pytest

from domaintune.config import PrepareConfig
from domaintune.data.clean import drop_duplicates, drop_short, normalize, normalize_text, to_text


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("fish &amp; chips", "fish & chips"),
        ("it&#039;s fine", "it's fine"),
        ("&amp;amp; twice", "& twice"),
        ("cafÃ© au lait", "café au lait"),
        ("line\r\nbreak\t and   spaces ", "line break and spaces"),
        ('"quoted review"', "quoted review"),
    ],
)
def test_normalize_text_repairs_real_world_damage(raw: str, clean: str) -> None:
    assert normalize_text(raw, PrepareConfig()) == clean


def test_normalize_can_be_switched_off() -> None:
    options = PrepareConfig(fix_unicode=False, unescape_html=False, normalize_whitespace=False)
    assert normalize_text("a &amp;  b", options) == "a &amp;  b"


@pytest.mark.parametrize(("value", "text"), [(42, "42"), (1.5, "1.5"), (None, ""), (["x"], "")])
def test_to_text(value: object, text: str) -> None:
    assert to_text(value) == text


def test_normalize_counts_changes_with_examples() -> None:
    frame = pd.DataFrame({"text": ["ok", "a &amp; b"], "label": ["x", "y"]})
    cleaned, step = normalize(frame, PrepareConfig(), examples=5)
    assert cleaned["text"].tolist() == ["ok", "a & b"]
    assert step.changed == 1 and step.examples == [{"before": "a &amp; b", "after": "a & b"}]


def test_drop_short_removes_empty_texts() -> None:
    frame = pd.DataFrame({"text": ["", "hello", "x"], "label": ["a", "b", "c"]})
    kept, step = drop_short(frame, PrepareConfig(min_chars=2), examples=5)
    assert kept["text"].tolist() == ["hello"] and step.removed == 2


def frame_with_conflict() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "text": ["Late again", "late again", "late again", "thanks", "thanks", "seat"],
            "label": ["neg", "neg", "neu", "pos", "pos", "neu"],
        }
    )


def test_duplicates_and_conflicts_resolved_by_majority() -> None:
    kept, (conflicts, duplicates) = drop_duplicates(frame_with_conflict(), PrepareConfig(), 5)
    assert sorted(zip(kept["text"], kept["label"])) == [
        ("Late again", "neg"),
        ("seat", "neu"),
        ("thanks", "pos"),
    ]
    assert conflicts.changed == 3 and conflicts.examples[0]["labels"] == ["neg", "neu"]
    assert duplicates.removed == 3


def test_conflicts_can_be_dropped() -> None:
    kept, (conflicts, _) = drop_duplicates(
        frame_with_conflict(), PrepareConfig(conflicts="drop"), 5
    )
    assert sorted(kept["text"]) == ["seat", "thanks"]
    assert conflicts.removed == 3
