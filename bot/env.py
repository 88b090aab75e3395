"""Slack settings, read from the environment once, here; other modules import the names.

Each setting is a `DEFAULT_X` constant and the value `X` the environment gives it. Tokens are never
logged. `newsbot slack` loads a `.env` file before importing this module.
"""

from __future__ import annotations

import os


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    return float(raw) if raw else default


# Credentials: bot token (xoxb-), signing secret (HTTP mode), app-level token (xapp-, Socket Mode).
SLACK_BOT_TOKEN: str = os.environ.get("SLACK_BOT_TOKEN", "")
SLACK_SIGNING_SECRET: str = os.environ.get("SLACK_SIGNING_SECRET", "")
SLACK_APP_TOKEN: str = os.environ.get("SLACK_APP_TOKEN", "")

# The Web API base URL: Slack's own, or a proxy, or a fake one in tests.
DEFAULT_SLACK_API_URL = "https://slack.com/api/"
SLACK_API_URL: str = os.environ.get("SLACK_API_URL", "") or DEFAULT_SLACK_API_URL

# HTTP mode: where Slack delivers events.
DEFAULT_PORT = 3000
PORT: int = _int("PORT", DEFAULT_PORT)
DEFAULT_EVENTS_PATH = "/slack/events"

# Threads that run answers after the ack, and how many answers are computed at once (2 cores).
DEFAULT_WORKERS = 16
WORKERS: int = _int("NEWSBOT_SLACK_WORKERS", DEFAULT_WORKERS)
DEFAULT_MAX_CONCURRENT_ANSWERS = 2
MAX_CONCURRENT_ANSWERS: int = _int("NEWSBOT_SLACK_MAX_CONCURRENT_ANSWERS", DEFAULT_MAX_CONCURRENT_ANSWERS)

# Streaming: at most one chat.update per this many seconds (Slack allows about one a second).
DEFAULT_UPDATE_INTERVAL = 1.0
UPDATE_INTERVAL: float = _float("NEWSBOT_SLACK_UPDATE_INTERVAL", DEFAULT_UPDATE_INTERVAL)

# Retries: how long an event id is remembered, and how many are remembered at most.
DEFAULT_DEDUPE_TTL = 15 * 60.0
DEDUPE_TTL: float = _float("NEWSBOT_SLACK_DEDUPE_TTL", DEFAULT_DEDUPE_TTL)
DEFAULT_DEDUPE_MAX = 10_000

# Earlier messages of a thread passed to the engine as history.
DEFAULT_HISTORY_TURNS = 10
HISTORY_TURNS: int = _int("NEWSBOT_SLACK_HISTORY_TURNS", DEFAULT_HISTORY_TURNS)

# 429 answers from the Web API are retried this many times, after the Retry-After they name.
DEFAULT_RATE_LIMIT_RETRIES = 3
RATE_LIMIT_RETRIES: int = _int("NEWSBOT_SLACK_RATE_LIMIT_RETRIES", DEFAULT_RATE_LIMIT_RETRIES)
