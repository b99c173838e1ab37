"""generation and language_model: the prompt, the encoding of a row for a causal language model,
and the two things done with it (scoring a target's tokens, writing one), shared by train,
evaluate and predict.

The prompt is the tokenizer's chat template with a system turn (the task's instruction) and a
user turn (the input, cut to its first `max_input_tokens` tokens); the model learns the assistant
turn: the target and the end-of-turn token. A system turn is always given, since SmolLM2's
template inserts a default one ("You are a helpful AI assistant named SmolLM...") otherwise. A
tokenizer without a chat template gets the same turns as plain text. language_model has no
prompt: each text is learnt whole. What prediction needs to prompt the saved model the same way
is written beside it as `generation.json`.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from domaintune.errors import UserError

IGNORE = -100
"""The label the loss skips: prompt and padding positions."""
PROMPT_FILE = "generation.json"
PLAIN_TEMPLATE = "{system}\n\nInput: {text}\n\nOutput: "
"""The prompt for a tokenizer without a chat template."""


@dataclass(frozen=True)
class Prompting:
    """How a model is prompted and how much it reads and writes; saved beside the model."""

    objective: str
    """generation or language_model."""
    system_prompt: str
    max_input_tokens: int
    max_target_tokens: int
    """generation: target tokens learnt (with the end of turn), and new tokens written at most;
    language_model: tokens of each text learnt."""

    def save(self, folder: Path) -> None:
        (folder / PROMPT_FILE).write_text(json.dumps(asdict(self), indent=2) + "\n", "utf-8")

    @classmethod
    def load(cls, folder: Path) -> Prompting:
        path = folder / PROMPT_FILE
        try:
            return cls(**json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError) as error:
            raise UserError(
                f"{path} is missing or damaged ({error.__class__.__name__}): re-run "
                "`domaintune train` for this run"
            ) from None


def system_prompt(description: str, expected_output: str, given: str | None) -> str:
    """The system turn: the configured one, else the task in words and what to answer with."""
    if given:
        return given.strip()
    return f"{description.strip()} Answer with: {expected_output.strip()}"


def cut_text(tokenizer: Any, text: str, max_tokens: int) -> tuple[str, bool]:
    """The text's first `max_tokens` tokens as text, and whether anything was cut."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    if len(ids) <= max_tokens:
        return text, False
    return tokenizer.decode(ids[:max_tokens], skip_special_tokens=True), True


def prompt_text(tokenizer: Any, prompting: Prompting, text: str) -> str:
    """The prompt for one input (cut to its token limit), ending where the answer begins."""
    text, _ = cut_text(tokenizer, text, prompting.max_input_tokens)
    if getattr(tokenizer, "chat_template", None):
        messages = [
            {"role": "system", "content": prompting.system_prompt},
            {"role": "user", "content": text},
        ]
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return PLAIN_TEMPLATE.format(system=prompting.system_prompt, text=text)


def end_of_turn(tokenizer: Any) -> int:
    """The token that ends an answer: the tokenizer's end of sequence, which in a chat model's
    tokenizer is its end of turn (SmolLM2: `<|im_end|>`)."""
    if tokenizer.eos_token_id is None:
        raise UserError("the model's tokenizer has no end-of-sequence token: pick another model")
    return int(tokenizer.eos_token_id)


def pad_token(tokenizer: Any) -> int:
    """Padding: the tokenizer's own, else the end of turn (never learnt: masked by position)."""
    return int(
        tokenizer.pad_token_id if tokenizer.pad_token_id is not None else end_of_turn(tokenizer)
    )


