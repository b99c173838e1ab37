"""Support tickets with a subject and a body, whose queue shows in one field or the other, and a
tiny BERT whose vocabulary covers them: the data of the several-text-fields tests.

Half of the tickets name their problem in the subject and say nothing in the body ("see subject,
thanks"); the other half have a vague subject ("Need help") and explain in the body. So the label
depends on both fields: a model that reads only one of them gets half the tickets wrong at best.
"""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd

QUEUES = {
    "billing": "charged twice invoice refund payment card billed subscription receipt overcharge",
    "login": "password locked reset verification code sign account login authenticator expired",
    "shipping": "package delivery tracking parcel courier arrived shipped address damaged box",
}
VAGUE_SUBJECTS = ["need help", "question", "urgent issue", "please advise", "support request"]
EMPTY_BODIES = [
    "see subject please help thanks",
    "as in the subject line any update",
    "hello team details in the subject thanks",
    "please look into the subject asap",
]
FILLER = [
    "my",
    "the",
    "a",
    "is",
    "was",
    "and",
    "i",
    "it",
    "this",
    "for",
    "on",
    "with",
    "since",
    "yesterday",
    "still",
    "not",
    "again",
]
WORDS = sorted(
    {w for words in QUEUES.values() for w in words.split()}
    | {w for text in VAGUE_SUBJECTS + EMPTY_BODIES for w in text.split()}
    | set(FILLER)
)


def ticket_rows(count: int, seed: int = 0) -> pd.DataFrame:
    """`count` tickets: id, subject, body, queue; the queue's words in the subject for even ids,
    in the body for odd ones."""
    rng = random.Random(seed)
    rows = []
    for index in range(count):
        queue = list(QUEUES)[index % len(QUEUES)]
        words = rng.sample(QUEUES[queue].split(), 3) + rng.sample(FILLER, rng.randint(2, 5))
        rng.shuffle(words)
        specific = " ".join(words)
        if (index // len(QUEUES)) % 2 == 0:
            subject, body = specific.capitalize(), f"{rng.choice(EMPTY_BODIES)} #{index}"
        else:
            subject, body = rng.choice(VAGUE_SUBJECTS).title(), f"{specific} #{index}"
        rows.append({"id": f"T-{1000 + index}", "subject": subject, "body": body, "queue": queue})
    return pd.DataFrame(rows)


def write_support_tickets(folder: Path, count: int = 300) -> Path:
    """A tickets CSV as a help desk exports it: an HTML entity, a ticket without a subject, a
    repeated ticket, and one with neither subject nor body."""
    frame = ticket_rows(count)
    frame.loc[0, "body"] = "see subject &amp; please help   thanks"
    frame.loc[3, "subject"] = None
    frame.loc[4, ["subject", "body"]] = None
    frame = pd.concat([frame, frame.iloc[[6]]], ignore_index=True)
    path = folder / "support_tickets.csv"
    frame.to_csv(path, index=False)
    return path


def save_tiny_bert(folder: Path, words: list[str]) -> Path:
    """A 2-layer BERT with random weights and a word-level vocabulary of `words`, saved as
    `from_pretrained` reads it (safetensors)."""
    import torch
    from transformers import BertConfig, BertForMaskedLM, BertTokenizer

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "#", "&", "!", "?", "-"]
    vocab += words + [str(d) for d in range(10)] + [f"##{d}" for d in range(10)]
    tokenizer = BertTokenizer(vocab={token: i for i, token in enumerate(vocab)}, do_lower_case=True)
    tokenizer.model_max_length = 64
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=128,
        max_position_embeddings=64,
    )
    torch.manual_seed(0)
    BertForMaskedLM(config).save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder
