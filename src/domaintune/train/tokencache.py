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
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from datasets import Dataset, DatasetDict, concatenate_datasets
from datasets.fingerprint import Hasher
from pandas.api.types import is_float_dtype
from transformers import BatchEncoding, PreTrainedTokenizerBase

from domaintune.config import ModelConfig
from domaintune.data.fields import TextFields, load_fields
from domaintune.longtext import LongText, head_tail, spread, windows
from domaintune.models import field_separator
from domaintune.multilabel import is_label_sets, multi_hot
from domaintune.regression import TargetScale
from domaintune.rundir import RunDir, atomic_path, read_json, read_parquet, write_json

LENGTH_MULTIPLE = 8
"""Token limits are rounded up to a multiple of 8, which suits vectorised kernels."""
TOKENIZED_SPLITS = ("train", "validation")
"""The splits training reads; the test split is left to evaluate, which tokenises it itself."""
FORMAT = 3
"""Bump when what is cached changes, so old caches are not read."""
UNLABELLED = -100
"""The gold label of a text without one (data.unlabelled), as the Trainer's losses ignore it."""


@dataclass(frozen=True)
class TokenizedSplits:
    train: Dataset
    validation: Dataset
    """In order of length, so that evaluation batches pad little (their rows come in order, not
    grouped as training's are); its scores do not depend on the order."""
    max_length: int
    max_length_set_by: str
    """What set max_length: "percentile", "configured", "model" or "floor"."""
    truncated_rows: int
    """Training rows longer than max_length: cut to it, or read otherwise as long_text says."""
    long_text: LongText
    train_texts: int
    validation_texts: int
    """The splits' texts; `train` and `validation` hold more rows where chunks cut long ones."""
    from_cache: bool
    unlabelled_rows: int = 0
    """Training rows of texts without labels, after the labelled ones (`with_unlabelled`)."""
    augmented_rows: int = 0
    """Of those, the changed copies of training texts (train.distill_augment), the last ones."""

    def with_teacher(self, logits: np.ndarray) -> TokenizedSplits:
        """Each training row labelled [label, the teacher's logits...] for distillation (in
        truncate mode a training row is a text, in the prepared split's order); validation keeps
        its plain labels."""
        if len(logits) != len(self.train):
            raise ValueError("distillation needs one training row per text")
        rows = [
            [float(label), *map(float, row)]
            for label, row in zip(self.train["labels"], logits, strict=True)
        ]
        return replace(self, train=self.train.remove_columns("labels").add_column("labels", rows))

    def with_unlabelled(
        self, rows: Dataset, logits: np.ndarray, *, augmented: int = 0
    ) -> TokenizedSplits:
        """Texts without labels (`tokenize_texts`) appended to training after `with_teacher`,
        each labelled [UNLABELLED, the teacher's logits...]: distillation learns them from the
        teacher alone. The last `augmented` of them are changed copies of training texts."""
        labels = [[float(UNLABELLED), *map(float, row)] for row in logits]
        added = rows.add_column("labels", labels).cast(self.train.features)
        return replace(
            self,
            train=concatenate_datasets([self.train, added]),
            unlabelled_rows=len(rows),
            augmented_rows=augmented,
        )

    def standardized(self, scale: TargetScale) -> TokenizedSplits:
        """regression: these splits with every target standardised as `scale` says."""

        def apply(batch: dict[str, list]) -> dict[str, list]:
            return {"labels": scale.standardize(np.array(batch["labels"])).tolist()}

        return replace(
            self,
            train=self.train.map(apply, batched=True, keep_in_memory=True),
            validation=self.validation.map(apply, batched=True, keep_in_memory=True),
        )


