"""How many labels does the labeling loop save? Macro-F1 against labels spent, loop vs random.

A labelled data set plays the pool with its labels hidden; its labels answer for the annotator.
The loop is `domaintune label pick`'s: a cold start from the label names (`pick.cold_start`),
then rounds of uncertainty + diversity (`pick.next_batch`: the 10 x k smallest-margin rows, a
k-means of them, the row nearest each centre). Random picks the same numbers of rows at random.
At each budget both are scored by the same learner on the whole test split: a logistic
regression on frozen MiniLM embeddings (`label.command.LR_C`, balanced class weights), which is
also the learner that picks in the loop (as `label pick --labelled` does without a run). The
pool and the test split are embedded once, so every round costs only a fit: this is what makes
the bench affordable on two CPU cores (a fine-tuning per budget and seed would take hours).

Rounds land on the budgets: the first is the cold start of the first budget's size, each next
one `--batch` rows (default 0: as many as are labelled already, doubling), cut to reach the next
budget exactly. Seeds drive the loop's k-means and the random draws alike.

    python bench/labeling_curve.py --data runs/demo-new/data --out runs/labeling-curve
    python bench/labeling_curve.py --seeds 3 --batch 24          # 24 rows a round
    python bench/labeling_curve.py --data runs/x/data --run runs/x  # the curve in x's report

Without --data the built-in airline tweets are prepared with the defaults into --out. Printed:
mean macro-F1 (and its spread over seeds) per budget for both, and the smallest budget at which
the loop reaches random's macro-F1 at the largest budget, per seed and on the means.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score

from domaintune.cli import quiet_libraries
from domaintune.config import load_config
from domaintune.data.prepare import run_prepare
from domaintune.evaluate.probe import Encoder, probe_classifier
from domaintune.label.command import BATCH_SIZE, LR_C, MAX_TOKENS
from domaintune.label.pick import cold_start, next_batch, normalised
from domaintune.report import plots
from domaintune.rundir import RunDir, write_text
from domaintune.runfiles import LabelingCurve

BUDGETS = "24,48,96,192,384,768"


def prepared(data: Path | None, out: Path) -> Path:
    """The data folder to read train.parquet and test.parquet from; the default task prepared
    into `out` when none is given."""
    if data is not None:
        return data
    run = RunDir(out / "prepared")
    if not run.split("test").is_file():
        run_prepare(load_config(None), run)
    return run.data


def embeddings(encoder: Encoder, texts: list[str], path: Path) -> np.ndarray:
    """The texts' normalised embeddings, cached at `path` for a rerun on the same texts."""
    if path.is_file():
        cached = np.load(path)
        if len(cached) == len(texts):
            return cached
    vectors = normalised(encoder.embed(texts, batch_size=BATCH_SIZE, progress=True))
    np.save(path, vectors)
    return vectors


def score(
    pool: np.ndarray,
    gold: np.ndarray,
    rows: list[int],
    test: np.ndarray,
    truth: np.ndarray,
    *,
    seed: int,
) -> tuple[float, Any]:
    """Test macro-F1 of the learner fitted on `rows`, and the learner (None with one class)."""
    labels = gold[rows]
    if len(set(labels)) < 2:
        return float(f1_score(truth, np.full(len(truth), labels[0]), average="macro")), None
    learner = probe_classifier(LR_C, class_weight="balanced", seed=seed).fit(pool[rows], labels)
    return float(f1_score(truth, learner.predict(test), average="macro")), learner


def loop_curve(
    pool: np.ndarray, gold: np.ndarray, test: np.ndarray, truth: np.ndarray, names: np.ndarray,
    *, labels: list[str], budgets: list[int], batch: int, seed: int,
) -> list[float]:  # fmt: skip
    """The loop's macro-F1 at each budget: a cold start, then uncertainty + diversity rounds."""
    rows = [pick.row for pick in cold_start(pool, names, budgets[0], labels=labels, seed=seed)]
    scores = []
    for budget in budgets:
        while len(rows) < budget:
            _, learner = score(pool, gold, rows, test, truth, seed=seed)
            have = set(gold[rows])
            size = min(batch or len(rows), budget - len(rows))
            picks = next_batch(
                pool, size, labels=labels, names=names,
                probabilities=None if learner is None else learner.predict_proba(pool),
                unknown=[label for label in labels if label not in have],
                exclude=set(rows), seed=seed,
            )  # fmt: skip
            rows += [pick.row for pick in picks]
        scores.append(score(pool, gold, rows, test, truth, seed=seed)[0])
    return scores


