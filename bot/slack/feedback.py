"""👍/👎 clicks on answers, kept in a small SQLite file under the data dir and logged.

SQLite because it needs no server, survives restarts, and can be read with any tool later to see
which answers people found wrong. One connection per write keeps it safe across worker threads.
"""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
import threading
from dataclasses import astuple, dataclass
from pathlib import Path

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
        now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
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
        log.info(
            "feedback %s from %s on message %s in %s: %r",
            fb.vote, fb.user, fb.message_ts, fb.channel, fb.question[:200],
        )

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
