"""The `openai` backend over real HTTP (streamed SSE) against an OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import io
import json
import logging
import re
import shutil
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from retrieval import NewsDesk, Settings, Turn
from retrieval.answer.prompts import CONDENSE_SYSTEM, EXAMPLES
from retrieval.types import Answer
from tests import sse_server
from tests.conftest import CORPUS

REWRITTEN = "What did Modi and Putin say about the S-500 missile system?"


class FakeOpenAI(ThreadingHTTPServer):
    """POST /v1/chat/completions: condense requests get REWRITTEN, answers get the next scripted text."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[dict[str, Any]] = []
        self.headers_seen: list[dict[str, str]] = []
        self.answers: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # the body ends when the connection closes: simple streaming
    server: FakeOpenAI

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append(body)
        self.server.headers_seen.append({"Authorization": self.headers.get("Authorization", "")})
        condense = body["messages"][0]["content"] == CONDENSE_SYSTEM
        text = REWRITTEN if condense else self.server.answers.pop(0)
        usage = {"prompt_tokens": 123, "completion_tokens": 9, "total_tokens": 132}
        if not body.get("stream"):
            self._send("application/json", json.dumps({
                "id": "c1", "object": "chat.completion", "created": 0, "model": body["model"],
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": usage,
            }).encode())
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for i, piece in enumerate(_pieces(text)):
            delta = {"role": "assistant", "content": piece} if i == 0 else {"content": piece}
            self._event({"choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
        self._event({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        if (body.get("stream_options") or {}).get("include_usage"):
            self._event({"choices": [], "usage": usage})
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()

    def _event(self, data: dict[str, Any]) -> None:
        data = {"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": "fake", **data}
        self.wfile.write(f"data: {json.dumps(data)}\n\n".encode())
        self.wfile.flush()

    def _send(self, kind: str, payload: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def _pieces(text: str) -> list[str]:
    words = text.split(" ")
    return [w if i == 0 else " " + w for i, w in enumerate(words)]


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    srv = FakeOpenAI()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def desk_at(corpus_home: Path, tmp_path: Path, real_embedder, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], NewsDesk]:  # type: ignore[no-untyped-def]
    """A NewsDesk over a copy of the corpus, answering with the `openai` backend at a base URL."""
    home = tmp_path / "home"
    shutil.copytree(corpus_home, home)

    def make(url: str) -> NewsDesk:
        monkeypatch.setenv("NEWSBOT_HOME", str(home))
        monkeypatch.setenv("NEWSBOT_LLM", "openai")
        monkeypatch.setenv("NEWSBOT_OPENAI_BASE_URL", url)
        monkeypatch.setenv("NEWSBOT_OPENAI_MODEL", "fake-model")
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-key")
        return NewsDesk(Settings.from_env(), real_embedder)

    return make


@pytest.fixture
def desk(server: FakeOpenAI, desk_at: Callable[[str], NewsDesk]) -> NewsDesk:
    return desk_at(server.url)


@pytest.fixture
def server_process(tmp_path: Path) -> Iterator[Callable[..., tuple[subprocess.Popen[str], str]]]:
    """Starts tests/sse_server.py processes (answer text, options); kills what is left at the end."""
    procs: list[subprocess.Popen[str]] = []

    def start(answer: str, *options: str) -> tuple[subprocess.Popen[str], str]:
        proc, url = sse_server.start(answer, tmp_path, *options)
        procs.append(proc)
        return proc, url

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        if proc.stdout:
            proc.stdout.close()


def test_streams_over_http_and_checks_citations(desk: NewsDesk, server: FakeOpenAI) -> None:
    raw = (
        "Modi and Putin agreed on enhancing India-Russia cooperation, including in supply of fertilizers [1]. "
        "They discussed the purchase of the S-500 [4]. The moon is made of green cheese."
    )
    server.answers.append(raw)
    events = list(desk.stream("What did Modi and Putin discuss?"))
    pieces, answer = events[:-1], events[-1]
    assert all(isinstance(p, str) for p in pieces) and len(pieces) > 10  # token by token
    assert "".join(pieces) == raw  # what streamed is the model's text; the Answer is the checked one
    assert not answer.abstained and answer.notice == ""
    assert [c.n for c in answer.citations] == [1]
    assert "India-Russia cooperation" in answer.citations[0].quote  # the shown sentence that supports the claim
    assert "[4]" not in answer.text and "cheese" not in answer.text
    assert answer.text.startswith("Modi and Putin agreed on enhancing India-Russia cooperation")
    assert answer.timings["prompt_tokens"] == 123.0

    request = server.requests[-1]
    assert request["model"] == "fake-model" and request["stream"] is True and request["temperature"] == 0
    assert server.headers_seen[-1]["Authorization"] == "Bearer sk-test-key"
    roles = [m["role"] for m in request["messages"]]
    assert roles == ["system", *["user", "assistant"] * len(EXAMPLES), "user"]  # rules, worked examples, the question
    user = request["messages"][-1]["content"]
    assert user.startswith("Today is ") and "\n<passages>\n[1] " in user
    assert user.endswith("</passages>\nQuestion: What did Modi and Putin discuss?")


def test_the_server_rewrites_a_follow_up_before_search(desk: NewsDesk, server: FakeOpenAI) -> None:
    server.answers.append("India is already buying the S-400 system from Russia [1].")
    history = [Turn("user", "What did Modi and Putin discuss?"), Turn("assistant", "Fertilizers [1].")]
    answer = desk.answer("and what about the S-500?", history=history)
    assert answer.standalone_question == REWRITTEN
    assert server.requests[0]["messages"][0]["content"] == CONDENSE_SYSTEM
    assert "Last question: and what about the S-500?" in server.requests[0]["messages"][1]["content"]
    assert REWRITTEN in server.requests[1]["messages"][-1]["content"]
    assert not answer.abstained and answer.citations[0].title.startswith("Prime Minister Narendra Modi")


def test_not_found_from_the_model_is_an_abstention(desk: NewsDesk, server: FakeOpenAI) -> None:
    server.answers.append("NOT FOUND")
    events = list(desk.stream("What did Modi and Putin say about cricket?"))
    assert events[:-1] == ["I couldn't find this in the news I have."]
    assert events[-1].abstained and events[-1].citations == []


def test_not_found_beside_a_sentence_the_scorer_is_sure_of_quotes_it(
    desk: NewsDesk, server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The 1.5B model sometimes refuses beside a passage that plainly answers; above
    QUOTE_CONFIDENCE the sentences are quoted, with a notice saying why, instead of a refusal."""
    from retrieval.answer import pipeline

    question = "What did Modi and Putin discuss?"
    monkeypatch.setattr(pipeline, "QUOTE_CONFIDENCE", 0.0)
    server.answers.append("NOT FOUND")
    events = list(desk.stream(question))
    answer = events[-1]
    assert isinstance(answer, Answer) and not answer.abstained
    assert events[0] != "I couldn't find this in the news I have." and "“" in answer.text
    assert answer.notice.startswith("The model found no answer in these sources")
    assert_cites_the_corpus(answer)


FAILED = "The openai LLM failed, so this answer quotes the sources instead."
FAILED_PARTWAY = "The openai LLM failed partway through its answer, so this answer quotes the sources instead."
# Worded unlike the article, so the model's words can be told apart from the quoted sources.
SCRIPTED = (
    "Over the phone the two leaders settled on the way forward for fertilizer supplies [1]. "
    "They also weighed a deal on the S-500 anti-missile system [1], an upgrade of the S-400 "
    "that India is already buying [1]. " + " ".join(["More words follow here."] * 20)
)


def test_a_server_down_before_the_request_gives_the_extractive_answer(desk: NewsDesk, server: FakeOpenAI) -> None:
    server.shutdown()
    server.server_close()
    answer = desk.answer("What did Modi and Putin discuss?")
    assert not answer.abstained and "“" in answer.text
    assert answer.notice == FAILED
    assert_cites_the_corpus(answer)


def test_a_server_killed_mid_answer_gives_the_extractive_answer_not_the_partial_one(
    desk_at: Callable[[str], NewsDesk],
    server_process: Callable[..., tuple[subprocess.Popen[str], str]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A real server process (HTTP/1.1, chunked SSE, a word every 50 ms) SIGKILLed after its first words."""
    caplog.set_level(logging.WARNING, "retrieval.answer.pipeline")
    proc, url = server_process(SCRIPTED, "--delay", "0.05")
    desk = desk_at(url)
    events: list[str | Answer] = []
    for event in desk.stream("What did Modi and Putin discuss?"):
        events.append(event)
        if isinstance(event, str) and len(events) == 3:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    pieces, answer = events[:-1], events[-1]
    assert isinstance(answer, Answer) and all(isinstance(p, str) for p in pieces)
    partial = "".join(str(p) for p in pieces[:3])
    assert partial.startswith("Over the phone")  # the model's first words did stream
    assert "Over the phone" not in answer.text  # …but the final answer is not the cut-off text
    assert not answer.abstained and "“" in answer.text  # it quotes the sources instead
    assert answer.notice == FAILED_PARTWAY
    assert_cites_the_corpus(answer)
    [warning] = caplog.records  # one line on the user's terminal, not a traceback
    assert "openai LLM failed while answering: Connection error" in warning.getMessage() and not warning.exc_info

    drawn, final = on_a_terminal(events)  # `newsbot ask` / `newsbot chat` on a terminal
    assert partial in drawn  # shown while it streamed…
    assert "Over the phone" not in final  # …then replaced by the final answer, with the notice under it
    assert final.lstrip().startswith("“") and FAILED_PARTWAY in final and "Sources" in final


def test_a_stream_that_ends_without_finish_reason_is_a_failure_not_an_answer(
    desk_at: Callable[[str], NewsDesk],
    server_process: Callable[..., tuple[subprocess.Popen[str], str]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The server ends the body cleanly after 20 words: no finish_reason, no [DONE]. The openai
    client takes that as the end of the stream; the cut-off text must still not be the answer."""
    _, url = server_process(SCRIPTED, "--delay", "0", "--truncate-after", "20")
    events = list(desk_at(url).stream("What did Modi and Putin discuss?"))
    pieces, answer = events[:-1], events[-1]
    assert isinstance(answer, Answer)
    assert "".join(str(p) for p in pieces).startswith("Over the phone the two leaders settled")
    assert "Over the phone" not in answer.text and "“" in answer.text
    assert answer.notice == FAILED_PARTWAY
    assert_cites_the_corpus(answer)
    assert "openai LLM's stream ended before its answer did" in caplog.text


def on_a_terminal(events: list[str | Answer]) -> tuple[str, str]:
    """The terminal rendering (`StreamView`, as `newsbot ask` and `chat` use it) of these events:
    what was drawn while the answer streamed, and what stays on screen once the Answer came."""
    from bot.terminal.render import StreamView, make_console

    console = make_console(io.StringIO(), force_terminal=True)
    console.width = 300
    with StreamView(console, links=False) as view:
        for event in events:
            if isinstance(event, Answer):
                view.finish(event)
            else:
                view.feed(event)
                view.tick(force=True)  # draw every piece (feed draws at most 20 times a second)
    out = console.file.getvalue()  # type: ignore[attr-defined]
    drawn, _, final = out.rpartition("\x1b[2K")  # the live region is erased, then the Answer printed
    plain = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\r")
    return plain.sub("", drawn), plain.sub("", final)


def assert_cites_the_corpus(answer: Answer) -> None:
    """Every [n] in the text is a citation, every citation is used, and its quote is verbatim."""
    seed = (CORPUS / "000_ff46239a7c5f29a8.txt").read_text()
    assert answer.citations and {int(n) for n in re.findall(r"\[(\d+)\]", answer.text)} == {c.n for c in answer.citations}
    for c in answer.citations:
        assert c.title.startswith("Prime Minister Narendra Modi")
        assert all(" ".join(part.split()) in " ".join(seed.split()) for part in c.quote.split(" … "))
