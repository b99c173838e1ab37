"""The files stages hand on: data/card.json, train_log.json and metrics.json, as typed models.

Each file is written and read only through its model, so later stages read attributes, not keys
found by hand. A file records its model's `schema_version`; a reader refuses any other version or
shape with one line naming the file and the stage to run again, where an older file would fail
later on whichever key it lacks. A field with a default (details only some baselines have) is
written only when set, so the JSON holds exactly what the stage produced.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.functional_serializers import model_serializer
from pydantic.functional_validators import model_validator

from domaintune.errors import UserError
from domaintune.rundir import corrupt, read_json, remedy, write_json, writer

Interval = tuple[float, float]
"""A confidence interval: (low, high)."""
File = TypeVar("File", bound="RunFile")


class Record(BaseModel):
    """A part of a run file: every field it declares and no other, so a file of another shape
    fails when read, not when a later line looks for a key."""

    model_config = ConfigDict(extra="forbid")


class RunFile(Record):
    """A file one stage writes for the later ones, with the schema version it was written in."""

    schema_version: ClassVar[int]
    """The version this code writes and reads; raise it when a field is added, removed or changes
    meaning, so files of the old shape are refused with what to re-run."""

    @classmethod
    def read(cls: type[File], path: Path) -> File:
        """The file at `path`; missing, corrupt, of another version or shape: a `UserError`."""
        if not path.is_file():
            require(path)
        raw = read_json(path)
        if not isinstance(raw, dict):
            raise corrupt(path, "not a JSON object")
        check_version(path, raw.pop("schema_version", None), cls.schema_version)
        try:
            return cls.model_validate(raw)
        except ValidationError as error:
            raise corrupt(path, f"not the shape domaintune writes: {problem(error)}") from None

    def write(self, path: Path) -> None:
        """Atomically: the schema version, then the fields as the stage set them."""
        fields = self.model_dump(by_alias=True, exclude_unset=True)
        write_json(path, {"schema_version": self.schema_version, **fields})


def require(path: Path) -> None:
    """Fail as `RunDir.require` does for a missing input: with the stage that writes it."""
    found = writer(path)
    if found is None:
        raise UserError(f"{path} is missing")
    run, stage = found
    run.require(path, stage=stage)


def check_version(path: Path, found: Any, expected: int) -> None:
    if found is not None and type(found) is not int:
        raise corrupt(path, f"schema_version {found!r} is not a whole number")
    if found == expected:
        return
    age = "a newer" if found is not None and found > expected else "an older"
    written = "no schema version" if found is None else f"schema version {found}"
    raise UserError(
        f"{path} was written by {age} domaintune ({written}; this one reads version {expected}): "
        f"{remedy(path)}"
    )


def problem(error: ValidationError) -> str:
    """The first thing wrong with a file, on one line: where, and what."""
    first, more = error.errors()[0], error.error_count() - 1
    where = ".".join(str(part) for part in first["loc"]) or "the top level"
    return f"{where}: {first['msg']}" + (f" (and {more} more)" if more else "")


class CardStep(Record):
    """One preparation step, as `data.card.Step` records it; its examples' fields vary by step."""

    name: str
    description: str
    rows_before: int
    rows_after: int
    changed: int
    examples: list[dict[str, Any]]
    removed: int


class ClassCounts(Record):
    """Rows per label, largest first."""

    raw: dict[str, int]
    clean: dict[str, int]
    """After cleaning, before the split and balancing."""


class TextLengths(Record):
    """Characters and words per text in one split."""

    chars_mean: float
    chars_p50: float
    chars_p95: float
    chars_p99: float
    chars_max: int
    words_mean: float
    words_p50: float
    words_p95: float
    words_p99: float
    words_max: int


class Leakage(Record):
    near_duplicate_pairs_after: dict[str, int]
    """Near-duplicate pairs between train and each held-out split ("train_test"), after the split."""


class LabelAuditSummary(Record):
    mode: str
    flagged: int
    """Rows whose label the cheap model's prediction disagrees with."""
    likely_errors: int
    by_split: dict[str, int]
    """Flagged rows per split they ended in ("dropped" for those that did not)."""


