from __future__ import annotations

import json
import random
import string
from pathlib import Path

import ftfy
import pandas as pd
import pytest

from domaintune.config import PrepareConfig
from domaintune.data.clean import (
    NORMALIZATION_FILE,
    NORMALIZATION_VERSION,
    coerce_text,
    fix_unicode,
    load_normalization,
    normalize,
    normalize_text,
    save_normalization,
    to_text,
)
from domaintune.errors import UserError


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("fish &amp; chips", "fish & chips"),
        ("it&#039;s fine", "it's fine"),
        ("&amp;amp; twice", "& twice"),
        ("cafÃ© au lait", "café au lait"),
        ("line\r\nbreak\t and   spaces ", "line break and spaces"),
        ('"quoted review"', "quoted review"),
        ("&amp;amp;amp;lt;3", "<3"),
        ('"late" and then "cancelled"', '"late" and then "cancelled"'),
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


TRICKY = [
    '""double quoted""',
    '"  "spaced quotes"  "',
    "&amp;amp;amp;lt; thrice escaped",
    "donâ€™t &quot;quote&quot; me on 03/12/2024",
    "mail jo@x.com, see https://x.com/a?b=1&amp;c=2 or @jo at 12:30 on March 3, 2024",
    "flight 1,234.50 on 2024-03-15 \t\n done",
    '"www.example.com"',
]
SETTINGS = [
    PrepareConfig(),
    PrepareConfig(dates="token", mask_numbers=True, lowercase=True),
    PrepareConfig(mask_urls=True, mask_emails=True, mask_handles=True, date_order="DMY"),
    PrepareConfig(normalize_whitespace=False, fix_unicode=False),
]


@pytest.mark.parametrize("config", SETTINGS)
@pytest.mark.parametrize("text", TRICKY)
def test_normalize_text_leaves_its_own_output_unchanged(text: str, config: PrepareConfig) -> None:
    """Catches a step that rewrites its own output (a second pair of quotes stripped, a third
    level of entities decoded): evaluate scores prepared text through `Predictor`, which normalises
    again, so the test figures would then not be those of `prepare` + `predict`."""
    once = normalize_text(text, config)
    assert normalize_text(once, config) == once


def test_saved_normalization_loads_as_the_same_settings(tmp_path: Path) -> None:
    """Catches a setting lost or changed on the way through normalization.json: the loaded
    settings must normalise texts exactly as the saved ones did."""
    config = PrepareConfig(dates="token", date_order="DMY", lowercase=True, mask_urls=True)
    save_normalization(tmp_path, config)
    loaded = load_normalization(tmp_path)
    assert loaded is not None
    for text in TRICKY:
        assert normalize_text(text, loaded) == normalize_text(text, config)


def test_a_folder_without_normalization_has_none(tmp_path: Path) -> None:
    """Catches defaults applied to a model from elsewhere, whose texts must be used as given."""
    assert load_normalization(tmp_path) is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        (json.dumps({"version": NORMALIZATION_VERSION + 1, "settings": {}}), "upgrade domaintune"),
        (json.dumps({"settings": {}}), "format version None"),
        (
            json.dumps({"version": NORMALIZATION_VERSION, "settings": {"lowercase": True}}),
            "exactly",
        ),
    ],
)
def test_a_bad_normalization_file_is_refused(tmp_path: Path, content: str, message: str) -> None:
    """Catches predicting with a transformation other than training's (defaults filled in for
    missing settings, a newer format read as an older one) or a traceback on a corrupt file."""
    (tmp_path / NORMALIZATION_FILE).write_text(content)
    with pytest.raises(UserError, match=message):
        load_normalization(tmp_path)


def test_an_invalid_saved_setting_is_refused_with_its_name(tmp_path: Path) -> None:
    """Catches a saved value that PrepareConfig would refuse reaching normalize_text."""
    save_normalization(tmp_path, PrepareConfig())
    path = tmp_path / NORMALIZATION_FILE
    saved = json.loads(path.read_text())
    saved["settings"]["dates"] = "roman"
    path.write_text(json.dumps(saved))
    with pytest.raises(UserError, match="invalid setting \\(dates"):
        load_normalization(tmp_path)


def test_fix_unicode_skips_only_what_ftfy_would_leave_alone() -> None:
    """Catches the printable-ASCII shortcut giving other text than ftfy (then prediction would
    normalise differently from training's data): random ASCII with quotes, entities and escapes
    comes out as ftfy makes it, and text ftfy repairs still reaches it."""
    rng = random.Random(0)
    alphabet = string.printable + "\x1b\x00\x7f"
    for _ in range(2000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        assert fix_unicode(text) == ftfy.fix_text(text, unescape_html=False), repr(text)
    assert fix_unicode("It\u00e2\u20ac\u2122s late") == "It's late"
    assert fix_unicode("bad\x1b[31m red") == "bad red"
