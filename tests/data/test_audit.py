from __future__ import annotations

import numpy as np
import pandas as pd

from domaintune.config import PrepareConfig
from domaintune.data.audit import TextFeatures, audit_labels, drop_doubted
from tests.helpers import make_rows


def rows_with_flipped_labels() -> tuple[pd.DataFrame, list[int]]:
    frame = make_rows(600, seed=3).assign(row=range(600))
    flipped = list(range(0, 600, 40))
    other = {"negative": "positive", "positive": "neutral", "neutral": "negative"}
    frame.loc[flipped, "label"] = frame.loc[flipped, "label"].map(other)
    return frame, flipped


def test_flipped_labels_are_found_and_ranked_first() -> None:
    frame, flipped = rows_with_flipped_labels()
    step, flagged = audit_labels(frame, PrepareConfig(), examples=3)
    assert step.rows_after == step.rows_before == len(frame)  # the audit itself drops nothing
    assert set(flipped) <= set(flagged["row"])
    assert set(flagged["row"].head(len(flipped))) == set(flipped)
    assert flagged["label_quality"].is_monotonic_increasing
    true_label = make_rows(600, seed=3)["label"]
    assert (flagged.set_index("row").loc[flipped, "suggested_label"] == true_label[flipped]).all()
    assert step.changed == int(flagged["likely_error"].sum()) and len(step.examples) == 3


def test_drop_doubted_removes_the_likely_errors_from_the_split_it_is_given() -> None:
    frame, flipped = rows_with_flipped_labels()
    _, flagged = audit_labels(frame, PrepareConfig(label_audit="drop"), examples=3)
    train = frame.iloc[:400]
    kept, dropped = drop_doubted(train, flagged, examples=2)
    likely = set(flagged.loc[flagged["likely_error"], "row"])
    assert not set(flipped) & set(kept["row"])
    assert set(kept["row"]) == set(train["row"]) - likely  # doubtful but not likely: kept
    assert dropped.removed == len(set(train["row"]) & likely) >= len(flipped) * 400 // 600
    assert len(dropped.examples) == 2 and dropped.examples[0]["text"] in set(train["text"])


def test_rows_hashed_once_give_the_features_that_hashing_them_again_gives() -> None:
    texts = make_rows(300, seed=5)["text"].to_numpy()
    features = TextFeatures(texts, np.arange(len(texts)))
    rows = np.array([299, 3, 150, 3])
    again = features.tfidf.transform(features.hashing.transform(texts[rows]))
    assert features.every_row is not None
    assert (features(rows) != again).nnz == 0 and features(rows).shape == again.shape


def test_data_beyond_the_sample_is_hashed_when_asked() -> None:
    texts = make_rows(300, seed=5)["text"].to_numpy()
    features = TextFeatures(texts, np.arange(0, 300, 2))
    rows = np.array([1, 7, 299])
    assert features.every_row is None
    assert features(rows).shape[0] == 3 and features(rows).nnz > 0


def test_drop_doubted_under_cross_validation_says_the_dropped_rows_are_not_scored() -> None:
    frame, _ = rows_with_flipped_labels()
    _, flagged = audit_labels(frame, PrepareConfig(label_audit="drop"), examples=3)
    _, held_out = drop_doubted(frame, flagged, examples=1)
    _, every_row = drop_doubted(frame, flagged, examples=1, scored=True)
    assert "validation and test keep theirs" in held_out.description
    assert "not scored either" in every_row.description
