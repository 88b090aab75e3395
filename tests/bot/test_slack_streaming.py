"""Native streaming end to end: signed events into the running app, chat.startStream /
chat.appendStream / chat.stopStream on the fake Slack Web API, and the chat.update fallbacks
(stream ended by Slack, streaming refused, NEWSBOT_SLACK_STREAMING=update)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.slack import messages
from bot.slack.settings import SlackSettings
from bot.slack.mrkdwn import to_mrkdwn
from bot.slack.ui import FEEDBACK_ACTION, FEEDBACK_BLOCK_ID, source_mrkdwn, stream_markdown
from retrieval import Answer
from tests.bot.conftest import HttpBot, mention, serving
from tests.bot.mock_slack_api import BOT_USER_ID, TEAM_ID, MockSlackAPI
from tests.bot.test_slack_http import QUESTION, all_text, wait_answered

pytestmark = pytest.mark.slow

CHAT = ("chat.postMessage", "chat.update", "chat.startStream", "chat.appendStream", "chat.stopStream")


@pytest.fixture
def real_answer(slack_desk: Any) -> Answer:
    *_, final = slack_desk.stream(QUESTION)
    assert isinstance(final, Answer) and "Putin" in final.text
    return final


def word_by_word(answer: Answer, seconds: float = 0.1, on_first: Any = None) -> Any:
    """A stand-in for desk.stream: the checked answer's own text, a word every `seconds`, as a
    generating LLM would hand it out; then the Answer."""

    def stream(question: str, **kw: Any) -> Iterator[Any]:
        words = answer.text.split(" ")
        for i, word in enumerate(words):
            yield word + (" " if i < len(words) - 1 else "")
            if i == 0 and on_first:
                on_first()
            time.sleep(seconds)
        yield answer

    return stream


def settled(bot: HttpBot, channel: str, thread_ts: str | None) -> dict[str, Any]:
    """The answer once the bot is done with it: a stopped stream can still be replaced (chat.update)
    after it first shows its feedback buttons."""
    from bot.slack.app import answer_pool

    wait_answered(bot.api, channel, thread_ts)
    bot.api.wait_for(lambda: answer_pool(bot.app).in_flight == 0)
    [answer] = wait_answered(bot.api, channel, thread_ts)
    return answer


def chat_calls(api: MockSlackAPI) -> list[Any]:
    return [c for c in api.calls if c.method in CHAT]


def streamed_text(api: MockSlackAPI) -> str:
    """The markdown sent with startStream / appendStream / stopStream, in order."""
    out = ""
    for c in chat_calls(api):
        if c.method in ("chat.startStream", "chat.appendStream", "chat.stopStream"):
            out += c.params.get("markdown_text") or ""
            out += "".join(ch["text"] for ch in c.params.get("chunks") or [] if ch["type"] == "markdown_text")
    return out


def assert_final_stream_blocks(blocks: list[dict[str, Any]], answer: Answer) -> None:
    """Under the streamed text: a context line per cited source, then 👍/👎 feedback_buttons."""
    *sources, feedback = blocks
    assert [b["type"] for b in sources] == ["context"] * len(answer.citations)
    assert [b["elements"][0]["text"] for b in sources] == [source_mrkdwn(c) for c in answer.citations]
    assert feedback["type"] == "context_actions" and feedback["block_id"] == FEEDBACK_BLOCK_ID
    [element] = feedback["elements"]
    assert (element["type"], element["action_id"]) == ("feedback_buttons", FEEDBACK_ACTION)
    assert json.loads(element["positive_button"]["value"]) == {"v": "up", "q": QUESTION}
    assert json.loads(element["negative_button"]["value"]) == {"v": "down", "q": QUESTION}
    assert [element[k]["text"]["text"] for k in ("positive_button", "negative_button")] == ["👍", "👎"]


@pytest.fixture
def bot(slack_api: MockSlackAPI, slack_desk: Any, tmp_path: Path) -> Iterator[HttpBot]:
    with serving(slack_desk, slack_api, tmp_path / "feedback.sqlite3") as b:
        yield b


def test_a_mention_streams_natively_into_its_thread(slack_api: MockSlackAPI, slack_desk: Any, real_answer: Answer,
                                                    tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Words every 0.05 s; sends at most every 0.5 s (a buffer too big to fill: time decides here)."""
    api = slack_api
    monkeypatch.setattr(slack_desk, "stream", word_by_word(real_answer, seconds=0.05))
    with serving(slack_desk, api, tmp_path / "fb.sqlite3", update_interval=0.5, stream_buffer=100_000) as bot:
        event = mention(api, QUESTION)
        started = time.monotonic()
        bot.event(event)
        answer = settled(bot, "C0NEWS", event["ts"])
        seconds = time.monotonic() - started

    calls = chat_calls(api)
    methods = [c.method for c in calls]
    assert methods[0] == "chat.startStream" and methods[-1] == "chat.stopStream", methods
    assert set(methods[1:-1]) == {"chat.appendStream"}, methods  # no placeholder, no chat.update
    start, *appends, stop = calls
    assert (start.params["channel"], start.params["thread_ts"]) == ("C0NEWS", event["ts"])
    assert (start.params["recipient_user_id"], start.params["recipient_team_id"]) == ("U0ALICE", TEAM_ID)
    assert all(c.params["channel"] == "C0NEWS" and c.params["ts"] == answer["ts"] for c in appends + [stop])
    # sent about twice a second, not a call per word
    assert 2 <= len(appends) <= seconds / 0.5 + 1, (len(appends), seconds)
    gaps = [b.at - a.at for a, b in zip([start, *appends], appends)]
    assert all(g >= 0.45 for g in gaps), gaps
    assert streamed_text(api) == stream_markdown(real_answer.text)
    assert_final_stream_blocks(stop.params["blocks"], real_answer)
    # what the user sees: the checked answer's text and, under it, sources and feedback
    assert answer["text"] == stream_markdown(real_answer.text) and answer["blocks"] == stop.params["blocks"]
    assert answer["user"] == BOT_USER_ID and not api.calls_to("chat.postMessage")


