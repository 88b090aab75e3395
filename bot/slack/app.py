"""The Bolt app and its two ways of meeting Slack: HTTP (production) and Socket Mode (development).

    >>> settings = SlackSettings.from_env()                          # or SlackSettings(bot_token=…, …)
    >>> app = build_app(desk, settings)                              # one auth.test, to settings.api_url
    >>> serve_http(app, port=settings.port).serve_forever()          # POST /slack/events
    >>> socket_mode_handler(app, settings.app_token).start()         # or: Socket Mode

The `WebClient` is built here with an explicit `base_url`, so nothing talks to slack.com unless
SLACK_API_URL says so (tests point it at a fake API on 127.0.0.1), and with slack_sdk's
`RateLimitErrorRetryHandler`, so a 429 is retried after the Retry-After it names.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from slack_bolt import App, BoltRequest
from slack_bolt.error import BoltError
from slack_sdk import WebClient
from slack_sdk.http_retry import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

from bot.slack.feedback import FeedbackStore
from bot.slack.listeners import register_listeners
from bot.slack.settings import DEFAULT_PORT, EVENTS_PATH, SlackSettings
from retrieval import ConfigError, EmptyIndexError, NewsDesk

if TYPE_CHECKING:
    from slack_bolt.adapter.socket_mode import SocketModeHandler

log = logging.getLogger(__name__)


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
    feedback: FeedbackStore | None = None,
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
            listener_executor=ThreadPoolExecutor(max_workers=settings.workers, thread_name_prefix="newsbot-slack"),
            logger=logging.getLogger("bot.slack_bolt"),
        )
    except BoltError as e:
        raise ConfigError(f"Slack did not accept SLACK_BOT_TOKEN ({settings.api_url}): {e}") from e
    except OSError as e:
        raise ConfigError(f"cannot reach the Slack Web API at {settings.api_url}: {e}") from e
    register_listeners(app, desk, feedback or FeedbackStore.under(desk.settings.home), settings)
    return app


def serve_http(app: App, port: int = DEFAULT_PORT, host: str = "0.0.0.0", path: str = EVENTS_PATH) -> ThreadingHTTPServer:
    """An HTTP server (one thread per request) that hands POSTs on `path` to the app.

    Bolt's own `app.start()` serves one request at a time; this one acks bursts in parallel.
    GET /health answers 200 for load balancers. Call `.serve_forever()`; `port=0` picks a free one.
    """

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("http: " + format, *args)

        def do_GET(self) -> None:
            self._reply(200 if self.path == "/health" else 404, {}, "ok" if self.path == "/health" else "")

        def do_POST(self) -> None:
            request_path, _, query = self.path.partition("?")
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode("utf-8") if length else ""
            if request_path != path:
                self._reply(404, {}, "")
                return
            resp = app.dispatch(BoltRequest(body=body, query=query, headers={k: v for k, v in self.headers.items()}))
            self._reply(resp.status, resp.headers, resp.body)

        def _reply(self, status: int, headers: dict[str, Any], body: str) -> None:
            data = (body or "").encode("utf-8")
            self.send_response(status)
            for name, values in headers.items():
                if name.lower() == "content-length":
                    continue
                for value in values if isinstance(values, (list, tuple)) else [values]:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 128  # the default listen backlog of 5 resets bursts of events

    return Server((host, port), Handler)


def socket_mode_handler(app: App, app_token: str) -> "SocketModeHandler":
    """Socket Mode over slack_sdk's built-in client; apps.connections.open goes to the app's base_url."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    if not app_token:
        raise ConfigError("SLACK_APP_TOKEN is not set: Socket Mode needs an app-level token (xapp-…)")
    return SocketModeHandler(app, app_token=app_token, web_client=app.client)


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
    use_socket = bool(settings.app_token) if socket_mode is None else socket_mode
    app = build_app(desk, settings, socket_mode=use_socket)  # settings and token are checked before the slow part
    try:
        desk.warm_up()
    except EmptyIndexError:
        log.warning("the news index is empty: the bot will say so until you run `newsbot ingest`")
    if use_socket:
        log.info("newsbot is listening to Slack in Socket Mode (%s)", settings.api_url)
        socket_mode_handler(app, settings.app_token).start()
        return
    server = serve_http(app, port or settings.port, host)
    log.info("newsbot is listening for Slack events on http://%s:%d%s", host, server.server_port, EVENTS_PATH)
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
