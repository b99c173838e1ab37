"""`domaintune serve`: the model of a run behind HTTP (FastAPI, run by uvicorn), with a page to
try it. `app` builds the app, `batching` gathers concurrent requests into batches, `schemas`
holds the API's request and response models, `metadata` what `/metadata` says, `server` binds
and runs it. FastAPI, uvicorn and fastapi-offline come with the `serve` extra:
`pip install 'domaintune[serve]'`.
"""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from domaintune.config import ServeConfig
from domaintune.errors import UserError
from domaintune.multilabel import is_multi_label
from domaintune.regression import is_regression
from domaintune.rundir import read_json

SERVER_LIBRARIES = ("fastapi", "uvicorn", "fastapi_offline")
BACKENDS = ("auto", "torch", "torch-fp32", "torch-bf16", "onnx")
"""`predict.choose.BACKENDS`, checked here before the model's libraries load (seconds)."""


def check_server_libraries() -> None:
    """Fail with the install command, before anything loads, when FastAPI or uvicorn is missing."""
    missing = [name.replace("_", "-") for name in SERVER_LIBRARIES if find_spec(name) is None]
    if missing:
        raise UserError(
            f"domaintune serve needs {' and '.join(missing)}: pip install 'domaintune[serve]'"
        )


def with_options(serve: ServeConfig, **options: Any) -> ServeConfig:
    """The config's `serve` section with the command-line options given (not None) over it."""
    given = {key: value for key, value in options.items() if value is not None}
    try:
        return ServeConfig.model_validate({**serve.model_dump(), **given})
    except ValidationError as error:
        first = error.errors()[0]
        option = "--" + str(first["loc"][0]).replace("_", "-") if first["loc"] else "serve"
        raise UserError(f"{option}: {first['msg']}") from None


def check_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise UserError(f"--backend {backend}: choose {', '.join(BACKENDS)}")


def check_model_path(path: Path) -> None:
    """Refuse at once, before the model's libraries load (seconds), a path holding no model."""
    if not (path / "config.json").is_file() and not (path / "model" / "config.json").is_file():
        raise UserError(
            f"{path} is not a model folder nor a run directory holding one (no model/config.json):"
            " give runs/NAME of a trained run"
        )
    config = (
        path / "config.json" if (path / "config.json").is_file() else path / "model/config.json"
    )
    raw = read_json(config)
    kind = raw.get("problem_type") if isinstance(raw, dict) else None
    if is_multi_label(kind) or is_regression(kind):
        raise UserError(
            f"{path} holds a {kind} model: serve is not supported for it yet; use "
            "`domaintune predict`"
        )
