"""`newsbot mcp` driven as an AI assistant drives it: the MCP SDK's own client, over stdio,
against the real command (real Chroma, the bundled MiniLM, extractive answers)."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import anyio
import pytest
from mcp import ClientSession, StdioServerParameters, stdio_client

from tests.conftest import ROOT

pytestmark = pytest.mark.slow

T = TypeVar("T")
TIMEOUT_S = 120  # per request; the first one may wait for the embedder to load


def with_server(home: Path, workdir: Path, body: Callable[[ClientSession], Awaitable[T]]) -> T:
    """Start `newsbot --home HOME mcp`, initialise a session, run body(session), stop the server."""
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "bot.cli", "--home", str(home), "mcp"],
        # the client passes only a minimal environment; this is all the server gets
        env={"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "NEWSBOT_LLM": "extractive", "PYTHONPATH": str(ROOT)},
        cwd=workdir,  # no developer .env is read
    )
    log_path = workdir / "server.log"

    async def main() -> T:
        with log_path.open("w") as errlog:
            async with stdio_client(params, errlog=errlog) as (read, write):
                async with ClientSession(read, write, read_timeout_seconds=TIMEOUT_S) as session:
                    await session.initialize()
                    return await body(session)

    try:
        return anyio.run(main)
    except BaseException:
        print("server stderr:\n" + log_path.read_text(), file=sys.stderr)
        raise


def call(session: ClientSession, tool: str, **arguments: Any) -> Awaitable[Any]:
    return session.call_tool(tool, arguments)


def error_text(result: Any) -> str:
    assert result.is_error, result
    return " ".join(block.text for block in result.content)


def test_tools_search_and_answer_over_the_corpus(corpus_home: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    shutil.copytree(corpus_home, home)

    async def body(session: ClientSession) -> dict[str, Any]:
        return {
            "tools": (await session.list_tools()).tools,
            "search": await call(session, "search_news", query="Modi Putin"),
            "answer": await call(session, "answer_news_question", question="What did Modi and Putin discuss?", as_of="2021-12-21"),
            "bad_date": await call(session, "search_news", query="Modi Putin", since="not-a-date"),
            "too_far": await call(session, "search_news", query="Modi Putin", since="2022-01-01"),
        }

    got = with_server(home, tmp_path, body)

    tools = {t.name: t for t in got["tools"]}
    assert set(tools) == {"search_news", "answer_news_question"}
    search_schema = tools["search_news"].input_schema
    assert set(search_schema["properties"]) == {"query", "since", "until", "source", "as_of", "k"}
    assert search_schema["required"] == ["query"]
    assert tools["answer_news_question"].input_schema["required"] == ["question"]
    assert "results" in tools["search_news"].output_schema["properties"]
    assert {"answer", "abstained", "citations"} <= set(tools["answer_news_question"].output_schema["properties"])
    assert all(t.description and t.annotations.read_only_hint for t in tools.values())

    search = got["search"]
    assert not search.is_error, search.content
    first = search.structured_content["results"][0]
    assert first["n"] == 1 and first["published"] == "2021-12-20"
    assert set(first) == {"n", "title", "source", "published", "url", "score", "passage"}
    assert "Putin" in first["title"] + first["passage"] and first["score"] > 0

    answer = got["answer"]
    assert not answer.is_error, answer.content
    data = answer.structured_content
    assert data["abstained"] is False and "[1]" in data["answer"]
    (citation,) = data["citations"]
    assert set(citation) == {"n", "title", "source", "published", "url", "quote"}
    assert citation["n"] == 1 and citation["published"] == "2021-12-20"
    seed = (ROOT / "corpus" / "000_ff46239a7c5f29a8.txt").read_text()
    assert all(part in seed for part in citation["quote"].split(" … "))

    message = error_text(got["bad_date"])
    assert "since" in message and "not-a-date" in message and "YYYY-MM-DD" in message
    assert got["too_far"].structured_content["results"] == []  # a hard filter, honoured


def test_engine_errors_are_tool_errors_and_the_server_keeps_serving(tmp_path: Path) -> None:
    empty = tmp_path / "empty-home"

    async def body(session: ClientSession) -> list[Any]:
        return [
            await call(session, "search_news", query="Modi Putin"),
            await call(session, "answer_news_question", question="x" * 50_000),
            await call(session, "answer_news_question", question="What did Modi and Putin discuss?"),
        ]

    empty_search, long_question, empty_answer = with_server(empty, tmp_path, body)
    assert "ingest" in error_text(empty_search)
    assert "50,000 characters" in error_text(long_question)
    assert "ingest" in error_text(empty_answer)
