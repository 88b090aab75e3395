"""The production HTTP server (bot/slack/http_server.py) over real sockets on 127.0.0.1: size and time
limits that hold before anything reads a body, the routes, and a SIGTERM that lets answers finish."""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from bot.slack import messages
from bot.slack.app import AnswerPool
from bot.slack.http_server import RequestLimits
from tests.bot.conftest import HttpBot, mention, serving, start_slack_process
from tests.bot.mock_slack_api import MockSlackAPI

MiB = 1024 * 1024
HUNDRED_MB = 100 * MiB
CHUNK = 64 * 1024
READ_TIMEOUT = 1.0  # seconds, for the bot below


@pytest.fixture
def bot(slack_api: MockSlackAPI, make_desk: Any, tmp_path: Path) -> Iterator[HttpBot]:
    """The real app and server over an empty index (answers say so), with a 1 s read timeout."""
    with serving(make_desk(llm="extractive"), slack_api, tmp_path / "fb.sqlite3", read_timeout=READ_TIMEOUT) as b:
        yield b


def get(bot: HttpBot, path: str, method: str = "GET", data: bytes | None = None) -> tuple[int, str]:
    url = f"http://127.0.0.1:{bot.server.server_port}{path}"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data, method=method), timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def raw_request(port: int, head: bytes, body: Iterable[bytes] = ()) -> tuple[int, bytes, int, float]:
    """Send `head`, then `body` piece by piece from another thread while this one reads the answer.
    Returns the status (0: the connection closed without one), the answer's head, the body bytes
    the client managed to send, and the seconds until the answer (or the close)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=15)
    sent = 0

    def pump() -> None:
        nonlocal sent
        try:
            for piece in body:
                sock.sendall(piece)
                sent += len(piece)
        except OSError:
            pass  # the server closed the connection: what it has not read, it never will

    started = time.monotonic()
    sock.sendall(head)
    sender = threading.Thread(target=pump, daemon=True)
    sender.start()
    answer = b""
    try:
        while b"\r\n\r\n" not in answer:
            piece = sock.recv(65536)
            if not piece:
                break
            answer += piece
    except ConnectionResetError:
        pass
    seconds = time.monotonic() - started
    sender.join(15)
    sock.close()
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0
    return status, answer, sent, seconds


def chunked(total: int) -> Iterator[bytes]:
    frame = b"%x\r\n" % CHUNK + b"x" * CHUNK + b"\r\n"
    for _ in range(total // CHUNK):
        yield frame
    yield b"0\r\n\r\n"


def plain(total: int) -> Iterator[bytes]:
    for _ in range(total // CHUNK):
        yield b"x" * CHUNK


def assert_still_serving(bot: HttpBot) -> None:
    """A normal signed event is acknowledged and answered (the index is empty, so it says so)."""
    api = bot.api
    event = mention(api, "What did Modi and Putin discuss?")
    reply = bot.event(event)
    assert reply.status == 200 and reply.seconds < 3
    api.wait_for(lambda: any(m.get("thread_ts") == event["ts"] and m.get("text") == messages.EMPTY_INDEX
                             for m in api.final_messages("C0NEWS")))


def test_health_unknown_paths_and_forged_signatures(bot: HttpBot) -> None:
    assert get(bot, "/healthz") == (200, "ok")
    assert get(bot, "/health") == (200, "ok")  # the old probe path still works
    assert get(bot, "/healthz", method="HEAD")[0] == 200
    assert get(bot, "/nope")[0] == 404
    assert get(bot, "/nope", method="POST", data=b"x" * 1000)[0] == 404
    assert get(bot, "/slack/events/", method="POST", data=b"{}")[0] == 404  # no redirect either
    assert get(bot, "/slack/events")[0] == 404  # GET: Bolt's adapters answer 404 too
    assert get(bot, "/healthz", method="POST", data=b"{}")[0] == 404
    event = mention(bot.api, "What did Modi and Putin discuss?")
    assert bot.event(event, secret="not-the-secret").status == 401
    assert bot.event(event, sign=False).status == 401
    assert [c.method for c in bot.api.calls] == ["auth.test"]
    assert_still_serving(bot)


@pytest.mark.parametrize("framing", ["chunked, no Content-Length", "declared Content-Length"])
def test_a_hundred_megabyte_body_is_refused_at_once_and_the_server_goes_on(bot: HttpBot, framing: str) -> None:
    if framing.startswith("chunked"):
        head = b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        body = chunked(HUNDRED_MB)
    else:
        head = b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % HUNDRED_MB
        body = plain(HUNDRED_MB)
    status, answer, sent, seconds = raw_request(bot.server.server_port, head, body)
    assert status == 413, answer
    assert b"connection: close" in answer.lower()
    assert seconds < 5
    assert sent < HUNDRED_MB // 4, f"the client sent {sent / MiB:.0f} MB before the server gave up"
    assert get(bot, "/healthz") == (200, "ok")
    assert_still_serving(bot)


def test_a_body_just_under_the_cap_is_read_and_one_just_over_refused(bot: HttpBot) -> None:
    under = b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    status, answer, _, _ = raw_request(bot.server.server_port, under, chunked(MiB - CHUNK))
    assert status == 400, answer  # read whole, then found not to be JSON
    status, answer, _, _ = raw_request(bot.server.server_port, under, chunked(MiB + CHUNK))
    assert status == 413, answer
    assert get(bot, "/slack/events", "POST", json.dumps({"text": "x" * (MiB - 100)}).encode())[0] == 401  # unsigned


@pytest.mark.parametrize("length", [b"-1", b"-100", b"abc", b"1e3"])
def test_a_negative_or_malformed_content_length_is_400(bot: HttpBot, length: bytes) -> None:
    head = b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Length: " + length + b"\r\n\r\n"
    status, answer, _, seconds = raw_request(bot.server.server_port, head, [b"x" * 100])
    assert status == 400, answer
    assert seconds < 2
    assert_still_serving(bot)


def test_a_stalled_body_gets_408_and_blocks_no_one(bot: HttpBot) -> None:
    head = b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    with ThreadPoolExecutor(max_workers=4) as pool:
        stalled = [pool.submit(raw_request, bot.server.server_port, head, [b'{"type": "eve']) for _ in range(3)]
        time.sleep(0.2)
        started = time.monotonic()
        assert get(bot, "/healthz") == (200, "ok")
        assert_still_serving(bot)  # answered while three bodies are still on their way
        assert time.monotonic() - started < READ_TIMEOUT
        for future in stalled:
            status, answer, _, seconds = future.result()
            assert status == 408, answer
            assert READ_TIMEOUT - 0.1 < seconds < READ_TIMEOUT + 3


def test_headers_that_never_finish_are_cut_off(bot: HttpBot) -> None:
    status, answer, _, seconds = raw_request(bot.server.server_port, b"POST /slack/events HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    assert status == 0 and answer == b""  # closed, without an answer
    assert READ_TIMEOUT - 0.1 < seconds < READ_TIMEOUT + 3
    assert get(bot, "/healthz") == (200, "ok")


def read_response(sock: socket.socket) -> bytes:
    """One whole response with a Content-Length, from a connection that stays open."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(next(line.split(b":")[1] for line in head.lower().split(b"\r\n") if line.startswith(b"content-length:")))
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def test_an_idle_keep_alive_connection_waits_for_keep_alive_not_the_read_timeout(bot: HttpBot) -> None:
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    with socket.create_connection(("127.0.0.1", bot.server.server_port), timeout=10) as sock:
        sock.sendall(request)
        assert read_response(sock).startswith(b"HTTP/1.1 200 ")
        time.sleep(READ_TIMEOUT + 0.5)  # idle for longer than the read timeout, shorter than keep-alive (5 s)
        sock.sendall(request)
        assert read_response(sock).startswith(b"HTTP/1.1 200 ")
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHo")  # then a request that stalls in its headers
        started = time.monotonic()
        assert sock.recv(65536) == b""
        assert READ_TIMEOUT - 0.1 < time.monotonic() - started < READ_TIMEOUT + 3


