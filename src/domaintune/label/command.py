"""`domaintune label pick` and `domaintune label import`: the labeling loop's two commands.

pick: read the pool, drop the rows already labelled, embed the rest with a frozen sentence
encoder, get class probabilities (a run's model through `Predictor`; else a logistic regression on
the labelled rows' embeddings, once two labels have rows; else none: cold start), choose the next
k rows (`pick.next_batch`) and write them to label, with the model's suggestion for each.

Nothing of the user's is overwritten unasked: without `--out` the file is `to_label.csv` (or
`.json`) in the current folder, or the first of `to_label-2.csv`, `to_label-3.csv`, ... that does
not exist yet, so each round gets its own file; `--out FILE` is replaced (as `predict --output`
is: the user named it), never when it is the pool or the labels file. Every file is written to a
temporary name and renamed when complete.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from domaintune.errors import UserError
from domaintune.evaluate.probe import Encoder, probe_classifier
from domaintune.label.formats import (
    FORMATS,
    PROBABILITY,
    REASON,
    SUGGESTION,
    label_studio_config,
    read_filled,
    write_picked,
)
from domaintune.label.merge import Merged, merge_labels
from domaintune.label.pick import name_scores, next_batch, normalised
from domaintune.label.pool import (
    ID,
    LABEL,
    TEXT,
    check_known,
    parse_labels,
    read_labelled,
    read_pool,
)
from domaintune.predict.predictor import Predictor

DEFAULT_ENCODER = "builtin:minilm-l6"
MAX_TOKENS = 128
"""Tokens of each text the encoder reads: enough to tell what a text is about, and what keeps
embedding a pool of thousands of texts to a minute or two on a laptop's CPU."""
BATCH_SIZE = 64
LR_C = 1.0
"""The logistic regression's regularisation (on standardised embeddings): with a few dozen
labelled rows there is no validation split to choose it on."""
ENCODER_REMEDY = "--model: {error} (give a local encoder folder, or builtin:minilm-l6)"
DEFAULT_NAME = "to_label"


def output_format(out: Path | None, given: str | None) -> str:
    """--format, else `label-studio` for an --out ending in .json, else csv."""
    if given is not None:
        if given not in FORMATS:
            raise UserError(f"--format {given}: choose {' or '.join(FORMATS)}")
        return given
    return "label-studio" if out is not None and out.suffix.lower() == ".json" else "csv"


def free_path(folder: Path, suffix: str) -> Path:
    """`to_label.csv` in `folder`, or the first numbered one that does not exist yet."""
    path, number = folder / f"{DEFAULT_NAME}{suffix}", 1
    while path.exists():
        number += 1
        path = folder / f"{DEFAULT_NAME}-{number}{suffix}"
    return path


def output_path(out: Path | None, *, file_format: str, inputs: list[Path]) -> Path:
    if out is None:
        return free_path(Path.cwd(), ".json" if file_format == "label-studio" else ".csv")
    if out.is_dir():
        raise UserError(f"--out {out} is a folder: give a file name")
    for given in inputs:
        if given.exists() and out.resolve() == given.resolve():
            raise UserError(f"--out {out} is an input file: give another path")
    return out


@dataclass
class Model:
    """Where the class probabilities come from, and the labels they are over."""

    probabilities: np.ndarray | None
    classes: list[str]
    version: str


def run_model(run: Path, labels: list[str] | None) -> tuple[Predictor, list[str]]:
    """The run's classifier and the labels to pick for (its own; --labels must name the same)."""
    predictor = Predictor(run)
    if predictor.multi_label or predictor.regression:
        raise UserError(f"--run {run}: label pick takes a single-label classifier's run")
    if labels is not None and set(labels) != set(predictor.labels):
        raise UserError(
            f"--labels {','.join(labels)}: the run {run} predicts {', '.join(predictor.labels)}; "
            "give the same labels, or leave --labels out"
        )
    return predictor, labels or predictor.labels


def fitted_model(
    encoder: Encoder, labelled: pd.DataFrame, vectors: np.ndarray, *, seed: int
) -> Model:
    """A logistic regression on the labelled rows' embeddings, once two labels have rows."""
    classes = sorted(set(labelled[LABEL]))
    if len(classes) < 2:
        return Model(None, [], "similarity to the label names")
    features = normalised(encoder.embed(labelled[TEXT].tolist(), batch_size=BATCH_SIZE))
    learner = probe_classifier(LR_C, class_weight="balanced", seed=seed)
    learner.fit(features, labelled[LABEL])
    version = f"logistic regression on {len(labelled)} labelled rows"
    return Model(learner.predict_proba(vectors), list(learner.classes_), version)


