"""A fake Slack on 127.0.0.1: the Web API (records every call, keeps posted messages so
conversations.replies can serve them, answers 429 on demand, streams messages with
chat.startStream / appendStream / stopStream, and can refuse or end those streams) and a Socket Mode
websocket server.

    >>> with MockSlackAPI() as api:
    ...     client = WebClient(token="xoxb-test", base_url=api.url)
    ...     client.chat_postMessage(channel="C1", text="hi")
    ...     api.calls_to("chat.postMessage")[0].params["text"]
    'hi'
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

BOT_USER_ID = "UBOT"
BOT_ID = "BBOT"
TEAM_ID = "T0TEST"


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    headers: dict[str, str]
    at: float = field(default_factory=time.monotonic)


class MockSlackAPI:
    """The Web API methods newsbot uses, served from memory, every call recorded in order."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.messages: dict[str, list[dict[str, Any]]] = {}  # channel -> messages, bot's and seeded
        self.socket_url = ""
        self._failures: dict[str, list[tuple[int, dict[str, str], dict[str, Any]]]] = {}
        self._delays: dict[str, float] = {}
        self.stream_refusal: str | None = None  # chat.startStream answers this error (e.g. "not_allowed")
        self.streams_end_early = False  # chat.appendStream / stopStream: message_not_in_streaming_state
        self.users: dict[str, dict[str, Any]] = {}  # users.info: id -> fields (e.g. tz); others have none
        self._lock = threading.Lock()
        self._ts = itertools.count(1)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    # --- lifecycle -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/api/"

    def start(self) -> "MockSlackAPI":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "MockSlackAPI":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- test controls -------------------------------------------------------------------------

    def new_ts(self) -> str:
        return f"{1_700_000_000 + next(self._ts)}.000100"

    def seed(self, channel: str, **message: Any) -> dict[str, Any]:
        """Put a message in a channel as if a person had posted it (for conversations.replies)."""
        message.setdefault("ts", self.new_ts())
        message.setdefault("type", "message")
        with self._lock:
            self.messages.setdefault(channel, []).append(message)
        return message

    def fail_next(self, method: str, status: int = 429, *, retry_after: int | None = 1, times: int = 1, body: dict[str, Any] | None = None) -> None:
        """The next `times` calls of `method` get `status` (429 with Retry-After by default)."""
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        payload = body or {"ok": False, "error": "ratelimited" if status == 429 else "fatal_error"}
        with self._lock:
            self._failures.setdefault(method, []).extend([(status, headers, payload)] * times)

    def slow_down(self, method: str, seconds: float) -> None:
        """Every later call of `method` is answered `seconds` after it arrives (it is recorded at once)."""
        with self._lock:
            self._delays[method] = seconds

    def refuse_streaming(self, error: str = "not_allowed") -> None:
        """Every later chat.startStream fails with `error`, as where streaming is not available."""
        self.stream_refusal = error

    def end_streams_early(self) -> None:
        """Streams end on Slack's side: later chat.appendStream / chat.stopStream calls fail with
        `message_not_in_streaming_state` (the message keeps what had arrived)."""
        self.streams_end_early = True

    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def wait_for(self, condition: Callable[[], bool], timeout: float = 30.0, interval: float = 0.05) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(interval)
        methods = [c.method for c in self.calls]
        raise AssertionError(f"timed out after {timeout} s; calls so far: {methods}")

    def final_messages(self, channel: str) -> list[dict[str, Any]]:
        """What a user sees now in `channel`: messages the bot posted, as last updated."""
        with self._lock:
            return [m for m in self.messages.get(channel, []) if m.get("user") == BOT_USER_ID]

    # --- the API -------------------------------------------------------------------------------

    def _answer(self, method: str, p: dict[str, Any]) -> dict[str, Any]:
        if method == "auth.test":
            return {"ok": True, "url": "https://test.slack.com/", "team": "Test", "user": "newsbot",
                    "team_id": TEAM_ID, "user_id": BOT_USER_ID, "bot_id": BOT_ID, "is_enterprise_install": False}
        if method == "apps.connections.open":
            return {"ok": True, "url": self.socket_url}
        if method == "chat.postMessage":
            ts = self.new_ts()
            message = {"type": "message", "ts": ts, "user": BOT_USER_ID, "bot_id": BOT_ID,
                       "text": p.get("text", ""), "blocks": p.get("blocks", [])}
            if p.get("thread_ts"):
                message["thread_ts"] = p["thread_ts"]
            with self._lock:
                self.messages.setdefault(p["channel"], []).append(message)
            return {"ok": True, "channel": p["channel"], "ts": ts, "message": message}
        if method == "chat.update":
            with self._lock:
                for m in self.messages.get(p["channel"], []):
                    if m["ts"] == p["ts"]:
                        m["text"] = p.get("text", "")
                        m["blocks"] = p.get("blocks", [])
                        m["streaming"] = False
                        return {"ok": True, "channel": p["channel"], "ts": p["ts"], "text": m["text"]}
            return {"ok": False, "error": "message_not_found"}
        if method == "chat.startStream":
            if self.stream_refusal:
                return {"ok": False, "error": self.stream_refusal}
            if not p.get("thread_ts"):
                return {"ok": False, "error": "invalid_arguments"}
            ts = self.new_ts()
            message = {"type": "message", "ts": ts, "user": BOT_USER_ID, "bot_id": BOT_ID, "thread_ts": p["thread_ts"],
                       "text": _stream_text(p), "blocks": [], "streaming": True}
            with self._lock:
                self.messages.setdefault(p["channel"], []).append(message)
            return {"ok": True, "channel": p["channel"], "ts": ts}
        if method in ("chat.appendStream", "chat.stopStream"):
            with self._lock:
                found = [m for m in self.messages.get(p["channel"], []) if m["ts"] == p["ts"]]
                if not found:
                    return {"ok": False, "error": "message_not_found"}
                m = found[0]
                if self.streams_end_early:
                    m["streaming"] = False
                if not m.get("streaming"):
                    return {"ok": False, "error": "message_not_in_streaming_state"}
                m["text"] += _stream_text(p)
                if method == "chat.stopStream":
                    m["streaming"] = False
                    m["blocks"] = p.get("blocks") or []
                    return {"ok": True, "channel": p["channel"], "ts": p["ts"], "message": dict(m)}
            return {"ok": True, "channel": p["channel"], "ts": p["ts"]}
        if method == "conversations.replies":
            with self._lock:
                thread = [m for m in self.messages.get(p["channel"], [])
                          if m["ts"] == p["ts"] or m.get("thread_ts") == p["ts"]]
            return {"ok": True, "messages": sorted(thread, key=lambda m: float(m["ts"])), "has_more": False}
        if method == "users.info":
            return {"ok": True, "user": {"id": p.get("user", ""), **self.users.get(p.get("user", ""), {})}}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": self.new_ts()}
        return {"ok": True}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._handle()

            def do_POST(self) -> None:
                self._handle()

            def _handle(self) -> None:
                path, _, query = self.path.partition("?")
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode("utf-8") if length else ""
                params: dict[str, Any] = {k: v[0] for k, v in urllib.parse.parse_qs(query).items()}
                if raw:
                    if (self.headers.get("Content-Type") or "").startswith("application/json"):
                        params.update(json.loads(raw))
                    else:
                        params.update({k: v[0] for k, v in urllib.parse.parse_qs(raw).items()})
                for key in ("blocks", "attachments"):
                    if isinstance(params.get(key), str):
                        params[key] = json.loads(params[key])
                method = path.removeprefix("/api/").strip("/")
                with api._lock:
                    api.calls.append(Call(method, params, dict(self.headers.items())))
                    failure = api._failures.get(method, []).pop(0) if api._failures.get(method) else None
                    delay = api._delays.get(method, 0.0)
                time.sleep(delay)
                if failure:
                    status, headers, body = failure
                else:
                    status, headers, body = 200, {}, api._answer(method, params)
                data = json.dumps(body).encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler


def _stream_text(p: dict[str, Any]) -> str:
    """The markdown a streaming call adds: `markdown_text` and any `markdown_text` chunks."""
    text = p.get("markdown_text") or ""
    chunks = p.get("chunks") or []
    if isinstance(chunks, str):
        chunks = json.loads(chunks)
    return text + "".join(c.get("text", "") for c in chunks if c.get("type") == "markdown_text")


class MockSocketModeServer:
    """A websocket server standing in for Slack's Socket Mode endpoint: push envelopes, collect acks."""

    def __init__(self) -> None:
        self.acks: list[dict[str, Any]] = []
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._connections: list[Any] = []
        self._connected = threading.Event()
        self._stop: asyncio.Future[None] | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._started = threading.Event()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/link/?ticket=test"

    def start(self) -> "MockSocketModeServer":
        self._thread.start()
        self._started.wait(10)
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._serve())

    async def _serve(self) -> None:
        from websockets.asyncio.server import serve

        self._stop = self._loop.create_future()
        async with serve(self._on_connect, "127.0.0.1", 0) as server:
            self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            self._started.set()
            await self._stop

    async def _on_connect(self, ws: Any) -> None:
        self._connections.append(ws)
        await ws.send(json.dumps({"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A1"}}))
        self._connected.set()
        async for raw in ws:
            self.acks.append(json.loads(raw))

    def wait_connected(self, timeout: float = 10.0) -> None:
        if not self._connected.wait(timeout):
            raise AssertionError("the app never connected to the Socket Mode server")

    def send(self, envelope: dict[str, Any]) -> None:
        async def push() -> None:
            await self._connections[-1].send(json.dumps(envelope))

        asyncio.run_coroutine_threadsafe(push(), self._loop).result(5)

    def stop(self) -> None:
        async def close() -> None:
            for ws in self._connections:
                await ws.close()
            if self._stop and not self._stop.done():
                self._stop.set_result(None)

        if self._loop.is_running():
            asyncio.run_coroutine_threadsafe(close(), self._loop).result(5)
        self._thread.join(5)
