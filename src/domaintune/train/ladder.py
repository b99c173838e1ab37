"""The model ladder: `model.name_or_path: auto` trains the most accurate built-in model whose
training fits `train.time_budget` on this machine.

How long a model trains depends on the machine as much as on the model (MPNet-base runs a bf16
step on a CPU with AMX several times as fast as an fp32 step on one with AVX2 alone), so the
choice is measured, not looked up: each rung, most accurate first, trains a few real batches of
the run's own training texts in the precision training will use, and the rows per second it
reaches give the time for the planned epochs. The first rung that fits is chosen, or that fits at
least half of them (`LEAST_SHARE_OF_EPOCHS`) and then trains the epochs that do: on a budget that
leaves MiniLM-L6 most of its time idle, MPNet-base's first epochs teach more than MiniLM-L6's
three. When none does, the budget also decides how much of the data is used: the fastest rung
trains as many epochs as fit, fewer than planned, and below one epoch on a random part of the
training split, each row once. Seeing more rows once teaches more than seeing fewer rows again
(on the default task, MiniLM-L6 on all 11,425 training rows reached test macro-F1 0.794; on the
5,319 left by undersampling, 0.750), so the data is cut by epochs, never by dropping rows up
front. The other way round, where the planned epochs make fewer optimizer steps than
`train.min_steps` (a small training split), the chosen model trains more epochs, as many as the
budget still allows at its measured speed (`stretched`).

With `model.long_text: chunks` a long text trains as several windows, each a training row: the
probe times batches of windows, and the rows it plans for are the windows training will make.
The estimate leaves out what the probe cannot see cheaply: saving a checkpoint each epoch (a few
seconds each for MPNet-base here).
"""

from __future__ import annotations

import math
import statistics
import sys
import time
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import torch
import torch.distributed as dist
from transformers import Trainer, TrainingArguments
from transformers.trainer_pt_utils import get_length_grouped_indices

from domaintune import assets
from domaintune.config import Config, ModelConfig, TrainConfig
from domaintune.data.fields import load_fields
from domaintune.errors import UserError
from domaintune.longtext import window_count
from domaintune.models import (
    freeze_word_embeddings,
    load_classifier,
    load_model_config,
    load_tokenizer,
)
from domaintune.rundir import RunDir
from domaintune.runfiles import DataCard, ModelChoice, RungProbe
from domaintune.train.checkpoints import saved_config
from domaintune.train.hardware import training_attention
from domaintune.train.tokencache import (
    LENGTH_MULTIPLE,
    choose_max_length,
    model_inputs,
    model_length_limit,
)

AUTO = "auto"
LADDER = ("builtin:mpnet-base", "builtin:minilm-l6")
"""Most accurate first: MPNet-base beat MiniLM-L6 on each of four data sets, by 1.9 to 10.6
points of test macro-F1 (`ModelConfig.name_or_path` has the figures)."""
SLOWDOWN_AT_LEAST = {"builtin:mpnet-base": 4.0}
"""How many times slower than the fastest rung a rung trains, at the least: MPNet-base has 4.8x
MiniLM-L6's parameters and 8x its compute per token outside the embeddings; measured here 6.1x
slower in bf16 (43 against 264 rows/s) and 7.5x in fp32 (15.7 against 117)."""
LEAST_SHARE_OF_EPOCHS = 0.5
"""A rung more accurate than the fastest is still chosen where the budget allows it at least this
share of the planned epochs, and trains the epochs that fit: its first epoch already scored as
well as MiniLM-L6's best of three on validation (macro-F1, MPNet-base against MiniLM-L6, one
split each: product snippets 0.812 against 0.769, movie snippets 0.624 against 0.592, tweet
snippets 0.797 against 0.800, the default task 0.805 against 0.805), and its second better on
each."""
LEAST_EPOCHS = 0.01
"""The fewest epochs the budget cuts training to: at least a step, whatever the budget."""
EVALUATION_COST = 1 / 3
"""Scoring a validation row costs about a third of training on one: a forward pass, no backward."""
PROBE_STEPS = 4
"""Batches timed per rung, after an untimed pass over them. Each batch has its own
padded length, and a shape's first step pays for choosing and building its kernels (and the
first optimizer step for its state), which training repeats only once per length over thousands
of steps: timing first steps, MiniLM-L6's probe gave 48 rows/s in fp32 (AVX2 kernels) where
training then ran at about 95."""
TIMED_PASSES = 3
"""Each probe batch is timed this many times and its median time kept: on this shared two-core
host, MPNet-base's probe read 21.4 to 26.6 rows/s from one timed pass in four runs minutes apart
(1.24x), and 23.4 to 26.9 from each batch's median of three (1.15x). What remains is the host's
load from one minute to the next, which training meets too."""


