"""Slack listeners: acknowledge at once, answer afterwards (Bolt lazy listeners), reply in threads.

Each handler parses the Slack payload into a `SlackAsk`, and `Listeners.answer` does the rest:
👀 reaction, `desk.stream` written into the thread as it comes (Slack's native streaming, or a
placeholder edited at most once per interval: bot/slack/streaming.py), the sources and 👍/👎, or
one short apology. `register_listeners` at the bottom is the table of
contents; HTTP mode, Socket Mode and the tests all call it.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from slack_bolt import Ack, App, BoltContext, BoltRequest, BoltResponse
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack import messages
from bot.slack.agent import AskerDates, StatusLine, offer_prompts, set_title
from bot.slack.dedupe import SeenKeys, seen_keys
from bot.slack.feedback import Feedback, FeedbackRecords
from bot.slack.mrkdwn import slack_to_plain
from bot.slack.settings import SlackSettings
from bot.slack.streaming import Reply, make_reply
from bot.slack.ui import (
    FEEDBACK_ACTION,
    FEEDBACK_DOWN,
    FEEDBACK_UP,
    notice_message,
    posted_question,
    question_message,
)
from retrieval import HISTORY_TURNS, Answer, EmptyIndexError, NewsDesk, Turn

log = logging.getLogger(__name__)

SLASH_COMMAND = "/news"
# Message subtypes that are a person saying something new; edits, deletions, joins… are not.
ANSWERABLE_SUBTYPES = {None, "file_share", "thread_broadcast"}
# Texts of our own that are not answers, kept out of a thread's history.
_NOT_ANSWERS = {messages.PLACEHOLDER, messages.ERROR_APOLOGY, messages.EMPTY_INDEX, messages.EMPTY_QUESTION}
_CANT_POST = {"not_in_channel", "channel_not_found", "is_archived", "restricted_action"}
# How long the bot remembers a channel thread it answered in: a reply there within this time is a
# follow-up (read with conversations.replies); a reply in any other thread costs no API call.
THREAD_MEMORY = 14 * 24 * 3600.0


@dataclass
class SlackAsk:
    """One question as Slack delivered it (text, where it was asked, where to reply), reduced to what
    answering needs."""

    text: str
    channel: str
    user: str
    message_ts: str | None  # the asking message (None for a slash command): 👀 goes on it
    thread_ts: str | None  # where to reply (a slash command's: the question it posted)
    history: list[Turn] = field(default_factory=list)
    team: str | None = None  # the asker's team: a native stream in a channel names its recipient
    is_dm: bool = False
    respond: Callable[..., Any] | None = None  # slash commands: ephemeral fallback


def just_ack(ack: Ack) -> None:
    ack()


class Listeners:
    """The bot's handlers, holding what they share: the desk, the feedback store, the dedupe set.
    `settings` defaults to the built-in values; `build_app` passes the ones it was given."""

    def __init__(
        self, desk: NewsDesk, feedback: FeedbackRecords, settings: SlackSettings | None = None, *,
        seen: SeenKeys | None = None,
    ) -> None:
        settings = settings or SlackSettings()
        self.desk = desk
        self.feedback = feedback
        self.update_interval = settings.update_interval
        self.streaming = settings.streaming
        self.stream_buffer = settings.stream_buffer
        self.seen = seen if seen is not None else seen_keys(settings)  # Redis with a redis_url: shared by replicas
        self.threads = seen_keys(settings, ttl=THREAD_MEMORY)  # channel threads answered in (shared likewise)
        self._slots = threading.BoundedSemaphore(max(1, settings.max_concurrent_answers))
        self.prompts = settings.prompts
        self.dates = AskerDates()

    # --- middleware -----------------------------------------------------------------------------

    def skip_repeats(self, body: dict[str, Any], request: BoltRequest, next: Callable[[], BoltResponse]) -> BoltResponse:
        """Slack redelivers an event (same `event_id`) when it thinks we missed it: over HTTP with
        `X-Slack-Retry-Num`, in Socket Mode with `retry_attempt` (Bolt maps it to the same header).
        A delivery whose event id we have already taken is acknowledged and dropped; a retry of one we
        never saw (we were down) is answered, since it is the first answer, not a second. Slash
        commands and clicks carry no event id but a `trigger_id`, unique per invocation: with
        replicas sharing one Redis, a command or click delivered to two of them is handled once."""
        event_id = body.get("event_id")
        trigger_id = body.get("trigger_id")
        retry = (request.headers.get("x-slack-retry-num") or [None])[0]
        if event_id and not self.seen.add(f"event:{event_id}"):
            log.info("skipping repeated delivery of event %s (retry %s)", event_id, retry)
            return BoltResponse(status=200, body="")
        if not event_id and trigger_id and not self.seen.add(f"trigger:{trigger_id}"):
            log.info("skipping repeated delivery of %s with trigger %s", body.get("command") or body.get("type"), trigger_id)
            return BoltResponse(status=200, body="")
        if retry:
            log.info("event %s is retry %s of one not seen before; handling it", event_id, retry)
        return next()

    def skip_noise(self, body: dict[str, Any], context: BoltContext, next: Callable[[], BoltResponse]) -> BoltResponse:
        """Edits, deletions, joins and every bot's messages (ours included) are never questions."""
        event = body.get("event") or {}
        if event.get("type") in ("message", "app_mention"):
            own = event.get("user") and event.get("user") == context.bot_user_id
            if event.get("bot_id") or own or event.get("subtype") not in ANSWERABLE_SUBTYPES:
                return BoltResponse(status=200, body="")
        return next()

    # --- events -> questions ---------------------------------------------------------------------

    def on_mention(self, event: dict[str, Any], context: BoltContext, client: WebClient) -> None:
        """@newsbot in a channel: answer in the thread (the event's thread, or a new one under it)."""
        thread_ts = event.get("thread_ts") or event["ts"]
        history = self._thread_history(client, context, event["channel"], event["thread_ts"], event["ts"]) if event.get("thread_ts") else []
        self.answer(self._ask(event, context, thread_ts, history or []), client)

    def on_message(self, event: dict[str, Any], context: BoltContext, client: WebClient) -> None:
        """Direct messages, and replies in threads where we have already answered (no mention needed)."""
        channel, ts = event["channel"], event["ts"]
        is_dm = event.get("channel_type") == "im"
        mentions_us = bool(context.bot_user_id) and f"<@{context.bot_user_id}" in (event.get("text") or "")
        if not is_dm and mentions_us:
            return  # the app_mention event for the same message answers it
        thread_ts = event.get("thread_ts")
        history: list[Turn] | None = []
        if thread_ts and thread_ts != ts:
            if not is_dm and not self._answered_in(channel, thread_ts, event, context):
                return  # someone else's thread: not read, not answered
            history = self._thread_history(client, context, channel, thread_ts, ts)
            if history is None and not is_dm:
                return  # a thread we have not answered in: not talking to us
        elif not is_dm:
            return  # a top-level channel message without a mention
        self.answer(self._ask(event, context, thread_ts or ts, history or []), client)

    def on_command(self, command: dict[str, Any], client: WebClient, respond: Callable[..., Any]) -> None:
        """`/news QUESTION`: the question is posted where everyone sees it (naming who asked), and
        the answer streams into its thread, where follow-ups then work as after a mention."""
        text = " ".join((command.get("text") or "").split())
        if not text:
            respond(text=messages.EMPTY_QUESTION, response_type="ephemeral")
            return
        q = SlackAsk(
            text=slack_to_plain(text), channel=command["channel_id"], user=command["user_id"],
            message_ts=None, thread_ts=None, team=command.get("team_id"),
            is_dm=command.get("channel_name") == "directmessage", respond=respond,
        )
        q.thread_ts = self._post(client, q, question_message(q.user, q.text))
        if q.thread_ts:
            self.answer(q, client)

    def on_thread_started(self, event: dict[str, Any], client: WebClient) -> None:
        """Someone opened a DM with the bot (Slack's agent view): offer a few questions."""
        thread = event.get("assistant_thread") or {}
        if thread.get("channel_id") and thread.get("thread_ts"):
            offer_prompts(client, thread["channel_id"], thread["thread_ts"], self.prompts)

    def on_feedback(self, body: dict[str, Any], client: WebClient) -> None:
        """👍/👎 on an answer: stored and logged, then thanked privately."""
        action = body["actions"][0]
        try:
            value = json.loads(action.get("value") or "{}")
        except ValueError:
            value = {}
        value = value if isinstance(value, dict) else {}
        if action["action_id"] == FEEDBACK_ACTION:  # feedback_buttons: one action_id, the value says which
            vote = "up" if value.get("v") == "up" else "down"
        else:
            vote = "up" if action["action_id"] == FEEDBACK_UP else "down"
        question = str(value.get("q", ""))
        message = body.get("message") or {}
        channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id", "")
        message_ts = message.get("ts") or (body.get("container") or {}).get("message_ts", "")
        thread_ts = message.get("thread_ts") or message_ts
        user = (body.get("user") or {}).get("id", "")
        team = (body.get("team") or {}).get("id") or ""
        self.feedback.record(Feedback(vote, user, team, channel, message_ts, thread_ts, question, message.get("text", "")))
        try:
            kwargs = {"thread_ts": thread_ts} if thread_ts and thread_ts != message_ts else {}
            client.chat_postEphemeral(channel=channel, user=user, text=messages.FEEDBACK_THANKS[vote], **kwargs)
        except SlackApiError as e:
            log.warning("could not thank %s for feedback: %s", user, e.response.get("error"))

    # --- answering --------------------------------------------------------------------------------

    def answer(self, q: SlackAsk, client: WebClient) -> None:
        """React, stream the answer into the thread (natively, or into a placeholder), finish with the
        sources and 👍/👎; never twice."""
        if q.message_ts and not self.seen.add(f"message:{q.channel}:{q.message_ts}"):
            log.info("message %s in %s is already being answered", q.message_ts, q.channel)
            return
        if not q.text:
            self._post(client, q, notice_message(messages.EMPTY_QUESTION))
            return
        if q.message_ts:
            self._react(client, q.channel, q.message_ts)
        if q.thread_ts and not q.is_dm:
            self.threads.add(f"thread:{q.channel}:{q.thread_ts}")
        reply = make_reply(
            client, streaming=self.streaming, channel=q.channel, thread_ts=q.thread_ts,
            post=lambda message: self._post(client, q, message), interval=self.update_interval,
            buffer_size=self.stream_buffer, user=q.user, team=q.team, is_dm=q.is_dm,
        )
        # A placeholder message (update mode) already says we are searching; a native stream shows
        # nothing until its first words, so Slack's status line fills the wait.
        status = StatusLine(client, q.channel, q.thread_ts if self.streaming == "native" else None)
        try:
            if not reply.open():
                return
            status.show(messages.STATUS_SEARCHING)
            if q.is_dm and not q.history and q.thread_ts:
                set_title(client, q.channel, q.thread_ts, q.text)
            as_of = self.dates.today(client, q.user)
            final = None
            with self._slots:
                for piece in self.desk.stream(q.text, history=q.history, as_of=as_of, on_stage=status):
                    if isinstance(piece, Answer):
                        final = piece
                    else:
                        reply.add(piece)
            if final is None:
                raise RuntimeError("the engine's stream ended without an Answer")
            reply.finish(final)
        except EmptyIndexError:
            log.warning("asked %r but the news index is empty", q.text[:100])
            self._fail(reply, q, messages.EMPTY_INDEX)
        except Exception:
            log.exception("answering %r in %s failed", q.text[:100], q.channel)
            self._fail(reply, q, messages.ERROR_APOLOGY)

    def _post(self, client: WebClient, q: SlackAsk, message: dict[str, Any]) -> str | None:
        """Post in the question's thread (or channel); when we may not post there, say so privately."""
        try:
            kwargs = {"thread_ts": q.thread_ts} if q.thread_ts else {}
            resp = client.chat_postMessage(channel=q.channel, **kwargs, **message)
            return str(resp["ts"])
        except SlackApiError as e:
            if e.response.get("error") in _CANT_POST and q.respond is not None:
                log.info("cannot post in %s (%s); answering privately", q.channel, e.response.get("error"))
                q.respond(text=messages.NOT_IN_CHANNEL, response_type="ephemeral")
                return None
            raise

    @staticmethod
    def _fail(reply: Reply, q: SlackAsk, text: str) -> None:
        """One short message where the user is looking: in place of the answer begun, or in the thread."""
        try:
            reply.fail(text)
        except Exception:
            log.exception("could not tell %s in %s that answering failed", q.user, q.channel)

    @staticmethod
    def _react(client: WebClient, channel: str, ts: str) -> None:
        try:
            client.reactions_add(channel=channel, timestamp=ts, name="eyes")
        except SlackApiError as e:
            log.debug("no 👀 on %s: %s", ts, e.response.get("error"))

    def _ask(self, event: dict[str, Any], context: BoltContext, thread_ts: str, history: list[Turn]) -> SlackAsk:
        return SlackAsk(
            text=slack_to_plain(event.get("text") or "", drop_user=context.bot_user_id),
            channel=event["channel"], user=event.get("user", ""), message_ts=event["ts"],
            thread_ts=thread_ts, history=history,
            team=event.get("user_team") or event.get("team") or context.team_id,
            is_dm=event.get("channel_type") == "im",
        )

    def _answered_in(self, channel: str, thread_ts: str, event: dict[str, Any], context: BoltContext) -> bool:
        """A channel thread the bot answered in (remembered for THREAD_MEMORY), or one it started
        (a /news question): only those are read, so every other thread reply costs no API call."""
        started_by_us = bool(context.bot_user_id) and event.get("parent_user_id") == context.bot_user_id
        return started_by_us or f"thread:{channel}:{thread_ts}" in self.threads

    def _thread_history(
        self, client: WebClient, context: BoltContext, channel: str, thread_ts: str, before_ts: str
    ) -> list[Turn] | None:
        """The thread's earlier turns, oldest first; None when we have not answered in it."""
        resp = client.conversations_replies(channel=channel, ts=thread_ts, limit=200)
        turns: list[Turn] = []
        answered = False
        for m in sorted(resp.get("messages") or [], key=lambda m: float(m.get("ts", 0))):
            if float(m.get("ts", 0)) >= float(before_ts):
                break
            ours = (context.bot_user_id and m.get("user") == context.bot_user_id) or (
                context.bot_id and m.get("bot_id") == context.bot_id
            )
            if ours and (question := posted_question(m)) is not None:  # a /news question: the asker's words
                turns.append(Turn("user", slack_to_plain(question)))
            elif ours:
                answered = True
                text = slack_to_plain(m.get("text") or "")
                if text and m.get("text") not in _NOT_ANSWERS:
                    turns.append(Turn("assistant", text))
            elif not m.get("bot_id") and m.get("subtype") in ANSWERABLE_SUBTYPES:
                text = slack_to_plain(m.get("text") or "", drop_user=context.bot_user_id)
                if text:
                    turns.append(Turn("user", text))
        if not answered:
            return None
        merged: list[Turn] = []
        for t in turns:
            if merged and merged[-1].role == t.role:
                merged[-1] = Turn(t.role, merged[-1].text + "\n" + t.text)
            else:
                merged.append(t)
        return merged[-HISTORY_TURNS:]  # all the engine reads


def register_listeners(
    app: App, desk: NewsDesk, feedback: FeedbackRecords, settings: SlackSettings, *, seen: SeenKeys | None = None
) -> Listeners:
    """Everything the bot listens to, in one place. Acks are immediate; the work runs lazily.
    `seen` defaults to `seen_keys(settings)`: in Redis with NEWSBOT_REDIS_URL, else in this process."""
    ls = Listeners(desk, feedback, settings, seen=seen)
    app.middleware(ls.skip_repeats)
    app.middleware(ls.skip_noise)
    app.event("app_mention")(ack=just_ack, lazy=[ls.on_mention])
    app.event("message")(ack=just_ack, lazy=[ls.on_message])
    app.event("assistant_thread_started")(ack=just_ack, lazy=[ls.on_thread_started])
    app.event("assistant_thread_context_changed")(just_ack)  # we answer from the news, not the channel in view
    app.command(SLASH_COMMAND)(ack=just_ack, lazy=[ls.on_command])
    app.action(re.compile(f"^({FEEDBACK_UP}|{FEEDBACK_DOWN}|{FEEDBACK_ACTION})$"))(ack=just_ack, lazy=[ls.on_feedback])
    return ls
