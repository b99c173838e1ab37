"""The evaluate stage: score the fine-tuned model on the test split, against baselines, with intervals.

Reads model/ and data/ from the run directory; writes metrics.json, predictions.parquet (one row
per test example, in the test split's order, with calibrated probabilities), model/calibration.json
(the temperature fitted on the validation split) and model/README.md (the model card). Baselines
see exactly the rows the model saw: they are fitted on the training split, tuned on the validation
split and scored on the test split. Every threshold is chosen on validation, never on test.
"""

from __future__ import annotations

import time

import numpy as np

from domaintune.config import GENERATIVE, Config
from domaintune.data.fields import prepared_inputs
from domaintune.errors import UserError
from domaintune.evaluate.baselines import fit_baseline
from domaintune.evaluate.crossval import run_evaluate_cross_validated
from domaintune.evaluate.generation import run_evaluate_generation
from domaintune.evaluate.longtext import choose_pooling, long_text_scores, strategies
from domaintune.evaluate.measured import Scored, write_metrics
from domaintune.evaluate.multilabel import run_evaluate_multi_label
from domaintune.evaluate.other_runs import runs_to_compare
from domaintune.evaluate.probe import Encoder, fit_probe
from domaintune.evaluate.regression import run_evaluate_regression
from domaintune.predict import Predictor
from domaintune.predict.predictor import Input
from domaintune.rundir import RunDir, read_parquet
from domaintune.runfiles import (
    DataCard,
    GenerationMetrics,
    LongTextScores,
    Metrics,
    MultiLabelMetrics,
    RegressionMetrics,
    TrainLog,
)


def read_in_windows(
    run: RunDir,
    predictor: Predictor,
    inputs: dict[str, list[Input]],
    gold_ids: dict[str, np.ndarray],
    batch_size: int,
) -> tuple[dict[str, np.ndarray], LongTextScores]:
    """Logits of a model that reads windows, pooled as validation prefers; the pooling is saved
    beside the model, so every prediction after this one pools alike. `inputs`: each split's
    texts, or {field: text} objects for a model of several fields."""
    read = {}
    for name in ("validation", "test"):
        pieces, owners = predictor.predict_pieces(inputs[name], batch_size=batch_size)
        read[name] = strategies(pieces, owners, texts=len(inputs[name]))
    pooling = choose_pooling(read["validation"], gold_ids["validation"])
    predictor.long_text.pooling = pooling
    predictor.long_text.save(run.model)
    tokens = np.array(
        [
            len(e["input_ids"])
            for e, _ in predictor.encode_whole(predictor.model_inputs(inputs["test"]))
        ]
    )
    scored = long_text_scores(
        pooling=pooling,
        max_length=predictor.long_text.max_length,
        validation=read["validation"],
        validation_gold=gold_ids["validation"],
        test=read["test"],
        test_gold=gold_ids["test"],
        test_tokens=tokens,
    )
    return {name: read[name][pooling] for name in read}, scored


def run_evaluate(
    config: Config, run: RunDir
) -> Metrics | MultiLabelMetrics | RegressionMetrics | GenerationMetrics:
    """Score model/ on data/test.parquet; write metrics.json, predictions, calibration, model card.
    multi_label scores label sets instead (`evaluate.multilabel`), regression numbers
    (`evaluate.regression`)."""
    run.require(run.split("test"), run.card, stage="prepare")
    run.require(run.model, run.train_log, stage="train")
    log = TrainLog.read(run.train_log)
    trained = config.model.model_copy(update={"name_or_path": log.model})
    config = config.model_copy(update={"model": trained})  # what `model: auto` chose
    if config.task.objective == "multi_label":
        return run_evaluate_multi_label(config, run)
    if config.task.objective == "regression":
        return run_evaluate_regression(config, run)
    if config.task.objective in GENERATIVE:
        return run_evaluate_generation(config, run)
    options = config.evaluate
    card = DataCard.read(run.card)
    labels = card.labels
    if options.decision is not None and options.decision.label not in labels:
        raise UserError(
            f"evaluate.decision.label '{options.decision.label}' is not a label of this data "
            f"({', '.join(labels)})"
        )
    run.clear_from("evaluate")  # also removes an earlier temperature, so the logits below are raw
    if card.split.method == "cross_validation":
        return run_evaluate_cross_validated(config, run)
    splits = {name: read_parquet(run.split(name)) for name in ("train", "validation", "test")}
    test = splits["test"]

    # PyTorch fp32 on every machine, whatever is faster here, so the figures do not depend on it
    predictor = Predictor(run.model, backend="torch", precision="fp32")
    if predictor.labels != labels:
        raise UserError(f"{run.model} predicts {predictor.labels}, the data has {labels}")
    inputs = {  # a model of several fields reads them; the baselines read `text`, them joined
        name: prepared_inputs(splits[name], predictor.fields, path=run.split(name))
        for name in ("validation", "test")
    }
    gold_ids = {
        name: splits[name]["label"].map(labels.index).to_numpy() for name in ("validation", "test")
    }
    long_text, texts_per_second = None, None
    if predictor.long_text.mode == "chunks":
        logits, long_text = read_in_windows(run, predictor, inputs, gold_ids, options.batch_size)
    else:
        logits = {}
        for name in ("validation", "test"):  # test last, timed
            started = time.perf_counter()
            logits[name] = predictor.predict_logits(inputs[name], batch_size=options.batch_size)
        texts_per_second = len(test) / (time.perf_counter() - started)
    class_weight = "balanced" if config.prepare.balance == "class_weights" else None
    baseline_predictions = {}
    for name in options.baselines:
        if name == "linear_probe":
            encoder = Encoder(config.model.name_or_path, max_length=log.max_length)
            baseline_predictions[name] = fit_probe(
                encoder,
                splits,
                c_grid=options.probe_c_grid,
                max_train_rows=options.probe_max_train_rows,
                class_weight=class_weight,
                batch_size=options.batch_size,
                seed=options.seed,
            )
        else:
            baseline_predictions[name] = fit_baseline(
                name, splits, options, class_weight=class_weight
            )
    other_runs = runs_to_compare(options.compare_runs, log.distilled_from)
    return write_metrics(
        config,
        run,
        card,
        log,
        Scored(test=test, logits=logits, gold_ids=gold_ids, baselines=baseline_predictions),
        long_text=long_text,
        texts_per_second=texts_per_second,
        other_runs=other_runs,
    )
