from __future__ import annotations

import pandas as pd
import pytest

from domaintune.config import PrepareConfig
from domaintune.data.labels import check_classes, label_name, map_labels
from domaintune.errors import UserError


@pytest.mark.parametrize(
    ("value", "name"),
    [(5.0, "5"), (5, "5"), (" pos ", "pos"), ("", None), (None, None), (float("nan"), None)],
)
def test_label_name(value: object, name: str | None) -> None:
    assert label_name(value) == name


def test_mapping_drops_unmapped_and_missing_labels() -> None:
    frame = pd.DataFrame({"text": list("abcde"), "label": [1.0, 5.0, 3.0, None, 5]})
    mapped, steps = map_labels(frame, mapping={"1": "negative", "5": "positive"}, examples=5)
    assert mapped["label"].tolist() == ["negative", "positive", "positive"]
    assert [s.removed for s in steps] == [1, 1]
    assert "(3)" in steps[1].description


def test_single_class_is_refused() -> None:
    frame = pd.DataFrame({"text": list("abc"), "label": ["x"] * 3})
    with pytest.raises(UserError, match="only the class 'x'"):
        check_classes(frame, PrepareConfig(), source="data.csv")


def test_too_small_class_is_named() -> None:
    frame = pd.DataFrame({"text": list("abcdefghijklm"), "label": ["big"] * 10 + ["tiny"] * 3})
    with pytest.raises(UserError, match="class 'tiny' has only 3"):
        check_classes(frame, PrepareConfig(), source="data.csv")
    check_classes(frame, PrepareConfig(min_rows_per_class=3), source="data.csv")
