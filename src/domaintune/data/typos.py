"""A conservative spelling corrector: symspellpy's English frequency list, and the corpus itself.

A word is corrected only when all of these hold: it is at least `typo_min_word_length` letters and
all lower case (capitalised words are too often names: Comenity, Faire); unknown to symspell's
list and rare on the web (wordfreq: `todays`, `insta`); rare in the user's corpus (domain terms,
product names and slang repeat, typos mostly do not); not two words run together (`ontime`); and
`typo_max_edit_distance` edits from a common English word that starts with the same letter (typos
rarely hit the first letter: `unpleased` is not `pleased`) and is not merely its stem or an
inflection (`centers`). Links, addresses, handles, hashtags and placeholders are never touched.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from functools import cache
from importlib import resources

import pandas as pd

from domaintune.config import PrepareConfig
from domaintune.data.card import Step

DICTIONARY = "frequency_dictionary_en_82_765.txt"
TOKEN = re.compile(
    r"(?P<skip>(?:https?://|www\.)\S+|\S+@\S+|[@#]\w+|<\w+>)|\b(?P<word>[A-Za-z]+)\b"
)
INFLECTIONS = {"s", "es", "d", "ed", "ing", "er", "ers", "ly", "n", "r"}
COMPOUND_PART_COUNT = 10_000_000
"""Occurrences in symspell's list (`worst` 17M, `seat` 29M; `tom` 48M but `morrow` 2.8M)."""
WEB_KNOWN_ZIPF = 3.0
"""wordfreq Zipf frequency (3 = once per million words) from which a word counts as real."""


@cache
def english_words() -> dict[str, int]:
    """symspellpy's English word list with its frequencies."""
    path = resources.files("symspellpy") / DICTIONARY
    words = {}
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            word, count = line.split()
            words[word] = int(count)
    return words


@cache
def speller(min_count: int):
    """A SymSpell index of the common English words only: every correction must be one of them,
    and indexing 30k words instead of 83k makes it several times faster to build."""
    from symspellpy import SymSpell

    index = SymSpell(max_dictionary_edit_distance=2, prefix_length=7)
    for word, count in english_words().items():
        if count >= min_count:
            index.create_dictionary_entry(word, count)
    return index


def words(texts: Iterable[str]) -> Counter:
    """How often each lower-case word occurs in the corpus."""
    counts: Counter = Counter()
    for text in texts:
        counts.update(re.findall(r"\b[a-z]+\b", text))
    return counts


def is_compound(word: str, known: dict[str, int]) -> bool:
    """Two very common words written as one (`ontime`, `bestfriend`): not a misspelling of a
    third. Rarer fragments make too many typos look like compounds (`tom` + `morrow`)."""
    return any(
        known.get(word[:cut], 0) >= COMPOUND_PART_COUNT
        and known.get(word[cut:], 0) >= COMPOUND_PART_COUNT
        for cut in range(2, len(word) - 1)
    )


def is_inflection(word: str, correction: str) -> bool:
    """`centers` and `center`, `todays` and `today`: one is the other with an ending."""
    short, long = sorted((word, correction), key=len)
    return long.startswith(short) and long[len(short) :] in INFLECTIONS


def corrections(counts: Counter, config: PrepareConfig) -> dict[str, str]:
    """Misspelled word -> correction, for the corpus's rare words unknown to English."""
    from symspellpy import Verbosity
    from wordfreq import zipf_frequency

    known = english_words()
    index = speller(config.typo_min_dictionary_count)
    fixed = {}
    for word, count in counts.items():
        if len(word) < config.typo_min_word_length or count >= config.typo_protect_count:
            continue
        if word in known or zipf_frequency(word, "en") >= WEB_KNOWN_ZIPF:
            continue
        if is_compound(word, known):
            continue
        suggestions = index.lookup(
            word, Verbosity.TOP, max_edit_distance=config.typo_max_edit_distance
        )
        if not suggestions:
            continue
        correction = suggestions[0].term
        if correction[0] == word[0] and not is_inflection(word, correction):
            fixed[word] = correction
    return fixed


def apply(text: str, fixed: dict[str, str]) -> str:
    def replace(match: re.Match) -> str:
        word = match.group("word")
        if word is None:
            return match.group(0)
        return fixed.get(word, word)

    return TOKEN.sub(replace, text)


def fix_typos(
    frame: pd.DataFrame, config: PrepareConfig, language: str, examples: int
) -> tuple[pd.DataFrame, Step]:
    """Correct likely misspellings; count the words and rows changed, with before/after examples."""
    if language != "en":
        step = Step(
            "typos",
            f"not run: the corrector knows English and the data's language is '{language}'",
            len(frame),
            len(frame),
        )
        return frame, step
    fixed = corrections(words(frame["text"]), config)
    texts = frame["text"].map(lambda text: apply(text, fixed)) if fixed else frame["text"]
    changed = texts != frame["text"]
    words_changed = sum(
        1
        for before, after in zip(frame["text"][changed], texts[changed])
        for a, b in zip(before.split(), after.split())
        if a != b
    )
    shown = [
        {"before": before, "after": after}
        for before, after in zip(
            frame["text"][changed].head(examples), texts[changed].head(examples)
        )
    ]
    step = Step(
        "typos",
        f"corrected {words_changed} misspelled words ({len(fixed)} distinct, e.g. "
        + ", ".join(f"{k} -> {v}" for k, v in list(fixed.items())[:5])
        + ") with symspellpy; words seen "
        f"{config.typo_protect_count}+ times in the data are never changed",
        len(frame),
        len(frame),
        changed=int(changed.sum()),
        examples=shown,
    )
    return frame.assign(text=texts), step
