"""Cleaning: read every cell as text, and repair and normalise texts without changing their meaning."""

from __future__ import annotations

import html
import math
import re

import ftfy
import pandas as pd

from domaintune.config import PrepareConfig
from domaintune.data.card import Step
from domaintune.data.dates import normalize_dates

WHITESPACE = re.compile(r"\s+")
URL = re.compile(r"\b(?:https?://|www\.)\S+", re.IGNORECASE)
EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
HANDLE = re.compile(r"(?<![\w@])@\w{1,30}\b")
NUMBER_OR_ISO_DATE = re.compile(
    r"(?P<date>\b\d{4}-\d\d-\d\d\b)|(?<![\w<])[+-]?\d+(?:[.,:]\d+)*(?![\w>])"
)
"""ISO dates are matched so that masking numbers leaves the dates already normalised alone."""


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


def coerce_text(frame: pd.DataFrame, examples: int) -> tuple[pd.DataFrame, Step]:
    """Keep rows whose text is a string or a number (written out); drop lists, objects, missing."""
    text = frame["text"].map(to_text)
    missing = text.isna()
    numbers = ~missing & ~frame["text"].map(lambda value: isinstance(value, str))
    step = Step(
        "not_text",
        "dropped rows whose text is missing, a list or an object; read numbers as text",
        len(frame),
        int((~missing).sum()),
        changed=int(numbers.sum()),
        examples=[
            {"text": repr(value)[:200], "label": label}
            for value, label in zip(frame["text"][missing].head(examples), frame["label"][missing])
        ],
    )
    return frame[~missing].assign(text=text[~missing]), step


def mask_numbers(text: str) -> str:
    return NUMBER_OR_ISO_DATE.sub(
        lambda match: match.group(0) if match.group("date") else "<number>", text
    )


def normalize_text(text: str, config: PrepareConfig) -> str:
    if config.unescape_html:
        text = html.unescape(html.unescape(text))  # twice: `&amp;amp;` is common in scraped text
    if config.fix_unicode:
        text = ftfy.fix_text(text, unescape_html=False)
    if config.mask_urls:
        text = URL.sub("<url>", text)
    if config.mask_emails:
        text = EMAIL.sub("<email>", text)
    if config.mask_handles:
        text = HANDLE.sub("<user>", text)
    if config.dates != "keep":
        text = normalize_dates(text, config.dates, config.date_order)
    if config.mask_numbers:
        text = mask_numbers(text)
    if config.lowercase:
        text = text.lower()
    if config.normalize_whitespace:
        text = WHITESPACE.sub(" ", text).strip()
    if config.strip_quotes and len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1].strip()
    return text


def normalize(
    frame: pd.DataFrame, config: PrepareConfig, examples: int
) -> tuple[pd.DataFrame, Step]:
    """Repair and normalise every text; count what changed."""
    raw = frame["text"]
    cleaned = raw.map(lambda text: normalize_text(text, config))
    changed = raw != cleaned
    shown = [
        {"before": before, "after": after}
        for before, after in zip(raw[changed].head(examples), cleaned[changed].head(examples))
    ]
    step = Step(
        "normalize",
        "repaired mojibake, HTML entities, control characters, whitespace and wrapping quotes"
        + {"iso": "; wrote dates as ISO 8601", "token": "; replaced dates by <date>", "keep": ""}[
            config.dates
        ]
        + "".join(
            f"; masked {what}"
            for what, on in (
                ("URLs", config.mask_urls),
                ("e-mail addresses", config.mask_emails),
                ("user handles", config.mask_handles),
                ("numbers", config.mask_numbers),
            )
            if on
        )
        + ("; lowercased" if config.lowercase else ""),
        len(frame),
        len(frame),
        changed=int(changed.sum()),
        examples=shown,
    )
    return frame.assign(text=cleaned), step