def training_texts(
    run: RunDir, tokenizer: Any, split: str = "train"
) -> tuple[list[list[str]], list[int]]:
    """A split as the tokenizer is given it (`tokencache.model_inputs`), and each row's length
    in tokens, uncut: read and tokenised once for both the limit and the batches."""
    frame = pd.read_parquet(run.split(split))
    inputs = model_inputs(frame, load_fields(run.data), tokenizer)
    return inputs, [len(ids) for ids in tokenizer(*inputs)["input_ids"]]


def training_length(lengths: list[int], tokenizer: Any, model_config: Any, config: Config) -> int:
    """The token limit training will cut texts to: `model.max_length`, else the percentile of
    the training split's lengths (`tokencache.choose_max_length`). A probe that let texts run
    longer timed what training never does: on the default task one tweet of 160 tokens padded a
    probe batch of 32 to 160 where training cuts at 56, and that batch took most of the probe's
    time; MiniLM-L6's probe read 50-78 rows/s where training then ran at 221."""
    limit, _ = choose_max_length(
        lengths,
        percentile=config.model.max_length_percentile,
        model_limit=model_length_limit(model_config, tokenizer),
        fixed=config.model.max_length,
    )
    return limit


def read_as(lengths: list[int], *, limit: int, specials: int, model: ModelConfig) -> list[int]:
    """The text of each training row, as training reads the texts of these uncut `lengths`: a
    row a text, or with `long_text: chunks` a row for each window of a longer one, up to
    `max_chunks` (`tokencache.tokenize`). On Brown genres (all 499 texts over 512 tokens) that is
    four rows a text: a probe of the texts cut to 512 planned for a quarter of the time."""
    if model.long_text != "chunks":
        return list(range(len(lengths)))
    rows: list[int] = []
    for text, length in enumerate(lengths):
        count = window_count(length, specials, max_length=limit, overlap=model.chunk_overlap)
        rows += [text] * min(model.max_chunks, count)
    return rows


def planned_rows(run: RunDir, config: Config, name: str) -> tuple[int, int]:
    """The training and validation rows training will make with the tokenizer of the model
    `name`: the splits' rows, or with `long_text: chunks` the windows of their long texts (for
    `auto` only: a named model is not planned for)."""
    rows = split_rows(run, "train"), split_rows(run, "validation")
    if config.model.long_text != "chunks" or config.model.name_or_path != AUTO:
        return rows
    source = assets.model_path(name)
    tokenizer = load_tokenizer(source)
    specials = tokenizer.num_special_tokens_to_add()
    _, uncut = training_texts(run, tokenizer)
    limit = training_length(uncut, tokenizer, load_model_config(source), config)
    validation = training_texts(run, tokenizer, "validation")[1] if rows[1] else []
    train_rows, validation_rows = (
        len(read_as(lengths, limit=limit, specials=specials, model=config.model))
        for lengths in (uncut, validation)
    )
    return train_rows, validation_rows


def training_batches(
    lengths: list[int], *, batch_size: int, by_length: bool, seed: int
) -> list[list[int]]:
    """The training rows of these lengths (cut as training cuts them) in batches of row numbers,
    in the Trainer's order: length-grouped mega-batches where training groups by length, else
    random."""
    generator = torch.Generator().manual_seed(seed)
    if by_length:
        order = get_length_grouped_indices(lengths, batch_size, generator=generator)
    else:
        order = torch.randperm(len(lengths), generator=generator).tolist()
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


def padded_length(lengths: list[int], rows: list[int]) -> int:
    """The length a batch of these rows is padded to: its longest, up to a multiple of 8."""
    longest = max(lengths[i] for i in rows)
    return math.ceil(longest / LENGTH_MULTIPLE) * LENGTH_MULTIPLE


def pass_seconds(widths: list[int], seconds: list[float], training_widths: list[int]) -> float:
    """The time of a pass over batches padded to `training_widths`, from probe batches padded to
    `widths` that took `seconds`: a step's time grows along a line with its padded length
    (MPNet-base, bf16, 32 rows: 0.25, 0.43, 0.62, 0.76 and 0.96 s at 8, 16, 24, 32 and 40
    tokens; the optimizer and the head cost the same at any length). The probe's batches span
    training's lengths, so the line corrects their mean step for the difference of the mean
    lengths, within the steps measured."""
    slope = np.polyfit(widths, seconds, 1)[0] if len(set(widths)) > 1 else 0.0
    step = np.mean(seconds) + slope * (np.mean(training_widths) - np.mean(widths))
    return len(training_widths) * float(np.clip(step, min(seconds), max(seconds)))


