"""New texts for a distilled student to imitate its teacher on, made from the training texts.

A teacher's probabilities on the texts it was trained on are close to its gold labels, so they
teach a student little beyond them; what carries a teacher's knowledge is its view of texts it has
not seen (Hinton et al., 2015). Beside any unlabelled texts given, distillation makes some, as
Tang et al. (2019, "Distilling task-specific knowledge from BERT into simple neural networks")
did: each copy of a training text has some words dropped, some replaced by words drawn from the
training texts, and sometimes only a span of it kept. The changes are made on words, not tokens,
so that teacher and student, each with its own tokenizer, read the same text. The new texts come
from the training split alone and are labelled by the teacher alone, so no held-out text reaches
the student.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DROP = 0.1
"""Chance that a word is left out (Tang et al.'s masking rate)."""
REPLACE = 0.1
"""Chance that a word is replaced by one drawn from the training texts' words, as often as they
occur there (Tang et al. replace by a word of the same part of speech, at the same rate)."""
SPAN = 0.25
"""Chance that only a span of the changed text is kept: at least half its words (Tang et al.
sample n-grams of 1 to 5 words, which leaves little of a short text's meaning)."""


def augmented_copies(
    frame: pd.DataFrame, columns: list[str], *, copies: int, max_rows: int, seed: int
) -> pd.DataFrame:
    """`copies` changed versions of each row of `frame`, each text column changed on its own;
    the other columns are left out. Beyond `max_rows` copies in all, a random share of them is
    made. A copy that came out empty or unchanged is dropped."""
    rng = np.random.default_rng(seed)
    words = {column: frame[column].astype(str).str.split() for column in columns}
    vocabulary = np.array([word for column in columns for text in words[column] for word in text])
    made: dict[str, list[str]] = {column: [] for column in columns}
    sources = np.tile(np.arange(len(frame)), copies)
    if len(sources) > max_rows:
        sources = np.sort(rng.choice(sources, size=max_rows, replace=False))
    for row in sources:
        changed = {
            column: changed_words(words[column].iat[row], vocabulary, rng) for column in columns
        }
        original = [" ".join(words[column].iat[row]) for column in columns]
        texts = [" ".join(changed[column]) for column in columns]
        if all(texts) and texts != original:
            for column, text in zip(columns, texts):
                made[column].append(text)
    return pd.DataFrame(made)


def changed_words(words: list[str], vocabulary: np.ndarray, rng: np.random.Generator) -> list[str]:
    """One changed version of `words`: each dropped with chance DROP, replaced with chance
    REPLACE; then, with chance SPAN, a random span of at least half of what is left."""
    draws = rng.random(len(words))
    replacements = vocabulary[rng.integers(len(vocabulary), size=len(words))]
    kept = [
        str(replacement) if draw < REPLACE else word
        for word, draw, replacement in zip(words, draws, replacements)
        if not REPLACE <= draw < REPLACE + DROP
    ]
    if len(kept) > 1 and rng.random() < SPAN:
        length = int(rng.integers((len(kept) + 1) // 2, len(kept) + 1))
        start = int(rng.integers(0, len(kept) - length + 1))
        kept = kept[start : start + length]
    return kept
