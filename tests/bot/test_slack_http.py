"""The bot end to end over HTTP: signed events into the running app, a fake Slack Web API out,
real answers from a real NewsDesk (real embedder, extractive answers)."""

from __future__ import annotations

import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from bot.slack import messages
from bot.slack.ui import FEEDBACK_ACTION, FEEDBACK_UP
from retrieval import Turn
from tests.bot.conftest import PING_ARTICLE, PINGS, SIGNING_SECRET, HttpBot, mention, serving
from tests.bot.mock_slack_api import BOT_USER_ID, TEAM_ID, MockSlackAPI

pytestmark = pytest.mark.slow

QUESTION = "What did Modi and Putin discuss?"


def answers_in(api: MockSlackAPI, channel: str, thread_ts: str | None) -> list[dict[str, Any]]:
    """The bot's finished answers (they carry 👍/👎: classic buttons, or the feedback_buttons of a
    native stream) in one thread of a channel."""
    return [
        m for m in api.final_messages(channel)
        if m.get("thread_ts") == thread_ts and any(b["type"] in ("actions", "context_actions") for b in m.get("blocks", []))
    ]


def bot_posts(api: MockSlackAPI, channel: str, thread_ts: str | None = None) -> list[Any]:
    """Calls that made a new bot message in a thread: chat.postMessage, or chat.startStream."""
    return [c for c in api.calls_to("chat.postMessage") + api.calls_to("chat.startStream")
            if c.params["channel"] == channel and c.params.get("thread_ts") == thread_ts]


def wait_answered(api: MockSlackAPI, channel: str, thread_ts: str | None, n: int = 1, timeout: float = 60) -> list[dict[str, Any]]:
    api.wait_for(lambda: len(answers_in(api, channel, thread_ts)) >= n, timeout=timeout)
    return answers_in(api, channel, thread_ts)


def wait_idle(bot: HttpBot) -> None:
    """Until the bot has finished every answer (a stopped stream may still be replaced after it first
    shows its feedback buttons)."""
    from bot.slack.app import answer_pool

    bot.api.wait_for(lambda: answer_pool(bot.app).in_flight == 0)


def all_text(block_or_message: Any) -> str:
    return json.dumps(block_or_message, ensure_ascii=False)


def test_mention_is_answered_in_its_thread_with_sources_and_buttons(http_bot: HttpBot) -> None:
    api = http_bot.api
    event = mention(api, QUESTION)
    reply = http_bot.event(event)
    assert reply.status == 200 and reply.seconds < 3

    [answer] = wait_answered(api, "C0NEWS", event["ts"])
    react = api.calls_to("reactions.add")[0].params
    assert (react["channel"], react["timestamp"], react["name"]) == ("C0NEWS", event["ts"], "eyes")
    [stream] = bot_posts(api, "C0NEWS", event["ts"])  # streamed natively: no placeholder
    assert stream.method == "chat.startStream" and not api.calls_to("chat.postMessage")
    assert "Putin" in answer["text"] and answer["text"].strip()  # the plain fallback is always set
    kinds = [b["type"] for b in answer["blocks"]]
    assert kinds[-1] == "context_actions" and "context" in kinds
    sources = [b["elements"][0]["text"] for b in answer["blocks"] if b["type"] == "context"]
    assert any(s.startswith("[1] ") and " · 2021-12-20 · " in s for s in sources), sources
    buttons = answer["blocks"][-1]["elements"][0]
    assert buttons["type"] == "feedback_buttons"
    assert [buttons[k]["text"]["text"] for k in ("positive_button", "negative_button")] == ["👍", "👎"]
    assert json.loads(buttons["positive_button"]["value"])["q"] == QUESTION


def test_direct_message_is_answered_in_a_thread(http_bot: HttpBot) -> None:
    api = http_bot.api
    msg = api.seed("D0ALICE", user="U0ALICE", text=QUESTION)
    http_bot.event({"type": "message", "channel": "D0ALICE", "channel_type": "im", **msg})
    [answer] = wait_answered(api, "D0ALICE", msg["ts"])
    assert "Putin" in answer["text"]


