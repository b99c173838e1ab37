"""Cleaning: read every cell as text, and repair and normalise texts without changing their meaning.

`normalize_text` is the one text transformation shared by training and prediction: `prepare` applies
it to every row, and the settings it reads are saved beside the model (`normalization.json`, data,
not code) so that `predict.Predictor` applies the same to raw texts. It is idempotent (a text it
wrote comes back unchanged), so applying it again to prepared texts, as evaluate does, is harmless.
Typo fixing is not part of it: its corrections depend on word counts of the training corpus, which
are not saved, so predicted texts keep their typos.
"""

from __future__ import annotations

import html
import math
import re
from pathlib import Path
from typing import Any

import ftfy
import pandas as pd
from pydantic import ValidationError

from domaintune.config import PrepareConfig
from domaintune.data.card import Step, StepName, before_after, row_examples
from domaintune.data.dates import normalize_dates
from domaintune.errors import UserError
from domaintune.rundir import read_model_json, write_json

WHITESPACE = re.compile(r"\s+")
URL = re.compile(r"\b(?:https?://|www\.)\S+", re.IGNORECASE)
EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
HANDLE = re.compile(r"(?<![\w@])@\w{1,30}\b")
NUMBER_OR_ISO_DATE = re.compile(
    r"(?P<date>\b\d{4}-\d\d-\d\d\b)|(?<![\w<])[+-]?\d+(?:[.,:]\d+)*(?![\w>])"
)
"""ISO dates are matched so that masking numbers leaves the dates already normalised alone."""

NORMALIZATION_FILE = "normalization.json"
NORMALIZATION_VERSION = 1
"""Raise it whenever `normalize_text` gives a different text for the same settings: a model folder
then says which behaviour its test figures were measured with, and older code refuses newer files."""
NORMALIZATION_FIELDS = (
    "unescape_html",
    "fix_unicode",
    "mask_urls",
    "mask_emails",
    "mask_handles",
    "dates",
    "date_order",
    "mask_numbers",
    "lowercase",
    "normalize_whitespace",
    "strip_quotes",
)
"""The PrepareConfig fields `normalize_text` reads: all that prediction needs to repeat it."""


def to_text(value: object) -> str | None:
    """A cell as text: strings as they are, numbers written out; lists, objects, missing: None."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return None if math.isnan(value) else str(value).removesuffix(".0")
    return None


def coerce_text(frame: pd.DataFrame, *, examples: int) -> tuple[pd.DataFrame, Step]:
    """Keep rows whose text is a string or a number (written out); drop lists, objects, missing."""
    text = frame["text"].map(to_text)
    missing = text.isna()
    numbers = ~missing & ~frame["text"].map(lambda value: isinstance(value, str))
    step = Step(
        StepName.NOT_TEXT,
        "dropped rows whose text is missing, a list or an object; read numbers as text",
        len(frame),
        int((~missing).sum()),
        changed=int(numbers.sum()),
        examples=row_examples(
            frame["text"][missing].head(examples).map(lambda value: repr(value)[:200]),
            frame[missing],
        ),
    )
    return frame[~missing].assign(text=text[~missing]), step


def mask_numbers(text: str) -> str:
    return NUMBER_OR_ISO_DATE.sub(
        lambda match: match.group(0) if match.group("date") else "<number>", text
    )


def unescape_html(text: str) -> str:
    """Entities decoded until none is left: scraped text is often escaped twice or more
    (`&amp;amp;`), and decoding to the end keeps `normalize_text` idempotent. Each pass that changes
    the text shortens it, so the loop ends."""
    while (decoded := html.unescape(text)) != text:
        text = decoded
    return text


def strip_wrapping_quotes(text: str) -> str:
    """The text without one pair of double quotes around it, when it holds no other double quote:
    in `"a" b "c"` the first and last quotes belong to different quotations."""
    if len(text) >= 2 and text[0] == text[-1] == '"' and '"' not in text[1:-1]:
        return text[1:-1].strip()
    return text


def fix_unicode(text: str) -> str:
    """ftfy's repairs (mojibake, control characters, curly quotes, widths, NFC). Printable ASCII
    has nothing they change, and is returned at once: ftfy costs 0.1 ms a text, which at batch 1
    is a twentieth of an int8 model's time."""
    if text.isascii() and text.isprintable():
        return text
    return ftfy.fix_text(text, unescape_html=False)