def test_the_stream_buffer_sends_long_text_sooner(slack_api: MockSlackAPI, slack_desk: Any, real_answer: Answer,
                                                  tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """slack_sdk's ChatStream holds `buffer_size` characters; past that it sends, whatever the time."""
    monkeypatch.setattr(slack_desk, "stream", word_by_word(real_answer, seconds=0.0))
    with serving(slack_desk, slack_api, tmp_path / "fb.sqlite3", update_interval=60, stream_buffer=200) as bot:
        event = mention(slack_api, QUESTION)
        bot.event(event)
        settled(bot, "C0NEWS", event["ts"])
    appends = slack_api.calls_to("chat.appendStream")
    assert len(appends) >= len(real_answer.text) // 300, len(appends)
    assert all(200 <= sum(len(ch["text"]) for ch in c.params["chunks"]) < 260 for c in appends)
    assert streamed_text(slack_api) == stream_markdown(real_answer.text)


def test_a_direct_message_streams_natively_without_recipient_ids(bot: HttpBot, real_answer: Answer) -> None:
    api = bot.api
    msg = api.seed("D0ALICE", user="U0ALICE", text=QUESTION)
    bot.event({"type": "message", "channel": "D0ALICE", "channel_type": "im", **msg})
    answer = settled(bot, "D0ALICE", msg["ts"])

    methods = [c.method for c in chat_calls(api)]
    assert methods[0] == "chat.startStream" and "chat.stopStream" in methods and "chat.postMessage" not in methods
    start = api.calls_to("chat.startStream")[0].params
    assert (start["channel"], start["thread_ts"]) == ("D0ALICE", msg["ts"])
    assert "recipient_user_id" not in start and "recipient_team_id" not in start
    [stop] = api.calls_to("chat.stopStream")
    assert stop.params["ts"] == answer["ts"]
    assert_final_stream_blocks(stop.params["blocks"], real_answer)
    if streamed_text(api) == stream_markdown(real_answer.text):  # streamed text + what the stop added
        assert methods[-1] == "chat.stopStream"
    else:  # citation checking changed the text: the checked answer replaced it, feedback kept
        assert methods[-1] == "chat.update"
    assert "Putin" in answer["text"] and answer["blocks"][-1]["type"] == "context_actions"


def test_the_checked_answer_replaces_a_stream_that_differs(bot: HttpBot, slack_desk: Any, real_answer: Answer,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Citation checking can drop or change what the LLM streamed: the user ends up with the Answer."""
    api = bot.api

    def unchecked(question: str, **kw: Any) -> Iterator[Any]:
        yield "Modi and Putin met [7] on Mars. "
        yield real_answer

    monkeypatch.setattr(slack_desk, "stream", unchecked)
    event = mention(api, QUESTION)
    bot.event(event)
    answer = settled(bot, "C0NEWS", event["ts"])
    methods = [c.method for c in chat_calls(api)]
    assert methods == ["chat.startStream", "chat.stopStream", "chat.update"], methods
    update = api.calls_to("chat.update")[0].params
    assert update["ts"] == answer["ts"] and update["blocks"] == answer["blocks"]
    assert "Mars" not in all_text(answer)
    urls = {c.n: c.url for c in real_answer.citations}
    assert answer["blocks"][0]["type"] == "section"
    assert answer["text"].startswith(to_mrkdwn(real_answer.text.strip(), urls)[:100])
    assert answer["blocks"][-1]["type"] == "context_actions"


def test_what_the_checked_answer_adds_at_the_end_goes_with_the_stop(bot: HttpBot, slack_desk: Any, real_answer: Answer,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    api = bot.api
    cut = len(real_answer.text) // 2
    cut = real_answer.text.index(" ", cut) + 1

    def shorter(question: str, **kw: Any) -> Iterator[Any]:
        yield real_answer.text[:cut]
        yield real_answer

    monkeypatch.setattr(slack_desk, "stream", shorter)
    event = mention(api, QUESTION)
    bot.event(event)
    answer = settled(bot, "C0NEWS", event["ts"])
    assert [c.method for c in chat_calls(api)] == ["chat.startStream", "chat.stopStream"]
    stop = api.calls_to("chat.stopStream")[0].params
    assert stop["chunks"][0]["text"] == stream_markdown(real_answer.text[cut:])
    assert answer["text"] == stream_markdown(real_answer.text)


def test_a_stream_slack_ended_is_finished_with_chat_update(bot: HttpBot, slack_desk: Any, real_answer: Answer,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    api = bot.api
    monkeypatch.setattr(slack_desk, "stream", word_by_word(real_answer, on_first=api.end_streams_early))
    event = mention(api, QUESTION)
    bot.event(event)
    answer = settled(bot, "C0NEWS", event["ts"])

    methods = [c.method for c in chat_calls(api)]
    assert methods[:2] == ["chat.startStream", "chat.appendStream"], methods  # the append Slack refused…
    assert set(methods[2:]) == {"chat.update"} and len(methods) >= 4, methods  # …then edits, then the answer
    stream_ts = answer["ts"]
    assert all(c.params["ts"] == stream_ts for c in api.calls_to("chat.update"))
    *partial, last = api.calls_to("chat.update")
    assert all(u.params["text"].endswith(messages.STREAMING_SUFFIX) for u in partial)
    # the full checked answer, as Block Kit, with sources and the classic buttons
    urls = {c.n: c.url for c in real_answer.citations}
    assert answer["text"].startswith(to_mrkdwn(real_answer.text.strip(), urls)[:100])
    assert answer["blocks"] == last.params["blocks"] and answer["blocks"][-1]["type"] == "actions"
    assert [m["ts"] for m in api.final_messages("C0NEWS") if m.get("thread_ts") == event["ts"]] == [stream_ts]


def test_a_stream_refused_at_start_is_answered_the_chat_update_way(bot: HttpBot) -> None:
    api = bot.api
    api.refuse_streaming("not_allowed")
    event = mention(api, QUESTION)
    bot.event(event)
    answer = settled(bot, "C0NEWS", event["ts"])
    methods = [c.method for c in chat_calls(api)]
    assert methods[0] == "chat.startStream" and methods[1] == "chat.postMessage", methods
    assert set(methods[2:]) <= {"chat.update"} and "chat.appendStream" not in methods
    assert "Putin" in answer["text"] and answer["blocks"][-1]["type"] == "actions"
    assert len([m for m in api.final_messages("C0NEWS") if m.get("thread_ts") == event["ts"]]) == 1


def test_an_error_mid_stream_stops_it_and_apologises_in_place(bot: HttpBot, slack_desk: Any,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    api = bot.api

    def breaks(question: str, **kw: Any) -> Iterator[Any]:
        yield "Modi and Putin "
        time.sleep(0.2)
        raise RuntimeError("the LLM fell over")

    monkeypatch.setattr(slack_desk, "stream", breaks)
    event = mention(api, QUESTION)
    bot.event(event)
    api.wait_for(lambda: any(m.get("text") == messages.ERROR_APOLOGY for m in api.final_messages("C0NEWS")))
    assert [c.method for c in chat_calls(api)] == ["chat.startStream", "chat.stopStream", "chat.update"]
    [message] = [m for m in api.final_messages("C0NEWS") if m.get("thread_ts") == event["ts"]]
    assert message["text"] == messages.ERROR_APOLOGY and not message.get("streaming")


def test_update_mode_keeps_the_placeholder_and_chat_update(slack_api: MockSlackAPI, slack_desk: Any, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSBOT_SLACK_STREAMING", "update")
    assert SlackSettings.from_env().streaming == "update"
    with serving(slack_desk, slack_api, tmp_path / "fb.sqlite3", streaming="update") as bot:
        event = mention(slack_api, QUESTION)
        bot.event(event)
        answer = settled(bot, "C0NEWS", event["ts"])
    methods = [c.method for c in chat_calls(slack_api)]
    assert methods[0] == "chat.postMessage" and set(methods[1:]) == {"chat.update"}, methods
    assert slack_api.calls_to("chat.postMessage")[0].params["text"] == messages.PLACEHOLDER
    kinds = [b["type"] for b in answer["blocks"]]
    assert kinds[0] == "section" and kinds[-1] == "actions" and "context" in kinds
    buttons = answer["blocks"][-1]["elements"]
    assert [b["text"]["text"] for b in buttons] == ["👍", "👎"]
    assert json.loads(buttons[0]["value"]) == {"q": QUESTION}


def test_slash_commands_stream_into_the_thread_of_the_question_they_post(bot: HttpBot) -> None:
    api = bot.api
    bot.command(command="/news", text=QUESTION, channel_id="C0CMD", user_id="U0ALICE", team_id=TEAM_ID,
                response_url=api.url.replace("/api/", "/respond/1"), trigger_id="1.2.3")
    api.wait_for(lambda: bool(api.calls_to("chat.startStream")))
    question_ts = api.final_messages("C0CMD")[0]["ts"]  # the question, posted first
    answer = settled(bot, "C0CMD", question_ts)
    start = api.calls_to("chat.startStream")[0].params
    assert (start["thread_ts"], start["recipient_user_id"], start["recipient_team_id"]) == (question_ts, "U0ALICE", TEAM_ID)
    assert answer["blocks"][-1]["type"] == "context_actions"


def test_a_bad_streaming_mode_is_one_line_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    from retrieval import ConfigError

    monkeypatch.setenv("NEWSBOT_SLACK_STREAMING", "sometimes")
    with pytest.raises(ConfigError, match="NEWSBOT_SLACK_STREAMING='sometimes'"):
        SlackSettings.from_env()
