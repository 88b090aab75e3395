"""With remote.py (a server's client), the only module importing chromadb: chunks, vectors, metadata.

Chroma is the single store: the lexical index and the ingest state are derived from what is
here, so pointing NEWSBOT_CHROMA_URL at a server moves everything.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from retrieval.dates import from_epoch, to_epoch
from retrieval.index.changes import ChangeLog
from retrieval.index.chroma_functions import ChromaEmbeddingFunction, NoEmbedding
from retrieval.index.embeddings import Embedder
from retrieval.index.remote import server_client
from retrieval.errors import BackendError
from retrieval.settings import DEFAULT_CHROMA_HNSW, Settings
from retrieval.types import Article, ArticleHit, Chunk, Passage

log = logging.getLogger(__name__)

PAGE = 2000  # rows per Chroma get() when scanning the whole collection
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
        "dense": dense,  # False: stored under its article's lead vector, searched lexically only
    }


def also_reported(meta: dict[str, Any]) -> tuple[str, ...]:
    """The other outlets that ran this story, from the chunk's `also` field (a JSON list)."""
    own = str(meta.get("source", "")).lower()
    names = [str(e.get("source") or e.get("url") or "") for e in _also(meta)]
    return tuple(n for n in dict.fromkeys(names) if n and n.lower() != own)


def _also(meta: dict[str, Any]) -> list[dict[str, str]]:
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


