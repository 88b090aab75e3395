"""Time expressions in a question ("last week", "in December 2021", "since Monday") → a date window.

The window is relative to `as_of` (the day the question is asked about, default today) and only
boosts search (time is a boost, not a wall, see DESIGN.md). Calendar phrases are handled by the
rules below, because their meaning is a span ("last week" = Monday to Sunday of the previous
week), not one instant; single dates inside a phrase ("since March 3", "on 20 Dec 2021") are read
by dateparser.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Callable

Window = tuple[dt.date, dt.date]

_MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
_MONTHS.update({name.lower(): i for i, name in enumerate(calendar.month_abbr) if name})
_MONTHS["sept"] = 9
_MONTH = r"(?P<month>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_YEAR = r"(?P<year>(?:19|20)\d\d)"
_DAYNUM = r"(?P<day>[0-3]?\d)(?:st|nd|rd|th)?"
_WEEKDAYS = {name.lower(): i for i, name in enumerate(calendar.day_name)}
_WEEKDAY = r"(?P<weekday>" + "|".join(_WEEKDAYS) + r")"
_NUMBERS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
            "eight": 8, "nine": 9, "ten": 10, "few": 3, "couple of": 2}
_COUNT = r"(?P<count>\d{1,3}|" + "|".join(_NUMBERS) + r")"


def _month_window(year: int, month: int) -> Window:
    return dt.date(year, month, 1), dt.date(year, month, calendar.monthrange(year, month)[1])


def _previous_month(day: dt.date) -> Window:
    last = day.replace(day=1) - dt.timedelta(days=1)
    return _month_window(last.year, last.month)


def _last_weekday(as_of: dt.date, weekday: int) -> dt.date:
    """The most recent such weekday before as_of ("since Monday" asked on a Monday means a week ago)."""
    back = (as_of.weekday() - weekday) % 7 or 7
    return as_of - dt.timedelta(days=back)


def _month_year(m: re.Match[str], as_of: dt.date) -> tuple[int, int]:
    """A month named without a year is the latest such month not after as_of."""
    month = _MONTHS[m.group("month").lower()]
    if m.groupdict().get("year"):
        return int(m.group("year")), month
    return (as_of.year if month <= as_of.month else as_of.year - 1), month


def _count(m: re.Match[str]) -> int:
    raw = m.group("count").lower()
    return int(raw) if raw.isdigit() else _NUMBERS[raw]


def _span(unit: str, n: int) -> dt.timedelta:
    return dt.timedelta(days=n * {"day": 1, "week": 7, "month": 30, "year": 365}[unit])


def _parse_day(text: str, as_of: dt.date) -> dt.date | None:
    import dateparser

    base = dt.datetime.combine(as_of, dt.time(12))
    parsed = dateparser.parse(
        text,
        languages=["en"],
        settings={"RELATIVE_BASE": base, "PREFER_DATES_FROM": "past", "PREFER_DAY_OF_MONTH": "first"},
    )
    return parsed.date() if parsed else None


def _since(m: re.Match[str], as_of: dt.date) -> Window | None:
    phrase = m.group("what").strip()
    if phrase.lower() in _WEEKDAYS:
        return _last_weekday(as_of, _WEEKDAYS[phrase.lower()]), as_of
    month_only = re.fullmatch(_MONTH + r"(?:\s+" + _YEAR + r")?", phrase, re.I)
    if month_only:
        year, month = _month_year(month_only, as_of)
        return dt.date(year, month, 1), as_of
    start = _parse_day(phrase, as_of)
    return (start, as_of) if start and start <= as_of else None


def _day(m: re.Match[str], as_of: dt.date) -> Window | None:
    year, month = _month_year(m, as_of)
    try:
        day = dt.date(year, month, int(m.group("day")))
    except ValueError:
        return None
    return day, day


UPCOMING = dt.timedelta(days=14)  # how far back news of an event still to come is current

Rule = tuple[re.Pattern[str], Callable[[re.Match[str], dt.date], "Window | None"]]

# First match wins; more specific phrases come first.
_RULES: list[Rule] = [
    (re.compile(r"\bsince\s+(?P<what>(?:last\s+)?[\w ,.]+?)\s*(?=[?!;]|$|,\s|\s(?:and|when|who|what|how)\b)", re.I),
     _since),
    (re.compile(rf"\b{_MONTH}\s+{_DAYNUM}(?:,?\s+{_YEAR})?\b", re.I), _day),
    (re.compile(rf"\b{_DAYNUM}\s+(?:of\s+)?{_MONTH}(?:,?\s+{_YEAR})?\b", re.I), _day),
    (re.compile(r"\b(?:today|tonight|this (?:morning|afternoon|evening))\b", re.I), lambda m, d: (d, d)),
    (re.compile(r"\byesterday\b", re.I), lambda m, d: (d - dt.timedelta(days=1),) * 2),
    (re.compile(r"\b(?:this|the current) week\b", re.I),
     lambda m, d: (d - dt.timedelta(days=d.weekday()), d)),
    (re.compile(r"\blast week\b", re.I),
     lambda m, d: (d - dt.timedelta(days=d.weekday() + 7), d - dt.timedelta(days=d.weekday() + 1))),
    # an event to come is reported before it: "next week" asks for the latest news, not old news
    (re.compile(r"\b(?:next|the coming|the upcoming|coming) (?:week|month|year|weekend)\b", re.I),
     lambda m, d: (d - UPCOMING, d)),
    (re.compile(r"\b(?:this|the current) month\b", re.I), lambda m, d: (d.replace(day=1), d)),
    (re.compile(r"\blast month\b", re.I), lambda m, d: _previous_month(d)),
    (re.compile(r"\bthis year\b", re.I), lambda m, d: (dt.date(d.year, 1, 1), d)),
    (re.compile(r"\blast year\b", re.I), lambda m, d: (dt.date(d.year - 1, 1, 1), dt.date(d.year - 1, 12, 31))),
    (re.compile(rf"\b(?:past|last|previous)\s+{_COUNT}\s+(?P<unit>day|week|month|year)s?\b", re.I),
     lambda m, d: (d - _span(m.group("unit").lower(), _count(m)), d)),
    (re.compile(r"\b(?:past|last|previous) (?P<unit>day|week|month|year)\b", re.I),
     lambda m, d: (d - _span(m.group("unit").lower(), 1), d)),
    (re.compile(rf"\b{_COUNT}\s+(?P<unit>day|week)s?\s+ago\b", re.I),
     lambda m, d: ((d - _span(m.group("unit").lower(), _count(m))),) * 2),
    (re.compile(rf"\b(?:on|last)\s+{_WEEKDAY}\b", re.I),
     lambda m, d: (_last_weekday(d, _WEEKDAYS[m.group("weekday").lower()]),) * 2),
    (re.compile(rf"\b(?:in|during|of|from)\s+(?:early\s+|late\s+|mid-?)?{_MONTH}(?:,?\s+{_YEAR})?\b", re.I),
     lambda m, d: _month_window(*_month_year(m, d))),
    (re.compile(rf"\b{_MONTH}\s+{_YEAR}\b", re.I), lambda m, d: _month_window(*_month_year(m, d))),
    (re.compile(rf"\b(?:in|during|of)\s+{_YEAR}\b", re.I),
     lambda m, d: (dt.date(int(m.group("year")), 1, 1), dt.date(int(m.group("year")), 12, 31))),
]


def parse_window(question: str, as_of: dt.date) -> Window | None:
    """The date window a question names, relative to as_of; None when it names no time."""
    for pattern, window in _RULES:
        m = pattern.search(question)
        if m:
            found = window(m, as_of)
            if found:
                return found
    return None


RECENT = dt.timedelta(days=14)  # as long as the search's default recency boost
_RECENT = re.compile(r"\b(?:[Rr]ecent(?:ly)?|[Ll]atest|[Nn]ewly|new)\b")  # "New York" is a name, not a time


def recent_window(question: str, as_of: dt.date) -> Window | None:
    """"NASA recently announced…", "the new owner of…": no date named, but the news of now asked
    for. Only the caveat uses it: an answer drawn only from sources older than the last RECENT
    days says how old they are (pipeline.dated_caveat); search favours recent news without it."""
    return (as_of - RECENT, as_of) if _RECENT.search(question) else None
