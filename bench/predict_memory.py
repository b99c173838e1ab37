"""Peak memory of `domaintune predict --file` as the file grows: it must stay flat (and under
2 GiB), since the file is read, labelled and written a chunk at a time.

Makes files of N rows (an id and a text: the run's test texts repeated, each copy a little
different) and labels each with the real CLI in a subprocess, printing per size: seconds, rows/s,
the peak resident memory of the process (`/usr/bin/time -v`'s "Maximum resident set size"), and
its resident memory sampled every half second: at 10%, 50% and 90% of the run, and the most of
any sample. It stays level once the model is loaded if memory does not grow with the rows read.

    python bench/predict_memory.py                       # 5,000 and 20,000 rows (~5 min on 2 cores)
    python bench/predict_memory.py --rows 20000 100000   # sizes of your choice
    python bench/predict_memory.py --million             # adds 1,000,000 rows (~2 h on 2 cores)
    python bench/predict_memory.py --tiny-model --rows 100000 --million
        # the same path (read, check, normalise, tokenise, label, write) with a 2-layer random
        # model in place of the run's: 1,000,000 rows in minutes, to see the memory of reading
        # and writing at that size; its rows/s are not the real model's

The Parquet input is written as pandas writes it, in one row group of up to 1,048,576 rows, the
hardest case for a streaming reader.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = ["", " please", " thanks", " !!", " again", " today"]


def make_file(path: Path, rows: int, texts: list[str], file_format: str) -> None:
    """`rows` rows of an id and a text; copy k of test text i ends with one of a few words, so
    texts repeat with small differences, as real streams of messages do."""
    ids = [f"row-{i:07}" for i in range(rows)]
    values = [
        texts[i % len(texts)] + VARIANTS[(i // len(texts)) % len(VARIANTS)] for i in range(rows)
    ]
    table = pa.table({"id": ids, "text": values})
    if file_format == "parquet":
        pq.write_table(table, path)  # pyarrow's default row groups: one for up to 1,048,576 rows
    elif file_format == "csv":
        table.to_pandas().to_csv(path, index=False)
    else:
        table.to_pandas().to_json(path, orient="records", lines=True, force_ascii=False)


def tiny_model(folder: Path, texts: list[str]) -> Path:
    """A 2-layer random BERT classifier with a word vocabulary of the texts, 3 labels."""
    from collections import Counter

    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    words = Counter(word for text in texts for word in text.lower().split())
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *(w for w, _ in words.most_common(5000))]
    (folder / "vocab.txt").write_text("\n".join(dict.fromkeys(vocab)) + "\n")
    tokenizer = BertTokenizerFast(vocab_file=str(folder / "vocab.txt"), do_lower_case=True)
    tokenizer.model_max_length = 128
    config = BertConfig(
        vocab_size=len(tokenizer), hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=128, max_position_embeddings=128,
        id2label={0: "negative", 1: "neutral", 2: "positive"},
        label2id={"negative": 0, "neutral": 1, "positive": 2},
    )  # fmt: skip
    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def rss_kib(pid: int) -> int:
    """Resident memory of a process and its children (KiB); 0 once it has ended."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return 0
    own = next(
        (int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0
    )
    return own + sum(rss_kib(int(child)) for child in children)


def measure(command: list[str], *, env: dict[str, str]) -> tuple[float, int, list[int]]:
    """Seconds, peak RSS (KiB) and RSS samples (KiB, every 0.5 s) of `command`.

    The peak is what `/usr/bin/time -v` reports as "Maximum resident set size" when it is
    installed; else the kernel's max RSS of the child from wait4. (Linux carries a process's max
    RSS over exec, so a child forked from a big process starts with that process's RSS as its
    max: the files are therefore made in a process of their own, and this one stays small.)"""
    timed = Path("/usr/bin/time").is_file()
    if timed:
        command = ["/usr/bin/time", "-v", *command]
    samples: list[int] = []
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.5):
            value = rss_kib(process.pid)
            if value:
                samples.append(value)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    assert process.stderr is not None
    errors = process.stderr.read().decode(errors="replace")
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    if process.returncode != 0:
        sys.exit(f"predict failed ({process.returncode}):\n{errors[-3000:]}")
    peak = usage.ru_maxrss
    if timed:
        lines = [line for line in errors.splitlines() if "Maximum resident set size" in line]
        peak = int(lines[-1].split(":")[-1])
    return seconds, peak, samples


