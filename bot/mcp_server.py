"""`newsbot mcp`: the news as two tools for AI assistants, over the Model Context Protocol (stdio).

A thin front-end like the others: it parses the tool arguments, calls the NewsDesk, and returns
JSON-shaped results (pydantic models, so clients get an output schema). stdout is the protocol
channel: logs go to stderr, and the SDK points fd 1 at stderr while it serves, so stray output
from a library cannot corrupt the stream. The desk is built once, on first need, by a warm-up
thread started with the server: `initialize` is answered at once instead of after the seconds
the embedder takes to load. Engine errors come back as tool errors with their message; the
server itself keeps running.
"""

import datetime as dt
import inspect
import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any, TypeVar

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import BaseModel, Field

from retrieval import ArticleHit, Citation, NewsbotError, NewsDesk, checked_question, user_date

log = logging.getLogger(__name__)

T = TypeVar("T")

INSTRUCTIONS = (
    "newsbot answers from a fixed collection of news articles that its owner ingested, not from the "
    "web. Use answer_news_question for a short answer with numbered sources, and search_news to see "
    "which articles exist. When you pass facts on, cite the outlet, date and url of the source they "
    "come from. If an answer abstains, the articles do not say: do not fill the gap from memory as if "
    "newsbot had said it. Relative dates ('this week') are read against as_of (default: today)."
)
READ_ONLY = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)

IsoDate = Annotated[
    str | None,
    Field(description="A date as YYYY-MM-DD, e.g. 2021-12-20; omit for none."),
]


class NewsResult(BaseModel):
    """One article search found."""

    n: int = Field(description="Rank, 1 = best match; refer to the result as [n].")
    title: str
    source: str = Field(description="The outlet that published the article ('' when unknown).")
    published: str | None = Field(description="Publication date, YYYY-MM-DD; null when undated.")
    url: str
    score: float = Field(description="Fused relevance score; higher is better, comparable within one search only.")
    passage: str = Field(description="The article's passage that best matches the query, verbatim.")


class NewsSearch(BaseModel):
    query: str
    results: list[NewsResult] = Field(description="Best first; empty when nothing matches the filters.")


class Source(BaseModel):
    """A source the answer cites as [n]."""

    n: int
    title: str
    source: str = Field(description="The outlet ('' when unknown).")
    published: str | None = Field(description="Publication date, YYYY-MM-DD; null when undated.")
    url: str
    quote: str = Field(description="The passage(s) the answer rests on, verbatim; ' … ' joins several.")


class NewsAnswer(BaseModel):
    answer: str = Field(description="A few sentences; each claim carries [n] markers pointing into citations.")
    abstained: bool = Field(description="True when the articles do not answer the question; the answer then says so.")
    citations: list[Source]
    notice: str | None = Field(default=None, description="A caveat about how the answer was made, if any.")


