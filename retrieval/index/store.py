"""With remote.py and local.py (the clients), the only module importing chromadb: chunks, vectors, metadata.

Chroma is the single store: the lexical index and the ingest state are derived from what is
here, so pointing NEWSBOT_CHROMA_URL at a server moves everything.

Chunks live in two collections. The articles collection holds the embedded chunks (each
article's lead) and is the vector index. The chunks searched by BM25 only go to
`<collection>_lexical`, under a one-dimensional placeholder vector: kept out of the vector
index, a dense query needs no metadata filter (with one, Chroma spent 370 of a search's 450 ms
finding the embedded rows among all of them), and ingest builds a graph a third the size.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from retrieval.dates import to_epoch
from retrieval.index.changes import ChangeLog
from retrieval.index.chroma_functions import ChromaEmbeddingFunction, NoEmbedding
from retrieval.index.embeddings import Embedder
from retrieval.index.records import NO_DATE, ArticleState, StoredChunk, also_entries, also_reported
from retrieval.index.local import local_client, local_system, retire
from retrieval.index.remote import server_client
from retrieval.errors import BackendError
from retrieval.settings import DEFAULT_CHROMA_HNSW, Settings
from retrieval.types import ArticleHit, Passage

log = logging.getLogger(__name__)

PAGE = 2000  # rows per Chroma get() when scanning the whole collection
LEXICAL = "lexical"  # suffix of the collection of chunks searched by BM25 only
PLACEHOLDER = [1.0]  # their vector: Chroma wants one, nothing queries it
LAYOUT = "lexical-apart"  # the vector collection's `layout` metadata once nothing lexical-only is in it


class ChromaStore:
    """A Chroma collection (local PersistentClient, or HttpClient when a server URL is set)."""

    def __init__(self, settings: Settings, embedder: Embedder) -> None:
        self.settings = settings
        self.embedder = embedder
        self._collection: Any = None
        self._lexical: Any = None
        self._legacy: bool | None = None  # lexical-only chunks still in the vector collection?
        self._client: Any = None
        self._changes: ChangeLog | None = None
        self._retired: Any = None  # the Chroma system a reopen replaced (reopen below)
        self._system: Any = None  # the local Chroma system the client was made on

    @property
    def collection(self) -> Any:
        """The embedded chunks: the vector index."""
        if self._collection is None or self._behind():
            self._collection, self._legacy = self._open(), None
        return self._collection

    @property
    def lexical_collection(self) -> Any:
        """The chunks searched by BM25 only."""
        if self._lexical is None or self._behind():
            self._lexical = self.side_collection(LEXICAL)
        return self._lexical

    @property
    def client(self) -> Any:
        """The Chroma client; other collections beside the articles (feeds, the change log) share it."""
        if self._client is None or self._behind():
            self._client, self._collection, self._lexical, self._changes = self._connect(), None, None, None
            self._system = None if self.settings.chroma_url else local_system(self.settings.chroma_path)
        return self._client

    def _behind(self) -> bool:
        """Another store object in this process reopened the local store (reopen below)."""
        return self._client is not None and not self.settings.chroma_url and local_system(self.settings.chroma_path) is not self._system

    def _connect(self) -> Any:
        if self.settings.chroma_url:  # a server that stops is a BackendError there, and no reopen here
            return server_client(self.settings.chroma_url)
        try:
            return local_client(self.settings.chroma_path)
        except Exception as e:
            raise BackendError(f"cannot open the Chroma store at {self.where}: {e}") from e

    @property
    def where(self) -> str:
        return self.settings.chroma_url or str(self.settings.chroma_path)

    def side_collection(self, suffix: str) -> Any:
        """A collection beside the articles (`news_feeds`, `news_changes`, `news_lexical`): records
        that need no vector search, so each gets the one-dimensional vector [1.0] and no embedding function."""
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
                metadata={"embedder": self.embedder.name, "layout": LAYOUT},  # kept as is when it exists
            )
        except BackendError:
            raise
        except Exception as e:
            raise BackendError(f"cannot open the Chroma collection at {self.where}: {e}") from e

    def _tables(self) -> tuple[Any, Any]:
        return self.collection, self.lexical_collection

    def _get(self, include: list[str], **query: Any) -> Iterator[tuple[Any, StoredChunk]]:
        """Rows of both collections matching `ids=` or `where=`, with the collection each is in."""
        for table in self._tables():
            found = table.get(include=include, **query)
            texts = found.get("documents") or [""] * len(found["ids"])
            metas = found.get("metadatas") or [{}] * len(found["ids"])
            for i, text, meta in zip(found["ids"], texts, metas):
                yield table, StoredChunk(i, text or "", meta or {})

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
        """Embedded chunks to the vector collection, the others (`dense` False) beside it under the
        placeholder (their `vectors` entries are not read). Up to
        Chroma's batch limit (5,461 rows locally) each write is all or nothing; past it, in
        slices: an article cut short counts as incomplete, and the next ingest stores it again."""
        self.changes.append(add=ids)
        dense = [i for i, m in enumerate(metas) if m.get("dense", True)]
        lexical = [i for i, m in enumerate(metas) if not m.get("dense", True)]
        self._write(self.collection, [ids[i] for i in dense], [texts[i] for i in dense],
                    [metas[i] for i in dense], [vectors[i] for i in dense])
        self._write(self.lexical_collection, [ids[i] for i in lexical], [texts[i] for i in lexical],
                    [metas[i] for i in lexical], [PLACEHOLDER] * len(lexical))

    def _write(self, table: Any, ids: list[str], texts: list[str], metas: list[dict[str, Any]], vectors: list[list[float]]) -> None:
        for i in range(0, len(ids), step := max(1, int(self.client.get_max_batch_size()))):
            part = slice(i, i + step)
            table.upsert(ids=ids[part], documents=texts[part], metadatas=metas[part], embeddings=vectors[part])

    def delete_chunks(self, ids: list[str]) -> None:
        if ids:
            self.changes.append(delete=ids)
            step = max(1, int(self.client.get_max_batch_size()))
            for table in self._tables():
                for i in range(0, len(ids), step):
                    table.delete(ids=ids[i:i + step])

    def add_outlet(self, article_id: str, source: str, url: str) -> bool:
        """Record that another outlet ran this story (a folded copy). False if already known."""
        found = list(self._get(["metadatas"], where={"article_id": article_id}))
        if not found:
            return False
        meta = found[0][1].meta
        entries = also_entries(meta)
        if url == meta.get("url") or any(e.get("url") == url for e in entries):
            return False
        also = json.dumps(entries + [{"source": source, "url": url}], ensure_ascii=False)
        for table, ids in _by_table(found):
            table.update(ids=ids, metadatas=[{"also": also}] * len(ids))
        return True

    def absorb(self, story_id: str, old_id: str) -> bool:
        """A newer version replaces a story: the old one's outlets move to it, its chunks go."""
        old = [c for _, c in self._get(["metadatas"], where={"article_id": old_id})]
        if not old:
            return False
        meta = old[0].meta
        for entry in [{"source": str(meta.get("source", "")), "url": str(meta.get("url", ""))}, *also_entries(meta)]:
            if entry.get("url"):
                self.add_outlet(story_id, str(entry.get("source", "")), str(entry["url"]))
        self.delete_chunks([c.id for c in old])
        return True

    def update_metadata(self, ids: list[str], metas: list[dict[str, Any]]) -> None:
        """Merge these fields into the chunks' metadata (text and vectors unchanged: not logged)."""
        if not ids:
            return
        fields = dict(zip(ids, metas))
        for table, held in _by_table(self._get([], ids=ids)):
            table.update(ids=held, metadatas=[fields[i] for i in held])

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
        found = self._get(["metadatas"], where={"article_id": article_id})
        stale = [c.id for _, c in found if c.meta.get("content_hash") != keep_hash]
        self.delete_chunks(stale)
        return len(stale)

    def split_lexical(self) -> int:
        """Move lexical-only chunks that an older newsbot stored in the vector collection beside it
        (text and metadata as they are, no embedding; ids unchanged, so derived indexes stay valid),
        then mark the collection. Cut short, it goes on where it stopped the next time."""
        if not self.legacy:
            return 0
        moved = 0
        while True:
            found = self.collection.get(where={"dense": False}, limit=PAGE, include=["documents", "metadatas"])
            if not found["ids"]:
                break
            ids, texts, metas = found["ids"], [t or "" for t in found["documents"]], found["metadatas"]
            self._write(self.lexical_collection, ids, texts, metas, [PLACEHOLDER] * len(ids))
            self.collection.delete(ids=ids)
            moved += len(ids)
            log.info("moved %d lexical-only chunks out of the vector collection", moved)
        self.collection.modify(metadata={**(self.collection.metadata or {}), "layout": LAYOUT})
        self._legacy = False
        return moved

    def reopen(self) -> None:
        """See chunks another process wrote. A Chroma server serves them at once; a local
        PersistentClient keeps the vector index it loaded, so it must load it again."""
        if self.settings.chroma_url or self._client is None:
            return
        if self._retired is not None:  # stopped one reopen later: a search may have been using it
            self._retired.stop()
        self._retired = retire(self.settings.chroma_path)
        self._client = self._collection = self._lexical = self._changes = self._system = None

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
        return sum(int(table.count()) for table in self._tables())

    def scan(self, include_text: bool = True) -> Iterator[StoredChunk]:
        include = ["metadatas", "documents"] if include_text else ["metadatas"]
        for table in self._tables():
            offset = 0
            while True:
                page = table.get(include=include, limit=PAGE, offset=offset)
                ids = page["ids"]
                if not ids:
                    break
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
            found = [c for _, c in self._get(["metadatas"], where=terms[0] if len(terms) == 1 else {"$or": terms})]
        states: dict[str, ArticleState] = {}
        for c in found:
            state = states.setdefault(c.article_id, ArticleState())
            h = str(c.meta.get("content_hash", ""))
            state.chunks[h] = state.chunks.get(h, 0) + 1
            state.expected[h] = int(c.meta.get("n_chunks", 0))
            state.body_hash = str(c.meta.get("body_hash", ""))
            state.also = str(c.meta.get("also", "") or state.also)
        return states

    @property
    def legacy(self) -> bool:
        """Whether the vector collection may still hold an older newsbot's lexical-only chunks; a
        dense query then filters them out until `split_lexical` has run (`newsbot ingest` runs it)."""
        if self._legacy is None:
            self._legacy = (self.collection.metadata or {}).get("layout") != LAYOUT
            if self._legacy:
                log.warning("this store keeps lexical-only chunks in its vector collection, which makes "
                            "every search slower; `newsbot ingest` moves them (once, no re-embedding)")
        return self._legacy

    def dense(
        self, vector: list[float], n: int, where: dict[str, Any] | None = None
    ) -> list[StoredChunk]:
        # no count() first: it cost 6 ms of a 60 ms search, and Chroma returns fewer than
        # n_results (none from an empty collection) without complaint
        if self.legacy:
            where = {"$and": [{"dense": True}, where]} if where else {"dense": True}
        query = dict(
            query_embeddings=[vector],
            n_results=n,
            where=where,
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
        by_id: dict[str, StoredChunk] = {}
        for table in self._tables():
            wanted = [i for i in ids if i not in by_id]
            if not wanted:
                break
            found = table.get(ids=wanted, include=["documents", "metadatas"])
            by_id.update({i: StoredChunk(i, t or "", m or {}) for i, t, m in zip(found["ids"], found["documents"], found["metadatas"])})
        return [by_id[i] for i in ids if i in by_id]

    def newest(self, n: int, since: dt.date | None = None, until: dt.date | None = None) -> list[ArticleHit]:
        """The `n` stories published last in [since, until], newest first, each with its first chunk
        (its lead, always embedded): what "what's new?" reads. Undated articles are never the newest."""
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
        chunks = [c for _, c in self._get(["documents", "metadatas"], where={"article_id": article_id})]
        return sorted(chunks, key=lambda c: c.index)


def _by_table(rows: Iterable[tuple[Any, StoredChunk]]) -> list[tuple[Any, list[str]]]:
    """Chunk ids grouped by the collection holding them (`_get` yields them collection by
    collection), for one update call per collection. Chroma's collections are not hashable."""
    groups: list[tuple[Any, list[str]]] = []
    for table, chunk in rows:
        if groups and groups[-1][0] is table:
            groups[-1][1].append(chunk.id)
        else:
            groups.append((table, [chunk.id]))
    return groups

