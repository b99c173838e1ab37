"""How a text longer than the model's token limit is read: the same way in training and prediction.

`truncate` keeps its first tokens; `head_tail` its first and last; `chunks` cuts it into
overlapping windows, each read by the model, and pools the windows' logits into the text's.
Every function here works on one text's encoding without a limit (lists of `input_ids`,
`attention_mask` and, for BERT-like models, `token_type_ids`) and its special-tokens mask: the
tokenizer's own markers ([CLS] ... [SEP], <s> ... </s>) stay at the ends of every piece.

The settings travel with the model (`long_text.json`, written by train; evaluate adds the pooling
it chose on validation), so prediction reads a text as the model was trained and scored.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel

from domaintune.rundir import read_json, write_json

LONG_TEXT_FILE = "long_text.json"
Mode = Literal["truncate", "head_tail", "chunks"]
Pooling = Literal["mean", "max"]
POOLINGS: tuple[Pooling, ...] = ("mean", "max")
Encoding = dict[str, list[int]]


class LongText(BaseModel):
    """What model.long_text chose, as saved beside the model."""

    mode: Mode = "truncate"
    max_length: int
    head_share: float = 0.25
    chunk_overlap: float = 0.25
    pooling: Pooling = "mean"
    """chunks: how windows' logits become the text's; evaluate chooses it on validation."""

    def save(self, folder: Path) -> None:
        write_json(folder / LONG_TEXT_FILE, self.model_dump())


def load_long_text(folder: Path, *, max_length: int) -> LongText:
    """The model folder's settings; truncation at `max_length` for a folder without them (a model
    trained before they existed, or any Hub classifier)."""
    path = folder / LONG_TEXT_FILE
    if path.is_file():
        return LongText(**read_json(path))
    return LongText(max_length=max_length)


def ends(special_mask: list[int]) -> tuple[int, int]:
    """How many special tokens open and close the encoding."""
    front = next((i for i, special in enumerate(special_mask) if not special), len(special_mask))
    back = next(
        (i for i, special in enumerate(reversed(special_mask)) if not special), len(special_mask)
    )
    return front, back


def _piece(encoding: Encoding, front: int, back: int, spans: list[tuple[int, int]]) -> Encoding:
    """The opening specials, the content spans (absolute positions), the closing specials."""
    length = len(encoding["input_ids"])
    keep = [*range(front), *(i for start, stop in spans for i in range(start, stop))]
    keep += range(length - back, length)
    return {name: [values[i] for i in keep] for name, values in encoding.items()}


def head_tail(
    encoding: Encoding, special_mask: list[int], *, max_length: int, head_share: float
) -> Encoding:
    """The first `head_share` of the room and the last tokens; as it is when it fits."""
    length = len(encoding["input_ids"])
    if length <= max_length:
        return encoding
    front, back = ends(special_mask)
    room = max_length - front - back
    head = round(room * head_share)
    tail = room - head
    return _piece(
        encoding, front, back, [(front, front + head), (length - back - tail, length - back)]
    )


def windows(
    encoding: Encoding, special_mask: list[int], *, max_length: int, overlap: float
) -> list[Encoding]:
    """Windows of at most `max_length` tokens covering every content token, each with the
    opening and closing specials, each repeating `overlap` of the one before (the last one ends
    at the text's end); one window (the encoding itself) when it fits."""
    length = len(encoding["input_ids"])
    if length <= max_length:
        return [encoding]
    front, back = ends(special_mask)
    room = max_length - front - back
    starts = window_starts(length - front - back, room, overlap=overlap)
    return [_piece(encoding, front, back, [(front + s, front + s + room)]) for s in starts]


def window_starts(content: int, room: int, *, overlap: float) -> list[int]:
    """Where each window of `room` content tokens starts in a text of `content` longer than it:
    every `1 - overlap` of a window, and the last at the text's end."""
    stride = max(1, math.floor(room * (1 - overlap)))
    return [*range(0, content - room, stride), content - room]


def window_count(length: int, specials: int, *, max_length: int, overlap: float) -> int:
    """How many windows `windows` cuts an encoding of `length` tokens, `specials` of them the
    tokenizer's markers, into."""
    if length <= max_length:
        return 1
    return len(window_starts(length - specials, max_length - specials, overlap=overlap))


def spread(items: list, count: int) -> list:
    """At most `count` of `items`, evenly spaced, first and last included."""
    if len(items) <= count:
        return items
    if count == 1:
        return items[:1]
    picks = np.linspace(0, len(items) - 1, count).round().astype(int)
    return [items[i] for i in picks]


def pool(logits: np.ndarray, owners: np.ndarray, *, texts: int, how: Pooling) -> np.ndarray:
    """Each text's logits from its windows' (`owners[i]` is the text of window i): their mean, or
    each class's largest (max: a class shown strongly in one part of a long text wins)."""
    pooled = np.full((texts, logits.shape[1]), -np.inf if how == "max" else 0.0)
    if how == "max":
        np.maximum.at(pooled, owners, logits)
        return pooled.astype(np.float32)
    np.add.at(pooled, owners, logits)
    counts = np.bincount(owners, minlength=texts)[:, None]
    return (pooled / np.maximum(counts, 1)).astype(np.float32)
