from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from domaintune.longtext import (
    LongText,
    ends,
    head_tail,
    load_long_text,
    pool,
    spread,
    window_count,
    windows,
)


def encoding(content: int) -> tuple[dict[str, list[int]], list[int]]:
    """[CLS] 1 2 ... content [SEP], as a BERT tokenizer encodes one text."""
    ids = [101, *range(1, content + 1), 102]
    return (
        {"input_ids": ids, "attention_mask": [1] * len(ids), "token_type_ids": [0] * len(ids)},
        [1, *[0] * content, 1],
    )


def content_of(piece: dict[str, list[int]]) -> list[int]:
    assert piece["input_ids"][0] == 101 and piece["input_ids"][-1] == 102
    return piece["input_ids"][1:-1]


def test_ends_counts_the_specials_at_each_end() -> None:
    assert ends([1, 0, 0, 1]) == (1, 1)
    assert ends([1, 1, 0, 1]) == (2, 1)
    assert ends([0, 0]) == (0, 0)


@pytest.mark.parametrize(
    ("content", "max_length", "overlap"), [(10, 6, 0.25), (37, 12, 0.5), (9, 5, 0)]
)
def test_windows_cover_every_token_in_order_within_the_limit(
    content: int, max_length: int, overlap: float
) -> None:
    """A token no window holds would be unread; a window over the limit would be cut again."""
    pieces = windows(*encoding(content), max_length=max_length, overlap=overlap)
    assert all(len(piece["input_ids"]) == max_length for piece in pieces)
    assert all(len(set(map(len, piece.values()))) == 1 for piece in pieces)
    seen = [token for piece in pieces for token in content_of(piece)]
    assert sorted(set(seen)) == list(range(1, content + 1))
    starts = [content_of(piece)[0] for piece in pieces]
    assert starts == sorted(starts) and content_of(pieces[-1])[-1] == content
    room = max_length - 2
    if overlap and len(pieces) > 2:  # neighbours share about `overlap` of a window
        assert content_of(pieces[0])[-1] - content_of(pieces[1])[0] + 1 >= int(room * overlap)


@pytest.mark.parametrize("overlap", [0, 0.25, 0.5, 0.9])
def test_window_count_is_how_many_windows_a_text_is_cut_into(overlap: float) -> None:
    """The ladder plans training time from the count without cutting the texts."""
    for content in range(1, 60):
        for max_length in (3, 8, 16):
            length = content + 2
            cut = windows(*encoding(content), max_length=max_length, overlap=overlap)
            assert window_count(length, 2, max_length=max_length, overlap=overlap) == len(cut)


def test_a_text_that_fits_is_one_window_and_is_kept_whole_by_head_tail() -> None:
    whole, special = encoding(4)
    assert windows(whole, special, max_length=6, overlap=0.25) == [whole]
    assert head_tail(whole, special, max_length=6, head_share=0.25) is whole


def test_head_tail_keeps_the_start_and_the_end() -> None:
    piece = head_tail(*encoding(100), max_length=10, head_share=0.25)
    assert content_of(piece) == [1, 2, *range(95, 101)]  # 8 places: 2 from the head, 6 the tail
    assert len(piece["attention_mask"]) == 10


def test_spread_keeps_the_first_and_last_and_spaces_the_rest() -> None:
    assert spread(list(range(10)), 3) == [0, 4, 9]  # 4.5 rounds to even
    assert spread(list(range(3)), 5) == [0, 1, 2]
    assert spread(list(range(3)), 1) == [0]


def test_pool_takes_each_texts_windows_mean_or_max() -> None:
    logits = np.array([[1.0, 0.0], [3.0, -2.0], [0.0, 5.0]])
    owners = np.array([0, 0, 1])
    assert pool(logits, owners, texts=2, how="mean").tolist() == [[2.0, -1.0], [0.0, 5.0]]
    assert pool(logits, owners, texts=2, how="max").tolist() == [[3.0, 0.0], [0.0, 5.0]]


def test_settings_round_trip_and_a_folder_without_them_truncates(tmp_path: Path) -> None:
    assert load_long_text(tmp_path, max_length=128) == LongText(max_length=128)
    saved = LongText(mode="chunks", max_length=64, pooling="max", chunk_overlap=0.5)
    saved.save(tmp_path)
    assert load_long_text(tmp_path, max_length=128) == saved
