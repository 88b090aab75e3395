"""Fixtures for the Slack bot: a real NewsDesk (real embedder, corpus/ plus a test article full of
pings), a fake Slack Web API on 127.0.0.1, and the app served over real HTTP or Socket Mode."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.processes import free_port, stop
from tests.bot.mock_slack_api import BOT_USER_ID, TEAM_ID, MockSlackAPI, MockSocketModeServer

SIGNING_SECRET = "test-signing-secret"
PING_ARTICLE = {
    "url": "https://example.org/news/lakeside-lantern-festival",
    "source": "Lakeside <!here> Gazette",
    "title": "Lakeside lantern festival <!everyone> draws record crowds",
    "published": "2024-05-02",
    "text": (
        "The Lakeside lantern festival drew a record crowd of forty thousand visitors <!channel> on Saturday night. "
        "Organisers said the lantern festival crowd <@U0ADMIN> was the largest since the festival began in 1998. "
        "The festival committee <#C0GENERAL|general> thanked volunteers & police <b>for keeping</b> the lantern crowds safe. "
        "Lanterns were released over Lakeside harbour at midnight <!subteam^S123> as the record crowd watched."
    ),
}
PINGS = ("<!channel>", "<!here>", "<!everyone>", "<@U0ADMIN>", "<#C0GENERAL", "<b>", "<!subteam")


@pytest.fixture(autouse=True)
def slack_test_env(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Answers come from the extractive path, whatever LLM backend exists; no real Slack settings leak in."""
    monkeypatch.setenv("NEWSBOT_LLM", "extractive")
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "SLACK_API_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def slack_desk(corpus_home: Path, tmp_path_factory: pytest.TempPathFactory, real_embedder):  # type: ignore[no-untyped-def]
    """corpus/ plus the ping article, ingested once with the real embedder; answering only reads it."""
    from retrieval import NewsDesk, Settings

    home = tmp_path_factory.mktemp("slack-home") / "home"
    shutil.copytree(corpus_home, home)
    articles = home.parent / "ping_article.jsonl"
    articles.write_text(json.dumps(PING_ARTICLE) + "\n", encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:  # answers quote sources: no LLM, whichever is installed
        mp.setenv("NEWSBOT_LLM", "extractive")
        desk = NewsDesk(Settings.from_env(home=home), real_embedder)
    report = desk.ingest([articles])
    assert report.ok and report.new == 1, report
    desk.warm_up()
    return desk


@pytest.fixture
def slack_api() -> Iterator[MockSlackAPI]:
    with MockSlackAPI() as api:
        yield api


@dataclass
class Reply:
    status: int
    body: str
    seconds: float


class HttpBot:
    """The app served on 127.0.0.1 and a client that signs what it sends like Slack does."""

    def __init__(self, app: Any, server: Any, api: MockSlackAPI, feedback: Any) -> None:
        self.app, self.server, self.api, self.feedback = app, server, api, feedback
        self.url = f"http://127.0.0.1:{server.server_port}/slack/events"

    def post(self, body: str, content_type: str, *, headers: dict[str, str] | None = None,
             secret: str | None = SIGNING_SECRET, timestamp: int | None = None, sign: bool = True) -> Reply:
        from slack_sdk.signature import SignatureVerifier

        h = {"Content-Type": content_type}
        if sign:
            ts = str(timestamp if timestamp is not None else int(time.time()))
            h["X-Slack-Request-Timestamp"] = ts
            h["X-Slack-Signature"] = SignatureVerifier(secret or "").generate_signature(timestamp=ts, body=body)
        h.update(headers or {})
        req = urllib.request.Request(self.url, data=body.encode(), headers=h, method="POST")
        started = time.monotonic()
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return Reply(resp.status, resp.read().decode(), time.monotonic() - started)
        except urllib.error.HTTPError as e:
            return Reply(e.code, e.read().decode(), time.monotonic() - started)

    def event(self, event: dict[str, Any], *, event_id: str | None = None, **kw: Any) -> Reply:
        return self.post(json.dumps(event_payload(event, event_id)), "application/json", **kw)

    def command(self, **fields: str) -> Reply:
        return self.post(urllib.parse.urlencode(fields), "application/x-www-form-urlencoded")

    def action(self, payload: dict[str, Any]) -> Reply:
        return self.post(urllib.parse.urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")


def event_payload(event: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
    return {
        "token": "legacy", "team_id": TEAM_ID, "api_app_id": "A0NEWSBOT", "type": "event_callback",
        "event": event, "event_id": event_id or f"Ev{uuid.uuid4().hex[:10]}", "event_time": int(time.time()),
        "authorizations": [{"team_id": TEAM_ID, "user_id": BOT_USER_ID, "is_bot": True}],
    }


def mention(api: MockSlackAPI, text: str, channel: str = "C0NEWS", user: str = "U0ALICE", **extra: Any) -> dict[str, Any]:
    """An app_mention event for a message that the fake API also knows (for conversations.replies)."""
    message = api.seed(channel, user=user, text=f"<@{BOT_USER_ID}> {text}", **extra)
    return {**message, "type": "app_mention", "channel": channel, "event_ts": message["ts"]}


@contextmanager
def serving(desk: Any, api: MockSlackAPI, feedback_path: Path, **settings: Any) -> Iterator[HttpBot]:
    """The app for `desk` served by the production HTTP server on a free port of 127.0.0.1, in a
    thread; `settings` override SlackSettings fields (e.g. a short read_timeout)."""
    from bot.slack.app import answer_pool, build_app, serve_http
    from bot.slack.feedback import FeedbackStore
    from bot.slack.settings import SlackSettings

    feedback = FeedbackStore(feedback_path)
    slack_settings = SlackSettings(bot_token="xoxb-test", signing_secret=SIGNING_SECRET, api_url=api.url, **settings)
    app = build_app(desk, slack_settings, feedback=feedback)
    server = serve_http(app, port=0, host="127.0.0.1", settings=slack_settings).start()
    try:
        yield HttpBot(app, server, api, feedback)
    finally:
        server.shutdown()
        server.server_close()
        answer_pool(app).drain(60)


@pytest.fixture
def http_bot(slack_api: MockSlackAPI, slack_desk: Any, tmp_path: Path) -> Iterator[HttpBot]:
    with serving(slack_desk, slack_api, tmp_path / "feedback.sqlite3") as bot:
        yield bot


@pytest.fixture
def socket_bot(slack_api: MockSlackAPI, slack_desk: Any, tmp_path: Path) -> Iterator[tuple[Any, MockSocketModeServer]]:
    from bot.slack.app import build_app, socket_mode_handler
    from bot.slack.feedback import FeedbackStore
    from bot.slack.settings import SlackSettings

    ws = MockSocketModeServer().start()
    slack_api.socket_url = ws.url
    app = build_app(slack_desk, SlackSettings(bot_token="xoxb-test", api_url=slack_api.url), socket_mode=True,
                    feedback=FeedbackStore(tmp_path / "feedback.sqlite3"))
    handler = socket_mode_handler(app, app_token="xapp-test")
    handler.connect()
    ws.wait_connected()
    yield handler, ws
    handler.close()
    ws.stop()


def start_slack_process(
    home: Path, slack_api: MockSlackAPI, *args: str, health: str = "/healthz", timeout: float = 120
) -> tuple[subprocess.Popen[str], int]:
    """A real `newsbot slack` process (HTTP mode, extractive answers) on a free port, once its
    health check answers; the caller stops it."""
    port = free_port()
    env = {**os.environ, "SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": SIGNING_SECRET,
           "SLACK_API_URL": slack_api.url, "NEWSBOT_HOME": str(home), "NEWSBOT_LLM": "extractive"}
    env.pop("SLACK_APP_TOKEN", None)
    proc = subprocess.Popen(
        [sys.executable, "-c", "from bot.cli import main; main()", "-v", "slack", *args, "--host", "127.0.0.1",
         "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=Path(__file__).parents[2],
    )
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{health}", timeout=2) as resp:
                assert resp.status == 200
                return proc, port
        except OSError:
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "newsbot slack did not start listening"
            time.sleep(0.3)


@dataclass
class RedisServer:
    url: str
    port: int
    proc: subprocess.Popen[bytes]


def start_redis_server(timeout: float = 10) -> RedisServer:
    """A real `redis-server` (Debian's package, which scripts/setup installs) on a free port of
    127.0.0.1, nothing saved to disk, once it answers PING; the caller stops it."""
    import redis

    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed: run scripts/setup (it installs Debian's redis-server)")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                client.ping()
                return RedisServer(url, port, proc)
            except redis.ConnectionError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    proc.kill()
                    pytest.fail(f"redis-server did not start on 127.0.0.1:{port} (exit code {proc.poll()})")
                time.sleep(0.05)
    finally:
        client.close()


def stop_redis_server(server: RedisServer) -> None:
    stop(server.proc, timeout=10)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[str]:
    """The URL of a real redis-server shared by the session's tests (each test flushes what it needs)."""
    server = start_redis_server()
    yield server.url
    stop_redis_server(server)
