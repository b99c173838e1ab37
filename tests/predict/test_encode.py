"""Prediction's tokenising: the fast tokenizer's core called directly gives the Transformers
tokenizer's own arrays."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from transformers import AutoTokenizer

from domaintune.predict.encode import core_encoder, encoder, transformers_encoder

TEXTS = [
    "thanks",
    "",
    "late delayed cancelled lost rude broken angry worst terrible refund waiting " * 12,
    "Émoji 🎉 and 日本語, tabs\tand\nnew lines",
    "the flight was great",
]
"""Short, empty, longer than the token limit (cut), and characters a normaliser changes."""


@pytest.mark.parametrize("side", ["right", "left"])
def test_the_core_gives_the_tokenizers_own_arrays(tiny_model: Path, side: str) -> None:
    """Catches ids, padding, truncation or special tokens that differ from the Transformers
    call, which would give the model other inputs than evaluate's scoring gave it."""
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    tokenizer.padding_side = tokenizer.truncation_side = side
    before = tokenizer.backend_tokenizer.truncation, tokenizer.backend_tokenizer.padding
    fast = core_encoder(tokenizer, max_length=24)
    assert fast is not None
    fast(TEXTS)
    assert (tokenizer.backend_tokenizer.truncation, tokenizer.backend_tokenizer.padding) == before
    slow = transformers_encoder(tokenizer, max_length=24)
    for batch in (TEXTS, TEXTS[:1], TEXTS[2:4]):
        got, expected = fast(batch), slow(batch)
        assert list(got) == list(expected)
        for name in expected:
            assert got[name].dtype == np.int64 and np.array_equal(got[name], expected[name])


def test_a_tokenizer_with_other_inputs_is_called_as_it_is(tiny_model: Path) -> None:
    """Catches the direct call dropping an input it does not know (a model would get less)."""
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    tokenizer.model_input_names = ["input_ids", "attention_mask", "special_tokens_mask"]
    assert core_encoder(tokenizer, max_length=24) is None
    batch = encoder(tokenizer, max_length=24)(["thanks"])
    assert batch["input_ids"].shape == (1, 3)


def test_pairs_through_the_core_are_the_tokenizers_own_pairs(tiny_model: Path) -> None:
    """A model trained on a pair of fields: the direct call must give its token types and cut
    the longer text first, as training's Transformers call did."""
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    pairs = [(TEXTS[0], TEXTS[4]), (TEXTS[4], TEXTS[2]), (TEXTS[1], TEXTS[0])]
    fast = core_encoder(tokenizer, max_length=24)
    assert fast is not None
    got, expected = fast(pairs), transformers_encoder(tokenizer, max_length=24)(pairs)
    for name in expected:
        assert np.array_equal(got[name], expected[name])
    assert got["token_type_ids"][0].tolist().count(1) == len(tokenizer(TEXTS[4])["input_ids"]) - 1
    assert got["input_ids"].shape[1] == 24  # the long second text was cut to the limit
