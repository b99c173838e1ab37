"""What the HTTP API takes and gives, as pydantic models: FastAPI checks requests against them
and writes the OpenAPI document (`/docs`, `/openapi.json`) from them.

A request is malformed (422) when its shape is wrong: not JSON, unknown fields, a text that is not
a string, an empty or blank text, an empty list, not exactly one of `text`, `texts` and `fields`,
or a kind of input the model does not read (`fields` for a model of one text, a text for a model
of several fields, an object of fields lacking one the model reads or naming one it does not). It is too
large (413) when its shape is right but a text or the list passes the server's limits; those are
settings of the server (`serve` in the config), checked by the app, and listed by `/metadata`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictStr, model_validator

Decision = Literal["model", "class_rule", "abstain"]


def check_text(text: str) -> str:
    """A text the model can read: not blank, and encodable as UTF-8 (JSON can carry a lone
    surrogate such as "\\ud800", which no tokenizer takes)."""
    if not text.strip():
        raise ValueError("a text must hold more than whitespace")
    return check_unicode(text)


def check_unicode(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("a text must be valid Unicode (it holds a lone surrogate)") from None
    return text


Text = Annotated[StrictStr, AfterValidator(check_text)]
"""A text as a request holds it: a JSON string (a number is not taken for one) the model can read."""


def check_fields(fields: dict[str, str]) -> dict[str, str]:
    """An object of fields with a text in one at least: a field may be empty (a ticket without a
    subject), not all of them."""
    if not any(value.strip() for value in fields.values()):
        raise ValueError("an object of fields must hold a text in one field at least")
    return fields


Fields = Annotated[
    dict[str, Annotated[StrictStr, AfterValidator(check_unicode)]],
    AfterValidator(check_fields),
]
"""One input of a model trained on several text fields: {field: text}."""


class PredictRequest(BaseModel):
    """One text as `text`, or several as `texts`; for a model of several text fields, one object
    of fields or a list of them as `fields`. Exactly one of the three."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"text": "@united two hours on the tarmac and no water"},
                {"texts": ["thanks for the smooth flight", "what time does boarding start?"]},
                {"fields": {"subject": "Refund", "body": "I was charged twice for one order"}},
            ]
        },
    )

    text: Text | None = Field(default=None, description="One text to label.")
    texts: list[Text] | None = Field(
        default=None, min_length=1, description="Several texts to label, answered in this order."
    )
    fields: Fields | Annotated[list[Fields], Field(min_length=1)] | None = Field(
        default=None,
        description="For a model trained on several text fields (`/metadata` lists them): one "
        "{field: text} object, or a list of them answered in this order.",
    )

    @model_validator(mode="after")
    def _one_of_text_texts_or_fields(self) -> PredictRequest:
        given = [value is not None for value in (self.text, self.texts, self.fields)]
        if sum(given) != 1:
            raise ValueError(
                'give one of "text" (one text), "texts" (a list of texts) or "fields" (an '
                "object of fields, or a list of them)"
            )
        return self

    def all_texts(self) -> list[str | dict[str, str]]:
        """The inputs, in order: texts, or objects of fields."""
        if self.text is not None:
            return [self.text]
        if self.fields is not None:
            return [self.fields] if isinstance(self.fields, dict) else list(self.fields)
        return list(self.texts or [])


class Prediction(BaseModel):
    """The answer for one text: as `domaintune predict` and `Predictor.decide` give it."""

    label: str = Field(description="The label, with the run's class rule applied.")
    confidence: float = Field(description="The top calibrated probability.")
    decision: Decision = Field(
        description="Which rule decided: `model` (the most probable label), `class_rule` (the "
        "rule's label passed its threshold) or `abstain` (below the abstain threshold: the label "
        "is the model's best guess; send the text to a person)."
    )
    probabilities: dict[str, float] = Field(
        description="A calibrated probability per label, in the model's label order."
    )


class PredictResponse(BaseModel):
    backend: str = Field(description="What computed the logits, e.g. `torch-fp32`, `onnx-int8`.")
    predictions: list[Prediction] = Field(description="One per text, in the request's order.")


class Problem(BaseModel):
    """Every error answer: one line to show a person, and the details."""

    message: str = Field(description="What was wrong, in one line.")
    detail: Any = Field(
        default=None, description="For a malformed request, each problem with where it was."
    )


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    backend: str
    batches: int = Field(description="Batches the model has run since the server started.")
    texts: int = Field(description="Texts those batches held.")
    mean_batch: float = Field(description="Texts per batch, on average.")
    busy_seconds: float = Field(
        description="Seconds the workers have spent predicting, added up over the workers."
    )
    workers: int = Field(description="Batches the server predicts at the same time at most.")
    queued: int = Field(description="Texts waiting for the model now.")


class Score(BaseModel):
    value: float
    low: float = Field(description="The confidence interval's lower end.")
    high: float


class TestMetrics(BaseModel):
    """The run's test figures (metrics.json), with bootstrap confidence intervals."""

    test_rows: int
    confidence_level: float
    accuracy: Score
    macro_f1: Score
    weighted_f1: Score
    f1: dict[str, Score] = Field(description="F1 per label.")


class ClassRule(BaseModel):
    label: str
    threshold: float = Field(
        description="The label is given whenever its probability reaches this."
    )
    target: str = Field(description="What the threshold was chosen for on validation.")
    value: float


class DecisionRules(BaseModel):
    abstain_below: float | None = Field(
        description="A text whose top probability is below this is sent to a person."
    )
    class_rule: ClassRule | None


class Limits(BaseModel):
    max_text_chars: int = Field(description="Characters per text at most (413 above).")
    max_texts: int = Field(description="Texts per request at most (413 above).")
    max_batch: int = Field(description="Texts the model predicts together at most.")
    max_wait_ms: float = Field(description="How long a text waits for others to join its batch.")
    max_tokens: int = Field(description="Tokens the model reads per text; the rest is cut.")


class ModelCardSummary(BaseModel):
    """From the model card (model/README.md) that evaluate writes."""

    title: str
    summary: str
    intended_use: str | None
    limitations: list[str]


class Metadata(BaseModel):
    name: str = Field(description="The run's name (its folder).")
    labels: list[str]
    fields: list[str] | None = Field(
        default=None,
        description="The text fields the model reads, in order, for a model trained on several "
        '(send {"fields": {...}}); None: it reads one text.',
    )
    text_pair: bool = Field(
        default=False, description="Whether the two fields are encoded as a sentence pair."
    )
    backend: str
    temperature: float = Field(
        description="The logits are divided by this before the softmax (1: not calibrated)."
    )
    decision_rules: DecisionRules
    metrics: TestMetrics | None = Field(description="None when the run was not evaluated.")
    model_card: ModelCardSummary | None
    limits: Limits
