"""Fault: the Chroma server stops in the middle of a question, then comes back.

The question in hand fails at once with one clear message (which server, try again), not an
httpx traceback; the same NewsDesk answers the next question once the server is back, with
nothing lost. A real `chroma run` server is stopped and started again on its port and data.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from retrieval import BackendError, NewsDesk, Settings, Stage

from tests.chroma_server import ChromaServer
from tests.processes import free_port
from tests.conftest import CORPUS, ROOT

QUESTION = "What did Modi and Putin discuss?"
FAIL_WITHIN_SECONDS = 5.0


def says_unreachable(message: str, url: str) -> bool:
    """One line naming the server, why, and what to do: no exception type, no traceback."""
    return (
        message.startswith(f"cannot reach the Chroma server at {url} (")
        and "Connection refused" in message
        and message.endswith("); check that it is running, then try again")
        and "\n" not in message
    )


def test_a_server_that_stops_mid_question_fails_that_question_clearly_and_the_next_one_is_answered(
    tmp_path: Path, real_embedder  # type: ignore[no-untyped-def]
) -> None:
    server = ChromaServer(tmp_path / "chroma").start()
    try:
        settings = Settings(  # answers by cosine, not the learned scorer: seconds faster, same store calls
            home=tmp_path / "home", chroma_url=server.url, collection="fault_test", llm="extractive", sentence_scorer=False
        )
        desk = NewsDesk(settings, real_embedder)
        assert desk.ingest([CORPUS]).new == 1
        articles = desk.stats()["articles"]
        first = desk.answer(QUESTION)
        assert not first.abstained and first.citations

        def stop_the_server_mid_question(stage: Stage) -> None:
            if stage.name == "searching":  # the question is checked and the pipeline running
                server.stop()

        started = time.monotonic()
        with pytest.raises(BackendError) as failed:
            for _ in desk.stream("Which fertilizers did India and Russia talk about?", on_stage=stop_the_server_mid_question):
                pass
        assert time.monotonic() - started < FAIL_WITHIN_SECONDS  # chromadb's client does not retry
        assert says_unreachable(str(failed.value), server.url), str(failed.value)

        server.start()  # same port, same data directory
        again = desk.answer(QUESTION)  # the same desk: no restart, nothing reopened by hand
        assert not again.abstained and again.citations
        assert again.citations[0].published.isoformat() == "2021-12-20"  # type: ignore[union-attr]
        assert desk.stats()["articles"] == articles
    finally:
        server.stop()


def test_newsbot_ask_says_the_server_is_unreachable_without_a_traceback(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    env = dict(os.environ, NEWSBOT_HOME=str(tmp_path / "home"), NEWSBOT_LLM="extractive", NEWSBOT_CHROMA_URL=url, NEWSBOT_SENTENCE_SCORER="0")
    started = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-m", "bot.cli", "ask", QUESTION], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 1, out.stderr
    assert out.stderr.startswith("Error: ") and says_unreachable(out.stderr.strip().removeprefix("Error: "), url), out.stderr
    assert out.stdout == ""
    assert time.monotonic() - started < 60


def test_chat_keeps_going_while_the_server_is_down(tmp_path: Path) -> None:
    """Piped `newsbot chat`: each question the store cannot serve gets its error, and the session
    goes on (it used to end at the first one). The interactive warm-up keeps its desk, so the
    questions after the server returns are answered without restarting `chat`."""
    from bot.terminal.jobs import Warmup
    from retrieval import BackendError, Settings

    url = f"http://127.0.0.1:{free_port()}"
    env = dict(os.environ, NEWSBOT_HOME=str(tmp_path / "home"), NEWSBOT_LLM="extractive", NEWSBOT_CHROMA_URL=url, NEWSBOT_SENTENCE_SCORER="0")
    out = subprocess.run([sys.executable, "-m", "bot.cli", "chat"], cwd=ROOT, env=env, input=f"{QUESTION}\nAnd then?\n",
                         capture_output=True, text=True, timeout=180)
    errors = [line for line in out.stderr.splitlines() if line.startswith("error: ")]
    assert out.returncode == 0 and len(errors) == 2 and all(says_unreachable(e.removeprefix("error: "), url) for e in errors), out.stderr

    warmup = Warmup(Settings(home=tmp_path / "home", chroma_url=url, llm="extractive")).start()
    assert warmup.done.wait(120)
    assert isinstance(warmup.error, BackendError) and warmup.desk is not None
