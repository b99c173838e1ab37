"""Fixtures of the prediction tests: a tiny classifier that applies decision rules."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

from domaintune.predict.rules import RULES_FILE
from domaintune.runfiles import DecisionRules, SavedClassRule
from tests.helpers import make_rows

LABELS = ["neg", "neu", "pos"]


@pytest.fixture(scope="session")
def ruled_classifier(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Path:
    """A random 3-label classifier with a class rule and an abstain threshold, set so that each
    of `model`, `class_rule` and `abstain` decides some texts (its head spreads the texts' probabilities)."""
    folder = tmp_path_factory.mktemp("ruled-classifier")
    config = BertConfig.from_pretrained(tiny_model)
    config.id2label = dict(enumerate(LABELS))
    config.label2id = {label: i for i, label in enumerate(LABELS)}
    torch.manual_seed(1)
    model = BertForSequenceClassification(config).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    with torch.no_grad():  # a random BERT gives every text nearly the same vector: spread them
        pooled = model.bert(
            **tokenizer(make_rows(60)["text"].tolist(), padding=True, return_tensors="pt")
        ).pooler_output
        model.classifier.weight.normal_(0, 1.0)
        model.classifier.weight /= (pooled @ model.classifier.weight.T).std(0)[:, None]
        model.classifier.bias.copy_(-(pooled.mean(0) @ model.classifier.weight.T))
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    rule = SavedClassRule(label="neg", threshold=0.45, target="recall", value=0.9)
    DecisionRules(abstain_below=0.5, class_rule=rule).write(folder / RULES_FILE)
    return folder
