"""Named fields → a clean Article: the one place an article's text, title, authors and date are
normalised, whichever reader (JSON, front matter, HTML, feeds, plain text) found them."""

from __future__ import annotations

import re
from typing import Any

from retrieval.dates import parse_date
from retrieval.errors import LoadError
from retrieval.ids import article_id
from retrieval.types import Article

MAX_TITLE = 120
MAX_ARTICLE_CHARS = 2_000_000  # one article's text; a 20 MiB document is mostly markup


def article_from_fields(body: str, fields: dict[str, Any], origin: str) -> Article:
    """An article from named fields, as front matter and JSON records both give them (each
    field under its usual name or its common alias)."""
    return make_article(
        body=body,
        title=str(fields.get("title") or ""),
        source=str(fields.get("source") or fields.get("outlet") or ""),
        url=str(fields.get("url") or fields.get("link") or ""),
        authors=fields.get("authors") or fields.get("author") or (),
        published=fields.get("published") or fields.get("date"),
        origin=origin,
    )


def make_article(
    *,
    body: str,
    title: str = "",
    source: str = "",
    url: str = "",
    authors: Any = (),
    published: Any = None,
    origin: str = "",
) -> Article:
    if len(body) > MAX_ARTICLE_CHARS:
        raise LoadError(f"article text of {len(body):,} characters is over the {MAX_ARTICLE_CHARS:,} an article may have")
    body = _clean(body)
    if not body:
        raise LoadError("no article text")
    title = " ".join(_CONTROL.sub("", str(title)).split()) or derive_title(body)
    source = _CONTROL.sub("", source)
    if isinstance(authors, str):
        authors = [a.strip() for a in re.split(r",| and ", authors) if a.strip()]
    elif not isinstance(authors, (list, tuple)):  # a number, an object: one name, as written
        authors = [authors] if authors not in (None, "") else []
    url = url.strip()
    return Article(
        id=article_id(url, title, body),
        title=title,
        body=body,
        source=source.strip() or _host(url),
        url=url,
        authors=tuple(_CONTROL.sub("", str(a)) for a in authors),
        published=parse_date(published),
        origin=origin,
    )


# Control characters other than newline and tab (C0, DEL, C1): an article's ESC sequences would
# otherwise reach every terminal that prints it (colours, cursor moves, OSC 8 links).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _clean(text: str) -> str:
    text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = re.sub(r"[ \t\u00a0]+", " ", text)
    text = re.sub(r"\n\s*\n+", "\n\n", text)
    return text.strip()


def derive_title(body: str) -> str:
    """The first sentence, cut at a word boundary: better than 'Untitled' in a source list."""
    first = re.split(r"(?<=[.!?])\s|\n", body.strip(), maxsplit=1)[0].strip()
    if len(first) <= MAX_TITLE:
        return first
    return first[:MAX_TITLE].rsplit(" ", 1)[0] + "…"


def _host(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).netloc.lower().removeprefix("www.") if url else ""
