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
        {"data": {"source": str(tickets_csv)}, "model": {"name_or_path": str(tiny_model)}},
        ["prepare.split=random"],
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
    lengths = made.validation["length"]
    assert lengths == sorted(lengths) and len(set(lengths)) > 1  # evaluation batches pad little
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


def test_several_fields_reach_the_model_with_the_separator_between_them(
    ticket_model: Path,
) -> None:
    """Joined fields: [CLS] subject [SEP] body [SEP], so the model sees where the subject ends."""
    from transformers import AutoTokenizer

    from domaintune.data.fields import TextFields

    tokenizer = AutoTokenizer.from_pretrained(ticket_model)
    frame = pd.DataFrame(
        {
            "field:subject": ["Refund", "Need help"],
            "field:body": ["see subject please help thanks", "my password expired"],
            "label": ["billing", "login"],
        }
    )
    fields = TextFields(("subject", "body"))
    dataset = tokenize(
        frame,
        tokenizer,
        {"billing": 0, "login": 1},
        reading=LongText(max_length=64),
        max_chunks=8,
        fields=fields,
    )
    subject = tokenizer("Need help", add_special_tokens=False)["input_ids"]
    body = tokenizer("my password expired", add_special_tokens=False)["input_ids"]
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    assert dataset["input_ids"][1] == [cls, *subject, sep, *body, sep]
    types = dataset["token_type_ids"] if "token_type_ids" in dataset.column_names else [[0]]
    assert {t for row in types for t in row} == {0}  # one segment, joined fields and all


def test_a_text_pair_gives_token_types_0_then_1_and_cuts_the_longer_field(
    ticket_model: Path,
) -> None:
    from transformers import AutoTokenizer

    from domaintune.data.fields import TextFields

    tokenizer = AutoTokenizer.from_pretrained(ticket_model)
    long_body = " ".join(["package delivery tracking"] * 10)
    frame = pd.DataFrame(
        {
            "field:subject": ["Need help", "Refund"],
            "field:body": ["my password expired", long_body],
            "label": ["login", "billing"],
        }
    )
    fields = TextFields(("subject", "body"), "pair")
    dataset = tokenize(
        frame,
        tokenizer,
        {"billing": 0, "login": 1},
        reading=LongText(max_length=16),
        max_chunks=8,
        fields=fields,
    )
    ids, types = dataset["input_ids"][0], dataset["token_type_ids"][0]
    first_end = ids.index(tokenizer.sep_token_id)
    assert types == [0] * (first_end + 1) + [1] * (len(ids) - first_end - 1)
    assert ids[-1] == tokenizer.sep_token_id and 1 in types
    cut, cut_types = dataset["input_ids"][1], dataset["token_type_ids"][1]
    assert len(cut) == 16 and dataset["length"][1] == 16
    refund = tokenizer("Refund", add_special_tokens=False)["input_ids"]
    assert cut[1 : 1 + len(refund)] == refund  # the short subject is kept whole
    assert cut_types.count(1) == 16 - len(refund) - 2  # the long body lost the tokens


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


def test_label_sets_of_several_fields_give_multi_hot_rows_beside_the_fields_tokens(
    ticket_model: Path,
) -> None:
    """multi_label with fields: the one row loop gives each row its fields' tokens (a pair: token
    types 0 then 1) and its multi-hot target; a wrong pairing would train on another row's set."""
    from transformers import AutoTokenizer

    from domaintune.data.fields import TextFields

    tokenizer = AutoTokenizer.from_pretrained(ticket_model)
    frame = pd.DataFrame(
        {
            "field:subject": ["Refund", "Need help"],
            "field:body": ["see subject please help thanks", "my password expired"],
            "label": [["billing"], ["billing", "login"]],
        }
    )
    label2id = {"billing": 0, "login": 1, "shipping": 2}
    for mode in ("joined", "pair"):
        dataset = tokenize(
            frame,
            tokenizer,
            label2id,
            reading=LongText(max_length=64),
            max_chunks=8,
            fields=TextFields(("subject", "body"), mode),
        )
        assert dataset["labels"] == [[1.0, 0.0, 0.0], [1.0, 1.0, 0.0]]
        subject = tokenizer("Need help", add_special_tokens=False)["input_ids"]
        body = tokenizer("my password expired", add_special_tokens=False)["input_ids"]
        cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
        assert dataset["input_ids"][1] == [cls, *subject, sep, *body, sep]
        types = dataset["token_type_ids"][1]
        assert types.count(1) == (len(body) + 1 if mode == "pair" else 0)