def model_length_limit(model_config: Any, tokenizer: PreTrainedTokenizerBase) -> int:
    """The most tokens the model reads: its position embeddings', or its tokenizer's if fewer."""
    positions = getattr(model_config, "max_position_embeddings", None) or 512
    tokenizer_limit = tokenizer.model_max_length if tokenizer.model_max_length < 1e9 else positions
    return int(min(positions, tokenizer_limit))


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
    reading: LongText,
    max_chunks: int,
    fields: TextFields | None = None,
    untruncated: BatchEncoding | None = None,
) -> Dataset:
    """Token ids without padding (the collator pads each batch), token types where the tokenizer
    makes them (1 for a pair's second field), the label id (multi_label: a multi-hot row of
    floats, as binary cross-entropy takes it), and the length.

    A text longer than `reading.max_length` is cut (truncate), kept at both ends (head_tail), or
    read as up to `max_chunks` windows, each a row with the text's label (chunks); joined fields
    are one text. A pair of fields is only ever cut (the config refuses windows over a pair), its
    longer field first. `untruncated` are the texts' encodings without a limit, with their
    special-tokens masks, when already made.
    """
    inputs, max_length = model_inputs(frame, fields, tokenizer), reading.max_length
    if frame.empty:  # a split left empty: cross-validation's validation
        columns = tokenizer("", return_special_tokens_mask=True).keys()
        names = [name for name in columns if name != "special_tokens_mask"]
        return Dataset.from_dict({name: [] for name in [*names, "labels", "length"]})
    encoded = (
        untruncated
        if untruncated is not None
        else tokenizer(*inputs, return_special_tokens_mask=True)
    )
    if is_label_sets(frame["label"]):
        targets = multi_hot(frame["label"], list(label2id)).tolist()
    elif is_float_dtype(frame["label"]):  # regression: the value itself
        targets = frame["label"].tolist()
    else:
        targets = [label2id[label] for label in frame["label"]]
    names = [name for name in encoded if name != "special_tokens_mask"]
    rows: dict[str, list] = {name: [] for name in [*names, "labels"]}
    for index, target in enumerate(targets):
        encoding = {name: encoded[name][index] for name in names}
        special = encoded["special_tokens_mask"][index]
        if len(encoding["input_ids"]) <= max_length or reading.mode == "truncate":
            pieces = [encoding]
        elif reading.mode == "head_tail":
            pieces = [
                head_tail(encoding, special, max_length=max_length, head_share=reading.head_share)
            ]
        else:
            cut = windows(encoding, special, max_length=max_length, overlap=reading.chunk_overlap)
            pieces = spread(cut, max_chunks)
        for piece in pieces:
            for name in names:
                rows[name].append(piece[name])
            rows["labels"].append(target)
    if reading.mode == "truncate":
        too_long = [row for row, ids in enumerate(rows["input_ids"]) if len(ids) > max_length]
        if too_long:
            cut = tokenizer(
                *([part[row] for row in too_long] for part in inputs),
                truncation="longest_first",
                max_length=max_length,
            )
            for index, row in enumerate(too_long):
                for name in names:
                    rows[name][row] = cut[name][index]
    rows["length"] = [len(ids) for ids in rows["input_ids"]]
    return Dataset.from_dict(rows)


def tokenize_texts(
    frame: pd.DataFrame,
    tokenizer: PreTrainedTokenizerBase,
    *,
    max_length: int,
    fields: TextFields | None = None,
) -> Dataset:
    """Texts without labels (data.unlabelled) as `tokenize` makes training rows in truncate mode
    (which distillation needs): cut to the training split's `max_length`, with their lengths."""
    encoded = tokenizer(
        *model_inputs(frame, fields, tokenizer), truncation="longest_first", max_length=max_length
    )
    return Dataset.from_dict({**encoded, "length": [len(ids) for ids in encoded["input_ids"]]})


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
        "long_text": [model.long_text, model.head_share, model.chunk_overlap, model.max_chunks],
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
) -> tuple[DatasetDict, dict[str, Any]]:
    """Tokenise the splits; the token limit comes from the training split's lengths."""
    encoded = {
        name: tokenizer(
            *model_inputs(frames[name], fields, tokenizer), return_special_tokens_mask=True
        )
        if len(frames[name])
        else None  # cross-validation's empty validation split
        for name in TOKENIZED_SPLITS
    }
    lengths = [len(ids) for ids in encoded["train"]["input_ids"]]
    max_length, set_by = choose_max_length(
        lengths,
        percentile=model.max_length_percentile,
        model_limit=model_limit,
        fixed=model.max_length,
    )
    reading = long_text_of(model, max_length=max_length)
    splits = DatasetDict(
        {
            name: tokenize(
                frames[name],
                tokenizer,
                label2id,
                reading=reading,
                max_chunks=model.max_chunks,
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
        "long_text": reading.model_dump(),
        "train_texts": len(frames["train"]),
        "validation_texts": len(frames["validation"]),
    }
    return splits, facts


def long_text_of(model: ModelConfig, *, max_length: int) -> LongText:
    """How the model reads long texts, at the token limit chosen from the data."""
    return LongText(
        mode=model.long_text,
        max_length=max_length,
        head_share=model.head_share,
        chunk_overlap=model.chunk_overlap,
    )


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
            with atomic_path(folder) as temporary:  # an empty split saves as no shard at all
                DatasetDict(
                    {name: part for name, part in splits.items() if len(part)}
                ).save_to_disk(temporary)
                write_json(temporary / "facts.json", facts)
    validation = splits["validation"] if "validation" in splits else splits["train"].select([])
    return TokenizedSplits(
        train=splits["train"],
        validation=validation.sort("length"),
        max_length=facts["max_length"],
        max_length_set_by=facts["max_length_set_by"],
        truncated_rows=facts["truncated_rows"],
        long_text=LongText(**facts["long_text"]),
        train_texts=facts["train_texts"],
        validation_texts=facts["validation_texts"],
        from_cache=from_cache,
    )
