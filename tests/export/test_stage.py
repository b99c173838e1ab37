"""`domaintune export`: the ONNX file, its parity with PyTorch, its refusal, and prediction's choice
of backend, on a tiny BERT in a run folder made for the test (no training)."""

from __future__ import annotations

import io
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

from domaintune.config import Config, build_config
from domaintune.errors import UserError
from domaintune.export import convert, run_export, stage
from domaintune.predict import Predictor
from domaintune.predict.backends import (
    ONNX_ROWS_PER_RUN,
    OnnxBackend,
    TorchBackend,
    import_onnxruntime,
)
from domaintune.rundir import RunDir, write_parquet
from domaintune.runfiles import ExportParity
from tests.helpers import WORDS, copy_run, domaintune, make_rows

pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")

LABELS = list(WORDS)
PADDED = [
    "thanks",
    "late delayed cancelled lost rude broken angry worst terrible refund waiting again and again",
    "flight ticket gate",
    "the flight was great, the crew friendly and the seat fine",
]
"""Texts of very different lengths: in one batch, most rows are padded."""


def tiny_classifier(folder: Path, tiny_model: Path, *, seed: int = 0) -> Path:
    """The tiny BERT with a 3-way head, trained for a few seconds on texts whose words tell their
    class: a random model gives nearly every text the same label, so no parity check could fail
    on it, and its logits sit so close together that any rounding flips them."""
    config = BertConfig.from_pretrained(tiny_model)
    config.id2label = dict(enumerate(LABELS))
    config.label2id = {label: i for i, label in enumerate(LABELS)}
    torch.manual_seed(seed)
    model = BertForSequenceClassification(config)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    rows = make_rows(240, seed=seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3)
    model.train()
    for start in range(0, 4 * len(rows), 16):  # four epochs of batches of 16
        batch = rows.iloc[[i % len(rows) for i in range(start, start + 16)]]
        inputs = tokenizer(batch["text"].tolist(), padding=True, return_tensors="pt")
        labels = torch.tensor([LABELS.index(label) for label in batch["label"]])
        loss = model(**inputs, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval().save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def make_run(root: Path, classifier: Path) -> RunDir:
    """A marked run folder with a model and a test split, as train and prepare leave them."""
    run = RunDir(root)
    run.claim("test")
    shutil.copytree(classifier, run.model)
    write_parquet(run.split("test"), make_rows(90, seed=1))
    return run


def config(*overrides: str) -> Config:
    return build_config({}, list(overrides))


@pytest.fixture(scope="module")
def classifier(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Path:
    return tiny_classifier(tmp_path_factory.mktemp("classifier") / "model", tiny_model)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory, classifier: Path) -> RunDir:
    """A run exported once with the defaults (int8), shared by the tests that only read it."""
    run = make_run(tmp_path_factory.mktemp("exported") / "run", classifier)
    run_export(config(), run)
    return run


def copied(run: RunDir, folder: Path) -> RunDir:
    shutil.copytree(run.root, folder / "run")
    return RunDir(folder / "run")


def test_int8_export_writes_the_model_and_its_parity(exported: RunDir) -> None:
    """Catches a graph left unfused (slow), an external data file beside the model, temporary
    files left in the run, or a parity file that does not say what was measured."""
    assert sorted(path.name for path in exported.export.iterdir()) == ["model.onnx", "parity.json"]
    assert not [path for path in exported.root.iterdir() if path.name.startswith(".export")]
    parity = ExportParity.read(exported.parity)
    assert parity.quantize == "int8" and parity.backend == "onnx-int8" and parity.passed
    assert parity.inputs == ["input_ids", "attention_mask", "token_type_ids"]
    assert parity.fused_operators["Attention"] == 2  # one per layer of the tiny BERT
    assert parity.test_rows == 90 and parity.agreement >= 0.99
    assert parity.macro_f1_difference == pytest.approx(parity.macro_f1_onnx - parity.macro_f1_torch)
    assert parity.int8_operators["MatMulIntegerToFloat"] == 4  # feed-forward: 2 per layer
    assert parity.int8_operators["QAttention"] == 2


def test_fp32_export_gives_pytorchs_logits_on_a_padded_batch(
    exported: RunDir, tmp_path: Path
) -> None:
    """Catches inputs fed to the wrong graph input (the dynamo exporter has swapped
    attention_mask and token_type_ids without a word): one padded batch through the export
    against each text alone through PyTorch. Swapping the two inputs is shown to be caught."""
    run = copied(exported, tmp_path)
    run_export(config("export.quantize=none"), run)
    parity = ExportParity.read(run.parity)
    assert parity.backend == "onnx-fp32" and parity.agreement == 1.0
    assert parity.max_logit_difference < 1e-4

    predictor = Predictor(run.model, backend="torch", precision="fp32")
    batch = dict(predictor.tokenizer(PADDED, padding=True, truncation=True, return_tensors="np"))
    assert (batch["attention_mask"] == 0).sum() > 10  # padded
    onnx = OnnxBackend(run.onnx_model)
    together = onnx.logits(batch)
    alone = np.vstack([predictor.predict_logits([text]) for text in PADDED])
    assert together == pytest.approx(alone, abs=1e-4)

    swapped = {
        **batch,
        "attention_mask": batch["token_type_ids"],
        "token_type_ids": batch["attention_mask"],
    }
    assert not np.allclose(onnx.logits(swapped), alone, atol=1e-2)


def test_a_large_batch_runs_in_parts_each_padded_to_its_own_longest_text(
    exported: RunDir, tmp_path: Path
) -> None:
    """Catches parts that keep the whole batch's padding (the cost the split is there to cut),
    parts cut from the wrong side of the padding, and rows lost or reordered between parts: a
    batch sorted by length, as the predictor makes them, through the fp32 export in parts,
    against each text alone through PyTorch."""
    run = copied(exported, tmp_path)
    run_export(config("export.quantize=none"), run)
    predictor = Predictor(run.model, backend="torch", precision="fp32")
    texts = sorted(PADDED * 5, key=len)
    batch = dict(predictor.tokenizer(texts, padding=True, truncation=True, return_tensors="np"))
    onnx = OnnxBackend(run.onnx_model)
    session, widths = onnx.session, []

    class Recorded:
        def run(self, outputs: None, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
            widths.append(feed["input_ids"].shape)
            return session.run(outputs, feed)

    onnx.session = Recorded()
    together = onnx.logits(batch)
    alone = np.vstack([predictor.predict_logits([text]) for text in texts])
    assert together == pytest.approx(alone, abs=1e-4)
    assert [rows for rows, _ in widths] == [ONNX_ROWS_PER_RUN, ONNX_ROWS_PER_RUN, 4]
    assert widths[0][1] < widths[-1][1] == batch["input_ids"].shape[1]


def test_an_export_that_disagrees_with_pytorch_is_refused_and_nothing_is_left(
    exported: RunDir, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Catches an export that gives other answers being kept: the graph is made to give its
    logits in another label order (what a head saved with another id2label would do), and the
    parity check must refuse it, leave no temporary files, and keep the earlier export."""

    def reordered(self, input_ids, attention_mask, token_type_ids=None):
        inputs = {"attention_mask": attention_mask, "token_type_ids": token_type_ids}
        return self.model(input_ids=input_ids, **inputs).logits.roll(1, dims=-1)

    run = copied(exported, tmp_path)
    before = run.onnx_model.read_bytes()
    monkeypatch.setattr(convert.LogitsOnly, "forward", reordered)
    with pytest.raises(UserError, match=r"export refused: .* below export\.min_agreement 0\.99"):
        run_export(config(), run)
    assert run.onnx_model.read_bytes() == before  # the earlier export stays
    assert not [path for path in run.root.iterdir() if path.name.startswith(".export")]

    fresh = make_run(tmp_path / "fresh", exported.model)
    with pytest.raises(UserError, match="nothing was written"):
        run_export(config(), fresh)
    assert not fresh.export.exists()


@pytest.mark.parametrize(
    ("onnx_f1", "agreement", "said"),
    [
        (0.795, 1.0, None),
        (0.9, 1.0, None),  # a gain
        (0.78, 1.0, "test macro-F1 is 0.7800 against PyTorch fp32's 0.8000"),
        (0.80, 0.985, "98.50% of the test texts"),
    ],
)
def test_refusal_weighs_agreement_and_the_fall_in_macro_f1(
    tmp_path: Path, onnx_f1: float, agreement: float, said: str | None
) -> None:
    """Catches a threshold not applied, or applied the wrong way round: an export may agree on
    99% of texts and still lose F1 on a small class; a gain in F1 is never a refusal."""
    figures = {
        "agreement": agreement,
        "disagreements": round((1 - agreement) * 200),
        "macro_f1_torch": 0.80,
        "macro_f1_onnx": onnx_f1,
    }
    found = stage.refusal(RunDir(tmp_path), config().export, figures, name="onnx-int8")
    if said is None:
        assert found is None
    else:
        assert found is not None and said in found and "--quantize none" in found


def test_auto_takes_the_export_once_there_is_one(exported: RunDir, tmp_path: Path) -> None:
    """Catches `auto` ignoring the export, taking one made from other weights, or PyTorch being
    left out when asked for; and the run's model folder finding its run's export."""
    run = copied(exported, tmp_path)
    for path in (run.root, run.model):
        predictor = Predictor(path)
        assert predictor.backend.name == "onnx-int8" and "parity" in predictor.backend_reason
    assert Predictor(run.root, backend="torch").backend.name.startswith("torch-")
    assert Predictor(run.root, precision="fp32").backend.name == "torch-fp32"
    texts = [*PADDED, "late rude", "great kind crew"]
    onnx, torch_fp32 = Predictor(run.root), Predictor(run.root, backend="torch", precision="fp32")
    assert onnx.predict(texts) == torch_fp32.predict(texts)
    assert np.abs(onnx.predict_proba(texts) - torch_fp32.predict_proba(texts)).max() < 0.05

    model = BertForSequenceClassification.from_pretrained(run.model)
    with torch.no_grad():
        model.classifier.bias.add_(0.01)  # trained again: other weights
    model.save_pretrained(run.model)
    stale = Predictor(run.root)
    assert isinstance(stale.backend, TorchBackend) and "other weights" in stale.backend_reason
    with pytest.raises(UserError, match="exported from other weights"):
        Predictor(run.root, backend="onnx")


def test_without_an_export_auto_is_pytorch_and_onnx_is_refused(
    tmp_path: Path, classifier: Path
) -> None:
    """Catches `backend="onnx"` silently running PyTorch, or failing with a traceback."""
    run = make_run(tmp_path / "run", classifier)
    predictor = Predictor(run.root)
    assert isinstance(predictor.backend, TorchBackend)
    assert "no ONNX export" in predictor.backend_reason
    with pytest.raises(UserError, match=r"backend onnx: .* has no ONNX export .*domaintune export"):
        Predictor(run.root, backend="onnx")
    with pytest.raises(UserError, match="not the model folder of a run"):
        Predictor(classifier, backend="onnx")
    with pytest.raises(UserError, match="precision bf16 is PyTorch's"):
        Predictor(run.root, backend="onnx", precision="bf16")


def test_a_missing_onnxruntime_is_one_line_naming_the_extra(
    exported: RunDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Catches an ImportError traceback where the user needs the install command; `auto` goes on
    with PyTorch and says why."""
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails as if not installed
    with pytest.raises(UserError, match=r"pip install 'domaintune\[onnx\]'"):
        import_onnxruntime()
    with pytest.raises(UserError, match=r"ONNX Runtime is not installed"):
        Predictor(exported.root, backend="onnx")
    fallback = Predictor(exported.root)
    assert isinstance(fallback.backend, TorchBackend)
    assert "ONNX Runtime is not installed" in fallback.backend_reason


def one_error_line(result) -> str:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_export_of_a_run_without_a_model_exits_2_with_one_line(tmp_path: Path) -> None:
    """Catches a traceback, or an export/ folder made, for a run that was never trained, a
    folder that is no run, and a bad option value."""
    run = RunDir(tmp_path / "run")
    run.claim("test")
    line = one_error_line(domaintune("export", str(run.root), cwd=tmp_path))
    assert "has no trained model" in line and f"domaintune train --out {run.root}" in line
    assert not run.export.exists()
    plain = tmp_path / "plain"
    plain.mkdir()
    assert "not a run directory" in one_error_line(domaintune("export", str(plain), cwd=tmp_path))
    line = one_error_line(domaintune("export", str(run.root), "--quantize", "int4", cwd=tmp_path))
    assert "--quantize int4: choose int8 or none" in line


def test_export_and_predict_through_the_cli(exported: RunDir, tmp_path: Path) -> None:
    """Catches the command not writing what it says, or predict not saying which backend ran:
    export prints the parity figures, and `predict --backend` names its backend on stderr."""
    run = copied(exported, tmp_path)
    shutil.rmtree(run.export)
    result = domaintune("export", str(run.root), "--quantize", "none", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "onnx-fp32" in result.stdout and "parity on 90 test texts" in result.stdout
    assert ExportParity.read(run.parity).quantize == "none"

    auto = domaintune("predict", str(run.root), "--text", "late rude", cwd=tmp_path)
    assert auto.returncode == 0, auto.stderr
    assert "\nbackend onnx-fp32: " in f"\n{auto.stderr}"
    forced = domaintune(
        "predict", str(run.root), "--text", "late rude", "--backend", "torch", cwd=tmp_path
    )
    assert forced.returncode == 0 and "\nbackend torch-" in f"\n{forced.stderr}"
    labels = [pd.read_json(io.StringIO(r.stdout), lines=True)["label"][0] for r in (auto, forced)]
    assert labels[0] == labels[1]


def test_a_trained_run_exports_and_predicts_through_onnx(
    finished_run: RunDir, tmp_path: Path
) -> None:
    """The whole path on a model trained by the CLI: export passes its parity check, the report
    gains its section, `predict` on the run picks the export, and evaluating again keeps the
    export and the same figures (evaluate scores with PyTorch fp32 whatever is exported)."""
    run = copy_run(finished_run, tmp_path)
    metrics = run.metrics.read_text()
    result = domaintune("export", str(run.root), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    parity = ExportParity.read(run.parity)
    assert parity.passed and parity.agreement >= 0.99 and parity.test_rows > 0
    assert "**Exported model.**" in run.report_md.read_text()

    texts = pd.read_parquet(run.split("test"))["text"].head(8).tolist()
    predicted = domaintune("predict", str(run.model), cwd=tmp_path, stdin="\n".join(texts))
    assert predicted.returncode == 0 and "\nbackend onnx-int8: " in f"\n{predicted.stderr}"
    assert len(pd.read_json(io.StringIO(predicted.stdout), lines=True)) == len(texts)

    again = domaintune("evaluate", "--out", str(run.root), cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]
    assert run.onnx_model.is_file() and figures(run.metrics.read_text()) == figures(metrics)


def figures(metrics: str) -> dict:
    """metrics.json without the one measurement of time, which no two evaluations share."""
    return {key: value for key, value in json.loads(metrics).items() if key != "texts_per_second"}


@pytest.mark.parametrize(
    ("cores", "workers", "threads", "cuda"),
    [(2, None, 1, False), (16, 2, 8, False), (2, None, 1, True)],
)
def test_serve_runs_the_export_in_a_process_a_worker_sharing_out_the_cores(
    exported: RunDir,
    monkeypatch: pytest.MonkeyPatch,
    cores: int,
    workers: int | None,
    threads: int,
    cuda: bool,
) -> None:
    """Catches the server's ONNX workers sharing one session or one interpreter, each taking
    every core (teams of threads fighting over the same cores), or serving PyTorch in place of
    the export: each worker its own process and session, on its share of the cores; one worker
    takes every core in the server's process. The core counts, and a GPU beside the CPU (where
    auto still takes the export, on the CPU), are forced, so every branch runs on any machine
    (`share_cores` is tested for more counts)."""
    pytest.importorskip("fastapi", reason="the serve extra")
    from domaintune.serve.workers import InProcesses, load_workers

    monkeypatch.setattr("domaintune.serve.workers.physical_cores", lambda: cores)
    monkeypatch.setattr("domaintune.serve.workers.torch.cuda.is_available", lambda: cuda)
    served = load_workers(exported.root, backend="auto", workers=workers)
    try:
        loaded = [process.loaded for process in served.processes]
        assert [(each.backend, each.threads) for each in loaded] == [("onnx-int8", threads)] * 2
        assert len({each.pid for each in loaded}) == 2
        assert isinstance(served.predictor.backend, InProcesses)  # no session in this process
        assert served.predictor.backend.name == "onnx-int8"
    finally:
        served.close()
    alone = load_workers(exported.root, backend="onnx", workers=1)
    assert alone.processes == []
    assert alone.predictor.backend.session.get_session_options().intra_op_num_threads == cores
