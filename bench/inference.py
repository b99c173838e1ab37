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

Each variant runs in a process of its own, as a server runs one backend: in one process, ONNX
Runtime's and PyTorch's thread pools took the cores from each other (PyTorch at batch 1 fell to
20-30 texts/s beside a spinning ONNX Runtime, and ONNX Runtime lost a fifth beside PyTorch). At
batch 1 each text is one call, as a server answering single requests sees it; at batch 8 and 32
all texts go in one call with that batch size (`pipeline(texts, batch_size=...)`,
`predict_proba(texts, batch_size=...)`). With --repeats N the variants run N times in turn and
each cell keeps its best pass, so that a busy moment on a shared machine does not decide a ratio.

It prints texts/s per variant and batch size and the ratio to `pipeline()` at the same batch
size; then, from one call over all texts at batch 32 (as `domaintune export` checks parity),
against PyTorch fp32 through `Predictor`: the share of texts given the same label, the largest
probability difference (calibrated probabilities; `pipeline()`'s uncalibrated ones against
uncalibrated fp32), and each variant's macro-F1 on the test labels. PyTorch and ONNX Runtime get
the same number of threads (--threads, default one per physical core). On a machine shared with
other jobs, a PyTorch call with two threads can stall while another process holds a core: run it
on a quiet machine, or compare with --threads 1.

    python bench/inference.py --run runs/airline-sentiment                # ~5 min on 2 cores
    python bench/inference.py --run runs/airline-sentiment --rows 200     # a smoke test (~1 min)
    python bench/inference.py --run runs/airline-sentiment --repeats 3    # best of three passes
    python bench/inference.py --run runs/airline-sentiment --seconds 20   # each cell >= 20 s
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

BATCH_SIZES = (1, 8, 32)
WARM_UP = 16
"""Texts run through each variant before it is timed (first calls allocate and pick kernels)."""
PARITY_BATCH = 32
VARIANTS = ("pipeline() fp32", "torch fp32", "torch bf16", "onnx fp32", "onnx int8")
EXPORTS = {"onnx fp32": "none", "onnx int8": "int8"}
"""The ONNX variants and the `export.quantize` each is made with."""

Scorer = Callable[[list[str], int], np.ndarray]
"""Texts and a batch size in, one row of probabilities per text out."""


def test_texts(run: Path, rows: int | None) -> pd.DataFrame:
    from domaintune.rundir import RunDir, read_parquet

    test = read_parquet(RunDir(run).split("test"))
    return test.sample(n=min(rows, len(test)), random_state=0) if rows else test


def scorer(name: str, run: Path, exports: Path, *, threads: int) -> Scorer:
    """The variant called `name`, loaded (only it: each variant has a process)."""
    from domaintune.predict import Predictor
    from domaintune.predict.backends import OnnxBackend
    from domaintune.rundir import RunDir

    folder = RunDir(run).model
    if name.startswith("pipeline"):
        import transformers

        classifier = transformers.pipeline("text-classification", model=str(folder), device="cpu")
        labels = Predictor(folder, backend="torch", precision="fp32").labels

        def score(texts: list[str], batch_size: int) -> np.ndarray:
            if batch_size == 1:
                results = [classifier(text, top_k=None) for text in texts]
            else:
                results = classifier(texts, batch_size=batch_size, top_k=None)
            return np.array(
                [[{r["label"]: r["score"] for r in row}[k] for k in labels] for row in results]
            )

        return score
    if name.startswith("torch"):
        predictor = Predictor(folder, backend="torch", precision=name.split()[1])
    else:
        predictor = Predictor(folder, backend="torch", precision="fp32")
        path = exports / f"{EXPORTS[name]}.onnx"
        predictor.backend = OnnxBackend(path, name=name.replace(" ", "-"), threads=threads)

    def predict(texts: list[str], batch_size: int) -> np.ndarray:
        if batch_size == 1:
            return np.vstack([predictor.predict_proba([text], batch_size=1) for text in texts])
        return predictor.predict_proba(texts, batch_size=batch_size)

    return predict


def worker(args: argparse.Namespace) -> None:
    """One variant in this process: texts/s at each batch size, and its parity probabilities."""
    import torch

    from domaintune.cli import quiet_libraries

    quiet_libraries()
    torch.set_num_threads(args.threads)
    texts = test_texts(args.run, args.rows)["text"].tolist()
    score = scorer(args.worker, args.run, args.exports, threads=args.threads)
    speeds = {}
    for batch_size in BATCH_SIZES:
        score(texts[:WARM_UP], batch_size)
        done, started = 0, time.perf_counter()
        while done == 0 or time.perf_counter() - started < args.seconds:
            score(texts, batch_size)
            done += len(texts)
        speeds[batch_size] = done / (time.perf_counter() - started)
    np.save(args.out.with_suffix(".npy"), score(texts, PARITY_BATCH))
    args.out.write_text(json.dumps(speeds))