def test_thread_follow_up_without_mention_uses_the_thread_as_history(http_bot: HttpBot, slack_desk: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    api = http_bot.api
    histories: list[list[Turn]] = []
    real_stream = slack_desk.stream

    def recording_stream(question: str, **kw: Any) -> Any:
        histories.append(list(kw.get("history") or []))
        return real_stream(question, **kw)

    monkeypatch.setattr(slack_desk, "stream", recording_stream)
    first = mention(api, QUESTION)
    http_bot.event(first)
    [answer] = wait_answered(api, "C0NEWS", first["ts"])

    follow = api.seed("C0NEWS", user="U0ALICE", text="Did they talk about fertilizers?", thread_ts=first["ts"])
    http_bot.event({"type": "message", "channel": "C0NEWS", "channel_type": "channel", **follow})
    wait_answered(api, "C0NEWS", first["ts"], n=2)

    assert api.calls_to("conversations.replies")[-1].params["ts"] == first["ts"]
    assert histories[0] == []
    assert [t.role for t in histories[1]] == ["user", "assistant"]
    assert histories[1][0].text == QUESTION
    assert "Putin" in histories[1][1].text and "&amp;" not in histories[1][1].text

    # A reply in a thread the bot never answered in is someone else's conversation.
    other = api.seed("C0NEWS", user="U0BOB", text="lunch?")
    reply = api.seed("C0NEWS", user="U0ALICE", text="sure", thread_ts=other["ts"])
    posts_before = len(api.calls_to("chat.postMessage"))
    http_bot.event({"type": "message", "channel": "C0NEWS", "channel_type": "channel", **reply})
    time.sleep(1.0)
    assert len(api.calls_to("chat.postMessage")) == posts_before
    assert len(histories) == 2


def test_slash_command_is_acknowledged_at_once_and_answered_in_the_thread_of_its_question(http_bot: HttpBot) -> None:
    api = http_bot.api
    reply = http_bot.command(
        command="/news", text=QUESTION, channel_id="C0CMD", user_id="U0ALICE", team_id=TEAM_ID,
        response_url=api.url.replace("/api/", "/respond/1"), trigger_id="1.2.3",
    )
    assert reply.status == 200 and reply.seconds < 3
    api.wait_for(lambda: bool(api.final_messages("C0CMD")))
    asked = api.calls_to("chat.postMessage")[0].params  # visible to the channel, not in a thread
    assert "thread_ts" not in asked and asked["text"] == f"<@U0ALICE> asked: {QUESTION}"
    [question] = [m for m in api.final_messages("C0CMD") if "thread_ts" not in m]
    [answer] = wait_answered(api, "C0CMD", question["ts"])
    assert "Putin" in answer["text"]
    assert not api.calls_to("reactions.add")

    http_bot.command(command="/news", text="  ", channel_id="C0CMD", user_id="U0ALICE",
                     response_url=api.url.replace("/api/", "/respond/2"))
    api.wait_for(lambda: bool(api.calls_to("respond/2")))
    assert api.calls_to("respond/2")[0].params["text"] == messages.EMPTY_QUESTION


@pytest.mark.parametrize("streaming, vote", [("native", "up"), ("native", "down"), ("update", "up")])
def test_feedback_click_is_recorded_logged_and_acknowledged(
    slack_api: MockSlackAPI, slack_desk: Any, tmp_path: Any, caplog: pytest.LogCaptureFixture, streaming: str, vote: str
) -> None:
    """Native streams carry one `feedback_buttons` element (its value says which button); the
    chat.update way carries two classic buttons (their action_ids say which)."""
    api = slack_api
    with serving(slack_desk, api, tmp_path / "fb.sqlite3", streaming=streaming) as http_bot:
        event = mention(api, QUESTION)
        http_bot.event(event)
        [answer] = wait_answered(api, "C0NEWS", event["ts"])
        block = answer["blocks"][-1]
        if streaming == "native":
            element = block["elements"][0]
            clicked = {"type": "feedback_buttons", "action_id": element["action_id"],
                       "value": element["positive_button" if vote == "up" else "negative_button"]["value"]}
            assert element["action_id"] == FEEDBACK_ACTION
        else:
            button = block["elements"][0]
            clicked = {"type": "button", "action_id": button["action_id"], "value": button["value"]}
            assert button["action_id"] == FEEDBACK_UP
        payload = {
            "type": "block_actions", "team": {"id": TEAM_ID}, "user": {"id": "U0BOB"},
            "api_app_id": "A0NEWSBOT", "container": {"type": "message", "message_ts": answer["ts"], "channel_id": "C0NEWS"},
            "channel": {"id": "C0NEWS"}, "message": answer, "trigger_id": "1.2.3",
            "actions": [{**clicked, "block_id": block["block_id"], "action_ts": str(time.time())}],
        }
        with caplog.at_level(logging.INFO, logger="bot.slack.feedback"):
            reply = http_bot.action(payload)
            assert reply.status == 200 and reply.seconds < 3
            api.wait_for(lambda: bool(api.calls_to("chat.postEphemeral")))
        [fb] = http_bot.feedback.all()
    assert (fb.vote, fb.user, fb.channel, fb.message_ts, fb.thread_ts, fb.question) == (
        vote, "U0BOB", "C0NEWS", answer["ts"], event["ts"], QUESTION)
    assert "Putin" in fb.answer
    assert any(f"feedback {vote} from U0BOB" in r.getMessage() for r in caplog.records)
    thanks = api.calls_to("chat.postEphemeral")[0].params
    assert thanks["user"] == "U0BOB" and thanks["text"] == messages.FEEDBACK_THANKS[vote]


def test_http_retries_and_repeated_event_ids_answer_once(http_bot: HttpBot) -> None:
    api = http_bot.api
    event = mention(api, QUESTION)
    assert http_bot.event(event, event_id="Ev0RETRY").status == 200
    for n in (1, 2):
        retry = http_bot.event(event, event_id="Ev0RETRY", headers={"X-Slack-Retry-Num": str(n), "X-Slack-Retry-Reason": "http_timeout"})
        assert retry.status == 200
    assert http_bot.event(event, event_id="Ev0RETRY").status == 200  # repeated event_id, no header
    wait_answered(api, "C0NEWS", event["ts"])
    time.sleep(1.5)
    assert len(bot_posts(api, "C0NEWS", event["ts"])) == 1
    assert len(answers_in(api, "C0NEWS", event["ts"])) == 1
    assert len(api.calls_to("reactions.add")) == 1


@pytest.mark.parametrize(
    "case", ["wrong secret", "no signature", "stale timestamp", "future timestamp"],
)
def test_forged_and_stale_requests_are_rejected_with_401(http_bot: HttpBot, case: str) -> None:
    api = http_bot.api
    event = mention(api, QUESTION)
    kw: dict[str, Any] = {
        "wrong secret": {"secret": "not-the-secret"},
        "no signature": {"sign": False},
        "stale timestamp": {"timestamp": int(time.time()) - 6 * 60},
        "future timestamp": {"timestamp": int(time.time()) + 6 * 60},
    }[case]
    assert http_bot.event(event, **kw).status == 401
    tampered = http_bot.post('{"type": "event_callback"}', "application/json",
                             headers={"X-Slack-Signature": "v0=" + "0" * 64})
    assert tampered.status == 401
    time.sleep(0.5)
    assert [c.method for c in api.calls] == ["auth.test"]


def test_bot_messages_edits_and_joins_are_ignored(http_bot: HttpBot) -> None:
    api = http_bot.api
    base = {"type": "message", "channel": "D0ALICE", "channel_type": "im", "text": QUESTION}
    events = [
        {**base, "ts": api.new_ts(), "user": BOT_USER_ID},  # our own message
        {**base, "ts": api.new_ts(), "subtype": "bot_message", "bot_id": "B0OTHER", "username": "otherbot"},
        {**base, "ts": api.new_ts(), "user": "U0OTHERBOT", "bot_id": "B0OTHER"},
        {**base, "ts": api.new_ts(), "subtype": "message_changed",
         "message": {"type": "message", "user": "U0ALICE", "text": QUESTION, "ts": api.new_ts()}},
        {**base, "ts": api.new_ts(), "subtype": "message_deleted"},
        {**base, "ts": api.new_ts(), "user": "U0ALICE", "subtype": "channel_join", "text": "<@U0ALICE> has joined"},
        {"type": "app_mention", "channel": "C0NEWS", "ts": api.new_ts(), "bot_id": "B0OTHER",
         "user": "U0OTHERBOT", "text": f"<@{BOT_USER_ID}> {QUESTION}"},
        {"type": "message", "channel": "C0NEWS", "channel_type": "channel", "ts": api.new_ts(),
         "user": "U0ALICE", "text": QUESTION},  # a channel message not addressed to the bot
    ]
    for e in events:
        assert http_bot.event(e).status == 200
    time.sleep(2.0)
    assert not api.calls_to("chat.postMessage")
    assert not api.calls_to("reactions.add")


def test_pings_in_articles_never_reach_slack_unescaped(http_bot: HttpBot) -> None:
    api = http_bot.api
    event = mention(api, "How many visitors came to the Lakeside lantern festival?")
    http_bot.event(event)
    wait_answered(api, "C0NEWS", event["ts"])
    wait_idle(http_bot)
    [answer] = wait_answered(api, "C0NEWS", event["ts"])
    assert "lantern" in answer["text"].lower()
    escaped = [ping.replace("<", "&lt;").replace(">", "&gt;") for ping in PINGS]
    assert any(e in all_text(answer) for e in escaped)  # the article's text is there (whichever sentence), escaped
    assert PING_ARTICLE["url"] in all_text(answer)
    sent = [c for c in api.calls if c.method.startswith("chat.")]
    assert {c.method for c in sent} >= {"chat.startStream", "chat.stopStream"}
    for call in sent:
        for ping in PINGS:
            assert ping not in all_text(call.params), (ping, call.params)


def test_questions_cannot_ping_either(http_bot: HttpBot) -> None:
    api = http_bot.api
    http_bot.command(command="/news", text="<!channel> what did Modi and Putin discuss? <@U0ADMIN>",
                     channel_id="C0CMD", user_id="U0ALICE", response_url=api.url.replace("/api/", "/respond/1"))
    api.wait_for(lambda: bool(api.final_messages("C0CMD")))
    question = api.final_messages("C0CMD")[0]
    wait_answered(api, "C0CMD", question["ts"])
    wait_idle(http_bot)
    for call in [c for c in api.calls if c.method.startswith(("chat.", "assistant."))]:
        assert "<!channel>" not in all_text(call.params) and "<@U0ADMIN>" not in all_text(call.params)
    assert question["text"].startswith("<@U0ALICE> asked")  # the one mention we write ourselves


def test_a_dozen_mentions_at_once_are_all_answered_once(http_bot: HttpBot) -> None:
    """More than the answer slots (2) and fewer than the worker threads (16): all acked at once, all
    answered, each once. (The 50-mention, two-replica version is benchmarks/slack_replicas.py.)"""
    api = http_bot.api
    events = [mention(api, f"{QUESTION} ({i})", channel="C0BUSY", user=f"U0USER{i:02d}") for i in range(12)]
    with ThreadPoolExecutor(max_workers=12) as pool:
        replies = list(pool.map(http_bot.event, events))
    assert all(r.status == 200 for r in replies)
    assert max(r.seconds for r in replies) < 3, [round(r.seconds, 2) for r in replies]
    api.wait_for(lambda: sum(len(answers_in(api, "C0BUSY", e["ts"])) for e in events) >= 12, timeout=120)
    time.sleep(1.0)
    for e in events:
        assert len(bot_posts(api, "C0BUSY", e["ts"])) == 1, e["ts"]
        [answer] = answers_in(api, "C0BUSY", e["ts"])
        assert "Putin" in answer["text"]


def test_rate_limited_api_calls_are_retried_after_retry_after(http_bot: HttpBot) -> None:
    api = http_bot.api
    api.fail_next("chat.startStream", 429, retry_after=1)
    event = mention(api, QUESTION)
    http_bot.event(event)
    [answer] = wait_answered(api, "C0NEWS", event["ts"])
    first, second = api.calls_to("chat.startStream")[:2]
    assert first.params == second.params and second.at - first.at >= 1.0
    assert "Putin" in answer["text"]


def test_update_mode_edits_the_placeholder_at_most_about_once_a_second(slack_api: MockSlackAPI, slack_desk: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """NEWSBOT_SLACK_STREAMING=update: the real answer, handed out word by word over ~3 s, as a
    generating LLM would. (Native streaming's cadence: tests/bot/test_slack_streaming.py.)"""
    api = slack_api
    real_stream = slack_desk.stream

    def slow_stream(question: str, **kw: Any) -> Any:
        for item in real_stream(question, **kw):
            if isinstance(item, str):
                for word in item.split(" ")[:30]:
                    time.sleep(0.1)
                    yield word + " "
            else:
                yield item

    monkeypatch.setattr(slack_desk, "stream", slow_stream)
    with serving(slack_desk, api, tmp_path / "fb.sqlite3", streaming="update") as http_bot:
        event = mention(api, QUESTION)
        http_bot.event(event)
        [answer] = wait_answered(api, "C0NEWS", event["ts"])
    updates = [c for c in api.calls_to("chat.update") if c.params["ts"] == answer["ts"]]
    assert len(updates) >= 3  # at least two partial edits, then the final message
    partial = updates[:-1]
    assert all(u.params["text"].endswith(messages.STREAMING_SUFFIX) for u in partial)
    gaps = [b.at - a.at for a, b in zip(partial, partial[1:])]
    assert all(g >= 0.9 for g in gaps), gaps
    assert any(b["type"] == "actions" for b in updates[-1].params["blocks"])


def test_errors_become_one_short_apology_and_are_logged(http_bot: HttpBot, slack_desk: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    api = http_bot.api

    def broken(question: str, **kw: Any) -> Any:
        raise RuntimeError("index exploded at /secret/path")

    monkeypatch.setattr(slack_desk, "stream", broken)
    event = mention(api, QUESTION)
    with caplog.at_level(logging.ERROR, logger="bot.slack.listeners"):
        http_bot.event(event)
        api.wait_for(lambda: any(m.get("text") == messages.ERROR_APOLOGY for m in api.final_messages("C0NEWS")))
    [message] = [m for m in api.final_messages("C0NEWS") if m.get("thread_ts") == event["ts"]]
    assert message["text"] == messages.ERROR_APOLOGY
    assert "exploded" not in all_text([c.params for c in api.calls])
    [record] = [r for r in caplog.records if r.exc_info]
    assert "index exploded" in str(record.exc_info[1])


def test_an_empty_index_is_explained_not_crashed(slack_api: MockSlackAPI, make_desk: Any, tmp_path: Any) -> None:
    from bot.slack.app import build_app
    from bot.slack.feedback import FeedbackStore
    from bot.slack.listeners import Listeners, SlackAsk
    from bot.slack.settings import SlackSettings

    settings = SlackSettings(bot_token="xoxb-test", signing_secret=SIGNING_SECRET, api_url=slack_api.url)
    app = build_app(make_desk(llm="extractive"), settings)
    listeners = Listeners(make_desk(llm="extractive"), FeedbackStore(tmp_path / "fb.sqlite3"))
    listeners.answer(SlackAsk(QUESTION, "C0NEWS", "U0ALICE", slack_api.new_ts(), None), app.client)
    [message] = slack_api.final_messages("C0NEWS")
    assert message["text"] == messages.EMPTY_INDEX
