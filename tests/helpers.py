"""Helpers the tests share: small labelled data with a clear signal, the CLI in a subprocess,
the fast settings of a tiny-model run, and snapshots that prove a user's files were not touched.

Fixtures built from these live in conftest.py.
"""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from domaintune.config import Config, build_config
from domaintune.rundir import RunDir

WORDS = {
    "negative": "late delayed cancelled lost rude broken angry worst terrible refund waiting",
    "neutral": "flight ticket gate seat question tomorrow schedule booking change baggage info",
    "positive": "thanks great love amazing friendly awesome best smooth happy excellent kind",
}
FILLER = [
    "the",
    "a",
    "my",
    "to",
    "on",
    "for",
    "with",
    "is",
    "was",
    "and",
    "you",
    "your",
    "we",
    "i",
    "it",
    "this",
    "that",
    "at",
]


def build_tiny_bert(folder: Path, words: set[str], *, hidden_size: int = 64) -> Path:
    """A 2-layer BERT with random weights (seeded) and a word-level vocabulary of `words`,
    saved in `folder` as `from_pretrained` expects (safetensors); `hidden_size` wide, for the
    rules that read a model's width."""
    import torch
    from transformers import BertConfig, BertForMaskedLM, BertTokenizer

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "@", "#", "airline", "&", "!", "?"]
    vocab += sorted(words)
    vocab += [str(d) for d in range(10)] + [f"##{d}" for d in range(10)]
    tokenizer = BertTokenizer(vocab={token: i for i, token in enumerate(vocab)}, do_lower_case=True)
    tokenizer.model_max_length = 64
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=hidden_size,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=128,
        max_position_embeddings=64,
    )
    torch.manual_seed(0)  # the same random weights every run, so the tests are repeatable
    BertForMaskedLM(config).save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


def make_rows(count: int, seed: int = 0) -> pd.DataFrame:
    """Short texts whose class shows in their words, like customer messages with a clear tone."""
    rng = random.Random(seed)
    rows = []
    for index in range(count):
        label = list(WORDS)[index % len(WORDS)]
        words = rng.sample(WORDS[label].split(), 3) + rng.sample(FILLER, rng.randint(3, 9))
        rng.shuffle(words)
        rows.append({"text": f"@airline {' '.join(words)} #{index}", "label": label})
    return pd.DataFrame(rows)


TAGS = {
    "billing": "invoice charged payment refund card subscription billed price",
    "login": "password login locked signin account reset username code",
    "bug": "crash error broken freezes fails glitch exception blank",
    "feature": "request suggestion wish add option integration export dark",
}
"""Support-ticket tags and the words that show each: a ticket with two tags has words of both."""


