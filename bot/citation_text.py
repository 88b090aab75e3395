"""How a cited source reads in plain text, shared by every front-end so a source looks the same in
a terminal, a pipe and Slack: `[n] outlet · date · title · url`."""

from __future__ import annotations

from retrieval import Citation

UNKNOWN_OUTLET = "unknown outlet"
UNDATED = "undated"


def outlet(c: Citation) -> str:
    return c.source or UNKNOWN_OUTLET


def date_text(c: Citation) -> str:
    return c.published.isoformat() if c.published else UNDATED


def also_text(c: Citation) -> str:
    """"also reported by X, Y" for a story other outlets ran too ("" when none did)."""
    return f"also reported by {', '.join(c.also)}" if c.also else ""


def source_line(c: Citation) -> str:
    """`[n] outlet · date · title · url · also reported by …` — the same line everywhere a source
    is listed as text."""
    parts = [outlet(c), date_text(c), c.title]
    if c.url:
        parts.append(c.url)
    if c.also:
        parts.append(also_text(c))
    return f"[{c.n}] " + " · ".join(parts)
