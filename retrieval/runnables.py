"""newsbot as LangChain pieces: a `BaseRetriever` over the hybrid search and the whole answer
chain as a `Runnable`, so a LangChain user can put newsbot's news into their own chain or agent.

Both build a `NewsDesk` from the same settings as the CLI (NEWSBOT_HOME, .env…) when given
none, and only on first use. The snippets in the docstrings are run by tests/test_runnables.py.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import run_in_executor
from pydantic import ConfigDict

from retrieval.dates import user_date
from retrieval.desk import NewsDesk
from retrieval.errors import QuestionError
from retrieval.settings import Settings
from retrieval.types import Answer, ArticleHit, Turn

_BUILD = threading.Lock()  # batch() runs calls in threads: build a lazily-made desk only once


def _lazy_desk(owner: Any, attr: str) -> NewsDesk:
    """The owner's desk, built from the CLI's settings on first use."""
    if getattr(owner, attr) is None:
        with _BUILD:
            if getattr(owner, attr) is None:
                setattr(owner, attr, NewsDesk(Settings.from_env()))
    desk: NewsDesk = getattr(owner, attr)
    return desk


class NewsRetriever(BaseRetriever):
    """The news index as a LangChain retriever: one `Document` per article, best first.

    Setup:
        Ingest some news first (``newsbot ingest corpus/``). With no arguments the retriever
        reads the same settings as the CLI: ``NEWSBOT_HOME``, ``NEWSBOT_CHROMA_URL``, ``.env``.

    Key init args:
        desk: NewsDesk | None
            The engine to search; built from ``Settings.from_env()`` on first use if omitted.
        k: int
            How many articles to return (default 5).
        since, until: datetime.date | None
            Keep only articles published in this range (inclusive).
        sources: tuple[str, ...]
            Keep only these outlets.
        as_of: datetime.date | None
            Rank articles from the days before this date a little higher (default: today).

    Instantiate:
        .. code-block:: python

            import datetime as dt
            from retrieval import NewsRetriever

            retriever = NewsRetriever(k=3)
            recent = NewsRetriever(k=3, since=dt.date(2022, 1, 1))

    Invoke:
        .. code-block:: python

            docs = retriever.invoke("What did Modi and Putin discuss?")
            print(docs[0].metadata["published"], docs[0].metadata["title"][:38])
            print(len(recent.invoke("What did Modi and Putin discuss?")))

        .. code-block:: none

            2021-12-20 Prime Minister Narendra Modi on Monday
            0

        ``page_content`` is the article's best passages, best first; ``metadata`` holds
        ``article_id``, ``title``, ``source`` (the outlet), ``published`` (ISO date or None),
        ``url`` and ``score``. An empty index raises ``retrieval.EmptyIndexError``.

    Use in a chain:
        .. code-block:: python

            from langchain_core.prompts import ChatPromptTemplate
            from langchain_core.runnables import RunnablePassthrough

            def format_docs(docs):
                return "\\n\\n".join(f"[{n}] {d.metadata['published']}: {d.page_content[:56]}"
                                    for n, d in enumerate(docs, 1))

            prompt = ChatPromptTemplate.from_template(
                "Answer from the news below, citing [n].\\n{context}\\nQuestion: {question}")
            chain = {"context": retriever | format_docs, "question": RunnablePassthrough()} | prompt
            print(chain.invoke("What did Modi and Putin discuss?").to_string())

        .. code-block:: none

            Human: Answer from the news below, citing [n].
            [1] 2021-12-20: Prime Minister Narendra Modi on Monday held a telephonic
            Question: What did Modi and Putin discuss?
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    desk: NewsDesk | None = None
    k: int = 5
    since: dt.date | None = None
    until: dt.date | None = None
    sources: tuple[str, ...] = ()
    as_of: dt.date | None = None

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, k: int | None = None
    ) -> list[Document]:
        """`k` may also be given per call, `retriever.invoke(q, k=2)`, as LangChain's suite asks."""
        result = _lazy_desk(self, "desk").search(
            query,
            self.k if k is None else k,
            since=self.since,
            until=self.until,
            sources=self.sources,
            as_of=self.as_of,
        )
        return [_document(hit) for hit in result.articles]


def _document(hit: ArticleHit) -> Document:
    return Document(
        id=hit.article_id,
        page_content="\n\n".join(p.text for p in hit.passages),
        metadata={
            "article_id": hit.article_id,
            "title": hit.title,
            "source": hit.source,
            "published": hit.published.isoformat() if hit.published else None,
            "url": hit.url,
            "score": hit.score,
        },
    )


AnswerInput = str | Mapping[str, Any]  # a question, or a dict with one and its options


