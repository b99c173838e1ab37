"""The train stage: tokenise the prepared splits, fine-tune with the Transformers Trainer, save.

Reads data/ and config.yaml from the run directory; writes model/ (safetensors, tokenizer, label
names) and train_log.json. Rows are tokenised once (cached in the run directory), without padding,
and padded per batch; batches are grouped by length, and the maximum length comes from the data,
so little compute goes to padding. Checkpoints each epoch let a killed run resume.

multi_label (task.objective) changes three choices, not the flow: the head is a sigmoid per label
with binary cross-entropy (class_weights: each label's positives weighed by pos_weight), each
epoch is scored at threshold 0.5, and after training each label's threshold is tuned on
validation and saved as model/thresholds.json, which prediction applies. regression likewise: one
output learns the standardised target by mean squared error, the epoch with the lowest validation
RMSE is kept, and the standardisation is folded into the head before saving (`regression`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.utils.class_weight import compute_class_weight
from transformers import (
    DataCollatorWithPadding,
    EarlyStoppingCallback,
    PreTrainedTokenizerBase,
    TrainerCallback,
    TrainingArguments,
    set_seed,
)

from domaintune import assets
from domaintune.config import GENERATIVE, Config, TrainConfig
from domaintune.data.clean import load_normalization
from domaintune.data.fields import load_fields
from domaintune.errors import UserError
from domaintune.metrics import scores
from domaintune.models import (
    freeze_word_embeddings,
    load_classifier,
    load_tokenizer,
    output_layer,
    transformer_layers,
)
from domaintune.multilabel import (
    PROBLEM_TYPE,
    prior_logits,
    save_thresholds,
    set_scores,
    sigmoid,
    tune_thresholds,
)
from domaintune.regression import PROBLEM_TYPE as REGRESSION
from domaintune.regression import TargetScale, fold_into_head, value_scores
from domaintune.rundir import RunDir, read_parquet, write_text
from domaintune.runfiles import DataCard, ModelChoice, TrainLog
from domaintune.train.augment import augmented_copies
from domaintune.train.causal import run_train_causal
from domaintune.train.checkpoints import resume_point, start_fresh
from domaintune.train.distill import distillation_loss, teacher_folder, teacher_logits
from domaintune.train.fewshot import resolve_method, run_train_fewshot
from domaintune.train.hardware import (
    Machine,
    apply_threads,
    device_settings,
    training_attention,
)
from domaintune.train.ladder import resolve_model, split_rows
from domaintune.train.logged import how_it_ran, settings_used
from domaintune.train.lora import merged, parameter_counts, with_lora
from domaintune.train.rate import initial_learning_rate, resolve_learning_rate
from domaintune.train.saved import write_model_folder
from domaintune.train.throughput import MeasuredTrainer
from domaintune.train.tokencache import (
    LENGTH_MULTIPLE,
    TokenizedSplits,
    load_or_tokenize,
    model_length_limit,
    tokenize_texts,
)


def freeze_lowest_layers(model: torch.nn.Module, count: int) -> None:
    """Keep the embeddings and the lowest `count` transformer layers as pre-trained. Nothing
    below the first trained layer needs a gradient, so the backward pass stops there."""
    if count == 0:
        return
    layers = transformer_layers(model)
    if count >= len(layers):
        raise UserError(
            f"train.freeze_layers is {count} but the model has {len(layers)} transformer layers: "
            f"set it to at most {len(layers) - 1}"
        )
    embeddings = getattr(model.base_model, "embeddings", model.get_input_embeddings())
    for module in [embeddings, *layers[:count]]:
        module.requires_grad_(False)


def weighted_loss(weights: torch.Tensor):
    """Cross-entropy weighted per class, normalised the way the Trainer expects from a custom loss."""

    def compute(outputs: Any, labels: torch.Tensor, num_items_in_batch: Any = None) -> torch.Tensor:
        logits = outputs["logits"]
        loss = torch.nn.functional.cross_entropy(
            logits.float(), labels, weight=weights.to(logits.device), reduction="sum"
        )
        count = num_items_in_batch if num_items_in_batch is not None else labels.numel()
        return loss / count

    return compute


def positive_weighted_loss(pos_weight: torch.Tensor):
    """multi_label's weighted loss: binary cross-entropy per label, each label's positives
    weighed by `pos_weight` (its negatives / positives in training), averaged over every label
    of every row as the model's own loss is."""

    def compute(outputs: Any, labels: torch.Tensor, num_items_in_batch: Any = None) -> torch.Tensor:
        logits = outputs["logits"]
        return torch.nn.functional.binary_cross_entropy_with_logits(
            logits.float(), labels.float(), pos_weight=pos_weight.to(logits.device)
        )

    return compute


