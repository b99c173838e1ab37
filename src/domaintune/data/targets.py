"""generation and language_model in prepare: each row's target text, and the token lengths of
inputs and targets that training will cut to, counted for the card.

The target is cleaned as the input is (the same normalisation), and a row without one is dropped
and counted; duplicates and near-duplicates are judged on the input alone (the rest of prepare),
since two copies of an article with different headlines would teach both and test on one.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from domaintune.config import Config
from domaintune.data.card import Step, StepName
from domaintune.data.clean import normalize_text, to_text
from domaintune.errors import UserError
from domaintune.runfiles import TokenLengths

TARGET_PERCENTILE = 99
TARGET_TOKEN_CAP = 128
"""generation.max_target_tokens None: this percentile of the training targets, at most this."""
TOKEN_MULTIPLE = 8


def read_targets(
    frame: pd.DataFrame, config: Config, *, examples: int
) -> tuple[pd.DataFrame, list[Step]]:
    """Each row's target as cleaned text (language_model: none, the text is its own target);
    rows whose target is missing or empty after cleaning are dropped and counted."""
    if config.task.objective == "language_model":
        return frame.assign(label=""), []
    column = config.data.target_column
    target = frame["label"].map(to_text)
    target = target.map(
        lambda value: None if value is None else normalize_text(value, config.prepare).strip()
    )
    missing = target.isna() | (target.fillna("") == "")
    if missing.all():
        raise UserError(
            f"{config.data.source}: data.target_column {column!r} is empty in every row: "
            "give the column that holds the text to write for each input"
        )
    step = Step(
        StepName.MISSING_LABEL,
        f"dropped rows whose target ({column}) is missing or empty",
        len(frame),
        int((~missing).sum()),
        examples=[
            {"text": str(text)[:200], "label": repr(value)}
            for text, value in zip(
                frame["text"][missing].head(examples), frame["label"][missing].head(examples)
            )
        ],
    )
    return frame[~missing].assign(label=target[~missing]), [step]


def check_rows(frame: pd.DataFrame, config: Config) -> None:
    """Enough rows that validation and test get prepare.min_rows_per_class rows each."""
    prepare = config.prepare
    needed = math.ceil(prepare.min_rows_per_class / min(prepare.validation_size, prepare.test_size))
    if len(frame) < needed:
        raise UserError(
            f"{config.data.source} has {len(frame)} usable rows after cleaning; {needed} are "
            f"needed to give validation and test {prepare.min_rows_per_class} rows each: add "
            "rows, or lower prepare.min_rows_per_class"
        )


def token_lengths(counts: np.ndarray, limit: int) -> TokenLengths:
    return TokenLengths(
        mean=round(float(counts.mean()), 1) if len(counts) else 0.0,
        p50=float(np.percentile(counts, 50)) if len(counts) else 0.0,
        p95=float(np.percentile(counts, 95)) if len(counts) else 0.0,
        max=int(counts.max()) if len(counts) else 0,
        limit=limit,
        cut=int((counts > limit).sum()),
    )


def target_limit(config: Config, train_targets: np.ndarray) -> int:
    """generation.max_target_tokens, or from the training targets when None."""
    given = config.generation.max_target_tokens
    if given is not None:
        return given
    wanted = float(np.percentile(train_targets, TARGET_PERCENTILE)) + 1  # + end of turn
    return int(min(TARGET_TOKEN_CAP, math.ceil(wanted / TOKEN_MULTIPLE) * TOKEN_MULTIPLE))


def count_tokens(tokenizer, texts: pd.Series) -> np.ndarray:
    if not len(texts):
        return np.zeros(0, dtype=int)
    return np.array(
        [len(ids) for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"]]
    )
