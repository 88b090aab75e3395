"""The watcher's network side, run in its thread pool: a feed's conditional GET, then at once
the pages of its new summary-only entries, so they download while earlier feeds are embedded."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, CancelledError, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from retrieval.errors import LoadError
from retrieval.feeds.registry import FeedState, entry_key
from retrieval.ingest.fetch import FetchPolicy, Fetched, HTTPStatusError, fetch, fetch_bytes
from retrieval.ingest.loaders import needs_page

log = logging.getLogger(__name__)


@dataclass
class Response:
    """A feed's response, parsed, with the pages of its unseen entries on the way (or an error)."""

    state: FeedState
    started: float
    fetched: Fetched | None = None
    parsed: Any = None  # feedparser's result
    error: str = ""
    pages: dict[str, Future[bytes]] = field(default_factory=dict)

    def page(self, url: str, policy: FetchPolicy) -> bytes:
        """An entry's page: fetched already by the pool, or (a link the pool missed) now."""
        job = self.pages.get(url)
        if job is None:
            return fetch_bytes(url, policy)
        try:
            return job.result()
        except CancelledError:
            raise LoadError("stopped before the page was fetched") from None


def fetch_feed(state: FeedState, pool: ThreadPoolExecutor, policy: FetchPolicy) -> Response:
    """Never raises: a failure is the Response's `error`, so one feed cannot stop the others."""
    response = Response(state, time.monotonic())
    try:
        etag, modified = state.etag or None, state.last_modified or None
        response.fetched = fetch(state.url, etag=etag, last_modified=modified, policy=policy)
        if response.fetched.not_modified:
            return response
        import feedparser

        response.parsed = feedparser.parse(response.fetched.body)
        seen = set(state.seen)
        for entry in response.parsed.entries:
            link = entry.get("link", "")
            if needs_page(entry) and link not in response.pages and entry_key(entry) not in seen:
                response.pages[link] = pool.submit(fetch_bytes, link, policy)
    except HTTPStatusError as e:
        response.error = f"HTTP {e.status}"
    except LoadError as e:  # the URL is in every log line already
        response.error = str(e).replace(f" fetching {state.url}", "").replace(f"cannot fetch {state.url}: ", "")
    except RuntimeError:  # the pool was shut down: the watcher is stopping
        response.error = "stopped"
    except Exception as e:  # a parser bug on odd input must not stop the other feeds
        log.debug("unexpected failure polling %s", state.url, exc_info=True)
        response.error = f"{type(e).__name__}: {e}"
    return response


def completed(jobs: Iterable[Future[Response]], stop: threading.Event) -> Iterator[Future[Response]]:
    """Jobs as they finish, in submission order among those done together; none once stopped."""
    pending = list(jobs)
    while pending and not stop.is_set():
        done, _ = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
        for job in [j for j in pending if j in done]:
            if stop.is_set():
                return
            pending.remove(job)
            yield job
