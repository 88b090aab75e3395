"""What the store holds, as plain data: a stored chunk, an article's stored versions, the metadata
written with each chunk, and Chroma's filter for dates and outlets (no chromadb import here)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from retrieval.dates import from_epoch, to_epoch
from retrieval.types import Article, Chunk

NO_DATE = -1  # published_ts of undated articles: outside every date filter


@dataclass
class StoredChunk:
    id: str
    text: str
    meta: dict[str, Any]
    similarity: float | None = None  # cosine similarity, for dense query results

    @property
    def article_id(self) -> str:
        return str(self.meta["article_id"])

    @property
    def index(self) -> int:
        return int(self.meta.get("chunk", 0))

    @property
    def published(self) -> dt.date | None:
        return from_epoch(self.meta.get("published_ts", NO_DATE))


@dataclass
class ArticleState:
    """What the store holds of one article: chunk counts per content hash seen."""

    chunks: dict[str, int] = field(default_factory=dict)  # content hash → chunks stored
    expected: dict[str, int] = field(default_factory=dict)  # content hash → n_chunks claimed
    body_hash: str = ""
    also: str = ""  # outlets whose copies were folded into it (JSON), carried over to a new version

    def complete(self, content_hash: str) -> bool:
        n = self.chunks.get(content_hash, 0)
        return n > 0 and n == self.expected.get(content_hash)


def chunk_metadata(article: Article, chunk: Chunk, n_chunks: int, version: str, dense: bool) -> dict[str, Any]:
    return {
        "article_id": article.id,
        "content_hash": version,  # the article's content under this ingest configuration
        "body_hash": article.body_hash,
        "title": article.title,
        "source": article.source,
        "source_key": article.source.lower(),
        "url": article.url,
        "authors": ", ".join(article.authors),
        "published": article.published_iso,
        "published_ts": to_epoch(article.published) if article.published else NO_DATE,
        "chunk": chunk.index,
        "n_chunks": n_chunks,
        "dense": dense,  # False: not embedded; kept beside the vector collection, searched by BM25 only
    }


def also_reported(meta: dict[str, Any]) -> tuple[str, ...]:
    """The other outlets that ran this story, from the chunk's `also` field (a JSON list)."""
    own = str(meta.get("source", "")).lower()
    names = [str(e.get("source") or e.get("url") or "") for e in also_entries(meta)]
    return tuple(n for n in dict.fromkeys(names) if n and n.lower() != own)


def also_entries(meta: dict[str, Any]) -> list[dict[str, str]]:
    try:
        entries = json.loads(str(meta.get("also") or "[]"))
    except ValueError:
        return []
    return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []


def where_clause(
    since: dt.date | None = None, until: dt.date | None = None, sources: Sequence[str] = ()
) -> dict[str, Any] | None:
    """Chroma's metadata filter for a date range (inclusive days) and a set of outlets."""
    terms: list[dict[str, Any]] = []
    if since or until:  # undated articles are outside every date range (lexical search agrees)
        terms.append({"published_ts": {"$ne": NO_DATE}})
    if since:
        terms.append({"published_ts": {"$gte": to_epoch(since)}})
    if until:
        terms.append({"published_ts": {"$lte": to_epoch(until)}})
    if sources:
        keys = [s.lower() for s in sources]
        terms.append({"source_key": {"$in": keys}} if len(keys) > 1 else {"source_key": keys[0]})
    if not terms:
        return None
    return terms[0] if len(terms) == 1 else {"$and": terms}
