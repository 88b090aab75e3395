"""Which events, commands and clicks have been taken already, so each is answered once.

Slack redelivers what it thinks we missed, and one message can arrive as two events. Where the
keys live decides who shares them:

- NEWSBOT_REDIS_URL set: every replica asks the same Redis (`SET newsbot:seen:<key> 1 NX EX <ttl>`:
  only the first asker gets "new"), so any number of bot processes on any hosts answer each event once.
- Otherwise `SqliteSeenKeys`, a file under the NEWSBOT_HOME data directory (`slack/seen.sqlite3`):
  the keys outlive the process, so a bot killed mid-answer and restarted drops Slack's retry of
  the event it had taken, and every `newsbot slack` process on this machine using that home
  (`WEB_CONCURRENCY` workers, a second instance) shares them. Hosts without a shared Redis do not.
- `TTLSet`: this process's memory; with no home given (tests), or when the file cannot be opened.

    >>> seen = seen_keys(settings)        # RedisSeenKeys, else SqliteSeenKeys under settings.home, else a TTLSet
    >>> seen.add("event:Ev123")           # True: new, answer it; False: taken, drop it

When Redis or the file cannot be used the answer is "new" (fail open: a possible double answer beats
no answer), remembered in this process meanwhile; Redis is then left alone for a few seconds so a
dead server does not slow every acknowledgement (Slack wants one within 3 s).
"""

from __future__ import annotations

import logging
import math
import sqlite3
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from bot.slack.settings import DEFAULT_DEDUPE_MAX, SlackSettings, redacted
from retrieval import ConfigError

if TYPE_CHECKING:
    import redis

log = logging.getLogger(__name__)

SEEN_PREFIX = "newsbot:seen:"
REDIS_TIMEOUT = 1.0  # seconds to connect, and then for a reply; one retry: at most ~2 s in an ack
REDIS_PAUSE = 10.0  # seconds Redis is left alone after a failure (keys stay in this process)
SEEN_FILE = Path("slack") / "seen.sqlite3"  # under the home, next to feedback.sqlite3
SQLITE_TIMEOUT = 2.0  # seconds to wait for another process's write: inside Slack's 3 s for an ack
PRUNE_EVERY = 500  # adds between deletions of expired rows (which bound the file)


class SeenKeys(Protocol):
    def add(self, key: str) -> bool:
        """Take `key`: True when nobody had taken it (within the TTL), False when it is a repeat."""
        ...

    def __contains__(self, key: str) -> bool:
        """Whether `key` has been taken (within the TTL), without taking it."""
        ...


class TTLSet:
    """A bounded, thread-safe set of recently seen keys; `add` says whether a key is new."""

    def __init__(self, ttl: float, max_size: int = DEFAULT_DEDUPE_MAX) -> None:
        self.ttl = ttl
        self.max_size = max_size
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, key: str) -> bool:
        now = time.monotonic()
        with self._lock:
            while self._seen and next(iter(self._seen.values())) <= now:
                self._seen.popitem(last=False)
            if key in self._seen:
                return False
            self._seen[key] = now + self.ttl
            while len(self._seen) > self.max_size:
                self._seen.popitem(last=False)
            return True

    def __contains__(self, key: str) -> bool:
        with self._lock:
            expiry = self._seen.get(key)
            return expiry is not None and expiry > time.monotonic()


class RedisSeenKeys:
    """Keys shared by every process using one Redis; each expires after `ttl` seconds."""

    def __init__(self, client: "redis.Redis", ttl: float, *, where: str, max_local: int = DEFAULT_DEDUPE_MAX) -> None:
        self.client = client
        self.ttl = max(1, math.ceil(ttl))  # EX takes whole seconds
        self.where = where  # the URL without its password, for log lines
        self.local = TTLSet(ttl, max_local)  # used while Redis is unreachable

    def add(self, key: str) -> bool:
        import redis

        if _left_alone(self.where):
            return self.local.add(key)
        try:
            taken = self.client.set(SEEN_PREFIX + key, 1, nx=True, ex=self.ttl)
        except redis.RedisError as e:
            _gone(self.where, e, key)
            return self.local.add(key)
        _back(self.where)
        self.local.add(key)  # so a later outage still knows what this process took
        return bool(taken)

    def __contains__(self, key: str) -> bool:
        import redis

        if _left_alone(self.where):
            return key in self.local
        try:
            found = bool(self.client.exists(SEEN_PREFIX + key))
        except redis.RedisError as e:
            _gone(self.where, e, key)
            return key in self.local
        _back(self.where)
        return found or key in self.local


