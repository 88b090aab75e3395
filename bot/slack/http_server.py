"""HTTP mode in production: the Bolt app behind Starlette's router, served by uvicorn.

    >>> server = serve_http(app, port=3000, settings=settings)   # bound now; server.server_port
    >>> server.serve_forever()      # until SIGTERM/SIGINT or server.shutdown(); or server.start() in a thread

Routes: POST `/slack/events` (events, slash commands and interactivity; Bolt checks the signature and
answers 401 to a forged or stale one), GET `/healthz` and its older alias `/health` (200 "ok"),
anything else 404. Nothing reads a body before its path is known.

Guards, each settable (bot/slack/settings.py): a body over `max_body_bytes` is refused with 413, from
its declared Content-Length before a byte is read or, streamed, as soon as it passes the cap; a
negative or malformed Content-Length is 400; headers and then the body must each arrive within
`read_timeout` (else the connection is closed, or 408), so a slow client holds no worker;
`keep_alive` closes idle connections; past `max_connections` uvicorn answers 503. On SIGTERM uvicorn
stops accepting, finishes the requests in flight, and `serve_forever` returns; `run()` (app.py)
then waits for the answers still being written (`AnswerPool.drain`).

Bolt's own `slack_bolt.adapter.starlette.SlackRequestHandler.handle` calls the sync `App.dispatch`
on the event loop, and dispatch waits up to 3 s for the ack: here it runs in Starlette's thread pool,
so one request never stalls the others. The request and response conversions are Bolt's.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

import uvicorn
from slack_bolt import App
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from bot.slack.settings import DEFAULT_PORT, EVENTS_PATH, SlackSettings
from retrieval import ConfigError

log = logging.getLogger(__name__)

HEALTH_PATHS = ("/healthz", "/health")  # /health: what deployments before uvicorn probe
# Every route takes every method and answers 404 to the ones it does not serve, as Bolt's adapters do.
_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
_NOT_FOUND = "Not Found"


class _Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


async def _refuse(scope: Scope, send: Send, status: int, reason: str) -> None:
    """Log, and answer with a short text that also closes the connection, so what the client still
    sends is never read."""
    client = (scope.get("client") or ("?",))[0]
    log.warning("refused %s %s from %s with %d: %s", scope["method"], scope["path"], client, status, reason)
    body = reason.encode()
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode()),
               (b"connection", b"close")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class RequestLimits:
    """Pure ASGI middleware that bounds a request body's size and the time it takes to arrive, before
    and while anything inside reads it. A response that starts before the body was read whole (413,
    404, 401…) closes the connection, so the rest of the body is never read either."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, read_timeout: float) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.read_timeout = read_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_big = f"request body over {self.max_body_bytes} bytes"
        lengths = {value.strip() for name, value in scope["headers"] if name == b"content-length"}
        declared = 0
        if lengths:
            value = next(iter(lengths))
            if len(lengths) > 1 or not value.isdigit():
                await _refuse(scope, send, 400, "bad Content-Length")
                return
            declared = int(value)
            if declared > self.max_body_bytes:
                await _refuse(scope, send, 413, too_big)
                return
        chunked = any(name == b"transfer-encoding" for name, _ in scope["headers"])
        body_done = not declared and not chunked
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.read_timeout
        received = 0
        started = False

        async def guarded_receive() -> Message:
            nonlocal received, body_done
            if body_done:
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), timeout=max(0.0, deadline - loop.time()))
            except TimeoutError:
                raise _Refused(408, f"request body not received within {self.read_timeout:g} s") from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise _Refused(413, too_big)
                body_done = not message.get("more_body", False)
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if not body_done:
                    message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
            await send(message)

        try:
            await self.app(scope, guarded_receive, guarded_send)
        except _Refused as refused:
            if started:
                raise
            await _refuse(scope, send, refused.status, refused.reason)


