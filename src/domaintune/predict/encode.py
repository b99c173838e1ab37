"""Texts to the padded numpy arrays a backend takes, for prediction.

A fast (Rust) tokenizer is called directly, through its own copy of the `tokenizers` core set once
to truncate and pad as the Transformers tokenizer would: the Transformers call sets those options
again and converts its outputs on every call, about 0.25 ms of Python per call, which at batch 1
is a tenth of an int8 model's time. The ids are the same (tests/predict compares them); a
tokenizer without a Rust core, or with inputs other than ids, types and mask, is called as it is.

An input is a text, or a pair of texts (a model trained on two fields with `data.text_pair`):
encoded as the tokenizer's sentence pairs, the longer one cut first when over the limit.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
from transformers import PreTrainedTokenizerBase

ModelInput = str | tuple[str, str]
"""A text, or a pair of texts."""
Encode = Callable[[list[ModelInput]], dict[str, np.ndarray]]
FIELDS = {"input_ids": "ids", "token_type_ids": "type_ids", "attention_mask": "attention_mask"}
"""Model inputs, and the `tokenizers.Encoding` attribute that holds each."""


def transformers_encoder(tokenizer: PreTrainedTokenizerBase, *, max_length: int) -> Encode:
    def encode(texts: list[ModelInput]) -> dict[str, np.ndarray]:
        parts = (
            [list(part) for part in zip(*texts)]
            if texts and isinstance(texts[0], tuple)
            else [texts]
        )
        batch = tokenizer(
            *parts,
            truncation="longest_first",
            max_length=max_length,
            padding=True,
            return_tensors="np",
        )
        return dict(batch)

    return encode


def core_encoder(tokenizer: PreTrainedTokenizerBase, *, max_length: int) -> Encode | None:
    """The direct call of a fast tokenizer's core, or None where it cannot give the same."""
    core = getattr(tokenizer, "backend_tokenizer", None)
    names = list(tokenizer.model_input_names)
    if core is None or tokenizer.pad_token_id is None or not set(names) <= set(FIELDS):
        return None
    core = copy.deepcopy(core)  # its options are set here once, and the tokenizer's left alone
    core.enable_truncation(
        max_length, strategy="longest_first", direction=tokenizer.truncation_side
    )
    core.enable_padding(
        direction=tokenizer.padding_side,
        pad_id=tokenizer.pad_token_id,
        pad_type_id=tokenizer.pad_token_type_id,
        pad_token=tokenizer.pad_token,
    )
    fields = [(name, FIELDS[name]) for name in names]
    batch_encode = getattr(core, "encode_batch_fast", core.encode_batch)  # no character offsets

    def encode(texts: list[ModelInput]) -> dict[str, np.ndarray]:
        encodings = batch_encode(texts)
        return {
            name: np.array([getattr(e, field) for e in encodings], dtype=np.int64)
            for name, field in fields
        }

    return encode


def encoder(tokenizer: PreTrainedTokenizerBase, *, max_length: int) -> Encode:
    """The fastest way this tokenizer gives truncated, padded int64 arrays."""
    return core_encoder(tokenizer, max_length=max_length) or transformers_encoder(
        tokenizer, max_length=max_length
    )