class FieldsSummary(Record):
    """The text fields of a run with several (data.text_columns): their names, how the model
    reads them, and each field's lengths per split. Absent from a card of one text column."""

    names: list[str]
    mode: str
    """joined: by the tokenizer's separator token; pair: as a sentence pair (two fields)."""
    lengths: dict[str, dict[str, TextLengths]]
    """Field -> split -> characters and words of that field."""


class UnlabelledSummary(Record):
    """What prepare did with data.unlabelled: texts without labels for distillation."""

    source: str
    rows_read: int
    rows_kept: int
    """Texts written to data/unlabelled.parquet."""
    steps: list[CardStep]
    """Each step in order, as the card's own: cleaning as the labelled texts', then the twins of
    labelled rows and the near-duplicates within the unlabelled texts."""
    labelled_twins: dict[str, int]
    """Texts dropped as exact or near duplicates of a labelled row, by the split of that row (the
    one that counts most where several: test, then validation, then train)."""


class SplitSummary(Record):
    """Where the splits came from, and what came of them."""

    method: str
    """"random" or "time" (prepare split the rows), "split_column" or "files" (the user did)."""
    made: dict[str, str]
    """How each held-out split was made: "given" (the user's, kept as given), or "random" or
    "time" (carved by prepare; from the training rows when the user split the data)."""
    rows: dict[str, int]
    """Rows in each split as written."""
    near_train_kept: dict[str, int]
    """Rows of a held-out split never changed (given, or cut by time) that near-duplicated a
    training row: kept where they were, their training copies dropped by the leakage step."""
    split_column: str | None = None
    files: dict[str, str] = Field(default_factory=dict)
    """The file of each split the user gave as a file."""
    time_column: str | None = None
    time_range: dict[str, tuple[str, str]] = Field(default_factory=dict)
    """The first and last time in each split (ISO 8601, UTC), when a time column was read."""
    warnings: list[str] = Field(default_factory=list)
    """What the user's splits lack, e.g. a class without test rows: said, never fixed."""


class TokenLengths(Record):
    """generation and language_model: tokens per input (or target) in a split, and how many are
    over the limit training cuts them to."""

    mean: float
    p50: float
    p95: float
    max: int
    limit: int
    cut: int


class DataCard(RunFile):
    """data/card.json, by prepare: what it read, each step it took, and the splits it wrote."""

    schema_version: ClassVar[int] = 2
    source: str
    text_column: str
    label_column: str
    labels: list[str]
    language: str
    rows_read: int
    rows_kept: int
    steps: list[CardStep]
    classes: ClassCounts
    balance: str
    splits: dict[str, dict[str, int]]
    lengths: dict[str, TextLengths]
    leakage: Leakage
    label_audit: LabelAuditSummary
    split: SplitSummary
    objective: str = "classification"
    """multi_label: `labels` are the labels a row's set is drawn from, and `classes` and `splits`
    count rows per label (a row once for each of its labels). Written only for multi_label."""
    label_sets: dict[str, dict[str, float]] | None = None
    """multi_label, per split: labels per row (cardinality), the share of rows with several, and
    distinct label sets."""
    fields: FieldsSummary | None = None
    """Optional, and so no new schema version: a card without it is one of a single text."""
    targets: dict[str, TargetSummary] | None = None
    """regression: the numeric target after cleaning ("clean") and in each split.
    `labels` is then the one output's name, and `classes` and `splits` are empty."""
    unlabelled: UnlabelledSummary | None = None
    """data.unlabelled, when given; optional, and so no new schema version."""
    tokens: dict[str, dict[str, TokenLengths]] | None = None
    """generation and language_model: token lengths of "input" and "target" per split, with the
    limits training cuts them to (`labels` is then the target column, `classes` empty)."""

    def step(self, name: str) -> CardStep | None:
        """The step called `name`, if prepare took it (the label audit can be off)."""
        return next((step for step in self.steps if step.name == name), None)

    def removed(self, *names: str) -> int:
        return sum(step.removed for step in self.steps if step.name in names)

    def changed(self, *names: str) -> int:
        return sum(step.changed for step in self.steps if step.name in names)


class EpochThroughput(Record):
    epoch: float
    seconds: float
    rows: int
    tokens: int
    padded_tokens: int


