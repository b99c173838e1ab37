"""The HTTP API through FastAPI's test client, on a tiny random classifier: answers, limits,
malformed requests, batching of concurrent requests, and the documents it serves."""

from __future__ import annotations

import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from domaintune.config import ServeConfig
from domaintune.errors import UserError
from domaintune.predict import Predictor
from domaintune.predict.backends import auto_precision
from domaintune.rundir import RunDir
from domaintune.runfiles import DecisionRules, SavedClassRule
from domaintune.serve import check_server_libraries, with_options
from domaintune.serve.app import create_app
from tests.runfile_examples import LABELS

TEXTS = [
    "thanks great flight &amp; friendly crew",
    "late delayed cancelled lost bag",
    "seat change for my booking tomorrow",
    "the",
]
LIMITS = ServeConfig(max_text_chars=200, max_texts=5, max_batch=8, max_wait_ms=2)


@pytest.fixture(scope="module")
def app(served_run: RunDir):
    return create_app(served_run.root, serve=LIMITS)


@pytest.fixture
def client(app) -> TestClient:
    with TestClient(app) as client:
        yield client


TORCH_ON_THIS_MACHINE = f"torch-{auto_precision()}"
"""What `auto` runs without an export: bf16 where the CPU has bf16 units, else fp32."""


def expected(run: Path, texts: list[str], *, backend: str = "auto") -> list[dict]:
    """What `Predictor.decide` gives for `texts`, in the API's shape."""
    table = Predictor(run, backend=backend).decide(texts)
    return [
        {
            "label": row["label"],
            "confidence": row["confidence"],
            "decision": row["decision"],
            "probabilities": {label: row[f"p_{label}"] for label in LABELS},
        }
        for _, row in table.iterrows()
    ]


def assert_same(answers: list[dict], wanted: list[dict]) -> None:
    assert len(answers) == len(wanted)
    for answer, want in zip(answers, wanted):
        assert answer["label"] == want["label"]
        assert answer["decision"] == want["decision"]
        assert answer["confidence"] == pytest.approx(want["confidence"], abs=1e-5)
        assert list(answer["probabilities"]) == LABELS
        assert answer["probabilities"] == pytest.approx(want["probabilities"], abs=1e-5)


def test_one_text_and_a_list_get_what_predictor_decide_gives(
    client: TestClient, served_run: RunDir
) -> None:
    """Catches a server whose answers differ from `domaintune predict` (texts not normalised,
    no temperature, labels shifted, a list answered out of order)."""
    wanted = expected(served_run.root, TEXTS)

    one = client.post("/predict", json={"text": TEXTS[0]})
    several = client.post("/predict", json={"texts": TEXTS})

    assert one.status_code == 200, one.text
    assert one.json()["backend"] == TORCH_ON_THIS_MACHINE
    assert_same(one.json()["predictions"], wanted[:1])
    assert several.status_code == 200, several.text
    assert_same(several.json()["predictions"], wanted)


def test_the_runs_decision_rules_decide_each_text(run_copy: RunDir) -> None:
    """Catches a server that gives the bare argmax where the run has a class rule and an
    abstain threshold (predict and evaluate apply them)."""
    probabilities = Predictor(run_copy.root).predict_proba(TEXTS)
    neutral = sorted(probabilities[:, LABELS.index("neutral")])
    rule = SavedClassRule(label="neutral", threshold=float(neutral[2]), target="recall", value=0.9)
    DecisionRules(abstain_below=0.99, class_rule=rule).write(run_copy.decision_rules)
    wanted = expected(run_copy.root, TEXTS)
    assert {row["decision"] for row in wanted} == {"class_rule", "abstain"}

    with TestClient(create_app(run_copy.root, serve=LIMITS)) as client:
        answer = client.post("/predict", json={"texts": TEXTS})
        rules = client.get("/metadata").json()["decision_rules"]

    assert_same(answer.json()["predictions"], wanted)
    assert rules["abstain_below"] == 0.99
    assert rules["class_rule"]["label"] == "neutral"


