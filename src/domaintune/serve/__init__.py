"""`domaintune serve`: the model of a run behind HTTP (FastAPI, run by uvicorn), with a page to
try it. `app` builds the app, `batching` gathers concurrent requests into batches, `schemas`
holds the API's request and response models, `metadata` what `/metadata` says, `server` binds
and runs it. FastAPI and uvicorn come with the `serve` extra: `pip install 'domaintune[serve]'`.
"""

from __future__ import annotations

from importlib.util import find_spec
from typing import Any

from pydantic import ValidationError

from domaintune.config import ServeConfig
from domaintune.errors import UserError

SERVER_LIBRARIES = ("fastapi", "uvicorn")


def check_server_libraries() -> None:
    """Fail with the install command, before anything loads, when FastAPI or uvicorn is missing."""
    missing = [name for name in SERVER_LIBRARIES if find_spec(name) is None]
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
