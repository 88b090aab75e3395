"""A bot killed mid-answer and started again does not answer Slack's retry of that event twice:
without NEWSBOT_REDIS_URL the keys of events taken live in SQLite under NEWSBOT_HOME, shared by
every process on the machine. The end-to-end test runs real `newsbot slack` processes against the
fake Slack Web API on 127.0.0.1."""

from __future__ import annotations

import logging
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import pytest

from bot.slack import dedupe
from bot.slack.dedupe import SEEN_FILE, SqliteSeenKeys, TTLSet, seen_file, seen_keys
from bot.slack.settings import SlackSettings
from tests.bot.conftest import HttpBot, mention, start_slack_process
from tests.bot.mock_slack_api import MockSlackAPI
from tests.bot.test_slack_http import QUESTION, answers_in, bot_posts, wait_answered

RETRY = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
TAKE = ("import sys; from bot.slack.dedupe import SqliteSeenKeys; seen = SqliteSeenKeys(sys.argv[1], 900); "
        "print('ready', flush=True); sys.stdin.readline(); print(sum(seen.add(f'event:{i}') for i in range(300)))")


def test_sqlite_keys_survive_a_reopen_and_expire(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "seen.sqlite3"
    first = SqliteSeenKeys(path, ttl=0.3)
    assert first.add("event:Ev1") and not first.add("event:Ev1") and "event:Ev1" in first
    first.close()
    again = SqliteSeenKeys(path, ttl=0.3)  # a restarted process
    assert not again.add("event:Ev1") and "event:Ev2" not in again
    time.sleep(0.4)
    assert "event:Ev1" not in again and again.add("event:Ev1")  # an expired row is free again
    monkeypatch.setattr(dedupe, "PRUNE_EVERY", 10)
    short = SqliteSeenKeys(path, ttl=0.05)
    for i in range(9):
        short.add(f"old:{i}")
    time.sleep(0.1)
    short.add("new:0")  # the 10th add deletes what has expired
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM seen WHERE key LIKE 'old:%'").fetchone() == (0,)


def test_processes_and_threads_sharing_the_file_take_each_key_once(tmp_path: Path) -> None:
    path = tmp_path / "slack" / "seen.sqlite3"
    children = [subprocess.Popen([sys.executable, "-c", TAKE, str(path)], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[2]) for _ in range(2)]
    here = SqliteSeenKeys(path, 900)
    for child in children:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    for child in children:  # all start together
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    with ThreadPoolExecutor(4) as pool:
        mine = sum(pool.map(lambda i: here.add(f"event:{i % 300}"), range(1200)))
    theirs = [int(child.communicate(timeout=60)[0]) for child in children]
    assert mine + sum(theirs) == 300, (mine, theirs)


def test_an_unwritable_home_falls_back_to_memory_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from bot.slack.app import log_replicas

    home = tmp_path / "home"
    settings = SlackSettings(home=home)
    assert isinstance(seen_keys(settings), SqliteSeenKeys) and seen_file(settings) == home / SEEN_FILE
    with caplog.at_level(logging.INFO):
        log_replicas(SlackSettings(home=home, web_concurrency=4))
    assert [(r.levelno, str(home / SEEN_FILE) in r.getMessage()) for r in caplog.records] == [(logging.INFO, True)]

    not_a_dir = tmp_path / "file"  # (the tests run as root, for whom a chmod'ed directory is still writable)
    not_a_dir.write_text("")
    settings = SlackSettings(home=not_a_dir)
    caplog.clear()
    with caplog.at_level(logging.INFO):
        assert isinstance(seen_keys(settings), TTLSet) and isinstance(seen_keys(settings, ttl=60), TTLSet)
        log_replicas(settings)
    assert [r.levelno for r in caplog.records] == [logging.WARNING, logging.INFO], caplog.text
    assert "per-process" in caplog.records[1].getMessage() and seen_file(settings) is None


@pytest.mark.slow
def test_a_retry_after_sigkill_and_restart_is_acknowledged_not_answered_again(
    tmp_path: Path, slack_api: MockSlackAPI, corpus_home: Path
) -> None:
    """Slack's stream calls after the first words hang here, so the first process is killed with
    its answer begun; the second, over the same home, drops the retry and answers a new mention."""
    api = slack_api
    home = tmp_path / "home"
    shutil.copytree(corpus_home, home)
    event, event_id = mention(api, QUESTION), "EvKILLED01"
    proc, port = start_slack_process(home, api, "--http")
    try:
        api.slow_down("chat.appendStream", 60)
        api.slow_down("chat.stopStream", 60)
        assert HttpBot(None, SimpleNamespace(server_port=port), api, None).event(event, event_id=event_id).status == 200
        api.wait_for(lambda: bool(bot_posts(api, "C0NEWS", event["ts"])) and bool(
            api.calls_to("chat.appendStream") or api.calls_to("chat.stopStream")), timeout=60)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=10)
    [partial] = [m for m in api.final_messages("C0NEWS") if m.get("thread_ts") == event["ts"]]
    assert partial["streaming"] and partial["text"] and not answers_in(api, "C0NEWS", event["ts"])  # left as it was

    api.slow_down("chat.appendStream", 0)
    api.slow_down("chat.stopStream", 0)
    proc, port = start_slack_process(home, api, "--http")
    try:
        bot = HttpBot(None, SimpleNamespace(server_port=port), api, None)
        calls_before = len(api.calls)
        retried = bot.event(event, event_id=event_id, headers=RETRY)
        assert retried.status == 200 and retried.seconds < 3
        acked = time.monotonic()
        fresh = mention(api, "Who met in Moscow?")
        assert bot.event(fresh).status == 200
        wait_answered(api, "C0NEWS", fresh["ts"])
        time.sleep(max(0.0, acked + 3 - time.monotonic()))  # a few seconds in which the retry could have been answered
        assert len(bot_posts(api, "C0NEWS", event["ts"])) == 1  # the killed process's stream, nothing new
        assert not [c for c in api.calls[calls_before:] if event["ts"] in (c.params.get("thread_ts"), c.params.get("timestamp"))]
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=60)
    assert f"skipping repeated delivery of event {event_id} (retry 1)" in stderr, stderr
    assert f"de-duplication is kept in {home / SEEN_FILE}" in stderr, stderr