def test_concurrent_requests_are_predicted_together_and_each_gets_its_own_answer(
    served_run: RunDir,
) -> None:
    """Catches a server that predicts each request alone (many single-text clients would get
    batch-1 throughput) or mixes up answers between the requests of one batch. The count is
    the batcher's own, of batches the model really ran. fp32 on both sides: under bf16 a text's
    probabilities move by ~1e-5 with the padding of whichever batch it lands in, which the
    threads decide."""
    texts = [f"{TEXTS[index % 4]} {'great ' * (index % 5)}#{index}" for index in range(24)]
    wanted = expected(served_run.root, texts, backend="torch-fp32")
    settings = ServeConfig(max_batch=32, max_wait_ms=300)

    with TestClient(create_app(served_run.root, serve=settings, backend="torch-fp32")) as client:
        batcher = client.app.state.batcher
        with ThreadPoolExecutor(max_workers=len(texts)) as pool:
            answers = list(
                pool.map(lambda text: client.post("/predict", json={"text": text}), texts)
            )

    assert all(answer.status_code == 200 for answer in answers)
    for answer, want in zip(answers, wanted):
        assert_same(answer.json()["predictions"], [want])
    assert batcher.counts.texts == len(texts)
    assert batcher.counts.batches <= len(texts) // 4, batcher.counts.sizes


MALFORMED = {
    "invalid JSON": dict(
        content=b'{"text": "unclosed', headers={"content-type": "application/json"}
    ),
    "no body": {},
    "not an object": dict(json=["a text"]),
    "a number as text": dict(json={"text": 3}),
    "null text": dict(json={"text": None}),
    "a number in texts": dict(json={"texts": ["fine", 3]}),
    "texts not a list": dict(json={"texts": "one text"}),
    "empty text": dict(json={"text": ""}),
    "blank text": dict(json={"text": " \n\t "}),
    "a blank text in texts": dict(json={"texts": ["fine", "  "]}),
    "empty list": dict(json={"texts": []}),
    "unknown field": dict(json={"text": "fine", "lang": "en"}),
    "both text and texts": dict(json={"text": "a", "texts": ["b"]}),
    "neither": dict(json={}),
    "a lone surrogate": dict(
        content=b'{"text": "bad \\ud800 text"}', headers={"content-type": "application/json"}
    ),
    "not sent as JSON": dict(content=b'{"text": "fine"}', headers={"content-type": "text/plain"}),
    "not UTF-8": dict(content=b'{"text": "caf\xe9"}', headers={"content-type": "application/json"}),
    "nested too deeply": dict(
        content=b"[" * 3000 + b"]" * 3000, headers={"content-type": "application/json"}
    ),
}


