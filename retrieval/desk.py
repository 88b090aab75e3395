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
import re
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retrieval.index.embeddings import Embedder, MiniLMEmbedder
from retrieval.errors import BackendError, EmptyIndexError, QuestionError
from retrieval.index.folding import FoldReport, fold_stored
from retrieval.index.ingester import Ingester, Progress
from retrieval.index.changes import WRITER
from retrieval.index.lexical import LexicalIndex
from retrieval.ingest.loaders import Loaded, load, strip_tags
from retrieval.search.hybrid import Filters, HybridSearcher, SearchResult
from retrieval.settings import Settings
from retrieval.index.store import ChromaStore
from retrieval.types import Answer, ArticleHit, IngestReport, OnStage, Turn

if TYPE_CHECKING:  # langchain takes seconds to import; only answering needs it
    from retrieval.answer.llm import LoadedLLM
    from retrieval.answer.sentences import SentenceScorer

log = logging.getLogger(__name__)

_NOT_LOADED = object()
MAX_QUESTION_CHARS = 10_000  # longer is a paste gone wrong, not a question: refused with a clear message
EMPTY_INDEX = "the news index is empty: run `newsbot ingest PATH_OR_URL` first"


# an HTML tag: "<a href=…>", "</b>", "<br/>"; not "3 < 5", nor Slack's "<https://…|text>" or "<@U123>"
_TAG = re.compile(r"<\s*/?\s*[a-zA-Z][\w-]*(?:\s[^<>]*)?/?>")


def checked_question(question: str) -> str:
    """The question on one line, without HTML markup (a question copied from a web page keeps the
    words of its links, not their attributes, which would be searched as words); an empty or
    overlong one is refused with a message fit to show."""
    if _TAG.search(question):
        question = strip_tags(question)
    question = " ".join(question.split())
    if not question:
        raise QuestionError("the question is empty")
    if len(question) > MAX_QUESTION_CHARS:
        raise QuestionError(f"the question is {len(question):,} characters long; ask in under {MAX_QUESTION_CHARS:,}")
    return question


