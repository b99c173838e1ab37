"""Find dates written in their many forms and write each one way: ISO 8601 or a placeholder.

Only dates with a year are touched: "3/4" may be a fraction and "March 15" lacks the year that ISO
needs. No library finds dates inside free text both fast and conservatively (dateparser's search
reads "may" and "second" as dates), so the forms are listed here, and each match is checked with
`datetime.date` before it is replaced.
"""

from __future__ import annotations

import datetime
import re
from typing import Literal

DATE_TOKEN = "<date>"
MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}
_MONTH = r"(?P<{}>" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\.?"
_DAY = r"(?P<{}>[0-3]?\d)(?:st|nd|rd|th)?"
_YEAR = r"(?P<{}>(?:19|20)\d\d)"
DATE_PATTERN = re.compile(
    r"\b(?:"
    # 2024-03-15, 2024/03/15, 2024.03.15
    + r"{y}(?P<s1>[-/.])(?P<m1>[01]?\d)(?P=s1)(?P<d1>[0-3]?\d)".format(y=_YEAR.format("y1"))
    # 15/03/2024, 03-15-2024, 15.03.2024: the order is ambiguous, see date_order
    + r"|(?P<a2>[0-3]?\d)(?P<s2>[-/.])(?P<b2>[0-3]?\d)(?P=s2){y}".format(y=_YEAR.format("y2"))
    # March 15, 2024; Mar. 15th 2024
    + r"|{m},?\s+{d},?\s+{y}".format(
        m=_MONTH.format("m3"), d=_DAY.format("d3"), y=_YEAR.format("y3")
    )
    # 15 March 2024; 15th of March, 2024
    + r"|{d}\s+(?:of\s+)?{m},?\s+{y}".format(
        d=_DAY.format("d4"), m=_MONTH.format("m4"), y=_YEAR.format("y4")
    )
    + r")\b",
    re.IGNORECASE,
)


def _parts(match: re.Match, *, order: Literal["MDY", "DMY"]) -> tuple[int, int, int] | None:
    """Year, month and day of a match, or None when the numbers make no calendar sense."""
    groups = match.groupdict()
    if groups["y1"]:
        return int(groups["y1"]), int(groups["m1"]), int(groups["d1"])
    if groups["y2"]:
        first, second = int(groups["a2"]), int(groups["b2"])
        if first > 12 or (second <= 12 and order == "DMY"):
            first, second = second, first  # the first number is the day
        return int(groups["y2"]), first, second
    if groups["y3"]:
        return int(groups["y3"]), MONTHS[groups["m3"].lower()], int(groups["d3"])
    return int(groups["y4"]), MONTHS[groups["m4"].lower()], int(groups["d4"])


def normalize_dates(
    text: str, *, style: Literal["iso", "token"], order: Literal["MDY", "DMY"] = "MDY"
) -> str:
    """Every date with a year as ISO 8601 (`iso`) or as `<date>` (`token`)."""

    def replace(match: re.Match) -> str:
        parts = _parts(match, order=order)
        try:
            date = datetime.date(*parts) if parts else None
        except ValueError:
            date = None
        if date is None:
            return match.group(0)
        return date.isoformat() if style == "iso" else DATE_TOKEN

    return DATE_PATTERN.sub(replace, text)
