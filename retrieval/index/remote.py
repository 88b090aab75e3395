"""The client of a Chroma server (NEWSBOT_CHROMA_URL), for store.py.

A server that stops — restarted, killed, unreachable — fails the call in hand with a
BackendError that names it and says to try again, never an httpx traceback, and within
seconds: chromadb's HTTP client does not retry, and waits at most CONNECT_SECONDS for a
connection. Nothing needs reopening once the server is back: the client keeps no state a lost
connection breaks (httpx drops dead pooled connections; a collection handle is its id), and
the next call simply connects again.
"""

from __future__ import annotations

import functools
import logging
from typing import Any
from urllib.parse import urlsplit

from retrieval.errors import BackendError

log = logging.getLogger(__name__)

CONNECT_SECONDS = 5.0  # a host that drops packets fails this fast, not after the OS's minutes
NOT_RUNNING = "Could not connect to a Chroma server"  # what chromadb's client says when it cannot connect


def unreachable(url: str, error: BaseException) -> BackendError:
    """The message a user sees when the server does not answer."""
    if NOT_RUNNING in str(error) and error.__context__ is not None:
        error = error.__context__  # chromadb's "are you sure it is running?" hides why: refused, timed out
    reason = str(error) or type(error).__name__
    return BackendError(f"cannot reach the Chroma server at {url} ({reason}); check that it is running, then try again")


def is_connection_error(error: BaseException) -> bool:
    """The server did not answer: refused, reset, disconnected mid-reply, timed out."""
    import httpx

    return isinstance(error, (httpx.TransportError, ConnectionError)) or NOT_RUNNING in str(error)


def server_client(url: str) -> Any:
    """A chromadb HttpClient for the URL, whose lost connections are BackendErrors."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    parts = urlsplit(url)
    try:
        client = chromadb.HttpClient(
            host=parts.hostname or "localhost",
            port=parts.port or (443 if parts.scheme == "https" else 8000),
            ssl=parts.scheme == "https",
            settings=ChromaSettings(anonymized_telemetry=False),
        )
    except Exception as e:
        if is_connection_error(e):
            raise unreachable(url, e) from e
        raise BackendError(f"cannot open the Chroma store at {url}: {e}") from e
    _limit_connect_time(client)
    return Guarded(client, url)


def _limit_connect_time(client: Any) -> None:
    """chromadb's httpx session waits forever (timeout=None); bound the connect, not the reply:
    a large upsert may rightly take long."""
    import httpx

    session = getattr(getattr(client, "_server", None), "_session", None)
    if isinstance(session, httpx.Client):
        session.timeout = httpx.Timeout(None, connect=CONNECT_SECONDS)
    else:  # a chromadb that keeps its session elsewhere: connects wait as it decides
        log.debug("no httpx session found on the Chroma client; connect timeout left as is")


class Guarded:
    """A chromadb client or collection whose calls raise BackendError when the server is gone;
    the collections it hands out are guarded too. Other errors pass through unchanged."""

    def __init__(self, target: Any, url: str) -> None:
        self._target = target
        self._url = url

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if not callable(value):
            return value

        @functools.wraps(value)
        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                result = value(*args, **kwargs)
            except Exception as e:
                if is_connection_error(e):
                    raise unreachable(self._url, e) from e
                raise
            return Guarded(result, self._url) if _is_collection(result) else result

        return call

    def __repr__(self) -> str:
        return f"Guarded({self._target!r})"


def _is_collection(value: Any) -> bool:
    from chromadb.api.models.Collection import Collection

    return isinstance(value, Collection)
