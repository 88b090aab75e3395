"""`newsbot watch`: poll the subscribed feeds and ingest what is new, until told to stop.

Network waits overlap — feeds and the pages of their summary-only entries are fetched by a
bounded pool — while embedding and storing stay in the watcher's thread (one `ingest_items`
per round, the model being the one thing that cannot go faster by running twice). What a poll
learned (validators, the entries seen) is saved only once that response's entries are stored,
so a watcher killed mid-feed reads the feed again; entries already stored come back unchanged.

    >>> watcher = Watcher(desk, FeedRegistry.for_desk(desk), every=600)
    >>> watcher.poll_once()        # the feeds that are due, once
    >>> watcher.run(stop_event)    # until stop_event is set
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from retrieval.desk import NewsDesk
from retrieval.errors import LoadError, NewsbotError
from retrieval.feeds import schedule
from retrieval.feeds.fetching import Response, completed, fetch_feed
from retrieval.feeds.registry import FeedRegistry, FeedState, entry_key
from retrieval.ingest.fetch import FetchPolicy
from retrieval.ingest.loaders import Loaded, parse_feed
from retrieval.types import Article

log = logging.getLogger(__name__)

MIN_PAUSE = 1.0  # seconds between rounds, whatever the schedule says
MAX_PAUSE = 60.0  # a feed added by `newsbot feeds add` meanwhile waits at most this long


@dataclass
class PollResult:
    """One feed's poll, as logged and as `newsbot watch --once` sums it up."""

    url: str
    status: str  # the feed's last_status: "ok: 3 new", "not modified", "error: HTTP 503"
    new: int = 0  # articles handed to the ingester
    failed: int = 0  # entries that could not be read
    seen: int = 0  # entries skipped, ingested by an earlier poll
    failures: int = 0  # in a row, this one included
    seconds: float = 0.0
    next_poll: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.status.startswith("error")