class NewsDesk:
    """Ingest news, search it, answer questions with numbered citations."""

    def __init__(self, settings: Settings | None = None, embedder: Embedder | None = None) -> None:
        self.settings = settings or Settings.from_env()
        self.embedder = embedder or MiniLMEmbedder(
            batch_size=self.settings.embed_batch, precision=self.settings.embed_precision
        )
        self.store = ChromaStore(self.settings, self.embedder)
        self._lexical: LexicalIndex | None = None
        self._checked = 0.0
        self._merging = threading.Event()
        self._lock = threading.Lock()
        self._llm: LoadedLLM | None = None
        self._scorer: object = _NOT_LOADED

    # --- ingest --------------------------------------------------------------------------------

    def ingest(
        self, inputs: Iterable[str | Path], progress: Progress | None = None, *, source: str = ""
    ) -> IngestReport:
        """Read files, folders, feeds and URLs; a bad input is reported in the result, not raised.

        `source` names the outlet of articles whose input names none."""
        return self.ingest_items(load(inputs, source=source), progress)

    def ingest_items(self, items: Iterable[Loaded], progress: Progress | None = None) -> IngestReport:
        """Store already-loaded articles (a feed's entries, say); failures pass through to the report.

        Stop iterating `items` to stop early: what was yielded so far is still stored."""
        try:
            return Ingester(self.store, self.embedder, self.settings).run(items, progress=progress)
        finally:
            self._checked = 0.0  # this process's own writes: the next search reads them at once

    def fold(self) -> FoldReport:
        """Fold syndicated copies already stored (an index built before folding existed)."""
        try:
            return fold_stored(self.store)
        finally:
            self._checked = 0.0

    # --- search --------------------------------------------------------------------------------

    def lexical(self) -> LexicalIndex:
        """The BM25 index, loaded once and then kept current from the store's change log.

        At most every `refresh_seconds` a search first reads the log (one small query): chunks
        that any process wrote since are added to a delta index, deleted ones masked out. When
        another process wrote, a local store is reopened so dense search sees the new vectors too.
        """
        with self._lock:
            now = time.monotonic()
            if self._lexical is None:
                self._lexical = LexicalIndex.load_or_build(self.store, self.settings.cache_dir)
                self._checked = now
            elif now - self._checked >= self.settings.refresh_seconds:
                self._checked = now
                self._catch_up(self._lexical)
            return self._lexical

    def _catch_up(self, index: LexicalIndex) -> None:
        changes = index.catch_up(self.store)
        if any(c.writer != WRITER for c in changes):
            self.store.reopen()
        if changes:
            log.info("lexical index: %d change(s) applied; %d chunks in the delta", len(changes), len(index.delta))
        if index.needs_merge and not self._merging.is_set():
            self._merging.set()
            threading.Thread(target=self._merge, name="newsbot-bm25-merge", daemon=True).start()

    def _merge(self) -> None:
        """Rebuild the main index from the store off the search path, then swap it in."""
        try:
            fresh = LexicalIndex.load_or_build(self.store, self.settings.cache_dir, rebuild=True)
            with self._lock:
                self._lexical = fresh
        except Exception:
            log.exception("rebuilding the lexical index failed; the delta index keeps serving")
        finally:
            self._merging.clear()

    def warm_up(self) -> None:
        """Load the embedder, indexes and models now, so the first question does not pay for them;
        a local LLM also reads the answer prompt's fixed start (LlamaChat.prime)."""
        self.embedder.embed("warm up")
        self.lexical()
        self.sentence_scorer()
        prime = getattr(self.llm().model, "prime", None)  # only llama.cpp keeps a prompt between calls
        if prime is not None:
            from retrieval.answer.prompt import answer_messages

            try:
                prime(answer_messages("", [], dt.date.today()))
            except Exception as e:  # only a head start: the first question reads the prompt itself
                log.warning("the local LLM could not read its prompt ahead of the first question: %s", e)

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
        """Articles for the query, best first; since/until/sources filter, as_of/window boost (and
        nothing published more than `later_days` after as_of is seen)."""
        return self._search(checked_question(query), Filters(since, until, tuple(sources), as_of, window), k)

    def _search(self, query: str, filters: Filters, k: int | None = None) -> SearchResult:
        lexical = self.lexical()
        if len(lexical) == 0:
            raise EmptyIndexError(EMPTY_INDEX)
        return HybridSearcher(self.settings, self.store, self.embedder, lexical).search(query, k, filters)

    def _newest(self, n: int, since: dt.date | None, until: dt.date | None) -> list[ArticleHit]:
        if self.store.count() == 0:
            raise EmptyIndexError(EMPTY_INDEX)
        return self.store.newest(n, since, until)

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
        from retrieval.answer.llm import load_chat_model

        with self._lock:
            if self._llm is None:
                self._llm = load_chat_model(self.settings)
            return self._llm

    def sentence_scorer(self) -> SentenceScorer | None:
        """The learned answer-sentence scorer, loaded once. None — sentences chosen by cosine —
        when it is switched off or not built; a damaged file is refused with one warning."""
        from retrieval.answer import sentences

        with self._lock:
            if self._scorer is _NOT_LOADED:
                self._scorer = None
                if self.settings.sentence_scorer and sentences.MODEL_FILE.exists():
                    try:
                        self._scorer = sentences.default_scorer()
                    except BackendError as e:
                        log.warning("%s; choosing answer sentences by cosine instead", e)
            return self._scorer  # type: ignore[return-value]

    def stream(
        self,
        question: str,
        *,
        history: Sequence[Turn] = (),
        since: dt.date | None = None,
        until: dt.date | None = None,
        sources: Sequence[str] = (),
        as_of: dt.date | None = None,
        on_stage: OnStage | None = None,
    ) -> Iterator[str | Answer]:
        """Text as it is produced (str pieces), then the checked Answer, always last.

        The final Answer's text is authoritative: citation checking may change what streamed
        (retrieval/answer/pipeline.py has the steps). `on_stage` is told when searching, reading
        and writing begin, for a front-end's progress line."""
        from retrieval.answer.pipeline import AnswerPipeline

        question = checked_question(question)
        pipeline = AnswerPipeline(
            self._search, self.embedder, self.llm(), self.settings.min_relevance,
            self.sentence_scorer(), self.settings.min_confidence, self.settings.prompt_chars, self._newest,
        )
        yield from pipeline.stream(question, history, Filters(since, until, tuple(sources), as_of), on_stage)

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
