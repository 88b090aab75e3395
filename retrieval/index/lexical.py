"""BM25 over the chunks in the store (bm25s), derived from Chroma and kept current from its change log.

Chroma's local mode has no keyword search, so each process holds a BM25 index derived from the
collection. It has two parts: a main index built from a full scan (and cached on disk), and a
small delta index of the chunks written since, rebuilt from the change log (changes.py) in a
fraction of a second. Replaced and deleted chunks are masked out of the main index. When the
delta outgrows `MERGE_FRACTION` of the main one, the owner rebuilds the main index in the
background (NewsDesk does) — the delta's BM25 statistics are its own, which is fine for a few
thousand chunks and not beyond.
"""

from __future__ import annotations

import logging
import pickle
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from retrieval.index.changes import PENDING_SECONDS, Change, ChangeLog, Cursor
from retrieval.index.records import NO_DATE, StoredChunk
from retrieval.index.store import ChromaStore

log = logging.getLogger(__name__)

CACHE_VERSION = 3
MERGE_FRACTION = 0.05  # the delta may hold this share of the main index's chunks before a merge
MIN_MERGE = 5_000  # … or this many chunks, whichever is larger
FETCH = 500  # chunk ids per Chroma get when catching up


def _bm25s():  # type: ignore[no-untyped-def]
    import bm25s

    logging.getLogger("bm25s").setLevel(logging.WARNING)  # it sets DEBUG on import
    return bm25s


def _stemmer():  # type: ignore[no-untyped-def]
    import Stemmer

    return Stemmer.Stemmer("english")


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    result = _bm25s().tokenize(
        list(texts), stopwords="en", stemmer=_stemmer(), return_ids=False, show_progress=False
    )
    return [list(tokens) for tokens in result]


@dataclass
class LexicalHit:
    chunk_id: str
    score: float


class _Segment:
    """One bm25s index over a fixed set of chunks, with their dates, outlets and a live mask."""

    def __init__(self, ids: list[str], tokens: list[list[str]], dates: list[int], sources: list[str]) -> None:
        self.ids = ids
        self.position = {chunk_id: i for i, chunk_id in enumerate(ids)}
        self.published_ts = np.array(dates, dtype=np.int64)
        self.sources = np.array(sources, dtype=object)
        self.live = np.ones(len(ids), dtype=bool)
        self.model = _bm25s().BM25()
        self.avgdl = float(np.mean([len(t) for t in tokens])) if tokens else 1.0
        if tokens:
            self.model.index(tokens, show_progress=False)

    def df(self, token: str) -> int:
        """How many of its chunks hold the token (the delta's BM25 borrows these statistics)."""
        t = getattr(self.model, "vocab_dict", {}).get(token)
        if t is None or not self.ids:
            return 0
        indptr = self.model.scores["indptr"]  # type: ignore[attr-defined]
        return int(indptr[t + 1] - indptr[t])

    def search(self, tokens: list[str], mask: np.ndarray | None, n: int) -> list[LexicalHit]:
        vocab = getattr(self.model, "vocab_dict", {})
        tokens = [t for t in tokens if t in vocab]
        if not tokens or not self.ids:
            return []
        scores = np.asarray(self.model.get_scores(tokens), dtype=np.float64)  # type: ignore[attr-defined]
        keep = self.live if mask is None else self.live & mask
        scores = np.where(keep, scores, 0.0)
        n = min(n, len(scores))
        top = np.argpartition(-scores, n - 1)[:n]
        return [LexicalHit(self.ids[i], float(scores[i])) for i in top if scores[i] > 0]

    def mask(self, since_ts: int | None, until_ts: int | None, sources: Sequence[str]) -> np.ndarray | None:
        return _mask(self.published_ts, self.sources, since_ts, until_ts, sources)


