"""Load a saved model and predict: labels and a probability per label, in the input's order.

Texts are read as training read them: when the model folder holds `normalization.json` (written
with the model by the train stage), each text is normalised with those settings before tokenising,
so raw text gets the model the test split was scored with. When it holds `calibration.json`
(written by the evaluate stage), the logits are divided by its temperature before the softmax, so
the probabilities are calibrated. `pipeline` gives the same as a `transformers` pipeline.

Weights are read from safetensors only: a pickled checkpoint (pytorch_model.bin) can run code when
loaded, so a folder without safetensors is refused, never unpickled.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm
from transformers import (
    BatchEncoding,
    PreTrainedTokenizerBase,
    TextClassificationPipeline,
)
from transformers.modeling_outputs import ModelOutput
from transformers.utils import SAFE_WEIGHTS_INDEX_NAME, SAFE_WEIGHTS_NAME

from domaintune.config import PrepareConfig
from domaintune.data.clean import load_normalization, normalize_text, to_text
from domaintune.data.sources import read_table
from domaintune.errors import UserError
from domaintune.models import load_classifier, load_tokenizer
from domaintune.rundir import write_text
from domaintune.temperature import load_temperature, probabilities


def length_batches(
    tokenizer: PreTrainedTokenizerBase, texts: list[str], *, batch_size: int, max_length: int
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


def normalized(texts: list[str], normalization: PrepareConfig | None) -> list[str]:
    """Texts as training saw them; as given when the model saved no normalisation."""
    if normalization is None:
        return list(texts)
    return [normalize_text(text, normalization) for text in texts]


def check_model_folder(folder: Path) -> None:
    """Refuse, before loading anything, a folder that is not a model or has no safetensors weights."""
    if not (folder / "config.json").is_file():
        raise UserError(f"{folder} is not a model folder (no config.json): give runs/NAME/model")
    if not any((folder / name).is_file() for name in (SAFE_WEIGHTS_NAME, SAFE_WEIGHTS_INDEX_NAME)):
        pickled = sorted(path.name for path in folder.glob("*.bin"))
        found = f" (it holds {', '.join(pickled)})" if pickled else ""
        raise UserError(
            f"{folder} has no safetensors weights ({SAFE_WEIGHTS_NAME}){found}: domaintune loads "
            "only safetensors, never pickled weights, which can run code when loaded; save the "
            "model with save_pretrained() from Transformers, which writes safetensors"
        )


class Predictor:
    """A fine-tuned classifier from a folder written by `domaintune train` (or any HF classifier).

    Every text is normalised as the folder's `normalization.json` says before tokenising. Texts
    already normalised, such as the prepared splits evaluate scores, pass through unchanged.
    """

    def __init__(self, folder: str | Path) -> None:
        folder = Path(folder)
        check_model_folder(folder)
        self.normalization = load_normalization(folder)
        self.tokenizer = load_tokenizer(str(folder))
        self.model = load_classifier(str(folder)).eval()
        id2label = self.model.config.id2label
        self.labels = [id2label[i] for i in range(len(id2label))]
        limit = getattr(self.model.config, "max_position_embeddings", 512)
        self.max_length = min(
            self.tokenizer.model_max_length, limit
        )  # training's limit, saved with it
        self.temperature = load_temperature(folder)

    @torch.inference_mode()
    def predict_logits(self, texts: list[str], *, batch_size: int = 64) -> np.ndarray:
        """Raw logits, one row per text. Texts are normalised, batched by length, then put back
        in order."""
        texts = normalized(texts, self.normalization)
        logits = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        batches = length_batches(
            self.tokenizer, texts, batch_size=batch_size, max_length=self.max_length
        )
        total = -(-len(texts) // batch_size)
        for rows, batch in tqdm(
            batches, desc="predicting", unit="batch", total=total, disable=total < 10
        ):
            logits[rows] = self.model(**batch).logits.float().numpy()
        return logits

    def predict_proba(self, texts: list[str], *, batch_size: int = 64) -> np.ndarray:
        """Probabilities, one row per text, scaled by the saved temperature when there is one."""
        logits = self.predict_logits(texts, batch_size=batch_size)
        return probabilities(logits, temperature=self.temperature)

    def predict(self, texts: list[str], *, batch_size: int = 64) -> list[str]:
        probabilities = self.predict_proba(texts, batch_size=batch_size)
        return [self.labels[i] for i in probabilities.argmax(axis=1)]


class NormalizingPipeline(TextClassificationPipeline):
    """A `transformers` text-classification pipeline that reads texts as `Predictor` does:
    normalised as training normalised them, and scored with the saved temperature."""

    def __init__(
        self,
        *args: Any,
        normalization: PrepareConfig | None,
        temperature: float,
        **kwargs: Any,
    ) -> None:
        self.normalization = normalization
        self.temperature = temperature
        super().__init__(*args, **kwargs)

    def preprocess(self, inputs: Any, **tokenizer_kwargs: Any) -> dict[str, torch.Tensor]:
        """A single text is normalised; text pairs (which domaintune never trains on) are not."""
        if isinstance(inputs, str):
            inputs = normalized([inputs], self.normalization)[0]
        return super().preprocess(inputs, **tokenizer_kwargs)

    def _forward(self, model_inputs: dict[str, torch.Tensor]) -> ModelOutput:
        """Logits divided by the calibration temperature, so the softmax gives calibrated scores."""
        outputs = super()._forward(model_inputs)
        outputs["logits"] = outputs["logits"] / self.temperature
        return outputs


def pipeline(folder: str | Path, **options: Any) -> NormalizingPipeline:
    """A ready `transformers` text-classification pipeline for a domaintune model folder, giving
    the labels and probabilities `Predictor` gives: inputs are normalised as in training, texts cut
    at training's token limit, and scores calibrated. `options` go to the pipeline (`device`,
    `batch_size`, `top_k`, ...)."""
    predictor = Predictor(folder)
    return NormalizingPipeline(
        model=predictor.model,
        tokenizer=predictor.tokenizer,
        task="text-classification",
        normalization=predictor.normalization,
        temperature=predictor.temperature,
        truncation=True,
        max_length=predictor.max_length,
        **options,
    )


def describe_value(value: object) -> str:
    """A cell that is not a text, in a user's words."""
    if isinstance(value, list | np.ndarray):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    return "null"


def column_texts(frame: pd.DataFrame, file: Path, *, column: str) -> list[str]:
    """Every cell of `column` as text; a null, list or object cell is refused, naming its row
    (counted from 1, as the data rows of the file), since there is no text to label."""
    texts = frame[column].map(to_text)
    missing = np.flatnonzero(texts.isna().to_numpy())
    if len(missing):
        first = int(missing[0])
        more = f" (and {len(missing) - 1} more rows)" if len(missing) > 1 else ""
        raise UserError(
            f"{file}: row {first + 1}{more} has {describe_value(frame[column].iloc[first])} in "
            f"column '{column}', not a text: give every row a text, or remove the rows without one"
        )
    return texts.tolist()


def read_texts(texts: list[str] | None, file: Path | None, *, text_column: str) -> list[str]:
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
    return column_texts(frame, file, column=text_column)


def predict_command(
    model: Path,
    *,
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
    rows = read_texts(texts, file, text_column=text_column)
    if not rows:
        raise UserError("no texts to label: pass --text, --file, or lines on standard input")
    predictor = Predictor(folder)
    probabilities = predictor.predict_proba(rows, batch_size=batch_size)
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
