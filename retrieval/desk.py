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
from collections.abc import Generator, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retrieval.embeddings import Embedder, MiniLMEmbedder
from retrieval.errors import EmptyIndexError
from retrieval.ingest import Ingester, Progress
from retrieval.lexical import LexicalIndex
from retrieval.loaders import load
from retrieval.search import Filters, HybridSearcher, SearchResult
from retrieval.settings import Settings
from retrieval.store import ChromaStore
from retrieval.types import Answer, ArticleHit, Citation, IngestReport, Turn

if TYPE_CHECKING:  # langchain takes seconds to import; only answering needs it
    from retrieval.citations import PromptPassage
    from retrieval.llm import LoadedLLM

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
        self._llm: LoadedLLM | None = None

    # --- ingest --------------------------------------------------------------------------------

    def ingest(self, inputs: Iterable[str | Path], progress: Progress | None = None) -> IngestReport:
        """Read files, folders, feeds and URLs; a bad input is reported in the result, not raised."""
        ingester = Ingester(self.store, self.embedder, self.settings)
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
        self.llm()

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
        lexical = self.lexical()  # keyed by the store's revision, which includes its count
        if len(lexical) == 0:
            raise EmptyIndexError("the news index is empty: run `newsbot ingest PATH_OR_URL` first")
        searcher = HybridSearcher(self.settings, self.store, self.embedder, lexical)
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

    def llm(self) -> LoadedLLM:
        """The configured LLM backend, loaded once; extractive (with a notice) if it cannot load."""
        from retrieval.llm import load_chat_model

        with self._lock:
            if self._llm is None:
                self._llm = load_chat_model(self.settings)
            return self._llm

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

        Follow-up → standalone question → time window ("last week", relative to as_of) → search →
        abstain without the LLM if nothing is relevant → LLM tokens → citation check. The final
        Answer's text is authoritative: citation checking may change what streamed.
        """
        from retrieval.chain import standalone_question
        from retrieval.timeparse import parse_window

        started = time.perf_counter()
        question = " ".join(question.split())
        as_of = as_of or dt.date.today()
        loaded = self.llm()
        timings: dict[str, float] = {}
        standalone = standalone_question(question[:MAX_QUESTION_CHARS], history, loaded.model)[:MAX_QUESTION_CHARS]
        timings["rewrite"] = time.perf_counter() - started
        t = time.perf_counter()
        window = parse_window(standalone, as_of)
        result = self.search(standalone, since=since, until=until, sources=sources, as_of=as_of, window=window)
        timings["search"] = time.perf_counter() - t

        def done(text: str, citations: list[Citation], notice: str = "") -> Answer:
            timings["total"] = time.perf_counter() - started
            if not citations:
                return Answer(question, ABSTAIN_TEXT, [], True, timings, standalone, notice)
            return Answer(question, text + _newest_source(citations), citations, False, timings, standalone, notice)

        if not result.articles or result.top_similarity < self.settings.min_relevance:
            yield ABSTAIN_TEXT
            yield done("", [], loaded.notice)
            return
        if loaded.model is not None:
            final = yield from self._generate(standalone, result.articles, loaded, timings, started, as_of)
            if final is not None:
                yield done(*final)
                return
            notice = f"The {loaded.backend} LLM failed, so this answer quotes the sources instead."
        else:
            notice = loaded.notice
        text, citations = self._extractive(standalone, result.articles, timings, started)
        yield text if citations else ABSTAIN_TEXT
        yield done(text, citations, notice)

    def _extractive(
        self, question: str, hits: list[ArticleHit], timings: dict[str, float], started: float
    ) -> tuple[str, list[Citation]]:
        from retrieval.extractive import extractive_answer

        t = time.perf_counter()
        text, citations = extractive_answer(question, hits, self.embedder)
        timings["answer"] = time.perf_counter() - t
        timings["first_token"] = time.perf_counter() - started
        return text, citations

    def _generate(
        self,
        question: str,
        hits: list[ArticleHit],
        loaded: LoadedLLM,
        timings: dict[str, float],
        started: float,
        as_of: dt.date,
    ) -> Generator[str, None, tuple[str, list[Citation], str] | None]:
        """Stream the model's answer; return (text, citations) checked, or None if the backend failed."""
        from retrieval import prompts
        from retrieval.chain import answer_messages, says_not_found, select_passages
        from retrieval.citations import check_citations

        assert loaded.model is not None
        t = time.perf_counter()
        passages: list[PromptPassage] = select_passages(question, hits, self.embedder)
        timings["passages"] = time.perf_counter() - t
        messages = answer_messages(question, passages, as_of)
        raw, shown = "", 0
        t = time.perf_counter()
        try:
            for chunk in loaded.model.stream(messages):
                usage = getattr(chunk, "usage_metadata", None)
                if usage:
                    timings["prompt_tokens"] = float(usage.get("input_tokens", 0))
                    timings["completion_tokens"] = float(usage.get("output_tokens", 0))
                piece = chunk.text
                if not piece:
                    continue
                if not raw:
                    timings["first_token"] = time.perf_counter() - started
                raw += piece
                head = raw.lstrip().upper()
                if not shown and (prompts.NOT_FOUND.startswith(head) or head.startswith(prompts.NOT_FOUND)):
                    continue  # it may be abstaining: show nothing of the marker
                yield raw[shown:]
                shown = len(raw)
        except Exception:  # a server down or a model crash: quote the sources rather than fail
            log.warning("the %s LLM failed while answering", loaded.backend, exc_info=True)
            return None
        timings["llm"] = time.perf_counter() - t
        log.debug("model output: %r", raw)
        if says_not_found(raw):
            yield ABSTAIN_TEXT
            return "", [], ""
        t = time.perf_counter()
        checked = check_citations(raw, passages, self.embedder, secret=prompts.ANSWER_SYSTEM)
        timings["check"] = time.perf_counter() - t
        if checked.dropped or checked.removed_numbers:
            log.info("citation check dropped %r, removed numbers %s", checked.dropped, checked.removed_numbers)
        return checked.text, checked.citations, ""

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


def _newest_source(citations: list[Citation]) -> str:
    """Each answer says how fresh its news is: the date of its newest cited source."""
    dates = [c.published for c in citations if c.published]
    return f"\n\nNewest source: {max(dates):%-d %B %Y}." if dates else ""
