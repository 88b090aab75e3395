"""The Bolt app and its two ways of meeting Slack: HTTP (production) and Socket Mode (development).

    >>> settings = SlackSettings.from_env()                          # or SlackSettings(bot_token=…, …)
    >>> app = build_app(desk, settings)                              # one auth.test, to settings.api_url
    >>> serve_http(app, port=settings.port, settings=settings).serve_forever()  # uvicorn: POST /slack/events
    >>> answer_pool(app).drain(settings.drain_seconds)               # then let the answers in flight finish
    >>> socket_mode_handler(app, settings.app_token).start()         # or: Socket Mode

The `WebClient` is built here with an explicit `base_url`, so nothing talks to slack.com unless
SLACK_API_URL says so (tests point it at a fake API on 127.0.0.1), and with slack_sdk's
`RateLimitErrorRetryHandler`, so a 429 is retried after the Retry-After it names.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar

from slack_bolt import App, BoltRequest
from slack_bolt.error import BoltError
from slack_sdk import WebClient
from slack_sdk.http_retry import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

from bot.slack.dedupe import ping, seen_file, seen_keys
from bot.slack.feedback import FeedbackRecords, feedback_store
from bot.slack.http_server import serve_http
from bot.slack.listeners import register_listeners
from bot.slack.settings import EVENTS_PATH, SlackSettings, redacted
from retrieval import ConfigError, EmptyIndexError, NewsDesk

if TYPE_CHECKING:
    from slack_bolt.adapter.socket_mode import SocketModeHandler

log = logging.getLogger(__name__)
T = TypeVar("T")

__all__ = [
    "AnswerPool", "answer_pool", "build_app", "build_client", "log_replicas", "run", "serve_http", "socket_mode_handler",
]


class AnswerPool(ThreadPoolExecutor):
    """Bolt's listener executor: it runs the acks and, after them, the lazy listeners that write the
    answers. It counts what it has been given, so a shutdown can wait for the answers in flight."""

    def __init__(self, max_workers: int, thread_name_prefix: str = "newsbot-slack") -> None:
        super().__init__(max_workers=max_workers, thread_name_prefix=thread_name_prefix)
        self._changed = threading.Condition()
        self._in_flight = 0

    @property
    def in_flight(self) -> int:
        with self._changed:
            return self._in_flight

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        with self._changed:
            self._in_flight += 1
        try:
            future = super().submit(fn, *args, **kwargs)
        except BaseException:
            self._finished(None)
            raise
        future.add_done_callback(self._finished)
        return future

    def _finished(self, _future: object) -> None:
        with self._changed:
            self._in_flight -= 1
            self._changed.notify_all()

    def drain(self, timeout: float) -> bool:
        """Take no more work; wait up to `timeout` s for what was given to finish. True when it all
        did; otherwise what had not started is dropped (what is running cannot be stopped)."""
        self.shutdown(wait=False)
        with self._changed:
            done = self._changed.wait_for(lambda: self._in_flight == 0, timeout=max(0.0, timeout))
        if not done:
            self.shutdown(wait=False, cancel_futures=True)
        return done


def answer_pool(app: App) -> AnswerPool:
    """The pool `build_app` gave `app`."""
    pool = app.listener_runner.listener_executor
    if not isinstance(pool, AnswerPool):
        raise TypeError(f"{app!r} was not built by build_app (its listener executor is {type(pool).__name__})")
    return pool


def build_client(settings: SlackSettings) -> WebClient:
    """A Web API client for `settings.api_url` that retries connection errors and 429s."""
    api_url = settings.api_url
    return WebClient(
        token=settings.bot_token,
        base_url=api_url if api_url.endswith("/") else api_url + "/",
        retry_handlers=[
            ConnectionErrorRetryHandler(),
            RateLimitErrorRetryHandler(max_retry_count=settings.rate_limit_retries),
        ],
    )


def build_app(
    desk: NewsDesk,
    settings: SlackSettings | None = None,
    *,
    socket_mode: bool = False,
    feedback: FeedbackRecords | None = None,
) -> App:
    """A Bolt App answering from `desk`; `settings` default to `SlackSettings.from_env()`.

    HTTP mode needs the signing secret: Bolt then rejects unsigned, forged or stale (over 5 minutes)
    requests with 401. Socket Mode has no signatures to check (the websocket is authenticated).
    """
    settings = settings or SlackSettings.from_env()
    if not settings.bot_token:
        raise ConfigError("SLACK_BOT_TOKEN is not set: copy the Bot User OAuth Token (xoxb-…) from your Slack app")
    if not socket_mode and not settings.signing_secret:
        raise ConfigError("SLACK_SIGNING_SECRET is not set: HTTP mode needs it to verify requests from Slack")
    try:  # Bolt checks the token with one auth.test call, to api_url
        app = App(
            client=build_client(settings),
            signing_secret=settings.signing_secret or None,
            request_verification_enabled=not socket_mode,
            listener_executor=AnswerPool(max_workers=settings.workers),
            logger=logging.getLogger("bot.slack_bolt"),
        )
    except BoltError as e:
        raise ConfigError(f"Slack did not accept SLACK_BOT_TOKEN ({settings.api_url}): {e}") from e
    except OSError as e:
        raise ConfigError(f"cannot reach the Slack Web API at {settings.api_url}: {e}") from e
    if feedback is None:  # Redis with NEWSBOT_REDIS_URL, else SQLite under the home
        feedback = feedback_store(settings, desk.settings.home)
    register_listeners(app, desk, feedback, settings, seen=seen_keys(settings))
    return app


def socket_mode_handler(app: App, app_token: str) -> "SocketModeHandler":
    """Socket Mode over slack_sdk's built-in client; apps.connections.open goes to the app's base_url."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    if not app_token:
        raise ConfigError("SLACK_APP_TOKEN is not set: Socket Mode needs an app-level token (xapp-…)")
    return SocketModeHandler(app, app_token=app_token, web_client=app.client)


