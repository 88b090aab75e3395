"""Hybrid search: dense (Chroma) and BM25 over the same chunks, fused by reciprocal rank.

Dates are a boost, not a wall: articles from the days before `as_of` get a small bonus,
while `since`/`until` (asked for explicitly) filter hard. Results are grouped per article.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from retrieval.dates import to_epoch
from retrieval.embeddings import Embedder
from retrieval.lexical import LexicalIndex
from retrieval.settings import Settings
from retrieval.store import ChromaStore, StoredChunk, where_clause
from retrieval.types import ArticleHit, Passage


@dataclass(frozen=True)
class Filters:
    """Hard filters the user asked for (`since`, `until`, `sources`); `window` and `as_of` only
    shift the ranking: articles inside `window` (a time the question names, "last week"), or
    else in the days before `as_of`, get a small bonus."""

    since: dt.date | None = None
    until: dt.date | None = None
    sources: tuple[str, ...] = ()
    as_of: dt.date | None = None
    window: tuple[dt.date, dt.date] | None = None


@dataclass
class SearchResult:
    articles: list[ArticleHit]
    top_similarity: float  # best cosine similarity of any chunk: the "is anything relevant" signal
    timings: dict[str, float] = field(default_factory=dict)


def fuse(rankings: Sequence[Sequence[str]], k: int, weights: Sequence[float] | None = None) -> dict[str, float]:
    """Reciprocal rank fusion: each list adds weight/(k + rank) to the ids it ranks."""
    scores: dict[str, float] = {}
    for ranking, weight in zip(rankings, weights or [1.0] * len(rankings)):
        for rank, item in enumerate(ranking, 1):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    return scores


class HybridSearcher:
    def __init__(
        self,
        settings: Settings,
        store: ChromaStore,
        embedder: Embedder,
        lexical: LexicalIndex,
        weights: dict[str, float] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.embedder = embedder
        self.lexical = lexical
        self.weights = {"dense": 1.0, "lexical": 1.0, **(weights or {})}

    def search(self, query: str, k: int | None = None, filters: Filters = Filters()) -> SearchResult:
        import time

        k = k or self.settings.search_k
        n = self.settings.candidates
        t0 = time.perf_counter()
        vector = self.embedder.embed(query)
        t1 = time.perf_counter()
        dense = self.store.dense(vector, n, where_clause(filters.since, filters.until, filters.sources))
        t2 = time.perf_counter()
        lexical = self.lexical.search(
            query,
            n,
            since_ts=to_epoch(filters.since) if filters.since else None,
            until_ts=to_epoch(filters.until) if filters.until else None,
            sources=filters.sources,
        )
        t3 = time.perf_counter()

        chunks: dict[str, StoredChunk] = {c.id: c for c in dense}
        missing = [h.chunk_id for h in lexical if h.chunk_id not in chunks]
        chunks.update({c.id: c for c in self.store.get(missing)})
        lexical = [h for h in lexical if h.chunk_id in chunks]  # deleted since the index was built
        fused = fuse(
            [[c.id for c in dense], [h.chunk_id for h in lexical]],
            self.settings.rrf_k,
            [self.weights["dense"], self.weights["lexical"]],
        )
        fused = {chunk_id: score for chunk_id, score in fused.items() if score > 0}
        if filters.window:
            self._boost(fused, chunks, *filters.window)
        elif filters.as_of:
            self._boost(fused, chunks, filters.as_of - dt.timedelta(days=self.settings.recency_days), filters.as_of)
        bm25 = {h.chunk_id: h.score for h in lexical}
        articles = self._group(fused, chunks, bm25, k, self.settings.passage_decay)
        t4 = time.perf_counter()
        return SearchResult(
            articles=articles,
            top_similarity=max((c.similarity or 0.0 for c in dense), default=0.0),
            timings={"embed": t1 - t0, "dense": t2 - t1, "lexical": t3 - t2, "fuse": t4 - t3},
        )

    def _boost(self, fused: dict[str, float], chunks: dict[str, StoredChunk], start: dt.date, end: dt.date) -> None:
        for chunk_id in fused:
            published = chunks[chunk_id].published
            if published and start <= published <= end:
                fused[chunk_id] += self.settings.recency_bonus

    @staticmethod
    def _group(
        fused: dict[str, float], chunks: dict[str, StoredChunk], bm25: dict[str, float], k: int, decay: float
    ) -> list[ArticleHit]:
        """Articles ranked by their best passage, plus `decay`-weighted further passages."""
        by_article: dict[str, ArticleHit] = {}
        for chunk_id, score in sorted(fused.items(), key=lambda kv: -kv[1]):
            c = chunks[chunk_id]
            hit = by_article.get(c.article_id)
            if hit is None:
                hit = by_article[c.article_id] = ArticleHit(
                    article_id=c.article_id,
                    title=str(c.meta.get("title", "")),
                    source=str(c.meta.get("source", "")),
                    url=str(c.meta.get("url", "")),
                    published=c.published,
                    score=score,
                )
            else:
                hit.score += score * decay ** len(hit.passages)
            hit.passages.append(
                Passage(chunk_id, c.text, c.index, score, dense=c.similarity, lexical=bm25.get(chunk_id))
            )
        return sorted(by_article.values(), key=lambda h: -h.score)[:k]
