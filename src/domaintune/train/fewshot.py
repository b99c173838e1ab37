"""train.method fewshot: SetFit's contrastive fine-tuning, saved as a plain sequence classifier.

With a few labelled rows a class, a classifier fine-tuned end to end has a handful of gradient
steps to learn from, and its new head starts from nothing. SetFit (Tunstall et al., 2022) gets far
more out of the same rows: the sentence encoder is fine-tuned on pairs of them (same class: the
embeddings' cosine pulled to 1, different classes: to 0), `fewshot_pairs_per_row` pairs a row, so
24 rows make about a thousand pairs; then a logistic regression on the mean-pooled embeddings is
the head. The `setfit` library draws the pairs and trains the encoder (its trainer is the
Transformers Trainer underneath, through sentence-transformers); the head is fitted here, on the
saved model's own features.

Saved as a plain classifier, so `predict`, `serve`, the export to ONNX, calibration and
`transformers.pipeline` read it like any other run's model. SetFit's embedding is the mean of the
encoder's last token states; a BERT classifier reads its first token. The mean is therefore
written as one more encoder layer on top (`mean_pooling_layer`): its attention is uniform (query
and key weights zero, so every unpadded token weighs the same) and passes the tokens' mean on
(values the identity, the attention output scaled far above the residual, which the LayerNorm then
leaves out); its feed-forward adds nothing. The classifier's pooling layer then sees the mean,
scaled to about unit length as SetFit's normalised embeddings are, and its output layer holds the
logistic regression. This needs the BERT layer layout: BERT (MiniLM), RoBERTa and XLM-RoBERTa
encoders. MPNet adds a relative position bias to every layer's attention, which no weights of an
extra layer can make uniform, so it is refused.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.linear_model import LogisticRegression
from transformers import (
    AutoModelForSequenceClassification,
    DataCollatorWithPadding,
    PreTrainedTokenizerBase,
    set_seed,
)

from domaintune import assets
from domaintune.config import Config
from domaintune.data.clean import load_normalization
from domaintune.data.fields import load_fields
from domaintune.errors import UserError
from domaintune.metrics import scores
from domaintune.models import load_model_config, load_tokenizer, output_layer, transformer_layers
from domaintune.rundir import RunDir, write_text
from domaintune.runfiles import DataCard, ModelChoice, TrainLog
from domaintune.train.hardware import Machine, apply_threads, resolve_precision
from domaintune.train.logged import settings_used
from domaintune.train.saved import write_model_folder
from domaintune.train.tokencache import TokenizedSplits, load_or_tokenize, model_inputs

SUPPORTED = ("bert", "roberta", "xlm-roberta")
"""Encoders with BERT's layer layout, which `mean_pooling_layer` writes into."""
FEWSHOT_MODEL = "builtin:minilm-l6"
"""What `model.name_or_path: auto` trains with few-shot: the built-in sentence encoder whose
layout the method supports (the accurate rung, MPNet, is not one)."""
RESIDUAL_SCALE = 1e4
"""How far the mean outweighs a token's own state before the LayerNorm: its share of the result
is then below 1e-3 of the mean's."""
PAIR_BATCH = 16
"""Pairs per step: SetFit's default."""
FEATURE_BATCH = 64


def check_fewshot(config: Config, model_type: str) -> None:
    """Refuse what few-shot training cannot do, before any work."""
    refusals = {
        config.task.objective != "classification": (
            f"task.objective {config.task.objective}: it trains single-label classifiers"
        ),
        config.data.text_pair: "data.text_pair: it embeds one text a row",
        config.model.long_text != "truncate": "model.long_text: it reads texts as truncate does",
        config.train.distill_from is not None: "train.distill_from: it learns from labels alone",
        model_type not in SUPPORTED: (
            f"a {model_type} model: it needs an encoder with BERT's layers ({', '.join(SUPPORTED)}"
            f"), such as {FEWSHOT_MODEL}"
        ),
    }
    for refused, why in refusals.items():
        if refused:
            raise UserError(f"train.method fewshot cannot train with {why}; set train.method=full")