def log_replicas(settings: SlackSettings) -> None:
    """Say at start-up where de-duplication and feedback live, and warn when that will not hold. An
    unreachable Redis is a warning, not a stop: it may come up later, and until then every event
    is answered (each process de-duplicating on its own)."""
    if settings.redis_url:
        where = redacted(settings.redis_url)
        problem = ping(settings.redis_url)
        if problem:
            log.warning("Redis at %s (NEWSBOT_REDIS_URL) is not reachable (%s): answering anyway; until it is, "
                        "each process de-duplicates on its own and feedback clicks are only logged", where, problem)
        else:
            log.info("de-duplication and feedback are shared through Redis at %s", where)
        return
    path = seen_file(settings)
    if path is not None:  # WEB_CONCURRENCY workers on this machine share it: nothing to warn about
        log.info("de-duplication is kept in %s without NEWSBOT_REDIS_URL: shared by the processes on this machine "
                 "and kept across restarts; feedback goes to SQLite under NEWSBOT_HOME", path)
        return
    log.info("de-duplication is per-process without NEWSBOT_REDIS_URL; feedback goes to SQLite under NEWSBOT_HOME")
    if settings.web_concurrency > 1:
        log.warning("WEB_CONCURRENCY=%d but NEWSBOT_REDIS_URL is not set: each process de-duplicates on its own, "
                    "so a redelivered event may be answered more than once; set NEWSBOT_REDIS_URL to share it",
                    settings.web_concurrency)


def run(
    desk: NewsDesk,
    settings: SlackSettings | None = None,
    *,
    port: int | None = None,
    host: str = "0.0.0.0",
    socket_mode: bool | None = None,
) -> None:
    """Serve until interrupted: Socket Mode when SLACK_APP_TOKEN is set (or asked for), else HTTP.
    `settings` default to `SlackSettings.from_env()`, read here once and passed down."""
    settings = settings or SlackSettings.from_env()
    if settings.home is None:  # seen keys outlive the process: a retry after a crash is not answered twice
        settings = replace(settings, home=desk.settings.home)
    use_socket = bool(settings.app_token) if socket_mode is None else socket_mode
    app = build_app(desk, settings, socket_mode=use_socket)  # settings and token are checked before the slow part
    log_replicas(settings)
    try:
        desk.warm_up()
    except EmptyIndexError:
        log.warning("the news index is empty: the bot will say so until you run `newsbot ingest`")
    if use_socket:
        log.info("newsbot is listening to Slack in Socket Mode (%s)", settings.api_url)
        socket_mode_handler(app, settings.app_token).start()
        return
    server = serve_http(app, port or settings.port, host, settings)
    log.info("newsbot is listening for Slack events on http://%s:%d%s", host, server.server_port, EVENTS_PATH)
    try:
        server.serve_forever()  # returns on SIGTERM or SIGINT, once the requests in flight are answered
    finally:
        server.server_close()
        pool = answer_pool(app)
        if pool.in_flight:
            log.info("waiting up to %g s for %d answers in flight", settings.drain_seconds, pool.in_flight)
        drained = pool.drain(settings.drain_seconds)
    if not drained:
        log.error("answers still running after %g s (NEWSBOT_SLACK_DRAIN_SECONDS): exiting without them",
                  settings.drain_seconds)
        logging.shutdown()
        os._exit(1)  # the interpreter would otherwise wait for the running answers at exit
    log.info("stopped")
