"""The train stage for generation and language_model: a causal language model fine-tuned on the
prepared pairs (or texts), the loss on target tokens only, LoRA by default and merged before
saving, early stopping on validation loss, checkpoints to resume from.

The flow is classification's (prepare's data in, model/ and train_log.json out, the precision
and threads chosen the same way); what differs is the encoding (`domaintune.generation`), the
collation (right padding, padding and prompt masked by position), and the best checkpoint, which
is the one with the lowest validation loss, judged every generation.eval_steps.

Checkpoints are written at those evaluations, so within an epoch. A resumed run continues from the
last one with the optimizer, scheduler and random state saved there; with train.group_by_length
(the default: less padding) the rest of that epoch is drawn in a new length-grouped order, so it
is not step-for-step the uninterrupted run (each of its figures is, with group_by_length off).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from datasets import Dataset
from transformers import EarlyStoppingCallback, TrainerCallback, TrainingArguments, set_seed

from domaintune import assets
from domaintune.config import Config
from domaintune.data.clean import load_normalization
from domaintune.errors import UserError
from domaintune.generation import Prompting, collate, encode, pad_token, system_prompt
from domaintune.models import is_causal_lm, load_causal_lm, load_tokenizer
from domaintune.rundir import RunDir, atomic_path, write_text
from domaintune.runfiles import DataCard, TrainLog
from domaintune.train.checkpoints import resume_point, start_fresh
from domaintune.train.hardware import Machine, apply_threads, device_settings, training_attention
from domaintune.train.logged import how_it_ran, settings_used
from domaintune.train.lora import merged, parameter_counts, with_lora
from domaintune.train.rate import initial_learning_rate
from domaintune.train.throughput import MeasuredTrainer


def prompting_for(config: Config, card: DataCard) -> Prompting:
    """The prompt and limits of this run: the card holds the target limit prepare resolved."""
    generation = config.generation
    if config.task.objective == "language_model":
        return Prompting(
            objective="language_model",
            system_prompt="",
            max_input_tokens=generation.max_input_tokens,
            max_target_tokens=generation.max_text_tokens,
        )
    assert card.tokens is not None and "target" in card.tokens
    return Prompting(
        objective="generation",
        system_prompt=system_prompt(
            config.task.description, config.task.expected_output, generation.system_prompt
        ),
        max_input_tokens=generation.max_input_tokens,
        max_target_tokens=card.tokens["target"]["train"].limit,
    )


def at_most(frame: pd.DataFrame, rows: int | None, *, seed: int) -> pd.DataFrame:
    """`frame`, or a seeded sample of `rows` of it in their order (generation.max_eval_rows)."""
    if rows is None or len(frame) <= rows:
        return frame
    return frame.sample(n=rows, random_state=seed).sort_index()


def encoded(tokenizer, prompting: Prompting, frame: pd.DataFrame) -> tuple[Dataset, int]:
    """A split as training rows, and how many of them were cut to the limits."""
    rows = [
        encode(tokenizer, prompting, text, target)
        for text, target in zip(frame["text"], frame["label"])
    ]
    cut = sum(row.pop("cut") for row in rows)
    return Dataset.from_list(rows), cut


@dataclass
class CausalFitted:
    trainer: MeasuredTrainer
    tokenizer: object
    prompting: Prompting
    parameters: tuple[int, int]
    threads: int
    seconds: float
    cut_rows: int
    train_rows: int
    validation_rows: int


def causal_arguments(
    config: Config, output_dir: Path, *, machine: Machine, train_rows: int
) -> TrainingArguments:
    """Evaluate validation loss and checkpoint every generation.eval_steps (at most once an
    epoch), keep the lowest; stop after train.epochs or generation.max_steps, the fewer steps."""
    train, generation = config.train, config.generation
    assert isinstance(train.batch_size, int)
    device = device_settings(train.precision, machine)
    per_epoch = max(1, math.ceil(train_rows / (train.batch_size * machine.processes)))
    every = min(generation.eval_steps, per_epoch)
    steps = math.ceil(train.epochs * per_epoch)  # max_steps would otherwise override epochs
    if generation.max_steps is not None:
        steps = min(steps, generation.max_steps)
    return TrainingArguments(
        output_dir=str(output_dir),
        num_train_epochs=train.epochs,
        max_steps=steps,
        learning_rate=initial_learning_rate(train.learning_rate),  # 2e-4 where auto
        per_device_train_batch_size=train.batch_size,
        per_device_eval_batch_size=train.eval_batch_size,
        weight_decay=train.weight_decay,
        warmup_steps=train.warmup_ratio,
        train_sampling_strategy="group_by_length" if train.group_by_length else "random",
        eval_strategy="steps",
        eval_steps=every,
        save_strategy="steps",
        save_steps=every,
        save_total_limit=1,
        load_best_model_at_end=True,
        metric_for_best_model="loss",
        greater_is_better=False,
        prediction_loss_only=True,  # no logits over a 49k vocabulary gathered per token
        logging_strategy="steps",
        logging_steps=min(train.logging_steps, every),
        seed=train.seed,
        data_seed=train.seed,
        report_to="none",
        optim="adamw_torch_fused",
        dataloader_num_workers=0,
        remove_unused_columns=False,
        ddp_find_unused_parameters=False,
        **device.trainer_arguments(),
    )


def fit_causal(
    config: Config,
    run: RunDir,
    args: TrainingArguments,
    *,
    callbacks: Sequence[TrainerCallback] = (),
    resume_from: Path | None = None,
) -> CausalFitted:
    train = config.train
    set_seed(train.seed)
    threads = apply_threads(train.threads)
    card = DataCard.read(run.card)
    source = assets.model_path(config.model.name_or_path)
    if not is_causal_lm(source):
        raise UserError(
            f"model.name_or_path {config.model.name_or_path} is not a causal language model (a "
            f"...ForCausalLM): task.objective {config.task.objective} needs one, e.g. "
            "builtin:smollm2-135m"
        )
    tokenizer = load_tokenizer(source)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    attention = training_attention(
        train.attention, bf16=args.bf16, on_cpu=args.device.type == "cpu"
    )
    model = load_causal_lm(source, attention=attention, dropout=train.dropout)
    model.config.pad_token_id = pad_token(tokenizer)
    if train.method == "full" and train.freeze_embeddings:
        model.get_input_embeddings().weight.requires_grad_(False)
    if train.method == "lora":
        model = with_lora(model, train, causal=True)
    prompting = prompting_for(config, card)
    frames = {name: pd.read_parquet(run.split(name)) for name in ("train", "validation")}
    frames["validation"] = at_most(
        frames["validation"], config.generation.max_eval_rows, seed=train.seed
    )
    train_data, cut = encoded(tokenizer, prompting, frames["train"])
    validation_data, _ = encoded(tokenizer, prompting, frames["validation"])
    callbacks = list(callbacks)
    if train.early_stopping_patience > 0:
        callbacks.append(
            EarlyStoppingCallback(early_stopping_patience=train.early_stopping_patience)
        )
    trainer = MeasuredTrainer(
        model=model,
        args=args,
        train_dataset=train_data,
        eval_dataset=validation_data,
        processing_class=tokenizer,
        data_collator=collate(tokenizer),
        callbacks=callbacks,
    )
    started = time.perf_counter()
    trainer.train(resume_from_checkpoint=None if resume_from is None else str(resume_from))
    seconds = time.perf_counter() - started
    trainer.accelerator.wait_for_everyone()
    return CausalFitted(
        trainer=trainer,
        tokenizer=tokenizer,
        prompting=prompting,
        parameters=parameter_counts(model),
        threads=threads,
        seconds=seconds,
        cut_rows=cut,
        train_rows=len(train_data),
        validation_rows=len(validation_data),
    )


def save_causal(fitted: CausalFitted, folder: Path, *, normalization: Path) -> None:
    """A plain Transformers folder (adapters merged): weights, tokenizer with its chat template,
    the prompt settings, and prepare's normalisation, which prediction repeats."""
    model = merged(fitted.trainer.model)
    model.generation_config.pad_token_id = model.config.pad_token_id
    with atomic_path(folder) as temporary:
        model.save_pretrained(temporary)
        fitted.tokenizer.save_pretrained(temporary)
        fitted.prompting.save(temporary)
        (temporary / normalization.name).write_bytes(normalization.read_bytes())