def build_server(make_desk: Callable[[], NewsDesk], *, warm_up: bool = True) -> MCPServer:
    """The MCP server over the NewsDesk that make_desk builds (called once, on first need)."""
    desk = _LazyDesk(make_desk)

    @asynccontextmanager
    async def lifespan(_server: MCPServer) -> AsyncIterator[None]:
        if warm_up:
            desk.warm_up_in_background()
        yield None

    server = MCPServer("newsbot", instructions=INSTRUCTIONS, version=_version(), lifespan=lifespan)

    def search_news(
        query: Annotated[str, Field(description="Keywords or a question, e.g. 'Modi Putin S-400'.")],
        since: IsoDate = None,
        until: IsoDate = None,
        source: Annotated[str | None, Field(description="Only articles from this outlet (exact name).")] = None,
        as_of: Annotated[
            str | None,
            Field(description="Rank as if today were this date (YYYY-MM-DD): its recent news gets a boost."),
        ] = None,
        k: Annotated[int, Field(ge=1, le=20, description="How many articles to return.")] = 5,
    ) -> NewsSearch:
        """Find the news articles that best match a query, best first, each with its outlet,
        publication date, url and its best-matching passage.

        Use it to see what the collection holds on a subject, or to read the passages behind an
        answer. since/until filter by publication date (inclusive); as_of only shifts the ranking
        towards the days before it."""
        text = _guarded(lambda: checked_question(query))  # before the desk loads: a bad query fails fast
        filters = _guarded(lambda: _dates(since, until, as_of))
        result = _guarded(lambda: desk().search(text, k, sources=(source,) if source else (), **filters))
        return NewsSearch(query=text, results=[_result(n, hit) for n, hit in enumerate(result.articles, 1)])

    def answer_news_question(
        question: Annotated[str, Field(description="A question in plain words, e.g. 'What did Modi and Putin discuss?'")],
        as_of: Annotated[
            str | None,
            Field(description="Answer as if today were this date (YYYY-MM-DD); 'this week' etc. are read against it."),
        ] = None,
        since: IsoDate = None,
        until: IsoDate = None,
        source: Annotated[str | None, Field(description="Only articles from this outlet (exact name).")] = None,
    ) -> NewsAnswer:
        """Answer a question from the ingested news in a few sentences, every claim cited as [n]
        with the numbered source (outlet, date, title, url, quoted passage) in citations.

        When the articles do not answer it, abstained is true and the answer says so: report
        that rather than guessing. Each call is independent: put the full context in the
        question (not 'and what about him?')."""
        text = _guarded(lambda: checked_question(question))
        filters = _guarded(lambda: _dates(since, until, as_of))
        answer = _guarded(lambda: desk().answer(text, sources=(source,) if source else (), **filters))
        return NewsAnswer(
            answer=answer.text,
            abstained=answer.abstained,
            citations=[_source(c) for c in answer.citations],
            notice=answer.notice or None,
        )

    for tool, title in ((search_news, "Search the news"), (answer_news_question, "Answer a question from the news")):
        # the docstring is what the assistant reads: without the code's indentation
        server.add_tool(tool, title=title, description=inspect.cleandoc(tool.__doc__ or ""), annotations=READ_ONLY)
    return server


def run(make_desk: Callable[[], NewsDesk]) -> None:
    """Serve on stdin/stdout until the client closes the stream."""
    log.info("newsbot MCP server on stdio")
    build_server(make_desk).run("stdio")


class _LazyDesk:
    """The NewsDesk, built once by whichever comes first: the warm-up thread or a tool call."""

    def __init__(self, make: Callable[[], NewsDesk]) -> None:
        self._make = make
        self._desk: NewsDesk | None = None
        self._lock = threading.Lock()

    def __call__(self) -> NewsDesk:
        with self._lock:
            if self._desk is None:  # a failed build is tried again by the next call
                self._desk = self._make()
            return self._desk

    def warm_up_in_background(self) -> None:
        threading.Thread(target=self._warm_up, name="newsbot-mcp-warmup", daemon=True).start()

    def _warm_up(self) -> None:
        try:
            self().warm_up()
        except NewsbotError as e:  # the tool call that needs the part that failed reports it
            log.warning("warm-up: %s", e)
        except Exception:
            log.exception("warm-up failed")


def _guarded(fn: Callable[[], T]) -> T:
    """Engine errors become tool errors the assistant reads; anything else is the SDK's to report."""
    try:
        return fn()
    except NewsbotError as e:
        raise ToolError(str(e)) from e


def _dates(since: str | None, until: str | None, as_of: str | None) -> dict[str, dt.date | None]:
    return {"since": user_date(since, "since"), "until": user_date(until, "until"), "as_of": user_date(as_of, "as_of")}


def _iso(date: dt.date | None) -> str | None:
    return date.isoformat() if date else None


def _result(n: int, hit: ArticleHit) -> NewsResult:
    passage = hit.passages[0].text if hit.passages else ""
    return NewsResult(
        n=n, title=hit.title, source=hit.source, published=_iso(hit.published), url=hit.url,
        score=round(hit.score, 6), passage=passage,
    )


def _source(citation: Citation) -> Source:
    data: dict[str, Any] = citation.to_dict()
    return Source(**{name: data[name] for name in Source.model_fields})


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("newsbot")
    except PackageNotFoundError:
        return ""
