"""`domaintune tune`: search the train settings with Optuna, scored by validation macro-F1.

Each trial trains with the run's config, except the settings drawn from the `tune` section's search
space: learning rate (log-uniform), batch size, epochs, warmup and weight decay. Every epoch a trial
reports its validation macro-F1, and the median pruner stops a trial that falls below the median of
earlier trials at that epoch. Trials reuse the run's cached tokens and keep no model; the test split
is never read. The best settings are written as a config that `domaintune run` takes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

from transformers import TrainerCallback

from domaintune.config import Config
from domaintune.errors import UserError
from domaintune.rundir import RunDir, write_json, write_text
from domaintune.train.ladder import resolve_model, split_rows, with_model
from domaintune.train.trainer import fit, resolve_batch_size, training_arguments, training_rows

SEARCHED = ("learning_rate", "batch_size", "epochs", "warmup_ratio", "weight_decay")


def import_optuna() -> ModuleType:
    try:
        import optuna
    except ImportError:
        raise UserError("domaintune tune needs optuna: pip install 'domaintune[tune]'") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # our own line per trial says enough
    return optuna


def with_settings(config: Config, settings: dict[str, Any], *, name: str | None = None) -> Config:
    """`config` with some train settings replaced (and the task renamed), validated again."""
    values = config.model_dump(mode="json")
    values["train"].update(settings)
    if name is not None:
        values["task"]["name"] = name
    return Config.model_validate(values)


def suggest(trial: Any, config: Config) -> dict[str, Any]:
    """One point of the search space, drawn by the study's sampler."""
    tune = config.tune
    return {
        "learning_rate": trial.suggest_float("learning_rate", *tune.learning_rate, log=True),
        "batch_size": trial.suggest_categorical("batch_size", tune.batch_size),
        "epochs": trial.suggest_int("epochs", *tune.epochs),
        "warmup_ratio": trial.suggest_float("warmup_ratio", *tune.warmup_ratio),
        "weight_decay": trial.suggest_float("weight_decay", *tune.weight_decay),
    }


class PruningCallback(TrainerCallback):
    """Reports validation macro-F1 to the trial after each evaluation; stops the trial if pruned."""

    def __init__(self, trial: Any, pruned: type[Exception]) -> None:
        self.trial = trial
        self.pruned = pruned

    def on_evaluate(
        self, args: Any, state: Any, control: Any, metrics: dict[str, float], **kwargs: Any
    ) -> None:
        epoch = round(state.epoch)
        self.trial.report(metrics["eval_macro_f1"], step=epoch)
        if self.trial.should_prune():
            raise self.pruned(f"validation macro-F1 below the median at epoch {epoch}")


def trial_record(trial: Any) -> dict[str, Any]:
    seconds = None
    if trial.datetime_complete is not None:
        seconds = round((trial.datetime_complete - trial.datetime_start).total_seconds(), 1)
    return {
        "number": trial.number,
        "state": trial.state.name.lower(),
        "validation_macro_f1": trial.value,
        "settings": trial.params,
        "validation_macro_f1_by_epoch": trial.intermediate_values,
        "seconds": seconds,
        **trial.user_attrs,
    }


def run_tune(
    config: Config, run: RunDir, *, progress: Callable[[str], None] = print
) -> dict[str, Any]:
    """Run the study; write tune/trials.json after every trial and tune/best.yaml at the end."""
    run.require(run.split("train"), run.split("validation"), run.card, stage="prepare")
    if config.task.objective in ("regression", "generation", "language_model"):
        raise UserError(
            f"tune maximises validation macro-F1: {config.task.objective} is not supported yet"
        )
    if split_rows(run, "validation") == 0:
        raise UserError(
            f"tune scores each trial on the validation split, and {run.root} has none: prepare "
            "kept every row for cross-validation (small data); prepare with --set "
            "prepare.split=random to tune on a split"
        )
    optuna = import_optuna()
    probed = resolve_batch_size(config, train_rows=training_rows(run), processes=1)
    probed, _ = resolve_model(
        probed, run, training_arguments(probed.train, run.tune), processes=1, resume=False
    )
    config = with_model(config, probed.model.name_or_path)  # `auto` chosen once, for every trial
    tune = config.tune
    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=tune.seed),
        pruner=optuna.pruners.MedianPruner(
            n_startup_trials=tune.pruner_startup_trials,
            n_warmup_steps=tune.pruner_warmup_epochs,
        ),
    )
    run.clear(run.tune)

    def objective(trial: Any) -> float:
        settings = suggest(trial, config)
        trial_config = with_settings(config, settings)
        folder = run.tune / f"trial-{trial.number}"
        try:
            args = training_arguments(trial_config.train, folder)
            pruning = PruningCallback(trial, optuna.TrialPruned)
            fitted = fit(trial_config, run, args, callbacks=[pruning])
        finally:
            run.clear(folder)
        trial.set_user_attr("epochs_run", float(fitted.trainer.state.epoch or 0))
        return float(fitted.trainer.state.best_metric)

    def record(study: Any, trial: Any) -> None:
        write_json(
            run.tune / "trials.json",
            [trial_record(each) for each in study.get_trials(deepcopy=False)],
        )
        shown = "-" if trial.value is None else f"{trial.value:.3f}"
        settings = ", ".join(f"{key} {value:.3g}" for key, value in trial.params.items())
        progress(f"trial {trial.number}: {trial.state.name.lower()}, macro-F1 {shown} ({settings})")

    started = time.perf_counter()
    study.optimize(objective, n_trials=tune.n_trials, timeout=tune.timeout_s, callbacks=[record])
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not complete:
        raise UserError(f"no trial finished: see {run.tune / 'trials.json'}")
    best = study.best_trial
    best_config = with_settings(config, best.params, name=f"{config.task.name}-tuned")
    header = (
        f"# Best of {len(study.trials)} trials of `domaintune tune` by validation macro-F1 "
        f"({best.value:.4f}, trial {best.number}); run it with `domaintune run THIS_FILE`.\n"
    )
    write_text(run.tune / "best.yaml", header + best_config.to_yaml())
    return {
        "trials": len(study.trials),
        "complete": len(complete),
        "pruned": len(study.get_trials(states=(optuna.trial.TrialState.PRUNED,))),
        "best_trial": best.number,
        "best_validation_macro_f1": best.value,
        "best_settings": best.params,
        "best_config": run.tune / "best.yaml",
        "seconds": round(time.perf_counter() - started, 1),
    }
