"""Reading a config: a ready config or YAML file, `--set` overrides, and validation into `Config`.

Errors name the file and the key, on one line.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from domaintune.config.sections import DEFAULT_CONFIG, Config
from domaintune.errors import UserError


def ready_configs() -> dict[str, Path]:
    """The configs shipped with domaintune, by name."""
    folder = Path(str(resources.files("domaintune.config") / "ready"))
    return {path.stem: path for path in sorted(folder.glob("*.yaml"))}


def resolve_config_path(name_or_path: str) -> Path:
    """A YAML path as given, or the name of a ready config (e.g. `drug-reviews`)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    ready = ready_configs()
    if name_or_path in ready:
        return ready[name_or_path]
    raise UserError(
        f"config '{name_or_path}' not found: give a YAML file or one of {', '.join(ready)}"
    )


def parse_override(text: str) -> tuple[list[str], Any]:
    """`section.key=value` -> (['section', 'key'], value parsed as YAML)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise UserError(f"override '{text}' must look like section.key=value")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.strip().split("."), value


def set_key(values: dict[str, Any], keys: list[str], value: Any, *, shown: str) -> None:
    """Set one dotted key in a nested dict; the key's validity is checked by `Config` afterwards."""
    node = values
    for key in keys[:-1]:
        child = node.setdefault(key, {})
        if child is None:  # an optional section left unset, e.g. evaluate.decision
            child = node[key] = {}
        if not isinstance(child, dict):
            raise UserError(f"override '{shown}': '{key}' is not a section")
        node = child
    node[keys[-1]] = value


def apply_override(values: dict[str, Any], text: str) -> None:
    """Apply one `--set section.key=value`, its value parsed as YAML."""
    keys, value = parse_override(text)
    set_key(values, keys, value, shown=text)


def build_config(
    values: dict[str, Any],
    overrides: list[str] = (),
    *,
    source: str = "config",
    settings: Mapping[str, Any] | None = None,
) -> Config:
    """Validate raw values plus overrides into a `Config`; errors name the offending key.

    `settings` (dotted key -> value) are set as given, before the overrides, never parsed: the
    quick-start flags take a column named `[usd]` or `yes` as that text, not as YAML.
    """
    values = dict(values)
    for key, value in (settings or {}).items():
        set_key(values, key.split("."), value, shown=f"{key}={value}")
    for override in overrides:
        apply_override(values, override)
    try:
        return Config.model_validate(values)
    except ValidationError as error:
        first = error.errors()[0]
        key = ".".join(str(part) for part in first["loc"]) or "(top level)"
        message = first["msg"].removeprefix("Value error, ")  # pydantic's prefix to our own
        if first["type"] == "extra_forbidden":
            message = "unknown key: check its spelling in `domaintune config show`"
        raise UserError(f"{source}: {key}: {message}") from None


def load_config(
    name_or_path: str | None = None,
    overrides: list[str] = (),
    *,
    settings: Mapping[str, Any] | None = None,
) -> Config:
    """Load a ready config or YAML file (the default task when None) and apply settings and
    overrides (see `build_config`)."""
    path = resolve_config_path(name_or_path or DEFAULT_CONFIG)
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError as error:
        raise UserError(
            f"{path}: not UTF-8 text (byte {error.start}): save the config as UTF-8"
        ) from None
    except yaml.YAMLError as error:
        raise UserError(f"{path}: not valid YAML ({error.__class__.__name__})") from None
    if not isinstance(values, dict):
        raise UserError(f"{path}: a config must be a mapping of sections")
    values.setdefault("task", {}).setdefault("name", path.stem)
    return build_config(values, overrides, source=str(path), settings=settings)
