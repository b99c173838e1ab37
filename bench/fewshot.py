"""Few labels: few-shot training against standard fine-tuning and TF-IDF + LR, on the same rows.

For each data set (the suite's, `bench/quality.py`), prepare runs once with the defaults; then,
for each size and seed, a stratified draw of SHOTS training rows a class replaces the training
split, and each method trains on it: `fewshot` (train.method fewshot) and `full` (standard
fine-tuning, every other default unchanged), both on builtin:minilm-l6, and TF-IDF + LR. All are
scored by test macro-F1 on the whole test split. The validation split stays whole, which favours
the methods that use it (full's early stopping, TF-IDF's C), not few-shot, which ignores it.
Printed: the mean and standard deviation over seeds of each method, and of the paired
differences (same draw), with their smallest value; a JSON file and a plot go to --out.

    python bench/fewshot.py --out runs/fewshot                                # airline, 8/16/64, 5 seeds
    python bench/fewshot.py --out runs/fewshot --sets products --shots 64,128 --seeds 3
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from quality import base_settings
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from domaintune.cli import quiet_libraries
from domaintune.config import build_config
from domaintune.data.prepare import run_prepare
from domaintune.evaluate.baselines import tfidf_logreg
from domaintune.evaluate.regularization import fit_best_c
from domaintune.predict import Predictor
from domaintune.rundir import RunDir, write_parquet
from domaintune.train.fewshot import head_inputs
from domaintune.train.trainer import run_train

METHODS = ("fewshot", "full")


def draw(train: pd.DataFrame, shots: int, seed: int) -> pd.DataFrame:
    """`shots` rows a class (all of a smaller class), stratified and seeded."""
    return pd.concat(
        group.sample(min(shots, len(group)), random_state=seed)
        for _, group in train.groupby("label")
    )


def head_sweep(run: RunDir, test: pd.DataFrame, grid: list[float], seed: int) -> dict[str, float]:
    """Test macro-F1 of a few-shot run's trained encoder with its head refitted at each C of
    `grid`: what `train.fewshot_head_c` would give, since the pair phase does not depend on it."""
    model = AutoModelForSequenceClassification.from_pretrained(run.model).eval()
    tokenizer = AutoTokenizer.from_pretrained(run.model)
    train = pd.read_parquet(run.split("train"))

    def features(texts: pd.Series) -> np.ndarray:
        encoded = tokenizer(texts.tolist(), truncation=True, max_length=tokenizer.model_max_length)
        rows = [{key: encoded[key][i] for key in encoded} for i in range(len(texts))]
        return head_inputs(model, rows, tokenizer)

    train_features, test_features = features(train["text"]), features(test["text"])
    scored = {}
    for c in grid:
        regression = LogisticRegression(
            C=c, max_iter=1000, class_weight="balanced", random_state=seed
        ).fit(train_features, train["label"])
        predicted = regression.predict(test_features)
        scored[f"fewshot_c{c:g}"] = float(f1_score(test["label"], predicted, average="macro"))
    return scored


def tfidf_f1(
    sample: pd.DataFrame, validation: pd.DataFrame, test: pd.DataFrame, seed: int
) -> float:
    model, _, _ = fit_best_c(
        lambda c: tfidf_logreg(c, class_weight="balanced", seed=seed),
        c_grid=[0.1, 1.0, 10.0, 100.0],
        train=(sample["text"], sample["label"]),
        validation=(validation["text"], validation["label"]),
    )
    return float(f1_score(test["label"], model.predict(test["text"]), average="macro"))


def measure(
    name: str,
    out: Path,
    shots: list[int],
    seeds: list[int],
    methods: list[str],
    head_grid: list[float],
) -> list[dict[str, Any]]:
    folder = out / Path(name).stem
    folder.mkdir(parents=True, exist_ok=True)
    settings = base_settings(name, folder)
    prepared = RunDir(folder / "prepared")
    if not prepared.card.is_file():
        run_prepare(build_config(settings), prepared)
    train = pd.read_parquet(prepared.split("train"))
    validation = pd.read_parquet(prepared.split("validation"))
    test = pd.read_parquet(prepared.split("test"))
    rows = []
    for size in shots:
        for seed in seeds:
            sample = draw(train, size, seed)
            row: dict[str, Any] = {"set": folder.name, "shots": size, "seed": seed}
            row["tfidf"] = tfidf_f1(sample, validation, test, seed)
            for method in methods:
                run = RunDir(folder / f"k{size}-s{seed}-{method}")
                run.claim(f"fewshot-{folder.name}-{size}-{seed}-{method}")
                shutil.copytree(prepared.data, run.data, dirs_exist_ok=True)
                write_parquet(run.split("train"), sample.reset_index(drop=True))
                overrides = [
                    "model.name_or_path=builtin:minilm-l6",
                    f"train.method={method}",
                    f"train.seed={seed}",
                ]
                log = run_train(build_config(settings, overrides), run)
                predicted = Predictor(run.model).predict(test["text"].tolist())
                row[method] = float(f1_score(test["label"], predicted, average="macro"))
                row[f"{method}_seconds"] = log.train_seconds
                if method == "fewshot" and head_grid:
                    row |= head_sweep(run, test, head_grid, seed)
            print(json.dumps(row), flush=True)
            rows.append(row)
    return rows


def summary(rows: list[dict[str, Any]], methods: list[str]) -> list[str]:
    """A markdown table: each method's mean (sd) over seeds, and few-shot's paired margins."""
    frame = pd.DataFrame(rows)
    sweep = [column for column in frame.columns if column.startswith("fewshot_c")]
    systems = [*methods, "tfidf", *sweep]
    others = [s for s in [*methods, "tfidf"] if s != "fewshot"]
    head = ["set", "shots", "seeds", *systems, *(f"fewshot - {o}: mean (sd) [min]" for o in others)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for (name, size), group in frame.groupby(["set", "shots"]):
        cells = [name, str(size), str(len(group))]
        cells += [f"{group[s].mean():.3f} ({group[s].std(ddof=1):.3f})" for s in systems]
        if "fewshot" in methods:
            for other in others:
                gain = group["fewshot"] - group[other]
                cells.append(f"{gain.mean():+.3f} ({gain.std(ddof=1):.3f}) [{gain.min():+.3f}]")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def plot(rows: list[dict[str, Any]], methods: list[str], path: Path) -> None:
    frame = pd.DataFrame(rows)
    sets = sorted(frame["set"].unique())
    figure, axes = plt.subplots(1, len(sets), figsize=(5 * len(sets), 4), squeeze=False)
    for axis, name in zip(axes[0], sets, strict=True):
        part = frame[frame["set"] == name]
        for system in [*methods, "tfidf"]:
            means = part.groupby("shots")[system].agg(["mean", "std"])
            axis.errorbar(means.index, means["mean"], yerr=means["std"], marker="o", label=system)
        axis.set(xscale="log", xlabel="labelled training rows a class", ylabel="test macro-F1")
        axis.set_title(name)
        axis.legend()
    figure.tight_layout()
    figure.savefig(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/fewshot"))
    parser.add_argument("--sets", default="airline")
    parser.add_argument("--shots", default="8,16,64")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument(
        "--head-c", default="", help="also refit each few-shot head at these C (e.g. 1,10,100)"
    )
    args = parser.parse_args()
    quiet_libraries()
    methods = args.methods.split(",")
    shots = [int(size) for size in args.shots.split(",")]
    rows = []
    for name in args.sets.split(","):
        grid = [float(c) for c in args.head_c.split(",") if c]
        rows += measure(name, args.out, shots, list(range(args.seeds)), methods, grid)
    lines = summary(rows, methods)
    print("\n".join(lines))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "fewshot.json").write_text(json.dumps(rows, indent=2))
    (args.out / "fewshot.md").write_text("\n".join(lines) + "\n")
    plot(rows, methods, args.out / "fewshot.png")
    print(f"wrote {args.out / 'fewshot.json'}, fewshot.md and fewshot.png", flush=True)


if __name__ == "__main__":
    main()