def prepare(target: Callable[..., object], *args: object) -> None:
    """Run `target` in a fresh interpreter, so that this process stays small (see `measure`)."""
    worker = multiprocessing.get_context("spawn").Process(target=target, args=args)
    worker.start()
    worker.join()
    if worker.exitcode != 0:
        sys.exit(f"{target.__name__} failed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, default=ROOT / "runs/airline-sentiment")
    parser.add_argument("--rows", type=int, nargs="+", default=[5_000, 20_000])
    parser.add_argument("--million", action="store_true", help="also 1,000,000 rows")
    parser.add_argument("--chunk-size", type=int, default=10_000)
    parser.add_argument("--input", choices=["parquet", "csv", "jsonl"], default="parquet")
    parser.add_argument("--workdir", type=Path, help="keep the files here (default: a temp dir)")
    parser.add_argument(
        "--threads",
        type=int,
        help="torch threads of predict (OMP_NUM_THREADS); on a machine busy with other work, "
        "1 is faster than the default of one per core",
    )
    parser.add_argument(
        "--tiny-model", action="store_true", help="a 2-layer random model in place of the run's"
    )
    args = parser.parse_args()
    sizes = sorted(set(args.rows) | ({1_000_000} if args.million else set()))
    texts = pd.read_parquet(args.run / "data/test.parquet")["text"].tolist()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    if args.threads is not None:
        env["OMP_NUM_THREADS"] = str(args.threads)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="predict-memory-"))
    workdir.mkdir(parents=True, exist_ok=True)
    model = args.run
    if args.tiny_model:
        model = workdir / "tiny-model"
        model.mkdir(exist_ok=True)
        prepare(tiny_model, model, texts)
    print(
        f"model {model}; {len(texts)} test texts repeated; chunks of {args.chunk_size} rows; "
        f"{args.input} in, Parquet out; {os.cpu_count()} CPUs, threads "
        f"{args.threads or 'default'}; files in {workdir}"
    )
    print(
        f"{'rows':>9} {'seconds':>8} {'rows/s':>7} {'peak RSS MiB':>12}   RSS MiB sampled at 10% / 50% / 90% of the run, max"
    )
    for rows in sizes:
        data = workdir / f"texts-{rows}.{args.input}"
        output = workdir / f"labels-{rows}.parquet"
        prepare(make_file, data, rows, texts, args.input)
        command = [
            sys.executable, "-m", "domaintune.cli", "predict", str(model), "--file", str(data),
            "--output", str(output), "--chunk-size", str(args.chunk_size),
        ]  # fmt: skip
        seconds, peak, samples = measure(command, env=env)
        written = pq.ParquetFile(output).metadata.num_rows
        assert written == rows, f"{written} rows written for {rows}"
        marks = (
            [samples[int(len(samples) * share)] / 1024 for share in (0.1, 0.5, 0.9)]
            + [max(samples) / 1024]
            if samples
            else []
        )
        print(
            f"{rows:>9} {seconds:>8.0f} {rows / seconds:>7.0f} {peak / 1024:>12.0f}   "
            + " / ".join(f"{mark:.0f}" for mark in marks),
            flush=True,
        )
        output.unlink()
        if args.workdir is None:
            data.unlink()
    threads = f"OMP_NUM_THREADS={args.threads} " if args.threads else ""
    print(f"by hand: {threads}PYTHONPATH=src /usr/bin/time -v python {' '.join(command[1:])}")


if __name__ == "__main__":
    main()
