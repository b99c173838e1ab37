"""A conservative spelling corrector: symspellpy's English frequency list, and the corpus itself.

A word is corrected only when all of these hold: it is at least `typo_min_word_length` letters and
all lower case (capitalised words are too often names: Comenity, Faire); unknown to symspell's
list and rare on the web (wordfreq: `todays`, `insta`); rare in the user's corpus (domain terms,
product names and slang repeat, typos mostly do not); not two words run together (`ontime`); and
`typo_max_edit_distance` edits from a common English word that starts with the same letter (typos
rarely hit the first letter: `unpleased` is not `pleased`) and is not merely its stem or an
inflection (`centers`). Links, addresses, handles, hashtags and placeholders are never touched.

Hand-labelled corrections on two real data sets (bench/typo_precision.py) showed what went wrong
most: words in real use that the dictionary lacks (US or UK spellings such as `refueling` and
`vapors`, variants such as `duffle`, slang such as `shoutout`, drug names), so the correction must
be far more common on the web than the word as written; substitutions that no slip of the finger
or of spelling explains (`wonked` -> `worked`, `haning` -> `having`), so a substituted letter must
be a neighbouring key, a vowel for a vowel, or a letter of the same sound; slang made with a
final -y or -a (`frowny`, `woulda`); and words with two plausible corrections (`outtage`), which
are left alone. Even so, it falls short of the 95% right a default needs (see `fix_typos` in
config.py), so it is off by default.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from functools import cache
from importlib import resources

import pandas as pd

from domaintune.config import PrepareConfig
from domaintune.data.card import Step, StepName, before_after

DICTIONARY = "frequency_dictionary_en_82_765.txt"
TOKEN = re.compile(
    r"(?P<skip>(?:https?://|www\.)\S+|\S+@\S+|[@#]\w+|<\w+>)|\b(?P<word>[A-Za-z]+)\b"
)
INFLECTIONS = {"s", "es", "d", "ed", "ing", "er", "ers", "ly", "n", "r"}
COMPOUND_PART_COUNT = 10_000_000
"""Occurrences in symspell's list (`worst` 17M, `seat` 29M; `tom` 48M but `morrow` 2.8M)."""
WEB_KNOWN_ZIPF = 3.0
"""wordfreq Zipf frequency (3 = once per million words) from which a word counts as real."""
WEB_MARGIN_ZIPF = 2.0
"""How much more common on the web (in Zipf units: 2 = 100 times) the correction must be than the
word as written. Misspellings are rare next to their word (`recieved` 2.8, `received` 5.2);
spellings in real use are not (`refueling` 2.9, `refuelling` 2.6; `duffle` 2.5, `duffel` 2.7)."""
KEYBOARD_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
KEY_PLACES = {
    key: (row, column) for row, keys in enumerate(KEYBOARD_ROWS) for column, key in enumerate(keys)
}
VOWELS = frozenset("aeiouy")
SOUNDS_ALIKE = frozenset(frozenset(pair) for pair in ("ck", "cs", "cq", "kq", "sz"))
"""Letters that spell one sound, swapped by writers who spell by ear (`fransisco`, `classiq`)."""
SLANG_ENDINGS = frozenset("ya")
"""A common word plus one of these is slang made from it (`frowny`, `staticy`, `woulda`)."""


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


def is_slang_of(word: str, correction: str) -> bool:
    """`frowny` is `frown` made an adjective, `woulda` is `would have`: not typos."""
    return word[:-1] == correction and word[-1] in SLANG_ENDINGS


def keyboard_neighbours(first: str, second: str) -> bool:
    """Keys that touch on a QWERTY keyboard: each row sits half a key right of the one above."""
    (row, column), (other_row, other_column) = KEY_PLACES[first], KEY_PLACES[second]
    if row == other_row:
        return abs(column - other_column) == 1
    if other_row == row + 1:
        return other_column in (column - 1, column)
    return other_row == row - 1 and other_column in (column, column + 1)


def is_slip(written: str, meant: str) -> bool:
    """A substituted letter that a typo explains: the next key, a vowel for a vowel, or a letter of
    the same sound. Any other substitution more likely makes another word (`haning` is `hanging`,
    not `having`)."""
    return (
        keyboard_neighbours(written, meant)
        or {written, meant} <= VOWELS
        or frozenset((written, meant)) in SOUNDS_ALIKE
    )


def is_swap(word: str, correction: str, i: int, j: int) -> bool:
    """Whether the two letters before `word[i]` are those before `correction[j]`, swapped."""
    return i > 1 and j > 1 and word[i - 1] == correction[j - 2] and word[i - 2] == correction[j - 1]


