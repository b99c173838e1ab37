from __future__ import annotations

from collections import Counter

import pandas as pd

from domaintune.config import PrepareConfig
from domaintune.data.typos import corrections, english_words, fix_typos, is_compound, is_inflection


def test_common_misspellings_are_corrected() -> None:
    typos = ["recieved", "definately", "seperate", "becuase", "untill", "lugage", "responce"]
    fixed = corrections(Counter(dict.fromkeys(typos, 1)), PrepareConfig())
    assert fixed == {
        "recieved": "received",
        "definately": "definitely",
        "seperate": "separate",
        "becuase": "because",
        "untill": "until",
        "lugage": "luggage",
        "responce": "response",
    }


def test_domain_words_slang_and_real_words_are_left_alone() -> None:
    words = Counter(
        {
            "flightled": 40,  # frequent in this corpus: domain vocabulary
            "recieved": 9,  # frequent here too, so it stays as the users write it
            "todays": 1,  # known on the web
            "unpleased": 1,  # the correction would start with another letter
            "centers": 1,  # an inflection of the correction
            "bestfriend": 1,  # two words run together
            "thnx": 1,  # too short
        }
    )
    assert corrections(words, PrepareConfig()) == {}


def test_helpers() -> None:
    assert is_inflection("centers", "center") and not is_inflection("untill", "until")
    known = english_words()
    assert is_compound("ontime", known) and not is_compound("tommorrow", known)


def test_fix_typos_keeps_case_links_and_handles_and_counts_changes() -> None:
    texts = [
        "I recieved nothing from @recieved at https://x.co/recieved",
        "Recieved it",
        "all good",
    ]
    frame = pd.DataFrame({"text": texts, "label": ["a", "b", "c"]})
    fixed, step = fix_typos(frame, PrepareConfig(), "en", examples=5)
    assert fixed["text"].tolist() == [
        "I received nothing from @recieved at https://x.co/recieved",
        "Recieved it",
        "all good",
    ]
    assert step.changed == 1 and step.examples[0]["after"].startswith("I received")


def test_other_languages_are_not_corrected() -> None:
    frame = pd.DataFrame({"text": ["recieved"], "label": ["a"]})
    fixed, step = fix_typos(frame, PrepareConfig(), "de", examples=5)
    assert fixed["text"].tolist() == ["recieved"] and "not run" in step.description
