from __future__ import annotations

import pandas as pd
import pytest

from domaintune.data.balance import balance

TRAIN = pd.DataFrame({"text": [str(i) for i in range(16)], "label": ["a"] * 12 + ["b"] * 4})


@pytest.mark.parametrize(
    ("method", "counts"),
    [
        ("undersample", {"a": 4, "b": 4}),
        ("oversample", {"a": 12, "b": 12}),
        ("class_weights", {"a": 12, "b": 4}),
        ("none", {"a": 12, "b": 4}),
    ],
)
def test_balance_methods(method: str, counts: dict[str, int]) -> None:
    balanced, step = balance(TRAIN, method=method, seed=0)
    assert balanced["label"].value_counts().to_dict() == counts
    assert step.examples[0] == {"before": {"a": 12, "b": 4}, "after": counts}
    assert set(balanced["text"]) <= set(TRAIN["text"])
