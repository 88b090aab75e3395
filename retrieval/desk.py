"""NewsDesk: the one object front-ends talk to. It wires settings, embedder, store and search.

    >>> from retrieval import NewsDesk
    >>> desk = NewsDesk()                                  # NEWSBOT_HOME / NEWSBOT_CHROMA_URL
    >>> desk.ingest(["corpus/"])                           # files, folders, feeds, URLs
    >>> answer = desk.answer("What did Modi and Putin discuss?")
    >>> answer.text, [c.url for c in answer.citations]
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from retrieval.embeddings import Embedder, MiniLMEmbedder
from retrieval.errors import EmptyIndexError
from retrieval.ingest import Ingester, Progress
from retrieval.lexical import LexicalIndex
from retrieval.loaders import load
from retrieval.search import Filters, HybridSearcher, SearchResult
from retrieval.settings import Settings
from retrieval.store import ChromaStore
from retrieval.types import Answer, IngestReport, Turn

log = logging.getLogger(__name__)

ABSTAIN_TEXT = "I couldn't find this in the news I have."
MAX_QUESTION_CHARS = 2000  # the embedder reads ~256 tokens; longer questions are cut, not refused


class NewsDesk:
    """Ingest news, search it, answer questions with numbered citations."""

    def __init__(self, settings: Settings | None = None, embedder: Embedder | None = None) -> None:
        self.settings = settings or Settings.from_env()
        self.embedder = embedder or MiniLMEmbedder(batch_size=self.settings.embed_batch)
        self.store = ChromaStore(self.settings, self.embedder)
        self._lexical: LexicalIndex | None = None
        self._lexical_revision = ""
        self._lock = threading.Lock()

    # --- ingest --------------------------------------------------------------------------------

    def ingest(self, inputs: Iterable[str | Path], progress: Progress | None = None) -> IngestReport:
        """Read files, folders, feeds and URLs; a bad input is reported in the result, not raised."""
        ingester = Ingester(self.store, self.embedder, self.settings.chunk_tokens)
        return ingester.run(load(inputs), progress=progress)

    # --- search --------------------------------------------------------------------------------

    def lexical(self) -> LexicalIndex:
        """The BM25 index for the store's current revision (built or loaded once per revision)."""
        with self._lock:
            revision = self.store.revision()
            if self._lexical is None or revision != self._lexical_revision:
                self._lexical = LexicalIndex.load_or_build(self.store, self.settings.cache_dir)
                self._lexical_revision = revision
            return self._lexical

    def warm_up(self) -> None:
        """Load the embedder and indexes now, so the first question does not pay for them."""
        self.embedder.embed("warm up")
        self.lexical()

    def search(
        self,
        query: str,
        k: int | None = None,
        *,
        since: dt.date | None = None,
        until: dt.date | None = None,
        sources: Sequence[str] = (),
        as_of: dt.date | None = None,
        window: tuple[dt.date, dt.date] | None = None,
    ) -> SearchResult:
        if self.store.count() == 0:
            raise EmptyIndexError("the news index is empty: run `newsbot ingest PATH_OR_URL` first")
        searcher = HybridSearcher(self.settings, self.store, self.embedder, self.lexical())
        return searcher.search(
            query[:MAX_QUESTION_CHARS], k, Filters(since, until, tuple(sources), as_of, window)
        )

    # --- answers -------------------------------------------------------------------------------

    def answer(
        self,
        question: str,
        *,
        history: Sequence[Turn] = (),
        since: dt.date | None = None,
        until: dt.date | None = None,
        sources: Sequence[str] = (),
        as_of: dt.date | None = None,
    ) -> Answer:
        """The whole answer at once; see `stream` for the same answer as it is written."""
        final: Answer | None = None
        for event in self.stream(question, history=history, since=since, until=until, sources=sources, as_of=as_of):
            if isinstance(event, Answer):
                final = event
        assert final is not None
        return final

    def stream(
        self,
        question: str,
        *,
        history: Sequence[Turn] = (),
        since: dt.date | None = None,
        until: dt.date | None = None,
        sources: Sequence[str] = (),
        as_of: dt.date | None = None,
    ) -> Iterator[str | Answer]:
        """Text as it is produced (str pieces), then the checked Answer, always last.

        The final Answer's text is authoritative: citation checking may change what streamed.
        """
        from retrieval.extractive import extractive_answer

        started = time.perf_counter()
        question = " ".join(question.split())
        result = self.search(question, since=since, until=until, sources=sources, as_of=as_of or dt.date.today())
        timings = {"search": time.perf_counter() - started}
        if not result.articles or result.top_similarity < self.settings.min_relevance:
            timings["total"] = time.perf_counter() - started
            yield ABSTAIN_TEXT
            yield Answer(question, ABSTAIN_TEXT, [], abstained=True, timings=timings)
            return
        t = time.perf_counter()
        text, citations = extractive_answer(question[:MAX_QUESTION_CHARS], result.articles, self.embedder)
        timings["answer"] = time.perf_counter() - t
        timings["total"] = time.perf_counter() - started
        if not citations:
            yield ABSTAIN_TEXT
            yield Answer(question, ABSTAIN_TEXT, [], abstained=True, timings=timings)
            return
        yield text
        yield Answer(question, text, citations, abstained=False, timings=timings)

    # --- inspection ----------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        articles: set[str] = set()
        sources: dict[str, int] = {}
        dates: list[str] = []
        chunks = 0
        for c in self.store.scan(include_text=False):
            chunks += 1
            if c.article_id in articles:
                continue
            articles.add(c.article_id)
            source = str(c.meta.get("source") or "unknown")
            sources[source] = sources.get(source, 0) + 1
            if c.meta.get("published"):
                dates.append(str(c.meta["published"]))
        return {
            "articles": len(articles),
            "chunks": chunks,
            "earliest": min(dates) if dates else None,
            "latest": max(dates) if dates else None,
            "undated": len(articles) - len(dates),
            "sources": dict(sorted(sources.items(), key=lambda kv: -kv[1])),
            "store": self.settings.chroma_url or str(self.settings.chroma_path),
        }

    def article_text(self, article_id: str) -> str:
        """The article's full text, rebuilt from its (non-overlapping) chunks."""
        return " ".join(c.text for c in self.store.article_chunks(article_id))
