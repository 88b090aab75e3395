"""Slack's agent experience, end to end over HTTP against the fake Web API: suggested prompts when a
DM opens, the status line while answering, the DM thread's title, follow-ups in DMs and in /news
threads, replies only where people look, the asker's own date, and Block Kit that slack_sdk's
models accept."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from slack_sdk.models.blocks import Block

from bot.slack import messages
from retrieval import Turn
from tests.bot.conftest import HttpBot, mention, serving
from tests.bot.mock_slack_api import BOT_USER_ID, TEAM_ID, MockSlackAPI
from tests.bot.test_slack_http import QUESTION, wait_answered, wait_idle

pytestmark = pytest.mark.slow

AGENT = ("assistant.threads.setStatus", "assistant.threads.setTitle", "assistant.threads.setSuggestedPrompts")
STREAM = ("chat.startStream", "chat.appendStream", "chat.stopStream", "chat.update", "chat.postMessage")


@pytest.fixture
def bot(slack_api: MockSlackAPI, slack_desk: Any, tmp_path: Path) -> Iterator[HttpBot]:
    with serving(slack_desk, slack_api, tmp_path / "feedback.sqlite3",
                 prompts=("What's new today?", "Who won the election?")) as b:
        yield b


@pytest.fixture
def questions_seen(slack_desk: Any, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """What each answer asked the engine: the question, its history and its as_of."""
    seen: list[dict[str, Any]] = []
    real_stream = slack_desk.stream

    def recording(question: str, **kw: Any) -> Any:
        seen.append({"question": question, **kw})
        return real_stream(question, **kw)

    monkeypatch.setattr(slack_desk, "stream", recording)
    return seen


def dm(api: MockSlackAPI, text: str, thread_ts: str, channel: str = "D0ALICE") -> dict[str, Any]:
    """A message in a DM's agent thread, as Slack delivers it (message.im)."""
    msg = api.seed(channel, user="U0ALICE", text=text, thread_ts=thread_ts)
    return {"type": "message", "channel": channel, "channel_type": "im", **msg}


def assert_valid_block_kit(blocks: list[dict[str, Any]]) -> None:
    """slack_sdk's models validate on build: each block parses to a model that gives it back."""
    for block in blocks:
        model = Block.parse(block)
        assert model is not None, block
        assert model.to_dict() == block


def test_opening_a_dm_offers_suggested_prompts(bot: HttpBot) -> None:
    api = bot.api
    started = {"type": "assistant_thread_started", "event_ts": "1700000000.000100",
               "assistant_thread": {"user_id": "U0ALICE", "channel_id": "D0ALICE", "thread_ts": "1700000000.000001",
                                    "context": {"channel_id": "C0NEWS", "team_id": TEAM_ID}}}
    assert bot.event(started).status == 200
    api.wait_for(lambda: bool(api.calls_to("assistant.threads.setSuggestedPrompts")))
    params = api.calls_to("assistant.threads.setSuggestedPrompts")[0].params
    assert (params["channel_id"], params["thread_ts"]) == ("D0ALICE", "1700000000.000001")
    assert params["title"] == messages.PROMPTS_TITLE
    assert params["prompts"] == [{"title": "What's new today?", "message": "What's new today?"},
                                 {"title": "Who won the election?", "message": "Who won the election?"}]
    context_changed = {"type": "assistant_thread_context_changed", "assistant_thread": started["assistant_thread"]}
    assert bot.event(context_changed).status == 200  # acknowledged, nothing to do


def test_a_dm_shows_its_status_gets_a_title_streams_and_follows_up(bot: HttpBot, questions_seen: list[dict[str, Any]]) -> None:
    api = bot.api
    thread = "1700000000.000001"  # the agent thread Slack opened
    first = dm(api, QUESTION, thread)
    bot.event(first)
    [answer] = wait_answered(api, "D0ALICE", thread)
    wait_idle(bot)
    calls = [c for c in api.calls if c.method in AGENT + STREAM]
    statuses = [c.params["status"] for c in calls if c.method == "assistant.threads.setStatus"]
    assert statuses[0] == messages.STATUS_SEARCHING and statuses[-1] == messages.STATUS_WRITING
    assert len(statuses) == 3 and re.fullmatch(r"Reading \d articles?…", statuses[1]), statuses
    assert all(c.params["thread_ts"] == thread and c.params["channel_id"] == "D0ALICE" for c in calls if c.method in AGENT)
    [title] = [c.params for c in calls if c.method == "assistant.threads.setTitle"]
    assert title["title"] == QUESTION
    methods = [c.method for c in calls]
    # Status first, the stream after it (posting in the thread is what clears the status line)
    assert methods.index("chat.startStream") > max(i for i, m in enumerate(methods) if m == "assistant.threads.setStatus")
    assert [m for m in methods if m.startswith("chat.")][:1] == ["chat.startStream"]
    assert "chat.stopStream" in methods and "Putin" in answer["text"]
    start = api.calls_to("chat.startStream")[0].params
    assert start["thread_ts"] == thread and "recipient_user_id" not in start  # a DM names no recipient
    stop = api.calls_to("chat.stopStream")[0].params
    assert stop["blocks"][-1]["type"] == "context_actions"
    assert_valid_block_kit(stop["blocks"])

    follow_up = dm(api, "What else did they talk about?", thread)
    bot.event(follow_up)
    wait_answered(api, "D0ALICE", thread, n=2)
    wait_idle(bot)
    assert [t.role for t in questions_seen[1]["history"]] == ["user", "assistant"]
    assert questions_seen[1]["history"][0].text == QUESTION
    assert len(api.calls_to("assistant.threads.setTitle")) == 1  # the thread keeps its first title


