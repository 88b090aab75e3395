"""Slack settings: one frozen value, read from the environment only when `from_env()` is called.

`run()` and `build_app()` build it once and pass it down, so importing a module never reads the
environment and tests build a `SlackSettings(...)` directly. Tokens are kept out of its repr.

    >>> SlackSettings(bot_token="xoxb-…", signing_secret="…", api_url="http://127.0.0.1:8000/api/")
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from bot.slack.messages import DEFAULT_PROMPTS
from retrieval import ConfigError, env_float, env_int, load_dotenv_once

DEFAULT_SLACK_API_URL = "https://slack.com/api/"  # Slack's own; a proxy or a fake one in tests
DEFAULT_PORT = 3000  # HTTP mode: where Slack delivers events
EVENTS_PATH = "/slack/events"
DEFAULT_WORKERS = 16  # threads that run answers after the ack
DEFAULT_MAX_CONCURRENT_ANSWERS = 2  # answers computed at once (2 cores)
DEFAULT_UPDATE_INTERVAL = 1.0  # seconds between streaming chat.update / chat.appendStream calls (Slack allows ~1/s)
# How answers stream into a thread: "native" (chat.startStream/appendStream/stopStream) or "update"
# (a placeholder edited with chat.update: Enterprise Grid setups and clients without streaming).
STREAMING_MODES = ("native", "update")
DEFAULT_STREAMING = "native"
DEFAULT_STREAM_BUFFER = 256  # characters of answer held before a chat.appendStream (slack_sdk's default)
DEFAULT_DEDUPE_TTL = 15 * 60.0  # seconds an event id is remembered, to drop redeliveries
DEFAULT_DEDUPE_MAX = 10_000  # event ids remembered at most
DEFAULT_RATE_LIMIT_RETRIES = 3  # 429s retried, after the Retry-After they name
# HTTP mode (bot/slack/http_server.py)
DEFAULT_MAX_BODY_BYTES = 1024 * 1024  # a bigger request is refused with 413 (Slack's are a few KB)
DEFAULT_READ_TIMEOUT = 10.0  # seconds a request's headers, and then its body, may take to arrive (408)
DEFAULT_KEEP_ALIVE = 5.0  # seconds an idle keep-alive connection stays open
DEFAULT_MAX_CONNECTIONS = 100  # connections and requests at once; more get 503 until some finish
DEFAULT_DRAIN_SECONDS = 60.0  # on SIGTERM, how long answers in flight may take to finish before exit
# Replicas (bot/slack/dedupe.py): with a Redis URL, de-duplication and feedback are shared by every
# process using it; without one they go to SQLite under the home (shared by this machine's processes).
REDIS_SCHEMES = ("redis", "rediss", "unix")


@dataclass(frozen=True)
class SlackSettings:
    # Credentials: bot token (xoxb-), signing secret (HTTP mode), app-level token (xapp-, Socket Mode).
    bot_token: str = field(default="", repr=False)
    signing_secret: str = field(default="", repr=False)
    app_token: str = field(default="", repr=False)
    api_url: str = DEFAULT_SLACK_API_URL
    port: int = DEFAULT_PORT
    workers: int = DEFAULT_WORKERS
    max_concurrent_answers: int = DEFAULT_MAX_CONCURRENT_ANSWERS
    update_interval: float = DEFAULT_UPDATE_INTERVAL
    streaming: str = DEFAULT_STREAMING
    stream_buffer: int = DEFAULT_STREAM_BUFFER
    dedupe_ttl: float = DEFAULT_DEDUPE_TTL
    dedupe_max: int = DEFAULT_DEDUPE_MAX
    rate_limit_retries: int = DEFAULT_RATE_LIMIT_RETRIES
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    read_timeout: float = DEFAULT_READ_TIMEOUT
    keep_alive: float = DEFAULT_KEEP_ALIVE
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    drain_seconds: float = DEFAULT_DRAIN_SECONDS
    # Suggested prompts when someone opens a DM with the bot ("|"-separated in NEWSBOT_SLACK_PROMPTS)
    prompts: tuple[str, ...] = DEFAULT_PROMPTS
    redis_url: str = field(default="", repr=False)  # NEWSBOT_REDIS_URL; may hold a password
    # Worker processes the platform says it runs (WEB_CONCURRENCY, as gunicorn and Heroku read it):
    # only used to warn that, without Redis, each one de-duplicates on its own.
    web_concurrency: int = 1
    # The NEWSBOT_HOME data directory, where de-duplication outlives the process (without Redis).
    # `run()` sets it to the desk's home; None keeps seen keys in memory (tests, embedding apps).
    home: Path | None = None

    def __post_init__(self) -> None:
        if self.streaming not in STREAMING_MODES:
            raise ConfigError(f"NEWSBOT_SLACK_STREAMING={self.streaming!r} is not one of: {', '.join(STREAMING_MODES)}")
        if self.redis_url:
            check_redis_url(self.redis_url)

    @classmethod
    def from_env(cls) -> "SlackSettings":
        """The environment (and a .env in the working directory, which it does not override).

        A malformed number raises `ConfigError` naming the variable."""
        load_dotenv_once()
        env = os.environ
        return cls(
            bot_token=env.get("SLACK_BOT_TOKEN", ""),
            signing_secret=env.get("SLACK_SIGNING_SECRET", ""),
            app_token=env.get("SLACK_APP_TOKEN", ""),
            api_url=env.get("SLACK_API_URL", "") or DEFAULT_SLACK_API_URL,
            port=env_int("PORT", DEFAULT_PORT),
            workers=env_int("NEWSBOT_SLACK_WORKERS", DEFAULT_WORKERS),
            max_concurrent_answers=env_int("NEWSBOT_SLACK_MAX_CONCURRENT_ANSWERS", DEFAULT_MAX_CONCURRENT_ANSWERS),
            update_interval=env_float("NEWSBOT_SLACK_UPDATE_INTERVAL", DEFAULT_UPDATE_INTERVAL),
            streaming=(env.get("NEWSBOT_SLACK_STREAMING", "") or DEFAULT_STREAMING).strip().lower(),
            stream_buffer=env_int("NEWSBOT_SLACK_STREAM_BUFFER", DEFAULT_STREAM_BUFFER),
            dedupe_ttl=env_float("NEWSBOT_SLACK_DEDUPE_TTL", DEFAULT_DEDUPE_TTL),
            rate_limit_retries=env_int("NEWSBOT_SLACK_RATE_LIMIT_RETRIES", DEFAULT_RATE_LIMIT_RETRIES),
            max_body_bytes=env_int("NEWSBOT_SLACK_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES),
            read_timeout=env_float("NEWSBOT_SLACK_READ_TIMEOUT", DEFAULT_READ_TIMEOUT),
            keep_alive=env_float("NEWSBOT_SLACK_KEEP_ALIVE", DEFAULT_KEEP_ALIVE),
            max_connections=env_int("NEWSBOT_SLACK_MAX_CONNECTIONS", DEFAULT_MAX_CONNECTIONS),
            drain_seconds=env_float("NEWSBOT_SLACK_DRAIN_SECONDS", DEFAULT_DRAIN_SECONDS),
            prompts=tuple(q.strip() for q in env.get("NEWSBOT_SLACK_PROMPTS", "").split("|") if q.strip())
            or DEFAULT_PROMPTS,
            redis_url=env.get("NEWSBOT_REDIS_URL", "").strip(),
            web_concurrency=_lenient_int(env.get("WEB_CONCURRENCY", ""), 1),
        )


def _lenient_int(raw: str, default: int) -> int:
    """WEB_CONCURRENCY belongs to the platform and only feeds a warning: a value we cannot read is
    ignored rather than stopping the bot."""
    try:
        return int(raw.strip())
    except ValueError:
        return default


def redacted(url: str) -> str:
    """`url` fit for a log line: any password replaced by ***."""
    try:
        parts = urlsplit(url)
        if parts.password is None:  # no password where a URL keeps one; elsewhere, hide any user info
            return url if "@" not in url else "***@" + url.rpartition("@")[2]
        host = parts.netloc.rpartition("@")[2]
        return parts._replace(netloc=f"{parts.username or ''}:***@{host}").geturl()
    except ValueError:
        return "<a URL that cannot be parsed>"


def check_redis_url(url: str) -> None:
    """A `ConfigError` naming NEWSBOT_REDIS_URL (never its password) unless `url` is one redis-py
    takes: redis://[[user]:password@]host[:port][/db], rediss://… (TLS) or unix:///path."""
    problem = ""
    try:
        parts = urlsplit(url)
        if parts.scheme not in REDIS_SCHEMES:
            problem = f"its scheme must be one of {', '.join(s + '://' for s in REDIS_SCHEMES)}"
        elif parts.scheme == "unix" and not parts.path:
            problem = "a unix:// URL needs a socket path (unix:///run/redis/redis.sock)"
        elif parts.scheme != "unix" and not parts.hostname:
            problem = "it names no host"
        elif parts.scheme != "unix" and parts.path.strip("/") and not parts.path.strip("/").isdigit():
            problem = f"its database {parts.path.strip('/')!r} is not a number"
        else:
            parts.port  # noqa: B018 - raises ValueError unless a number in 0-65535
    except ValueError as e:
        problem = str(e)
    if problem:
        raise ConfigError(f"NEWSBOT_REDIS_URL={redacted(url)} is not a Redis URL: {problem} "
                          "(e.g. redis://:PASSWORD@HOST:6379/0)")