def make_tagged_tickets(count: int, seed: int = 0) -> pd.DataFrame:
    """Support tickets with a list of tags each: most have one tag, every third has two."""
    rng = random.Random(seed)
    tags = list(TAGS)
    rows = []
    for index in range(count):
        first = tags[index % len(tags)]
        labels = [first]
        if index % 3 == 0:
            second = tags[(index // 3) % len(tags)]
            labels.append(second if second != first else tags[(index // 3 + 1) % len(tags)])
        labels = sorted(labels)
        words = [w for tag in labels for w in rng.sample(TAGS[tag].split(), 2)]
        words += rng.sample(FILLER, rng.randint(3, 7))
        rng.shuffle(words)
        rows.append({"text": f"{' '.join(words)} ticket {index}", "label": labels})
    return pd.DataFrame(rows)


def write_tagged_tickets(folder: Path, count: int = 320) -> Path:
    """Tagged tickets as JSONL, the labels a JSON list per row."""
    path = folder / "tagged.jsonl"
    make_tagged_tickets(count).to_json(path, orient="records", lines=True)
    return path


def make_rated_reviews(count: int, seed: int = 0) -> pd.DataFrame:
    """Reviews with a star rating from 1 to 5 that shows in their words: a 5 has four words of
    praise, a 1 four of complaint, the ratings between a mix of both."""
    rng = random.Random(seed)
    praise, complaint = WORDS["positive"].split(), WORDS["negative"].split()
    rows = []
    for index in range(count):
        rating = 1 + index % 5
        words = rng.sample(praise, rating - 1) + rng.sample(complaint, 5 - rating)
        words += rng.sample(FILLER, rng.randint(3, 7))
        rng.shuffle(words)
        rows.append({"text": f"{' '.join(words)} review {index}", "label": rating})
    return pd.DataFrame(rows)


def write_rated_reviews(folder: Path, count: int = 400) -> Path:
    """Rated reviews as CSV, the rating a whole number per row."""
    path = folder / "rated.csv"
    make_rated_reviews(count).to_csv(path, index=False)
    return path


def write_tickets(folder: Path) -> Path:
    """300 labelled texts with a few of the problems real data has."""
    frame = make_rows(300)
    frame.loc[0, "text"] = "@airline great flight &amp; friendly   crew"
    frame.loc[1, "text"] = "  "
    frame = pd.concat([frame, frame.iloc[[5, 6]]], ignore_index=True)  # exact duplicates
    path = folder / "tickets.csv"
    frame.to_csv(path, index=False)
    return path


FAST_TRAINING = [
    "train.epochs=8",
    "train.early_stopping_patience=0",
    "train.learning_rate=0.001",
    "train.batch_size=8",
    "train.freeze_embeddings=false",
    "train.threads=1",
    "train.min_steps=0",
]
"""Overrides that make a tiny-model training fast and still learn. A randomly initialised model
sits on a plateau for a few epochs before it learns, so early stopping is off: it would end these
runs on the plateau. Its word embeddings are random, not pre-trained, so they are trained rather
than frozen. One thread: a model this small gains nothing from more, and on a shared machine
threads waiting on each other made it 6x slower. `model: auto` trains the epochs each test sets,
not more for `train.min_steps`."""

ONE_SPLIT = ["prepare.split=random", "train.method=full"]
"""The test data's few hundred rows would be cross-validated and trained few-shot by the `auto`
defaults (small data); most tests exercise one split and full fine-tuning, and say so. The tests
of cross-validation and few-shot training leave these at auto."""


def fast_config(data: Path, tiny_model: Path, *overrides: str) -> Config:
    """The config of a fast tiny-model run on `data`; `overrides` come after FAST_TRAINING."""
    return build_config(
        {"data": {"source": str(data)}, "model": {"name_or_path": str(tiny_model)}},
        [*ONE_SPLIT, *FAST_TRAINING, *overrides],
    )


def fast_settings(tiny_model: Path) -> list[str]:
    """CLI options for a fast run: the tiny model, FAST_TRAINING and a small bootstrap."""
    overrides = [*ONE_SPLIT, *FAST_TRAINING, "evaluate.bootstrap_samples=200"]
    return ["--model", str(tiny_model), *(part for key in overrides for part in ("--set", key))]


def domaintune(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    """The real CLI in a subprocess."""
    return subprocess.run(
        [sys.executable, "-c", "from domaintune.cli import main; main()", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        input=stdin,
        check=False,
    )


NOISE_EVERY = 10
"""In the shared run, every 10th row's label is moved to the next class: the texts keep their own
class's words, so the model's mistakes, the audit and the error analysis have something to find."""


def add_label_noise(path: Path) -> list[str]:
    """Relabel every NOISE_EVERY-th row of a tickets CSV; returns the relabelled texts."""
    frame = pd.read_csv(path)
    classes = list(WORDS)
    noisy = frame.index % NOISE_EVERY == 3
    frame.loc[noisy, "label"] = [
        classes[(classes.index(label) + 1) % len(classes)] for label in frame.loc[noisy, "label"]
    ]
    frame.to_csv(path, index=False)
    return frame.loc[noisy, "text"].tolist()


def copy_run(run: RunDir, folder: Path) -> RunDir:
    """A copy of a finished run that a test may change."""
    shutil.copytree(run.root, folder / run.root.name)
    return RunDir(folder / run.root.name)


def snapshot(folder: Path) -> dict[str, str]:
    """Every path under `folder` with a SHA-256 of each file's bytes: equal snapshots mean no
    file of the user's was changed, deleted or added to."""
    import hashlib

    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        if path.is_file()
        else "folder"
        for path in sorted(folder.rglob("*"))
    }


def user_files(folder: Path) -> dict[str, str]:
    """A user's working folder: a data file and notes of their own, and a snapshot of them."""
    (folder / "data").mkdir(parents=True, exist_ok=True)
    write_tickets(folder / "data").rename(folder / "data/t.csv")
    (folder / "data/notes.txt").write_text("my notes, nowhere else\n")
    (folder / "notes.txt").write_text("more notes\n")
    return snapshot(folder)


CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
"""A ChatML template as SmolLM2's, without its default system prompt."""

TOPIC_WORDS = {
    "sport": "match goal team coach league cup player score season win",
    "money": "bank shares market profit price trade investors economy rates growth",
    "music": "band album song singer concert chart tour record stage fans",
}
"""generation test data: an input of a topic's words, its target the topic's fixed headline."""
HEADLINES = {
    "sport": "team wins the cup",
    "money": "shares rise on market",
    "music": "band tops the chart",
}


def build_tiny_llama(folder: Path) -> Path:
    """A 2-layer llama causal LM with random weights (seeded), a word-level tokenizer of the
    generation test data and a chat template, saved as `from_pretrained` expects."""
    import torch
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    special = ["<unk>", "<|im_start|>", "<|im_end|>"]
    words = {w for text in [*TOPIC_WORDS.values(), *HEADLINES.values()] for w in text.split()}
    words |= set(FILLER) | {"system", "user", "assistant", "write", "headline", "answer", "with"}
    words |= {"a", "short", "text", "in", "style", "of", "training", "targets", "for", "each",
              "input", "target", ".", ":", ",", "Write", "Answer", "A"}  # fmt: skip
    vocab = {token: i for i, token in enumerate([*special, *sorted(words)])}
    backend = Tokenizer(WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = Whitespace()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token="<unk>",
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        pad_token="<|im_end|>",
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    config = LlamaConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=256,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=2,
        tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


def make_headline_pairs(count: int, seed: int = 0) -> pd.DataFrame:
    """Articles of one topic's words among filler, each with its topic's headline."""
    rng = np.random.default_rng(seed)
    rows = []
    topics = sorted(TOPIC_WORDS)
    for i in range(count):
        topic = topics[i % len(topics)]
        words = rng.choice(TOPIC_WORDS[topic].split(), size=6).tolist()
        words += rng.choice(FILLER, size=4).tolist()
        rng.shuffle(words)
        rows.append({"article": " ".join(words) + f" {i}", "headline": HEADLINES[topic]})
    return pd.DataFrame(rows)


def write_headline_pairs(folder: Path, count: int = 240) -> Path:
    path = folder / "pairs.csv"
    make_headline_pairs(count).to_csv(path, index=False)
    return path


GENERATION_TRAINING = [
    "train.method=full",
    "train.learning_rate=0.005",
    "train.threads=1",
    "train.precision=fp32",
    "train.freeze_embeddings=false",
    "generation.max_steps=150",
    "train.epochs=8",
    "generation.eval_steps=30",
    "generation.rouge_rows=30",
    "evaluate.bootstrap_samples=200",
    "prepare.drop_near_duplicates=false",
    "prepare.language=any",
]
"""A tiny causal LM learns the three headlines in a few dozen full fine-tuning steps; the
articles are shuffles of the same few words, so near-duplicate removal would take most of them."""
