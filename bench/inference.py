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

Each variant runs in a process of its own, loaded once, as a server runs one backend: in one
process, ONNX Runtime's and PyTorch's thread pools took the cores from each other (PyTorch at
batch 1 fell to 20-30 texts/s beside a spinning ONNX Runtime, and ONNX Runtime lost a fifth beside
PyTorch). The variants take turns on slices of 128 texts, the others idle meanwhile, so that a
change of the machine's speed during the run (seen here: one variant's pass at 300 texts/s, the
next at 426, on a quiet guest of a shared host) reaches all of them alike and the ratios hold. At
batch 1 each text is one call, as a server answering single requests sees it; at batch 8 and 32 a
slice is one call with that batch size (`pipeline(texts, batch_size=...)`,
`predict_proba(texts, batch_size=...)`).

It prints texts/s per variant and batch size over all passes, and the ratio to `pipeline()` at
the same batch size as the median (and quartiles) of the per-slice ratios, which a burst of
noise during one variant's turn barely moves; then, from one call over all texts at batch 32
(as `domaintune export` checks parity), against PyTorch fp32 through `Predictor`: the share of texts given the same label, the largest
probability difference (calibrated probabilities; `pipeline()`'s uncalibrated ones against
uncalibrated fp32), and each variant's macro-F1 on the test labels. PyTorch and ONNX Runtime get
the same number of threads (--threads, default one per physical core).

    python bench/inference.py --run runs/airline-sentiment                # ~5 min on 2 cores
    python bench/inference.py --run runs/airline-sentiment --rows 200     # a smoke test (~1 min)
    python bench/inference.py --run runs/airline-sentiment --seconds 60   # passes until each cell has 60 s
"""

from __future__ import annotations

import argparse
import multiprocessing
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np
import pandas as pd

BATCH_SIZES = (1, 8, 32)
WARM_UP = 16
"""Texts run through each variant before it is timed (first calls allocate and pick kernels)."""
PARITY_BATCH = 32
SLICE_TEXTS = 128
"""Texts a variant gets before the next variant runs: see `interleaved`."""
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


def serve_variant(
    name: str, run: Path, exports: Path, threads: int, rows: int | None, connection: Connection
) -> None:
    """One variant, loaded once in a process of its own, timing the slices the driver sends:
    ("time", batch size, first, last) gets the seconds that slice took; ("parity",) the
    probabilities of all texts at PARITY_BATCH; None ends it."""
    import torch

    from domaintune.cli import quiet_libraries

    quiet_libraries()
    torch.set_num_threads(threads)
    texts = test_texts(run, rows)["text"].tolist()
    score = scorer(name, run, exports, threads=threads)
    while (command := connection.recv()) is not None:
        if command[0] == "parity":
            connection.send(score(texts, PARITY_BATCH))
            continue
        _, batch_size, first, last = command
        started = time.perf_counter()
        score(texts[first:last], batch_size)
        connection.send(time.perf_counter() - started)


def interleaved(
    workers: dict[str, Connection], count: int, *, batch_size: int, seconds: float
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Texts per second of each variant at `batch_size`, and each variant's speed-up over the
    first (the reference) on every slice.

    The texts are cut into slices of SLICE_TEXTS, and each slice goes through every variant in
    turn (each in its own process, the others idle) before the next slice: a machine whose speed
    changes during the run (other jobs, a neighbour on a shared host) then slows all variants
    alike, not whichever ran at the time. Passes repeat until each variant has run `seconds` (at
    least one pass). A slice's speed-up compares the same texts a few seconds apart; their median
    is the ratio to report, since a burst from a neighbour that hits one variant's turn moves a
    total (one pass's texts/s swung from 481 to 706 between runs of this bench) but not a median
    of dozens of slices."""
    for connection in workers.values():  # first calls allocate and pick kernels
        connection.send(("time", batch_size, 0, WARM_UP))
        connection.recv()
    slices = [(i, min(i + SLICE_TEXTS, count)) for i in range(0, count, SLICE_TEXTS)]
    seconds_per_slice: dict[str, list[float]] = {name: [] for name in workers}
    passes = 0
    while passes == 0 or min(map(sum, seconds_per_slice.values())) < seconds:
        for first, last in slices:
            for name, connection in workers.items():
                connection.send(("time", batch_size, first, last))
                seconds_per_slice[name].append(connection.recv())
        passes += 1
    times = {name: np.array(taken) for name, taken in seconds_per_slice.items()}
    reference = next(iter(times.values()))
    speeds = {name: passes * count / taken.sum() for name, taken in times.items()}
    return speeds, {name: reference / taken for name, taken in times.items()}


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
    parser.add_argument(
        "--variants",
        default=",".join(VARIANTS),
        help="Which to time, comma-separated; the first is the reference (default: all).",
    )
    args = parser.parse_args()

    from domaintune.cli import quiet_libraries
    from domaintune.metrics import scores
    from domaintune.predict import Predictor
    from domaintune.predict.backends import auto_precision
    from domaintune.rundir import RunDir
    from domaintune.temperature import probabilities

    quiet_libraries()
    test = test_texts(args.run, args.rows)
    texts, gold = test["text"].tolist(), test["label"].to_numpy()
    variants, skipped = [name.strip() for name in args.variants.split(",")], []
    unknown = [name for name in variants if name not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}: choose from {', '.join(VARIANTS)}")
    if "torch bf16" in variants and auto_precision() != "bf16":
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

    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no thread pool shared
    workers, processes = {}, []
    for name in variants:
        ours, theirs = context.Pipe()
        process = context.Process(
            target=serve_variant,
            args=(name, args.run, folder, args.threads, args.rows, theirs),
            daemon=True,
        )
        process.start()
        workers[name] = ours
        processes.append(process)
    speeds: dict[str, dict[int, float]] = {name: {} for name in variants}
    speedups: dict[str, dict[int, np.ndarray]] = {name: {} for name in variants}
    for batch_size in BATCH_SIZES:
        timed, ratios = interleaved(
            workers, len(texts), batch_size=batch_size, seconds=args.seconds
        )
        for name in variants:
            speeds[name][batch_size] = timed[name]
            speedups[name][batch_size] = ratios[name]
        print(f"  batch {batch_size} timed", file=sys.stderr)
    probs = {}
    for name, connection in workers.items():
        connection.send(("parity",))
        probs[name] = connection.recv()
        connection.send(None)
    for process in processes:
        process.join()
    work.cleanup()

    print(f"\ninference on {args.run}: {len(texts)} test texts; {machine_line(args.threads)}")
    for line in skipped:
        print(f"skipped {line}")
    print(
        f"\ntexts/s over all passes (x {variants[0]}: the median over slices of {SLICE_TEXTS} "
        "texts, each timed beside the reference; its quartiles):"
    )
    for name in variants:
        cells = []
        for b in BATCH_SIZES:
            low, median, high = np.percentile(speedups[name][b], [25, 50, 75])
            cells.append(f"b{b}: {speeds[name][b]:5.0f} ({median:.2f}x, {low:.2f}-{high:.2f})")
        print(f"  {name:16s} {'  '.join(cells)}")
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
