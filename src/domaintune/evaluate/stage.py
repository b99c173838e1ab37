"""The evaluate stage: score the fine-tuned model on the test split, against baselines, with intervals.

Reads model/ and data/ from the run directory; writes metrics.json, predictions.parquet (one row
per test example, in the test split's order, with calibrated probabilities), model/calibration.json
(the temperature fitted on the validation split) and model/README.md (the model card). Baselines
see exactly the rows the model saw: they are fitted on the training split, tuned on the validation
split and scored on the test split. Every threshold is chosen on validation, never on test.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
from sklearn.dummy import DummyClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import average_precision_score, classification_report, confusion_matrix
from sklearn.pipeline import Pipeline, make_pipeline

from domaintune.config import GENERATIVE, Config, EvaluateConfig
from domaintune.data.fields import prepared_inputs
from domaintune.errors import UserError
from domaintune.evaluate import calibration, decision, significance
from domaintune.evaluate.analysis import by_length
from domaintune.evaluate.generation import run_evaluate_generation
from domaintune.evaluate.longtext import choose_pooling, long_text_scores, strategies
from domaintune.evaluate.model_card import write_model_card
from domaintune.evaluate.multilabel import run_evaluate_multi_label
from domaintune.evaluate.other_runs import compare_other_runs, runs_to_compare
from domaintune.evaluate.probe import Encoder, fit_probe
from domaintune.evaluate.regression import run_evaluate_regression
from domaintune.evaluate.regularization import fit_best_c, logistic_regression
from domaintune.evaluate.scoring import bootstrap_intervals, resample_rows
from domaintune.metrics import scores
from domaintune.predict import Predictor
from domaintune.predict.predictor import Input
from domaintune.rundir import RunDir, read_parquet, write_parquet, write_text
from domaintune.runfiles import (
    AbstainRule,
    Baseline,
    Calibration,
    ClassRule,
    DataCard,
    DecisionRules,
    Decisions,
    GenerationMetrics,
    LongTextScores,
    Metrics,
    MultiLabelMetrics,
    RegressionMetrics,
    SavedClassRule,
    TrainLog,
)
from domaintune.temperature import probabilities, save_temperature


def tfidf_logreg(c: float, *, class_weight: str | None, seed: int) -> Pipeline:
    return make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, strip_accents="unicode"),
        logistic_regression(c, class_weight=class_weight, seed=seed),
    )


def fit_baseline(
    name: str,
    splits: dict[str, pd.DataFrame],
    evaluate: EvaluateConfig,
    *,
    class_weight: str | None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Test predictions of the majority or TF-IDF baseline, and how it was chosen."""
    train, validation, test = splits["train"], splits["validation"], splits["test"]
    if name == "majority":
        model = DummyClassifier(strategy="most_frequent").fit(train["text"], train["label"])
        return model.predict(test["text"]), {"description": "always the most frequent class"}
    model, best_c, validation_macro_f1 = fit_best_c(
        lambda c: tfidf_logreg(c, class_weight=class_weight, seed=evaluate.seed),
        c_grid=evaluate.tfidf_c_grid,
        train=(train["text"], train["label"]),
        validation=(validation["text"], validation["label"]),
    )
    return model.predict(test["text"]), {
        "description": "TF-IDF of words and word pairs with logistic regression, "
        "its regularisation chosen on the validation split",
        "c": best_c,
        "class_weight": class_weight,
        "validation_macro_f1": validation_macro_f1,
    }


def calibrate(
    run: RunDir,
    logits: dict[str, np.ndarray],
    gold: dict[str, np.ndarray],
    *,
    bins: int,
) -> Calibration:
    """Fit the temperature on validation, save it beside the model, measure ECE on test."""
    temperature = calibration.fit_temperature(logits["validation"], gold["validation"])
    nll = {
        "validation_nll_before": calibration.negative_log_likelihood(
            logits["validation"], gold["validation"]
        ),
        "validation_nll_after": calibration.negative_log_likelihood(
            logits["validation"], gold["validation"], temperature=temperature
        ),
    }
    save_temperature(run.model, temperature, {"fitted_on": "validation", **nll})
    before = calibration.reliability(probabilities(logits["test"]), gold["test"], bins=bins)
    scaled = probabilities(logits["test"], temperature=temperature)
    after = calibration.reliability(scaled, gold["test"], bins=bins)
    return Calibration(
        temperature=temperature,
        bins=bins,
        ece_before=before["ece"],
        ece_after=after["ece"],
        **nll,
        reliability_before=before["bins"],
        reliability_after=after["bins"],
    )