def sentence_encoder(source: str, *, max_length: int, attention: str | None):
    """The model as sentence-transformers' encoder with mean pooling: safetensors only, no remote
    code, as every loader in `domaintune.models`."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.models import Pooling, Transformer

    model_args = {"trust_remote_code": False, "use_safetensors": True}
    if attention is not None:
        model_args["attn_implementation"] = attention
    body = Transformer(
        source,
        max_seq_length=max_length,
        model_args=model_args,
        tokenizer_args={"trust_remote_code": False},
        config_args={"trust_remote_code": False},
    )
    pooling = Pooling(body.get_word_embedding_dimension(), pooling_mode="mean")
    return SentenceTransformer(modules=[body, pooling], device="cpu")


def train_contrastive(
    source: str,
    texts: list[str],
    label_ids: list[int],
    config: Config,
    *,
    max_length: int,
    output_dir: Path,
) -> tuple[torch.nn.Module, dict]:
    """SetFit's embedding phase on `texts`: the fine-tuned transformer (no pooling, no head)
    and what the run did (steps, pairs, seconds, precision, the Trainer's history)."""
    from setfit import SetFitModel, Trainer
    from setfit import TrainingArguments as SetFitArguments

    options = config.train
    bf16 = resolve_precision(options.precision, Machine.current()) == "bf16"
    on_cpu = not torch.cuda.is_available()
    encoder = sentence_encoder(
        source, max_length=max_length, attention="eager" if bf16 and on_cpu else None
    )
    args = SetFitArguments(
        output_dir=str(output_dir),  # nothing is saved there; the Trainer still needs a place
        batch_size=PAIR_BATCH,
        num_epochs=1,
        num_iterations=options.fewshot_pairs_per_row,
        max_steps=math.ceil(options.fewshot_max_pairs / PAIR_BATCH),
        body_learning_rate=options.fewshot_learning_rate,
        seed=options.seed,
        report_to="none",
        save_strategy="no",
        logging_steps=options.logging_steps,
        show_progress_bar=True,
    )
    trainer = Trainer(
        model=SetFitModel(model_body=encoder, model_head=LogisticRegression()), args=args
    )
    device = "cuda" if torch.cuda.is_available() else "cpu"
    started = time.perf_counter()
    with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=bf16):
        trainer.train_embeddings(texts, label_ids)
    seconds = time.perf_counter() - started
    state = trainer.st_trainer.state
    ran = {
        "seconds": seconds,
        "steps": int(state.global_step),
        "pairs": len(trainer.st_trainer.train_dataset),
        "precision": "bf16" if bf16 else "fp32",
        "attention": encoder[0].auto_model.config._attn_implementation,
        "history": [  # SetFit names its loss embedding_loss; the report reads loss
            {key.removeprefix("embedding_"): value for key, value in entry.items()}
            for entry in state.log_history
        ],
    }
    return encoder[0].auto_model.float(), ran


@torch.no_grad()
def mean_pooling_layer(model: torch.nn.Module) -> None:
    """Make the classifier's top encoder layer hand each token the mean of the layer below's
    tokens, and its pooling layer scale that mean to about unit length (see the module's
    docstring). Zeroed weights give uniform attention and no feed-forward; identities pass the
    mean on."""
    layer = transformer_layers(model)[-1]
    size = model.config.hidden_size
    identity = torch.eye(size)
    attention = layer.attention
    for projection in (attention.self.query, attention.self.key):
        projection.weight.zero_()
        projection.bias.zero_()
    attention.self.value.weight.copy_(identity)
    attention.self.value.bias.zero_()
    attention.output.dense.weight.copy_(identity * RESIDUAL_SCALE)
    attention.output.dense.bias.zero_()
    for dense in (layer.intermediate.dense, layer.output.dense):
        dense.weight.zero_()
        dense.bias.zero_()
    for norm in (attention.output.LayerNorm, layer.output.LayerNorm):
        norm.weight.fill_(1.0)
        norm.bias.zero_()
    pooling = pooling_dense(model)
    pooling.weight.copy_(identity / math.sqrt(size))  # a LayerNorm's output has length sqrt(size)
    pooling.bias.zero_()


def pooling_dense(model: torch.nn.Module) -> torch.nn.Linear:
    """The square layer (and tanh) between the first token and the output layer: BERT's pooler,
    or the dense layer of RoBERTa's classification head."""
    pooler = getattr(model.base_model, "pooler", None)
    return pooler.dense if pooler is not None else model.classifier.dense


