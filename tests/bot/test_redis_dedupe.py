"""Replicas behind one NEWSBOT_REDIS_URL: a real redis-server on 127.0.0.1, real Bolt apps served
over real HTTP to one fake Slack Web API, answers from the extractive path. Each event, command and
click is handled once whichever replica gets it; a dead Redis costs a possible double answer, never
an answer or a slow ack."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import redis
from click.testing import CliRunner

from bot.cli import cli
from bot.slack.dedupe import RedisSeenKeys, TTLSet, redis_client, seen_keys
from bot.slack.feedback import Feedback, FeedbackStore, RedisFeedbackStore, feedback_store
from bot.slack.settings import SlackSettings
from retrieval import ConfigError
from tests.bot.conftest import SIGNING_SECRET, HttpBot, mention, start_redis_server, stop_redis_server
from tests.bot.mock_slack_api import TEAM_ID, MockSlackAPI
from tests.bot.test_slack_http import QUESTION, answers_in, bot_posts, wait_answered

pytestmark = pytest.mark.slow


@pytest.fixture
def redis_db(redis_server: str) -> Iterator[redis.Redis]:
    """A client of the session's redis-server, emptied before the test."""
    client = redis.Redis.from_url(redis_server, decode_responses=True)
    client.flushdb()
    yield client
    client.close()


@contextmanager
def replica(desk: Any, api: MockSlackAPI, redis_url: str, **settings: Any) -> Iterator[HttpBot]:
    """One bot process as `newsbot slack` builds it with NEWSBOT_REDIS_URL (dedupe and feedback
    from the factories), served over HTTP on a free port of 127.0.0.1."""
    from bot.slack.app import answer_pool, build_app, serve_http

    slack_settings = SlackSettings(bot_token="xoxb-test", signing_secret=SIGNING_SECRET, api_url=api.url,
                                   redis_url=redis_url, **settings)
    app = build_app(desk, slack_settings)
    server = serve_http(app, port=0, host="127.0.0.1", settings=slack_settings).start()
    try:
        yield HttpBot(app, server, api, feedback_store(slack_settings, desk.settings.home))
    finally:
        server.shutdown()
        server.server_close()
        answer_pool(app).drain(60)


def at_once(*calls: Any) -> list[Any]:
    """Run the calls in parallel threads (deliveries racing to two replicas); their results."""
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return [f.result() for f in [pool.submit(c) for c in calls]]


def idle(*bots: HttpBot) -> None:
    """Until every replica has finished all it was given: no second answer can still come."""
    from bot.slack.app import answer_pool

    bots[0].api.wait_for(lambda: all(answer_pool(b.app).in_flight == 0 for b in bots), timeout=60)


def answers_anywhere(api: MockSlackAPI, channel: str) -> list[dict[str, Any]]:
    return [m for m in api.final_messages(channel)
            if any(b["type"] in ("actions", "context_actions") for b in m.get("blocks", []))]


def click(answer: dict[str, Any], channel: str, trigger_id: str, vote: str = "up") -> dict[str, Any]:
    """A block_actions payload for 👍/👎 on `answer` (feedback_buttons or classic buttons)."""
    block = answer["blocks"][-1]
    element = block["elements"][0]
    if element["type"] == "feedback_buttons":
        clicked = {"type": "feedback_buttons", "action_id": element["action_id"],
                   "value": element["positive_button" if vote == "up" else "negative_button"]["value"]}
    else:
        button = block["elements"][0 if vote == "up" else 1]
        clicked = {"type": "button", "action_id": button["action_id"], "value": button["value"]}
    return {
        "type": "block_actions", "team": {"id": TEAM_ID}, "user": {"id": "U0BOB"}, "api_app_id": "A0NEWSBOT",
        "container": {"type": "message", "message_ts": answer["ts"], "channel_id": channel},
        "channel": {"id": channel}, "message": answer, "trigger_id": trigger_id,
        "actions": [{**clicked, "block_id": block["block_id"], "action_ts": str(time.time())}],
    }


def test_two_replicas_answer_an_event_and_its_retries_once(
    slack_api: MockSlackAPI, slack_desk: Any, redis_server: str, redis_db: redis.Redis
) -> None:
    api = slack_api
    with replica(slack_desk, api, redis_server) as a, replica(slack_desk, api, redis_server) as b:
        event = mention(api, QUESTION)
        retry = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
        replies = at_once(lambda: a.event(event, event_id="Ev0SHARED"), lambda: b.event(event, event_id="Ev0SHARED"))
        replies += at_once(lambda: a.event(event, event_id="Ev0SHARED", headers=retry),
                           lambda: b.event(event, event_id="Ev0SHARED", headers=retry))
        assert all(r.status == 200 and r.seconds < 3 for r in replies), replies
        wait_answered(api, "C0NEWS", event["ts"])
        idle(a, b)
    assert len(bot_posts(api, "C0NEWS", event["ts"])) == 1
    assert len(answers_in(api, "C0NEWS", event["ts"])) == 1
    assert len(api.calls_to("reactions.add")) == 1
    assert redis_db.exists("newsbot:seen:event:Ev0SHARED", f"newsbot:seen:message:C0NEWS:{event['ts']}") == 2


