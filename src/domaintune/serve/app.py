"""The HTTP app: `create_app(run)` loads the run's model once and answers

- `POST /predict`: one text (`{"text": ...}`) or several (`{"texts": [...]}`), or for a model of
  several text fields one object of fields (`{"fields": {"subject": ..., "body": ...}}`) or a list
  of them -> per text the label,
  calibrated probabilities, confidence and decision, from the one prediction path
  (`Predictor.decide`: normalised as in training, calibrated, the run's decision rules applied);
- `GET /health`: alive, and how the batcher has batched;
- `GET /metadata`: labels, test metrics with intervals, backend, decision rules, limits, and a
  summary of the model card;
- `GET /`: a page to type a text and see the label and a probability bar per label;
- `/docs`, `/redoc` and `/openapi.json`: FastAPI's OpenAPI documents, from the models in
  `schemas.py`; the documentation pages' scripts come from fastapi-offline, served from here, not
  from a CDN, so they work on a machine without internet as the page does.

Texts from all requests go through one `MicroBatcher`, so concurrent clients share batches.
Every bad request is answered 4xx with a JSON `{"message": one line, "detail": ...}`: 422 for a
malformed one, 413 for one past the limits (`serve` in the config), never a 500.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi_offline import FastAPIOffline
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from domaintune.config import ServeConfig
from domaintune.data.fields import TextFields
from domaintune.predict import Predictor
from domaintune.rundir import version
from domaintune.serve.batching import MicroBatcher
from domaintune.serve.metadata import read_metadata
from domaintune.serve.schemas import (
    Health,
    Limits,
    Metadata,
    PredictRequest,
    PredictResponse,
    Problem,
)
from domaintune.serve.workers import Workers, load_workers, warm_up

PAGE_POLICY = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'"
)
"""The page loads nothing from elsewhere (it works offline); the browser is told to refuse it too."""
UNREADABLE_BODY = "There was an error parsing the body"
"""FastAPI's detail for a body it could not read as JSON for another reason than a syntax error."""
JSON_ESCAPED_CHAR_BYTES = 12
"""The most bytes one character of a text can take in a JSON body: a character outside the Basic
Multilingual Plane written as two escapes (`\\ud83d\\ude00`)."""