class RungProbe(Record):
    """One model's measured training speed on this machine, from `model: auto`'s probe."""

    model: str
    rows_per_second: float
    estimated_seconds: float
    fits: bool


class ModelChoice(Record):
    """Which model train used and why: `set in the config`, or what `model: auto` measured."""

    model: str
    reason: str
    time_budget: float | None
    probes: list[RungProbe] = []
    epochs: float | None = None
    """The epochs training runs where they are not `train.epochs`: fewer, cut to the budget where
    the chosen model's planned epochs do not fit it (below 1, on that share of the training rows,
    each once), or more, for `train.min_steps`; None: as planned."""
    cut_by_budget: bool = False
    """Whether the budget held `epochs` below what was wanted (the planned epochs, or those that
    make `train.min_steps`)."""


class TrainLog(RunFile):
    """train_log.json, by train: the settings used, what the data gave, the best epoch, time."""

    schema_version: ClassVar[int] = 1
    model: str
    method: str
    batch_size: int
    learning_rate: float
    weight_decay: float
    warmup_ratio: float
    seed: int
    group_by_length: bool
    dropout: float | None
    freeze_embeddings: bool
    freeze_layers: int = 0
    """The lowest transformer layers kept as pre-trained (logs written before it was recorded: 0)."""
    parameters: int
    trainable_parameters: int
    labels: list[str]
    max_length: int
    max_length_set_by: str
    """What set max_length: "percentile", "configured", "model" or "floor"."""
    max_length_percentile: float
    truncated_rows: int
    """Training texts longer than max_length, read as long_text says."""
    long_text: str = "truncate"
    """model.long_text: truncate, head_tail or chunks."""
    train_windows: int | None = None
    """Rows the model trained on: train_rows, or more where chunks cut long texts into windows."""
    train_rows: int
    validation_rows: int
    tokenized_from_cache: bool
    class_weights: dict[str, float] | None
    epochs_planned: float
    epochs_run: float
    steps: int
    best_epoch: float | None
    """None when train logged no validation score."""
    best_validation_macro_f1: float | None
    best_validation_rmse: float | None = None
    best_validation_loss: float | None = None
    """generation and language_model: the kept checkpoint's validation loss (target tokens)."""
    """regression: the best epoch's validation RMSE (macro-F1 is then None)."""
    stopped_early: bool
    resumed_from: str | None
    train_seconds: float
    step_seconds: float
    rows_per_second: float | None
    tokens_per_second: float | None
    padded_tokens_per_second: float | None
    padded_tokens_per_token: float | None
    throughput_by_epoch: list[EpochThroughput]
    precision: str
    device: str
    processes: int
    torch_threads: int
    attention: str = "sdpa"
    """The attention implementation trained with (`train.attention` resolved for the machine);
    logs written before it was recorded trained with `sdpa`."""
    history: list[dict[str, Any]]
    """The Trainer's log_history as it gave it: its keys depend on the Trainer's version."""
    fewshot_pairs: int | None = None
    """train.method fewshot: the pairs the encoder was fine-tuned on."""
    method_reason: str | None = None
    """Why train.method auto chose the method; None where it was set."""
    model_choice: ModelChoice | None = None
    """Logs written before `model: auto` existed: None."""
    distilled_from: str | None = None
    """The teacher run (`train.distill_from`), if the model learnt from one."""
    distilled_unlabelled_rows: int = 0
    """Unlabelled texts (data/unlabelled.parquet) the student learnt from the teacher alone,
    beside the train_rows labelled ones; 0 without them (and in logs written before them)."""
    distilled_augmented_rows: int = 0
    """Changed copies of training texts (train.distill_augment) the student learnt from the
    teacher alone; 0 without them (and in logs written before them)."""


PER_CLASS_F1 = re.compile(r"f1\[(.*)\]")
"""How the file names a class's F1 interval: `f1[label]`."""