@pytest.mark.parametrize("request_args", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_request_gets_422_with_a_message(client: TestClient, request_args) -> None:
    """Catches a bad request answered 500 (the model fed a non-text, a tokenizer crashing on a
    lone surrogate) or 200 (a typo'd field ignored), or a 422 without a readable message."""
    answer = client.post("/predict", **request_args)

    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert isinstance(body["message"], str) and body["message"]
    assert "\n" not in body["message"]
    assert isinstance(body["detail"], list) and body["detail"]


TOO_LARGE = {
    "a text too long": ({"text": "a" * 201}, "201 characters; the limit is 200"),
    "one of the texts too long": ({"texts": ["ok", "b" * 300]}, "texts[1] has 300 characters"),
    "too many texts": ({"texts": ["ok"] * 6}, "6 texts in one request; the limit is 5"),
}


@pytest.mark.parametrize(("body", "says"), TOO_LARGE.values(), ids=TOO_LARGE.keys())
def test_a_request_past_the_limits_gets_413_saying_which(
    client: TestClient, body: dict, says: str
) -> None:
    """Catches limits not enforced (one client holding the model for minutes) or refused with a
    status or message that does not say what to change."""
    answer = client.post("/predict", json=body)

    assert answer.status_code == 413, answer.text
    assert says in answer.json()["message"]


def test_a_body_too_large_is_refused_before_it_is_read(client: TestClient) -> None:
    """Catches a server that reads a body of any size into memory (declared, or streamed in
    chunks without a length) before looking at the limits."""
    huge = b'{"text": "' + b"a" * 2_000_000 + b'"}'

    def chunks():
        yield huge[:100]
        for start in range(100, len(huge), 100_000):
            yield huge[start : start + 100_000]

    declared = client.post("/predict", content=huge, headers={"content-type": "application/json"})
    streamed = client.post(
        "/predict", content=chunks(), headers={"content-type": "application/json"}
    )

    for answer in (declared, streamed):
        assert answer.status_code == 413, answer.text
        assert "too large" in answer.json()["message"]


def test_wrong_paths_and_methods_are_4xx_with_a_message(client: TestClient) -> None:
    """Catches an error answer of another shape than the API's (a client reads `message`)."""
    for answer, status in ((client.get("/predict"), 405), (client.get("/nowhere"), 404)):
        assert answer.status_code == status
        assert answer.json()["message"]


def test_health_counts_the_batches_run(client: TestClient) -> None:
    """Catches a health check that answers without the model's batcher running, or whose counts
    (read by bench/serve_load.py) do not move with the requests."""
    before = client.get("/health").json()
    client.post("/predict", json={"texts": TEXTS[:3]})
    after = client.get("/health").json()

    assert after["status"] == "ok"
    assert after["backend"] == TORCH_ON_THIS_MACHINE
    assert after["texts"] - before["texts"] == 3
    assert 1 <= after["batches"] - before["batches"] <= after["workers"]  # idle workers share


def test_metadata_has_labels_metrics_with_intervals_rules_limits_and_the_card(
    client: TestClient,
) -> None:
    """Catches metadata that drops the test figures' intervals, the limits a client must keep
    to, or the model card's intended use and limitations."""
    meta = client.get("/metadata").json()

    assert meta["name"] == "tickets"
    assert meta["labels"] == LABELS
    assert meta["backend"] == TORCH_ON_THIS_MACHINE
    assert meta["temperature"] == 1.5
    assert meta["metrics"]["macro_f1"] == {"value": 0.8, "low": 0.7, "high": 0.9}
    assert set(meta["metrics"]["f1"]) == set(LABELS)
    assert meta["metrics"]["test_rows"] == 99
    assert meta["decision_rules"] == {"abstain_below": None, "class_rule": None}
    assert meta["limits"] == {
        "max_text_chars": 200,
        "max_texts": 5,
        "max_batch": 8,
        "max_wait_ms": 2.0,
        "max_tokens": 64,
    }
    card = meta["model_card"]
    assert card["title"] == "tickets"
    assert card["summary"].startswith("A text classifier for customer messages")
    assert card["intended_use"] == (
        "Read the tone of a customer's message, so that complaints are answered first."
    )
    assert card["limitations"] == [
        "The weakest class is 'neutral'.",
        "Texts longer than 64 tokens are cut.",
    ]


def test_a_model_folder_outside_a_run_is_served_without_metrics(
    served_run: RunDir, tmp_path: Path
) -> None:
    """Catches a server that needs a finished run: a bare model folder (no metrics.json, no
    model card) is served, and its metadata says what is missing as null."""
    folder = tmp_path / "bare"
    shutil.copytree(served_run.model, folder)
    (folder / "README.md").unlink()

    with TestClient(create_app(folder)) as client:
        meta = client.get("/metadata").json()
        answer = client.post("/predict", json={"text": "thanks"})

    assert answer.status_code == 200
    assert meta["metrics"] is None and meta["model_card"] is None
    assert meta["name"] == "bare"


def test_the_openapi_document_describes_every_endpoint_and_model(client: TestClient) -> None:
    """Catches endpoints without request or response models (/docs would show bare `object`s
    and clients could not be generated from it), and a /docs page whose scripts come from a CDN
    (blank on a machine without internet)."""
    document = client.get("/openapi.json").json()
    docs = client.get("/docs")

    assert docs.status_code == 200 and "openapi.json" in docs.text
    scripts = re.findall(r"<script src=['\"]([^'\"]+)", docs.text)
    assert scripts and all(script.startswith("/") for script in scripts), scripts
    assert all(client.get(script).status_code == 200 for script in scripts)
    assert {"/predict", "/health", "/metadata"} <= set(document["paths"])
    predict = document["paths"]["/predict"]["post"]
    assert predict["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/PredictRequest"
    )
    assert {"200", "413", "422"} <= set(predict["responses"])
    schemas = document["components"]["schemas"]
    assert {"PredictRequest", "PredictResponse", "Prediction", "Problem", "Metadata"} <= set(
        schemas
    )
    assert schemas["Prediction"]["properties"]["decision"]["enum"] == [
        "model",
        "class_rule",
        "abstain",
    ]


def test_the_page_loads_nothing_from_elsewhere(client: TestClient) -> None:
    """Catches a page that pulls a script, style or font from a CDN: it would break offline and
    leak who uses the server. The page refers only to its own server, and says so to the
    browser (Content-Security-Policy)."""
    page = client.get("/")

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "connect-src 'self'" in page.headers["content-security-policy"]
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", page.text)
    assert not re.search(r"fetch\(\s*[\"'](https?:)?//", page.text)
    assert 'id="text"' in page.text and 'id="go"' in page.text


def test_missing_server_libraries_name_the_extra_to_install(monkeypatch) -> None:
    """Catches a bare ImportError traceback where `pip install 'domaintune[serve]'` is the fix."""
    import domaintune.serve as serve

    monkeypatch.setattr(serve, "find_spec", lambda name: None if name == "uvicorn" else object())
    with pytest.raises(UserError, match=r"needs uvicorn: pip install 'domaintune\[serve\]'"):
        check_server_libraries()


def test_command_line_options_override_the_config_and_are_checked() -> None:
    """Catches options ignored in favour of the config (or the reverse), and a bad option value
    reaching uvicorn instead of one error line naming the option."""
    config = ServeConfig(port=9000, max_batch=16)

    settings = with_options(config, port=None, max_batch=4, max_wait_ms=1.5)

    assert (settings.port, settings.max_batch, settings.max_wait_ms) == (9000, 4, 1.5)
    with pytest.raises(UserError, match="--max-batch"):
        with_options(config, max_batch=0)


def test_the_early_backend_check_takes_what_the_predictor_takes() -> None:
    """Catches the copy in `serve` (checked before the model's libraries load) drifting from
    `predict.choose.BACKENDS`: a backend refused by one and taken by the other."""
    from domaintune.predict.choose import BACKENDS as PREDICTOR_BACKENDS
    from domaintune.serve import BACKENDS

    assert BACKENDS == PREDICTOR_BACKENDS


TICKETS = [
    {"subject": "Refund", "body": "charged twice for one order"},
    {"subject": "", "body": "my password reset code expired"},
]


@pytest.fixture(scope="module")
def fields_client(ticket_classifier: Path):
    with TestClient(create_app(ticket_classifier, serve=LIMITS)) as client:
        yield client


def test_a_model_of_fields_takes_objects_of_them(
    fields_client: TestClient, ticket_classifier: Path
) -> None:
    """One object or a list: each answered as `Predictor.decide` answers it."""
    table = Predictor(ticket_classifier).decide(TICKETS)
    one = fields_client.post("/predict", json={"fields": TICKETS[0]})
    several = fields_client.post("/predict", json={"fields": TICKETS})
    assert one.status_code == 200, one.text
    assert several.status_code == 200, several.text
    assert [p["label"] for p in several.json()["predictions"]] == table["label"].tolist()
    assert one.json()["predictions"][0] == several.json()["predictions"][0]
    meta = fields_client.get("/metadata").json()
    assert meta["fields"] == ["subject", "body"] and meta["text_pair"] is False


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"text": "charged twice"},
            'text: this model reads the fields subject, body: send {"fields"',
        ),
        ({"fields": {"body": "charged twice"}}, "fields: has no field 'subject'"),
        (
            {"fields": [TICKETS[0], {**TICKETS[1], "priority": "high"}]},
            "fields.1: has a field 'priority' it does not read",
        ),
        ({"fields": {"subject": " ", "body": ""}}, "must hold a text in one field at least"),
        ({"fields": []}, "fields"),
        ({"text": "x", "fields": TICKETS[0]}, 'give one of "text"'),
    ],
)
def test_the_wrong_kind_of_input_for_a_model_of_fields_is_422(
    fields_client: TestClient, body: dict, message: str
) -> None:
    answer = fields_client.post("/predict", json=body)
    assert answer.status_code == 422, answer.text
    assert message in answer.json()["message"]
    assert "\n" not in answer.json()["message"]


def test_a_field_past_the_limit_is_413_naming_it(fields_client: TestClient) -> None:
    answer = fields_client.post(
        "/predict", json={"fields": [TICKETS[0], {"subject": "x", "body": "a" * 201}]}
    )
    assert answer.status_code == 413
    assert answer.json()["message"] == "fields[1].body has 201 characters; the limit is 200"


def test_fields_for_a_model_of_one_text_are_422(client: TestClient) -> None:
    answer = client.post("/predict", json={"fields": TICKETS[0]})
    assert answer.status_code == 422
    assert 'this model reads one text: send {"text": "..."}' in answer.json()["message"]