def _mask(
    published_ts: np.ndarray, outlets: np.ndarray, since_ts: int | None, until_ts: int | None, sources: Sequence[str]
) -> np.ndarray | None:
    """Which chunks pass the date and outlet filters (None: all of them)."""
    if since_ts is None and until_ts is None and not sources:
        return None
    mask = np.ones(len(published_ts), dtype=bool)
    if since_ts is not None or until_ts is not None:  # undated articles are outside every date range
        mask &= published_ts != NO_DATE
    if since_ts is not None:
        mask &= published_ts >= since_ts
    if until_ts is not None:
        mask &= published_ts <= until_ts
    if sources:
        mask &= np.isin(outlets, [s.lower() for s in sources])
    return mask


class _Delta:
    """The chunks written since the main index was built, scored by BM25 with the main index's
    document frequencies and lengths: a delta of ten chunks must not rank a word as rare
    just because it is rare among those ten (bm25s would give it its own statistics)."""

    def __init__(self, rows: Sequence[tuple[str, list[str], int, str]], main: _Segment) -> None:
        self.ids = [r[0] for r in rows]
        self.published_ts = np.array([r[2] for r in rows], dtype=np.int64)
        self.sources = np.array([r[3] for r in rows], dtype=object)
        self.lengths = np.array([len(r[1]) for r in rows], dtype=np.float64)
        self.postings: dict[str, dict[int, int]] = {}
        for i, r in enumerate(rows):
            for token in r[1]:
                doc = self.postings.setdefault(token, {})
                doc[i] = doc.get(i, 0) + 1
        self.main = main

    def mask(self, since_ts: int | None, until_ts: int | None, sources: Sequence[str]) -> np.ndarray | None:
        return _mask(self.published_ts, self.sources, since_ts, until_ts, sources)

    def search(self, tokens: list[str], mask: np.ndarray | None, n: int) -> list[LexicalHit]:
        k1, b = 1.5, 0.75  # bm25s's defaults, as the main index uses
        total = len(self.main.ids) + len(self.ids)
        scores = np.zeros(len(self.ids))
        for token in set(tokens):
            docs = self.postings.get(token)
            if not docs:
                continue
            df = self.main.df(token) + len(docs)
            idf = np.log(1 + (total - df + 0.5) / (df + 0.5))
            for i, tf in docs.items():
                scores[i] += idf * tf / (tf + k1 * (1 - b + b * self.lengths[i] / self.main.avgdl))  # Lucene: no (k1 + 1)
        if mask is not None:
            scores = np.where(mask, scores, 0.0)
        top = np.argsort(-scores)[:n]
        return [LexicalHit(self.ids[i], float(scores[i])) for i in top if scores[i] > 0]


def _row(c: StoredChunk) -> tuple[str, str, int, str]:
    return c.id, f"{c.meta.get('title', '')}\n{c.text}", int(c.meta.get("published_ts", NO_DATE)), str(c.meta.get("source_key", ""))


def _segment(rows: Sequence[tuple[str, list[str], int, str]]) -> _Segment:
    return _Segment([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows])


