"""Plain-text rendering of answers and sources, shared by `newsbot ask` and the REPL."""

from __future__ import annotations

import json
from typing import Any

from retrieval import Answer, Citation


def source_line(c: Citation) -> str:
    """`[n] outlet · date · title · url` — the same line everywhere a source is listed."""
    parts = [c.source or "unknown outlet", c.published.isoformat() if c.published else "undated", c.title]
    if c.url:
        parts.append(c.url)
    return f"[{c.n}] " + " · ".join(parts)


def answer_text(answer: Answer) -> str:
    lines = [answer.text]
    if answer.citations:
        lines += ["", "Sources:"] + [source_line(c) for c in answer.citations]
    return "\n".join(lines)


def answer_json(answer: Answer) -> str:
    data: dict[str, Any] = answer.to_dict()
    data["citations"] = [
        {k: c[k] for k in ("n", "title", "source", "published", "url", "quote")} for c in data["citations"]
    ]
    return json.dumps(data, ensure_ascii=False, indent=2)
