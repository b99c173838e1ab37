"""The one place that loads models and tokenizers, with the safety flags written once.

Weights come only from safetensors (never pickles, which can run code when loaded) and no model's
own code is ever run (`trust_remote_code=False`). Built-in names are resolved to their hash-checked
folders, and an unreachable Hub makes loaders use local files at once instead of retrying.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import torch
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForCausalLM,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    PretrainedConfig,
    PreTrainedTokenizerBase,
)

from domaintune import assets
from domaintune.errors import UserError, first_line
from domaintune.hub import local_only


def _safe(name_or_path: str) -> dict[str, Any]:
    """The flags every loader gets."""
    return {"trust_remote_code": False, "local_files_only": local_only(name_or_path)}


def _failed(name_or_path: str, error: Exception) -> UserError:
    return UserError(
        f"model '{name_or_path}' could not be loaded ({first_line(error)}): give a local folder "
        "with config.json, model.safetensors and tokenizer files, a Hub id when the Hub is "
        "reachable, or a built-in "
        f"({', '.join(assets.BUILTIN_PREFIX + name for name in assets.MODELS)})"
    )


def _load(auto: Any, name_or_path: str, *, asked_for: str | None = None, **options: Any) -> Any:
    """`auto.from_pretrained` (an `Auto*` class) with the safety flags; a failure is one line
    naming `asked_for` (what the user wrote, when `name_or_path` is the folder it resolved to)."""
    try:
        return auto.from_pretrained(name_or_path, **_safe(name_or_path), **options)
    except (OSError, ValueError) as error:
        raise _failed(asked_for or name_or_path, error) from None


def load_model_config(name_or_path: str) -> PretrainedConfig:
    return _load(AutoConfig, name_or_path)


def check_model(name: str) -> str:
    """Resolve a model name and read its config, so a bad name fails before any work is done."""
    source = assets.model_path(name)
    _load(AutoConfig, source, asked_for=name)
    return source


def load_tokenizer(name_or_path: str) -> PreTrainedTokenizerBase:
    return _load(AutoTokenizer, name_or_path)


def field_separator(tokenizer: PreTrainedTokenizerBase) -> str:
    """What a model reads between two joined text fields: its separator token (`[SEP]`, `</s>`),
    which it was pre-trained to see between segments; a newline for a tokenizer without one."""
    return f" {tokenizer.sep_token} " if tokenizer.sep_token else "\n"


def dropout_settings(name_or_path: str, *, rate: float) -> dict[str, float]:
    """Each dropout rate in the model's config set to `rate`: the names differ between
    architectures (BERT's hidden_dropout_prob, DistilBERT's seq_classif_dropout, ...)."""
    config = load_model_config(name_or_path)
    return {
        key: rate
        for key, value in config.to_dict().items()
        if "dropout" in key and isinstance(value, float)
    }


def load_classifier(
    name_or_path: str,
    *,
    labels: list[str] | None = None,
    dropout: float | None = None,
    attention: str | None = None,
    problem_type: str | None = None,
) -> torch.nn.Module:
    """A sequence classifier. With `labels`, a pre-trained encoder gets a new head for them;
    without, the folder's own head and label names are kept (a fine-tuned model).

    `dropout` replaces every dropout rate the model's config names; None keeps them. `attention`
    picks the attention implementation (`eager`: plain operators, which an ONNX export needs for
    ONNX Runtime to fuse them); None lets Transformers choose. `problem_type`
    (`multi_label_classification`: a sigmoid per label and binary cross-entropy) goes into a new
    head's config, where the saved model keeps it.
    """
    head: dict[str, Any] = {}
    if attention is not None:
        head["attn_implementation"] = attention
    if labels is not None:
        head |= {
            "num_labels": len(labels),
            "id2label": dict(enumerate(labels)),
            "label2id": {label: i for i, label in enumerate(labels)},
            "ignore_mismatched_sizes": True,
        }
        if problem_type is not None:
            head["problem_type"] = problem_type
    if dropout is not None:
        head.update(dropout_settings(name_or_path, rate=dropout))
    return _load(AutoModelForSequenceClassification, name_or_path, use_safetensors=True, **head)


def load_causal_lm(
    name_or_path: str, *, attention: str | None = None, dropout: float | None = None
) -> torch.nn.Module:
    """A causal language model (generation, language_model), from safetensors only, in fp32:
    bf16 comes from autocast in training, as for the classifiers."""
    options: dict[str, Any] = {"dtype": torch.float32}
    if attention is not None:
        options["attn_implementation"] = attention
    if dropout is not None:
        options.update(dropout_settings(name_or_path, rate=dropout))
    return _load(AutoModelForCausalLM, name_or_path, use_safetensors=True, **options)


def is_causal_lm(name_or_path: str) -> bool:
    """Whether the model's architecture writes text (a `...ForCausalLM`), read from its config."""
    architectures = load_model_config(name_or_path).architectures or []
    return any(name.endswith("ForCausalLM") for name in architectures)


def freeze_word_embeddings(model: torch.nn.Module) -> None:
    model.get_input_embeddings().weight.requires_grad_(False)


def cast_linear_layers(model: torch.nn.Module, dtype: torch.dtype) -> None:
    """Store every linear layer's weights in `dtype`, for inference under autocast to it.

    Autocast casts each fp32 weight to bf16 anew on every call: a model's linear weights read and
    written once per forward pass, whatever the batch. Stored in bf16, that cast is a no-op, and
    the logits are the same to the bit, since autocast computes those layers in bf16 either way
    (layer norms, softmax and embeddings keep their fp32 weights). MiniLM-L6 of the default task
    on a Xeon with AMX, texts/s against autocast alone, logits equal: one thread, batch 1 1.84x,
    batch 8 1.23x, batch 32 1.08x; two threads 1.72x, 1.20x, 1.11x. Never for training: the
    optimizer needs fp32 weights."""
    for module in model.modules():
        if isinstance(module, torch.nn.Linear):
            module.to(dtype)


def output_layer(model: torch.nn.Module) -> torch.nn.Linear:
    """A sequence classifier's last linear layer, the one giving a logit per label, whatever the
    architecture calls it (`classifier`, `classifier.out_proj`, `score`)."""
    outputs = model.config.num_labels
    layers = [
        m for m in model.modules() if isinstance(m, torch.nn.Linear) and m.out_features == outputs
    ]
    if not layers:
        raise ValueError(f"{type(model).__name__} has no linear layer with {outputs} outputs")
    return layers[-1]


def transformer_layers(model: torch.nn.Module) -> torch.nn.ModuleList:
    """The model's stack of transformer layers, lowest first, whatever the architecture calls it
    (`encoder.layer`, `transformer.layer`, `layers`): its list of `num_hidden_layers` modules."""
    count = getattr(model.config, "num_hidden_layers", None)
    for module in model.modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) == count:
            return module
    raise ValueError(f"{type(model).__name__} has no list of {count} transformer layers")


def load_encoder(name_or_path: str) -> torch.nn.Module:
    """The pre-trained encoder alone (no head), for embeddings."""
    return _load(AutoModel, name_or_path, use_safetensors=True)


def weights_digest(folder: Path) -> str:
    """SHA-256 over a model folder's safetensors files, in name order: what identifies the weights
    an export was made from."""
    digest = hashlib.sha256()
    for path in sorted(folder.glob("*.safetensors")):
        with path.open("rb") as file:
            while chunk := file.read(1 << 22):
                digest.update(chunk)
    return digest.hexdigest()