def asgi_app(app: App, settings: SlackSettings | None = None, path: str = EVENTS_PATH) -> ASGIApp:
    """The Bolt `app` as an ASGI application, with the routes and guards above."""
    settings = settings or SlackSettings()

    async def events(request: Request) -> Response:
        if request.method != "POST":
            return PlainTextResponse(_NOT_FOUND, status_code=404)
        try:
            body = await request.body()
        except ClientDisconnect:
            return Response(status_code=400)
        try:  # BoltRequest parses the body (JSON, or a form with a JSON payload) before checking its signature
            bolt_request = to_bolt_request(request, body)
        except ValueError:  # not UTF-8, or not JSON: nothing Slack sends
            client = request.client.host if request.client else "?"
            log.warning("refused POST %s from %s with 400: a body Bolt cannot parse", path, client)
            return PlainTextResponse("malformed request body", status_code=400)
        return to_starlette_response(await run_in_threadpool(app.dispatch, bolt_request))

    async def health(request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return PlainTextResponse(_NOT_FOUND, status_code=404)
        return PlainTextResponse("ok")

    routes = [Route(path, events, methods=_METHODS), *(Route(p, health, methods=_METHODS) for p in HEALTH_PATHS)]
    router = Router(routes=routes, redirect_slashes=False)
    return RequestLimits(router, max_body_bytes=settings.max_body_bytes, read_timeout=settings.read_timeout)


def _protocol(header_timeout: float) -> type[H11Protocol]:
    """uvicorn's h11 protocol plus a deadline for each request's headers, counted from the connection
    or from the request's first byte (between requests, `timeout_keep_alive` applies). uvicorn has
    none: a client sending a header byte every few seconds would keep its connection, and a place
    under `limit_concurrency`, for ever. h11 already caps the headers' size (16 KB)."""

    class Protocol(H11Protocol):
        _header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._await_headers()

        def data_received(self, data: bytes) -> None:
            if self._header_timer is None and self._between_requests():
                self._await_headers()
            super().data_received(data)

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._stop_timer()

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_timer()
            super().connection_lost(exc)

        def _between_requests(self) -> bool:
            return self.cycle is None or self.cycle.response_complete

        def _await_headers(self) -> None:
            self._header_timer = self.loop.call_later(header_timeout, self._headers_late, self.cycle)

        def _stop_timer(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_late(self, cycle: Any) -> None:
            if self.cycle is cycle and self._between_requests() and not self.transport.is_closing():
                log.info("closing a connection from %s: no request headers within %g s", self.client, header_timeout)
                self.transport.close()

    return Protocol


class HttpServer:
    """uvicorn serving one ASGI app on a socket bound at construction (so `server_port` is known at
    once, even for port 0), with the stop-and-wait methods tests and `run()` need."""

    def __init__(self, app: ASGIApp, host: str, port: int, settings: SlackSettings) -> None:
        try:
            [(family, kind, proto, _, address), *_] = socket.getaddrinfo(
                host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
            )
            self.socket = socket.socket(family, kind, proto)
        except OSError as e:
            raise ConfigError(f"cannot listen on {host}:{port}: {e.strerror or e}") from e
        try:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.socket.bind(address)
            self.socket.listen(128)  # connections wait here until uvicorn starts accepting
        except OSError as e:
            self.socket.close()
            raise ConfigError(f"cannot listen on {host}:{port}: {e.strerror or e}") from e
        self.config = uvicorn.Config(
            app, http=_protocol(settings.read_timeout), ws="none", lifespan="off", interface="asgi3", loop="asyncio",
            log_config=None, access_log=False, server_header=False, backlog=128,
            timeout_keep_alive=settings.keep_alive,  # type: ignore[arg-type]  # a float works as well as an int
            limit_concurrency=settings.max_connections,
            timeout_graceful_shutdown=max(1, round(settings.drain_seconds)),
        )
        self.server = uvicorn.Server(self.config)
        self._stopped = threading.Event()
        self._serving = False

    @property
    def server_port(self) -> int:
        return int(self.socket.getsockname()[1])

    def serve_forever(self, poll_interval: float | None = None) -> None:
        """Serve until `shutdown()`, SIGTERM or SIGINT (signals only when called in the main thread);
        then stop accepting and finish the requests in flight. `poll_interval` is accepted for
        compatibility with socketserver and ignored."""
        self._serving = True
        self._stopped.clear()
        try:
            with self._signals_stop_serving():
                self.server.run(sockets=[self.socket])
        finally:
            self._stopped.set()

    def start(self, timeout: float = 10.0) -> "HttpServer":
        """Serve in a daemon thread; return once it accepts requests."""
        threading.Thread(target=self.serve_forever, name="newsbot-http", daemon=True).start()
        deadline = time.monotonic() + timeout
        while not self.server.started and not self._stopped.wait(0.01):
            if time.monotonic() > deadline:
                raise RuntimeError("the HTTP server did not start")
        return self

    def shutdown(self, timeout: float | None = None) -> None:
        """Stop serving, and wait (up to `timeout` s) until `serve_forever` has returned."""
        self.server.should_exit = True
        if self._serving:
            self._stopped.wait(timeout)

    def server_close(self) -> None:
        self.socket.close()

    def __enter__(self) -> "HttpServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()

    @contextmanager
    def _signals_stop_serving(self) -> Iterator[None]:
        """uvicorn handles SIGTERM/SIGINT while it serves, then re-raises the signal to the handler
        that was there before, which by default kills the process before the answers in flight are
        written. Under ours, the re-raised signal is just noted, and `serve_forever` returns."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def stop(sig: int, frame: FrameType | None) -> None:
            log.debug("%s while serving HTTP", signal.Signals(sig).name)
            self.server.should_exit = True

        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def serve_http(
    app: App, port: int = DEFAULT_PORT, host: str = "0.0.0.0", settings: SlackSettings | None = None,
    path: str = EVENTS_PATH,
) -> HttpServer:
    """The production HTTP server for `app`, bound to host:port (`port=0` picks a free one); call
    `.serve_forever()`, or `.start()` to serve in a thread, and `.shutdown()`."""
    settings = settings or SlackSettings()
    return HttpServer(asgi_app(app, settings, path), host, port, settings)