def positive_weights(multi_hot: np.ndarray) -> np.ndarray:
    """negatives / positives per label (1 for a label without positives, which cannot occur
    after prepare): the weight that makes a label's positives count as much as its negatives."""
    positives = multi_hot.sum(axis=0)
    negatives = len(multi_hot) - positives
    return np.where(positives > 0, negatives / np.maximum(positives, 1), 1.0)


@torch.no_grad()
def start_from_priors(
    model: torch.nn.Module, multi_hot: np.ndarray, pos_weight: np.ndarray | None
) -> None:
    """multi_label: the new head's biases set to each label's prior logit (`prior_logits`)."""
    prior = torch.tensor(prior_logits(multi_hot, pos_weight), dtype=torch.float)
    output_layer(model).bias.copy_(prior)


def multi_label_metrics(prediction: Any) -> dict[str, float]:
    """Each epoch's validation scores for multi_label, each label at the threshold tuned on these
    rows, as the saved model's will be (train tunes them on validation once it is done):
    macro_f1 among them picks the best epoch. At a fixed 0.5 a head started from the labels'
    base rates scores 0 on every rare label until it is confident, so early stopping would end
    a run that is still learning to rank."""
    probabilities, gold = sigmoid(prediction.predictions), prediction.label_ids >= 0.5
    return set_scores(gold, probabilities >= tune_thresholds(probabilities, gold))


def regression_metrics(scale: TargetScale):
    """Each epoch's validation scores for regression, on the target's own scale: rmse among
    them, which picks the best epoch."""

    def compute(prediction: Any) -> dict[str, float]:
        predicted = scale.restore(np.asarray(prediction.predictions).reshape(-1))
        gold = scale.restore(np.asarray(prediction.label_ids).reshape(-1))
        return value_scores(gold, predicted)

    return compute


def best_metric(objective: str) -> tuple[str, bool]:
    """The validation score that picks the best epoch, and whether higher is better."""
    return ("rmse", False) if objective == "regression" else ("macro_f1", True)


def classification_metrics(prediction: Any) -> dict[str, float]:
    """The validation scores of each epoch, as evaluate scores the test split."""
    predicted = np.argmax(prediction.predictions, axis=-1)
    gold = prediction.label_ids  # in the Trainer's order, which may not be the dataset's
    return scores(gold, predicted)


def teacher_labelled(
    data: TokenizedSplits,
    run: RunDir,
    tokenizer: PreTrainedTokenizerBase,
    labels: list[str],
    args: TrainingArguments,
    options: TrainConfig,
) -> TokenizedSplits:
    """The training rows labelled with the teacher's logits too; then the run's texts without
    labels (data/unlabelled.parquet, when prepare wrote one) and the changed copies of training
    texts (`train.distill_augment`) appended, tokenised as training's and labelled by the
    teacher alone. The teacher reads them all in one pass."""
    fields = load_fields(run.data)
    train = pd.read_parquet(run.split("train"))
    columns = ["text"] if fields is None else fields.columns
    augmented = augmented_copies(
        train,
        columns,
        copies=options.distill_augment,
        max_rows=options.distill_augment_max_rows,
        seed=options.seed,
    )
    frames = [train]
    if run.unlabelled.is_file():
        frames.append(read_parquet(run.unlabelled))
    frames.append(augmented)
    logits = teacher_logits(
        teacher_folder(options.distill_from),
        pd.concat(frames, ignore_index=True),
        fields,
        labels,
        args,
    )
    data = data.with_teacher(logits[: len(train)])
    if len(logits) == len(train):  # no texts without labels
        return data
    unlabelled = pd.concat(frames[1:], ignore_index=True)
    rows = tokenize_texts(unlabelled, tokenizer, max_length=data.max_length, fields=fields)
    return data.with_unlabelled(rows, logits[len(train) :], augmented=len(augmented))


