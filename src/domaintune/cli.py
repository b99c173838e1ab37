"""The command line: thin typer commands that resolve the config and call one stage each.

A `UserError` anywhere becomes one line on stderr and exit status 2, without a traceback. Messages
hold the user's own text (paths, column names such as `[usd]`), so nothing printed is read as Rich
markup: styles are set with `Text`, never with `[bold]` tags inside a string.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Protocol

import click
import typer
from rich.console import Console
from rich.text import Text

from domaintune.cli_options import (
    ConfigArgument,
    LabelColumnOption,
    OutOption,
    QuickStart,
    SetOption,
    TextColumnOption,
    with_quick_start,
)
from domaintune.config import DEFAULT_CONFIG, Config, build_config, load_config, task_name_from
from domaintune.errors import UserError
from domaintune.launch import process_rank
from domaintune.rundir import RunDir
from domaintune.runfiles import GenerationMetrics, MultiLabelMetrics, RegressionMetrics

app = typer.Typer(
    help="Fine-tune a small language model for your domain: prepare, train, evaluate, report.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
config_app = typer.Typer(help="Show the resolved config.", no_args_is_help=True)
app.add_typer(config_app, name="config")
label_app = typer.Typer(
    help="Label a pile of texts, the rows that matter first: pick rows to label, import labels.",
    no_args_is_help=True,
)
app.add_typer(label_app, name="label")
console = Console(markup=False)
"""Progress and where outputs went, on stdout; stderr carries only errors, so a bad input shows
as exactly one `error:` line there."""
errors = Console(stderr=True, markup=False)


def resolve(
    config: str | None,
    overrides: list[str] | None,
    *,
    out: Path | None = None,
    quick: QuickStart = QuickStart(),
) -> tuple[Config, RunDir]:
    """The config a command runs with, and its run directory.

    Without a CONFIG: the quick-start flags on the bare defaults when --data is given, else the
    config saved in the run directory, else the default task. Quick-start values are taken as
    plain text; only --set values are read as YAML (and win over them).
    """
    settings = quick.settings()
    overrides = list(overrides or [])
    if config is None and quick.data is not None:
        name = task_name_from(quick.data)
        resolved = build_config(
            {"task": {"name": name}}, overrides, source="--set", settings=settings
        )
    elif config is None and out is not None and RunDir(out).config.is_file():
        resolved = load_config(str(RunDir(out).config), overrides, settings=settings)
    else:
        resolved = load_config(config, overrides, settings=settings)
    return resolved, RunDir(out or Path("runs") / resolved.task.name)


def resolve_run(
    config: str | None,
    overrides: list[str] | None,
    *,
    out: Path | None = None,
    quick: QuickStart = QuickStart(),
) -> tuple[Config, RunDir]:
    """`resolve` for a command that writes: a folder holding files domaintune did not write is
    refused here, before any stage starts."""
    resolved, run_dir = resolve(config, overrides, out=out, quick=quick)
    run_dir.check_claimable()
    return resolved, run_dir


def timed(stage: str, action: Callable[[], Any], where: Path) -> Any:
    console.rule(Text(stage, style="bold"))
    started = time.perf_counter()
    result = action()
    console.print(f"{stage} done in {time.perf_counter() - started:.1f} s -> {where}")
    return result


def stage_prepare(config: Config, run: RunDir) -> None:
    from domaintune.data.prepare import run_prepare

    card = timed("prepare", lambda: run_prepare(config, run), run.data)
    splits = ", ".join(f"{name} {rows}" for name, rows in card.split.rows.items())
    how = card.split.method.replace("_", " ")
    if card.split.method == "cross_validation":
        splits = "all for training, too few to test on a split: evaluate cross-validates"
    console.print(f"kept {card.rows_kept} of {card.rows_read} rows: {splits} (split: {how})")
    for warning in card.split.warnings:
        console.print(f"warning: {warning}")


def stage_train(config: Config, run: RunDir, *, resume: bool = False) -> None:
    from domaintune.train.trainer import run_train

    log = timed("train", lambda: run_train(config, run, resume=resume), run.model)
    if log.resumed_from:
        console.print(f"resumed from {run.checkpoints / log.resumed_from}")
    if log.best_validation_loss is not None:
        best = f"loss {log.best_validation_loss:.3f} (perplexity {math.exp(log.best_validation_loss):.1f})"
    elif log.best_validation_rmse is not None:
        best = f"RMSE {log.best_validation_rmse:.3f}"
    elif log.best_validation_macro_f1 is not None:
        best = f"macro-F1 {log.best_validation_macro_f1:.3f}"
    else:
        best = "score: none (no validation split)"
    at = f" at epoch {log.best_epoch:.2f}" if log.best_epoch is not None else ""
    console.print(
        f"{log.model}: best validation {best}{at}; {log.steps} steps; "
        f"{log.rows_per_second} rows/s, "
        f"{log.tokens_per_second} tokens/s ({log.precision}, {log.method}, "
        f"{log.trainable_parameters:,} of {log.parameters:,} parameters trained); "
        f"log: {run.train_log}"
    )


def stage_evaluate(config: Config, run: RunDir) -> None:
    from domaintune.evaluate.stage import run_evaluate

    metrics = timed("evaluate", lambda: run_evaluate(config, run), run.metrics)
    if isinstance(metrics, MultiLabelMetrics):
        low, high = metrics.intervals.micro_f1
        console.print(
            f"test micro-F1 {metrics.micro_f1:.3f} [{low:.3f}, {high:.3f}], macro-F1 "
            f"{metrics.macro_f1:.3f}, subset accuracy {metrics.subset_accuracy:.3f}"
        )
        for name, baseline in metrics.baselines.items():
            print_baseline(
                f"baseline {name}", f"micro-F1 {baseline.micro_f1:.3f}", metrics.significance[name]
            )
        return
    if isinstance(metrics, GenerationMetrics):
        low, high = metrics.perplexity_interval
        console.print(
            f"test perplexity {metrics.perplexity:.2f} [{low:.2f}, {high:.2f}], base model "
            f"{metrics.perplexity_base:.2f} ({metrics.perplexity_ratio:.1f}x lower)"
        )
        for name, scores in metrics.rouge.items():
            a, b = scores.rougeL_interval
            verdict = metrics.significance.get(name)
            against = (
                ""
                if verdict is None
                else f"; fine-tuned {100 * verdict.rougeL_difference:+.1f} points "
                f"[{100 * verdict.interval[0]:+.1f}, {100 * verdict.interval[1]:+.1f}]: "
                f"{verdict.verdict}"
            )
            console.print(
                f"  ROUGE-L {name}: {100 * scores.rougeL:.1f} [{100 * a:.1f}, {100 * b:.1f}]"
                f"{against}"
            )
        return
    if isinstance(metrics, RegressionMetrics):
        low, high = metrics.intervals.mae
        console.print(
            f"test MAE {metrics.mae:.3f} [{low:.3f}, {high:.3f}], RMSE {metrics.rmse:.3f}, "
            f"R² {metrics.r2:.3f}, Spearman {metrics.spearman:.3f}"
        )
        for name, baseline in metrics.baselines.items():
            print_baseline(
                f"baseline {name}", f"MAE {baseline.mae:.3f}", metrics.significance[name]
            )
        return
    cv = metrics.cross_validation
    if cv is not None:
        console.print(
            f"cross-validated ({cv.folds} folds x {cv.repeats} repeats, {cv.rows} rows): "
            f"macro-F1 {cv.model.mean:.3f} (sd {cv.model.std:.3f}, folds "
            f"{cv.model.low:.3f}-{cv.model.high:.3f})"
        )
        for name, scores in cv.baselines.items():
            print_baseline(f"baseline {name}", f"macro-F1 {scores.mean:.3f}", cv.comparisons[name])
        return
    low, high = metrics.intervals.macro_f1
    console.print(
        f"test macro-F1 {metrics.macro_f1:.3f} [{low:.3f}, {high:.3f}], "
        f"accuracy {metrics.accuracy:.3f}"
    )
    for name, baseline in metrics.baselines.items():
        print_baseline(
            f"baseline {name}", f"macro-F1 {baseline.macro_f1:.3f}", metrics.significance[name]
        )
    for folder, other in metrics.other_runs.items():
        print_baseline(f"{other.role} {folder}", f"macro-F1 {other.macro_f1:.3f}", other.comparison)


class Judged(Protocol):
    verdict: str


def print_baseline(name: str, score: str, comparison: Judged) -> None:
    """One line for a baseline (or another run): its score, and the paired tests' verdict on the
    fine-tuned model against it."""
    console.print(f"  {name}: {score} (fine-tuned model: {comparison.verdict})")


def stage_report(config: Config, run: RunDir) -> None:
    from domaintune.report.build import run_report

    timed("report", lambda: run_report(config, run), run.report_html)
    console.print(f"report: {run.report_md} and {run.report_html}")


@config_app.command("show")
@with_quick_start
def config_show(
    config: ConfigArgument = None, overrides: SetOption = None, *, quick: QuickStart
) -> None:
    """Print the resolved config: every default filled in."""
    resolved, _ = resolve(config, overrides, quick=quick)
    typer.echo(resolved.to_yaml(), nl=False)


@app.command()
@with_quick_start
def prepare(
    config: ConfigArgument = None,
    out: OutOption = None,
    overrides: SetOption = None,
    *,
    quick: QuickStart,
) -> None:
    """Read, clean, label, split and describe the data: writes data/ and config.yaml."""
    stage_prepare(*resolve_run(config, overrides, out=out, quick=quick))


@app.command()
def inspect(
    data: Annotated[
        str | None,
        typer.Argument(help="A data file, folder, builtin:NAME or hub:NAME.", show_default=False),
    ] = None,
    config: Annotated[
        str | None, typer.Option("--config", help="A YAML file or ready config name.")
    ] = None,
    overrides: SetOption = None,
    text_column: TextColumnOption = None,
    label_column: LabelColumnOption = None,
) -> None:
    """Check the data as prepare would, and print what to fix; writes nothing."""
    from rich.console import Console as OutputConsole
    from rich.table import Table

    from domaintune.data.inspect import inspect_data

    if data is not None and data.endswith((".yaml", ".yml")):  # a config file given as DATA
        data, config = None, data
    if data is None and config is None:
        config = DEFAULT_CONFIG
    quick = QuickStart(data=data, text_column=text_column, label_column=label_column)
    resolved, _ = resolve(config, overrides, quick=quick)
    _, rows, advice = timed("inspect", lambda: inspect_data(resolved), Path(resolved.data.source))
    table = Table(title=Text(f"Data checks: {resolved.data.source}"), show_lines=False)
    table.add_column("check")
    table.add_column("finding")
    for check, finding in rows:
        table.add_row(Text(check), Text(finding))
    output = OutputConsole(markup=False)
    output.print(table)
    output.print(Text("Verdict", style="bold"))
    for line in advice:
        output.print(f"- {line}", highlight=False)


@app.command()
def train(
    config: ConfigArgument = None,
    out: OutOption = None,
    overrides: SetOption = None,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume", help="Continue from the last complete checkpoint of a killed run."
        ),
    ] = False,
) -> None:
    """Fine-tune the model on the prepared data: writes model/ and train_log.json.

    Runs on several processes when started by torchrun or accelerate launch.
    """
    stage_train(*resolve_run(config, overrides, out=out), resume=resume)


@app.command()
def tune(config: ConfigArgument = None, out: OutOption = None, overrides: SetOption = None) -> None:
    """Search the train settings with Optuna (the `tune` section): writes tune/trials.json and
    tune/best.yaml, a config for `domaintune run`. Prepares the data first if needed."""
    from domaintune.train.tune import run_tune

    resolved, run_dir = resolve_run(config, overrides, out=out)
    if not run_dir.card.is_file():
        stage_prepare(resolved, run_dir)
    found = timed("tune", lambda: run_tune(resolved, run_dir, progress=console.print), run_dir.tune)
    settings = ", ".join(f"{key}={value:.3g}" for key, value in found["best_settings"].items())
    console.print(
        f"{found['complete']} of {found['trials']} trials finished, {found['pruned']} pruned; "
        f"best validation macro-F1 {found['best_validation_macro_f1']:.3f} (trial "
        f"{found['best_trial']}: {settings})\n"
        f"trials: {run_dir.tune / 'trials.json'}\n"
        f"train with them: domaintune run {found['best_config']}"
    )


@app.command()
def evaluate(
    config: ConfigArgument = None, out: OutOption = None, overrides: SetOption = None
) -> None:
    """Score the model and the baselines on the test split: writes metrics.json, predictions."""
    stage_evaluate(*resolve_run(config, overrides, out=out))


@app.command()
def report(
    config: ConfigArgument = None, out: OutOption = None, overrides: SetOption = None
) -> None:
    """Write report.md, report.html and plots/ from the run directory."""
    stage_report(*resolve_run(config, overrides, out=out))


@app.command()
@with_quick_start
def run(
    config: ConfigArgument = None,
    out: OutOption = None,
    overrides: SetOption = None,
    *,
    quick: QuickStart,
) -> None:
    """Every stage in order: prepare, train, evaluate, report."""
    from domaintune.models import check_model
    from domaintune.train.ladder import AUTO

    resolved, run_dir = resolve_run(config, overrides, out=out, quick=quick)
    if resolved.model.name_or_path != AUTO:
        check_model(resolved.model.name_or_path)
    started = time.perf_counter()
    for stage in (stage_prepare, stage_train, stage_evaluate, stage_report):
        stage(resolved, run_dir)
    console.rule()
    console.print(
        f"run finished in {time.perf_counter() - started:.0f} s; outputs in {run_dir.root}"
    )


@app.command()
def predict(
    model: Annotated[
        Path, typer.Argument(help="A model folder (runs/NAME/model) or run directory.")
    ],
    text: Annotated[
        list[str] | None, typer.Option("--text", help="A text to label (repeatable).")
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file",
            help="A CSV/TSV/TXT/JSONL/Parquet file or Excel workbook of any size (read, "
            "labelled and written in chunks), or '-' for stdin (one text per line).",
        ),
    ] = None,
    text_column: Annotated[
        str | None,
        typer.Option(
            "--text-column",
            help="The file's column of texts (default: text); meta.body reaches into nested "
            "JSON. A model trained on several fields reads each from the column of its name; "
            '--text and stdin lines are then JSON objects such as {"subject": "...", "body": "..."}.',
        ),
    ] = None,
    sheet: Annotated[
        str | None,
        typer.Option("--sheet", help="The sheet of an Excel workbook; default: the first."),
    ] = None,
    delimiter: Annotated[
        str,
        typer.Option(
            "--delimiter",
            help="A CSV's delimiter: auto (sniffed: comma, semicolon, tab or pipe), tab, or "
            "one character.",
        ),
    ] = "auto",
    keep_columns: Annotated[
        str | None,
        typer.Option(
            "--keep-columns",
            help="The file's columns to write beside each text and its predictions, "
            "comma-separated (e.g. id,date); default: all; '' keeps none. One named like an "
            "output column (label, confidence, decision, p_<label>, text) is written as "
            "input_<name>.",
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            help="Write here, not stdout; replaced only once all is written. A folder with "
            "--engine ray.",
        ),
    ] = None,
    output_format: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="csv, tsv, jsonl or parquet; default: --output's suffix, else jsonl "
            "(parquet with --engine ray).",
        ),
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size")] = 64,
    chunk_size: Annotated[
        int,
        typer.Option(
            "--chunk-size",
            help="Rows read, labelled and written at a time: memory grows with it, not with "
            "the file.",
        ),
    ] = 10_000,
    engine: Annotated[
        str,
        typer.Option(
            "--engine",
            help="local, or ray: label --file on a Ray cluster (pip install "
            "'domaintune\\[distributed]'), writing a folder of part files.",  # \[: not markup
        ),
    ] = "local",
    address: Annotated[
        str | None,
        typer.Option(
            "--address",
            help="With --engine ray: the cluster (auto, ray://HOST:10001); default: a Ray "
            "started on this machine.",
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            help="With --engine ray: copies of the model labelling at once (a CPU each); "
            "default: as many as the cluster has room for.",
        ),
    ] = None,
    backend: Annotated[
        str,
        typer.Option(
            "--backend",
            help="auto (the run's ONNX export if there is one, else PyTorch), torch, torch-fp32, "
            "torch-bf16 or onnx.",
        ),
    ] = "auto",
) -> None:
    """Label texts: from --text, a file, or standard input (one text per line). Each output row
    holds the text, the file's other columns, the label, its confidence, the decision (model,
    class_rule, or abstain: send to a person) and a probability per label."""
    from domaintune.predict.files import predict_command

    predict_command(
        model,
        texts=text,
        file=file,
        text_column=text_column,
        keep_columns=keep_columns,
        output=output,
        output_format=output_format,
        batch_size=batch_size,
        chunk_rows=chunk_size,
        engine=engine,
        address=address,
        workers=workers,
        backend=backend,
        sheet=sheet,
        delimiter=delimiter,
    )


@app.command()
def serve(
    run: Annotated[Path, typer.Argument(help="A run directory (runs/NAME) or its model folder.")],
    host: Annotated[
        str | None, typer.Option("--host", help="Address to listen on (default 127.0.0.1).")
    ] = None,
    port: Annotated[
        int | None, typer.Option("--port", help="Port; 0 takes a free one (default 8000).")
    ] = None,
    backend: Annotated[
        str,
        typer.Option(
            "--backend",
            help="auto, torch, torch-fp32, torch-bf16 or onnx: what computes the logits.",
        ),
    ] = "auto",
    max_batch: Annotated[
        int | None,
        typer.Option("--max-batch", help="Texts predicted together at most (default 32)."),
    ] = None,
    max_wait_ms: Annotated[
        float | None,
        typer.Option(
            "--max-wait-ms", help="How long a text waits for others to join it (default 5)."
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            help="Batches predicted at the same time (default: one per core for ONNX, else 1).",
        ),
    ] = None,
    max_text_chars: Annotated[
        int | None, typer.Option("--max-text-chars", help="Longest text accepted (default 10000).")
    ] = None,
    max_texts: Annotated[
        int | None, typer.Option("--max-texts", help="Most texts in one request (default 128).")
    ] = None,
    overrides: SetOption = None,
) -> None:
    """Serve the model over HTTP: POST /predict, GET /health, /metadata, /docs, and a page at /.

    Settings come from the `serve` section of the run's config.yaml, then --set, then the options.
    """
    from domaintune.serve import (
        check_backend,
        check_model_path,
        check_server_libraries,
        with_options,
    )

    check_server_libraries()
    check_backend(backend)
    check_model_path(run)
    from domaintune.serve.server import open_server

    root = run.parent if run.name == "model" and RunDir(run.parent).config.is_file() else run
    resolved, _ = resolve(None, overrides, out=root)
    settings = with_options(
        resolved.serve,
        host=host,
        port=port,
        max_batch=max_batch,
        max_wait_ms=max_wait_ms,
        workers=workers,
        max_text_chars=max_text_chars,
        max_texts=max_texts,
    )
    server = open_server(run, serve=settings, backend=backend)
    console.print(
        f"serving {server.name} ({server.backend}; labels {', '.join(server.labels)}) at "
        f"{server.url}: the page at {server.url}/, the API at {server.url}/docs; Ctrl+C stops",
        soft_wrap=True,
    )
    server.run()


@app.command()
def export(
    run_folder: Annotated[
        Path, typer.Argument(metavar="RUN", help="A run directory with a trained model.")
    ],
    export_format: Annotated[
        str | None, typer.Option("--format", help="onnx (the config's export.format).")
    ] = None,
    quantize: Annotated[
        str | None,
        typer.Option("--quantize", help="int8 or none (the config's export.quantize)."),
    ] = None,
    overrides: SetOption = None,
) -> None:
    """Export the model as ONNX (int8 unless --quantize none) and check it gives PyTorch's
    answers on the test split: writes export/model.onnx and export/parity.json."""
    from domaintune.export import run_export

    for option, value, choices in (
        ("--format", export_format, ("onnx",)),
        ("--quantize", quantize, ("int8", "none")),
    ):
        if value is not None and value not in choices:
            raise UserError(f"{option} {value}: choose {' or '.join(choices)}")
    resolved, run_dir = resolve(None, overrides, out=run_folder)
    if export_format is not None:
        resolved.export.format = export_format
    if quantize is not None:
        resolved.export.quantize = quantize
    parity = timed("export", lambda: run_export(resolved, run_dir), run_dir.export)
    fused = ", ".join(f"{name} {count}" for name, count in parity.fused_operators.items())
    size = run_dir.onnx_model.stat().st_size / 2**20
    console.print(
        f"{run_dir.onnx_model}: {parity.backend}, {size:.0f} MiB, fused: {fused or 'nothing'}\n"
        f"parity on {parity.test_rows} test texts: the same label as PyTorch fp32 for "
        f"{100 * parity.agreement:.2f}% ({parity.disagreements} differ), macro-F1 "
        f"{parity.macro_f1_onnx:.4f} against {parity.macro_f1_torch:.4f}, probabilities within "
        f"{parity.max_probability_difference:.2g}; {run_dir.parity}"
    )
    if run_dir.report_md.is_file():  # the report has a section on the export
        stage_report(resolved, run_dir)


@app.command()
def compare(
    runs: Annotated[list[Path], typer.Argument(help="Run directories with a metrics.json.")],
    output_format: Annotated[
        str, typer.Option("--format", help="table, markdown or json.")
    ] = "table",
) -> None:
    """Compare runs: test accuracy and macro-F1 with intervals, baselines and verdicts."""
    from rich.console import Console as OutputConsole

    from domaintune.report.compare import json_table, load_metrics, markdown_table, rich_table, rows

    if output_format not in {"table", "markdown", "json"}:
        raise UserError(f"--format {output_format}: choose table, markdown or json")
    table = rows(load_metrics(runs))
    if output_format == "table":
        OutputConsole().print(rich_table(table))
    else:
        typer.echo(
            markdown_table(table) if output_format == "markdown" else json_table(table), nl=False
        )


@label_app.command("pick")
def label_pick(
    pool: Annotated[
        Path,
        typer.Argument(
            help="Unlabelled texts: a CSV/TSV/TXT/JSONL/JSON/Parquet file or Excel workbook."
        ),
    ],
    labels: Annotated[
        str | None,
        typer.Option(
            "--labels", help="The label names, comma-separated (default: --run's labels)."
        ),
    ] = None,
    run: Annotated[
        Path | None,
        typer.Option("--run", help="A run directory: its model's probabilities pick the rows."),
    ] = None,
    labelled: Annotated[
        Path | None,
        typer.Option(
            "--labelled",
            help="The labels file so far (label import's --into): its rows are not picked again, "
            "and without --run a logistic regression on them picks.",
        ),
    ] = None,
    k: Annotated[int, typer.Option("--k", help="How many rows to pick.")] = 50,
    file_format: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="csv (a file to fill in) or label-studio (tasks to import, with pre-annotations); "
            "default: label-studio for an --out ending in .json, else csv.",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Write here (replaced once all is written); default: to_label.csv in this folder, "
            "or to_label-2.csv, ... when it exists.",
        ),
    ] = None,
    text_column: Annotated[str, typer.Option("--text-column")] = "text",
    id_column: Annotated[
        str | None,
        typer.Option(
            "--id-column",
            help="The column of row ids (default: id when there is one, else the row number).",
        ),
    ] = None,
    model: Annotated[
        str,
        typer.Option("--model", help="The sentence encoder that embeds texts and label names."),
    ] = "builtin:minilm-l6",
    seed: Annotated[int, typer.Option("--seed")] = 0,
) -> None:
    """Pick the next rows to label: near each label's name at first, then the ones the model is
    least sure of, spread over the pool. Writes them with the model's suggestions."""
    from domaintune.label.command import pick_command

    pick_command(
        pool,
        labels=labels,
        run=run,
        labelled_path=labelled,
        k=k,
        file_format=file_format,
        out=out,
        text_column=text_column,
        id_column=id_column,
        model=model,
        seed=seed,
    )


