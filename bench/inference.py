"""Inference speed and parity: `transformers.pipeline()` against domaintune's backends, side by side.

All in one run, on this machine, on the test texts of a finished run (the default task's, unless
--run says otherwise), raw text in and probabilities out, tokenisation included:

- `pipeline()`: the plain Transformers text-classification pipeline on the run's model folder,
  PyTorch fp32, as its documentation shows it (no normalisation, no calibration);
- domaintune's `Predictor` (normalise, sort by length, tokenise to numpy, backend, calibrate) with
  PyTorch fp32; PyTorch bf16 autocast, only where the CPU has bf16 arithmetic (AVX512_BF16 or
  AMX; elsewhere it is many times slower, and skipped with the reason); ONNX Runtime fp32; and
  ONNX Runtime int8: the two exports `domaintune export` makes (`--quantize none`, `int8`), built
  into a temporary folder, never into the run.

At batch 1 each text is one call, as a server answering single requests sees it; at batch 8 and
32 the texts go in calls of 128 texts with that batch size (`pipeline(texts, batch_size=...)`,
`predict_proba(texts, batch_size=...)`). The variants take turns, 128 texts each, so a change of
load on the machine during the run reaches all of them alike. For each variant and batch size it
prints texts/s and the ratio to `pipeline()` at the same batch size; then, from one call over all
texts at batch 32 (as `domaintune export` checks parity), against PyTorch fp32 through
`Predictor`: the share of texts given the same label, the largest probability difference
(calibrated probabilities; `pipeline()`'s uncalibrated ones against uncalibrated fp32), and each
variant's macro-F1 on the test labels. PyTorch and ONNX Runtime get the same number of threads
(--threads, default one per physical core).

On a machine shared with other jobs, a PyTorch call with two threads can stall for hundreds of
milliseconds while another process holds a core (seen here as 4-20 texts/s at batch 1 for a few
seconds); `--threads 1` avoids that, or run it on a quiet machine.

    python bench/inference.py --run runs/airline-sentiment                # ~5 min on 2 cores
    python bench/inference.py --run runs/airline-sentiment --rows 200     # a smoke test (~1 min)
    python bench/inference.py --run runs/airline-sentiment --seconds 20   # each cell >= 20 s
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime
import pandas as pd
import torch
import transformers

from domaintune.cli import quiet_libraries
from domaintune.export.convert import model_inputs
from domaintune.export.stage import padded_example, write_onnx
from domaintune.machine import cpu_flags, physical_cores
from domaintune.metrics import scores
from domaintune.models import load_classifier
from domaintune.predict import Predictor
from domaintune.predict.backends import OnnxBackend, auto_precision
from domaintune.rundir import RunDir, read_parquet
from domaintune.temperature import probabilities

BATCH_SIZES = (1, 8, 32)
WARM_UP = 16
"""Texts run through each variant before it is timed (first calls allocate and pick kernels)."""
PARITY_BATCH = 32
SLICE_TEXTS = 128
"""Texts a variant gets before the next variant runs: see `interleaved`."""

Scorer = Callable[[list[str], int], np.ndarray]
"""Texts and a batch size in, one row of probabilities per text out."""


def pipeline_scorer(folder: Path, labels: list[str]) -> Scorer:
    """The plain Transformers pipeline: probabilities in label order, uncalibrated."""
    classifier = transformers.pipeline("text-classification", model=str(folder), device="cpu")

    def score(texts: list[str], batch_size: int) -> np.ndarray:
        if batch_size == 1:
            results = [classifier(text, top_k=None) for text in texts]
        else:
            results = classifier(texts, batch_size=batch_size, top_k=None)
        return np.array(
            [[{r["label"]: r["score"] for r in row}[k] for k in labels] for row in results]
        )

    return score


def predictor_scorer(predictor: Predictor) -> Scorer:
    def score(texts: list[str], batch_size: int) -> np.ndarray:
        if batch_size == 1:
            return np.vstack([predictor.predict_proba([text], batch_size=1) for text in texts])
        return predictor.predict_proba(texts, batch_size=batch_size)

    return score


def interleaved(
    variants: dict[str, Scorer], texts: list[str], *, batch_size: int, seconds: float
) -> dict[str, float]:
    """Texts per second of each variant.

    The texts are cut into slices of SLICE_TEXTS, and each slice goes through every variant in
    turn before the next slice: a machine whose load changes during the run (other jobs, a
    neighbour on a shared host) then slows all variants alike, not whichever ran at the time.
    Passes repeat until each variant has run `seconds` (at least one pass)."""
    for score in variants.values():
        score(texts[:WARM_UP], batch_size)
    slices = [texts[i : i + SLICE_TEXTS] for i in range(0, len(texts), SLICE_TEXTS)]
    spent = dict.fromkeys(variants, 0.0)
    done = dict.fromkeys(variants, 0)
    passes = 0
    while passes == 0 or min(spent.values()) < seconds:
        for part in slices:
            for name, score in variants.items():
                started = time.perf_counter()
                score(part, batch_size)
                spent[name] += time.perf_counter() - started
                done[name] += len(part)
        passes += 1
    return {name: done[name] / spent[name] for name in variants}


def machine_line(threads: int) -> str:
    model = (
        next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            platform.processor() or "unknown CPU",
        )
        if Path("/proc/cpuinfo").exists()
        else platform.processor()
    )
    flags = cpu_flags()
    units = ", ".join(
        sorted(
            flags
            & {"avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_int8"}
        )
    )
    return (
        f"{model}; {physical_cores()} physical cores, {threads} threads; {units or 'no AVX2'}; "
        f"torch {torch.__version__}, transformers {transformers.__version__}, "
        f"onnxruntime {onnxruntime.__version__}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, default=Path("runs/airline-sentiment"))
    parser.add_argument("--threads", type=int, default=physical_cores())
    parser.add_argument("--rows", type=int, default=None, help="Test texts used (default: all).")
    parser.add_argument(
        "--seconds", type=float, default=0.0, help="Least time per cell (default: one pass)."
    )
    args = parser.parse_args()
    quiet_libraries()
    torch.set_num_threads(args.threads)
    run = RunDir(args.run)
    test = read_parquet(run.split("test"))
    if args.rows:
        test = test.sample(n=min(args.rows, len(test)), random_state=0)
    texts, gold = test["text"].tolist(), test["label"].to_numpy()

    reference = Predictor(run.model, backend="torch", precision="fp32")
    labels = reference.labels
    variants: dict[str, Scorer] = {"pipeline() fp32": pipeline_scorer(run.model, labels)}
    variants["torch fp32"] = predictor_scorer(reference)
    skipped = []
    if auto_precision() == "bf16":
        variants["torch bf16"] = predictor_scorer(
            Predictor(run.model, backend="torch", precision="bf16")
        )
    else:
        skipped.append("torch bf16: this CPU has no bf16 arithmetic (AVX512_BF16 or AMX)")

    work = tempfile.TemporaryDirectory(prefix="domaintune-bench-")
    model = load_classifier(str(run.model), attention="eager").eval()
    inputs = model_inputs(model, list(reference.tokenizer.model_input_names), run.model)
    example = padded_example(reference, texts)
    for quantize, name in (("none", "onnx fp32"), ("int8", "onnx int8")):
        target = Path(work.name) / f"{quantize}.onnx"
        started = time.perf_counter()
        write_onnx(model, target, inputs=inputs, example=example, quantize=quantize, opset=17)
        print(f"built {name} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        onnx = Predictor(run.model, backend="torch", precision="fp32")
        onnx.backend = OnnxBackend(target, name=name, threads=args.threads)
        variants[name] = predictor_scorer(onnx)

    logits = reference.predict_logits(texts, batch_size=32)
    expected = {
        "calibrated": probabilities(logits, temperature=reference.temperature),
        "raw": probabilities(logits),
    }
    rows = []
    for batch_size in BATCH_SIZES:
        speeds = interleaved(variants, texts, batch_size=batch_size, seconds=args.seconds)
        for name, speed in speeds.items():
            rows.append({"variant": name, "batch": batch_size, "texts/s": speed})
            print(f"  {name} at batch {batch_size}: {speed:.0f} texts/s", file=sys.stderr)
    parity = []
    for name, score in variants.items():  # one call over all texts, as export checks parity
        probs = score(texts, PARITY_BATCH)
        versus = expected["raw" if name.startswith("pipeline") else "calibrated"]
        parity.append(
            {
                "variant": name,
                "agreement": float((probs.argmax(1) == versus.argmax(1)).mean()),
                "max |dp|": float(np.abs(probs - versus).max()),
                "macro-F1": scores(gold, np.array(labels)[probs.argmax(axis=1)])["macro_f1"],
            }
        )
    table = pd.DataFrame(rows)
    base = table[table["variant"].str.startswith("pipeline")].set_index("batch")["texts/s"]
    table["x pipeline()"] = table["texts/s"] / table["batch"].map(base)
    work.cleanup()

    print(f"\ninference on {run.root}: {len(texts)} test texts; {machine_line(args.threads)}")
    for line in skipped:
        print(f"skipped {line}")
    wide = table.pivot(index="variant", columns="batch", values=["texts/s", "x pipeline()"])
    wide = wide.reindex(list(variants))
    print("\ntexts/s (x pipeline() at the same batch size):")
    for name, row in wide.iterrows():
        cells = "  ".join(
            f"b{b}: {row[('texts/s', b)]:6.0f} ({row[('x pipeline()', b)]:.2f}x)"
            for b in BATCH_SIZES
        )
        print(f"  {name:16s} {cells}")
    print(
        f"\nparity over all {len(texts)} texts in one call at batch {PARITY_BATCH} (as "
        "`domaintune export` checks it), against PyTorch fp32 through Predictor:"
    )
    print(f"  {'variant':16s} {'same label':>10s} {'max |dp|':>9s} {'macro-F1':>9s}")
    for row in parity:
        print(
            f"  {row['variant']:16s} {100 * row['agreement']:9.2f}% {row['max |dp|']:9.2g} "
            f"{row['macro-F1']:9.4f}"
        )


if __name__ == "__main__":
    main()
