"""Socket Mode end to end: apps.connections.open on the fake Web API hands out a local websocket
server's URL; envelopes pushed through it are acknowledged and answered once, retries included."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from tests.bot.conftest import event_payload, mention
from tests.bot.mock_slack_api import MockSlackAPI, MockSocketModeServer
from tests.bot.test_slack_http import QUESTION, answers_in, bot_posts, wait_answered

pytestmark = pytest.mark.slow


def envelope(payload: dict[str, Any], kind: str = "events_api", retry_attempt: int = 0) -> dict[str, Any]:
    return {
        "envelope_id": str(uuid.uuid4()), "type": kind, "payload": payload,
        "accepts_response_payload": kind != "events_api",
        "retry_attempt": retry_attempt, "retry_reason": "timeout" if retry_attempt else "",
    }


def test_socket_mode_connects_through_the_configured_api_and_answers(slack_api: MockSlackAPI, socket_bot: tuple[Any, MockSocketModeServer]) -> None:
    _, ws = socket_bot
    [open_call] = slack_api.calls_to("apps.connections.open")
    assert open_call.headers.get("Authorization") == "Bearer xapp-test"
    event = mention(slack_api, QUESTION)
    env = envelope(event_payload(event))
    ws.send(env)
    [answer] = wait_answered(slack_api, "C0NEWS", event["ts"])
    assert "Putin" in answer["text"]
    slack_api.wait_for(lambda: any(a.get("envelope_id") == env["envelope_id"] for a in ws.acks))


def test_socket_mode_retries_answer_once(slack_api: MockSlackAPI, socket_bot: tuple[Any, MockSocketModeServer]) -> None:
    _, ws = socket_bot
    event = mention(slack_api, QUESTION)
    payload = event_payload(event, event_id="Ev0SOCKETRETRY")
    envelopes = [envelope(payload), envelope(payload, retry_attempt=1), envelope(payload, retry_attempt=2)]
    for env in envelopes:
        ws.send(env)
    wait_answered(slack_api, "C0NEWS", event["ts"])
    slack_api.wait_for(lambda: {a.get("envelope_id") for a in ws.acks} >= {e["envelope_id"] for e in envelopes})
    time.sleep(1.5)
    assert len(bot_posts(slack_api, "C0NEWS", event["ts"])) == 1
    assert len(answers_in(slack_api, "C0NEWS", event["ts"])) == 1


def test_socket_mode_slash_command(slack_api: MockSlackAPI, socket_bot: tuple[Any, MockSocketModeServer]) -> None:
    _, ws = socket_bot
    env = envelope({"command": "/news", "text": QUESTION, "channel_id": "C0CMD", "user_id": "U0ALICE",
                    "team_id": "T0TEST", "response_url": slack_api.url.replace("/api/", "/respond/1"),
                    "trigger_id": "1.2.3"}, kind="slash_commands")
    ws.send(env)
    slack_api.wait_for(lambda: any(a.get("envelope_id") == env["envelope_id"] for a in ws.acks), timeout=3)
    slack_api.wait_for(lambda: bool(slack_api.final_messages("C0CMD")))
    question = slack_api.final_messages("C0CMD")[0]  # posted for the channel; the answer goes in its thread
    [answer] = wait_answered(slack_api, "C0CMD", question["ts"])
    assert "Putin" in answer["text"]
