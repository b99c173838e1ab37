from __future__ import annotations

import numpy as np
import pandas as pd

from domaintune.config import PrepareConfig
from domaintune.data.audit import TextFeatures, audit_labels
from tests.helpers import make_rows


def rows_with_flipped_labels() -> tuple[pd.DataFrame, list[int]]:
    frame = make_rows(600, seed=3).assign(row=range(600))
    flipped = list(range(0, 600, 40))
    other = {"negative": "positive", "positive": "neutral", "neutral": "negative"}
    frame.loc[flipped, "label"] = frame.loc[flipped, "label"].map(other)
    return frame, flipped


def test_flipped_labels_are_found_and_ranked_first() -> None:
    frame, flipped = rows_with_flipped_labels()
    kept, step, flagged = audit_labels(frame, PrepareConfig(), examples=3)
    assert len(kept) == len(frame)  # flag only, by default
    assert set(flipped) <= set(flagged["row"])
    assert set(flagged["row"].head(len(flipped))) == set(flipped)
    assert flagged["label_quality"].is_monotonic_increasing
    true_label = make_rows(600, seed=3)["label"]
    assert (flagged.set_index("row").loc[flipped, "suggested_label"] == true_label[flipped]).all()
    assert step.changed == int(flagged["likely_error"].sum()) and len(step.examples) == 3


def test_drop_mode_removes_the_likely_errors() -> None:
    frame, flipped = rows_with_flipped_labels()
    kept, step, flagged = audit_labels(frame, PrepareConfig(label_audit="drop"), examples=3)
    assert not set(flipped) & set(kept["row"])
    assert step.removed == int(flagged["likely_error"].sum()) >= len(flipped)
    assert np.isin(flagged.loc[flagged["likely_error"], "row"], kept["row"]).sum() == 0


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