def substitutions(word: str, correction: str) -> list[tuple[str, str]]:
    """(written, meant) for each letter replaced on a cheapest way from the word to the correction,
    counting a swap of two neighbouring letters as one edit, as symspell does."""
    rows, columns = len(word) + 1, len(correction) + 1
    cost = [
        [row + column if 0 in (row, column) else 0 for column in range(columns)]
        for row in range(rows)
    ]
    for i in range(1, rows):
        for j in range(1, columns):
            cost[i][j] = min(
                cost[i - 1][j] + 1,
                cost[i][j - 1] + 1,
                cost[i - 1][j - 1] + (word[i - 1] != correction[j - 1]),
            )
            if is_swap(word, correction, i, j):
                cost[i][j] = min(cost[i][j], cost[i - 2][j - 2] + 1)
    replaced = []
    i, j = len(word), len(correction)
    while i and j:
        differs = word[i - 1] != correction[j - 1]
        if cost[i][j] == cost[i - 1][j - 1] + differs:
            if differs:
                replaced.append((word[i - 1], correction[j - 1]))
            i, j = i - 1, j - 1
        elif is_swap(word, correction, i, j) and cost[i][j] == cost[i - 2][j - 2] + 1:
            i, j = i - 2, j - 2
        elif cost[i][j] == cost[i - 1][j] + 1:
            i -= 1
        else:
            j -= 1
    return replaced


def is_typo_of(word: str, correction: str, web_zipf: float) -> bool:
    """Whether `word` is most likely `correction` mistyped, rather than another word, a spelling in
    real use, or slang; `web_zipf` is the word's own frequency on the web."""
    from wordfreq import zipf_frequency

    return (
        correction[0] == word[0]
        and not is_inflection(word, correction)
        and not is_slang_of(word, correction)
        and zipf_frequency(correction, "en") - web_zipf >= WEB_MARGIN_ZIPF
        and all(is_slip(written, meant) for written, meant in substitutions(word, correction))
    )


def corrections(counts: Counter, prepare: PrepareConfig) -> dict[str, str]:
    """Misspelled word -> correction, for the corpus's rare words unknown to English. A word with
    two plausible corrections is left alone: `outtage` may be `outage` or `outrage`."""
    from symspellpy import Verbosity
    from wordfreq import zipf_frequency

    known = english_words()
    index = speller(prepare.typo_min_dictionary_count)
    fixed = {}
    for word, count in counts.items():
        if len(word) < prepare.typo_min_word_length or count >= prepare.typo_protect_count:
            continue
        web_zipf = zipf_frequency(word, "en")
        if word in known or web_zipf >= WEB_KNOWN_ZIPF or is_compound(word, known):
            continue
        closest = index.lookup(
            word, Verbosity.CLOSEST, max_edit_distance=prepare.typo_max_edit_distance
        )
        plausible = [match.term for match in closest if is_typo_of(word, match.term, web_zipf)]
        if len(plausible) == 1:
            fixed[word] = plausible[0]
    return fixed


def apply(text: str, fixed: dict[str, str]) -> str:
    def replace(match: re.Match) -> str:
        word = match.group("word")
        if word is None:
            return match.group(0)
        return fixed.get(word, word)

    return TOKEN.sub(replace, text)


def not_run_because(prepare: PrepareConfig, *, language: str) -> str | None:
    if not prepare.fix_typos:
        return (
            "off by default (prepare.fix_typos), since about one correction in seven "
            "was wrong on hand-labelled real data"
        )
    if language != "en":
        return f"the corrector knows English and the data's language is '{language}'"
    return None


def fix_typos(
    frame: pd.DataFrame, prepare: PrepareConfig, *, language: str, examples: int
) -> tuple[pd.DataFrame, Step]:
    """Correct likely misspellings; count the words and rows changed, with before/after examples.
    When it does not run, the card still says so and why."""
    reason = not_run_because(prepare, language=language)
    if reason:
        return frame, Step(StepName.TYPOS, f"not run: {reason}", len(frame), len(frame))
    fixed = corrections(words(frame["text"]), prepare)
    texts = frame["text"].map(lambda text: apply(text, fixed)) if fixed else frame["text"]
    changed = texts != frame["text"]
    words_changed = sum(
        1
        for before, after in zip(frame["text"][changed], texts[changed])
        for a, b in zip(before.split(), after.split())
        if a != b
    )
    step = Step(
        StepName.TYPOS,
        f"corrected {words_changed} misspelled words ({len(fixed)} distinct, e.g. "
        + ", ".join(f"{k} -> {v}" for k, v in list(fixed.items())[:5])
        + ") with symspellpy; words seen "
        f"{prepare.typo_protect_count}+ times in the data are never changed",
        len(frame),
        len(frame),
        changed=int(changed.sum()),
        examples=before_after(frame["text"], texts, examples=examples),
    )
    return frame.assign(text=texts), step
