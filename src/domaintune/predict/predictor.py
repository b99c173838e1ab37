"""Load a saved model and predict: labels and a probability per label, in the input's order.

Texts are read as training read them: when the model folder holds `normalization.json` (written
with the model by the train stage), each text is normalised with those settings before tokenising,
so raw text gets the model the test split was scored with. When it holds `fields.json` (a model
trained on several text fields), each input is a {field: text} object instead of a text: its
fields are normalised one by one and joined by the tokenizer's separator, or encoded as a pair,
as training did. When it holds `calibration.json`
(written by the evaluate stage), the logits are divided by its temperature before the softmax, so
the probabilities are calibrated. When it holds `decision.json` (also by evaluate), its rules
(a class rule, an abstain threshold; chosen on validation) decide each text as evaluate scored them.
A multi_label model (`problem_type` in its config) gives each label its own sigmoid probability,
and a text every label whose probability reaches that label's threshold (`thresholds.json`,
tuned on validation by train). A regression model gives each text a value: its one output, on the
data's own scale (train folded the target's standardisation into the head).

Weights are read from safetensors only: a pickled checkpoint (pytorch_model.bin) can run code when
loaded, so a folder without safetensors is refused, never unpickled.

The logits come from a backend, chosen as `choose.py` says: the run's ONNX export when there is
one that passed its parity check, else PyTorch (bf16 where the hardware has it).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm
from transformers import PreTrainedTokenizerBase
from transformers.utils import SAFE_WEIGHTS_INDEX_NAME, SAFE_WEIGHTS_NAME

from domaintune.config import PrepareConfig
from domaintune.data.clean import load_normalization, normalize_text
from domaintune.data.fields import TextFields, field_values, load_fields
from domaintune.errors import UserError
from domaintune.generation import PROMPT_FILE
from domaintune.longtext import LongText, head_tail, load_long_text, pool, windows
from domaintune.models import field_separator, load_model_config, load_tokenizer
from domaintune.multilabel import is_multi_label, load_thresholds, sigmoid
from domaintune.predict.backends import Backend
from domaintune.predict.choose import BackendChoice, PrecisionChoice, choose_backend
from domaintune.predict.encode import Encode, ModelInput, encoder, pad, whole_encoder
from domaintune.predict.rules import decide, decide_sets, load_rules
from domaintune.regression import is_regression
from domaintune.temperature import load_temperature, probabilities

Input = str | Mapping[str, str]
"""What a predictor is given per text: a text, or {field: text} for a model of several fields."""


def length_batches(
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[ModelInput],
    *,
    batch_size: int,
    max_length: int,
    encode: Encode | None = None,
) -> Iterator[tuple[np.ndarray, dict[str, np.ndarray]]]:
    """Tokenised batches (numpy arrays) of texts (or pairs) of similar length (little padding),
    each with the positions of its texts in `texts`, so results can be put back in the input's
    order. `encode` tokenises (default: `encoder(tokenizer)`, made anew)."""
    encode = encode or encoder(tokenizer, max_length=max_length)
    lengths = [len(text) if isinstance(text, str) else sum(map(len, text)) for text in texts]
    order = np.argsort(lengths, kind="stable")
    for start in range(0, len(texts), batch_size):
        rows = order[start : start + batch_size]
        yield rows, encode([texts[i] for i in rows])


def cut(
    encoded: list[tuple[dict[str, list[int]], list[int]]], reading: LongText
) -> tuple[list[dict[str, list[int]]], np.ndarray]:
    """The pieces the model reads of each text (see `domaintune.longtext`), and each piece's text."""
    pieces, owners = [], []
    for text, (encoding, special) in enumerate(encoded):
        if reading.mode == "chunks":
            some = windows(
                encoding, special, max_length=reading.max_length, overlap=reading.chunk_overlap
            )
        else:
            some = [
                head_tail(
                    encoding, special, max_length=reading.max_length, head_share=reading.head_share
                )
            ]
        pieces += some
        owners += [text] * len(some)
    return pieces, np.array(owners, dtype=np.int64)


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