def decisions(
    evaluate: EvaluateConfig,
    labels: list[str],
    probs: dict[str, np.ndarray],
    gold: dict[str, np.ndarray],
) -> tuple[Decisions, DecisionRules]:
    """The abstain table on test, and the configured rules: chosen on validation, run on test.
    Also the rules as every later prediction applies them (those reached on validation)."""
    abstain: AbstainRule | None = None
    class_rule: ClassRule | None = None
    saved = DecisionRules()
    if evaluate.abstain_target_accuracy is not None:
        threshold = decision.choose_abstain_threshold(
            probs["validation"],
            gold["validation"],
            target_accuracy=evaluate.abstain_target_accuracy,
        )
        abstain = AbstainRule(
            target_accuracy=evaluate.abstain_target_accuracy,
            reached_on_validation=threshold is not None,
            test=None
            if threshold is None
            else decision.abstain_outcome(probs["test"], gold["test"], threshold=threshold),
        )
        saved.abstain_below = threshold
    rule = evaluate.decision
    if rule is not None:
        index = labels.index(rule.label)
        threshold = decision.choose_class_threshold(
            probs["validation"][:, index], gold["validation"] == index, rule
        )
        class_rule = ClassRule(
            **rule.model_dump(),
            reached_on_validation=threshold is not None,
            test=None
            if threshold is None
            else decision.class_rule_outcome(
                probs["test"], gold["test"], label_index=index, threshold=threshold
            ),
        )
        if threshold is not None:
            saved.class_rule = SavedClassRule(**rule.model_dump(), threshold=threshold)
    measured = Decisions(
        abstain_table=decision.abstain_table(
            probs["test"], gold["test"], thresholds=evaluate.abstain_thresholds
        ),
        abstain=abstain,
        class_rule=class_rule,
    )
    return measured, saved


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
    splits = {name: read_parquet(run.split(name)) for name in ("train", "validation", "test")}
    test = splits["test"]
    gold = test["label"].to_numpy()

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
    calibrated = calibrate(run, logits, gold_ids, bins=options.calibration_bins)
    probs = {
        name: probabilities(values, temperature=calibrated.temperature)
        for name, values in logits.items()
    }
    predicted = np.array(labels)[probs["test"].argmax(axis=1)]

    rows = resample_rows(len(test), samples=options.bootstrap_samples, seed=options.seed)
    report = classification_report(
        gold, predicted, labels=labels, output_dict=True, zero_division=0
    )
    model_scores = scores(gold, predicted)
    baselines: dict[str, Baseline] = {}
    tests: dict[str, dict[str, Any]] = {}  # the paired tests, read into `Metrics` below
    class_weight = "balanced" if config.prepare.balance == "class_weights" else None
    for name in options.baselines:
        if name == "linear_probe":
            encoder = Encoder(config.model.name_or_path, max_length=log.max_length)
            baseline_predicted, details = fit_probe(
                encoder,
                splits,
                c_grid=options.probe_c_grid,
                max_train_rows=options.probe_max_train_rows,
                class_weight=class_weight,
                batch_size=options.batch_size,
                seed=options.seed,
            )
        else:
            baseline_predicted, details = fit_baseline(
                name, splits, options, class_weight=class_weight
            )
        baseline_scores = scores(gold, baseline_predicted)
        baselines[name] = Baseline(
            **baseline_scores,
            intervals=bootstrap_intervals(
                gold,
                baseline_predicted,
                labels=labels,
                rows=rows,
                confidence_level=options.confidence_level,
            ),
            **details,
        )
        tests[name] = significance.paired_test(
            gold,
            predicted,
            baseline_predicted,
            labels=labels,
            rows=rows,
            confidence_level=options.confidence_level,
            point_difference=model_scores["macro_f1"] - baseline_scores["macro_f1"],
        )

    other_runs = compare_other_runs(
        runs_to_compare(options.compare_runs, log.distilled_from),
        test,
        predicted,
        labels=labels,
        rows=rows,
        confidence_level=options.confidence_level,
        model_macro_f1=model_scores["macro_f1"],
    )

    measured_decisions, rules = decisions(options, labels, probs, gold_ids)
    rules.write(run.decision_rules)
    predictions = test[["text", "label"]].assign(predicted=predicted)
    for index, label in enumerate(labels):
        predictions[f"p_{label}"] = probs["test"][:, index]
    metrics = Metrics(
        **model_scores,
        test_rows=len(test),
        labels=labels,
        intervals=bootstrap_intervals(
            gold, predicted, labels=labels, rows=rows, confidence_level=options.confidence_level
        ),
        confidence_level=options.confidence_level,
        bootstrap_samples=options.bootstrap_samples,
        per_class={label: report[label] for label in labels},
        average_precision={
            label: float(average_precision_score(gold_ids["test"] == i, probs["test"][:, i]))
            for i, label in enumerate(labels)
        },
        confusion_matrix=confusion_matrix(gold, predicted, labels=labels).tolist(),
        calibration=calibrated,
        decision=measured_decisions,
        by_length=by_length(test["text"], gold, predicted, buckets=options.length_buckets),
        baselines=baselines,
        significance=tests,
        long_text=long_text,
        texts_per_second=None if texts_per_second is None else round(texts_per_second, 1),
        other_runs=other_runs,
    )
    write_parquet(run.predictions, predictions)
    metrics.write(run.metrics)
    write_model_card(run.model_card, config, card, log, metrics)
    write_text(run.config, config.to_yaml())  # the settings these figures were measured with
    return metrics