@dataclass
class LexicalIndex:
    """The store's chunks, searchable by BM25; `catch_up` applies what the change log recorded."""

    key: str  # the collection it was built from (ChromaStore.key)
    main: _Segment
    cursor: Cursor = field(default_factory=Cursor)
    delta: dict[str, tuple[str, list[str], int, str]] = field(default_factory=dict)  # id → row
    pending: dict[str, int] = field(default_factory=dict)  # logged, not yet stored: id → log time
    _delta_index: _Delta | None = None

    @classmethod
    def build(cls, store: ChromaStore) -> "LexicalIndex":
        """From a full scan; changes logged while it ran are replayed by the next catch_up."""
        started = time.time_ns()
        rows = [_row(c) for c in store.scan()]
        tokens = tokenize([r[1] for r in rows]) if rows else []
        main = _segment([(r[0], t, r[2], r[3]) for r, t in zip(rows, tokens)])
        return cls(store.key, main, Cursor(ts=started))

    @classmethod
    def load_or_build(cls, store: ChromaStore, cache_dir: Path, rebuild: bool = False) -> "LexicalIndex":
        """The cached main index when it is of this collection and the log still covers it."""
        path = cache_dir / f"bm25-{store.settings.collection}-v{CACHE_VERSION}.pkl"
        index: LexicalIndex | None = None
        if path.exists() and not rebuild:
            try:
                with path.open("rb") as f:
                    index = pickle.load(f)
            except Exception:
                log.warning("lexical index cache %s is unreadable; rebuilding", path)
        if index is None or index.key != store.key or not ChangeLog.covers(index.cursor.ts):
            index = cls.build(store)
            index.save(path)
        index.catch_up(store)
        return index

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{time.time_ns()}.tmp")
        with tmp.open("wb") as f:
            pickle.dump(self, f, protocol=pickle.HIGHEST_PROTOCOL)
        tmp.replace(path)  # atomic: a reader sees the old file or the new one, never half of one

    def __getstate__(self) -> dict[str, object]:
        state = dict(self.__dict__)
        state["_delta_index"] = None  # rebuilt on demand
        return state

    # --- following the store -------------------------------------------------------------------

    def catch_up(self, store: ChromaStore) -> list[Change]:
        """Apply the changes logged since the last call; returns them (empty: nothing new)."""
        changes = self.cursor.unread(store.changes.since(self.cursor.ts))
        for change in changes:
            for chunk_id in change.delete:
                self._drop(chunk_id)
            for chunk_id in change.add:
                self.pending[chunk_id] = change.ts
        self._fetch_pending(store)
        return changes

    def _drop(self, chunk_id: str) -> None:
        i = self.main.position.get(chunk_id)
        if i is not None:
            self.main.live[i] = False
        if self.delta.pop(chunk_id, None) is not None:
            self._delta_index = None
        self.pending.pop(chunk_id, None)

    def _fetch_pending(self, store: ChromaStore) -> None:
        wanted = [i for i in self.pending if not self._holds(i)]
        for i in set(self.pending) - set(wanted):
            del self.pending[i]
        found: dict[str, StoredChunk] = {}
        for start in range(0, len(wanted), FETCH):
            found.update({c.id: c for c in store.get(wanted[start:start + FETCH])})
        rows = [_row(found[i]) for i in wanted if i in found]
        if rows:
            for r, tokens in zip(rows, tokenize([r[1] for r in rows])):
                self.delta[r[0]] = (r[0], tokens, r[2], r[3])
            self._delta_index = None
        horizon = time.time_ns() - PENDING_SECONDS * 10**9
        self.pending = {i: ts for i, ts in self.pending.items() if i not in found and ts > horizon}

    def _holds(self, chunk_id: str) -> bool:
        i = self.main.position.get(chunk_id)
        return chunk_id in self.delta or (i is not None and bool(self.main.live[i]))

    @property
    def needs_merge(self) -> bool:
        return len(self.delta) > max(MIN_MERGE, MERGE_FRACTION * len(self.main.ids))

    # --- searching -----------------------------------------------------------------------------

    def __len__(self) -> int:
        return int(self.main.live.sum()) + len(self.delta)

    def chunk_ids(self) -> set[str]:
        """Every chunk the index can return."""
        return {i for i, live in zip(self.main.ids, self.main.live) if live} | set(self.delta)

    def search(
        self,
        query: str,
        n: int,
        since_ts: int | None = None,
        until_ts: int | None = None,
        sources: Sequence[str] = (),
    ) -> list[LexicalHit]:
        if len(self) == 0:
            return []
        tokens = tokenize([query])[0]
        hits: list[LexicalHit] = []
        for part in (self.main, self._delta()):
            if part.ids:
                hits += part.search(tokens, part.mask(since_ts, until_ts, sources), n)
        return sorted(hits, key=lambda h: -h.score)[:n]

    def _delta(self) -> _Delta:
        if self._delta_index is None:
            self._delta_index = _Delta(list(self.delta.values()), self.main)
        return self._delta_index