LARGE_BATCH = 32
SMALL_BATCH = 16
MIN_STEPS_PER_EPOCH = 100


def training_rows(run: RunDir) -> int:
    """Rows of the prepared training split."""
    return split_rows(run, "train")


def resolve_batch_size(config: Config, *, train_rows: int, processes: int) -> Config:
    """`config` with `train.batch_size: auto` made a number, from the size of the training split."""
    if config.train.batch_size != "auto":
        return config
    steps = train_rows // (LARGE_BATCH * processes)
    size = LARGE_BATCH if steps >= MIN_STEPS_PER_EPOCH else SMALL_BATCH
    train = config.train.model_copy(update={"batch_size": size})
    return config.model_copy(update={"train": train})


def training_arguments(
    train: TrainConfig,
    output_dir: Path,
    *,
    machine: Machine | None = None,
    objective: str = "classification",
    validate: bool = True,
) -> TrainingArguments:
    """The Trainer's settings: evaluate and checkpoint every epoch, keep the best by macro-F1
    (regression: by RMSE, the lowest). Without validation rows (`validate` False: prepare's
    cross-validation puts every row in train) nothing is evaluated, and the last epoch is kept.

    Precision and device come from `machine` (this one when None). Creating the settings also
    joins the process group when launched by torchrun or accelerate.
    """
    device = device_settings(train.precision, machine or Machine.current())
    metric, greater_is_better = best_metric(objective)
    return TrainingArguments(
        output_dir=str(output_dir),
        num_train_epochs=train.epochs,
        learning_rate=initial_learning_rate(train.learning_rate),
        per_device_train_batch_size=train.batch_size,
        per_device_eval_batch_size=train.eval_batch_size,
        weight_decay=train.weight_decay,
        warmup_steps=train.warmup_ratio,  # a float below 1 is a share of all steps
        train_sampling_strategy="group_by_length" if train.group_by_length else "random",
        eval_strategy="epoch" if validate else "no",
        save_strategy="epoch",
        save_total_limit=1,
        load_best_model_at_end=validate,
        metric_for_best_model=metric if validate else None,
        greater_is_better=greater_is_better if validate else None,
        logging_strategy="steps",
        logging_steps=train.logging_steps,
        seed=train.seed,
        data_seed=train.seed,
        report_to="none",
        optim="adamw_torch_fused",  # one kernel for all parameters: measurably faster on CPU too
        dataloader_num_workers=0,
        ddp_find_unused_parameters=False,
        **device.trainer_arguments(),  # bf16, use_cpu, dataloader_pin_memory
    )


@dataclass
class Fitted:
    """A finished Trainer and what went into it."""

    trainer: MeasuredTrainer
    tokenizer: PreTrainedTokenizerBase
    data: TokenizedSplits
    labels: list[str]
    class_weights: np.ndarray | None
    scale: TargetScale | None
    """regression: the training target's standardisation, folded into the head when saved."""
    parameters: tuple[int, int]
    """(trainable, all)."""
    threads: int
    seconds: float