def suggestions(
    model: Model, vectors: np.ndarray, names: np.ndarray, labels: list[str], rows: list[int]
) -> tuple[list[str], np.ndarray]:
    """The suggested label of each of `rows` and its probability: the model's, else the nearest
    label name's (`pick.name_scores`)."""
    if model.probabilities is None:
        scores, classes = name_scores(vectors[rows], names), labels
    else:
        scores, classes = model.probabilities[rows], model.classes
    best = scores.argmax(axis=1)
    return [classes[i] for i in best], scores[np.arange(len(scores)), best]


def pick_command(
    pool_path: Path,
    *,
    labels: str | None,
    run: Path | None,
    labelled_path: Path | None,
    k: int,
    file_format: str | None,
    out: Path | None,
    text_column: str,
    id_column: str | None,
    model: str,
    seed: int,
) -> None:
    """Write the next k rows of the pool to label; print where, and the suggestions' counts."""
    if k < 1:
        raise UserError(f"--k {k}: pick at least one row")
    wanted = parse_labels(labels) if labels is not None else None
    if wanted is None and run is None:
        raise UserError("give --labels a,b,c (the label names), or --run RUN to use its labels")
    file_format = output_format(out, file_format)
    inputs = [pool_path, *([labelled_path] if labelled_path is not None else [])]
    target = output_path(out, file_format=file_format, inputs=inputs)
    predictor = None
    if run is not None:
        predictor, wanted = run_model(run, wanted)
    assert wanted is not None
    pool, blank = read_pool(pool_path, text_column=text_column, id_column=id_column)
    labelled = pd.DataFrame(columns=[ID, TEXT, LABEL])
    if labelled_path is not None:
        labelled = read_labelled(labelled_path)
        check_known(labelled, wanted, source=labelled_path)
    done = pool[ID].isin(set(labelled[ID]))
    ours = [c for c in (SUGGESTION, PROBABILITY, REASON) if c in pool.columns]
    pool = pool[~done].drop(columns=ours).reset_index(drop=True)
    if pool.empty:
        raise UserError(
            f"every row of {pool_path} is labelled in {labelled_path} already: nothing left to pick"
        )
    if blank:
        print(f"left out {blank} rows of {pool_path} without a text")
    encoder = Encoder(model, max_length=MAX_TOKENS, remedy=ENCODER_REMEDY)
    texts = pool[TEXT].tolist()
    vectors = normalised(encoder.embed(texts, batch_size=BATCH_SIZE, progress=True))
    names = normalised(
        encoder.embed([label.replace("_", " ") for label in wanted], batch_size=BATCH_SIZE)
    )
    if predictor is not None:
        found = predictor.predict_proba(texts, batch_size=BATCH_SIZE)
        order = [predictor.labels.index(label) for label in wanted]
        scored = Model(found[:, order], wanted, f"domaintune run {run}")
        unknown: list[str] = []
    else:
        scored = fitted_model(encoder, labelled, vectors, seed=seed)
        unknown = [label for label in wanted if label not in set(labelled[LABEL])]
    picks = next_batch(
        vectors,
        k,
        labels=wanted,
        names=names,
        probabilities=scored.probabilities,
        unknown=unknown,
        exclude=set(),
        seed=seed,
    )
    rows = [pick.row for pick in picks]
    suggested, probability = suggestions(scored, vectors, names, wanted, rows)
    picked = pool.iloc[rows].reset_index(drop=True)
    picked.insert(2, SUGGESTION, suggested)
    picked.insert(3, PROBABILITY, np.round(probability, 4))
    picked.insert(4, REASON, [pick.reason for pick in picks])
    write_picked(picked, target, file_format=file_format, model_version=scored.version)
    counts = pd.Series(suggested).value_counts()
    print(f"wrote {len(picked)} rows to label to {target} (of {len(pool)} unlabelled)")
    print(f"suggestions by {scored.version}:")
    for label in wanted:
        print(f"  {label}: {int(counts.get(label, 0))}")
    if file_format == "label-studio":
        print("Label Studio labeling config (Settings > Labeling Interface > Code):")
        print(label_studio_config(wanted), end="")
    else:
        into = labelled_path if labelled_path is not None else "LABELS.csv"
        print(f"fill in the label column, then: domaintune label import {target} --into {into}")


def import_command(filled_path: Path, *, into: Path, labels: str | None) -> Merged:
    """Merge a filled file into the labels file `into`; print what was added."""
    wanted = parse_labels(labels) if labels is not None else None
    if into.exists() and filled_path.exists() and into.resolve() == filled_path.resolve():
        raise UserError(f"--into {into} is the file to import: give the labels file")
    if into.is_dir():
        raise UserError(f"--into {into} is a folder: give the labels file, e.g. labels.csv")
    merged = merge_labels(filled_path, read_filled(filled_path), into, labels=wanted)
    print(
        f"{into}: {merged.added} added, {merged.already_present} already present, "
        f"{merged.skipped_empty} skipped without a label; {merged.total} labelled rows in all"
    )
    print(f"train on them: domaintune run --data {into} --text-column text --label-column label")
    return merged
