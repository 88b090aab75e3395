"""benchmarks/freshness.py's feed sections, made small: the real watcher (a subprocess, on a
feed served on 127.0.0.1) feeds a desk in this process, and 5 idle feeds are polled twice."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from benchmarks.freshness import feed_to_answer, idle_polls


@pytest.mark.slow
def test_the_feed_sections_measure_and_find_the_item(  # type: ignore[no-untyped-def]
    corpus_home: Path, real_embedder, shared_data: Path, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    figures = idle_polls(tmp_path / "idle-home", feeds=5)
    assert figures["feeds"] == figures["requests"] == figures["not_modified"] == 5
    assert figures["wall"] > 0 and figures["cpu"] > 0

    monkeypatch.setenv("NEWSBOT_REFRESH_SECONDS", "3")  # the default 10 s would only make it slower
    home = tmp_path / "home"
    shutil.copytree(corpus_home, home)
    rows, code = feed_to_answer(home, rounds=1, embedder=real_embedder)
    assert code == 0  # the watcher stopped cleanly on SIGTERM
    assert [r["refresh"] for r in rows] == [3.0, 1.0]
    for row in rows:  # each item was polled, then stored, then found (the log line may trail the store)
        assert 0 <= row["polled"] <= row["stored"] <= row["total"] + 0.5 and row["total"] < 120

    out = capsys.readouterr().out
    assert "5 of 5 requests answered 304" in out and "| 5 |" in out
    assert "desk refresh_seconds=3 (NEWSBOT_REFRESH_SECONDS)" in out
    assert "median item → found, desk refresh 1 s:" in out and "exit code 0" in out
