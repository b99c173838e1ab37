"""Sentence embeddings from a pre-trained encoder: mean-pooled, L2-normalised, no training.

Used where a cheap but semantic view of the texts is wanted: the label audit's cross-validated
model. Texts are sorted by length so that each batch pads little, and the result is returned in
the original order.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import AutoModel, AutoTokenizer

from domaintune.hub import local_only


def embed(
    texts: Sequence[str],
    name_or_path: str,
    batch_size: int = 64,
    max_length: int = 128,
    progress: str | None = None,
) -> np.ndarray:
    """One unit-length vector per text (float32), in the order given."""
    tokenizer = AutoTokenizer.from_pretrained(
        name_or_path, trust_remote_code=False, local_files_only=local_only(name_or_path)
    )
    encoder = AutoModel.from_pretrained(
        name_or_path,
        use_safetensors=True,
        trust_remote_code=False,
        local_files_only=local_only(name_or_path),
    ).eval()
    order = np.argsort([len(text) for text in texts], kind="stable")
    vectors = np.zeros((len(texts), encoder.config.hidden_size), dtype=np.float32)
    batches = range(0, len(texts), batch_size)
    with torch.inference_mode():
        for start in tqdm(batches, desc=progress, disable=progress is None, unit="batch"):
            rows = order[start : start + batch_size]
            batch = tokenizer(
                [texts[i] for i in rows],
                padding=True,
                truncation=True,
                max_length=max_length,
                return_tensors="pt",
            )
            hidden = encoder(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
            vectors[rows] = torch.nn.functional.normalize(pooled, dim=-1).numpy()
    return vectors
