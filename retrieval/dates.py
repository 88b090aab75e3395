"""Publication dates as the shared data writes them (2025/04/11, ISO 8601, RFC 822, empty)."""

from __future__ import annotations

import calendar
import datetime as dt
import time


def user_date(value: object, name: str = "date") -> dt.date | None:
    """A date a person typed (YYYY-MM-DD) or passed as a date; a malformed one is refused with a
    message naming the option, unlike `parse_date`'s best effort over publishers' dates."""
    from retrieval.errors import QuestionError

    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise QuestionError(f"{name}: {value!r} is not a date like 2021-12-20 (YYYY-MM-DD)") from None


def parse_date(value: object) -> dt.date | None:
    """Best-effort date of publication; None when absent or unreadable (never a guess of today)."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, time.struct_time):  # feedparser's *_parsed fields
        return dt.date(value.tm_year, value.tm_mon, value.tm_mday)
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):  # epoch seconds; NaN, infinities and the absurd are no date
        try:
            day = dt.datetime.fromtimestamp(value, tz=dt.timezone.utc).date()
        except (ValueError, OverflowError, OSError):
            return None
        return day if 1900 <= day.year <= 2100 else None
    from dateutil import parser

    text = str(value).strip()
    try:
        parsed = parser.parse(text, default=dt.datetime(1900, 1, 1))
    except (ValueError, OverflowError):
        return None
    if parsed.year < 1900 or parsed.year > 2100:
        return None
    return parsed.date()


def to_epoch(day: dt.date) -> int:
    """Midnight UTC of the day, as integer seconds, so Chroma's $gte/$lte filters work."""
    return calendar.timegm(day.timetuple())


def from_epoch(seconds: int | float | None) -> dt.date | None:
    if seconds is None or seconds < 0:
        return None
    return dt.datetime.fromtimestamp(int(seconds), tz=dt.timezone.utc).date()