class SqliteSeenKeys:
    """Keys in one SQLite file, shared by every process (and thread) using it; each expires after
    `ttl` seconds of wall-clock time, so they survive a restart. Opening raises OSError or
    sqlite3.Error when the file cannot be created or written (a read-only home)."""

    _UPSERT = ("INSERT INTO seen (key, expires) VALUES (?, ?) "
               "ON CONFLICT (key) DO UPDATE SET expires = excluded.expires WHERE seen.expires <= ?")

    def __init__(self, path: Path, ttl: float, *, max_local: int = DEFAULT_DEDUPE_MAX) -> None:
        self.path = Path(path)
        self.ttl = ttl
        self.local = TTLSet(ttl, max_local)  # used while the file cannot be written
        self._lock = threading.Lock()  # one connection, used by one thread at a time
        self._adds = 0
        self._failing = False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit: each statement is its own transaction. WAL lets readers and a writer overlap;
        # synchronous=NORMAL skips the fsync per commit and still survives a killed process.
        self._db = sqlite3.connect(self.path, timeout=SQLITE_TIMEOUT, isolation_level=None, check_same_thread=False)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("CREATE TABLE IF NOT EXISTS seen (key TEXT PRIMARY KEY, expires REAL NOT NULL) WITHOUT ROWID")
            self._db.execute("DELETE FROM seen WHERE expires <= ?", (time.time(),))
        except sqlite3.Error:
            self._db.close()
            raise

    def add(self, key: str) -> bool:
        # One statement, so one write transaction: a new key, or an expired one, is taken (1 row
        # changed); a live one is left alone (0 rows). Two processes cannot both get 1.
        now = time.time()
        try:
            with self._lock:
                taken = self._db.execute(self._UPSERT, (key, now + self.ttl, now)).rowcount == 1
                self._adds += 1
                if self._adds % PRUNE_EVERY == 0:
                    self._db.execute("DELETE FROM seen WHERE expires <= ?", (now,))
        except sqlite3.Error as e:
            self._broken(e, key)
            return self.local.add(key)
        self._mended()
        self.local.add(key)  # so a later failure still knows what this process took
        return taken

    def __contains__(self, key: str) -> bool:
        try:
            with self._lock:
                row = self._db.execute("SELECT 1 FROM seen WHERE key = ? AND expires > ?", (key, time.time())).fetchone()
        except sqlite3.Error as e:
            self._broken(e, key)
            return key in self.local
        self._mended()
        return row is not None or key in self.local

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _broken(self, error: Exception, key: str) -> None:
        if not self._failing:
            self._failing = True
            log.error("cannot use %s (%s): de-duplicating in this process only; %s may be answered twice",
                      self.path, error, key)

    def _mended(self) -> None:
        if self._failing:
            self._failing = False
            log.info("%s works again: de-duplication is shared again", self.path)


# Per Redis (by its redacted URL), until when it is left alone after a failure: one outage, one
# ERROR line, however many key sets of this process use that Redis.
_paused: dict[str, float] = {}


def _left_alone(where: str) -> bool:
    return time.monotonic() < _paused.get(where, 0.0)


def _gone(where: str, error: Exception, key: str) -> None:
    if _left_alone(where):
        return
    _paused[where] = time.monotonic() + REDIS_PAUSE
    log.error("Redis at %s is unreachable (%s): de-duplicating in this process only for %g s; "
              "other replicas may answer %s too", where, error, REDIS_PAUSE, key)


def _back(where: str) -> None:
    if _paused.pop(where, None) is not None:
        log.info("Redis at %s answers again: de-duplication is shared again", where)


def redis_client(url: str) -> "redis.Redis":
    """A redis-py client for `url` with short timeouts and one retry, so a dead server costs an
    acknowledgement at most about 2 s. Replies are decoded to str."""
    try:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry
    except ImportError as e:
        raise ConfigError("NEWSBOT_REDIS_URL is set but the redis package is not installed: "
                          "pip install 'newsbot[slack]'") from e
    try:
        return redis.Redis.from_url(
            url, socket_connect_timeout=REDIS_TIMEOUT, socket_timeout=REDIS_TIMEOUT,
            retry=Retry(NoBackoff(), 1), decode_responses=True,
        )
    except ValueError as e:
        raise ConfigError(f"NEWSBOT_REDIS_URL={redacted(url)} is not a Redis URL: {e}") from None


def ping(url: str) -> str | None:
    """None when Redis at `url` answers PING, else why not (for a start-up warning)."""
    import redis

    client = redis_client(url)
    try:
        client.ping()
        return None
    except redis.RedisError as e:
        return str(e) or type(e).__name__
    finally:
        client.close()


def seen_keys(settings: SlackSettings, ttl: float | None = None) -> SeenKeys:
    """Shared through Redis when `settings.redis_url` is set, else in SQLite under `settings.home`,
    else (no home, or its file cannot be opened) this process's own TTLSet; keys live `ttl` seconds
    (default: the de-duplication TTL)."""
    ttl = settings.dedupe_ttl if ttl is None else ttl
    if settings.redis_url:
        return RedisSeenKeys(redis_client(settings.redis_url), ttl,
                             where=redacted(settings.redis_url), max_local=settings.dedupe_max)
    path = seen_file(settings)
    if path is not None:
        try:
            return SqliteSeenKeys(path, ttl, max_local=settings.dedupe_max)
        except (OSError, sqlite3.Error) as e:
            _unusable.add(path)
            log.warning("cannot keep de-duplication in %s (%s): it stays in this process, so after a restart "
                        "Slack's retry of an event already answered may be answered again", path, e)
    return TTLSet(ttl, settings.dedupe_max)


# Files that could not be opened: one WARNING each, and memory from then on (say, a read-only home).
_unusable: set[Path] = set()


def seen_file(settings: SlackSettings) -> Path | None:
    """The SQLite file seen keys go to without Redis; None when they stay in memory (no home, or
    the file could not be opened)."""
    if settings.redis_url or settings.home is None:
        return None
    path = Path(settings.home) / SEEN_FILE
    return None if path in _unusable else path
