"""Hybrid search: dense (Chroma) and BM25 over the same chunks, fused by reciprocal rank.

Dates are a boost, not a wall: articles from the days before `as_of` get a small bonus,
while `since`/`until` (asked for explicitly) filter hard. The one wall is the future: what was
published after `as_of` (plus a grace of days) was not news yet. Results are grouped per article.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from dataclasses import dataclass, field

from retrieval.dates import to_epoch
from retrieval.index.embeddings import Embedder
from retrieval.index.lexical import LexicalHit, LexicalIndex
from retrieval.settings import Settings
from retrieval.index.records import StoredChunk, also_reported, where_clause
from retrieval.index.store import ChromaStore
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
class Candidates:
    """Both halves' chunk rankings for one query, and every chunk either of them named."""

    dense: list[StoredChunk]
    lexical: list[LexicalHit]
    chunks: dict[str, StoredChunk]
    timings: dict[str, float] = field(default_factory=dict)

    def top(self, n: int) -> "Candidates":
        """The same search as if each half had returned only n chunks."""
        return Candidates(self.dense[:n], self.lexical[:n], self.chunks, self.timings)


@dataclass
class SearchResult:
    articles: list[ArticleHit]
    top_similarity: float  # best cosine similarity of any chunk: the "is anything relevant" signal
    timings: dict[str, float] = field(default_factory=dict)


def _after(day: dt.date | None, latest: dt.date | None) -> bool:
    """Published after `latest`; an undated article is no one's future."""
    return day is not None and latest is not None and day > latest


@cache
def _pool() -> ThreadPoolExecutor:
    """Threads for the lexical half of searches, shared by every searcher in the process."""
    return ThreadPoolExecutor(max_workers=4, thread_name_prefix="newsbot-lexical")


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

    def candidates(self, query: str, filters: Filters = Filters()) -> Candidates:
        """What each half found for the query: the part of a search that touches the models.

        The lexical half (BM25, then its chunks' texts from the store) runs in a second thread
        while this one embeds the query and asks the vector index: each half mostly waits on
        native code (torch, numpy, Chroma), so on two cores a search costs the longer half, not both.
        """
        n = self.settings.candidates
        lexical_half = _pool().submit(self._lexical_half, query, n, filters)
        t0 = time.perf_counter()
        vector = self.embedder.embed(query)
        t1 = time.perf_counter()
        dense = self.store.dense(vector, n, where_clause(filters.since, filters.until, filters.sources))
        t2 = time.perf_counter()
        lexical, fetched, lexical_seconds = lexical_half.result()
        chunks: dict[str, StoredChunk] = {c.id: c for c in fetched}
        chunks.update({c.id: c for c in dense})
        lexical = [h for h in lexical if h.chunk_id in chunks]  # deleted since the index was built
        timings = {"embed": t1 - t0, "dense": t2 - t1, "lexical": lexical_seconds}
        return Candidates(dense, lexical, chunks, timings)

    def _lexical_half(self, query: str, n: int, filters: Filters) -> tuple[list[LexicalHit], list[StoredChunk], float]:
        t0 = time.perf_counter()
        hits = self.lexical.search(
            query,
            n,
            since_ts=to_epoch(filters.since) if filters.since else None,
            until_ts=to_epoch(filters.until) if filters.until else None,
            sources=filters.sources,
        )
        fetched = self.store.get([h.chunk_id for h in hits])
        return hits, fetched, time.perf_counter() - t0

    def search(self, query: str, k: int | None = None, filters: Filters = Filters()) -> SearchResult:
        return self.rank(self.candidates(query, filters), k, filters)

    def rank(self, found: Candidates, k: int | None = None, filters: Filters = Filters()) -> SearchResult:
        """Fuse the two halves into articles; no model is touched, so variants can be compared cheaply."""
        t0 = time.perf_counter()
        k = k or self.settings.search_k
        dense, lexical, chunks = found.dense, found.lexical, found.chunks
        rankings = [[c.id for c in dense], [h.chunk_id for h in lexical]]
        weights = [self.weights["dense"], self.weights["lexical"]]
        passage_scores = fuse(rankings, self.settings.rrf_k, weights)
        if self.settings.fuse_articles:
            # rank articles in each list by their best chunk, so one article's many chunks do
            # not push the others down, then fuse those article rankings
            per_article = [list(dict.fromkeys(chunks[i].article_id for i in r)) for r in rankings]
            article_scores = fuse(per_article, self.settings.rrf_k, weights)
        else:
            article_scores = {}
            for chunk_id, score in passage_scores.items():
                aid = chunks[chunk_id].article_id
                article_scores[aid] = max(article_scores.get(aid, 0.0), score)
        published = {c.article_id: c.published for c in chunks.values()}
        latest = self._latest(filters.as_of)
        article_scores = {
            aid: s for aid, s in article_scores.items() if s > 0 and not _after(published[aid], latest)
        }
        if filters.window:
            self._boost(article_scores, published, *filters.window)
        elif filters.as_of:
            start = filters.as_of - dt.timedelta(days=self.settings.recency_days)
            self._boost(article_scores, published, start, filters.as_of)
        bm25 = {h.chunk_id: h.score for h in lexical}
        articles = self._group(article_scores, passage_scores, chunks, bm25, k)
        return SearchResult(
            articles=articles,
            top_similarity=max((c.similarity or 0.0 for c in dense), default=0.0),
            timings={**found.timings, "fuse": time.perf_counter() - t0},
        )

    def _latest(self, as_of: dt.date | None) -> dt.date | None:
        """The newest publication date that was news on as_of: a search as of a past day (an
        evaluation, or `--as-of`) does not see what was written after it."""
        if as_of is None or self.settings.later_days < 0:
            return None
        return as_of + dt.timedelta(days=self.settings.later_days)

    def _boost(
        self, scores: dict[str, float], published: dict[str, dt.date | None], start: dt.date, end: dt.date
    ) -> None:
        for article_id in scores:
            day = published[article_id]
            if day and start <= day <= end:
                scores[article_id] += self.settings.recency_bonus

    @staticmethod
    def _group(
        article_scores: dict[str, float],
        passage_scores: dict[str, float],
        chunks: dict[str, StoredChunk],
        bm25: dict[str, float],
        k: int,
    ) -> list[ArticleHit]:
        top = sorted(article_scores.items(), key=lambda kv: -kv[1])[:k]
        hits: dict[str, ArticleHit] = {}
        for aid, score in top:
            hits[aid] = ArticleHit(aid, "", "", "", None, score)
        for chunk_id, score in sorted(passage_scores.items(), key=lambda kv: -kv[1]):
            c = chunks[chunk_id]
            hit = hits.get(c.article_id)
            if hit is None or score <= 0:
                continue
            if not hit.passages:
                hit.title, hit.source, hit.url = (str(c.meta.get(f, "")) for f in ("title", "source", "url"))
                hit.published = c.published
                hit.also = also_reported(c.meta)
            hit.passages.append(
                Passage(chunk_id, c.text, c.index, score, dense=c.similarity, lexical=bm25.get(chunk_id))
            )
        return list(hits.values())
