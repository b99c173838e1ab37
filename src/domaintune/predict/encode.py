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


def parts_of(texts: list[ModelInput]) -> list[list[str]]:
    """The Transformers tokenizer's arguments: [texts], or [firsts, seconds] for pairs."""
    if texts and isinstance(texts[0], tuple):
        return [list(part) for part in zip(*texts)]
    return [texts]  # type: ignore[list-item]


def transformers_encoder(tokenizer: PreTrainedTokenizerBase, *, max_length: int) -> Encode:
    def encode(texts: list[ModelInput]) -> dict[str, np.ndarray]:
        batch = tokenizer(
            *parts_of(texts),
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


Whole = Callable[[list[ModelInput]], list[tuple[dict[str, list[int]], list[int]]]]
"""Inputs in; each one's encoding without a token limit, and its special-tokens mask."""


def whole_encoder(tokenizer: PreTrainedTokenizerBase) -> Whole:
    """Encodings without a limit, for inputs read in pieces (head_tail, chunks): through the fast
    tokenizer's core when it has one, else the Transformers call."""
    names = list(tokenizer.model_input_names)
    core = getattr(tokenizer, "backend_tokenizer", None)
    if core is not None and set(names) <= set(FIELDS):
        core = copy.deepcopy(core)
        core.no_truncation()
        core.no_padding()

        def encode_core(texts: list[ModelInput]) -> list[tuple[dict[str, list[int]], list[int]]]:
            return [
                ({name: getattr(e, FIELDS[name]) for name in names}, e.special_tokens_mask)
                for e in core.encode_batch_fast(texts)
            ]

        return encode_core

    def encode(texts: list[ModelInput]) -> list[tuple[dict[str, list[int]], list[int]]]:
        batch = tokenizer(*parts_of(texts), return_special_tokens_mask=True)
        return [
            ({name: batch[name][i] for name in names}, batch["special_tokens_mask"][i])
            for i in range(len(texts))
        ]

    return encode


def pad(
    pieces: list[dict[str, list[int]]], *, pad_id: int, pad_type_id: int = 0, left: bool = False
) -> dict[str, np.ndarray]:
    """Encodings of several lengths as one padded int64 batch, padded on the tokenizer's side."""
    width = max(len(piece["input_ids"]) for piece in pieces)
    fill = {"input_ids": pad_id, "token_type_ids": pad_type_id}
    batch = {}
    for name in pieces[0]:
        values = np.full((len(pieces), width), fill.get(name, 0), dtype=np.int64)
        for row, piece in enumerate(pieces):
            length = len(piece[name])
            if left:
                values[row, width - length :] = piece[name]
            else:
                values[row, :length] = piece[name]
        batch[name] = values
    return batch
