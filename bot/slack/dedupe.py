"""Which events, commands and clicks have been taken already, so each is answered once.

Slack redelivers what it thinks we missed, and one message can arrive as two events. One process
remembers keys in a `TTLSet`; with NEWSBOT_REDIS_URL every replica asks the same Redis
(`SET newsbot:seen:<key> 1 NX EX <ttl>`: only the first asker gets "new"), so any number of bot
processes behind one URL answer each event once.

    >>> seen = seen_keys(settings)        # RedisSeenKeys with settings.redis_url, else a TTLSet
    >>> seen.add("event:Ev123")           # True: new, answer it; False: taken, drop it

When Redis cannot be reached the answer is "new" (fail open: a possible double answer beats no
answer), remembered in this process meanwhile, and Redis is left alone for a few seconds so a
dead server does not slow every acknowledgement (Slack wants one within 3 s).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Protocol

from bot.slack.settings import DEFAULT_DEDUPE_MAX, SlackSettings, redacted
from retrieval import ConfigError

if TYPE_CHECKING:
    import redis

log = logging.getLogger(__name__)

SEEN_PREFIX = "newsbot:seen:"
REDIS_TIMEOUT = 1.0  # seconds to connect, and then for a reply; one retry: at most ~2 s in an ack
REDIS_PAUSE = 10.0  # seconds Redis is left alone after a failure (keys stay in this process)


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
    """Shared through Redis when `settings.redis_url` is set, else this process's own TTLSet; keys
    live `ttl` seconds (default: the de-duplication TTL)."""
    ttl = settings.dedupe_ttl if ttl is None else ttl
    if settings.redis_url:
        return RedisSeenKeys(redis_client(settings.redis_url), ttl,
                             where=redacted(settings.redis_url), max_local=settings.dedupe_max)
    return TTLSet(ttl, settings.dedupe_max)
