"""`domaintune predict` for generation and language_model models: each input's text written by
the model, prompted as in training (`generation.json` beside the weights), after the same text
normalisation (`normalization.json`). Greedy decoding, so the same input gives the same text."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from domaintune.data.clean import load_normalization, normalize_text
from domaintune.generation import PROMPT_FILE, Prompting, generate
from domaintune.models import load_causal_lm, load_tokenizer


def is_generative(folder: Path) -> bool:
    """Whether the model folder holds a generation or language_model model."""
    return (folder / PROMPT_FILE).is_file()


class Writer:
    """A saved generation model, ready to write for inputs."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.prompting = Prompting.load(folder)
        self.normalization = load_normalization(folder)
        self.tokenizer = load_tokenizer(str(folder))
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = load_causal_lm(str(folder))

    def write(self, texts: list[str], *, batch_size: int) -> list[str]:
        if self.normalization is not None:
            texts = [normalize_text(text, self.normalization) for text in texts]
        return generate(self.model, self.tokenizer, self.prompting, texts, batch_size=batch_size)

    def table(self, frame: pd.DataFrame, *, text_column: str, batch_size: int) -> pd.DataFrame:
        texts = frame[text_column].fillna("").astype(str).tolist()
        return frame.assign(generated=self.write(texts, batch_size=batch_size))