def fit(
    config: Config,
    run: RunDir,
    args: TrainingArguments,
    *,
    callbacks: Sequence[TrainerCallback] = (),
    resume_from: Path | None = None,
) -> Fitted:
    """Tokenise (or load the cached tokens), build the Trainer and train on the run's data."""
    train = config.train
    set_seed(train.seed)
    threads = apply_threads(train.threads)
    labels = DataCard.read(run.card).labels
    label2id = {label: i for i, label in enumerate(labels)}
    source = assets.model_path(config.model.name_or_path)
    tokenizer = load_tokenizer(source)
    multi = config.task.objective == "multi_label"
    regression = config.task.objective == "regression"
    problem_type = PROBLEM_TYPE if multi else REGRESSION if regression else None
    attention = training_attention(
        train.attention, bf16=args.bf16, on_cpu=args.device.type == "cpu"
    )
    model = load_classifier(
        source,
        labels=labels,
        dropout=train.dropout,
        attention=attention,
        problem_type=problem_type,
    )
    if train.freeze_embeddings:
        freeze_word_embeddings(model)
    freeze_lowest_layers(model, train.freeze_layers)
    with args.main_process_first(local=False, desc="tokenize"):
        data = load_or_tokenize(
            run,
            tokenizer,
            label2id,
            config.model,
            model_limit=model_length_limit(model.config, tokenizer),
            use_cache=train.cache_tokenized,
            write=args.process_index == 0,
        )
    class_weights = None
    if config.prepare.balance == "class_weights" and multi:
        class_weights = positive_weights(np.array(data.train["labels"]))
    elif config.prepare.balance == "class_weights":
        class_weights = compute_class_weight(
            "balanced", classes=np.arange(len(labels)), y=np.array(data.train["labels"])
        )
    if multi:
        start_from_priors(model, np.array(data.train["labels"]), class_weights)
    if train.method == "lora":
        model = with_lora(model, train)
    scale = TargetScale.fit(np.array(data.train["labels"])) if regression else None
    if scale is not None:
        data = data.standardized(scale)
    loss = positive_weighted_loss if multi else weighted_loss
    compute_loss = None if class_weights is None else loss(torch.tensor(class_weights).float())
    if train.distill_from is not None:
        data = teacher_labelled(data, run, tokenizer, labels, args, train)
        compute_loss = distillation_loss(
            None if class_weights is None else torch.tensor(class_weights).float(),
            temperature=train.distill_temperature,
            weight=train.distill_weight,
        )
    callbacks = list(callbacks)
    if train.early_stopping_patience > 0 and args.eval_strategy != "no":
        callbacks.append(
            EarlyStoppingCallback(early_stopping_patience=train.early_stopping_patience)
        )
    trainer = MeasuredTrainer(
        model=model,
        args=args,
        train_dataset=data.train,
        eval_dataset=data.validation if args.eval_strategy != "no" else None,
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer, pad_to_multiple_of=LENGTH_MULTIPLE),
        compute_metrics=multi_label_metrics
        if multi
        else regression_metrics(scale)
        if scale is not None
        else classification_metrics,
        compute_loss_func=compute_loss,
        callbacks=callbacks,
    )
    started = time.perf_counter()
    trainer.train(resume_from_checkpoint=None if resume_from is None else str(resume_from))
    seconds = time.perf_counter() - started
    trainer.accelerator.wait_for_everyone()  # every process is done with the checkpoints
    return Fitted(
        trainer=trainer,
        tokenizer=tokenizer,
        data=data,
        labels=labels,
        class_weights=class_weights,
        scale=scale,
        parameters=parameter_counts(model),
        threads=threads,
        seconds=seconds,
    )


def save_model(fitted: Fitted, folder: Path, *, is_main: bool = True, normalization: Path) -> None:
    """The trained model as a plain Transformers folder (`saved.write_model_folder`), with
    `normalization` (prepare's `normalization.json`) copied beside it.

    Every process calls this: where the weights are sharded (FSDP, DeepSpeed under accelerate
    launch), gathering them takes all processes. Only the main one writes.
    """
    trainer = fitted.trainer
    model = merged(trainer.model)
    if fitted.scale is not None:  # the saved model outputs values on the data's own scale
        fold_into_head(output_layer(model), fitted.scale)
    weights = None  # LoRA: the merged model's own
    if model is trainer.model:  # gathered, where FSDP or DeepSpeed shard them
        weights = trainer.accelerator.get_state_dict(trainer.model_wrapped)
    if not is_main:
        return
    write_model_folder(
        folder,
        model,
        fitted.tokenizer,
        long_text=fitted.data.long_text,
        normalization=normalization,
        state_dict=weights,
    )