@label_app.command("import")
def label_import(
    filled: Annotated[
        Path,
        typer.Argument(help="The filled file from label pick, or a Label Studio JSON export."),
    ],
    into: Annotated[
        Path,
        typer.Option("--into", help="The labels file (id, text, label); created when missing."),
    ],
    labels: Annotated[
        str | None,
        typer.Option(
            "--labels",
            help="The label names, comma-separated; default: the labels --into holds already.",
        ),
    ] = None,
) -> None:
    """Merge labels into the labels file: existing labels are kept, a conflict is refused."""
    from domaintune.label.command import import_command

    import_command(filled, into=into, labels=labels)


def quiet_libraries() -> None:
    """Our own lines say what happened; the libraries' info chatter would bury them."""
    import logging
    import warnings

    from huggingface_hub.utils import logging as hub_logging
    from transformers.utils import logging as transformers_logging

    transformers_logging.set_verbosity_error()
    hub_logging.set_verbosity_error()
    logging.getLogger("setfit").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)


COMMAND_LINE_ERRORS = (click.ClickException, typer.exceptions.TyperException)
"""Unknown options, bad values: click's own, or those of the click that newer typers vendor."""


def print_error(message: str) -> None:
    """`error:` in red, then the message as written, on one line: it is never read as markup."""
    line = Text.assemble(("error:", "bold red"), " ", message.replace("\n", " "))
    errors.print(line, soft_wrap=True, highlight=False)


def main() -> None:
    quiet_libraries()
    try:
        console.quiet = process_rank() > 0  # under torchrun, one process speaks
        app(standalone_mode=False)
    except UserError as error:
        print_error(str(error))
        sys.exit(2)
    except COMMAND_LINE_ERRORS as error:
        context = getattr(error, "ctx", None)
        help_hint = f" (see {context.command_path} --help)" if context is not None else ""
        print_error(f"{error.format_message()}{help_hint}")
        sys.exit(error.exit_code)
    except (click.exceptions.Abort, typer.Abort):
        errors.print("aborted")
        sys.exit(130)


if __name__ == "__main__":  # torchrun -m domaintune.cli, python -m domaintune.cli
    main()