def causal_log(config: Config, fitted: CausalFitted, resumed_from: Path | None) -> TrainLog:
    trainer = fitted.trainer
    history = trainer.state.log_history
    evaluations = [entry for entry in history if "eval_loss" in entry]
    best = min(evaluations, key=lambda entry: entry["eval_loss"]) if evaluations else {}
    epochs_run = float(trainer.state.epoch or 0)
    prompting = fitted.prompting
    planned_steps = trainer.state.max_steps
    return TrainLog(
        **settings_used(config, fitted.parameters),
        labels=[],
        max_length=prompting.max_input_tokens + prompting.max_target_tokens,
        max_length_set_by="generation.max_input_tokens + target limit",
        truncated_rows=fitted.cut_rows,
        train_rows=fitted.train_rows,
        validation_rows=fitted.validation_rows,
        tokenized_from_cache=False,
        class_weights=None,
        epochs_run=epochs_run,
        steps=int(trainer.state.global_step),
        best_epoch=best.get("epoch"),
        best_validation_macro_f1=None,
        best_validation_loss=best.get("eval_loss"),
        stopped_early=int(trainer.state.global_step) < planned_steps,
        resumed_from=None if resumed_from is None else resumed_from.name,
        **how_it_ran(trainer, seconds=fitted.seconds, threads=fitted.threads),
    )


def run_train_causal(config: Config, run: RunDir, *, resume: bool = False) -> TrainLog:
    """Fine-tune the causal language model on the run's prepared data; save model/ and
    train_log.json, as `run_train` does for classifiers."""
    run.require(
        run.split("train"), run.split("validation"), run.card, run.normalization, stage="prepare"
    )
    load_normalization(run.data)
    machine = Machine.current()
    train_rows = len(pd.read_parquet(run.split("train"), columns=["text"]))
    args = causal_arguments(config, run.checkpoints, machine=machine, train_rows=train_rows)
    is_main = args.process_index == 0
    resumed_from = None
    with args.main_process_first(local=False, desc="checkpoints"):
        if resume:
            resumed_from = resume_point(run, config, is_main=is_main)
        elif is_main:
            start_fresh(run, config)
    fitted = fit_causal(config, run, args, resume_from=resumed_from)
    log = causal_log(config, fitted, resumed_from)
    if is_main:
        save_causal(fitted, run.model, normalization=run.normalization)
        run.clear(run.checkpoints)
        log.write(run.train_log)
        write_text(run.config, config.to_yaml())
    return log
