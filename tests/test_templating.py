"""The Jinja set-up of the report and the model card: what is escaped, what is not, and how
scores print."""

from __future__ import annotations

import pytest
from jinja2 import DictLoader, UndefinedError

from domaintune.templating import environment, score

TEXT = "<script>alert('a user\\'s text')</script> & co"
"""A label name or example text from a user's data."""


def with_templates(templates: dict[str, str]):
    """The report's environment (its autoescape rule, filters, strictness) over `templates`."""
    loaded = environment("report/templates")
    loaded.loader = DictLoader(templates)
    return loaded


def test_html_templates_escape_what_they_are_given_and_markdown_ones_do_not() -> None:
    """Catches a user's text run as a script in report.html, or Markdown turned into `&lt;`."""
    loaded = with_templates({"page.html.j2": "<p>{{ text }}</p>", "notes.md.j2": "{{ text }}"})
    html = loaded.get_template("page.html.j2").render(text=TEXT)
    assert "<script>" not in html and "&lt;script&gt;" in html and "&amp; co" in html
    assert loaded.get_template("notes.md.j2").render(text=TEXT) == TEXT


def test_the_shipped_templates_load_with_the_escaping_their_kind_needs() -> None:
    shipped = {
        "report/templates": {
            "report.html.j2": True,
            "report.md.j2": False,
            "report_multilabel.md.j2": False,
            "report_regression.md.j2": False,
            "report_generation.md.j2": False,
        },
        "evaluate/templates": {
            "model_card.md.j2": False,
            "model_card_multilabel.md.j2": False,
            "model_card_regression.md.j2": False,
            "model_card_generation.md.j2": False,
        },
    }
    for folder, escaped in shipped.items():
        loaded = environment(folder)
        assert sorted(loaded.list_templates()) == sorted(escaped)
        for name, escapes in escaped.items():
            source, _, _ = loaded.loader.get_source(loaded, name)
            loaded.parse(source)  # its syntax; the filters each stage adds are checked there
            assert loaded.autoescape(name) is escapes, name


@pytest.mark.parametrize(("value", "shown"), [(0.5, "0.500"), (0.12345, "0.123"), (1, "1.000")])
def test_score_prints_three_decimals(value: float, shown: str) -> None:
    assert score(value) == shown
    assert with_templates({}).from_string("{{ value | score }}").render(value=value) == shown


def test_a_missing_value_fails_instead_of_printing_nothing() -> None:
    """Catches a report sentence with a blank where a figure should be."""
    with pytest.raises(UndefinedError):
        with_templates({"page.md.j2": "macro-F1 {{ macro_f1 }}"}).get_template(
            "page.md.j2"
        ).render()