def test_a_slash_command_and_a_click_sent_to_two_replicas_are_handled_once(
    slack_api: MockSlackAPI, slack_desk: Any, redis_server: str, redis_db: redis.Redis
) -> None:
    api = slack_api
    command = dict(command="/news", text=QUESTION, channel_id="C0CMD", user_id="U0ALICE", team_id=TEAM_ID,
                   response_url=api.url.replace("/api/", "/respond/1"), trigger_id="T0CMD.1")
    with replica(slack_desk, api, redis_server) as a, replica(slack_desk, api, redis_server) as b:
        replies = at_once(lambda: a.command(**command), lambda: b.command(**command))
        assert all(r.status == 200 and r.seconds < 3 for r in replies), replies
        api.wait_for(lambda: len(answers_anywhere(api, "C0CMD")) >= 1, timeout=60)
        idle(a, b)
        [answer] = answers_anywhere(api, "C0CMD")
        assert "Putin" in answer["text"]
        assert len([m for m in api.final_messages("C0CMD") if "asked" in (m.get("text") or "")]) <= 1

        payload = click(answer, "C0CMD", trigger_id="T0CLICK.1")
        replies = at_once(lambda: a.action(payload), lambda: b.action(payload))
        assert all(r.status == 200 and r.seconds < 3 for r in replies), replies
        api.wait_for(lambda: bool(api.calls_to("chat.postEphemeral")))
        idle(a, b)
    assert len(api.calls_to("chat.postEphemeral")) == 1
    [fb] = a.feedback.all()
    assert (fb.vote, fb.user, fb.channel, fb.message_ts, fb.question) == ("up", "U0BOB", "C0CMD", answer["ts"], QUESTION)
    assert isinstance(a.feedback, RedisFeedbackStore) and b.feedback.all() == [fb]
    assert redis_db.xlen("newsbot:feedback") == 1
    assert redis_db.exists("newsbot:seen:trigger:T0CMD.1", "newsbot:seen:trigger:T0CLICK.1") == 2


def test_feedback_records_land_in_a_redis_stream_every_replica_reads(redis_server: str, redis_db: redis.Redis) -> None:
    one, two = (feedback_store(SlackSettings(redis_url=redis_server), Path("/nonexistent")) for _ in range(2))
    assert isinstance(one, RedisFeedbackStore) and one.all() == []
    clicks = [Feedback("up" if i % 2 else "down", f"U{i:02}", "T1", "C1", f"{i}.1", "0.1", "Q?", "A.") for i in range(20)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda fb: (one if int(fb.user[1:]) % 2 else two).record(fb), clicks))
    assert sorted(two.all(), key=lambda f: f.user) == clicks
    [(_id, fields)] = redis_db.xrange("newsbot:feedback", count=1)
    assert fields["recorded_at"].endswith("+00:00") and set(fields) >= {"vote", "user", "question", "answer"}
    assert redis_db.ttl("newsbot:feedback") == -1  # the record never expires


def test_a_click_redis_cannot_take_is_logged_whole_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"redis://:pw@127.0.0.1:{s.getsockname()[1]}/0"
    store = feedback_store(SlackSettings(redis_url=dead), Path("/nonexistent"))
    with caplog.at_level(logging.INFO, logger="bot.slack.feedback"):
        store.record(Feedback("down", "U0BOB", "T1", "C1", "1.1", "0.1", "Who won?", "Nobody."))
    [error] = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert '"question": "Who won?"' in error and "redis://:***@127.0.0.1" in error and ":pw@" not in caplog.text


def test_seen_keys_are_shared_atomic_and_expire(redis_server: str, redis_db: redis.Redis) -> None:
    replicas = [seen_keys(SlackSettings(redis_url=redis_server, dedupe_ttl=900)) for _ in range(2)]
    assert all(isinstance(r, RedisSeenKeys) for r in replicas)
    with ThreadPoolExecutor(max_workers=8) as pool:
        taken = list(pool.map(lambda i: replicas[i % 2].add(f"event:Ev{i % 10}"), range(200)))
    assert sum(taken) == 10
    assert 0 < redis_db.ttl("newsbot:seen:event:Ev3") <= 900

    short = RedisSeenKeys(redis_client(redis_server), ttl=0.5, where="test")  # EX rounds up to 1 s
    assert short.add("event:EvSHORT") and not short.add("event:EvSHORT")
    assert redis_db.ttl("newsbot:seen:event:EvSHORT") == 1
    time.sleep(1.1)
    assert RedisSeenKeys(redis_client(redis_server), ttl=0.5, where="other replica").add("event:EvSHORT")