def test_slash_news_posts_the_question_and_its_thread_takes_follow_ups(bot: HttpBot, questions_seen: list[dict[str, Any]]) -> None:
    api = bot.api
    bot.command(command="/news", text=QUESTION, channel_id="C0CMD", user_id="U0ALICE", team_id=TEAM_ID,
                channel_name="newsroom", response_url=api.url.replace("/api/", "/respond/1"), trigger_id="1.2.3")
    api.wait_for(lambda: bool(api.final_messages("C0CMD")))
    question = api.final_messages("C0CMD")[0]
    assert "thread_ts" not in question and question["text"] == f"<@U0ALICE> asked: {QUESTION}"
    assert_valid_block_kit(question["blocks"])
    wait_answered(api, "C0CMD", question["ts"])
    wait_idle(bot)
    statuses = [c.params for c in api.calls_to("assistant.threads.setStatus")]
    assert statuses and all(s["thread_ts"] == question["ts"] for s in statuses)  # in channel threads too
    assert not api.calls_to("assistant.threads.setTitle")  # titles are for DM threads

    reply = api.seed("C0CMD", user="U0BOB", text="And what about the S-500?", thread_ts=question["ts"])
    bot.event({"type": "message", "channel": "C0CMD", "channel_type": "channel", **reply})
    wait_answered(api, "C0CMD", question["ts"], n=2)
    wait_idle(bot)
    history = questions_seen[1]["history"]
    assert history[0] == Turn("user", QUESTION)  # the posted question reads as the asker's, not ours
    assert [t.role for t in history] == ["user", "assistant"]


def test_in_channels_only_mentions_and_threads_it_answered_get_replies(bot: HttpBot) -> None:
    api = bot.api
    top = api.seed("C0QUIET", user="U0ALICE", text=QUESTION)
    bot.event({"type": "message", "channel": "C0QUIET", "channel_type": "channel", **top})
    elsewhere = api.seed("C0QUIET", user="U0BOB", text=QUESTION, thread_ts=top["ts"])
    bot.event({"type": "message", "channel": "C0QUIET", "channel_type": "channel", **elsewhere})
    time.sleep(1.0)
    wait_idle(bot)
    # not answered, and not even read: a thread the bot never answered in costs no API call (issue #14)
    assert not [c for c in api.calls if c.method in AGENT + STREAM + ("reactions.add", "conversations.replies")]

    asked = mention(api, QUESTION, channel="C0QUIET", thread_ts=top["ts"])  # a mention in that thread
    bot.event(asked)
    assert wait_answered(api, "C0QUIET", top["ts"])


def test_as_of_is_the_askers_own_date_from_their_time_zone(bot: HttpBot, questions_seen: list[dict[str, Any]]) -> None:
    """UTC+14 and UTC-11 are 25 hours apart: at any moment their dates differ."""
    api = bot.api
    api.users = {"U0EAST": {"tz": "Pacific/Kiritimati"}, "U0WEST": {"tz": "Pacific/Pago_Pago"}}
    events = [mention(api, QUESTION, channel="C0TZ", user=user) for user in ("U0EAST", "U0WEST", "U0EAST", "U0NOTZ")]
    for event in events:
        bot.event(event)
        wait_answered(api, "C0TZ", event["ts"])
    wait_idle(bot)
    today = {tz: {dt.datetime.now(ZoneInfo(tz)).date() + dt.timedelta(days=d) for d in (-1, 0)}
             for tz in ("Pacific/Kiritimati", "Pacific/Pago_Pago")}
    by_user = {e["user"]: s["as_of"] for e, s in zip(events, questions_seen)}
    assert by_user["U0EAST"] in today["Pacific/Kiritimati"] and by_user["U0WEST"] in today["Pacific/Pago_Pago"]
    assert by_user["U0EAST"] != by_user["U0WEST"]
    assert by_user["U0NOTZ"] == dt.date.today()  # no time zone known: the server's date
    asked = sorted(c.params["user"] for c in api.calls_to("users.info"))
    assert asked == ["U0EAST", "U0NOTZ", "U0WEST"]  # one look-up each: cached


def test_a_reply_in_a_thread_it_started_is_read_even_when_it_does_not_remember_it(bot: HttpBot) -> None:
    """A /news thread from before a restart: Slack names the thread's starter (parent_user_id)."""
    from bot.slack.ui import question_message

    api = bot.api
    parent = api.seed("C0OLD", user=BOT_USER_ID, bot_id="BBOT", **question_message("U0ALICE", QUESTION))
    api.seed("C0OLD", user=BOT_USER_ID, bot_id="BBOT", text="Modi and Putin discussed fertilizers [1].",
             thread_ts=parent["ts"])
    reply = api.seed("C0OLD", user="U0BOB", text="And the S-500?", thread_ts=parent["ts"], parent_user_id=BOT_USER_ID)
    bot.event({"type": "message", "channel": "C0OLD", "channel_type": "channel", **reply})
    assert wait_answered(api, "C0OLD", parent["ts"])
