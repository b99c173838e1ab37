"""Fixtures: a tiny BERT and tokenizer built locally, and small labelled data sets on disk.

Nothing here touches the network: the model is built from a config with random weights and the
tokenizer from a word list, both saved the way `from_pretrained` expects (safetensors).
"""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

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


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer BERT with a word-level vocabulary covering the test data."""
    import torch
    from transformers import BertConfig, BertForMaskedLM, BertTokenizer

    folder = tmp_path_factory.mktemp("tiny-bert")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "@", "#", "airline", "&", "!", "?"]
    vocab += sorted({w for words in WORDS.values() for w in words.split()} | set(FILLER))
    vocab += [str(d) for d in range(10)] + [f"##{d}" for d in range(10)]
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
    torch.manual_seed(0)  # the same random weights every run, so the tests are repeatable
    BertForMaskedLM(config).save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


def write_tickets(folder: Path) -> Path:
    """300 labelled texts with a few of the problems real data has."""
    frame = make_rows(300)
    frame.loc[0, "text"] = "@airline great flight &amp; friendly   crew"
    frame.loc[1, "text"] = "  "
    frame = pd.concat([frame, frame.iloc[[5, 6]]], ignore_index=True)  # exact duplicates
    path = folder / "tickets.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.fixture
def tickets_csv(tmp_path: Path) -> Path:
    return write_tickets(tmp_path)


def fast_settings(tiny_model: Path) -> list[str]:
    """CLI options that make a run fast: the tiny model, a small bootstrap.

    A randomly initialised model sits on a plateau for a few epochs before it learns, so early
    stopping is off here: it would end these runs on the plateau. Its word embeddings are random,
    not pre-trained, so they are trained rather than frozen. One thread: a model this small gains
    nothing from more, and on a shared machine threads waiting on each other made it 6x slower.
    """
    return [
        "--model",
        str(tiny_model),
        "--set",
        "train.epochs=8",
        "--set",
        "train.early_stopping_patience=0",
        "--set",
        "train.learning_rate=0.001",
        "--set",
        "train.batch_size=8",
        "--set",
        "train.freeze_embeddings=false",
        "--set",
        "train.threads=1",
        "--set",
        "evaluate.bootstrap_samples=200",
    ]


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


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> RunDir:
    """One real run of the whole CLI, shared by the tests that only read its outputs.

    Tests that change a run work on a copy (`copy_run`). The run sets a class rule and an abstain
    rule, so that every part of the evaluation has something to report.
    """
    folder = tmp_path_factory.mktemp("e2e")
    data = write_tickets(folder)
    add_label_noise(data)
    args = ["run", "--data", str(data), "--text-column", "text", "--label-column", "label"]
    rules = [
        "--set",
        "evaluate.decision.label=negative",
        "--set",
        "evaluate.decision.value=0.9",
        "--set",
        "evaluate.abstain_target_accuracy=0.95",
    ]
    result = domaintune(
        *args, *fast_settings(tiny_model), *rules, "--out", "runs/tickets", cwd=folder
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return RunDir(folder / "runs/tickets")


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
