"""The evaluate stage for generation and language_model: perplexity and ROUGE, against the base
model and a lead baseline, with bootstrap intervals.

- Perplexity of every test target given its input (language_model: of every test text), with the
  fine-tuned model and with the base model it started from: exp of the mean negative
  log-likelihood per target token, its interval from resampling test rows.
- ROUGE-1/2/L F-measures (rouge_score, stemmed; `evaluate.load("rouge")` needs the network) on
  a seeded sample of generation.rouge_rows test rows, for three systems: the fine-tuned model,
  the base model prompted zero-shot with the same system prompt, and a lead baseline (the input's
  first words, as many as the training targets' median). The fine-tuned model is compared with
  each by a paired bootstrap of the ROUGE-L difference over the same resampled rows.
- Samples: the rows with the best and the worst ROUGE-L, beside their references.

Both models run in fp32, as the classifiers' evaluation does, so the figures do not depend on the
machine's precision. Writes metrics.json, predictions.parquet (a row per test row) and the model
card (model/README.md), which says how to prompt the model.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

from domaintune import assets
from domaintune.config import Config
from domaintune.errors import UserError
from domaintune.evaluate.model_card import write_generation_model_card
from domaintune.evaluate.scoring import percentile_interval, resample_rows, two_sided_p_value
from domaintune.generation import Prompting, encode, generate, perplexity, token_losses
from domaintune.models import load_causal_lm, load_tokenizer
from domaintune.rundir import RunDir, read_parquet, write_parquet
from domaintune.runfiles import (
    DataCard,
    GenerationMetrics,
    GenerationSample,
    RougeComparison,
    RougeScores,
    TrainLog,
)
from domaintune.train.causal import at_most

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")


def rouge_scorer():
    try:
        from rouge_score import rouge_scorer as scorer
    except ImportError:
        raise UserError(
            "task.objective generation scores ROUGE with the rouge-score package: "
            "pip install 'domaintune[generation]'"
        ) from None
    return scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)


def rouge_rows(references: list[str], predictions: list[str]) -> dict[str, np.ndarray]:
    """Each row's ROUGE-1/2/L F-measure (0-1)."""
    scorer = rouge_scorer()
    scores = [scorer.score(ref, pred) for ref, pred in zip(references, predictions)]
    return {kind: np.array([s[kind].fmeasure for s in scores]) for kind in ROUGE_TYPES}


def lead(text: str, words: int) -> str:
    """The lead baseline: the input's first `words` words."""
    return " ".join(text.split()[:words])


def ratio_interval(
    nll: np.ndarray, counts: np.ndarray, rows: np.ndarray, *, confidence_level: float
) -> tuple[float, float]:
    """The perplexity's bootstrap interval: exp(total NLL / total tokens) of each resample."""
    values = np.exp(nll[rows].sum(axis=1) / np.maximum(counts[rows].sum(axis=1), 1))
    low, high = percentile_interval(values, confidence_level=confidence_level)
    return (low, high)


def mean_interval(values: np.ndarray, rows: np.ndarray, *, confidence_level: float):
    low, high = percentile_interval(values[rows].mean(axis=1), confidence_level=confidence_level)
    return (low, high)


def compare(
    model: np.ndarray, other: np.ndarray, rows: np.ndarray, *, confidence_level: float
) -> RougeComparison:
    """A paired bootstrap of the mean ROUGE-L difference over the same resampled rows."""
    difference = (model - other)[rows].mean(axis=1)
    low, high = percentile_interval(difference, confidence_level=confidence_level)
    verdict = "better" if low > 0 else "worse" if high < 0 else "not significant"
    return RougeComparison(
        rougeL_difference=float(np.mean(model - other)),
        interval=(low, high),
        p_value=two_sided_p_value(difference),
        alpha=round(1 - confidence_level, 10),
        verdict=verdict,
    )


def scored_losses(model, tokenizer, prompting: Prompting, test: pd.DataFrame, batch: int):
    rows = [encode(tokenizer, prompting, t, g) for t, g in zip(test["text"], test["label"])]
    return token_losses(model, tokenizer, rows, batch_size=batch)


