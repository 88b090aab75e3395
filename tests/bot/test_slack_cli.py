"""`newsbot slack`: clear errors for missing settings, and a real process serving /slack/events."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from tests.bot.conftest import start_slack_process
from tests.bot.mock_slack_api import MockSlackAPI


def test_missing_token_is_one_clear_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--home", str(tmp_path), "slack", "--http"], env={"SLACK_BOT_TOKEN": ""})
    assert result.exit_code == 1
    assert "SLACK_BOT_TOKEN is not set" in result.output and "Traceback" not in result.output


def test_rejected_token_is_one_clear_line(tmp_path: Path, slack_api: MockSlackAPI) -> None:
    slack_api.fail_next("auth.test", 200, retry_after=None, body={"ok": False, "error": "invalid_auth"})
    env = {"SLACK_BOT_TOKEN": "xoxb-bad", "SLACK_SIGNING_SECRET": "s", "SLACK_API_URL": slack_api.url}
    code = ("import sys; from bot.cli import cli; "
            "sys.argv = ['newsbot', '--home', sys.argv[1], 'slack', '--http']; cli()")
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path)], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=60, cwd=Path(__file__).parents[2])
    assert proc.returncode == 1
    assert "invalid_auth" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_newsbot_slack_serves_http_events(tmp_path: Path, slack_api: MockSlackAPI) -> None:
    proc, port = start_slack_process(tmp_path / "home", slack_api, health="/health", timeout=90)
    try:
        assert [c.method for c in slack_api.calls] == ["auth.test"]
        unsigned = urllib.request.Request(f"http://127.0.0.1:{port}/slack/events", method="POST",
                                          data=json.dumps({"type": "event_callback"}).encode(),
                                          headers={"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(unsigned, timeout=5)
        assert e.value.code == 401
    finally:
        proc.terminate()
        proc.wait(10)


def test_manifest_asks_for_exactly_what_the_bot_uses() -> None:
    import yaml

    from bot.slack.listeners import SLASH_COMMAND

    manifest = yaml.safe_load((Path(__file__).parents[2] / "manifest.yml").read_text())
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == {
        "app_mentions:read", "chat:write", "reactions:write", "commands", "assistant:write", "users:read",
        "channels:history", "groups:history", "im:history", "mpim:history",
    }
    assert set(manifest["settings"]["event_subscriptions"]["bot_events"]) == {
        "app_mention", "message.channels", "message.groups", "message.im", "message.mpim",
        "assistant_thread_started", "assistant_thread_context_changed",
    }
    agent = manifest["features"]["agent_view"]  # the Messages-tab agent experience, not the legacy split view
    assert agent["agent_description"] and agent["suggested_prompts"][0]["message"] == "What's new today?"
    assert "assistant_view" not in manifest["features"]
    assert [c["command"] for c in manifest["features"]["slash_commands"]] == [SLASH_COMMAND]
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
