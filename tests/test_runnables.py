"""The LangChain interfaces against a real ingested home: the docstrings' snippets are run and
their printed output compared, so the examples users copy cannot rot."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import inspect
import io
import json
import shutil
import textwrap
from pathlib import Path

import pytest
from langchain_tests.integration_tests import RetrieversIntegrationTests

from retrieval import (
    Answer,
    EmptyIndexError,
    NewsbotError,
    NewsDesk,
    NewsRetriever,
    Settings,
    answer_runnable,
)

pytestmark = pytest.mark.slow
SEED_DATE = "2021-12-20"
QUESTION = "What did Modi and Putin discuss?"


@pytest.fixture
def env_home(corpus_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """NEWSBOT_HOME points at a copy of the ingested corpus, so no-argument constructors find it."""
    home = tmp_path / "env-home"
    shutil.copytree(corpus_home, home)
    monkeypatch.setenv("NEWSBOT_HOME", str(home))
    monkeypatch.setenv("NEWSBOT_LLM", "extractive")
    return home


def code_blocks(doc: str) -> list[tuple[str, str]]:
    """(kind, code) for each `.. code-block:: kind` in a docstring, dedented."""
    blocks: list[tuple[str, str]] = []
    lines = doc.splitlines()
    i = 0
    while i < len(lines):
        directive = lines[i].strip()
        i += 1
        if not directive.startswith(".. code-block::"):
            continue
        indent = len(lines[i - 1]) - len(lines[i - 1].lstrip())
        body: list[str] = []
        while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) > indent):
            body.append(lines[i])
            i += 1
        blocks.append((directive.split("::")[1].strip(), textwrap.dedent("\n".join(body)).strip()))
    return blocks


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def run_snippets(doc: str) -> int:
    """Run the python blocks in one namespace; a `none` block right after one is its stdout."""
    namespace: dict[str, object] = {}
    blocks = code_blocks(doc)
    checked = 0
    for n, (kind, code) in enumerate(blocks):
        if kind != "python":
            continue
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(code, f"<snippet {n}>", "exec"), namespace)
        if n + 1 < len(blocks) and blocks[n + 1][0] == "none":
            assert out.getvalue().strip() == blocks[n + 1][1], code
            checked += 1
    return checked


@pytest.mark.parametrize("obj", [NewsRetriever, answer_runnable], ids=lambda o: o.__name__)
def test_docstring_snippets_run_and_print_what_they_show(obj: object, env_home: Path) -> None:
    doc = inspect.getdoc(obj)
    assert doc and {"Setup:", "Instantiate:", "Invoke:", "Use in a chain:"} <= set(doc.splitlines())
    assert run_snippets(doc) >= 2


def test_retriever_finds_the_seed_with_its_metadata(corpus_desk: NewsDesk) -> None:
    docs = NewsRetriever(desk=corpus_desk, k=3).invoke(QUESTION)
    assert 1 <= len(docs) <= 3
    first = docs[0]
    assert first.metadata["published"] == SEED_DATE
    assert set(first.metadata) == {"article_id", "title", "source", "published", "url", "score"}
    assert first.id == first.metadata["article_id"]
    assert "Putin" in first.page_content and first.metadata["score"] > 0


def test_retriever_filters(corpus_desk: NewsDesk) -> None:
    assert NewsRetriever(desk=corpus_desk, since=dt.date(2022, 1, 1)).invoke(QUESTION) == []
    assert NewsRetriever(desk=corpus_desk, sources=("No Such Outlet",)).invoke(QUESTION) == []
    kept = NewsRetriever(desk=corpus_desk, until=dt.date(2021, 12, 31)).invoke(QUESTION)
    assert kept[0].metadata["published"] == SEED_DATE


def test_retriever_lets_engine_errors_through(make_desk) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(EmptyIndexError):
        NewsRetriever(desk=make_desk()).invoke(QUESTION)
    with pytest.raises(NewsbotError):
        NewsRetriever(desk=make_desk()).invoke("   ")


def test_answer_runnable_invoke_cites_the_seed(corpus_desk: NewsDesk) -> None:
    answer = answer_runnable(corpus_desk).invoke(QUESTION)
    assert isinstance(answer, Answer) and not answer.abstained
    assert [c.published.isoformat() for c in answer.citations if c.published] == [SEED_DATE]


def test_answer_runnable_takes_a_dict_with_filters(corpus_desk: NewsDesk) -> None:
    newsbot = answer_runnable(corpus_desk)
    later = newsbot.invoke({"question": QUESTION, "since": "2022-01-01", "as_of": dt.date(2022, 2, 1)})
    elsewhere = newsbot.invoke({"question": QUESTION, "sources": "No Such Outlet"})
    assert later.abstained and elsewhere.abstained and not later.citations
    history = [{"role": "user", "text": QUESTION}]
    followup = newsbot.invoke({"question": "When was that?", "history": history, "as_of": "2021-12-21"})
    assert [c.published for c in followup.citations] == [dt.date(2021, 12, 20)]
    with pytest.raises(NewsbotError):
        newsbot.invoke({"question": QUESTION, "as_of": "last Tuesday"})
    with pytest.raises(NewsbotError):
        newsbot.invoke({"text": QUESTION})


def test_answer_runnable_streams_pieces_then_the_answer(corpus_desk: NewsDesk) -> None:
    *pieces, final = answer_runnable(corpus_desk).stream(QUESTION)
    assert pieces and all(isinstance(p, str) for p in pieces)
    assert isinstance(final, Answer) and not final.abstained


def test_answer_runnable_astream_matches_stream(corpus_desk: NewsDesk) -> None:
    async def collect() -> list[object]:
        return [event async for event in answer_runnable(corpus_desk).astream(QUESTION)]

    *pieces, final = asyncio.run(collect())
    assert pieces and all(isinstance(p, str) for p in pieces)
    assert isinstance(final, Answer) and final.citations


def test_answer_runnable_batch(corpus_desk: NewsDesk) -> None:
    answers = answer_runnable(corpus_desk).batch([QUESTION, "What did Putin and Modi talk about?"])
    assert len(answers) == 2 and all(isinstance(a, Answer) and not a.abstained for a in answers)


EXTRA = [
    ("summit", "Putin visits New Delhi for annual summit", "2021-12-06",
     "Vladimir Putin met Narendra Modi in New Delhi for the annual India-Russia summit."),
    ("s400", "India receives S-400 deliveries", "2021-12-14",
     "Russia began delivering the S-400 air defence system to India, Putin told Modi."),
    ("trade", "India and Russia set trade target", "2021-12-07",
     "Modi and Putin agreed to raise bilateral trade to 30 billion dollars by 2025."),
]


@pytest.fixture(scope="module")
def four_article_desk(  # type: ignore[no-untyped-def]
    corpus_home: Path, tmp_path_factory: pytest.TempPathFactory, real_embedder
) -> NewsDesk:
    """corpus/ plus three short articles about the same visit: LangChain's suite asks for k=3."""
    home = tmp_path_factory.mktemp("four-articles")
    shutil.copytree(corpus_home, home, dirs_exist_ok=True)
    data = home / "extra.jsonl"
    data.write_text("".join(
        json.dumps({"url": f"https://news.example/{key}", "title": title, "source": "Example Wire",
                    "published": date, "text": text}) + "\n"
        for key, title, date, text in EXTRA
    ))
    desk = NewsDesk(Settings(home=home, llm="extractive"), real_embedder)
    assert desk.ingest([data]).new == len(EXTRA)
    return desk


class TestNewsRetrieverStandard(RetrieversIntegrationTests):
    """LangChain's own retriever checks (k in the constructor and per call, invoke/ainvoke)."""

    pytestmark = [pytest.mark.anyio]  # runs the suite's one async test; the sync ones ignore it

    @pytest.fixture(autouse=True)
    def _desk(self, four_article_desk: NewsDesk) -> None:
        self.desk = four_article_desk

    @property
    def retriever_constructor(self) -> type[NewsRetriever]:
        return NewsRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, object]:
        return {"desk": self.desk, "k": 2}

    @property
    def retriever_query_example(self) -> str:
        return QUESTION
