"""The train stage: tokenise the prepared splits, fine-tune with the Transformers Trainer, save.

Reads data/ and config.yaml from the run directory; writes model/ (safetensors, tokenizer, label
names) and train_log.json. Rows are tokenised without padding and padded per batch, batches are
grouped by length, and the maximum length comes from the data, so little compute goes to padding.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from datasets import Dataset
from sklearn.metrics import accuracy_score, f1_score
from sklearn.utils.class_weight import compute_class_weight
from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DataCollatorWithPadding,
    EarlyStoppingCallback,
    PreTrainedTokenizerBase,
    Trainer,
    TrainingArguments,
    set_seed,
)

from domaintune import assets
from domaintune.config import Config, TrainConfig
from domaintune.errors import UserError
from domaintune.hub import local_only
from domaintune.rundir import RunDir, atomic_path, read_json, remove, write_json, write_text

LENGTH_MULTIPLE = 8
"""Token limits are rounded up to a multiple of 8, which suits vectorised kernels."""


def load_tokenizer(name_or_path: str) -> PreTrainedTokenizerBase:
    try:
        return AutoTokenizer.from_pretrained(
            name_or_path, trust_remote_code=False, local_files_only=local_only(name_or_path)
        )
    except (OSError, ValueError) as error:
        raise UserError(_not_found(name_or_path, error)) from None


def load_model(name_or_path: str, labels: list[str]) -> torch.nn.Module:
    """A pre-trained encoder with a new classification head for `labels`, from safetensors only."""
    try:
        return AutoModelForSequenceClassification.from_pretrained(
            name_or_path,
            num_labels=len(labels),
            id2label=dict(enumerate(labels)),
            label2id={label: i for i, label in enumerate(labels)},
            use_safetensors=True,
            trust_remote_code=False,
            ignore_mismatched_sizes=True,
            local_files_only=local_only(name_or_path),
        )
    except (OSError, ValueError) as error:
        raise UserError(_not_found(name_or_path, error)) from None


def check_model(name: str) -> str:
    """Resolve a model name and read its config, so a bad name fails before any work is done."""
    source = assets.model_path(name)
    try:
        AutoConfig.from_pretrained(
            source, trust_remote_code=False, local_files_only=local_only(source)
        )
    except (OSError, ValueError) as error:
        raise UserError(_not_found(name, error)) from None
    return source


def _not_found(name_or_path: str, error: Exception) -> str:
    reason = (
        str(error).strip().splitlines()[0][:160] if str(error).strip() else type(error).__name__
    )
    return (
        f"model '{name_or_path}' could not be loaded ({reason}): give a local folder with "
        "config.json, model.safetensors and tokenizer files, a Hub id when the Hub is reachable, "
        f"or a built-in ({', '.join(assets.BUILTIN_PREFIX + name for name in assets.MODELS)})"
    )


def choose_max_length(
    token_lengths: list[int], percentile: float, model_limit: int, fixed: int | None
) -> int:
    """The configured limit, or a high percentile of the data's lengths; never above the model's."""
    if fixed is None:
        wanted = float(np.percentile(token_lengths, percentile))
        fixed = LENGTH_MULTIPLE * math.ceil(wanted / LENGTH_MULTIPLE)
    return max(LENGTH_MULTIPLE, min(fixed, model_limit))


def model_length_limit(model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase) -> int:
    positions = getattr(model.config, "max_position_embeddings", None) or 512
    tokenizer_limit = tokenizer.model_max_length if tokenizer.model_max_length < 1e9 else positions
    return int(min(positions, tokenizer_limit))


def tokenize(
    frame: pd.DataFrame,
    tokenizer: PreTrainedTokenizerBase,
    label2id: dict[str, int],
    max_length: int,
) -> Dataset:
    """Token ids without padding (the collator pads each batch), the label id, and the length."""
    encoded = tokenizer(frame["text"].tolist(), truncation=True, max_length=max_length)
    return Dataset.from_dict(
        {
            "input_ids": encoded["input_ids"],
            "attention_mask": encoded["attention_mask"],
            "labels": [label2id[label] for label in frame["label"]],
            "length": [len(ids) for ids in encoded["input_ids"]],
        }
    )


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


def classification_metrics(prediction: Any) -> dict[str, float]:
    predicted = np.argmax(prediction.predictions, axis=-1)
    gold = (
        prediction.label_ids
    )  # in the order the Trainer evaluated, which may not be the dataset's
    return {
        "accuracy": float(accuracy_score(gold, predicted)),
        "macro_f1": float(f1_score(gold, predicted, average="macro")),
    }


def training_arguments(options: TrainConfig, output_dir: Path) -> TrainingArguments:
    """The Trainer's settings: evaluate and checkpoint every epoch, keep the best by macro-F1."""
    return TrainingArguments(
        output_dir=str(output_dir),
        num_train_epochs=options.epochs,
        learning_rate=options.learning_rate,
        per_device_train_batch_size=options.batch_size,
        per_device_eval_batch_size=options.eval_batch_size,
        weight_decay=options.weight_decay,
        warmup_steps=options.warmup_ratio,  # a float below 1 is a share of all steps
        train_sampling_strategy="group_by_length" if options.group_by_length else "random",
        eval_strategy="epoch",
        save_strategy="epoch",
        save_total_limit=1,
        load_best_model_at_end=True,
        metric_for_best_model="macro_f1",
        greater_is_better=True,
        logging_strategy="steps",
        logging_steps=options.logging_steps,
        seed=options.seed,
        data_seed=options.seed,
        report_to="none",
        optim="adamw_torch_fused",  # one kernel for all parameters: measurably faster on CPU too
        dataloader_num_workers=0,
        dataloader_pin_memory=torch.cuda.is_available(),
    )


