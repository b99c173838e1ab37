"""Load a saved model and predict: labels and a probability per label, in the input's order.

When the model folder holds `calibration.json` (written by the evaluate stage), the logits are
divided by its temperature before the softmax, so the probabilities are calibrated.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    BatchEncoding,
    PreTrainedTokenizerBase,
)

from domaintune import calibration
from domaintune.data.clean import to_text
from domaintune.data.sources import read_table
from domaintune.errors import UserError
from domaintune.rundir import write_text


def length_batches(
    tokenizer: PreTrainedTokenizerBase, texts: list[str], batch_size: int, max_length: int
) -> Iterator[tuple[np.ndarray, BatchEncoding]]:
    """Tokenised batches of texts of similar length (little padding), each with the positions of
    its texts in `texts`, so results can be put back in the input's order."""
    order = np.argsort([len(text) for text in texts], kind="stable")
    for start in range(0, len(texts), batch_size):
        rows = order[start : start + batch_size]
        batch = tokenizer(
            [texts[i] for i in rows],
            truncation=True,
            max_length=max_length,
            padding=True,
            return_tensors="pt",
        )
        yield rows, batch


class Predictor:
    """A fine-tuned classifier from a folder written by `domaintune train` (or any HF classifier)."""

    def __init__(self, folder: str | Path) -> None:
        folder = Path(folder)
        if not (folder / "config.json").is_file():
            raise UserError(
                f"{folder} is not a model folder (no config.json): give runs/NAME/model"
            )
        self.tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=False)
        self.model = AutoModelForSequenceClassification.from_pretrained(
            folder, use_safetensors=True, trust_remote_code=False
        ).eval()
        id2label = self.model.config.id2label
        self.labels = [id2label[i] for i in range(len(id2label))]
        limit = getattr(self.model.config, "max_position_embeddings", 512)
        self.max_length = min(
            self.tokenizer.model_max_length, limit
        )  # training's limit, saved with it
        self.temperature = calibration.load_temperature(folder)

    @torch.inference_mode()
    def predict_logits(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """Raw logits, one row per text. Texts are batched by length, then put back in order."""
        logits = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        batches = length_batches(self.tokenizer, texts, batch_size, self.max_length)
        total = -(-len(texts) // batch_size)
        for rows, batch in tqdm(
            batches, desc="predicting", unit="batch", total=total, disable=total < 10
        ):
            logits[rows] = self.model(**batch).logits.float().numpy()
        return logits

    def predict_proba(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """Probabilities, one row per text, scaled by the saved temperature when there is one."""
        return calibration.probabilities(self.predict_logits(texts, batch_size), self.temperature)

    def predict(self, texts: list[str], batch_size: int = 64) -> list[str]:
        probabilities = self.predict_proba(texts, batch_size)
        return [self.labels[i] for i in probabilities.argmax(axis=1)]


def read_texts(texts: list[str] | None, file: Path | None, text_column: str) -> list[str]:
    """Texts from --text options, a table file, or standard input (one text per line)."""
    if texts:
        return list(texts)
    if file is None or str(file) == "-":
        lines = [line.rstrip("\n") for line in sys.stdin]
        return [line for line in lines if line.strip()]
    frame = read_table(file)
    if text_column not in frame.columns:
        raise UserError(
            f"{file} has no column '{text_column}' (its columns: {', '.join(map(str, frame.columns))})"
            ": pass --text-column"
        )
    return frame[text_column].map(to_text).tolist()


def predict_command(
    model: Path,
    texts: list[str] | None,
    file: Path | None,
    text_column: str,
    output: Path | None,
    output_format: str,
    batch_size: int,
) -> None:
    """Label texts and write one row per text: text, label, and a probability per label."""
    if output_format not in {"csv", "jsonl"}:
        raise UserError(f"--format {output_format}: choose csv or jsonl")
    folder = model / "model" if (model / "model" / "config.json").is_file() else model
    rows = read_texts(texts, file, text_column)
    if not rows:
        raise UserError("no texts to label: pass --text, --file, or lines on standard input")
    predictor = Predictor(folder)
    probabilities = predictor.predict_proba(rows, batch_size)
    table = pd.DataFrame(
        {"text": rows, "label": [predictor.labels[i] for i in probabilities.argmax(1)]}
    )
    for index, label in enumerate(predictor.labels):
        table[f"p_{label}"] = probabilities[:, index].round(6)
    if output_format == "csv":
        content = table.to_csv(index=False)
    else:
        content = table.to_json(orient="records", lines=True, force_ascii=False)
    if output is None:
        sys.stdout.write(content)
    else:
        write_text(output, content)
        print(f"wrote {len(table)} predictions to {output}", file=sys.stderr)