def assembled_classifier(
    source: str, encoder: torch.nn.Module, labels: list[str]
) -> torch.nn.Module:
    """A plain sequence classifier: the fine-tuned encoder's layers, one mean-pooling layer on
    top, and an output layer still to be fitted."""
    config = load_model_config(source)
    config.num_hidden_layers += 1
    config.num_labels = len(labels)
    config.id2label = dict(enumerate(labels))
    config.label2id = {label: i for i, label in enumerate(labels)}
    for key, value in config.to_dict().items():
        if "dropout" in key and isinstance(value, float):
            setattr(config, key, 0.0)
    config._attn_implementation = "sdpa"
    model = AutoModelForSequenceClassification.from_config(config)
    missing, unexpected = model.base_model.load_state_dict(encoder.state_dict(), strict=False)
    new_layer = f"layer.{config.num_hidden_layers - 1}."
    if unexpected or any(new_layer not in key and "pooler" not in key for key in missing):
        raise RuntimeError(f"encoder weights do not fit: {missing[:3]} {unexpected[:3]}")
    mean_pooling_layer(model)
    return model.eval()


@torch.no_grad()
def head_inputs(
    model: torch.nn.Module, rows: list[dict], tokenizer: PreTrainedTokenizerBase
) -> np.ndarray:
    """What the output layer reads for each tokenised row: the features the head is fitted on,
    taken from the assembled model itself, so that the saved model computes exactly them."""
    captured: list[torch.Tensor] = []
    hook = output_layer(model).register_forward_hook(
        lambda _module, inputs, _output: captured.append(inputs[0].float())
    )
    collate = DataCollatorWithPadding(tokenizer)
    try:
        for start in range(0, len(rows), FEATURE_BATCH):
            batch = collate(rows[start : start + FEATURE_BATCH])
            batch.pop("labels", None)
            model(**batch)
    finally:
        hook.remove()
    return torch.cat(captured).numpy()


def token_rows(split) -> list[dict]:
    return [
        {"input_ids": row["input_ids"], "attention_mask": row["attention_mask"]}
        | ({"token_type_ids": row["token_type_ids"]} if "token_type_ids" in row else {})
        for row in split
    ]


@torch.no_grad()
def fit_head(
    model: torch.nn.Module,
    features: np.ndarray,
    label_ids: np.ndarray,
    *,
    c: float,
    balanced: bool,
    seed: int,
) -> None:
    """SetFit's head, a logistic regression (`train.fewshot_head_c`), fitted on `features` and
    written into the model's output layer. Two classes: the one weight vector split between the
    two logits, so their softmax is the regression's sigmoid."""
    regression = LogisticRegression(
        C=c, max_iter=1000, class_weight="balanced" if balanced else None, random_state=seed
    ).fit(features, label_ids)
    weight, bias = regression.coef_, regression.intercept_
    if weight.shape[0] == 1:
        weight, bias = np.vstack([-weight / 2, weight / 2]), np.concatenate([-bias / 2, bias / 2])
    layer = output_layer(model)
    layer.weight.copy_(torch.from_numpy(weight).float())
    layer.bias.copy_(torch.from_numpy(bias).float())


def validation_scores(
    model: torch.nn.Module, data: TokenizedSplits, tokenizer: PreTrainedTokenizerBase
) -> dict[str, float]:
    features = head_inputs(model, token_rows(data.validation), tokenizer)
    layer = output_layer(model)
    with torch.no_grad():
        logits = layer(torch.from_numpy(features)).numpy()
    return scores(np.array(data.validation["labels"]), logits.argmax(axis=1))