class _AnswerRunnable(Runnable[AnswerInput, Answer]):
    """`NewsDesk.answer` / `NewsDesk.stream` behind LangChain's Runnable interface."""

    def __init__(self, desk: NewsDesk | None) -> None:
        self._desk = desk

    @property
    def desk(self) -> NewsDesk:
        return _lazy_desk(self, "_desk")

    def invoke(
        self, input: AnswerInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Answer:
        return self._call_with_config(self._answer, input, config)

    def _answer(self, item: AnswerInput) -> Answer:
        question, options = _arguments(item)
        return self.desk.answer(question, **options)

    def stream(  # type: ignore[override]  # text pieces, then the Answer
        self, input: AnswerInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[str | Answer]:
        yield from self._transform_stream_with_config(iter([input]), self._events, config)

    async def astream(  # type: ignore[override]
        self, input: AnswerInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[str | Answer]:
        """The pieces `stream` yields, each fetched in a worker thread (the engine is sync)."""
        events, done = self.stream(input, config), object()
        while (event := await run_in_executor(config, next, events, done)) is not done:
            yield event  # type: ignore[misc]

    def _events(self, inputs: Iterator[AnswerInput]) -> Iterator[str | Answer]:
        for item in inputs:
            question, options = _arguments(item)
            yield from self.desk.stream(question, **options)


def answer_runnable(desk: NewsDesk | None = None) -> Runnable[AnswerInput, Answer]:
    """newsbot's whole answer chain — search, relevance gate, LLM, citation check — as a Runnable.

    Input is a question (str) or a dict ``{"question", "history", "as_of", "since", "until",
    "sources"}``: ``history`` is a list of ``Turn`` or ``{"role", "text"}`` dicts, dates are
    ``datetime.date`` or ISO strings. Output is a ``retrieval.Answer`` (text with [n] markers,
    citations, ``abstained``). With no desk it reads the same settings as the CLI.

    Setup:
        Ingest some news first (``newsbot ingest corpus/``); ``NEWSBOT_LLM`` picks the LLM.

    Instantiate:
        .. code-block:: python

            from retrieval import answer_runnable

            newsbot = answer_runnable()

    Invoke:
        .. code-block:: python

            answer = newsbot.invoke("What did Modi and Putin discuss?")
            print(answer.abstained, [c.published.isoformat() for c in answer.citations])
            followup = newsbot.invoke({
                "question": "When did they speak?",
                "history": [{"role": "user", "text": "What did Modi and Putin discuss?"}],
                "as_of": "2021-12-21",
            })
            print(followup.citations[0].published)

        .. code-block:: none

            False ['2021-12-20']
            2021-12-20

    Stream and batch:
        ``stream`` (and ``astream``) yields the text as it is written (str pieces), then the
        checked ``Answer``, always last; its text is authoritative (citation checking may change
        what streamed). ``batch`` answers in parallel threads.

        .. code-block:: python

            *pieces, final = newsbot.stream("What did Modi and Putin discuss?")
            print(all(isinstance(p, str) for p in pieces), type(final).__name__)
            print(len(newsbot.batch(["Who called whom?", "What about the Indo-Pacific?"])))

        .. code-block:: none

            True Answer
            2

    Use in a chain:
        .. code-block:: python

            from langchain_core.runnables import RunnableLambda

            def with_sources(answer):
                return answer.text + "".join(f"\\n[{c.n}] {c.url or c.title[:30]}"
                                             for c in answer.citations)

            chain = RunnableLambda(str.strip) | newsbot | with_sources
            print(chain.invoke("  What did Modi and Putin discuss?  ").splitlines()[-1])

        .. code-block:: none

            [1] Prime Minister Narendra Modi o
    """
    return _AnswerRunnable(desk)


def _arguments(item: AnswerInput) -> tuple[str, dict[str, Any]]:
    """The question and NewsDesk.answer's keyword arguments from a str or dict input."""
    if isinstance(item, str):
        return item, {}
    if not isinstance(item, Mapping) or not isinstance(item.get("question"), str):
        kind = type(item).__name__
        raise QuestionError(f"expected a question (str) or a dict with a question, got {kind}")
    sources = item.get("sources") or ()
    return item["question"], {
        "history": [_turn(t) for t in item.get("history") or ()],
        "as_of": user_date(item.get("as_of"), "as_of"),
        "since": user_date(item.get("since"), "since"),
        "until": user_date(item.get("until"), "until"),
        "sources": (sources,) if isinstance(sources, str) else tuple(sources),
    }


def _turn(turn: Turn | Mapping[str, Any]) -> Turn:
    if isinstance(turn, Turn):
        return turn
    try:
        return Turn(str(turn["role"]), str(turn["text"]))
    except (KeyError, TypeError):
        raise QuestionError(f"a history turn needs 'role' and 'text', got {turn!r}") from None


__all__ = ["NewsRetriever", "answer_runnable"]
