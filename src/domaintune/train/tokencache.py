"""Tokenise the training and validation splits once, and keep the result in the run directory.

Each text is tokenised once without a limit; its length picks the token limit, and only the few
rows above the limit are tokenised again, truncated. The result is saved under
cache/tokenized-<key>/, the key a hash of everything it depends on (tokenizer, token-limit settings,
labels, the split files), so re-training, resuming and every tuning trial load it instead.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from datasets import Dataset, DatasetDict
from datasets.fingerprint import Hasher
from transformers import PreTrainedTokenizerBase

from domaintune.config import ModelConfig
from domaintune.data.fields import TextFields, load_fields
from domaintune.models import field_separator
from domaintune.rundir import RunDir, atomic_path, read_json, read_parquet, write_json

LENGTH_MULTIPLE = 8
"""Token limits are rounded up to a multiple of 8, which suits vectorised kernels."""
TOKENIZED_SPLITS = ("train", "validation")
"""The splits training reads; the test split is left to evaluate, which tokenises it itself."""
FORMAT = 2
"""Bump when what is cached changes, so old caches are not read."""


@dataclass(frozen=True)
class TokenizedSplits:
    train: Dataset
    validation: Dataset
    max_length: int
    max_length_set_by: str
    """What set max_length: "percentile", "configured", "model" or "floor"."""
    truncated_rows: int
    """Training rows longer than max_length, cut to it."""
    from_cache: bool


def choose_max_length(
    token_lengths: list[int], *, percentile: float, model_limit: int, fixed: int | None
) -> tuple[int, str]:
    """The token limit, and what set it, so that the report can say so truthfully.

    What set it: "configured" (`fixed`), "percentile" (that percentile of the data's lengths,
    rounded up to a multiple of 8), "model" (the model's own limit, which neither may exceed) or
    "floor" (never below LENGTH_MULTIPLE).
    """
    if fixed is None:
        wanted = float(np.percentile(token_lengths, percentile))
        limit, set_by = LENGTH_MULTIPLE * math.ceil(wanted / LENGTH_MULTIPLE), "percentile"
    else:
        limit, set_by = fixed, "configured"
    if limit > model_limit:
        limit, set_by = model_limit, "model"
    if limit < LENGTH_MULTIPLE:
        return LENGTH_MULTIPLE, "floor"
    return limit, set_by


def model_inputs(
    frame: pd.DataFrame, fields: TextFields | None, tokenizer: PreTrainedTokenizerBase
) -> list[list[str]]:
    """What the tokenizer is given for a split: [texts], or for a pair of fields [firsts, seconds].

    Several fields are joined by the tokenizer's separator token (`field_separator`), so the
    model sees where each ends; a pair is tokenised as the model's sentence pairs are.
    """
    if fields is None:
        return [frame["text"].tolist()]
    columns = [frame[column].tolist() for column in fields.columns]
    if fields.pair:
        return columns
    separator = field_separator(tokenizer)
    return [[separator.join(values) for values in zip(*columns)]]


def tokenize(
    frame: pd.DataFrame,
    tokenizer: PreTrainedTokenizerBase,
    label2id: dict[str, int],
    *,
    max_length: int,
    fields: TextFields | None = None,
    untruncated: dict[str, list] | None = None,
) -> Dataset:
    """Token ids without padding (the collator pads each batch), token types for a pair of
    fields (elsewhere all 0, the model's default), the label id, and the length.

    `untruncated` are the texts' encodings without a limit, when already made: only rows longer
    than `max_length` are then tokenised again (a pair loses tokens from its longer field first).
    """
    inputs = model_inputs(frame, fields, tokenizer)
    encoded = untruncated if untruncated is not None else tokenizer(*inputs)
    paired = fields is not None and fields.pair and "token_type_ids" in encoded
    names = ["input_ids", "attention_mask", *(["token_type_ids"] if paired else [])]
    columns = {name: list(encoded[name]) for name in names}
    too_long = [row for row, ids in enumerate(columns["input_ids"]) if len(ids) > max_length]
    if too_long:
        cut = tokenizer(
            *([part[row] for row in too_long] for part in inputs),
            truncation="longest_first",
            max_length=max_length,
        )
        for index, row in enumerate(too_long):
            for name in names:
                columns[name][row] = cut[name][index]
    return Dataset.from_dict(
        {
            **columns,
            "labels": [label2id[label] for label in frame["label"]],
            "length": [len(ids) for ids in columns["input_ids"]],
        }
    )


def cache_key(
    run: RunDir,
    tokenizer: PreTrainedTokenizerBase,
    label2id: dict[str, int],
    model: ModelConfig,
    *,
    model_limit: int,
    fields: TextFields | None = None,
) -> str:
    """A hash of every input of the tokenised splits."""
    digest = hashlib.sha256()
    for name in TOKENIZED_SPLITS:
        digest.update(hashlib.sha256(run.split(name).read_bytes()).digest())
    facts = {
        "format": FORMAT,
        "tokenizer": Hasher.hash(tokenizer),
        "labels": label2id,
        "max_length": model.max_length,
        "percentile": model.max_length_percentile,
        "model_limit": model_limit,
        "fields": None if fields is None else [list(fields.names), fields.mode],
    }
    digest.update(json.dumps(facts, sort_keys=True).encode())
    return digest.hexdigest()[:16]


def build(
    frames: dict[str, pd.DataFrame],
    tokenizer: PreTrainedTokenizerBase,
    label2id: dict[str, int],
    model: ModelConfig,
    *,
    model_limit: int,
    fields: TextFields | None = None,
) -> tuple[DatasetDict, dict[str, int]]:
    """Tokenise the splits; the token limit comes from the training split's lengths."""
    encoded = {
        name: tokenizer(*model_inputs(frames[name], fields, tokenizer)) for name in TOKENIZED_SPLITS
    }
    lengths = [len(ids) for ids in encoded["train"]["input_ids"]]
    max_length, set_by = choose_max_length(
        lengths,
        percentile=model.max_length_percentile,
        model_limit=model_limit,
        fixed=model.max_length,
    )
    splits = DatasetDict(
        {
            name: tokenize(
                frames[name],
                tokenizer,
                label2id,
                max_length=max_length,
                fields=fields,
                untruncated=encoded[name],
            )
            for name in TOKENIZED_SPLITS
        }
    )
    facts = {
        "max_length": max_length,
        "max_length_set_by": set_by,
        "truncated_rows": int(sum(length > max_length for length in lengths)),
    }
    return splits, facts


def load_or_tokenize(
    run: RunDir,
    tokenizer: PreTrainedTokenizerBase,
    label2id: dict[str, int],
    model: ModelConfig,
    *,
    model_limit: int,
    use_cache: bool,
    write: bool,
) -> TokenizedSplits:
    """The tokenised splits from the run's cache, or made now (and cached when `write`). The
    fields the model reads are prepare's (`data/fields.json`), whatever the config says now."""
    fields = load_fields(run.data)
    key = cache_key(run, tokenizer, label2id, model, model_limit=model_limit, fields=fields)
    folder = run.tokenized(key)
    facts_file = folder / "facts.json"
    if use_cache and facts_file.is_file():
        splits, facts, from_cache = DatasetDict.load_from_disk(folder), read_json(facts_file), True
    else:
        frames = {name: read_parquet(run.split(name)) for name in TOKENIZED_SPLITS}
        splits, facts = build(
            frames, tokenizer, label2id, model, model_limit=model_limit, fields=fields
        )
        from_cache = False
        if use_cache and write:
            with atomic_path(folder) as temporary:
                splits.save_to_disk(temporary)
                write_json(temporary / "facts.json", facts)
    return TokenizedSplits(
        train=splits["train"],
        validation=splits["validation"],
        max_length=facts["max_length"],
        max_length_set_by=facts["max_length_set_by"],
        truncated_rows=facts["truncated_rows"],
        from_cache=from_cache,
    )