def run_train_fewshot(
    config: Config,
    run: RunDir,
    choice: ModelChoice | None = None,
    method_reason: str | None = None,
) -> TrainLog:
    """Few-shot training on the run's prepared data; saves model/ and train_log.json as the
    other methods do."""
    run.require(
        run.split("train"), run.split("validation"), run.card, run.normalization, stage="prepare"
    )
    load_normalization(run.data)
    fields = load_fields(run.data)
    options = config.train
    set_seed(options.seed)
    threads = apply_threads(options.threads)
    source = assets.model_path(config.model.name_or_path)
    model_config = load_model_config(source)
    check_fewshot(config, model_config.model_type)
    labels = DataCard.read(run.card).labels
    label2id = {label: i for i, label in enumerate(labels)}
    tokenizer = load_tokenizer(source)
    limit = getattr(model_config, "max_position_embeddings", 512)
    data = load_or_tokenize(
        run,
        tokenizer,
        label2id,
        config.model,
        model_limit=min(limit, tokenizer.model_max_length),
        use_cache=options.cache_tokenized,
        write=True,
    )
    train = pd.read_parquet(run.split("train"))
    texts = model_inputs(train, fields, tokenizer)[0]
    label_ids = [label2id[label] for label in train["label"]]
    encoder, ran = train_contrastive(
        source, texts, label_ids, config, max_length=data.max_length, output_dir=run.checkpoints
    )
    started = time.perf_counter()
    model = assembled_classifier(source, encoder, labels)
    features = head_inputs(model, token_rows(data.train), tokenizer)
    fit_head(
        model,
        features,
        np.array(data.train["labels"]),
        c=options.fewshot_head_c,
        balanced=config.prepare.balance == "class_weights",
        seed=options.seed,
    )
    seconds = ran["seconds"] + time.perf_counter() - started
    validation = validation_scores(model, data, tokenizer) if len(data.validation) else {}
    write_model_folder(
        run.model, model, tokenizer, long_text=data.long_text, normalization=run.normalization
    )
    parameters = sum(p.numel() for p in model.parameters())
    log = TrainLog(
        **settings_used(config, (parameters, parameters))
        | {"batch_size": PAIR_BATCH, "learning_rate": options.fewshot_learning_rate},
        labels=labels,
        max_length=data.max_length,
        max_length_set_by=data.max_length_set_by,
        truncated_rows=data.truncated_rows,
        train_rows=data.train_texts,
        validation_rows=data.validation_texts,
        tokenized_from_cache=data.from_cache,
        class_weights=None,
        epochs_run=1.0,
        steps=ran["steps"],
        best_epoch=1.0,
        best_validation_macro_f1=validation.get("macro_f1"),
        stopped_early=False,
        resumed_from=None,
        train_seconds=round(seconds, 1),
        step_seconds=round(ran["seconds"], 1),
        rows_per_second=round(2 * ran["pairs"] / ran["seconds"], 2) if ran["seconds"] else None,
        tokens_per_second=None,
        padded_tokens_per_second=None,
        padded_tokens_per_token=None,
        throughput_by_epoch=[],
        precision=ran["precision"],
        attention=ran["attention"],
        device="cuda" if torch.cuda.is_available() else "cpu",
        processes=1,
        torch_threads=threads,
        history=ran["history"],
        model_choice=choice,
        method_reason=method_reason,
        fewshot_pairs=ran["pairs"],
    )
    if run.checkpoints.exists():
        run.clear(run.checkpoints)
    log.write(run.train_log)
    write_text(run.config, config.to_yaml())
    return log


def rows_per_class(run: RunDir) -> float:
    """Training rows a class, on average."""
    counts = pd.read_parquet(run.split("train"), columns=["label"])["label"].value_counts()
    return float(counts.mean())


def resolve_method(config: Config, run: RunDir) -> tuple[Config, ModelChoice | None, str | None]:
    """`config` with `train.method: auto` made `fewshot` or `full`; where few-shot picks the
    model for `model.name_or_path: auto`, that choice; and why auto chose the method (None when
    it was set). auto never picks few-shot where it would refuse the settings or the model."""
    options, reason = config.train, None
    if options.method == "auto":
        rows = rows_per_class(run) if config.task.objective == "classification" else None
        model = config.model.name_or_path
        possible = (
            rows is not None
            and not config.data.text_pair
            and config.model.long_text == "truncate"
            and options.distill_from is None
            and (
                model == "auto"
                or load_model_config(assets.model_path(model)).model_type in SUPPORTED
            )
        )
        method = "fewshot" if possible and rows < options.fewshot_below else "full"
        if rows is None:
            reason = f"auto: full for task.objective {config.task.objective}"
        elif not possible:
            reason = "auto: full, as few-shot cannot train with these settings or this model"
        else:
            side = "below" if method == "fewshot" else "at least"
            reason = (
                f"auto: {rows:,.1f} training rows a class on average, {side} "
                f"train.fewshot_below ({options.fewshot_below})"
            )
        config = config.model_copy(update={"train": options.model_copy(update={"method": method})})
    if config.train.method != "fewshot" or config.model.name_or_path != "auto":
        return config, None, reason
    choice = ModelChoice(
        model=FEWSHOT_MODEL,
        reason=f"few-shot training trains the built-in sentence encoder ({FEWSHOT_MODEL})",
        time_budget=options.time_budget,
    )
    model = config.model.model_copy(update={"name_or_path": FEWSHOT_MODEL})
    return config.model_copy(update={"model": model}), choice, reason
