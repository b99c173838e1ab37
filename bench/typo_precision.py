"""Precision of prepare's typo fixer on real data, judged by hand.

For each data set below, this runs prepare's row-by-row cleaning exactly as `prepare` would up to
the typo step, asks the fixer for its corrections, samples up to `--per-set` distinct corrections
with a fixed seed and prints each with the texts it rewrites. Hand labels live in
bench/typo_labels.csv (dataset, word, correction, right: yes/no), judged in context: right only
when the writer meant the correction. It prints precision per data set and overall with a 95%
Wilson interval, and marks the sampled corrections still unlabelled.

Data sets: the two built-in ones (their labels guided the fixer's rules, so their figures are
optimistic) and `other-tweets`, the 23,520 tweets of the airline archive not addressed to an
airline (held out: labelled only after the rules were fixed).

    PYTHONPATH=src .venv/bin/python bench/typo_precision.py [--per-set 150] [--set KEY=VALUE]

`--set` applies config overrides (e.g. `prepare.typo_min_word_length=6`); `--fixer FILE` measures
another version of typos.py, e.g. the one before the rules:
`git show 56ff1b6:src/domaintune/data/typos.py > /tmp/typos_before.py` and
`--fixer /tmp/typos_before.py --set prepare.typo_min_word_length=6` (its default then).
A correction replaces every occurrence of its word, and a word seen `typo_protect_count` or more
times is never corrected, so a distinct correction stands for at most a handful of changed words.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import math
import random
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from domaintune import assets
from domaintune.config import Config, build_config, load_config
from domaintune.data import typos
from domaintune.data.prepare import clean
from domaintune.data.sources import read_source

READY_CONFIGS = ("airline-sentiment", "drug-reviews")
HELD_OUT = "other-tweets"
LABELS = Path(__file__).with_name("typo_labels.csv")
SEED = 10
PER_SET = 150
"""Enough for a Wilson interval of about +-4 points at 95% precision."""
Z_95 = 1.96
CONTEXTS = 2
"""Texts shown per correction: a second one helps tell a typo from a name or slang."""
CONTEXT_CHARS = 70
"""Characters shown each side of a corrected word: enough to judge what the writer meant."""

Corrector = Callable[..., dict[str, str]]


@dataclass(frozen=True)
class Correction:
    dataset: str
    word: str
    correction: str
    contexts: list[str]


def held_out_config(folder: Path, overrides: list[str]) -> Config:
    """A config reading the archive's tweets that are not addressed to an airline."""
    corpus = assets.read_tweet_corpus(assets.fetch(assets.DATASETS["airline-tweets"].archive))
    other = corpus[~corpus["text"].str.contains(assets.AIRLINE_HANDLES)]
    path = folder / f"{HELD_OUT}.csv"
    other[["text", "sentiment"]].to_csv(path, index=False)
    data = {"source": str(path), "text_column": "text", "label_column": "sentiment"}
    return build_config({"data": data}, overrides)


def texts_before_typos(config: Config) -> pd.Series:
    """The texts as the typo step receives them: read, labelled, normalised, junk dropped."""
    raw = read_source(config.data)
    frame = pd.DataFrame(
        {"text": raw[config.data.text_column], "label": raw[config.data.label_column]}
    )
    cleaning = config.model_copy(deep=True)
    cleaning.prepare.fix_typos = False
    cleaning.prepare.drop_duplicates = False
    cleaned, _, _ = clean(cleaning, frame)
    return cleaned["text"]


def contexts_of(word: str, texts: pd.Series, most: int) -> list[str]:
    """Up to `most` windows around the places the fixer rewrites the word (not in handles,
    hashtags or links, which it skips)."""
    found = []
    for text in texts[texts.str.contains(word, regex=False)]:
        for match in typos.TOKEN.finditer(text):
            if match.group("word") == word:
                start, end = max(match.start() - CONTEXT_CHARS, 0), match.end() + CONTEXT_CHARS
                marked = f"{text[start : match.start()]}[[{word}]]{text[match.end() : end]}"
                found.append(marked.replace("\n", " ").replace("\r", " "))
                break
        if len(found) == most:
            break
    return found


def sampled_corrections(
    name: str, config: Config, corrector: Corrector, per_set: int
) -> list[Correction]:
    """Up to `per_set` of the fixer's distinct corrections on one data set, seeded. A correction
    whose word occurs only inside handles, hashtags or links changes nothing and is left out."""
    texts = texts_before_typos(config)
    fixed = sorted(corrector(typos.words(texts), config.prepare).items())
    distinct = texts.drop_duplicates()
    applied = [
        Correction(name, word, fix, contexts)
        for word, fix in fixed
        if (contexts := contexts_of(word, distinct, CONTEXTS))
    ]
    print(f"{name}: {len(texts):,} texts, {len(applied)} distinct corrections applied")
    return random.Random(SEED).sample(applied, min(per_set, len(applied)))


def read_labels() -> dict[tuple[str, str, str], bool]:
    with LABELS.open(encoding="utf-8") as handle:
        return {
            (row["dataset"], row["word"], row["correction"]): row["right"] == "yes"
            for row in csv.DictReader(handle)
        }


def wilson(right: int, total: int) -> tuple[float, float]:
    """95% Wilson score interval for a proportion: sound at small counts and near 1."""
    share = right / total
    centre = share + Z_95**2 / (2 * total)
    spread = Z_95 * math.sqrt(share * (1 - share) / total + Z_95**2 / (4 * total**2))
    scale = 1 + Z_95**2 / total
    return (centre - spread) / scale, (centre + spread) / scale


def summary(name: str, judged: list[bool]) -> str:
    right, total = sum(judged), len(judged)
    if total == 0:
        return f"{name}: no labelled corrections"
    low, high = wilson(right, total)
    return f"{name}: {right}/{total} right = {right / total:.1%} (95% Wilson {low:.1%}-{high:.1%})"


def load_corrector(path: str | None) -> Corrector:
    """`corrections` of the installed typos.py, or of another version of that file."""
    if path is None:
        return typos.corrections
    spec = importlib.util.spec_from_file_location("typos_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.corrections


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-set", type=int, default=PER_SET)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--fixer", help="another version of src/domaintune/data/typos.py")
    args = parser.parse_args()
    corrector = load_corrector(args.fixer)
    labels = read_labels()
    judged: dict[str, list[bool]] = {}
    with tempfile.TemporaryDirectory(prefix="typo-precision-") as folder:
        configs = {name: load_config(name, args.overrides) for name in READY_CONFIGS}
        configs[HELD_OUT] = held_out_config(Path(folder), args.overrides)
        for name, config in configs.items():
            judged[name] = []
            for item in sampled_corrections(name, config, corrector, args.per_set):
                verdict = labels.get((item.dataset, item.word, item.correction))
                mark = {True: "right", False: "WRONG", None: "unlabelled"}[verdict]
                print(f"  {mark:10} {item.word} -> {item.correction}")
                for context in item.contexts:
                    print(f"      {context}")
                if verdict is not None:
                    judged[name].append(verdict)
    tuned_on = [verdict for name in READY_CONFIGS for verdict in judged[name]]
    print("\n".join(summary(name, verdicts) for name, verdicts in judged.items()))
    print(summary("built-in sets (rules tuned on them)", tuned_on))
    print(summary("all three", tuned_on + judged[HELD_OUT]))


if __name__ == "__main__":
    main()
