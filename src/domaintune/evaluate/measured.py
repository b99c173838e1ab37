"""A classifier's figures from its predictions, wherever they came from: the model's logits and
each baseline's predictions on the scored rows (the test split, or every row out of fold under
cross-validation), turned into metrics.json, predictions.parquet, the temperature and decision
rules beside the model, and the model card."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, classification_report, confusion_matrix

from domaintune.config import Config, EvaluateConfig
from domaintune.evaluate import calibration, decision, significance
from domaintune.evaluate.analysis import by_length, read_audit, scores_on_trusted_rows
from domaintune.evaluate.model_card import write_model_card
from domaintune.evaluate.other_runs import compare_other_runs
from domaintune.evaluate.scoring import bootstrap_intervals, resample_rows
from domaintune.metrics import scores
from domaintune.rundir import RunDir, write_parquet, write_text
from domaintune.runfiles import (
    AbstainRule,
    Baseline,
    Calibration,
    ClassRule,
    CrossValidation,
    DataCard,
    DecisionRules,
    Decisions,
    LongTextScores,
    Metrics,
    SavedClassRule,
    TrainLog,
    TrustedScores,
)
from domaintune.temperature import probabilities, save_temperature


@dataclass
class Scored:
    """What the figures are computed from."""

    test: pd.DataFrame
    """The scored rows (text, label)."""
    logits: dict[str, np.ndarray]
    """The model's raw logits on "validation" (where the temperature and the decision rules are
    chosen) and on "test" (the scored rows)."""
    gold_ids: dict[str, np.ndarray]
    """The labels' positions for the same two."""
    baselines: dict[str, tuple[np.ndarray, dict[str, Any]]]
    """Each baseline's predicted labels on the scored rows, and how it was chosen."""


def calibrate(
    run: RunDir,
    logits: dict[str, np.ndarray],
    gold: dict[str, np.ndarray],
    *,
    bins: int,
    fitted_on: str = "validation",
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
    save_temperature(run.model, temperature, {"fitted_on": fitted_on, **nll})
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


def doubted_texts(run: RunDir, card: DataCard) -> set[str]:
    """Texts whose labels the prepare stage's audit counts as likely wrong (none without one)."""
    audit = read_audit(run, card)
    return set() if audit is None else set(audit.loc[audit["likely_error"], "text"])


def write_metrics(
    config: Config,
    run: RunDir,
    card: DataCard,
    log: TrainLog,
    scored: Scored,
    *,
    long_text: LongTextScores | None = None,
    texts_per_second: float | None = None,
    other_runs: dict[str, str] | None = None,
    cross_validation: CrossValidation | None = None,
    fitted_on: str = "validation",
) -> Metrics:
    """Calibrate, score the model and each baseline with intervals and paired tests, apply the
    decision rules; write metrics.json, predictions.parquet and the model card. `fitted_on` says
    where the temperature was fitted."""
    options, labels, test = config.evaluate, card.labels, scored.test
    gold, gold_ids = test["label"].to_numpy(), scored.gold_ids
    calibrated = calibrate(
        run, scored.logits, gold_ids, bins=options.calibration_bins, fitted_on=fitted_on
    )
    probs = {
        name: probabilities(values, temperature=calibrated.temperature)
        for name, values in scored.logits.items()
    }
    predicted = np.array(labels)[probs["test"].argmax(axis=1)]

    rows = resample_rows(len(test), samples=options.bootstrap_samples, seed=options.seed)
    report = classification_report(
        gold, predicted, labels=labels, output_dict=True, zero_division=0
    )
    model_scores = scores(gold, predicted)
    baselines: dict[str, Baseline] = {}
    tests: dict[str, dict[str, Any]] = {}  # the paired tests, read into `Metrics` below
    for name, (baseline_predicted, details) in scored.baselines.items():
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

    compared = compare_other_runs(
        other_runs or {},
        test,
        predicted,
        labels=labels,
        rows=rows,
        confidence_level=options.confidence_level,
        model_macro_f1=model_scores["macro_f1"],
    )

    trusted = scores_on_trusted_rows(
        test["text"],
        gold,
        {"model": predicted} | {name: values for name, (values, _) in scored.baselines.items()},
        doubted_texts(run, card),
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
        other_runs=compared,
        cross_validation=cross_validation,
        trusted_labels=None if trusted is None else TrustedScores(**trusted),
    )
    write_parquet(run.predictions, predictions)
    metrics.write(run.metrics)
    write_model_card(run.model_card, config, card, log, metrics)
    write_text(run.config, config.to_yaml())  # the settings these figures were measured with
    return metrics