def encode(tokenizer: Any, prompting: Prompting, text: str, target: str | None) -> dict[str, Any]:
    """One training row: input_ids and labels, the loss on target tokens only (language_model:
    on every token of the text). `cut` says whether the input or target was over its limit."""
    eot = end_of_turn(tokenizer)
    if prompting.objective == "language_model":
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        cut = len(ids) >= prompting.max_target_tokens
        ids = [*ids[: prompting.max_target_tokens - 1], eot]
        return {"input_ids": ids, "labels": list(ids), "cut": cut}
    prompt = tokenizer(prompt_text(tokenizer, prompting, text), add_special_tokens=False)
    _, input_cut = cut_text(tokenizer, text, prompting.max_input_tokens)
    answer = tokenizer(target or "", add_special_tokens=False)["input_ids"]
    target_cut = len(answer) >= prompting.max_target_tokens
    answer = [*answer[: prompting.max_target_tokens - 1], eot]
    ids = [*prompt["input_ids"], *answer]
    labels = [IGNORE] * len(prompt["input_ids"]) + answer
    return {"input_ids": ids, "labels": labels, "cut": input_cut or target_cut}


def collate(tokenizer: Any):
    """Pads a batch on the right with the padding token; the labels of padding are IGNORE and its
    attention mask 0, so what the pad token is never matters."""
    pad = pad_token(tokenizer)

    def batch(rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        longest = max(len(row["input_ids"]) for row in rows)
        ids = torch.full((len(rows), longest), pad, dtype=torch.long)
        labels = torch.full((len(rows), longest), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(rows), longest), dtype=torch.long)
        for i, row in enumerate(rows):
            n = len(row["input_ids"])
            ids[i, :n] = torch.tensor(row["input_ids"])
            labels[i, :n] = torch.tensor(row["labels"])
            mask[i, :n] = 1
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}

    return batch


@torch.no_grad()
def token_losses(
    model: torch.nn.Module, tokenizer: Any, rows: list[dict[str, Any]], *, batch_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Each row's summed negative log-likelihood of its labelled tokens, and their count: a
    perplexity over rows is exp(sum of the first / sum of the second)."""
    model.eval()
    pad = collate(tokenizer)
    nll, counts = [], []
    for start in range(0, len(rows), batch_size):
        batch = pad(rows[start : start + batch_size])
        labels = batch["labels"]
        longest = labels.shape[1]
        first = int((labels != IGNORE).float().argmax(dim=1).min())  # the earliest target
        keep = min(longest, max(2, longest - first + 1))  # from the position before it: the LM head
        logits = model(  # over a 49k vocabulary costs as much as several layers per position
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            logits_to_keep=keep,
        ).logits
        targets = labels[:, longest - keep + 1 :]
        logits = logits[:, :-1].float()
        losses = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]),
            targets.reshape(-1),
            ignore_index=IGNORE,
            reduction="none",
        ).view(targets.shape)
        nll += losses.sum(dim=1).tolist()
        counts += (targets != IGNORE).sum(dim=1).tolist()
    return np.array(nll), np.array(counts)


def perplexity(nll: np.ndarray, counts: np.ndarray) -> float:
    total = float(np.sum(counts))
    return math.exp(float(np.sum(nll)) / total) if total else float("nan")


@torch.no_grad()
def generate(
    model: torch.nn.Module,
    tokenizer: Any,
    prompting: Prompting,
    texts: list[str],
    *,
    batch_size: int,
    max_new_tokens: int | None = None,
) -> list[str]:
    """The model's answer to each input, greedy (repeatable), batched with left padding.
    language_model: the continuation of each text."""
    model.eval()
    eot = end_of_turn(tokenizer)
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    if prompting.objective == "language_model":
        prompts = [cut_text(tokenizer, text, prompting.max_input_tokens)[0] for text in texts]
    else:
        prompts = [prompt_text(tokenizer, prompting, text) for text in texts]
    answers: list[str] = []
    try:
        for start in range(0, len(prompts), batch_size):
            batch = tokenizer(
                prompts[start : start + batch_size],
                add_special_tokens=False,
                padding=True,
                return_tensors="pt",
            )
            out = model.generate(
                **batch,
                max_new_tokens=max_new_tokens or prompting.max_target_tokens,
                do_sample=False,
                eos_token_id=eot,
                pad_token_id=pad_token(tokenizer),
            )
            new = out[:, batch["input_ids"].shape[1] :]
            answers += [
                answer.strip() for answer in tokenizer.batch_decode(new, skip_special_tokens=True)
            ]
    finally:
        tokenizer.padding_side = side
    return answers