def run_train(config: Config, run: RunDir) -> dict[str, Any]:
    """Fine-tune the configured model on the run's prepared data; save model/ and train_log.json."""
    run.require(run.split("train"), run.split("validation"), run.card, stage="prepare")
    options = config.train
    set_seed(options.seed)
    labels: list[str] = read_json(run.card)["labels"]
    label2id = {label: i for i, label in enumerate(labels)}
    train_frame = pd.read_parquet(run.split("train"))
    validation_frame = pd.read_parquet(run.split("validation"))

    source = assets.model_path(config.model.name_or_path)
    tokenizer = load_tokenizer(source)
    model = load_model(source, labels)
    raw_lengths = [len(ids) for ids in tokenizer(train_frame["text"].tolist())["input_ids"]]
    max_length = choose_max_length(
        raw_lengths,
        config.model.max_length_percentile,
        model_length_limit(model, tokenizer),
        config.model.max_length,
    )
    train_set = tokenize(train_frame, tokenizer, label2id, max_length)
    validation_set = tokenize(validation_frame, tokenizer, label2id, max_length)

    class_weights = None
    if config.prepare.balance == "class_weights":
        class_weights = compute_class_weight(
            "balanced", classes=np.arange(len(labels)), y=np.array(train_set["labels"])
        )

    run.clear_from("train")
    callbacks = []
    if options.early_stopping_patience > 0:
        callbacks.append(
            EarlyStoppingCallback(early_stopping_patience=options.early_stopping_patience)
        )
    trainer = Trainer(
        model=model,
        args=training_arguments(options, run.checkpoints),
        train_dataset=train_set,
        eval_dataset=validation_set,
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer, pad_to_multiple_of=LENGTH_MULTIPLE),
        compute_metrics=classification_metrics,
        compute_loss_func=None
        if class_weights is None
        else weighted_loss(torch.tensor(class_weights, dtype=torch.float)),
        callbacks=callbacks,
    )
    started = time.perf_counter()
    result = trainer.train()
    seconds = time.perf_counter() - started

    tokenizer.model_max_length = max_length  # so predict and pipelines truncate as training did
    with atomic_path(run.model) as folder:
        trainer.save_model(str(folder))
    remove(run.checkpoints)

    history = trainer.state.log_history
    evaluations = [entry for entry in history if "eval_macro_f1" in entry]
    best = max(evaluations, key=lambda entry: entry["eval_macro_f1"]) if evaluations else {}
    epochs_run = float(result.metrics.get("epoch", options.epochs))
    log = {
        "model": config.model.name_or_path,
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "labels": labels,
        "max_length": max_length,
        "truncated_rows": int(sum(length > max_length for length in raw_lengths)),
        "train_rows": len(train_set),
        "validation_rows": len(validation_set),
        "class_weights": None
        if class_weights is None
        else dict(zip(labels, map(float, class_weights))),
        "epochs_planned": options.epochs,
        "epochs_run": epochs_run,
        "steps": int(trainer.state.global_step),
        "best_epoch": best.get("epoch"),
        "best_validation_macro_f1": best.get("eval_macro_f1"),
        "stopped_early": epochs_run < options.epochs - 1e-6,
        "train_seconds": round(seconds, 1),
        "rows_per_second": round(len(train_set) * epochs_run / seconds, 2),
        "tokens_per_second": round(sum(train_set["length"]) * epochs_run / seconds, 1),
        "device": str(trainer.args.device),
        "torch_threads": torch.get_num_threads(),
        "history": history,
    }
    write_json(run.train_log, log)
    write_text(run.config, config.to_yaml())  # the settings this model was trained with
    return log