def training_log(
    config: Config,
    fitted: Fitted,
    resumed_from: Path | None,
    choice: ModelChoice | None = None,
    method_reason: str | None = None,
) -> TrainLog:
    """What train_log.json says: data, settings, best validation score, time and throughput."""
    options, trainer = config.train, fitted.trainer
    history = trainer.state.log_history
    metric, greater_is_better = best_metric(config.task.objective)
    evaluations = [entry for entry in history if f"eval_{metric}" in entry]
    sign = 1 if greater_is_better else -1
    best = max(evaluations, key=lambda entry: sign * entry[f"eval_{metric}"]) if evaluations else {}
    epochs_run = float(trainer.state.epoch or 0)
    return TrainLog(
        **settings_used(config, fitted.parameters),
        labels=fitted.labels,
        max_length=fitted.data.max_length,
        max_length_set_by=fitted.data.max_length_set_by,
        truncated_rows=fitted.data.truncated_rows,
        long_text=fitted.data.long_text.mode,
        train_windows=len(fitted.data.train) - fitted.data.unlabelled_rows,
        train_rows=fitted.data.train_texts,
        validation_rows=fitted.data.validation_texts,
        tokenized_from_cache=fitted.data.from_cache,
        class_weights=None
        if fitted.class_weights is None
        else dict(zip(fitted.labels, map(float, fitted.class_weights))),
        epochs_run=epochs_run,
        steps=int(trainer.state.global_step),
        best_epoch=best.get("epoch"),
        best_validation_macro_f1=best.get("eval_macro_f1"),
        **({"best_validation_rmse": best.get("eval_rmse")} if fitted.scale is not None else {}),
        stopped_early=epochs_run < options.epochs - 1e-6,
        resumed_from=None if resumed_from is None else resumed_from.name,
        **how_it_ran(trainer, seconds=fitted.seconds, threads=fitted.threads),
        model_choice=choice,
        method_reason=method_reason,
        distilled_from=options.distill_from,
        distilled_unlabelled_rows=fitted.data.unlabelled_rows - fitted.data.augmented_rows,
        distilled_augmented_rows=fitted.data.augmented_rows,
    )


def validation_thresholds(fitted: Fitted) -> np.ndarray:
    """multi_label: each label's threshold, chosen to maximise its F1 on the validation split
    with the best epoch's model (the default where validation has no positive of a label)."""
    prediction = fitted.trainer.predict(fitted.data.validation)
    return tune_thresholds(sigmoid(prediction.predictions), prediction.label_ids >= 0.5)


def run_train(config: Config, run: RunDir, *, resume: bool = False) -> TrainLog:
    """Fine-tune the configured model on the run's prepared data; save model/ and train_log.json.

    With `resume`, continue from the last complete checkpoint. Under torchrun or accelerate every
    process trains; only the first writes to the run directory.
    """
    if config.task.objective in GENERATIVE:
        return run_train_causal(config, run, resume=resume)
    run.require(
        run.split("train"), run.split("validation"), run.card, run.normalization, stage="prepare"
    )
    load_normalization(run.data)  # a damaged file fails here, not after training
    load_fields(run.data)
    config, fewshot_choice, method_reason = resolve_method(config, run)
    if config.train.method == "fewshot":
        return run_train_fewshot(config, run, fewshot_choice, method_reason)
    machine = Machine.current()
    config = resolve_batch_size(config, train_rows=training_rows(run), processes=machine.processes)
    args = training_arguments(
        config.train,
        run.checkpoints,
        machine=machine,
        objective=config.task.objective,
        validate=split_rows(run, "validation") > 0,
    )
    config, choice = resolve_model(config, run, args, processes=machine.processes, resume=resume)
    config = resolve_learning_rate(config)
    args.num_train_epochs = config.train.epochs  # `auto` may cut them to the time budget
    args.learning_rate = config.train.learning_rate  # `auto`: the chosen model's
    is_main = args.process_index == 0
    resumed_from = None
    with args.main_process_first(local=False, desc="checkpoints"):
        if resume:
            resumed_from = resume_point(run, config, is_main=is_main)
        elif is_main:
            start_fresh(run, config)
    fitted = fit(config, run, args, resume_from=resumed_from)
    log = training_log(config, fitted, resumed_from, choice, method_reason)
    save_model(fitted, run.model, is_main=is_main, normalization=run.normalization)
    if config.task.objective == "multi_label":
        thresholds = validation_thresholds(fitted)
        if is_main:
            save_thresholds(
                run.model,
                fitted.labels,
                thresholds,
                tuned_on="validation",
                label_separator=config.data.label_separator or ",",
            )
    if is_main:
        run.clear(run.checkpoints)
        log.write(run.train_log)
        write_text(run.config, config.to_yaml())  # the settings this model was trained with
    return log
