"""How `prepare` scales: 10k, 100k and 1M rows of realistic short texts with planted duplicates.

Each size runs in its own process, so its peak memory (max resident set size) is its own. The
texts are support messages built from class-specific phrases, shared filler and a tail of rare
words (names, codes, typos), with 5% exact duplicates (changed case and spacing) and 5%
near-duplicates (a word or tag added). Prints seconds, rows per second and peak memory for each
size, and the ratio of times between sizes: linear growth gives 10.

    .venv/bin/python bench/prepare_scale.py                 # 10k, 100k, 1M (~15 min on 2 cores)
    .venv/bin/python bench/prepare_scale.py --sizes 10000   # a quick look
"""

from __future__ import annotations

import argparse
import itertools
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

PHRASES = {
    "billing": "charged twice|refund my payment|invoice is wrong|card was declined|cancel my subscription|overcharged this month",
    "delivery": "package never arrived|tracking has not updated|delivered to the wrong address|courier left it outside|order is late again|box was damaged",
    "account": "cannot log in|password reset email never came|locked out of my account|two factor code fails|change my email address|profile page shows an error",
    "product": "screen flickers after the update|battery drains fast|app crashes on start|sound cuts out|buttons stopped working|charger gets very hot",
}
FILLER = [
    "hi",
    "hello",
    "please",
    "thanks",
    "again",
    "today",
    "still",
    "since",
    "yesterday",
    "any",
    "help",
    "would",
    "be",
    "great",
    "asap",
    "my",
    "the",
    "this",
    "and",
    "it",
    "is",
    "was",
]
TAGS = ["#help", "!!", "thanks", "please advise", "urgent", ":("]


def generate(rows: int, seed: int = 0) -> pd.DataFrame:
    """`rows` labelled messages; 5% exact and 5% near-duplicates of earlier rows."""
    rng = np.random.default_rng(seed)
    labels = rng.choice(list(PHRASES), size=rows, p=[0.4, 0.3, 0.2, 0.1])
    phrases = {label: text.split("|") for label, text in PHRASES.items()}
    rare = [f"order{n}" for n in range(5000)] + [f"agent{chr(97 + n % 26)}{n}" for n in range(5000)]
    # All random draws at once: numpy per row would take minutes for a million rows.
    lengths = rng.integers(3, 9, size=rows)
    filler = rng.integers(0, len(FILLER), size=(rows, 8))
    phrase = rng.integers(0, 6, size=rows)
    place = rng.random(rows)
    tail = np.where(rng.random(rows) < 0.5, rng.integers(0, len(rare), size=rows), -1)
    texts = []
    for i, label in enumerate(labels):
        words = [FILLER[j] for j in filler[i, : lengths[i]]]
        words.insert(int(place[i] * (lengths[i] + 1)), phrases[label][phrase[i]])
        if tail[i] >= 0:
            words.append(rare[tail[i]])
        texts.append(" ".join(words))
    frame = pd.DataFrame({"text": texts, "label": labels})
    rows_copied = rng.choice(rows, size=rows // 5, replace=False)
    sources, copies = rows_copied[: rows // 10], rows_copied[rows // 10 :]
    exact, near = slice(0, rows // 20), slice(rows // 20, rows // 10)
    original = frame["text"].to_numpy()[sources]
    frame.loc[copies[exact], "text"] = [text.upper() + "  " for text in original[exact]]
    frame.loc[copies[near], "text"] = [
        f"{text} {tag}" for text, tag in zip(original[near], rng.choice(TAGS, size=rows // 20))
    ]
    frame.loc[copies, "label"] = frame["label"].to_numpy()[sources]
    order = rng.permutation(rows)  # copies land anywhere, before or after their original
    return frame.iloc[order].reset_index(drop=True)


def child(rows: int) -> dict:
    """Generate, then time `prepare_data` alone; report its peak memory."""
    from domaintune.config import build_config
    from domaintune.data.card import StepName
    from domaintune.data.prepare import prepare_data

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "messages.parquet"
        generate(rows).to_parquet(path, index=False)
        config = build_config({}, [f"data.source={path}", "prepare.balance=none"])
        started = time.perf_counter()
        prepared = prepare_data(config)
        seconds = time.perf_counter() - started
    return {
        "rows": rows,
        "seconds": round(seconds, 1),
        "rows_per_second": round(rows / seconds),
        "peak_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        "kept": prepared.card.rows_kept,
        "exact_duplicates": prepared.card.removed(StepName.EXACT_DUPLICATES),
        "near_duplicates": prepared.card.removed(StepName.NEAR_DUPLICATES),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=Path("runs/bench-prepare/prepare_scale.json"))
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child)))
        return
    results = []
    for rows in args.sizes:
        print(f"preparing {rows:,} rows ...", flush=True)
        output = subprocess.run(
            [sys.executable, __file__, "--child", str(rows)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        results.append(json.loads(output.strip().splitlines()[-1]))
    print(
        f"\n{'rows':>10} {'seconds':>9} {'rows/s':>9} {'peak GiB':>9} {'exact dup':>10} {'near dup':>9}"
    )
    for r in results:
        print(
            f"{r['rows']:>10,} {r['seconds']:>9} {r['rows_per_second']:>9,} {r['peak_gib']:>9} "
            f"{r['exact_duplicates']:>10,} {r['near_duplicates']:>9,}"
        )
    for small, large in itertools.pairwise(results):
        ratio = large["seconds"] / small["seconds"]
        print(
            f"time ratio {large['rows']:,} / {small['rows']:,} rows: {ratio:.1f} "
            f"(linear: {large['rows'] / small['rows']:.0f})"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"results: {args.out}")


if __name__ == "__main__":
    main()
