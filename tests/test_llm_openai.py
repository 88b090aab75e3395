"""The `openai` backend over real HTTP (streamed SSE) against an OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from retrieval import NewsDesk, Settings, Turn
from retrieval.answer.prompts import CONDENSE_SYSTEM, EXAMPLES

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
def desk(server: FakeOpenAI, corpus_home: Path, tmp_path: Path, real_embedder, monkeypatch: pytest.MonkeyPatch) -> NewsDesk:  # type: ignore[no-untyped-def]
    home = tmp_path / "home"
    shutil.copytree(corpus_home, home)
    monkeypatch.setenv("NEWSBOT_HOME", str(home))
    monkeypatch.setenv("NEWSBOT_LLM", "openai")
    monkeypatch.setenv("NEWSBOT_OPENAI_BASE_URL", server.url)
    monkeypatch.setenv("NEWSBOT_OPENAI_MODEL", "fake-model")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-key")
    return NewsDesk(Settings.from_env(), real_embedder)


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


def test_a_server_that_fails_mid_answer_gives_the_extractive_answer(desk: NewsDesk, server: FakeOpenAI) -> None:
    server.shutdown()
    server.server_close()
    answer = desk.answer("What did Modi and Putin discuss?")
    assert not answer.abstained and "“" in answer.text
    assert answer.notice == "The openai LLM failed, so this answer quotes the sources instead."
