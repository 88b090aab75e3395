"""👍/👎 clicks on answers, logged and kept: in a small SQLite file under the data dir, or, with
NEWSBOT_REDIS_URL, in a Redis stream every replica writes to (`feedback_store` picks).

SQLite because it needs no server, survives restarts, and can be read with any tool later to see
which answers people found wrong. One connection per write keeps it safe across worker threads.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sqlite3
import threading
from dataclasses import asdict, astuple, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from bot.slack.dedupe import redis_client
from bot.slack.settings import SlackSettings, redacted

if TYPE_CHECKING:
    import redis

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    recorded_at TEXT NOT NULL,
    vote TEXT NOT NULL CHECK (vote IN ('up', 'down')),
    user TEXT NOT NULL,
    team TEXT NOT NULL,
    channel TEXT NOT NULL,
    message_ts TEXT NOT NULL,
    thread_ts TEXT NOT NULL,
    question TEXT NOT NULL,
    answer TEXT NOT NULL
)
"""


@dataclass(frozen=True)
class Feedback:
    vote: str  # "up" or "down"
    user: str
    team: str
    channel: str
    message_ts: str
    thread_ts: str
    question: str
    answer: str


class FeedbackRecords(Protocol):
    """Where clicks go: `FeedbackStore` (SQLite) or `RedisFeedbackStore`."""

    def record(self, fb: Feedback) -> None: ...

    def all(self) -> list[Feedback]: ...


def feedback_store(settings: SlackSettings, home: Path) -> FeedbackRecords:
    """In Redis when `settings.redis_url` is set (shared by replicas), else SQLite under `home`."""
    if settings.redis_url:
        return RedisFeedbackStore(redis_client(settings.redis_url), where=redacted(settings.redis_url))
    return FeedbackStore.under(home)


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _logged(fb: Feedback) -> None:
    log.info(
        "feedback %s from %s on message %s in %s: %r",
        fb.vote, fb.user, fb.message_ts, fb.channel, fb.question[:200],
    )


class FeedbackStore:
    """Append-only store of feedback clicks."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._ready = False

    @classmethod
    def under(cls, home: Path) -> "FeedbackStore":
        """The store inside a NEWSBOT_HOME data directory."""
        return cls(Path(home) / "slack" / "feedback.sqlite3")

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=10)
        if not self._ready:
            conn.execute(_SCHEMA)
            self._ready = True
        return conn

    def record(self, fb: Feedback) -> None:
        now = _now()
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = self._connect()
            try:
                with conn:
                    conn.execute(
                        "INSERT INTO feedback (recorded_at, vote, user, team, channel, message_ts, thread_ts, question, answer)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (now, *astuple(fb)),
                    )
            finally:
                conn.close()
        _logged(fb)

    def all(self) -> list[Feedback]:
        """Every click recorded, oldest first (for reports and tests)."""
        if not self.path.exists():
            return []
        with self._lock:
            conn = self._connect()
            try:
                rows = conn.execute(
                    "SELECT vote, user, team, channel, message_ts, thread_ts, question, answer FROM feedback ORDER BY id"
                ).fetchall()
            finally:
                conn.close()
        return [Feedback(*row) for row in rows]


class RedisFeedbackStore:
    """Clicks in the Redis stream `newsbot:feedback`, which every replica appends to.

    A stream (XADD) rather than a list of JSON strings: Redis gives each entry a time-ordered id
    (when it was recorded, in one order across replicas), its fields are the `Feedback` fields
    (`redis-cli XRANGE newsbot:feedback - +` reads them as they are), and an exporter can later
    read only what is new (XRANGE after the last id it saw, or a consumer group). It is never
    trimmed and never expires: it is the record. A click Redis cannot take is logged whole, as
    an ERROR, rather than failing the thank-you."""

    KEY = "newsbot:feedback"

    def __init__(self, client: "redis.Redis", *, where: str, key: str = KEY) -> None:
        self.client = client
        self.where = where  # the URL without its password, for log lines
        self.key = key

    def record(self, fb: Feedback) -> None:
        import redis

        try:
            self.client.xadd(self.key, {"recorded_at": _now(), **asdict(fb)})
        except redis.RedisError as e:
            log.error("could not store feedback in Redis at %s (%s): %s", self.where, e, json.dumps(asdict(fb)))
        _logged(fb)

    def all(self) -> list[Feedback]:
        """Every click recorded, oldest first (for reports and tests)."""
        names = [f.name for f in fields(Feedback)]
        return [Feedback(*(entry.get(n, "") for n in names)) for _id, entry in self.client.xrange(self.key)]