def test_the_limits_hold_under_any_asgi_server() -> None:
    """The middleware alone, as another server would call it (uvicorn's h11 already refuses a bad
    Content-Length itself): nothing reads a body that is too big, and a stream stops past the cap."""

    async def run(headers: list[tuple[bytes, bytes]], pieces: int) -> tuple[int, int]:
        reads = 0

        async def receive() -> dict[str, Any]:
            nonlocal reads
            reads += 1
            return {"type": "http.request", "body": b"x" * CHUNK, "more_body": reads < pieces}

        async def app(scope: Any, receive: Any, send: Any) -> None:
            while (await receive()).get("more_body"):
                pass
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})

        sent: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {"type": "http", "method": "POST", "path": "/slack/events", "headers": headers, "client": ("t", 1)}
        await RequestLimits(app, max_body_bytes=MiB, read_timeout=5)(scope, receive, send)
        return sent[0]["status"], reads

    assert asyncio.run(run([(b"content-length", b"-1")], 1)) == (400, 0)
    assert asyncio.run(run([(b"content-length", b"10"), (b"content-length", b"11")], 1)) == (400, 0)
    assert asyncio.run(run([(b"content-length", str(HUNDRED_MB).encode())], 1)) == (413, 0)
    assert asyncio.run(run([(b"transfer-encoding", b"chunked")], HUNDRED_MB // CHUNK)) == (413, MiB // CHUNK + 1)
    assert asyncio.run(run([(b"transfer-encoding", b"chunked")], 4)) == (200, 4)


def test_the_answer_pool_drains_what_it_was_given_within_a_bound() -> None:
    pool = AnswerPool(max_workers=2)
    done: list[int] = []
    pool.submit(lambda: (time.sleep(0.3), done.append(1)))
    assert pool.in_flight == 1
    assert pool.drain(10) and done == [1] and pool.in_flight == 0
    with pytest.raises(RuntimeError):
        pool.submit(done.append, 2)  # a drained pool takes no more work

    stuck = AnswerPool(max_workers=1)
    release = threading.Event()
    stuck.submit(release.wait, 10)
    queued = stuck.submit(done.append, 3)
    started = time.monotonic()
    assert not stuck.drain(0.2)
    assert time.monotonic() - started < 1
    assert queued.cancelled() and done == [1]  # what had not started is dropped
    release.set()


@pytest.mark.slow
def test_sigterm_lets_the_answer_in_flight_be_posted_then_exits_0(
    tmp_path: Path, slack_api: MockSlackAPI, corpus_home: Path
) -> None:
    """A real `newsbot slack --http` process over the bundled corpus. Slack's chat.stopStream answers
    after 2 s here, so the answer is still being written when SIGTERM arrives."""
    home = tmp_path / "home"
    shutil.copytree(corpus_home, home)
    proc, port = start_slack_process(home, slack_api, "--http")
    try:
        client = HttpBot(None, SimpleNamespace(server_port=port), slack_api, None)
        slack_api.slow_down("chat.stopStream", 2.0)
        event = mention(slack_api, "What did Modi and Putin discuss?")
        assert client.event(event).status == 200
        slack_api.wait_for(lambda: any(c.params.get("thread_ts") == event["ts"]
                                       for c in slack_api.calls_to("chat.startStream")), timeout=60)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=90)
        assert proc.returncode == 0, stderr
        [answer] = [m for m in slack_api.final_messages("C0NEWS")
                    if m.get("thread_ts") == event["ts"] and any(b["type"] == "context_actions" for b in m.get("blocks", []))]
        assert "Putin" in answer["text"]
        assert "answers in flight" in stderr, stderr  # it did wait: the answer was not done at SIGTERM
        assert "Traceback" not in stderr
        with pytest.raises(OSError):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