class Intervals(Record):
    """Bootstrap intervals of the headline scores and of each class's F1."""

    accuracy: Interval
    macro_f1: Interval
    weighted_f1: Interval
    f1: dict[str, Interval]
    """By label; in the file, beside the others as `f1[label]`."""

    @model_validator(mode="before")
    @classmethod
    def gather_class_f1(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "f1" in data:
            return data
        matches = {key: PER_CLASS_F1.fullmatch(key) for key in data}
        rest = {key: value for key, value in data.items() if matches[key] is None}
        f1 = {found[1]: data[key] for key, found in matches.items() if found is not None}
        return {**rest, "f1": f1}

    @model_serializer(mode="wrap")
    def spread_class_f1(self, handler: Any) -> dict[str, Any]:
        fields = handler(self)
        f1 = fields.pop("f1")
        return {**fields, **{f"f1[{label}]": value for label, value in f1.items()}}


class ClassReport(Record):
    """scikit-learn's classification report for one label."""

    precision: float
    recall: float
    f1_score: float = Field(alias="f1-score")
    support: float


class ReliabilityBin(Record):
    lower: float
    upper: float
    rows: int
    confidence: float
    accuracy: float


class Calibration(Record):
    temperature: float
    """Fitted on the validation split; predict divides the logits by it."""
    bins: int
    ece_before: float
    ece_after: float
    validation_nll_before: float
    validation_nll_after: float
    reliability_before: list[ReliabilityBin]
    """Only the bins that hold rows."""
    reliability_after: list[ReliabilityBin]


class AbstainOutcome(Record):
    """What sending texts below a top probability of `threshold` to a person gives on test."""

    threshold: float
    coverage: float
    accuracy: float
    error_rate: float
    wrong_per_1000: float
    to_human_per_1000: float


class AbstainRule(Record):
    target_accuracy: float
    reached_on_validation: bool
    test: AbstainOutcome | None
    """None when no threshold reached the target on validation."""


class ClassRuleOutcome(Record):
    threshold: float
    flagged_share: float
    recall: float
    precision: float
    accuracy: float
    error_rate: float
    missed_per_1000: float
    false_alarms_per_1000: float


class ClassRule(Record):
    """The configured `evaluate.decision` and what it gave on test."""

    label: str
    target: str
    value: float
    reached_on_validation: bool
    test: ClassRuleOutcome | None


class Decisions(Record):
    abstain_table: list[AbstainOutcome]
    abstain: AbstainRule | None
    """None when no abstain rule is configured."""
    class_rule: ClassRule | None


class LengthBucket(Record):
    min_words: int
    max_words: int
    rows: int
    accuracy: float
    macro_f1: float
    weighted_f1: float


class LongTextBucket(Record):
    """Test texts of a range of token lengths, and each reading strategy's macro-F1 on them."""

    min_tokens: int
    max_tokens: int
    rows: int
    macro_f1: dict[str, float]


class LongTextScores(Record):
    """How a model trained on windows (model.long_text: chunks) reads long texts best."""

    mode: str
    max_length: int
    pooling: str
    """The pooling chosen on validation, which every prediction applies."""
    validation_macro_f1: dict[str, float]
    test_macro_f1: dict[str, float]
    by_tokens: list[LongTextBucket]


class Baseline(Record):
    """A baseline's test scores, and how it was chosen: the details depend on the baseline."""

    accuracy: float
    macro_f1: float
    weighted_f1: float
    intervals: Intervals
    description: str
    c: float | None = None
    class_weight: str | None = None
    train_rows_embedded: int | None = None
    validation_macro_f1: float | None = None


class McNemar(Record):
    only_model: int
    only_baseline: int
    p_value: float
    mid_p_value: float


class PairedBootstrap(Record):
    macro_f1_difference_interval: Interval
    p_value: float


class Comparison(Record):
    """The paired tests of the fine-tuned model against one baseline, and their verdict."""

    alpha: float
    macro_f1_difference: float
    mcnemar: McNemar
    paired_bootstrap: PairedBootstrap
    verdict: str
    """One of "better", "worse" or "not significant"."""


class OtherRun(Record):
    """Another run's model on this run's test rows (`evaluate.compare_runs`, or the teacher of a
    distilled run), and the paired tests of this run's model against it."""

    role: str
    """"teacher" (this model learnt from it) or "compared" (asked for)."""
    model: str | None
    parameters: int | None
    macro_f1: float
    macro_f1_interval: Interval
    texts_per_second: float | None
    """Its test split's prediction speed when it was evaluated (another time: a rough guide)."""
    comparison: Comparison


class FoldScores(Record):
    """One system's test macro-F1 in each fold of a cross-validation, and their spread."""

    macro_f1: list[float]
    """One a fold, the repeats one after another."""
    mean: float
    std: float
    low: float
    high: float


class FoldComparison(Record):
    """The model against one baseline fold by fold, on the same held-out rows."""

    mean_difference: float
    std_difference: float
    interval: Interval
    """Of the mean difference: Student's t with Nadeau and Bengio's correction, since folds that
    share training rows are not independent."""
    folds_ahead: int
    """Folds where the model's macro-F1 was higher."""
    verdict: str
    """"better", "worse" or "not significant", by whether the interval excludes 0."""


class CrossValidation(Record):
    """prepare.split cross_validation: how the rows were scored, and the spread over folds."""

    folds: int
    repeats: int
    seeds: list[int]
    rows: int
    method: str
    """The train.method every fold (and the final model) trained with."""
    model: FoldScores
    baselines: dict[str, FoldScores]
    comparisons: dict[str, FoldComparison]
    train_seconds: float
    """Training time of all the folds' models together."""


class TrustedScores(Record):
    """Test macro-F1 on the rows whose labels the label audit does not count as likely wrong."""

    rows: int
    doubted_rows: int
    """Scored rows left out: the audit counts their labels as likely wrong."""
    macro_f1: dict[str, float]
    """Keyed "model", then by baseline."""


class Metrics(RunFile):
    """metrics.json, by evaluate: the model's test scores and all measured around them."""

    schema_version: ClassVar[int] = 1
    accuracy: float
    macro_f1: float
    weighted_f1: float
    test_rows: int
    labels: list[str]
    intervals: Intervals
    confidence_level: float
    bootstrap_samples: int
    per_class: dict[str, ClassReport]
    average_precision: dict[str, float]
    confusion_matrix: list[list[int]]
    """Rows: true label, columns: predicted, both in the order of `labels`."""
    calibration: Calibration
    decision: Decisions
    by_length: list[LengthBucket]
    baselines: dict[str, Baseline]
    significance: dict[str, Comparison]
    long_text: LongTextScores | None = None
    """With model.long_text chunks: the strategies compared (first window, mean, max)."""
    texts_per_second: float | None = None
    """Test texts predicted per second (PyTorch fp32, `evaluate.batch_size`, tokenising included)."""
    other_runs: dict[str, OtherRun] = {}
    """Keyed by run folder: see `OtherRun`."""
    cross_validation: CrossValidation | None = None
    """prepare.split cross_validation: the figures above are then those of every row predicted
    out of fold in the first repeat (the temperature and decision rules chosen on the second's),
    and this holds the spread over all folds; None for a test split."""
    trusted_labels: TrustedScores | None = None
    """The same scored rows less those the label audit doubts; None without an audit, or where it
    doubts none of them."""


class LabelReport(Record):
    """One label of a multi_label model: its decisions scored on their own."""

    precision: float
    recall: float
    f1: float
    support: int
    """Test rows that carry the label."""
    threshold: float
    """The probability from which the label is predicted, tuned on validation."""


class SetIntervals(Record):
    """Bootstrap intervals of the multi_label scores, and of each label's F1."""

    micro_f1: Interval
    macro_f1: Interval
    samples_f1: Interval
    subset_accuracy: Interval
    hamming_loss: Interval
    f1: dict[str, Interval]


class SetBaseline(Record):
    """A multi_label baseline's test scores, and how it was chosen."""

    micro_f1: float
    macro_f1: float
    samples_f1: float
    subset_accuracy: float
    hamming_loss: float
    intervals: SetIntervals
    description: str
    c: float | None = None
    train_rows_embedded: int | None = None
    validation_micro_f1: float | None = None


class SetComparison(Record):
    """The paired bootstrap of micro-F1 (model - baseline) over the same resampled test rows."""

    alpha: float
    micro_f1_difference: float
    micro_f1_difference_interval: Interval
    p_value: float
    verdict: str
    """"better" or "worse" when the interval excludes zero, else "not significant"."""


class MultiLabelMetrics(RunFile):
    """metrics.json for task.objective multi_label, by evaluate: scores of predicted label sets
    (each label decided by its own threshold), per label, against baselines, with intervals."""

    schema_version: ClassVar[int] = 1
    objective: str = "multi_label"
    micro_f1: float
    macro_f1: float
    samples_f1: float
    subset_accuracy: float
    hamming_loss: float
    test_rows: int
    labels: list[str]
    intervals: SetIntervals
    confidence_level: float
    bootstrap_samples: int
    per_label: dict[str, LabelReport]
    average_precision: dict[str, float]
    co_occurrence: list[list[int]]
    """Test rows carrying both labels (gold), in the order of `labels`; the diagonal: each
    label's rows."""
    baselines: dict[str, SetBaseline]
    significance: dict[str, SetComparison]


REGRESSION_SCORES = ("mae", "rmse", "r2", "spearman", "pearson")
"""The scores of a regression model, and of each of its baselines, in the order reports show them."""


class TargetSummary(Record):
    """A numeric target in one split: how many rows, where the values lie and how they spread."""

    rows: int
    mean: float
    std: float
    min: float
    p25: float
    p50: float
    p75: float
    max: float
    whole_numbers: bool
    """Every value is a whole number (a rating or a severity level)."""


class RegressionIntervals(Record):
    """Bootstrap intervals of the regression scores over test rows."""

    mae: Interval
    rmse: Interval
    r2: Interval
    spearman: Interval
    pearson: Interval


class RegressionBaseline(Record):
    """A regression baseline's test scores, and how it was chosen."""

    mae: float
    rmse: float
    r2: float
    spearman: float
    pearson: float
    intervals: RegressionIntervals
    description: str
    alpha: float | None = None
    """Ridge's regularisation, chosen on validation."""
    train_rows_embedded: int | None = None
    validation_mae: float | None = None


class RegressionComparison(Record):
    """The paired bootstrap of MAE (model - baseline) over the same resampled test rows."""

    alpha: float
    mae_difference: float
    """Negative: the model's errors are smaller."""
    mae_difference_interval: Interval
    p_value: float
    verdict: str
    """"better" (the model's MAE is lower) or "worse" when the interval excludes zero, else
    "not significant"."""


class TargetBucket(Record):
    """Test rows whose true value lies in [low, high]: how far off the model is there."""

    low: float
    high: float
    rows: int
    mae: float
    mean_error: float
    """Prediction minus truth, averaged: above zero, the model overshoots these rows."""


class RoundedScores(Record):
    """For targets that are whole numbers: predictions rounded to the nearest one."""

    exact: float
    """Share of test rows whose rounded prediction is the true value."""
    within_one: float
    """Share off by at most one."""


class RegressionMetrics(RunFile):
    """metrics.json for task.objective regression, by evaluate: errors of the predicted values,
    by true value, against baselines, with intervals."""

    schema_version: ClassVar[int] = 1
    objective: str = "regression"
    target: str
    """The label column the values came from."""
    mae: float
    rmse: float
    r2: float
    spearman: float
    pearson: float
    test_rows: int
    intervals: RegressionIntervals
    confidence_level: float
    bootstrap_samples: int
    rounded: RoundedScores | None
    """None unless every training and test value is a whole number."""
    by_target: list[TargetBucket]
    baselines: dict[str, RegressionBaseline]
    significance: dict[str, RegressionComparison]


class RougeScores(Record):
    """ROUGE F-measures (0-1) of one system's texts against the references, on the same rows."""

    rouge1: float
    rouge2: float
    rougeL: float
    rougeL_interval: Interval
    description: str


class RougeComparison(Record):
    """The fine-tuned model's ROUGE-L F against another system's, paired row by row."""

    rougeL_difference: float
    interval: Interval
    p_value: float
    alpha: float
    verdict: str
    """better, worse or not significant: the paired bootstrap interval excludes zero."""


class GenerationSample(Record):
    text: str
    reference: str
    generated: str
    generated_base: str
    rougeL: float
    rougeL_base: float


class GenerationMetrics(RunFile):
    """metrics.json for task.objective generation and language_model, by evaluate: perplexity
    of the test targets given their inputs, fine-tuned and base model, and (generation) ROUGE of
    the fine-tuned model's texts against the base model prompted zero-shot and a lead baseline."""

    schema_version: ClassVar[int] = 1
    objective: str
    perplexity: float
    perplexity_base: float
    perplexity_interval: Interval
    perplexity_base_interval: Interval
    perplexity_ratio: float
    """perplexity_base / perplexity: how many times it fell."""
    test_rows: int
    target_tokens: int
    rougeL: float | None = None
    rougeL_base: float | None = None
    rougeL_lead: float | None = None
    rouge_rows: int = 0
    """Test rows generated for ROUGE (a seeded sample where test has more)."""
    lead_words: int | None = None
    """The lead baseline's length: the training targets' median word count."""
    rouge: dict[str, RougeScores] = {}
    significance: dict[str, RougeComparison] = {}
    best: list[GenerationSample] = []
    worst: list[GenerationSample] = []
    system_prompt: str
    confidence_level: float
    bootstrap_samples: int
    precision: str
    """The precision evaluation ran in (fp32 everywhere, so the figures do not depend on it)."""
    seconds: dict[str, float] = {}


class SavedClassRule(Record):
    """A class rule as prediction applies it: `label` whenever its probability reaches
    `threshold`, the threshold chosen on validation to reach `value` of `target`."""

    label: str
    threshold: float
    target: str
    value: float


class DecisionRules(RunFile):
    """model/decision.json, by evaluate: the rules chosen on validation that every prediction
    applies (predict, serve, the Python API). A rule configured but not reachable on validation
    is absent, so it is never applied with a threshold that was not chosen."""

    schema_version: ClassVar[int] = 1
    abstain_below: float | None = None
    """Send a text to a person when its top probability is below this."""
    class_rule: SavedClassRule | None = None


class ExportParity(RunFile):
    """export/parity.json, by `domaintune export`: the exported model against PyTorch fp32 on the
    run's test split, and the thresholds it was held to. Written only for an export that passed."""

    schema_version: ClassVar[int] = 1
    format: str
    """The export's format: onnx."""
    file: str
    """The model's file name inside export/."""
    quantize: str
    """int8 (dynamic, per-channel weights) or none (fp32)."""
    opset: int
    inputs: list[str]
    """The model's inputs, by name, as the tokenizer gives them."""
    fused_operators: dict[str, int]
    """Operators ONNX Runtime's transformer optimiser made (Attention, SkipLayerNormalization,
    ...), with how many of each: an encoder whose attention did not fuse runs slower."""
    int8_operators: dict[str, int]
    """Operators computing in int8 (MatMulIntegerToFloat, QAttention), by type; empty for fp32."""
    model_sha256: str
    """Of the PyTorch weights exported: an export of other weights is not used for them."""
    labels: list[str]
    test_rows: int
    agreement: float
    """Share of test texts given the same label as PyTorch fp32."""
    disagreements: int
    macro_f1_torch: float
    macro_f1_onnx: float
    macro_f1_difference: float
    """ONNX minus PyTorch."""
    max_probability_difference: float
    """Of the calibrated probabilities, over every text and label."""
    max_logit_difference: float
    min_agreement: float
    max_macro_f1_drop: float
    passed: bool
    seconds: float
    """Export, optimisation, quantisation and the parity check, together."""
    onnxruntime_version: str
    torch_version: str

    @property
    def backend(self) -> str:
        """How prediction names the backend running this export."""
        return f"{self.format}-{'fp32' if self.quantize == 'none' else self.quantize}"


class LabelingCurve(RunFile):
    """labeling_curve.json: test macro-F1 at each number of labels spent, per seed, for the
    labeling loop of `domaintune label pick` and for random picks (bench/labeling_curve.py)."""

    schema_version: ClassVar[int] = 1
    data: str
    learner: str
    budgets: list[int]
    loop: list[list[float]]
    """One list per seed, a macro-F1 per budget."""
    random: list[list[float]]
    reached: list[int | None]
    """Per seed, the smallest budget at which the loop reaches random's macro-F1 at the largest."""
    reached_on_means: int | None
