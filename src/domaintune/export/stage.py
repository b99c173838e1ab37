"""`domaintune export` as a stage: check the run, convert, quantise, check parity, write."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from domaintune.config import Config, ExportConfig
from domaintune.data.fields import prepared_inputs
from domaintune.errors import UserError
from domaintune.export.convert import export_graph, fuse, import_onnx, model_inputs, quiet
from domaintune.export.int8 import int8_operators, quantize_int8
from domaintune.metrics import scores
from domaintune.models import load_classifier, weights_digest
from domaintune.predict.backends import OnnxBackend, import_onnxruntime
from domaintune.predict.predictor import Input, Predictor, check_model_folder
from domaintune.rundir import RunDir, atomic_path, read_parquet
from domaintune.runfiles import DataCard, ExportParity
from domaintune.temperature import probabilities


def compare(
    predictor: Predictor,
    backend: OnnxBackend,
    texts: list[Input],
    gold: np.ndarray,
    *,
    batch_size: int,
) -> dict[str, Any]:
    """Step 4's figures: the exported model against the predictor's PyTorch fp32 backend."""
    reference = predictor.backend
    logits = {"torch": predictor.predict_logits(texts, batch_size=batch_size)}
    predictor.backend = backend
    try:
        logits["onnx"] = predictor.predict_logits(texts, batch_size=batch_size)
    finally:
        predictor.backend = reference
    probs = {
        name: probabilities(values, temperature=predictor.temperature)
        for name, values in logits.items()
    }
    labels = np.array(predictor.labels)
    predicted = {name: labels[values.argmax(axis=1)] for name, values in probs.items()}
    same = predicted["torch"] == predicted["onnx"]
    f1 = {name: scores(gold, values)["macro_f1"] for name, values in predicted.items()}
    return {
        "agreement": float(same.mean()),
        "disagreements": int((~same).sum()),
        "macro_f1_torch": f1["torch"],
        "macro_f1_onnx": f1["onnx"],
        "macro_f1_difference": f1["onnx"] - f1["torch"],
        "max_probability_difference": float(np.abs(probs["onnx"] - probs["torch"]).max()),
        "max_logit_difference": float(np.abs(logits["onnx"] - logits["torch"]).max()),
    }


def refusal(run: RunDir, export: ExportConfig, figures: dict[str, Any], *, name: str) -> str | None:
    """Why the export is refused, in one line; None when it passed."""
    kept = (
        f"; the earlier export in {run.export} is kept"
        if run.onnx_model.is_file()
        else "; nothing was written"
    )
    retry = (
        "export with --quantize none (fp32 gives PyTorch's answers)"
        if export.quantize == "int8"
        else "report this as a bug: an fp32 export should agree"
    )
    agreement, f1_torch, f1_onnx = (
        figures["agreement"],
        figures["macro_f1_torch"],
        figures["macro_f1_onnx"],
    )
    if agreement < export.min_agreement:
        return (
            f"export refused: the {name} model gives PyTorch fp32's label to "
            f"{100 * agreement:.2f}% of the test texts ({figures['disagreements']} differ), below "
            f"export.min_agreement {export.min_agreement:g}: {retry}, or lower the threshold "
            f"with --set export.min_agreement=...{kept}"
        )
    if f1_torch - f1_onnx > export.max_macro_f1_drop:
        return (
            f"export refused: the {name} model's test macro-F1 is {f1_onnx:.4f} against PyTorch "
            f"fp32's {f1_torch:.4f}, down more than export.max_macro_f1_drop "
            f"{export.max_macro_f1_drop:g}: {retry}, or allow more with "
            f"--set export.max_macro_f1_drop=...{kept}"
        )
    return None


def padded_example(predictor: Predictor, texts: list[Input]) -> dict[str, np.ndarray]:
    """The shortest and the longest input as one padded batch, encoded as prediction encodes
    them (fields joined or paired): what the exporter traces."""
    inputs = predictor.model_inputs(texts)
    size = [len(text) if isinstance(text, str) else sum(map(len, text)) for text in inputs]
    shortest, longest = int(np.argmin(size)), int(np.argmax(size))
    return predictor.encode([inputs[shortest], inputs[longest]])


def write_onnx(
    model: torch.nn.Module,
    target: Path,
    *,
    inputs: list[str],
    example: dict[str, np.ndarray],
    quantize: str,
    opset: int,
) -> dict[str, int]:
    """Steps 1 to 3 (export, fuse, quantise unless `quantize` is none) into `target`, with the
    steps' own files in a temporary folder beside it; returns the fused operators' counts."""
    with tempfile.TemporaryDirectory(dir=target.parent) as work:
        raw, fused_path = Path(work) / "raw.onnx", Path(work) / "fused.onnx"
        export_graph(model, raw, example=example, inputs=inputs, opset=opset)
        fused = fuse(raw, target if quantize == "none" else fused_path, model=model)
        if quantize == "int8":
            with quiet():
                quantize_int8(fused_path, target)
    return fused


def check_exportable(run: RunDir) -> None:
    """Refuse, before any work, a folder that is not a run with a trained model and a test split."""
    if not run.root.is_dir():
        raise UserError(f"{run.root} is not a folder: give a run directory (runs/NAME)")
    if not run.is_marked():
        raise UserError(
            f"{run.root} is not a run directory (no .domaintune marker): give the folder a "
            "domaintune run wrote (runs/NAME), which export writes export/ into"
        )
    if not (run.model / "config.json").is_file():
        raise UserError(
            f"{run.root} has no trained model ({run.model} is missing or empty): run "
            f"`{run.command('train')}` first"
        )
    check_model_folder(run.model)
    run.require(run.split("test"), stage="prepare")


def parity_split(run: RunDir) -> Path:
    """The rows parity is checked on: the test split, or every row where prepare cross-validated
    and left no test split (parity compares two backends of one model, so rows it learnt from
    serve as well)."""
    if run.card.is_file() and DataCard.read(run.card).split.method == "cross_validation":
        return run.split("train")
    return run.split("test")


def run_export(config: Config, run: RunDir) -> ExportParity:
    """Export the run's model, check its parity on the test split, and write `run.export`."""
    export = config.export
    if config.task.objective != "classification":
        raise UserError(f"export is not supported for task.objective: {config.task.objective} yet")
    check_exportable(run)
    import_onnx()
    started = time.perf_counter()
    if export.threads is not None:
        torch.set_num_threads(export.threads)
    predictor = Predictor(run.model, backend="torch", precision="fp32")
    checked = parity_split(run)
    test = read_parquet(checked)
    unknown = sorted(set(test["label"]) - set(predictor.labels))
    if unknown:
        raise UserError(
            f"{checked} has labels the model does not predict ({', '.join(unknown)}): "
            f"run `{run.command('train')}` again"
        )
    texts = prepared_inputs(test, predictor.fields, path=checked)
    model = load_classifier(str(run.model), attention="eager").eval()
    inputs = model_inputs(model, list(predictor.tokenizer.model_input_names), run.model)
    name = f"onnx-{'fp32' if export.quantize == 'none' else export.quantize}"
    with atomic_path(run.export) as folder:
        folder.mkdir()
        target = folder / run.onnx_model.name
        fused = write_onnx(
            model,
            target,
            inputs=inputs,
            example=padded_example(predictor, texts),
            quantize=export.quantize,
            opset=export.opset,
        )
        backend = OnnxBackend(target, name=name, threads=export.threads)
        gold = test["label"].to_numpy()
        figures = compare(predictor, backend, texts, gold, batch_size=export.batch_size)
        refused = refusal(run, export, figures, name=name)
        if refused is not None:
            raise UserError(refused)  # the temporary folder goes; an earlier export stays
        parity = ExportParity(
            format=export.format,
            file=run.onnx_model.name,
            quantize=export.quantize,
            opset=export.opset,
            inputs=inputs,
            fused_operators=fused,
            int8_operators=int8_operators(target),
            model_sha256=weights_digest(run.model),
            labels=predictor.labels,
            test_rows=len(texts),
            **figures,
            min_agreement=export.min_agreement,
            max_macro_f1_drop=export.max_macro_f1_drop,
            passed=True,
            seconds=round(time.perf_counter() - started, 1),
            onnxruntime_version=import_onnxruntime().__version__,
            torch_version=torch.__version__,
        )
        parity.write(folder / run.parity.name)
    return parity
