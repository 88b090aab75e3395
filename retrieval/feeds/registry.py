"""Feed subscriptions and their polling state, kept in Chroma beside the articles.

Not a file under NEWSBOT_HOME: with a Chroma server (NEWSBOT_CHROMA_URL) every watcher and every
`newsbot feeds` command reads and writes the same subscriptions. One record per feed, its id a
hash of the normalised URL, so a feed added twice (or as `HTTP://Example.com/rss/`) is one feed.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from retrieval.errors import BackendError, ConfigError
from retrieval.feeds import schedule
from retrieval.ids import normalize_url

if TYPE_CHECKING:
    from retrieval.desk import NewsDesk

SEEN_MAX = 500  # entry keys remembered per feed: more than any feed lists at once
SUFFIX = "feeds"  # the collection is f"{settings.collection}_feeds"
# Fields a poll writes; the rest (url, title, added, every) belong to `newsbot feeds add`.
POLL_FIELDS = ("etag", "last_modified", "ttl", "last_poll", "next_poll", "last_status", "failures", "articles", "seen")


def feed_id(url: str) -> str:
    return hashlib.blake2b(normalize_url(url).encode("utf-8"), digest_size=16).hexdigest()


def entry_key(entry: Any) -> str:
    """A feed entry's identity (guid, else link, else title): hashed short, as `seen` stores it."""
    ident = entry.get("id") or entry.get("link") or entry.get("title") or entry.get("summary") or ""
    return hashlib.blake2b(str(ident).encode("utf-8"), digest_size=8).hexdigest()


def checked_url(url: str) -> str:
    """The URL stripped, if it can be a feed (http or https with a host); else a ConfigError."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"not a feed URL (http:// or https://): {url!r}")
    return url


@dataclass
class FeedState:
    """One subscription and what the last poll left: validators, schedule, the entries seen."""

    url: str
    title: str = ""
    added: float = 0.0
    every: int = 0  # seconds; 0 = the watcher's interval
    etag: str = ""
    last_modified: str = ""
    ttl: int = 0  # seconds the feed (or its Cache-Control) asks between polls
    last_poll: float = 0.0
    next_poll: float = 0.0
    last_status: str = ""
    failures: int = 0  # in a row
    articles: int = 0  # ingested from this feed, all time
    seen: tuple[str, ...] = field(default=())  # entry keys, newest first, at most SEEN_MAX

    @property
    def id(self) -> str:
        return feed_id(self.url)

    def due_at(self, every: float | None = None) -> float:
        """When to poll next: as saved, or sooner under a watcher polling more often (`every`)."""
        if not every or not self.last_poll or self.every:
            return self.next_poll
        sooner = schedule.next_poll(self.last_poll, every, self.ttl, self.failures, jitter=False)
        return min(self.next_poll, sooner)

    def remember(self, keys: Iterable[str]) -> tuple[str, ...]:
        """`keys` (this response's entries) first, then older ones, capped at SEEN_MAX."""
        merged = dict.fromkeys([*keys, *self.seen])
        return tuple(merged)[:SEEN_MAX]

    def to_meta(self, only: Iterable[str] | None = None) -> dict[str, Any]:
        meta = asdict(self)
        meta["seen"] = " ".join(self.seen)
        return {k: v for k, v in meta.items() if only is None or k in only}

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> "FeedState":
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in meta.items() if k in known}
        values["seen"] = tuple(str(values.get("seen") or "").split())
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["seen"] = len(self.seen)
        return data


class FeedRegistry:
    """The `<collection>_feeds` Chroma collection; every record gets the vector [1.0], never an
    embedding model (Chroma's default one downloads a model, and nothing here is searched).

        >>> registry = FeedRegistry.for_desk(NewsDesk())
        >>> registry.add("https://example.com/rss", every=300)
        >>> [f.url for f in registry.due(time.time())]
    """

    def __init__(self, collection: Any) -> None:
        self.collection = collection

    @classmethod
    def for_desk(cls, desk: "NewsDesk") -> "FeedRegistry":
        """Through the desk's own Chroma client (local or server); opens no model."""
        return cls(desk.store.side_collection(SUFFIX))

    def add(self, url: str, every: int | None = None, title: str = "") -> tuple[FeedState, bool]:
        """Subscribe; returns (the feed, True if it is new). Re-adding changes only `every`/`title`."""
        url = checked_url(url)
        existing = self.get(url)
        if existing is not None:
            changes: dict[str, Any] = {}
            if every is not None and every != existing.every:
                changes["every"] = every
            if title and not existing.title:
                changes["title"] = title
            if changes:
                existing = replace(existing, **changes)
                self._write("update", existing, changes)
            return existing, False
        state = FeedState(url=url, title=title, added=time.time(), every=every or 0)
        self._write("upsert", state, state.to_meta())
        return state, True

    def remove(self, url: str) -> bool:
        if self.get(url) is None:
            return False
        self._call(lambda: self.collection.delete(ids=[feed_id(url)]))
        return True

    def get(self, url: str) -> FeedState | None:
        found = self._call(lambda: self.collection.get(ids=[feed_id(url)], include=["metadatas"]))
        return FeedState.from_meta(found["metadatas"][0]) if found["ids"] else None

    def list(self) -> list[FeedState]:
        found = self._call(lambda: self.collection.get(include=["metadatas"]))
        return sorted((FeedState.from_meta(m or {}) for m in found["metadatas"]), key=lambda f: f.added)

    def due(self, now: float, every: float | None = None) -> list[FeedState]:
        """Feeds whose next poll has come, the longest-waiting first. Given the watcher's interval,
        feeds that follow it are due by it, even if a slower watcher set their next poll."""
        return sorted((f for f in self.list() if f.due_at(every) <= now), key=lambda f: f.due_at(every))

    def save(self, state: FeedState) -> None:
        """Write what a poll learned. An update, not an upsert: a feed removed meanwhile stays
        removed, and its url, title and interval stay as `newsbot feeds add` last set them."""
        meta = state.to_meta(POLL_FIELDS)
        if state.title:
            meta["title"] = state.title
        self._write("update", state, meta)

    def _write(self, how: str, state: FeedState, meta: dict[str, Any]) -> None:
        if how == "upsert":
            self._call(lambda: self.collection.upsert(ids=[state.id], metadatas=[meta], embeddings=[[1.0]]))
        else:
            self._call(lambda: self.collection.update(ids=[state.id], metadatas=[meta]))

    def _call(self, fn: Any) -> Any:
        try:
            return fn()
        except Exception as e:
            raise BackendError(f"the feed registry could not be read or written: {e}") from e
