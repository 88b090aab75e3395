"""The same ingest and answers against a real `chroma run` server on 127.0.0.1 (HttpClient)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from retrieval import NewsDesk, Settings

from tests.chroma_server import ChromaServer
from tests.conftest import CORPUS


@pytest.fixture(scope="module")
def chroma_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = ChromaServer(tmp_path_factory.mktemp("chroma-server")).start()
    yield server.url
    server.stop()


def test_ingest_search_and_answer_through_a_chroma_server(chroma_url: str, tmp_path: Path, real_embedder) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(home=tmp_path / "replica-1", chroma_url=chroma_url, collection="server_test", llm="extractive")
    desk = NewsDesk(settings, real_embedder)
    first = desk.ingest([CORPUS])
    assert first.new == 1 and first.ok
    assert desk.ingest([CORPUS]).unchanged == 1  # idempotent against the server too
    assert not (tmp_path / "replica-1" / "chroma").exists()  # nothing stored locally

    # a second replica with its own home sees the same index, lexical half included
    replica = NewsDesk(Settings(home=tmp_path / "replica-2", chroma_url=chroma_url, collection="server_test", llm="extractive"), real_embedder)
    assert replica.stats()["articles"] == 1
    assert replica.lexical().search("fertilizers", 5)
    answer = replica.answer("What did Modi and Putin discuss?")
    assert not answer.abstained and answer.citations[0].published.isoformat() == "2021-12-20"  # type: ignore[union-attr]
