from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from domaintune.config import ModelConfig, build_config
from domaintune.data.prepare import run_prepare
from domaintune.longtext import LongText
from domaintune.rundir import RunDir
from domaintune.train.tokencache import (
    TokenizedSplits,
    choose_max_length,
    load_or_tokenize,
    tokenize,
)

CUT_AT_5 = LongText(mode="truncate", max_length=5)


@pytest.mark.parametrize(
    ("lengths", "fixed", "limit", "expected"),
    [
        ([10] * 98 + [300, 400], None, 512, (304, "percentile")),  # rounded up to 8
        ([10] * 100, None, 512, (16, "percentile")),
        ([10] * 98 + [300, 400], None, 128, (128, "model")),  # the model's limit wins
        ([10] * 100, 40, 512, (40, "configured")),
        ([10] * 100, 1024, 512, (512, "model")),
        ([0] * 100, None, 512, (8, "floor")),
    ],
)
def test_choose_max_length(
    lengths: list[int], fixed: int | None, limit: int, expected: tuple[int, str]
) -> None:
    """The limit and what set it; a wrong source would make the report misname it."""
    chosen = choose_max_length(lengths, percentile=99.0, model_limit=limit, fixed=fixed)
    assert chosen == expected


def test_tokenize_leaves_padding_to_the_collator(tiny_model: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    frame = pd.DataFrame(
        {"text": ["thanks", "late delayed cancelled lost rude"], "label": ["p", "n"]}
    )
    dataset = tokenize(frame, tokenizer, {"n": 0, "p": 1}, reading=CUT_AT_5, max_chunks=8)
    assert dataset["length"] == [3, 5]
    assert dataset["labels"] == [1, 0]
    assert [len(ids) for ids in dataset["input_ids"]] == [3, 5]


def test_only_rows_over_the_limit_are_tokenised_again(tiny_model: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    frame = pd.DataFrame(
        {"text": ["thanks", "late delayed cancelled lost rude broken"], "label": ["p", "n"]}
    )
    encoded = tokenizer(frame["text"].tolist(), return_special_tokens_mask=True)
    reused = tokenize(
        frame, tokenizer, {"n": 0, "p": 1}, reading=CUT_AT_5, max_chunks=8, untruncated=encoded
    )
    direct = tokenizer(frame["text"].tolist(), truncation=True, max_length=5)
    assert reused["input_ids"] == direct["input_ids"]
    assert reused["length"] == [3, 5]


def test_splits_are_tokenised_once_per_tokenizer_limit_and_data(
    tmp_path: Path, tickets_csv: Path, tiny_model: Path
) -> None:
    from transformers import AutoTokenizer

    config = build_config(
        {"data": {"source": str(tickets_csv)}, "model": {"name_or_path": str(tiny_model)}}
    )
    run = RunDir(tmp_path / "run")
    run_prepare(config, run)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    labels = {"negative": 0, "neutral": 1, "positive": 2}

    def load(model: ModelConfig, use_cache: bool = True) -> TokenizedSplits:
        return load_or_tokenize(
            run, tokenizer, labels, model, model_limit=64, use_cache=use_cache, write=True
        )

    made = load(config.model)
    again = load(config.model)
    assert not made.from_cache and again.from_cache
    assert again.train.to_dict() == made.train.to_dict()
    assert again.validation.to_dict() == made.validation.to_dict()
    assert (again.max_length, again.truncated_rows) == (made.max_length, made.truncated_rows)

    shorter = load(config.model.model_copy(update={"max_length": 8}))
    assert not shorter.from_cache and shorter.max_length == 8 and shorter.truncated_rows > 0
    assert max(shorter.train["length"]) == 8
    assert len(list(run.cache.iterdir())) == 2

    assert not load(config.model, use_cache=False).from_cache
    fewer = pd.read_parquet(run.split("train")).iloc[1:]
    fewer.to_parquet(run.split("train"), index=False)  # the data changed: prepare ran again
    changed = load(config.model)
    assert not changed.from_cache and len(changed.train) == len(made.train) - 1


def test_chunks_train_on_every_window_with_the_texts_label_and_head_tail_on_both_ends(
    tiny_model: Path,
) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    words = "late delayed cancelled lost rude broken thanks"
    frame = pd.DataFrame({"text": ["thanks", words], "label": ["p", "n"]})
    content = tokenizer(words, add_special_tokens=False)["input_ids"]
    assert len(content) == 7
    chunks = LongText(mode="chunks", max_length=5, chunk_overlap=0)  # 3 content tokens a window
    dataset = tokenize(frame, tokenizer, {"n": 0, "p": 1}, reading=chunks, max_chunks=8)
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    assert dataset["labels"] == [1, 0, 0, 0]
    assert dataset["input_ids"][1:] == [
        [cls, *content[0:3], sep],
        [cls, *content[3:6], sep],
        [cls, *content[4:7], sep],  # the last window ends at the text's end
    ]
    capped = tokenize(frame, tokenizer, {"n": 0, "p": 1}, reading=chunks, max_chunks=2)
    assert capped["input_ids"][1:] == [dataset["input_ids"][1], dataset["input_ids"][3]]
    head_tail = LongText(mode="head_tail", max_length=5, head_share=0.34)  # 1 head, 2 tail
    dataset = tokenize(frame, tokenizer, {"n": 0, "p": 1}, reading=head_tail, max_chunks=8)
    assert dataset["input_ids"][1] == [cls, content[0], *content[5:7], sep]


def test_label_sets_become_multi_hot_rows_and_every_window_carries_its_texts_set(
    tiny_model: Path,
) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    words = "late delayed cancelled lost rude broken thanks"
    frame = pd.DataFrame({"text": ["thanks", words], "label": [("p",), ("n", "p")]})
    label2id = {"n": 0, "p": 1, "q": 2}
    chunks = LongText(mode="chunks", max_length=5, chunk_overlap=0)
    dataset = tokenize(frame, tokenizer, label2id, reading=chunks, max_chunks=8)
    assert dataset["labels"] == [[0.0, 1.0, 0.0]] + [[1.0, 1.0, 0.0]] * 3
    head_tail = LongText(mode="head_tail", max_length=5, head_share=0.34)
    dataset = tokenize(frame, tokenizer, label2id, reading=head_tail, max_chunks=8)
    assert dataset["labels"] == [[0.0, 1.0, 0.0], [1.0, 1.0, 0.0]]
    assert [len(ids) for ids in dataset["input_ids"]] == [3, 5]