def probe_batches(
    tokenizer: Any,
    inputs: list[list[str]],
    lengths: list[int],
    batches: list[list[int]],
    *,
    max_length: int,
) -> list[dict[str, torch.Tensor]]:
    """PROBE_STEPS of training's full batches, at evenly spaced quantiles of their padded length,
    padded as training pads them: the lengths training computes, short to long. Four batches of
    random rows sorted among themselves padded 13-32% more per row than training did (product
    snippets: 35.5 tokens against 26.8), and the probe read MPNet-base 12-26% slower than it then
    trained (24.1 rows/s against 32.7 there)."""
    full = [rows for rows in batches if len(rows) == len(batches[0])]
    full.sort(key=lambda rows: padded_length(lengths, rows))
    picked = [full[int((step + 0.5) * len(full) / PROBE_STEPS)] for step in range(PROBE_STEPS)]
    return [
        tokenizer(
            *([texts[i] for i in rows] for texts in inputs),
            truncation=True,
            max_length=max_length,
            padding=True,
            pad_to_multiple_of=LENGTH_MULTIPLE,
            return_tensors="pt",
        )
        for rows in picked
    ]


def rows_per_second(
    name: str, run: RunDir, config: Config, args: TrainingArguments, *, labels: int
) -> float:
    """Training rows per second of the model `name` on this machine, as training would run it:
    a few of training's own batches timed, stepped as the Trainer steps them (its optimizer, its
    gradient clipping), and the time of all of them reckoned from those. Plain AdamW where the
    Trainer steps fused AdamW cost MPNet-base 0.08-0.17 s a step here, a fifth of a step of 16
    short rows."""
    source = assets.model_path(name)
    tokenizer = load_tokenizer(source)
    attention = training_attention(
        config.train.attention, bf16=args.bf16, on_cpu=args.device.type == "cpu"
    )
    model = load_classifier(
        source,
        labels=[str(i) for i in range(labels)],
        dropout=config.train.dropout,
        attention=attention,
    ).to(args.device)
    if config.train.freeze_embeddings:
        freeze_word_embeddings(model)
    model.train()
    optimizer_class, options = Trainer.get_optimizer_cls_and_kwargs(args, model)
    trained = [p for p in model.parameters() if p.requires_grad]
    optimizer = optimizer_class(trained, **options)
    texts, uncut = training_texts(run, tokenizer)
    limit = training_length(uncut, tokenizer, model.config, config)
    rows = read_as(
        uncut, limit=limit, specials=tokenizer.num_special_tokens_to_add(), model=config.model
    )
    inputs = [[field[text] for text in rows] for field in texts]
    lengths = [min(uncut[text], limit) for text in rows]
    training = training_batches(
        lengths,
        batch_size=int(config.train.batch_size),
        by_length=config.train.group_by_length,
        seed=config.train.seed,
    )
    batches = probe_batches(tokenizer, inputs, lengths, training, max_length=limit)

    def step(batch: dict[str, torch.Tensor]) -> None:
        batch = {key: value.to(args.device) for key, value in batch.items()}
        with torch.autocast(args.device.type, dtype=torch.bfloat16, enabled=args.bf16):
            logits = model(**batch).logits
        logits.float().square().mean().backward()  # any loss: the head's is a negligible share
        if args.max_grad_norm:
            torch.nn.utils.clip_grad_norm_(trained, args.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad()
        if args.device.type == "cuda":
            torch.cuda.synchronize()

    def seconds(batch: dict[str, torch.Tensor]) -> float:
        started = time.perf_counter()
        step(batch)
        return time.perf_counter() - started

    for batch in batches:  # each shape's kernels built, untimed
        step(batch)
    passes = [[seconds(batch) for batch in batches] for _ in range(TIMED_PASSES)]
    seconds_per_pass = pass_seconds(
        [batch["input_ids"].shape[1] for batch in batches],
        [statistics.median(times) for times in zip(*passes)],
        [padded_length(lengths, rows) for rows in training],
    )
    return sum(len(rows) for rows in training) / seconds_per_pass


def choose_model(
    config: Config,
    run: RunDir,
    args: TrainingArguments,
    *,
    train_rows: int,
    validation_rows: int,
    labels: int,
    processes: int = 1,
    ladder: tuple[str, ...] = LADDER,
) -> ModelChoice:
    """The model to train: the configured one, or for `auto` the first rung of `ladder` whose
    estimated training time fits `train.time_budget`, or half of it does (no budget: the first
    rung).

    A rung fits when its planned epochs do; a more accurate rung than the fastest is chosen too
    when `LEAST_SHARE_OF_EPOCHS` of them fit, and trains the epochs that do. The fastest rung is
    timed first (it is cached, and the fallback). A rung that could not train that share even at
    `SLOWDOWN_AT_LEAST` times slower than it is passed over untimed and unfetched, so a machine
    that cannot train the accurate model does not download it; a rung that cannot be fetched
    (offline) is passed over too."""
    budget = config.train.time_budget
    if config.model.name_or_path != AUTO:
        return ModelChoice(
            model=config.model.name_or_path, reason="set in the config", time_budget=budget
        )
    steps = steps_per_epoch(config, train_rows=train_rows, processes=processes)
    if budget is None:
        wanted = epochs_for_steps(config.train, steps)
        reason = "no time budget: the most accurate model"
        if wanted > config.train.epochs:
            reason += f"; {raised(wanted, steps, config.train.min_steps)}"
        return ModelChoice(
            model=ladder[0],
            reason=reason,
            time_budget=None,
            epochs=wanted if wanted > config.train.epochs else None,
        )
    rows = (train_rows + EVALUATION_COST * validation_rows) * config.train.epochs

    def probe(name: str) -> RungProbe:
        print(f"model: auto: timing {name} on a few training batches", file=sys.stderr, flush=True)
        speed = rows_per_second(name, run, config, args, labels=labels) * processes
        estimate = rows / speed
        return RungProbe(
            model=name,
            rows_per_second=round(speed, 2),
            estimated_seconds=round(estimate, 1),
            fits=estimate <= budget,
        )

    fastest = probe(ladder[-1])
    probes, passed_over = [fastest], []
    for name in ladder[:-1]:
        best_case = fastest.estimated_seconds * SLOWDOWN_AT_LEAST.get(name, 1.0)
        if best_case * LEAST_SHARE_OF_EPOCHS > budget:
            passed_over.append(f"{name} would take at least {best_case:.0f} s")
            continue
        try:
            assets.model_path(name)
        except UserError:
            passed_over.append(f"{name} could not be fetched")
            continue
        probes.insert(-1, probe(name))
        if probes[-2].estimated_seconds * LEAST_SHARE_OF_EPOCHS <= budget:
            pick = probes[-2]
            break
    else:
        pick = fastest
    choice = chosen(pick, probes, budget, config.train.epochs, passed_over)
    return stretched(choice, pick, config.train, steps)


def steps_per_epoch(config: Config, *, train_rows: int, processes: int) -> int:
    """Optimizer steps in one epoch over `train_rows` rows (`train.batch_size` made a number)."""
    return max(1, math.ceil(train_rows / (int(config.train.batch_size) * processes)))


def epochs_for_steps(train: TrainConfig, steps: int) -> float:
    """`train.epochs`, or the whole epochs of `steps` optimizer steps each that make
    `train.min_steps`, where those are more."""
    return max(train.epochs, math.ceil(train.min_steps / steps))


def raised(epochs: float, steps: int, min_steps: int) -> str:
    """Why training runs more epochs than planned, in words."""
    return (
        f"an epoch here is {steps} optimizer steps, so it trains {epochs:g} epochs towards "
        f"`train.min_steps` ({min_steps})"
    )


def epochs_that_fit(pick: RungProbe, epochs: float, budget: float) -> float:
    """The epochs of `pick` that fit `budget`, from its estimate for `epochs`, rounded down to a
    hundredth so the estimate stays within the budget."""
    return math.floor(100 * epochs * budget / pick.estimated_seconds) / 100


def stretched(choice: ModelChoice, pick: RungProbe, train: TrainConfig, steps: int) -> ModelChoice:
    """`choice` (of `pick`) training more epochs than `train.epochs` where those make fewer than
    `train.min_steps` optimizer steps: as many more as make them, or as still fit the budget at
    the chosen model's measured speed. A choice already cut to the budget stays as it is."""
    wanted = epochs_for_steps(train, steps)
    if choice.epochs is not None or wanted <= train.epochs or choice.time_budget is None:
        return choice
    epochs = min(wanted, epochs_that_fit(pick, train.epochs, choice.time_budget))
    if epochs <= train.epochs:
        return choice
    reason = f"{choice.reason}; {raised(epochs, steps, train.min_steps)}"
    if epochs < wanted:
        reason += f", as many of the {wanted:g} epochs that make them as fit the budget"
    return choice.model_copy(
        update={"reason": reason, "epochs": epochs, "cut_by_budget": epochs < wanted}
    )


def chosen(
    pick: RungProbe,
    probes: list[RungProbe],
    budget: float,
    epochs: float,
    passed_over: list[str],
) -> ModelChoice:
    """The choice of `pick`, with the reason in words; where it does not fit, the epochs that
    do (rounded down, so the estimate stays within the budget)."""
    allowed = None
    if pick.fits:
        reason = (
            f"the most accurate model whose {epochs:g} epochs fit the {budget:g} s budget here: "
            f"about {pick.estimated_seconds:.0f} s at {pick.rows_per_second:.1f} rows/s"
        )
    else:
        allowed = max(LEAST_EPOCHS, epochs_that_fit(pick, epochs, budget))
        taking = f"about {pick.estimated_seconds:.0f} s at {pick.rows_per_second:.1f} rows/s"
        if pick is probes[-1]:
            reason = (
                f"no model's {epochs:g} epochs fit the {budget:g} s budget here; the fastest "
                f"would take {taking}, so it trains {allowed:g} epochs"
            )
        else:
            reason = (
                f"the most accurate model of which at least {LEAST_SHARE_OF_EPOCHS:.0%} of the "
                f"{epochs:g} epochs fit the {budget:g} s budget here: all would take {taking}, "
                f"so it trains {allowed:g} epochs"
            )
        if allowed < 1:
            reason += f": a random {allowed:.0%} of the training rows, each once"
    if passed_over:
        reason += f" ({'; '.join(passed_over)})"
    return ModelChoice(
        model=pick.model,
        reason=reason,
        time_budget=budget,
        probes=probes,
        epochs=allowed,
        cut_by_budget=allowed is not None,
    )


def split_rows(run: RunDir, name: str) -> int:
    """Rows of a prepared split, from the Parquet footer (the card counts labels per row for
    multi_label, and no classes for regression)."""
    return pq.ParquetFile(run.split(name)).metadata.num_rows


def with_model(config: Config, name: str, epochs: float | None = None) -> Config:
    """`config` training the model `name`, for `epochs` where given."""
    model = config.model.model_copy(update={"name_or_path": name})
    train = config.train if epochs is None else config.train.model_copy(update={"epochs": epochs})
    return config.model_copy(update={"model": model, "train": train})


def one_model(config: Config) -> Config:
    """`config` naming one model, `auto` made the fast rung: for what times a model (the
    training benches), whose figures must not hang on what a probe picked that minute."""
    return with_model(config, LADDER[-1]) if config.model.name_or_path == AUTO else config


def resolve_model(
    config: Config, run: RunDir, args: TrainingArguments, *, processes: int, resume: bool
) -> tuple[Config, ModelChoice]:
    """`config` with `auto` made a model name (and the epochs the budget allows), and the choice.
    A resumed run keeps the model and epochs its checkpoints were made with; under several
    processes the first chooses and tells the others, since each would time its own probe and
    could choose another model."""
    budget = config.train.time_budget
    if config.model.name_or_path == AUTO and resume and run.checkpoint_config.is_file():
        saved = saved_config(run)
        name = saved.get("model", {}).get("name_or_path", AUTO)
        if name != AUTO:
            epochs = saved.get("train", {}).get("epochs", config.train.epochs)
            choice = ModelChoice(model=name, reason="chosen when the run began", time_budget=budget)
            return with_model(config, name, epochs), choice
    labels = DataCard.read(run.card).labels
    outputs = 1 if config.task.objective == "regression" else len(labels)

    def choose() -> ModelChoice:
        # Windows counted with the fastest rung's tokenizer: the rungs' uncased WordPiece
        # vocabularies cut texts alike (Brown genres' training split: 1,291,158 tokens each).
        train_rows, validation_rows = planned_rows(run, config, LADDER[-1])
        return choose_model(
            config,
            run,
            args,
            train_rows=train_rows,
            validation_rows=validation_rows,
            labels=outputs,
            processes=processes,
            ladder=LADDER,
        )

    if dist.is_available() and dist.is_initialized():
        shared = [choose() if dist.get_rank() == 0 else None]
        dist.broadcast_object_list(shared, src=0)
        choice = shared[0]
    else:
        choice = choose()
    if choice.probes and args.process_index == 0:
        print(f"model: {choice.model}, {choice.reason}", file=sys.stderr, flush=True)
    return with_model(config, choice.model, choice.epochs), choice