def build_exports(run: Path, folder: Path, texts: list[str]) -> None:
    """The two ONNX files `domaintune export` would make, into `folder`."""
    from domaintune.export.convert import model_inputs
    from domaintune.export.stage import padded_example, write_onnx
    from domaintune.models import load_classifier
    from domaintune.predict import Predictor
    from domaintune.rundir import RunDir

    model_folder = RunDir(run).model
    reference = Predictor(model_folder, backend="torch", precision="fp32")
    model = load_classifier(str(model_folder), attention="eager").eval()
    inputs = model_inputs(model, list(reference.tokenizer.model_input_names), model_folder)
    example = padded_example(reference, texts)
    for quantize in EXPORTS.values():
        started = time.perf_counter()
        target = folder / f"{quantize}.onnx"
        write_onnx(model, target, inputs=inputs, example=example, quantize=quantize, opset=17)
        print(f"built {target.name} in {time.perf_counter() - started:.0f} s", file=sys.stderr)


def machine_line(threads: int) -> str:
    import onnxruntime
    import torch
    import transformers

    from domaintune.machine import cpu_flags, physical_cores

    cpuinfo = Path("/proc/cpuinfo")
    names = [
        line.split(":", 1)[1].strip()
        for line in (cpuinfo.read_text().splitlines() if cpuinfo.exists() else [])
        if line.startswith("model name")
    ]
    units = {"avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_int8"}
    found = ", ".join(sorted(cpu_flags() & units)) or "no AVX2"
    return (
        f"{names[0] if names else platform.processor()}; {physical_cores()} physical cores, "
        f"{threads} threads; {found}; torch {torch.__version__}, transformers "
        f"{transformers.__version__}, onnxruntime {onnxruntime.__version__}"
    )


def main() -> None:
    from domaintune.machine import physical_cores

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, default=Path("runs/airline-sentiment"))
    parser.add_argument("--threads", type=int, default=physical_cores())
    parser.add_argument("--rows", type=int, default=None, help="Test texts used (default: all).")
    parser.add_argument(
        "--seconds", type=float, default=0.0, help="Least time per cell (default: one pass)."
    )
    parser.add_argument("--repeats", type=int, default=1, help="Passes; each cell keeps its best.")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--exports", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return

    from domaintune.cli import quiet_libraries
    from domaintune.metrics import scores
    from domaintune.predict import Predictor
    from domaintune.predict.backends import auto_precision
    from domaintune.rundir import RunDir
    from domaintune.temperature import probabilities

    quiet_libraries()
    test = test_texts(args.run, args.rows)
    texts, gold = test["text"].tolist(), test["label"].to_numpy()
    variants, skipped = list(VARIANTS), []
    if auto_precision() != "bf16":
        variants.remove("torch bf16")
        skipped.append("torch bf16: this CPU has no bf16 arithmetic (AVX512_BF16 or AMX)")
    work = tempfile.TemporaryDirectory(prefix="domaintune-bench-")
    folder = Path(work.name)
    build_exports(args.run, folder, texts)
    reference = Predictor(RunDir(args.run).model, backend="torch", precision="fp32")
    labels, logits = reference.labels, reference.predict_logits(texts, batch_size=PARITY_BATCH)
    expected = {
        "calibrated": probabilities(logits, temperature=reference.temperature),
        "raw": probabilities(logits),
    }
    del reference

    best: dict[str, dict[int, float]] = {name: {} for name in variants}
    probs: dict[str, np.ndarray] = {}
    for repeat in range(args.repeats):
        for index, name in enumerate(variants):
            out = folder / f"pass{repeat}-variant{index}.json"
            command = [sys.executable, __file__, "--worker", name, "--run", str(args.run)]
            command += ["--threads", str(args.threads), "--exports", str(folder), "--out", str(out)]
            command += ["--rows", str(args.rows)] if args.rows else []
            command += ["--seconds", str(args.seconds)]
            subprocess.run(command, check=True, stderr=subprocess.DEVNULL)
            for batch_size, speed in json.loads(out.read_text()).items():
                cell = best[name].get(int(batch_size), 0.0)
                best[name][int(batch_size)] = max(cell, speed)
            probs[name] = np.load(out.with_suffix(".npy"))
            speeds = ", ".join(f"b{b} {s:.0f}" for b, s in best[name].items())
            print(f"  pass {repeat + 1}: {name}: {speeds} texts/s", file=sys.stderr)
    work.cleanup()

    print(f"\ninference on {args.run}: {len(texts)} test texts; {machine_line(args.threads)}")
    for line in skipped:
        print(f"skipped {line}")
    base = best[variants[0]]
    passes = f", best of {args.repeats} passes" if args.repeats > 1 else ""
    print(f"\ntexts/s (x pipeline() at the same batch size{passes}):")
    for name in variants:
        cells = "  ".join(
            f"b{b}: {best[name][b]:6.0f} ({best[name][b] / base[b]:.2f}x)" for b in BATCH_SIZES
        )
        print(f"  {name:16s} {cells}")
    print(
        f"\nparity over all {len(texts)} texts in one call at batch {PARITY_BATCH} (as "
        "`domaintune export` checks it), against PyTorch fp32 through Predictor:"
    )
    print(f"  {'variant':16s} {'same label':>10s} {'max |dp|':>9s} {'macro-F1':>9s}")
    for name in variants:
        versus = expected["raw" if name.startswith("pipeline") else "calibrated"]
        agreement = float((probs[name].argmax(1) == versus.argmax(1)).mean())
        predicted = np.array(labels)[probs[name].argmax(axis=1)]
        print(
            f"  {name:16s} {100 * agreement:9.2f}% {np.abs(probs[name] - versus).max():9.2g} "
            f"{scores(gold, predicted)['macro_f1']:9.4f}"
        )


if __name__ == "__main__":
    main()