def random_curve(
    pool: np.ndarray, gold: np.ndarray, test: np.ndarray, truth: np.ndarray,
    *, budgets: list[int], seed: int,
) -> list[float]:  # fmt: skip
    order = np.random.default_rng(seed).permutation(len(pool)).tolist()
    return [score(pool, gold, order[:budget], test, truth, seed=seed)[0] for budget in budgets]


def reaches(curve: list[float], target: float, budgets: list[int]) -> int | None:
    """The smallest budget at which `curve` reaches `target`; None if it never does."""
    return next((b for b, value in zip(budgets, curve) if value >= target), None)


def table(curve: LabelingCurve) -> str:
    loop, rand = np.array(curve.loop), np.array(curve.random)
    lines = ["| labels | loop macro-F1 | random macro-F1 | gain |", "|---:|---:|---:|---:|"]
    for i, budget in enumerate(curve.budgets):
        lines.append(
            f"| {budget} | {loop[:, i].mean():.3f} ± {loop[:, i].std():.3f} | "
            f"{rand[:, i].mean():.3f} ± {rand[:, i].std():.3f} | "
            f"{loop[:, i].mean() - rand[:, i].mean():+.3f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="A prepared data/ folder (train, test parquet).")
    parser.add_argument("--out", type=Path, default=Path("runs/labeling-curve"))
    parser.add_argument("--model", default="builtin:minilm-l6")
    parser.add_argument("--budgets", default=BUDGETS)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=0, help="Rows a round; 0: doubling.")
    parser.add_argument("--run", type=Path, help="Also write the curve into this run's folder.")
    args = parser.parse_args()
    quiet_libraries()
    if args.run is not None and not RunDir(args.run).is_marked():
        parser.error(f"--run {args.run} is not a run folder domaintune made")
    args.out.mkdir(parents=True, exist_ok=True)
    data = prepared(args.data, args.out)
    train, test = (pd.read_parquet(data / f"{name}.parquet") for name in ("train", "test"))
    labels = sorted(set(train["label"]))
    budgets = [int(b) for b in args.budgets.split(",")]
    encoder = Encoder(args.model, max_length=MAX_TOKENS)
    pool = embeddings(encoder, train["text"].tolist(), args.out / "pool.npy")
    tested = embeddings(encoder, test["text"].tolist(), args.out / "test.npy")
    names = normalised(encoder.embed([label.replace("_", " ") for label in labels], batch_size=8))
    gold, truth = train["label"].to_numpy(), test["label"].to_numpy()
    curves: dict[str, list[list[float]]] = {"loop": [], "random": []}
    for seed in range(args.seeds):
        loop = loop_curve(pool, gold, tested, truth, names, labels=labels, budgets=budgets,
                          batch=args.batch, seed=seed)  # fmt: skip
        rand = random_curve(pool, gold, tested, truth, budgets=budgets, seed=seed)
        curves["loop"].append(loop)
        curves["random"].append(rand)
        reached = reaches(loop, rand[-1], budgets)
        print(f"seed {seed}: loop {' '.join(f'{v:.3f}' for v in loop)} | random "
              f"{' '.join(f'{v:.3f}' for v in rand)} | loop reaches random@{budgets[-1]} "
              f"({rand[-1]:.3f}) at {reached or 'never'}", flush=True)  # fmt: skip
    target = float(np.array(curves["random"])[:, -1].mean())
    means = np.array(curves["loop"]).mean(axis=0).tolist()
    curve = LabelingCurve(
        data=str(data),
        learner=f"logistic regression on frozen {args.model} embeddings",
        budgets=budgets,
        loop=curves["loop"],
        random=curves["random"],
        reached=[reaches(lo, ra[-1], budgets) for lo, ra in zip(curves["loop"], curves["random"])],
        reached_on_means=reaches(means, target, budgets),
    )
    markdown = table(curve)
    print(markdown)
    print(f"on the means: the loop reaches random's macro-F1 at {budgets[-1]} labels ({target:.3f}) "
          f"with {curve.reached_on_means or 'none of the budgets measured, not even'} labels")  # fmt: skip
    curve.write(args.out / "labeling_curve.json")
    write_text(args.out / "labeling_curve.md", markdown + "\n")
    plots.labeling_curve(curve, args.out / "labeling_curve.png")
    if args.run is not None:
        curve.write(RunDir(args.run).labeling_curve)
        print(f"wrote {RunDir(args.run).labeling_curve}: the report shows it once re-run")
    print(f"wrote {args.out / 'labeling_curve.json'}, .md and .png")


if __name__ == "__main__":
    main()
