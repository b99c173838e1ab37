from __future__ import annotations

import pytest

from domaintune.data.dates import normalize_dates


@pytest.mark.parametrize(
    ("written", "iso"),
    [
        ("2015-02-24", "2015-02-24"),
        ("2015/02/24", "2015-02-24"),
        ("02/24/2015", "2015-02-24"),
        ("24/02/2015", "2015-02-24"),
        ("24.02.2015", "2015-02-24"),
        ("February 24, 2015", "2015-02-24"),
        ("Feb. 24th 2015", "2015-02-24"),
        ("24 Feb 2015", "2015-02-24"),
        ("24th of February, 2015", "2015-02-24"),
        ("sept 3 2015", "2015-09-03"),
    ],
)
def test_every_written_form_becomes_iso(written: str, iso: str) -> None:
    assert normalize_dates(f"flew on {written}, late", style="iso") == f"flew on {iso}, late"


def test_ambiguous_numeric_dates_follow_the_configured_order() -> None:
    assert normalize_dates("03/04/2024", style="iso", order="MDY") == "2024-03-04"
    assert normalize_dates("03/04/2024", style="iso", order="DMY") == "2024-04-03"


@pytest.mark.parametrize("text", ["3/4 of the seats", "31/02/2024", "version 1.2.2024b", "May I"])
def test_non_dates_and_impossible_dates_are_left_alone(text: str) -> None:
    assert normalize_dates(text, style="iso") == text


def test_token_style_replaces_the_date() -> None:
    assert normalize_dates("due 2024-01-05 ok", style="token") == "due <date> ok"
