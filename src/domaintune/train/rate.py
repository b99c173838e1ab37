"""train.learning_rate auto: a learning rate for the model's size.

Fine-tuning recipes give small distilled encoders a higher rate than base-size ones: about 1e-4
for MiniLM-like models, 2e-5 to 5e-5 for BERT-base and its kin (Devlin et al., 2019). The width
of the model's hidden states tells the two apart without knowing its name, so a Hub model or a
folder gets the rate of its size too. The evidence for both rates is beside
`TrainConfig.learning_rate`.
"""

from __future__ import annotations

from domaintune import assets
from domaintune.config import Config
from domaintune.models import load_model_config

AUTO = "auto"
WIDE = 768
"""Hidden sizes from here on (BERT-base and larger) train at WIDE_RATE."""
NARROW_RATE = 1e-4
WIDE_RATE = 3e-5


def learning_rate_for(hidden_size: int | None) -> float:
    """The rate for a model whose hidden states are `hidden_size` wide; a model that does not
    say gets the lower rate, which is slower to learn but does not wreck a large model."""
    return NARROW_RATE if hidden_size is not None and hidden_size < WIDE else WIDE_RATE


def resolve_learning_rate(config: Config) -> Config:
    """`config` with `train.learning_rate: auto` made the rate for its model, which must be
    named by now (`model.name_or_path: auto` is resolved first)."""
    if config.train.learning_rate != AUTO:
        return config
    if config.model.name_or_path == AUTO:
        raise ValueError("the model must be chosen before its learning rate")
    model = load_model_config(assets.model_path(config.model.name_or_path))
    rate = learning_rate_for(getattr(model, "hidden_size", None))
    train = config.train.model_copy(update={"learning_rate": rate})
    return config.model_copy(update={"train": train})


def initial_learning_rate(rate: float | str) -> float:
    """The rate to build the Trainer's settings with before the model is chosen (the ladder's
    probe needs them): `auto` starts at the small rungs' rate, and `resolve_learning_rate` sets
    the model's own before training."""
    return NARROW_RATE if rate == AUTO else float(rate)
