from __future__ import annotations

import pandas as pd

from domaintune.config import PrepareConfig
from domaintune.data.dedup import drop_duplicates, drop_near_duplicates


def frame_with_conflict() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "text": ["Late again", "late again", "late again", "thanks", "thanks", "seat"],
            "label": ["neg", "neg", "neu", "pos", "pos", "neu"],
        }
    )


def test_duplicates_and_conflicts_resolved_by_majority() -> None:
    kept, (conflicts, duplicates) = drop_duplicates(
        frame_with_conflict(), PrepareConfig(), examples=5
    )
    assert sorted(zip(kept["text"], kept["label"])) == [
        ("Late again", "neg"),
        ("seat", "neu"),
        ("thanks", "pos"),
    ]
    assert conflicts.changed == 3 and conflicts.examples[0]["labels"] == ["neg", "neu"]
    assert duplicates.removed == 3


def test_conflicts_can_be_dropped() -> None:
    kept, (conflicts, _) = drop_duplicates(
        frame_with_conflict(), PrepareConfig(conflicts="drop"), examples=5
    )
    assert sorted(kept["text"]) == ["seat", "thanks"]
    assert conflicts.removed == 3


def near_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "text": ["late again", "late again!", "late again #fail", "late again?", "thanks"],
            "label": ["neg", "neg", "neg", "neu", "pos"],
            "group": [0, 0, 0, 0, 1],
        }
    )


def test_near_duplicates_keep_one_row_per_label_of_a_group() -> None:
    kept, step = drop_near_duplicates(near_frame(), PrepareConfig(), examples=5)
    assert kept["text"].tolist() == ["late again", "late again?", "thanks"]
    assert (
        step.removed == 2 and "4 rows are in groups that carry different labels" in step.description
    )
    assert step.examples[0]["labels"] == ["neg", "neu"]


def test_near_duplicates_can_be_kept() -> None:
    kept, step = drop_near_duplicates(
        near_frame(), PrepareConfig(drop_near_duplicates=False), examples=5
    )
    assert len(kept) == 5 and step.removed == 0 and step.changed == 2


def test_a_text_in_two_given_splits_keeps_its_test_copy_whatever_the_labels() -> None:
    """The user's test row is never dropped or relabelled for a training row; repeats within
    one split are resolved as usual."""
    frame = pd.DataFrame(
        {
            "text": ["late again", "Late again", "thanks", "thanks", "seat", "seat", "gate"],
            "label": ["neg", "neu", "pos", "pos", "neu", "neu", "neu"],
            "split": ["train", "test", "train", "validation", "test", "test", "train"],
        }
    )
    kept, (across, conflicts, duplicates) = drop_duplicates(frame, PrepareConfig(), examples=5)
    assert sorted(zip(kept["text"], kept["label"], kept["split"])) == [
        ("Late again", "neu", "test"),
        ("gate", "neu", "train"),
        ("seat", "neu", "test"),
        ("thanks", "pos", "validation"),
    ]
    assert across.removed == 2 and "1 of them carried another label" in across.description
    assert {e["split"] for e in across.examples} == {"train"}
    assert conflicts.changed == 0 and duplicates.removed == 1


def test_near_duplicates_are_kept_once_per_given_split() -> None:
    frame = near_frame().assign(split=["train", "test", "test", "train", "train"])
    kept, _ = drop_near_duplicates(frame, PrepareConfig(), examples=5)
    assert kept["text"].tolist() == ["late again", "late again!", "late again?", "thanks"]
