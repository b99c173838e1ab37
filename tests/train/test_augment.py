import numpy as np
import pandas as pd

from domaintune.train.augment import augmented_copies, changed_words

TEXTS = [
    "the flight was late and the crew was rude to everyone on board",
    "great service from the gate agent thank you so much",
    "my bag never arrived and nobody answers the phone",
]


def test_each_copy_is_a_changed_nonempty_text_of_the_training_words() -> None:
    """Catches copies that repeat their text (nothing new for the teacher to label), come out
    empty, or bring words from outside the training texts."""
    frame = pd.DataFrame({"text": TEXTS, "label": ["negative", "positive", "negative"]})
    made = augmented_copies(frame, ["text"], copies=20, max_rows=100, seed=0)
    assert list(made.columns) == ["text"]
    assert 0.8 * 60 <= len(made) <= 60
    vocabulary = {word for text in TEXTS for word in text.split()}
    for text in made["text"]:
        assert text and text not in TEXTS
        assert set(text.split()) <= vocabulary


def test_the_same_seed_makes_the_same_copies() -> None:
    frame = pd.DataFrame({"text": TEXTS})
    first = augmented_copies(frame, ["text"], copies=3, max_rows=100, seed=7)
    assert first.equals(augmented_copies(frame, ["text"], copies=3, max_rows=100, seed=7))
    assert not first.equals(augmented_copies(frame, ["text"], copies=3, max_rows=100, seed=8))


def test_several_fields_are_changed_each_on_its_own_and_kept_together() -> None:
    frame = pd.DataFrame(
        {"field_subject": ["refund please", "lost bag"], "field_body": TEXTS[:2], "label": "x"}
    )
    made = augmented_copies(frame, ["field_subject", "field_body"], copies=10, max_rows=100, seed=0)
    assert list(made.columns) == ["field_subject", "field_body"]
    assert made.notna().all().all() and (made != "").all().all()


def test_beyond_the_cap_a_random_share_of_the_copies_is_made() -> None:
    """Catches a cap that is ignored (a large split's copies would take the teacher hours) or
    that takes the copies of the first texts alone."""
    frame = pd.DataFrame({"text": [f"{text} {i}" for i in range(100) for text in TEXTS[:1]]})
    made = augmented_copies(frame, ["text"], copies=8, max_rows=200, seed=0)
    assert 0.8 * 200 <= len(made) <= 200
    sources = {text.split()[-1] for text in made["text"] if text.split()[-1].isdigit()}
    assert len(sources) > 50


def test_most_of_a_text_survives_a_change() -> None:
    """Catches rates that wreck the text (the teacher then labels noise) or never change it:
    a word is dropped or replaced at 10% each, and a quarter of copies keep half or more."""
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(40)]
    vocabulary = np.array(["other"])
    kept, replaced = [], []
    for _ in range(500):
        changed = changed_words(words, vocabulary, rng)
        assert len(changed) >= 1
        kept.append(len(changed) / len(words))
        replaced.append(changed.count("other") / len(changed))
    assert 0.7 < np.mean(kept) < 0.9
    assert 0.07 < np.mean(replaced) < 0.13
    assert min(kept) >= 0.4  # a span keeps at least half of what dropping left
