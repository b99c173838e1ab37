from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from domaintune.tokencache import choose_max_length, tokenize


@pytest.mark.parametrize(
    ("lengths", "fixed", "limit", "expected"),
    [
        ([10] * 98 + [300, 400], None, 512, 304),  # 99th percentile, rounded up to 8
        ([10] * 100, None, 512, 16),
        ([10] * 98 + [300, 400], None, 128, 128),  # the model's limit wins
        ([10] * 100, 40, 512, 40),
        ([10] * 100, 1024, 512, 512),
    ],
)
def test_choose_max_length(
    lengths: list[int], fixed: int | None, limit: int, expected: int
) -> None:
    assert choose_max_length(lengths, 99.0, limit, fixed) == expected


def test_tokenize_leaves_padding_to_the_collator(tiny_model: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    frame = pd.DataFrame(
        {"text": ["thanks", "late delayed cancelled lost rude"], "label": ["p", "n"]}
    )
    dataset = tokenize(frame, tokenizer, {"n": 0, "p": 1}, max_length=5)
    assert dataset["length"] == [3, 5]
    assert dataset["labels"] == [1, 0]
    assert [len(ids) for ids in dataset["input_ids"]] == [3, 5]