def run_evaluate_generation(config: Config, run: RunDir) -> GenerationMetrics:
    """Score model/ on data/test.parquet against the base model and the lead baseline."""
    log = TrainLog.read(run.train_log)
    card = DataCard.read(run.card)
    run.clear_from("evaluate")
    options = config.evaluate
    prompting = Prompting.load(run.model)
    test = at_most(
        read_parquet(run.split("test")), config.generation.max_eval_rows, seed=options.seed
    )
    test = test.reset_index(drop=True)
    train = read_parquet(run.split("train"))
    seconds: dict[str, float] = {}
    batch = config.train.eval_batch_size

    tokenizer = load_tokenizer(str(run.model))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    base_source = assets.model_path(log.model)
    started = time.perf_counter()
    tuned = load_causal_lm(str(run.model))
    nll, counts = scored_losses(tuned, tokenizer, prompting, test, batch)
    base = load_causal_lm(base_source)
    nll_base, counts_base = scored_losses(base, tokenizer, prompting, test, batch)
    seconds["perplexity"] = round(time.perf_counter() - started, 1)
    resamples = resample_rows(len(test), samples=options.bootstrap_samples, seed=options.seed)
    level = options.confidence_level
    tuned_ppl, base_ppl = perplexity(nll, counts), perplexity(nll_base, counts_base)
    predictions = test[["text", "label"]].rename(columns={"label": "reference"})
    predictions = predictions.assign(
        target_tokens=counts,
        nll=nll,
        nll_base=nll_base,
    )
    metrics: dict[str, Any] = {
        "objective": config.task.objective,
        "perplexity": tuned_ppl,
        "perplexity_base": base_ppl,
        "perplexity_interval": ratio_interval(nll, counts, resamples, confidence_level=level),
        "perplexity_base_interval": ratio_interval(
            nll_base, counts_base, resamples, confidence_level=level
        ),
        "perplexity_ratio": base_ppl / tuned_ppl,
        "test_rows": len(test),
        "target_tokens": int(counts.sum()),
        "system_prompt": prompting.system_prompt,
        "confidence_level": level,
        "bootstrap_samples": options.bootstrap_samples,
        "precision": "fp32",
    }
    if config.task.objective == "generation":
        metrics |= rouge_section(
            config, tuned, base, tokenizer, prompting, test, train, seconds, predictions
        )
    del tuned, base
    metrics["seconds"] = seconds
    result = GenerationMetrics(**metrics)
    write_parquet(run.predictions, predictions.reset_index(drop=True))
    result.write(run.metrics)
    write_generation_model_card(run.model / "README.md", config, card, log, result, prompting)
    return result


def rouge_section(
    config: Config,
    tuned,
    base,
    tokenizer,
    prompting: Prompting,
    test: pd.DataFrame,
    train: pd.DataFrame,
    seconds: dict[str, float],
    predictions: pd.DataFrame,
) -> dict[str, Any]:
    """ROUGE of the three systems on a seeded sample of test rows, compared pairwise, with the
    best and worst samples; fills the sample's rows of `predictions`."""
    options, generation = config.evaluate, config.generation
    level = options.confidence_level
    count = min(generation.rouge_rows, len(test))
    chosen = np.sort(
        np.random.default_rng(options.seed).choice(len(test), size=count, replace=False)
    )
    sample = test.iloc[chosen]
    texts, references = sample["text"].tolist(), sample["label"].tolist()
    words = int(np.median(train["label"].str.split().str.len())) or 1
    outputs: dict[str, list[str]] = {}
    for name, model in (("fine_tuned", tuned), ("base", base)):
        started = time.perf_counter()
        outputs[name] = generate(
            model, tokenizer, prompting, texts, batch_size=generation.generation_batch_size
        )
        seconds[f"generate_{name}"] = round(time.perf_counter() - started, 1)
    outputs["lead"] = [lead(text, words) for text in texts]
    scores = {name: rouge_rows(references, texts_out) for name, texts_out in outputs.items()}
    resamples = resample_rows(count, samples=options.bootstrap_samples, seed=options.seed)
    descriptions = {
        "fine_tuned": "the fine-tuned model, greedy decoding",
        "base": f"the base model ({config.model.name_or_path}) prompted zero-shot with the same "
        "system prompt",
        "lead": f"the input's first {words} words (the training targets' median length)",
    }
    rouge = {
        name: RougeScores(
            rouge1=float(values["rouge1"].mean()),
            rouge2=float(values["rouge2"].mean()),
            rougeL=float(values["rougeL"].mean()),
            rougeL_interval=mean_interval(values["rougeL"], resamples, confidence_level=level),
            description=descriptions[name],
        )
        for name, values in scores.items()
    }
    model_l = scores["fine_tuned"]["rougeL"]
    significance = {
        name: compare(model_l, scores[name]["rougeL"], resamples, confidence_level=level)
        for name in ("base", "lead")
    }
    position = predictions.index[chosen]
    for name, column in (("fine_tuned", "generated"), ("base", "generated_base"), ("lead", "lead")):
        predictions.loc[position, column] = outputs[name]
        predictions.loc[position, f"rougeL_{column}"] = scores[name]["rougeL"]
    order = np.argsort(-model_l, kind="stable")
    shown = config.report.examples

    def samples(rows: np.ndarray) -> list[GenerationSample]:
        return [
            GenerationSample(
                text=texts[i][:400],
                reference=references[i],
                generated=outputs["fine_tuned"][i],
                generated_base=outputs["base"][i],
                rougeL=float(model_l[i]),
                rougeL_base=float(scores["base"]["rougeL"][i]),
            )
            for i in rows
        ]

    return {
        "rougeL": rouge["fine_tuned"].rougeL,
        "rougeL_base": rouge["base"].rougeL,
        "rougeL_lead": rouge["lead"].rougeL,
        "rouge_rows": count,
        "lead_words": words,
        "rouge": rouge,
        "significance": significance,
        "best": samples(order[:shown]),
        "worst": samples(order[::-1][:shown]),
    }