def model_folder(path: str | Path) -> Path:
    """The model folder of a run directory, or `path` itself when it is a model folder."""
    path = Path(path)
    return path / "model" if (path / "model" / "config.json").is_file() else path


class Predictor:
    """A fine-tuned classifier from a folder written by `domaintune train` (or any HF classifier),
    or the run directory holding it.

    Every text is normalised as the folder's `normalization.json` says before tokenising. Texts
    already normalised, such as the prepared splits evaluate scores, pass through unchanged.

    `backend` and `precision` choose what computes the logits (`choose.choose_backend`);
    `backend_reason` says why that one. `backend` may also be one already made: the server's
    stand-in for copies of the model in processes of their own (`serve.workers.InProcesses`).
    `threads`: ONNX Runtime's compute threads (None: one per physical core); PyTorch keeps its
    own setting.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        backend: BackendChoice | Backend = "auto",
        precision: PrecisionChoice = "auto",
        threads: int | None = None,
    ) -> None:
        folder = model_folder(path)
        check_model_folder(folder)
        if (folder / PROMPT_FILE).is_file():
            raise UserError(
                f"{folder} holds a text-generation model (task.objective generation or "
                "language_model): `domaintune predict` writes with it; serve, export and this "
                "classifier interface do not support it yet"
            )
        self.folder = folder
        self.normalization = load_normalization(folder)
        self.fields: TextFields | None = load_fields(folder)
        self.tokenizer = load_tokenizer(str(folder))
        config = load_model_config(str(folder))
        self.labels = [config.id2label[i] for i in range(len(config.id2label))]
        limit = getattr(config, "max_position_embeddings", 512)
        self.max_length = min(self.tokenizer.model_max_length, limit)  # training's, saved with it
        self.encode = encoder(self.tokenizer, max_length=self.max_length)
        self.long_text = load_long_text(folder, max_length=self.max_length)
        self.encode_whole = whole_encoder(self.tokenizer)
        self.temperature = load_temperature(folder)
        self.rules = load_rules(folder)
        self.multi_label = is_multi_label(getattr(config, "problem_type", None))
        """A multi_label model: a sigmoid per label, each label given from its own threshold."""
        self.thresholds = load_thresholds(folder, self.labels) if self.multi_label else None
        self.regression = is_regression(getattr(config, "problem_type", None))
        """A regression model: one output, a value per text, no probabilities."""
        self.backend: Backend
        if isinstance(backend, str):
            self.backend, self.backend_reason = choose_backend(
                folder, backend=backend, precision=precision, threads=threads
            )
        else:
            self.backend, self.backend_reason = backend, "given"

    def model_inputs(self, texts: Sequence[Input]) -> list[ModelInput]:
        """Each input as the model reads it, normalised as in training: a text; for a model of
        several fields, its fields joined by the tokenizer's separator, or a pair. An input of
        the wrong kind (a text for a model of fields, an object missing a field) is refused."""
        fields = self.fields
        if fields is None:
            wrong = next((i for i, text in enumerate(texts) if not isinstance(text, str)), None)
            if wrong is not None:
                raise UserError(
                    f"input {wrong + 1} is {type(texts[wrong]).__name__}: this model reads one "
                    "text per input; give strings"
                )
            return list(normalized(list(texts), self.normalization))  # type: ignore[arg-type]
        rows = [
            normalized(field_values(text, fields, where=f"input {i + 1}"), self.normalization)
            for i, text in enumerate(texts)
        ]
        if fields.pair:
            return [(first, second) for first, second in rows]
        separator = field_separator(self.tokenizer)
        return [separator.join(row) for row in rows]

    def predict_logits(
        self, texts: Sequence[Input], *, batch_size: int = 64, progress: bool = True
    ) -> np.ndarray:
        """Raw logits, one row per input (a text, or {field: text} for a model of several
        fields). Inputs are normalised, batched by length, then put back in order; an input the
        model reads in windows gets its windows' logits pooled as the model folder says.
        `progress`: a bar of batches (when there are 10 or more); off where the caller shows its
        own."""
        if self.long_text.mode == "truncate":
            inputs = self.model_inputs(texts)
            batches = length_batches(
                self.tokenizer,
                inputs,
                batch_size=batch_size,
                max_length=self.max_length,
                encode=self.encode,
            )
            return self._run(batches, len(inputs), batch_size=batch_size, progress=progress)
        logits, owners = self.predict_pieces(texts, batch_size=batch_size, progress=progress)
        if self.long_text.mode == "chunks":
            return pool(logits, owners, texts=len(texts), how=self.long_text.pooling)
        return logits

    def predict_pieces(
        self, texts: Sequence[Input], *, batch_size: int = 64, progress: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """Logits of each piece the model reads (head_tail: one an input; chunks: each window),
        and the input each piece belongs to, for pooling as the caller chooses. A model of
        several fields reads them joined, as one text, and cuts that."""
        pieces, owners = cut(self.encode_whole(self.model_inputs(texts)), self.long_text)
        order = np.argsort([len(piece["input_ids"]) for piece in pieces], kind="stable")
        left = self.tokenizer.padding_side == "left"
        batches = (
            (rows, pad([pieces[i] for i in rows], pad_id=self.tokenizer.pad_token_id, left=left))
            for rows in (order[s : s + batch_size] for s in range(0, len(pieces), batch_size))
        )
        return self._run(batches, len(pieces), batch_size=batch_size, progress=progress), owners

    def _run(
        self,
        batches: Iterator[tuple[np.ndarray, dict[str, np.ndarray]]],
        rows: int,
        *,
        batch_size: int,
        progress: bool,
    ) -> np.ndarray:
        logits = np.zeros((rows, len(self.labels)), dtype=np.float32)
        total = -(-rows // batch_size)
        if total >= 10 and progress:  # a bar for long jobs; made only then: it costs at batch 1
            batches = tqdm(batches, desc="predicting", unit="batch", total=total)
        for positions, batch in batches:
            logits[positions] = self.backend.logits(batch)
        return logits

    def predict_proba(
        self, texts: Sequence[Input], *, batch_size: int = 64, progress: bool = True
    ) -> np.ndarray:
        """Probabilities, one row per text, scaled by the saved temperature when there is one;
        multi_label: each label's own sigmoid probability. A regression model has none."""
        if self.regression:
            raise UserError(
                f"{self.folder} is a regression model: it predicts a value per text, not "
                "probabilities; use predict_values"
            )
        logits = self.predict_logits(texts, batch_size=batch_size, progress=progress)
        if self.multi_label:
            return sigmoid(logits)
        return probabilities(logits, temperature=self.temperature)

    def predict_values(
        self, texts: Sequence[Input], *, batch_size: int = 64, progress: bool = True
    ) -> np.ndarray:
        """regression: each text's predicted value, on the scale of the training data."""
        if not self.regression:
            raise UserError(f"{self.folder} is not a regression model: use predict_proba")
        logits = self.predict_logits(texts, batch_size=batch_size, progress=progress)
        return logits[:, 0].astype(np.float64)

    def predict(
        self, texts: Sequence[Input], *, batch_size: int = 64
    ) -> list[str] | list[list[str]] | list[float]:
        """The label of each text, with the run's class rule applied (see `decide`); for a
        multi_label model, the labels of each text; for a regression model, its value."""
        column = "labels" if self.multi_label else "value" if self.regression else "label"
        return self.decide(texts, batch_size=batch_size)[column].tolist()

    def decide(
        self, texts: Sequence[Input], *, batch_size: int = 64, progress: bool = True
    ) -> pd.DataFrame:
        """One row per text, in order: `label` (with the run's class rule applied), `confidence`
        (the top calibrated probability), `decision` (`model`, `class_rule` or `abstain`: send
        it to a person) and `p_<label>`, a calibrated probability per label. multi_label:
        `labels` (the labels whose probability reaches their threshold) and `p_<label>`.
        regression: `value` alone."""
        if self.regression:
            values = self.predict_values(texts, batch_size=batch_size, progress=progress)
            return pd.DataFrame({"value": values})
        probs = self.predict_proba(texts, batch_size=batch_size, progress=progress)
        if self.thresholds is not None:
            return decide_sets(probs, self.labels, self.thresholds)
        return decide(probs, self.labels, self.rules)
