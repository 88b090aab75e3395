"""The bounded TTL set behind retry dedupe, and the SQLite feedback store."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bot.slack.feedback import Feedback, FeedbackStore
from bot.slack.dedupe import TTLSet


def test_ttl_set_remembers_keys_until_they_expire() -> None:
    seen = TTLSet(ttl=0.2, max_size=100)
    assert seen.add("Ev1") and not seen.add("Ev1") and "Ev1" in seen
    time.sleep(0.25)
    assert "Ev1" not in seen and seen.add("Ev1")


def test_ttl_set_is_bounded() -> None:
    seen = TTLSet(ttl=60, max_size=3)
    for key in "abcd":
        assert seen.add(key)
    assert "a" not in seen and all(k in seen for k in "bcd")
    assert len(seen._seen) == 3


def test_ttl_set_admits_each_key_once_across_threads() -> None:
    seen = TTLSet(ttl=60)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda i: seen.add(f"k{i % 10}"), range(200)))
    assert sum(results) == 10


def test_feedback_store_keeps_clicks_under_the_data_dir(tmp_path: Path) -> None:
    store = FeedbackStore.under(tmp_path / "home")
    assert store.path == tmp_path / "home" / "slack" / "feedback.sqlite3"
    assert store.all() == []
    clicks = [Feedback("up" if i % 2 else "down", f"U{i}", "T1", "C1", f"{i}.1", "0.1", "Q?", "A.") for i in range(20)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(store.record, clicks))
    assert sorted(store.all(), key=lambda f: f.user) == sorted(clicks, key=lambda f: f.user)
    assert FeedbackStore.under(tmp_path / "home").all()  # survives a restart