def test_a_stopped_redis_fails_open_with_an_error_and_fast_acks(
    slack_api: MockSlackAPI, slack_desk: Any, caplog: pytest.LogCaptureFixture
) -> None:
    api = slack_api
    server = start_redis_server()
    try:
        with replica(slack_desk, api, server.url) as bot:
            first = mention(api, QUESTION)
            bot.event(first, event_id="Ev0BEFORE")
            wait_answered(api, "C0NEWS", first["ts"])
            stop_redis_server(server)

            with caplog.at_level(logging.INFO, logger="bot.slack"):
                event = mention(api, QUESTION)
                reply = bot.event(event, event_id="Ev0DURING")
                assert reply.status == 200 and reply.seconds < 3
                [answer] = wait_answered(api, "C0NEWS", event["ts"])
                assert "Putin" in answer["text"]
                # meanwhile this process still remembers what it took: its own redelivery is dropped
                again = bot.event(event, event_id="Ev0DURING", headers={"X-Slack-Retry-Num": "1"})
                assert again.status == 200 and again.seconds < 3
                idle(bot)
            assert len(answers_in(api, "C0NEWS", event["ts"])) == 1
    finally:
        stop_redis_server(server) if server.proc.poll() is None else None
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR and r.name == "bot.slack.dedupe"]
    assert errors and all(server.url in e for e in errors), caplog.text
    assert len(errors) == 1  # one line per outage, not one per key


def test_a_redis_that_never_answers_costs_an_ack_at_most_about_two_seconds_and_no_password(
    slack_api: MockSlackAPI, slack_desk: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A listening socket that never replies: the connection is made, the reply never comes (a hung
    or black-holed server), so only the timeouts stand between Slack and its 3 s."""
    api = slack_api
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        url = f"redis://:s3cret-pw@127.0.0.1:{silent.getsockname()[1]}/0"
        with caplog.at_level(logging.INFO, logger="bot.slack"), replica(slack_desk, api, url) as bot:
            event = mention(api, QUESTION)
            reply = bot.event(event)
            assert reply.status == 200 and reply.seconds < 3, reply
            assert "Putin" in wait_answered(api, "C0NEWS", event["ts"])[0]["text"]
            fast = bot.event(mention(api, "Who met in Moscow?"))  # Redis is left alone for a while
            assert fast.status == 200 and fast.seconds < 0.5, fast
    assert "s3cret" not in caplog.text
    assert any(r.levelno == logging.ERROR and "redis://:***@127.0.0.1" in r.getMessage() for r in caplog.records)


def test_start_up_says_where_dedupe_lives_and_warns_when_it_will_not_hold(
    redis_server: str, caplog: pytest.LogCaptureFixture
) -> None:
    from bot.slack.app import log_replicas

    def lines(settings: SlackSettings) -> list[tuple[int, str]]:
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="bot.slack.app"):
            log_replicas(settings)
        return [(r.levelno, r.getMessage()) for r in caplog.records]

    [(level, line)] = lines(SlackSettings())
    assert level == logging.INFO and "per-process without NEWSBOT_REDIS_URL" in line
    [_, (level, line)] = lines(SlackSettings(web_concurrency=4))
    assert level == logging.WARNING and "WEB_CONCURRENCY=4" in line and "NEWSBOT_REDIS_URL" in line
    [(level, line)] = lines(SlackSettings(redis_url=redis_server, web_concurrency=4))
    assert level == logging.INFO and f"shared through Redis at {redis_server}" in line
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"redis://:pw@127.0.0.1:{s.getsockname()[1]}/0"
    [(level, line)] = lines(SlackSettings(redis_url=dead))  # a warning, not a crash: Redis may come up later
    assert level == logging.WARNING and "not reachable" in line and ":pw@" not in line


def test_settings_read_the_redis_url_keep_it_out_of_the_repr_and_reject_a_malformed_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("NEWSBOT_REDIS_URL", "redis://:hunter2@redis.internal:6380/1")
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    s = SlackSettings.from_env()
    assert (s.redis_url, s.web_concurrency) == ("redis://:hunter2@redis.internal:6380/1", 3)
    assert "hunter2" not in repr(s)
    monkeypatch.setenv("WEB_CONCURRENCY", "auto")  # the platform's variable: unreadable means 1, not a stop
    assert SlackSettings.from_env().web_concurrency == 1
    for bad in ("http://:hunter2@redis.internal:6379", "redis://:hunter2@redis.internal:port/0", "redis://", "redis://h/db"):
        with pytest.raises(ConfigError, match="NEWSBOT_REDIS_URL=.* is not a Redis URL") as e:
            SlackSettings(redis_url=bad)
        assert "hunter2" not in str(e.value)
    env = {"NEWSBOT_REDIS_URL": "http://:hunter2@redis.internal", "SLACK_BOT_TOKEN": "xoxb-x", "SLACK_SIGNING_SECRET": "s"}
    result = CliRunner().invoke(cli, ["--home", str(tmp_path), "slack", "--http"], env=env)
    assert result.exit_code == 1 and "NEWSBOT_REDIS_URL" in result.output
    assert "hunter2" not in result.output and "Traceback" not in result.output


def test_without_a_redis_url_everything_stays_in_the_process(tmp_path: Path) -> None:
    assert isinstance(seen_keys(SlackSettings()), TTLSet)
    store = feedback_store(SlackSettings(), tmp_path / "home")
    assert isinstance(store, FeedbackStore) and store.path == tmp_path / "home" / "slack" / "feedback.sqlite3"