def normalize_text(text: str, prepare: PrepareConfig) -> str:
    """The text repaired and normalised as `prepare` says; idempotent."""
    if prepare.unescape_html:
        text = unescape_html(text)
    if prepare.fix_unicode:
        text = fix_unicode(text)
    if prepare.mask_urls:
        text = URL.sub("<url>", text)
    if prepare.mask_emails:
        text = EMAIL.sub("<email>", text)
    if prepare.mask_handles:
        text = HANDLE.sub("<user>", text)
    if prepare.dates != "keep":
        text = normalize_dates(text, style=prepare.dates, order=prepare.date_order)
    if prepare.mask_numbers:
        text = mask_numbers(text)
    if prepare.lowercase:
        text = text.lower()
    if prepare.normalize_whitespace:
        text = WHITESPACE.sub(" ", text).strip()
    if prepare.strip_quotes:
        text = strip_wrapping_quotes(text)
    return text


def normalization_summary(prepare: PrepareConfig) -> str:
    """What `normalize_text` does under `prepare`, in words, for the data card and the model card."""
    return (
        "repaired mojibake, HTML entities, control characters, whitespace and wrapping quotes"
        + {"iso": "; wrote dates as ISO 8601", "token": "; replaced dates by <date>", "keep": ""}[
            prepare.dates
        ]
        + "".join(
            f"; masked {what}"
            for what, on in (
                ("URLs", prepare.mask_urls),
                ("e-mail addresses", prepare.mask_emails),
                ("user handles", prepare.mask_handles),
                ("numbers", prepare.mask_numbers),
            )
            if on
        )
        + ("; lowercased" if prepare.lowercase else "")
    )


def save_normalization(folder: Path, prepare: PrepareConfig) -> Path:
    """Write the settings `normalize_text` used in training into a model folder, as JSON data
    (never code), so that prediction can repeat the transformation without the run's config."""
    path = folder / NORMALIZATION_FILE
    write_json(
        path,
        {
            "version": NORMALIZATION_VERSION,
            "settings": {field: getattr(prepare, field) for field in NORMALIZATION_FIELDS},
            "typos_fixed_in_training": prepare.fix_typos,
        },
    )
    return path


def load_normalization(folder: Path) -> PrepareConfig | None:
    """The normalisation a model was trained with; None when the folder has no
    `normalization.json` (a model from elsewhere), whose texts are then used as given."""
    path = folder / NORMALIZATION_FILE
    if not path.is_file():
        return None
    saved = read_model_json(path)
    return _normalization_settings(path, saved)


def _normalization_settings(path: Path, saved: Any) -> PrepareConfig:
    """The saved settings, checked: a newer format or a missing or unknown field is refused, since
    predicting with a different transformation than training's would quietly cost accuracy."""
    version = saved.get("version") if isinstance(saved, dict) else None
    if version not in range(1, NORMALIZATION_VERSION + 1):
        raise UserError(
            f"{path} has format version {version!r}; this domaintune reads versions 1 to "
            f"{NORMALIZATION_VERSION}: upgrade domaintune, or train the model again"
        )
    settings = saved.get("settings")
    if not isinstance(settings, dict) or set(settings) != set(NORMALIZATION_FIELDS):
        raise UserError(
            f"{path} does not list exactly the settings {', '.join(NORMALIZATION_FIELDS)}: "
            "train the model again"
        )
    try:
        return PrepareConfig(**settings)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(map(str, first["loc"]))
        raise UserError(
            f"{path} holds an invalid setting ({where}: {first['msg']}): train the model again"
        ) from None


def normalize(
    frame: pd.DataFrame, prepare: PrepareConfig, *, examples: int
) -> tuple[pd.DataFrame, Step]:
    """Repair and normalise every text; count what changed."""
    raw = frame["text"]
    cleaned = raw.map(lambda text: normalize_text(text, prepare))
    changed = raw != cleaned
    step = Step(
        StepName.NORMALIZE,
        normalization_summary(prepare),
        len(frame),
        len(frame),
        changed=int(changed.sum()),
        examples=before_after(raw, cleaned, examples=examples),
    )
    return frame.assign(text=cleaned), step