class BodyLimit:
    """Refuse (413) a request body larger than any the limits allow, before it is read whole:
    at once when its Content-Length says so, else as soon as the bytes received pass it.

    The error is raised from `receive`, inside the app, so it is answered as JSON by the app's
    handler; FastAPI's own `max_body_size` answers in plain text outside it.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int, message: str) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.message = message

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        received = 0

        async def limited() -> Message:
            nonlocal received
            if declared.isdigit() and int(declared) > self.max_bytes:
                raise HTTPException(413, self.message)
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise HTTPException(413, self.message)
            return message

        await self.app(scope, limited, send)


def one_line(error: dict[str, Any]) -> str:
    """A validation error as a person reads it: where in the request, and what is wrong."""
    where = ".".join(str(part) for part in error.get("loc", ()) if part != "body") or "body"
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    reason = (error.get("ctx") or {}).get("error")
    if error.get("type") == "json_invalid":
        return f"the body is not valid JSON ({reason} at character {where})"
    if error.get("type") == "missing" and where == "body":
        return 'the body is missing: send JSON such as {"text": "..."}'
    return f"{where}: {message}"


def parts(request: PredictRequest, index: int, text: str | dict[str, str]) -> list[tuple[str, str]]:
    """Each text of one input, with where it is in the request (for the size limit's answer)."""
    if isinstance(text, str):
        return [("the text" if request.text is not None else f"texts[{index}]", text)]
    where = "fields" if isinstance(request.fields, dict) else f"fields[{index}]"
    return [(f"{where}.{name}", value) for name, value in text.items()]


def check_kind(request: PredictRequest, fields: TextFields | None) -> None:
    """Refuse (422) inputs of a kind the model does not read: the one-line answer says what to
    send instead."""
    names = [] if fields is None else list(fields.names)
    if fields is None and request.fields is not None:
        raise RequestValidationError(
            [invalid(["body", "fields"], 'this model reads one text: send {"text": "..."}')]
        )
    if fields is not None and request.fields is None:
        example = ", ".join(f'"{name}": "..."' for name in names)
        key = "text" if request.text is not None else "texts"
        raise RequestValidationError(
            [
                invalid(
                    ["body", key],
                    f"this model reads the fields {', '.join(names)}: send "
                    f'{{"fields": {{{example}}}}}',
                )
            ]
        )
    if fields is None:
        return
    objects = [request.fields] if isinstance(request.fields, dict) else list(request.fields or [])
    for index, given in enumerate(objects):
        where = ["body", "fields"] + ([] if isinstance(request.fields, dict) else [index])
        missing = [name for name in names if name not in given]
        unknown = [name for name in given if name not in names]
        if missing or unknown:
            what = (
                f"no field '{missing[0]}'"
                if missing
                else f"a field '{unknown[0]}' it does not read"
            )
            raise RequestValidationError(
                [invalid(where, f"has {what} (this model reads {', '.join(names)})")]
            )


def invalid(loc: list[Any], message: str) -> dict[str, Any]:
    """A validation error as pydantic words one, so every 422 answer has the same shape."""
    return {"loc": loc, "msg": message, "type": "value_error"}


def problem(status: int, message: str, detail: Any = None, **kwargs: Any) -> JSONResponse:
    body = Problem(message=message, detail=detail if detail is not None else message)
    return JSONResponse(body.model_dump(mode="json"), status_code=status, **kwargs)


def create_app(
    path: str | Path,
    *,
    serve: ServeConfig | None = None,
    backend: str = "auto",
    predictor: Predictor | None = None,
) -> FastAPI:
    """The app serving the model of the run directory (or model folder) `path`; `predictor`,
    when given, is used instead of loading one (it must be that folder's)."""
    path = Path(path)
    serve = serve or ServeConfig()
    workers = (
        Workers(predictor)
        if predictor is not None
        else load_workers(path, backend=backend, workers=serve.workers)
    )
    predictor = workers.predictor
    if not workers.processes:  # a ModelProcess warms its own copy up
        warm_up(predictor)
    limits = Limits(
        max_text_chars=serve.max_text_chars,
        max_texts=serve.max_texts,
        max_batch=serve.max_batch,
        max_wait_ms=serve.max_wait_ms,
        max_tokens=predictor.max_length,
    )
    try:
        metadata = read_metadata(path, predictor, limits=limits)
    except BaseException:
        workers.close()
        raise
    batcher = MicroBatcher(
        workers.functions(),
        max_batch=serve.max_batch,
        max_wait_ms=serve.max_wait_ms,
    )
    page = resources.files("domaintune.serve").joinpath("page.html").read_text(encoding="utf-8")
    backend_name = predictor.backend.name

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await batcher.start()
        yield
        await batcher.stop()

    app = FastAPIOffline(  # FastAPI whose /docs and /redoc load their scripts from this server
        title=f"domaintune: {metadata.name}",
        version=version(),
        description=(
            f"Labels texts with the model of run `{metadata.name}` ({', '.join(metadata.labels)}): "
            "calibrated probabilities and the run's decision rules, as `domaintune predict` gives "
            "them. Requests arriving together are predicted in one batch."
        ),
        lifespan=lifespan,
    )
    fields = predictor.fields
    per_input = len(fields.names) if fields is not None else 1  # each field up to the limit
    app.add_middleware(
        BodyLimit,
        max_bytes=serve.max_texts
        * per_input
        * (serve.max_text_chars * JSON_ESCAPED_CHAR_BYTES + 80)
        + 4096,
        message=f"the request body is too large: send at most {serve.max_texts} texts of at "
        f"most {serve.max_text_chars} characters each",
    )
    app.state.batcher = batcher
    app.state.predictor = predictor
    app.state.workers = workers
    app.state.metadata = metadata
    errors = {413: {"model": Problem}, 422: {"model": Problem}}

    @app.exception_handler(RequestValidationError)
    async def malformed(request: Request, error: RequestValidationError) -> JSONResponse:
        found = error.errors()
        detail = [
            {"loc": list(item.get("loc", ())), "msg": item.get("msg"), "type": item.get("type")}
            for item in found
        ]
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        return problem(422, one_line(found[0]) + more if found else "malformed request", detail)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        if error.status_code == 400 and error.detail == UNREADABLE_BODY:
            # FastAPI's answer when json.loads fails other than with a JSONDecodeError: bytes
            # that are not UTF-8, or arrays nested past Python's recursion limit. Malformed, as
            # any other invalid JSON is.
            message = "the body is not valid JSON (not UTF-8 text, or nested too deeply)"
            return problem(
                422, message, [{"loc": ["body"], "msg": message, "type": "json_invalid"}]
            )
        return problem(
            error.status_code, str(error.detail), headers=getattr(error, "headers", None)
        )

    @app.post(
        "/predict",
        response_model=PredictResponse,
        responses=errors,
        summary="Label one text or a list of texts",
        description=(
            f"At most {serve.max_texts} texts of at most {serve.max_text_chars} characters each; "
            "more is refused with 413. A malformed request (not JSON, unknown keys, a text that "
            "is not a string or is blank, an empty list, not exactly one of `text`, `texts` and "
            "`fields`, `fields` for a model of one text or a text for a model of several fields, "
            "an object of fields lacking one or naming an unknown one) is refused with 422."
        ),
    )
    async def predict(request: PredictRequest) -> PredictResponse:
        texts = request.all_texts()
        check_kind(request, fields)
        if len(texts) > serve.max_texts:
            raise HTTPException(
                413, f"{len(texts)} texts in one request; the limit is {serve.max_texts}"
            )
        for index, text in enumerate(texts):
            for where, value in parts(request, index, text):
                if len(value) > serve.max_text_chars:
                    raise HTTPException(
                        413,
                        f"{where} has {len(value)} characters; the limit is {serve.max_text_chars}",
                    )
        predictions = await batcher.submit(texts)  # type: ignore[arg-type]
        return PredictResponse(backend=backend_name, predictions=predictions)

    @app.get("/health", response_model=Health, summary="Whether the server is up, and its batches")
    async def health() -> Health:
        counts = batcher.counts
        return Health(
            backend=backend_name,
            batches=counts.batches,
            texts=counts.texts,
            mean_batch=round(counts.mean_size, 3),
            busy_seconds=round(counts.busy_seconds, 6),
            workers=len(batcher.workers),
            queued=batcher.queued,
        )

    @app.get("/metadata", response_model=Metadata, summary="The model: labels, test figures, rules")
    async def describe() -> Metadata:
        return metadata

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def home() -> HTMLResponse:
        return HTMLResponse(page, headers={"Content-Security-Policy": PAGE_POLICY})

    return app