class ChromaStore:
    """A Chroma collection (local PersistentClient, or HttpClient when a server URL is set)."""

    def __init__(self, settings: Settings, embedder: Embedder) -> None:
        self.settings = settings
        self.embedder = embedder
        self._collection: Any = None
        self._client: Any = None
        self._changes: ChangeLog | None = None
        self._retired: Any = None  # the Chroma system a reopen replaced (reopen below)
        self._system: Any = None  # the local Chroma system the client was made on

    @property
    def collection(self) -> Any:
        if self._collection is None or self._behind():
            self._collection = self._open()
        return self._collection

    @property
    def client(self) -> Any:
        """The Chroma client; other collections beside the articles (feeds, the change log) share it."""
        if self._client is None or self._behind():
            self._client, self._collection, self._changes = self._connect(), None, None
            self._system = _local_system(self.settings)
        return self._client

    def _behind(self) -> bool:
        """Another store object in this process reopened the local store (reopen below)."""
        return self._client is not None and not self.settings.chroma_url and _local_system(self.settings) is not self._system

    def _connect(self) -> Any:
        if self.settings.chroma_url:  # a server that stops is a BackendError there, and no reopen here
            return server_client(self.settings.chroma_url)
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        try:
            self.settings.chroma_path.mkdir(parents=True, exist_ok=True)
            return chromadb.PersistentClient(path=str(self.settings.chroma_path), settings=ChromaSettings(anonymized_telemetry=False))
        except Exception as e:
            raise BackendError(f"cannot open the Chroma store at {self.where}: {e}") from e

    @property
    def where(self) -> str:
        return self.settings.chroma_url or str(self.settings.chroma_path)

    def side_collection(self, suffix: str) -> Any:
        """A small collection beside the articles (`news_feeds`, `news_changes`): records that
        need no search, so each gets the one-dimensional vector [1.0] and no embedding function."""
        try:
            return self.client.get_or_create_collection(
                name=f"{self.settings.collection}_{suffix}", embedding_function=NoEmbedding()
            )
        except BackendError:
            raise
        except Exception as e:
            raise BackendError(f"cannot open the Chroma collection {suffix!r} at {self.where}: {e}") from e

    def _open(self) -> Any:
        try:
            return self.client.get_or_create_collection(
                name=self.settings.collection,
                embedding_function=ChromaEmbeddingFunction(self.embedder),
                configuration={"hnsw": {"space": "cosine", **DEFAULT_CHROMA_HNSW}},
                metadata={"embedder": self.embedder.name},
            )
        except BackendError:
            raise
        except Exception as e:
            raise BackendError(f"cannot open the Chroma collection at {self.where}: {e}") from e

    # --- writing -------------------------------------------------------------------------------

    @property
    def changes(self) -> ChangeLog:
        """The log every write goes to first, so derived indexes can follow (changes.py)."""
        if self._changes is None:
            self._changes = ChangeLog(self.side_collection("changes"))
        return self._changes

    def upsert(
        self, ids: list[str], texts: list[str], metas: list[dict[str, Any]], vectors: list[list[float]]
    ) -> None:
        """All together or not at all, up to Chroma's batch limit (5,461 rows locally); past it in
        slices: an article cut short counts as incomplete, and the next ingest stores it again."""
        self.changes.append(add=ids)
        for i in range(0, len(ids), step := max(1, int(self.client.get_max_batch_size()))):
            part = slice(i, i + step)
            self.collection.upsert(ids=ids[part], documents=texts[part], metadatas=metas[part], embeddings=vectors[part])

    def delete_chunks(self, ids: list[str]) -> None:
        if ids:
            self.changes.append(delete=ids)
            step = max(1, int(self.client.get_max_batch_size()))
            for i in range(0, len(ids), step):
                self.collection.delete(ids=ids[i:i + step])

    def add_outlet(self, article_id: str, source: str, url: str) -> bool:
        """Record that another outlet ran this story (a folded copy). False if already known."""
        found = self.collection.get(where={"article_id": article_id}, include=["metadatas"])
        if not found["ids"]:
            return False
        meta = found["metadatas"][0] or {}
        entries = _also(meta)
        if url == meta.get("url") or any(e.get("url") == url for e in entries):
            return False
        also = json.dumps(entries + [{"source": source, "url": url}], ensure_ascii=False)
        self.collection.update(ids=found["ids"], metadatas=[{"also": also}] * len(found["ids"]))
        return True

    def absorb(self, story_id: str, old_id: str) -> bool:
        """A newer version replaces a story: the old one's outlets move to it, its chunks go."""
        old = self.collection.get(where={"article_id": old_id}, include=["metadatas"])
        if not old["ids"]:
            return False
        meta = old["metadatas"][0] or {}
        for entry in [{"source": str(meta.get("source", "")), "url": str(meta.get("url", ""))}, *_also(meta)]:
            if entry.get("url"):
                self.add_outlet(story_id, str(entry.get("source", "")), str(entry["url"]))
        self.delete_chunks(list(old["ids"]))
        return True

    def update_metadata(self, ids: list[str], metas: list[dict[str, Any]]) -> None:
        """Merge these fields into the chunks' metadata (text and vectors unchanged: not logged)."""
        if ids:
            self.collection.update(ids=ids, metadatas=metas)

    def stories_with_keys(self, keys: Sequence[str]) -> list[StoredChunk]:
        """The lead chunk of every story sharing an LSH band key with these (syndication.py)."""
        bands: dict[str, list[str]] = {}
        for key in keys:
            bands.setdefault(f"lsh_{key.split(':', 1)[0]}", []).append(key)
        if not bands:
            return []
        terms = [{field: {"$in": values}} for field, values in bands.items()]
        match = terms[0] if len(terms) == 1 else {"$or": terms}
        found = self.collection.get(where={"$and": [{"chunk": 0}, match]}, include=["metadatas"])
        return [StoredChunk(i, "", m or {}) for i, m in zip(found["ids"], found["metadatas"])]

    def delete_stale(self, article_id: str, keep_hash: str) -> int:
        """Remove chunks of an older version of the article (after the new ones are stored)."""
        found = self.collection.get(where={"article_id": article_id}, include=["metadatas"])
        stale = [i for i, m in zip(found["ids"], found["metadatas"]) if m.get("content_hash") != keep_hash]
        self.delete_chunks(stale)
        return len(stale)

    def reopen(self) -> None:
        """See chunks another process wrote. A Chroma server serves them at once; a local
        PersistentClient keeps the vector index it loaded, so it must load it again."""
        if self.settings.chroma_url or self._client is None:
            return
        from chromadb.api.shared_system_client import SharedSystemClient

        # the old system is stopped one reopen later, not now: a search may still be using it
        if self._retired is not None:
            self._retired.stop()
        self._retired = SharedSystemClient._identifier_to_system.pop(str(self.settings.chroma_path), None)
        self._client = self._collection = self._changes = self._system = None

    # --- reading -------------------------------------------------------------------------------

    @property
    def key(self) -> str:
        """Names this collection's contents across processes: a recreated collection gets a new id."""
        return f"{self.settings.collection}-{self.collection.id}"

    def revision(self) -> str:
        """Changes whenever the stored chunks do (for caches of derived data)."""
        latest = max((c.ts for c in self.changes.since(0)), default=0)
        return f"{self.key}:{self.count()}:{latest}"

    def count(self) -> int:
        return int(self.collection.count())

    def scan(self, include_text: bool = True) -> Iterator[StoredChunk]:
        include = ["metadatas", "documents"] if include_text else ["metadatas"]
        offset = 0
        while True:
            page = self.collection.get(include=include, limit=PAGE, offset=offset)
            ids = page["ids"]
            if not ids:
                return
            texts = page.get("documents") or [""] * len(ids)
            for i, text, meta in zip(ids, texts, page["metadatas"]):
                yield StoredChunk(i, text or "", meta or {})
            offset += len(ids)

    def article_states(
        self, article_ids: Sequence[str] | None = None, body_hashes: Sequence[str] = ()
    ) -> dict[str, ArticleState]:
        """What is stored of these articles, and of any article with one of these bodies
        (all articles when `article_ids` is None): one lookup, not a scan, for a few new ones."""
        if article_ids is None:
            found: Iterable[StoredChunk] = self.scan(include_text=False)
        else:
            terms = [{"article_id": {"$in": list(article_ids)}}] if article_ids else []
            terms += [{"body_hash": {"$in": list(body_hashes)}}] if body_hashes else []
            if not terms:
                return {}
            got = self.collection.get(where=terms[0] if len(terms) == 1 else {"$or": terms}, include=["metadatas"])
            found = [StoredChunk(i, "", m or {}) for i, m in zip(got["ids"], got["metadatas"])]
        states: dict[str, ArticleState] = {}
        for c in found:
            state = states.setdefault(c.article_id, ArticleState())
            h = str(c.meta.get("content_hash", ""))
            state.chunks[h] = state.chunks.get(h, 0) + 1
            state.expected[h] = int(c.meta.get("n_chunks", 0))
            state.body_hash = str(c.meta.get("body_hash", ""))
            state.also = str(c.meta.get("also", "") or state.also)
        return states

    def dense(
        self, vector: list[float], n: int, where: dict[str, Any] | None = None
    ) -> list[StoredChunk]:
        total = self.count()
        if total == 0:
            return []
        dense_only: dict[str, Any] = {"dense": True}
        query = dict(
            query_embeddings=[vector],
            n_results=min(n, total),
            where={"$and": [dense_only, where]} if where else dense_only,
            include=["documents", "metadatas", "distances"],
        )
        try:
            result = self.collection.query(**query)
        except Exception as e:
            # a local store's vector index loaded before another process wrote: its filter finds
            # ids the index has not seen ("Error finding id"); reading it again resolves that
            if self.settings.chroma_url or "finding id" not in str(e):
                raise
            log.info("the local vector index is behind the store; reopening it")
            self.reopen()
            result = self.collection.query(**query)
        return [
            StoredChunk(i, t or "", m or {}, similarity=1.0 - float(d))
            for i, t, m, d in zip(
                result["ids"][0], result["documents"][0], result["metadatas"][0], result["distances"][0]
            )
        ]

    def get(self, ids: list[str]) -> list[StoredChunk]:
        if not ids:
            return []
        found = self.collection.get(ids=ids, include=["documents", "metadatas"])
        by_id = {i: StoredChunk(i, t or "", m or {}) for i, t, m in zip(found["ids"], found["documents"], found["metadatas"])}
        return [by_id[i] for i in ids if i in by_id]

    def newest(self, n: int, since: dt.date | None = None, until: dt.date | None = None) -> list[ArticleHit]:
        """The `n` stories published last in [since, until], newest first, each with its first chunk
        (its lead): what "what's new?" reads. Undated articles are never the newest."""
        terms: list[dict[str, Any]] = [{"chunk": 0}, {"published_ts": {"$gte": to_epoch(since) if since else 0}}]
        if until:
            terms.append({"published_ts": {"$lte": to_epoch(until)}})
        found = self.collection.get(where={"$and": terms}, include=["documents", "metadatas"])
        leads = [StoredChunk(i, t or "", m or {}) for i, t, m in zip(found["ids"], found["documents"], found["metadatas"])]
        leads.sort(key=lambda c: (-int(c.meta.get("published_ts", NO_DATE)), c.id))
        return [
            ArticleHit(c.article_id, str(c.meta.get("title", "")), str(c.meta.get("source", "")),
                       str(c.meta.get("url", "")), c.published, 0.0, [Passage(c.id, c.text, c.index)],
                       also_reported(c.meta))
            for c in leads[:n]
        ]

    def article_chunks(self, article_id: str) -> list[StoredChunk]:
        found = self.collection.get(where={"article_id": article_id}, include=["documents", "metadatas"])
        chunks = [StoredChunk(i, t or "", m or {}) for i, t, m in zip(found["ids"], found["documents"], found["metadatas"])]
        return sorted(chunks, key=lambda c: c.index)


def _local_system(settings: Settings) -> Any:
    """The Chroma system a local client on this path uses now (None for a server)."""
    if settings.chroma_url:
        return None
    from chromadb.api.shared_system_client import SharedSystemClient

    return SharedSystemClient._identifier_to_system.get(str(settings.chroma_path))
