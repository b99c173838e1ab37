"""The model folder a train stage leaves: what prediction needs beside the weights.

Full fine-tuning and few-shot training both end here, so a model folder holds the same files
whichever trained it: safetensors weights and config, the tokenizer (its limit set to the one
training used, so prediction truncates alike), prepare's `normalization.json` (the text
normalisation prediction repeats), prepare's `fields.json` when the data has several text fields,
and the long-text settings. Written to a temporary name and renamed whole.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from domaintune.data.fields import FIELDS_FILE
from domaintune.longtext import LongText
from domaintune.rundir import atomic_path


def write_model_folder(
    folder: Path,
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    *,
    long_text: LongText,
    normalization: Path,
    state_dict: dict[str, Any] | None = None,
) -> None:
    """Write `folder` whole. `normalization`: prepare's `normalization.json`, with `fields.json`
    (when there is one) beside it; `state_dict`: the weights where the model's own are sharded."""
    tokenizer.model_max_length = long_text.max_length
    with atomic_path(folder) as temporary:
        model.save_pretrained(temporary, state_dict=state_dict)
        tokenizer.save_pretrained(temporary)
        shutil.copyfile(normalization, temporary / normalization.name)
        fields = normalization.parent / FIELDS_FILE
        if fields.is_file():
            shutil.copyfile(fields, temporary / FIELDS_FILE)
        long_text.save(temporary)
