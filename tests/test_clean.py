from __future__ import annotations

import pandas as pd
import pytest

from domaintune.config import PrepareConfig
from domaintune.data.clean import coerce_text, normalize, normalize_text, to_text


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("fish &amp; chips", "fish & chips"),
        ("it&#039;s fine", "it's fine"),
        ("&amp;amp; twice", "& twice"),
        ("cafÃ© au lait", "café au lait"),
        ("line\r\nbreak\t and   spaces ", "line break and spaces"),
        ('"quoted review"', "quoted review"),
    ],
)
def test_normalize_text_repairs_real_world_damage(raw: str, clean: str) -> None:
    assert normalize_text(raw, PrepareConfig()) == clean


def test_normalize_can_be_switched_off() -> None:
    options = PrepareConfig(fix_unicode=False, unescape_html=False, normalize_whitespace=False)
    assert normalize_text("a &amp;  b", options) == "a &amp;  b"


@pytest.mark.parametrize(
    ("value", "text"),
    [(42, "42"), (1.5, "1.5"), (3.0, "3"), (None, None), (["x"], None), ({}, None)],
)
def test_to_text(value: object, text: str) -> None:
    assert to_text(value) == text


def test_normalize_counts_changes_with_examples() -> None:
    frame = pd.DataFrame({"text": ["ok", "a &amp; b"], "label": ["x", "y"]})
    cleaned, step = normalize(frame, PrepareConfig(), examples=5)
    assert cleaned["text"].tolist() == ["ok", "a & b"]
    assert step.changed == 1 and step.examples == [{"before": "a &amp; b", "after": "a & b"}]


def test_coerce_text_reads_numbers_and_drops_lists_with_a_reason() -> None:
    frame = pd.DataFrame({"text": ["fine", 42, ["a", "list"], None], "label": ["a", "b", "c", "d"]})
    kept, step = coerce_text(frame, examples=5)
    assert kept["text"].tolist() == ["fine", "42"]
    assert step.removed == 2 and step.changed == 1
    assert step.examples[0] == {"text": "['a', 'list']", "label": "c"}


@pytest.mark.parametrize(
    ("option", "raw", "clean"),
    [
        ("mask_urls", "see https://t.co/abc now", "see <url> now"),
        ("mask_emails", "mail me at jo.doe+x@mail.example.com", "mail me at <email>"),
        ("mask_handles", "@united lost my bag, ask @jo", "<user> lost my bag, ask <user>"),
        (
            "mask_numbers",
            "flight 1234 on 2024-03-15 cost $99.50",
            "flight <number> on 2024-03-15 cost $<number>",
        ),
        ("lowercase", "LOST My Bag", "lost my bag"),
    ],
)
def test_optional_masks_and_lowercasing(option: str, raw: str, clean: str) -> None:
    assert normalize_text(raw, PrepareConfig(**{option: True})) == clean
    assert normalize_text(raw, PrepareConfig()) == raw


def test_dates_are_normalised_by_default_and_can_be_kept() -> None:
    assert normalize_text("booked on March 3, 2024", PrepareConfig()) == "booked on 2024-03-03"
    assert normalize_text("on 03/04/2024", PrepareConfig(dates="token")) == "on <date>"
    assert normalize_text("on 03/04/2024", PrepareConfig(dates="keep")) == "on 03/04/2024"