class Watcher:
    def __init__(
        self,
        desk: NewsDesk,
        registry: FeedRegistry,
        every: float | None = None,
        concurrency: int = 4,
        policy: FetchPolicy | None = None,
    ) -> None:
        self.desk = desk
        self.registry = registry
        self.every = float(every if every is not None else schedule.default_every())
        if self.every <= 0:
            raise NewsbotError("the watch interval must be above 0 s")
        self.concurrency = max(1, concurrency)
        self.policy = policy or FetchPolicy.from_env()

    def run(self, stop: threading.Event) -> None:
        """Poll due feeds round after round; return once `stop` is set, with state saved."""
        while not stop.is_set():
            try:
                self.poll_once(stop)
            except Exception:  # the store was unreachable, say: the watcher must outlive it
                log.exception("the poll failed; trying again in %s", schedule.human_duration(self.every))
            stop.wait(self._pause())

    def _pause(self) -> float:
        now = time.time()
        try:
            upcoming = min((f.due_at(self.every) for f in self.registry.list()), default=now + self.every)
        except NewsbotError:
            return self.every
        return max(MIN_PAUSE, min(upcoming - now, self.every, MAX_PAUSE))

    def poll_once(self, stop: threading.Event | None = None) -> list[PollResult]:
        """Poll every due feed once and ingest its new entries; stop early when `stop` is set."""
        stop = stop or threading.Event()
        due = self.registry.due(time.time(), self.every)
        if not due:
            return []
        results: list[PollResult] = []
        finished: list[tuple[FeedState, PollResult]] = []  # saved once their entries are stored
        pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="newsbot-fetch")
        try:
            jobs = [pool.submit(fetch_feed, state, pool, self.policy) for state in due]
            items = self._items(jobs, stop, results, finished)
            first = next(items, None)  # the ingester scans the store first: only when needed
            if first is not None:
                self.desk.ingest_items(itertools.chain([first], items))
        finally:
            pool.shutdown(wait=not stop.is_set(), cancel_futures=True)
        for state, result in finished:
            self.registry.save(state)
            self._log(result)
            results.append(result)
        return results

    # --- in the watcher's thread -----------------------------------------------------------------

    def _items(
        self,
        jobs: list[Future[Response]],
        stop: threading.Event,
        results: list[PollResult],
        finished: list[tuple[FeedState, PollResult]],
    ) -> Iterator[Loaded]:
        """The new entries of each feed as its response arrives; feeds with nothing to ingest are
        saved and logged on the way, the others once the ingester has stored them."""
        for job in completed(jobs, stop):
            r = job.result()
            if r.error or r.fetched is None:
                results.append(self._failed(r.state, r.error or "no response", r.started))
                continue
            if r.fetched.not_modified:
                state = self._scheduled(r.state, "not modified", r.fetched.max_age or r.state.ttl)
                results.append(self._finish(state, PollResult(r.state.url, state.last_status), r.started))
                continue
            seen, handed, articles = set(r.state.seen), [], 0
            taken: list[str] = []  # keys of the entries parse_feed went on to read, in order

            def skip(entry: Any) -> bool:
                key = entry_key(entry)
                if key in seen:
                    return True
                taken.append(key)
                return False

            def page(url: str, r: Response = r) -> bytes:
                return r.page(url, self.policy)

            try:
                for item in parse_feed(r.fetched.body, origin=r.state.url, fetch=page, skip=skip):
                    if stop.is_set():
                        break
                    handed.append(taken[-1])
                    articles += isinstance(item, Article)
                    yield item
            except Exception as e:  # LoadError: not a feed at all; anything else: a parser bug
                reason = str(e) if isinstance(e, LoadError) else f"{type(e).__name__}: {e}"
                results.append(self._failed(r.state, reason, r.started))
                continue
            keys = [entry_key(e) for e in r.parsed.entries]
            result = PollResult(r.state.url, "", articles, len(handed) - articles, len(keys) - len(taken))
            title = r.state.title or str(r.parsed.feed.get("title", ""))
            state = replace(r.state, title=title, articles=r.state.articles + articles)
            if stop.is_set() and len(handed) < len(taken):  # stopped mid-feed: keep what is stored
                state = replace(state, seen=state.remember(handed), last_status=f"stopped after {articles} new")
                result.status = state.last_status
                finished.append((state, self._timed(result, r.started)))
                return
            ttl = max(schedule.feed_ttl(r.parsed.feed), r.fetched.max_age or 0)
            state = self._scheduled(state, f"ok: {articles} new", ttl)
            state = replace(state, etag=r.fetched.etag or "", last_modified=r.fetched.last_modified or "",
                            seen=state.remember(keys))  # fmt: skip
            result.status, result.next_poll = state.last_status, state.next_poll
            finished.append((state, self._timed(result, r.started)))

    def _scheduled(self, state: FeedState, status: str, ttl: int) -> FeedState:
        now = time.time()
        every = state.every or self.every
        return replace(state, last_poll=now, next_poll=schedule.next_poll(now, every, ttl), ttl=ttl,
                       failures=0, last_status=status)  # fmt: skip

    def _failed(self, state: FeedState, reason: str, started: float) -> PollResult:
        now, failures = time.time(), state.failures + 1
        every = state.every or self.every
        state = replace(state, last_poll=now, failures=failures, last_status=f"error: {reason}"[:300],
                        next_poll=schedule.next_poll(now, every, failures=failures))  # fmt: skip
        return self._finish(state, PollResult(state.url, state.last_status, failures=failures), started)

    def _finish(self, state: FeedState, result: PollResult, started: float) -> PollResult:
        result.next_poll = state.next_poll
        self.registry.save(state)
        self._log(self._timed(result, started))
        return result

    @staticmethod
    def _timed(result: PollResult, started: float) -> PollResult:
        result.seconds = time.monotonic() - started
        return result

    @staticmethod
    def _log(r: PollResult) -> None:
        wait = schedule.human_duration(r.next_poll - time.time())
        if r.status.startswith("error"):
            again = f" ({schedule.ordinal(r.failures)} failure in a row)" if r.failures > 1 else ""
            log.info("feed %s: %s%s; retry in %s", r.url, r.status, again, wait)
        elif r.status.startswith("stopped"):
            log.info("feed %s: %s; the rest at the next poll", r.url, r.status)
        elif r.status == "not modified":
            log.info("feed %s: not modified; next poll in %s", r.url, wait)
        else:
            failed = f", {r.failed} unreadable" if r.failed else ""
            log.info("feed %s: %d new, %d seen%s (%.1f s); next poll in %s", r.url, r.new, r.seen, failed, r.seconds, wait)

