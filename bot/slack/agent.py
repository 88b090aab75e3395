"""Slack's agent experience around an answer: suggested prompts when a DM opens, a status line
while the engine works ("Searching the news…" → "Reading 3 articles…" → "Writing…"), a title for
the DM thread, and the asker's own date.

Each of these is a nicety: a workspace, plan or token that refuses one (missing scope, a DM that is
not an agent thread) costs a debug line, never the answer.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Sequence
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cachetools import TTLCache
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack import messages
from retrieval import Stage

log = logging.getLogger(__name__)

TITLE_CHARS = 60  # a DM thread's title: the first question, clipped (Slack shows about this much)
PROMPT_TITLE_CHARS = 40  # a suggested prompt's label
MAX_PROMPTS = 4  # Slack shows at most four suggested prompts
TZ_CACHE_SECONDS = 6 * 3600.0  # how long a user's time zone is remembered (people rarely move)
TZ_CACHE_SIZE = 10_000


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def suggested_prompts(questions: Sequence[str]) -> list[dict[str, str]]:
    """`assistant.threads.setSuggestedPrompts` items: the question is what a click sends."""
    return [{"title": _clip(q, PROMPT_TITLE_CHARS), "message": q} for q in list(questions)[:MAX_PROMPTS]]


def offer_prompts(client: WebClient, channel: str, thread_ts: str, questions: Sequence[str]) -> None:
    """A new DM with the bot: a few questions to start from."""
    try:
        client.assistant_threads_setSuggestedPrompts(
            channel_id=channel, thread_ts=thread_ts, title=messages.PROMPTS_TITLE, prompts=suggested_prompts(questions)
        )
    except SlackApiError as e:
        log.debug("no suggested prompts in %s: %s", channel, e.response.get("error"))


def set_title(client: WebClient, channel: str, thread_ts: str, question: str) -> None:
    """Name a DM thread after its first question, as Slack's history list shows it."""
    try:
        client.assistant_threads_setTitle(channel_id=channel, thread_ts=thread_ts, title=_clip(question, TITLE_CHARS))
    except SlackApiError as e:
        log.debug("no title for thread %s in %s: %s", thread_ts, channel, e.response.get("error"))


def stage_text(stage: Stage) -> str:
    if stage.name == "reading":
        return messages.STATUS_READING_ONE if stage.articles == 1 else messages.STATUS_READING.format(n=stage.articles)
    return messages.STATUS_WRITING if stage.name == "writing" else messages.STATUS_SEARCHING


class StatusLine:
    """The "is thinking" line under a thread while one answer is worked out. Slack clears it when the
    bot posts in the thread, so it is only ever set, never cleared. After the first refusal it stays
    quiet for the rest of this answer (one debug line, not three)."""

    def __init__(self, client: WebClient, channel: str, thread_ts: str | None) -> None:
        self.client, self.channel, self.thread_ts = client, channel, thread_ts
        self.shown: list[str] = []
        self._refused = thread_ts is None  # a status belongs to a thread

    def show(self, text: str) -> None:
        if self._refused or (self.shown and self.shown[-1] == text):
            return
        try:
            self.client.assistant_threads_setStatus(channel_id=self.channel, thread_ts=str(self.thread_ts), status=text)
            self.shown.append(text)
        except SlackApiError as e:
            self._refused = True
            log.debug("no status line in %s: %s", self.channel, e.response.get("error"))

    def __call__(self, stage: Stage) -> None:
        self.show(stage_text(stage))


class AskerDates:
    """Today's date where the asker is: "this week" is theirs, not the server's. Time zones come
    from `users.info` (scope users:read) and are cached; without one, the server's date is used."""

    def __init__(self, ttl: float = TZ_CACHE_SECONDS, size: int = TZ_CACHE_SIZE) -> None:
        self._zones: TTLCache[str, ZoneInfo | None] = TTLCache(maxsize=size, ttl=ttl)
        self._lock = threading.Lock()

    def today(self, client: WebClient, user: str, now: dt.datetime | None = None) -> dt.date:
        now = now or dt.datetime.now(dt.timezone.utc)
        zone = self.zone(client, user) if user else None
        return now.astimezone(zone).date() if zone else now.astimezone().date()

    def zone(self, client: WebClient, user: str) -> ZoneInfo | None:
        with self._lock:
            if user in self._zones:
                return self._zones[user]
        try:
            name = (client.users_info(user=user).get("user") or {}).get("tz")
        except (SlackApiError, OSError) as e:  # not cached: the next question asks again
            log.debug("no time zone for %s: %s", user, e.response.get("error") if isinstance(e, SlackApiError) else e)
            return None
        try:
            zone = ZoneInfo(name) if name else None
        except (ZoneInfoNotFoundError, ValueError):
            log.debug("unknown time zone %r for %s", name, user)
            zone = None
        with self._lock:
            self._zones[user] = zone
        return zone
