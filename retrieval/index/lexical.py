"""BM25 over the chunks in the store (bm25s), derived from Chroma and cached per revision.

Chroma's local mode has no keyword search; deriving the index from the collection keeps
Chroma the single source of truth, and a cache file keyed by the collection's revision
means the index is rebuilt only after an ingest changed something.
"""

from __future__ import annotations

import logging
import pickle
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from retrieval.index.store import NO_DATE, ChromaStore

log = logging.getLogger(__name__)

CACHE_VERSION = 2


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


class LexicalIndex:
    """A BM25 index of every chunk (title + text), with dates and outlets for filtering."""

    def __init__(self, ids: list[str], published_ts: np.ndarray, sources: list[str], model: object) -> None:
        self.ids = ids
        self.published_ts = published_ts
        self.sources = np.array(sources, dtype=object)
        self.model = model

    @classmethod
    def build(cls, store: ChromaStore) -> "LexicalIndex":
        bm25s = _bm25s()
        ids: list[str] = []
        texts: list[str] = []
        dates: list[int] = []
        sources: list[str] = []
        for c in store.scan():
            ids.append(c.id)
            texts.append(f"{c.meta.get('title', '')}\n{c.text}")
            dates.append(int(c.meta.get("published_ts", NO_DATE)))
            sources.append(str(c.meta.get("source_key", "")))
        model = bm25s.BM25()
        if texts:
            model.index(tokenize(texts), show_progress=False)
        return cls(ids, np.array(dates, dtype=np.int64), sources, model)

    @classmethod
    def load_or_build(cls, store: ChromaStore, cache_dir: Path) -> "LexicalIndex":
        revision = re.sub(r"[^0-9A-Za-z_.-]", "_", store.revision())
        path = cache_dir / f"bm25-{store.settings.collection}-v{CACHE_VERSION}-{revision}.pkl"
        if path.exists():
            try:
                with path.open("rb") as f:
                    index: LexicalIndex = pickle.load(f)
                return index
            except Exception:
                log.warning("lexical index cache %s is unreadable; rebuilding", path)
        index = cls.build(store)
        cache_dir.mkdir(parents=True, exist_ok=True)
        for old in cache_dir.glob(f"bm25-{store.settings.collection}-*.pkl"):
            old.unlink(missing_ok=True)
        tmp = path.with_suffix(".tmp")
        with tmp.open("wb") as f:
            pickle.dump(index, f, protocol=pickle.HIGHEST_PROTOCOL)
        tmp.replace(path)
        return index

    def __len__(self) -> int:
        return len(self.ids)

    def search(
        self,
        query: str,
        n: int,
        since_ts: int | None = None,
        until_ts: int | None = None,
        sources: Sequence[str] = (),
    ) -> list[LexicalHit]:
        if not self.ids:
            return []
        tokens = tokenize([query])[0]
        vocab = getattr(self.model, "vocab_dict", {})
        tokens = [t for t in tokens if t in vocab]
        if not tokens:
            return []
        scores = np.asarray(self.model.get_scores(tokens), dtype=np.float64)  # type: ignore[attr-defined]
        mask = np.ones(len(self.ids), dtype=bool)
        if since_ts is not None:
            mask &= self.published_ts >= since_ts
        if until_ts is not None:
            mask &= (self.published_ts <= until_ts) & (self.published_ts >= 0)
        if sources:
            mask &= np.isin(self.sources, [s.lower() for s in sources])
        scores = np.where(mask, scores, 0.0)
        n = min(n, len(scores))
        top = np.argpartition(-scores, n - 1)[:n]
        top = top[np.argsort(-scores[top])]
        return [LexicalHit(self.ids[i], float(scores[i])) for i in top if scores[i] > 0]
