"""The Jinja set-up of every document domaintune writes: the report and the model card.

HTML templates escape what they are given (label names and example texts come from users' data);
Markdown templates are left as written, and made safe where Markdown becomes HTML.
"""

from __future__ import annotations

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape


def score(value: float) -> str:
    """A metric as the documents print it: three decimals."""
    return f"{value:.3f}"


def environment(templates: str) -> Environment:
    """A Jinja environment over the package folder `templates` (e.g. "report/templates")."""
    loaded = Environment(
        loader=PackageLoader("domaintune", templates),
        autoescape=select_autoescape(disabled_extensions=("md.j2",), default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    loaded.filters["score"] = score
    return loaded
