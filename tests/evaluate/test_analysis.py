from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from domaintune.evaluate.analysis import (
    audited_mistakes,
    by_length,
    confident_mistakes,
    confused_pairs,
    scores_on_trusted_rows,
)

LABELS = ["a", "b"]
PREDICTIONS = pd.DataFrame(
    {
        "text": ["one", "two words", "three words here", "four words in all", "five"],
        "label": ["a", "a", "b", "b", "a"],
        "predicted": ["a", "b", "a", "b", "b"],
        "p_a": [0.9, 0.3, 0.8, 0.1, 0.45],
        "p_b": [0.1, 0.7, 0.2, 0.9, 0.55],
    }
)


def test_confident_mistakes_come_first() -> None:
    mistakes = confident_mistakes(PREDICTIONS, LABELS, count=2)
    assert mistakes["text"].tolist() == ["three words here", "two words"]
    assert mistakes["confidence"].tolist() == [0.8, 0.7]


def test_confused_pairs_count_and_show_examples() -> None:
    pairs = confused_pairs(PREDICTIONS, LABELS, pairs=3, examples=1)
    assert pairs[0] == {
        "true": "a",
        "predicted": "b",
        "count": 2,
        "share": 2 / 3,
        "examples": ["two words"],
    }
    assert pairs[1]["true"] == "b" and pairs[1]["count"] == 1


def test_length_buckets_cover_every_row_shortest_first() -> None:
    buckets = by_length(
        PREDICTIONS["text"],
        PREDICTIONS["label"].to_numpy(),
        PREDICTIONS["predicted"].to_numpy(),
        buckets=2,
    )
    assert sum(b["rows"] for b in buckets) == 5
    assert buckets[0]["max_words"] < buckets[1]["min_words"]
    assert buckets[0]["accuracy"] == np.mean([True, False, False])  # one, two words, five


def test_audited_mistakes_are_wrong_test_rows_the_audit_flagged() -> None:
    audit = pd.DataFrame(
        {
            "split": ["test", "test", "train"],
            "text": ["three words here", "four words in all", "two words"],
            "label": ["b", "b", "a"],
            "suggested_label": ["a", "a", "b"],
            "label_quality": [0.1, 0.2, 0.05],
        }
    )
    found = audited_mistakes(PREDICTIONS, audit)
    # 'four words in all' is flagged but predicted right; 'two words' is flagged in train only
    assert found["text"].tolist() == ["three words here"]
    assert audited_mistakes(PREDICTIONS, None) is None


def test_scores_on_trusted_rows_leave_out_the_doubted_labels() -> None:
    """Catches scoring the doubted rows, or every row, instead of the trusted ones."""
    gold = PREDICTIONS["label"].to_numpy()
    model = PREDICTIONS["predicted"].to_numpy()
    always_a = np.array(["a"] * 5)
    doubted = {"two words", "three words here"}  # two of the model's three mistakes
    found = scores_on_trusted_rows(
        PREDICTIONS["text"], gold, {"model": model, "majority": always_a}, doubted
    )
    # left: one (a -> a), four words in all (b -> b), five (a -> b)
    assert found["rows"] == 3 and found["doubted_rows"] == 2
    assert found["macro_f1"]["model"] == pytest.approx((2 / 3 + 2 / 3) / 2)
    assert found["macro_f1"]["majority"] == pytest.approx((0.8 + 0) / 2)


def test_scores_on_trusted_rows_are_none_when_the_audit_doubts_none_or_all() -> None:
    gold = PREDICTIONS["label"].to_numpy()
    model = {"model": PREDICTIONS["predicted"].to_numpy()}
    assert scores_on_trusted_rows(PREDICTIONS["text"], gold, model, {"not a test text"}) is None
    assert (
        scores_on_trusted_rows(PREDICTIONS["text"], gold, model, set(PREDICTIONS["text"])) is None
    )
