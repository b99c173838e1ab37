from __future__ import annotations

import pandas as pd

from domaintune.config import PrepareConfig
from domaintune.data.junk import detect_language, drop_junk, letter_ratio


def test_letter_ratio_counts_letters_of_any_script() -> None:
    assert letter_ratio("abc 123") == 0.5
    assert letter_ratio("café naïve") == 1.0
    assert letter_ratio("!!! ???") == 0.0


def test_detect_language_offline() -> None:
    assert detect_language("the flight was late and the crew was rude")[0] == "en"
    assert detect_language("el vuelo llegó tarde y la tripulación fue grosera")[0] == "es"


def test_each_kind_of_junk_is_dropped_with_its_own_reason() -> None:
    english = [f"the flight number {i} was late again and nobody told us why" for i in range(20)]
    texts = [*english, "k", "y" * 30_000, "12345 678 999", "el vuelo llegó tarde y nadie nos dijo"]
    frame = pd.DataFrame({"text": texts, "label": ["a"] * len(texts)})
    kept, steps, language = drop_junk(frame, PrepareConfig(), examples=3, max_chars=20_000)
    assert language == "en"
    removed = {step.name: step.removed for step in steps}
    assert removed == {"too_short": 1, "too_long": 1, "not_letters": 1, "other_language": 1}
    assert kept["text"].tolist() == english
    assert steps[1].examples[0]["text"].endswith("…") and len(steps[1].examples[0]["text"]) < 400


def test_short_texts_are_never_judged_by_language_and_any_keeps_all() -> None:
    frame = pd.DataFrame(
        {"text": ["gracias amigo", "merci beaucoup pour tout ça"], "label": ["a", "b"]}
    )
    kept, _, _ = drop_junk(frame, PrepareConfig(language="en"), examples=3, max_chars=20_000)
    assert kept["text"].tolist() == ["gracias amigo"]
    kept, steps, language = drop_junk(
        frame, PrepareConfig(language="any"), examples=3, max_chars=20_000
    )
    assert len(kept) == 2 and language == "any" and "other_language" not in [s.name for s in steps]
