from __future__ import annotations

import numpy as np
import pandas as pd

from domaintune.config import PrepareConfig
from domaintune.data.audit import audit_labels
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
