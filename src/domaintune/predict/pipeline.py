"""A `transformers` pipeline for a domaintune model folder: the ecosystem's own interface, giving
what `Predictor` gives."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from transformers import TextClassificationPipeline
from transformers.modeling_outputs import ModelOutput

from domaintune.config import PrepareConfig
from domaintune.errors import UserError
from domaintune.predict.predictor import Predictor, normalized


class NormalizingPipeline(TextClassificationPipeline):
    """A `transformers` text-classification pipeline that reads texts as `Predictor` does:
    normalised as training normalised them, and scored with the saved temperature."""

    def __init__(
        self,
        *args: Any,
        normalization: PrepareConfig | None,
        temperature: float,
        predictor: Predictor | None = None,
        **kwargs: Any,
    ) -> None:
        self.normalization = normalization
        self.predictor = predictor
        self.temperature = temperature
        super().__init__(*args, **kwargs)

    def preprocess(self, inputs: Any, **tokenizer_kwargs: Any) -> dict[str, torch.Tensor]:
        """A single text is normalised; for a model of several text fields, an object of them is
        read as `Predictor` reads it (fields normalised, joined by the separator or paired)."""
        if self.predictor is not None and self.predictor.fields is not None:
            read = self.predictor.model_inputs([inputs])[0]
            inputs = read if isinstance(read, str) else {"text": read[0], "text_pair": read[1]}
        elif isinstance(inputs, str):
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
    predictor = Predictor(folder, backend="torch", precision="fp32")
    if predictor.long_text.mode != "truncate":
        raise UserError(
            f"{folder} reads long texts as model.long_text {predictor.long_text.mode} says, which "
            "a transformers pipeline cannot (it cuts them): use domaintune.predict.Predictor or "
            "`domaintune predict`"
        )
    return NormalizingPipeline(
        model=predictor.backend.model,  # the PyTorch backend asked for above
        tokenizer=predictor.tokenizer,
        task="text-classification",
        normalization=predictor.normalization,
        temperature=predictor.temperature,
        predictor=predictor,
        truncation=True,
        max_length=predictor.max_length,
        **options,
    )
