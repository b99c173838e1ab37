"""Whether the Hugging Face Hub can be reached, asked once, so that offline runs fail fast.

Without it, `from_pretrained` and `load_dataset` retry for about 30 seconds before giving up. When
the Hub is unreachable, loaders are told to use the local Hugging Face cache only.
"""

from __future__ import annotations

import os
import socket
from functools import cache
from urllib.parse import urlparse

TIMEOUT_SECONDS = 3.0


@cache
def hub_reachable() -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in {"1", "true", "yes"}:
        return False
    from huggingface_hub import constants

    host = urlparse(constants.ENDPOINT).hostname or "huggingface.co"
    try:
        socket.create_connection((host, 443), timeout=TIMEOUT_SECONDS).close()
    except OSError:
        return False
    return True


def local_only(name_or_path: str) -> bool:
    """True when `name_or_path` must come from a local folder or the local cache."""
    return os.path.isdir(name_or_path) or not hub_reachable()
