"""Stable identifiers: the same article gets the same id on every machine and every run."""

from __future__ import annotations

import hashlib
import re
from urllib.parse import urlsplit, urlunsplit


def _digest(*parts: str, size: int = 16) -> str:
    h = hashlib.blake2b(digest_size=size)
    for part in parts:
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\x1f")
    return h.hexdigest()


def normalize_url(url: str) -> str:
    """Drop what does not change the page: scheme case, fragment, trailing slash, tracking."""
    parts = urlsplit(url.strip())
    query = "&".join(
        q for q in parts.query.split("&") if q and not q.lower().startswith(("utm_", "fbclid="))
    )
    path = parts.path.rstrip("/") or "/"
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, query, ""))


def _normalize_text(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def article_id(url: str, title: str, body: str) -> str:
    """From the URL when there is one, so an edited article keeps its id; else from its text."""
    if url:
        return _digest("url", normalize_url(url))
    return _digest("text", _normalize_text(title), _normalize_text(body))


def body_hash(body: str) -> str:
    return _digest("body", _normalize_text(body))


def content_hash(*fields: str) -> str:
    return _digest("content", *fields, size=8)


def chunk_id(article_id: str, index: int, content_hash: str) -> str:
    return f"{article_id}:{content_hash}:{index}"
