"""When to poll a feed next: the watcher's interval, the feed's own ttl, backoff after failures.

A feed is never polled sooner than it asks (RSS `<ttl>`, `sy:updatePeriod`, Cache-Control
max-age) — publishers block readers that ignore it — but what it asks is capped, so a feed
saying "once a week" still shows the day's news. A failing feed backs off exponentially, so a
dead site costs a request every few hours rather than every few minutes.
"""

from __future__ import annotations

import os
import random
from typing import Any

from retrieval.errors import ConfigError

DEFAULT_EVERY = 600  # seconds between polls of a feed that asks nothing else (NEWSBOT_WATCH_EVERY)
MAX_TTL = 24 * 3600  # the most a feed's own ttl / max-age may stretch the interval
MAX_BACKOFF = 6 * 3600  # the longest wait after repeated failures
JITTER = 0.05  # up to 5% (at most a minute) added, so feeds added together drift apart

_PERIODS = {"hourly": 3600, "daily": 86400, "weekly": 7 * 86400, "monthly": 30 * 86400, "yearly": 365 * 86400}


def parse_duration(text: str | int | float, what: str = "duration") -> int:
    """`30s`, `10m`, `1h`, `1h30m` (or plain seconds) → whole seconds; anything else is a ConfigError."""
    if isinstance(text, (int, float)):
        seconds: Any = text
    else:
        from pytimeparse2 import parse

        seconds = parse(text.strip()) if text.strip() else None
    if seconds is None or seconds < 0:
        raise ConfigError(f"{what} {text!r} is not a duration such as 30s, 10m, 1h or 1h30m")
    return int(round(seconds))


def default_every() -> int:
    """The watcher's interval: NEWSBOT_WATCH_EVERY, read when asked (never at import), else 10m."""
    raw = os.environ.get("NEWSBOT_WATCH_EVERY", "").strip()
    return parse_duration(raw, "NEWSBOT_WATCH_EVERY") if raw else DEFAULT_EVERY


def interval(every: float, ttl: float = 0) -> float:
    """Seconds between two successful polls: our interval, or longer when the feed asks for it."""
    return max(every, min(ttl, MAX_TTL))


def backoff(every: float, failures: int) -> float:
    """Seconds before retrying a feed that failed `failures` times in a row: every × 2^failures."""
    return min(every * 2 ** min(failures, 30), max(MAX_BACKOFF, every))


def next_poll(last_poll: float, every: float, ttl: float = 0, failures: int = 0, jitter: bool = True) -> float:
    wait = backoff(every, failures) if failures else interval(every, ttl)
    if jitter:
        wait += random.uniform(0, min(wait * JITTER, 60.0))
    return last_poll + wait


def feed_ttl(feed: Any) -> int:
    """What a parsed feed (feedparser's `feed.feed`) asks: `<ttl>` minutes or `sy:updatePeriod`
    divided by `sy:updateFrequency`; 0 when it says nothing usable."""
    asked = 0
    try:
        asked = int(float(feed.get("ttl") or 0) * 60)
    except (TypeError, ValueError):
        pass
    period = _PERIODS.get(str(feed.get("sy_updateperiod", "")).strip().lower(), 0)
    if period:
        try:
            frequency = max(1, int(str(feed.get("sy_updatefrequency") or 1).strip()))
        except ValueError:
            frequency = 1
        asked = max(asked, period // frequency)
    return max(0, asked)


def human_duration(seconds: float) -> str:
    """600 → `10m`, 5400 → `1h30m`, 90061 → `1d1h`: two units at most."""
    seconds = int(round(max(0.0, seconds)))
    if seconds < 60:
        return f"{seconds}s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts[:2])


def relative(when: float, now: float) -> str:
    """An epoch as a person reads it beside `now`: `in 10m`, `3m ago`, `now`, `never` (0)."""
    if not when:
        return "never"
    delta = when - now
    if abs(delta) < 1:
        return "now"
    return f"in {human_duration(delta)}" if delta > 0 else f"{human_duration(-delta)} ago"


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
