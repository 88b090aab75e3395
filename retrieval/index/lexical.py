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
from retrieval.index.store import NO_DATE, ChromaStore, StoredChunk

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
        if tokens:
            self.model.index(tokens, show_progress=False)

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
        if since_ts is None and until_ts is None and not sources:
            return None
        mask = np.ones(len(self.ids), dtype=bool)
        if since_ts is not None:
            mask &= self.published_ts >= since_ts
        if until_ts is not None:
            mask &= (self.published_ts <= until_ts) & (self.published_ts >= 0)
        if sources:
            mask &= np.isin(self.sources, [s.lower() for s in sources])
        return mask


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
    _delta_segment: _Segment | None = None

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
        state["_delta_segment"] = None  # rebuilt on demand
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
            self._delta_segment = None
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
            self._delta_segment = None
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
        hits = []
        for segment in (self.main, self._delta()):
            if segment.ids:
                hits += segment.search(tokens, segment.mask(since_ts, until_ts, sources), n)
        return sorted(hits, key=lambda h: -h.score)[:n]

    def _delta(self) -> _Segment:
        if self._delta_segment is None:
            self._delta_segment = _segment(list(self.delta.values()))
        return self._delta_segment
