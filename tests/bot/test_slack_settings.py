"""Slack settings are read when asked for, never at import; bad numbers are one line naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.slack.settings import SlackSettings
from retrieval import ConfigError

SLACK_NUMBERS = (
    "PORT", "NEWSBOT_SLACK_WORKERS", "NEWSBOT_SLACK_MAX_CONCURRENT_ANSWERS", "NEWSBOT_SLACK_UPDATE_INTERVAL",
    "NEWSBOT_SLACK_DEDUPE_TTL", "NEWSBOT_SLACK_RATE_LIMIT_RETRIES", "NEWSBOT_SLACK_MAX_BODY_BYTES",
    "NEWSBOT_SLACK_READ_TIMEOUT", "NEWSBOT_SLACK_KEEP_ALIVE", "NEWSBOT_SLACK_MAX_CONNECTIONS", "NEWSBOT_SLACK_DRAIN_SECONDS",
    "NEWSBOT_SLACK_STREAM_BUFFER", "NEWSBOT_SLACK_STREAMING",
)


@pytest.fixture(autouse=True)
def no_slack_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SLACK_NUMBERS:
        monkeypatch.delenv(name, raising=False)


def test_from_env_reads_every_variable_and_defaults_the_rest(monkeypatch: pytest.MonkeyPatch) -> None:
    assert SlackSettings.from_env() == SlackSettings()
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    monkeypatch.setenv("SLACK_API_URL", "http://127.0.0.1:9/api/")
    monkeypatch.setenv("PORT", "8080")
    monkeypatch.setenv("NEWSBOT_SLACK_UPDATE_INTERVAL", "0.5")
    s = SlackSettings.from_env()
    assert (s.bot_token, s.api_url, s.port, s.update_interval) == ("xoxb-1", "http://127.0.0.1:9/api/", 8080, 0.5)
    assert s.workers == SlackSettings().workers
    for name, value in [("NEWSBOT_SLACK_MAX_BODY_BYTES", "2048"), ("NEWSBOT_SLACK_READ_TIMEOUT", "2.5"),
                        ("NEWSBOT_SLACK_KEEP_ALIVE", "7"), ("NEWSBOT_SLACK_MAX_CONNECTIONS", "20"),
                        ("NEWSBOT_SLACK_DRAIN_SECONDS", "30")]:
        monkeypatch.setenv(name, value)
    s = SlackSettings.from_env()
    assert (s.max_body_bytes, s.read_timeout, s.keep_alive, s.max_connections, s.drain_seconds) == (2048, 2.5, 7.0, 20, 30.0)
    assert (s.streaming, s.stream_buffer) == ("native", 256)
    monkeypatch.setenv("NEWSBOT_SLACK_STREAMING", "Update")
    monkeypatch.setenv("NEWSBOT_SLACK_STREAM_BUFFER", "512")
    s = SlackSettings.from_env()
    assert (s.streaming, s.stream_buffer) == ("update", 512)


def test_a_dotenv_file_fills_what_the_environment_does_not_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "")  # registered, so the value .env loads is undone afterwards
    monkeypatch.delenv("SLACK_SIGNING_SECRET")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-from-env")
    (tmp_path / ".env").write_text("SLACK_BOT_TOKEN=xoxb-from-dotenv\nSLACK_SIGNING_SECRET=from-dotenv\n")
    s = SlackSettings.from_env()  # the working directory is tmp_path (tests/conftest.py)
    assert (s.bot_token, s.signing_secret) == ("xoxb-from-env", "from-dotenv")


def test_tokens_stay_out_of_the_repr() -> None:
    shown = repr(SlackSettings(bot_token="xoxb-secret", signing_secret="shh", app_token="xapp-secret"))
    assert "secret" not in shown and "shh" not in shown and "api_url" in shown


def test_a_bad_number_names_its_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NEWSBOT_SLACK_WORKERS", "many")
    with pytest.raises(ConfigError, match=r"NEWSBOT_SLACK_WORKERS='many' is not a whole number"):
        SlackSettings.from_env()
    result = CliRunner().invoke(cli, ["--home", str(tmp_path), "slack", "--http"], env={"NEWSBOT_SLACK_WORKERS": "many"})
    assert result.exit_code == 1
    assert "NEWSBOT_SLACK_WORKERS='many' is not a whole number" in result.output and "Traceback" not in result.output


def test_importing_the_front_ends_reads_no_settings() -> None:
    """A malformed variable breaks nothing until settings are asked for (it used to break the import)."""
    modules = ["bot.slack.app", "bot.slack.listeners", "bot.slack.ui", "bot.slack.settings", "bot.terminal.repl", "bot.cli"]
    env = {**os.environ, "PORT": "not-a-port", "NEWSBOT_SLACK_DEDUPE_TTL": "forever"}
    code = "import importlib, sys; [importlib.import_module(m) for m in sys.argv[1:]]"
    done = subprocess.run([sys.executable, "-c", code, *modules], env=env, capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).parents[2])
    assert done.returncode == 0, done.stderr
