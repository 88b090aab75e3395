"""benchmarks/slack_replicas.py made small: two real `newsbot slack` processes behind one local
URL, one Redis. Each of 5 mentions is delivered twice, its retry to the other replica, and is
answered once; then a 100 MB body and a negative Content-Length are refused and the replica
still answers. (Without Redis, replicas on one home share keys through its SQLite file;
tests/bot/test_restart.py covers that store.)"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from benchmarks.slack_replicas import MIB, run


@pytest.mark.slow
def test_two_replicas_answer_each_mention_once_and_survive_abuse(
    corpus_home: Path, redis_server: str, tmp_path: Path
) -> None:
    import redis

    redis.Redis.from_url(redis_server).flushdb()
    home = tmp_path / "home"
    shutil.copytree(corpus_home, home)

    f = run(home, tmp_path, mentions=5, redis_url=redis_server)

    assert f["statuses"] == {200: 10} and f["retry_on_other_replica"] == 5, f
    answered = (f["answers"], f["threads_answered"], f["duplicates"], f["missing"], f["fallback_posts"])
    assert answered == (5, 5, 0, 0, 0), f
    assert f["redis_seen_keys"] >= 5, f  # the replicas shared this Redis
    assert f["first_text_p95"] < 120, f
    assert f["settled"] and not f["exited"] and not f["llm_fallback"], f
    for m in f["memory"]:  # each replica's memory was read from /proc while it served
        assert m["samples"] > 0 and 0 < m["idle_rss_mb"] <= m["peak_hwm_mb"], m
    a = f["abuse"]
    assert a["declared_100mb"]["status"] == 413 and a["declared_100mb"]["body_bytes_sent"] < 100 * MIB, a
    assert a["chunked_100mb"]["status"] == 413 and a["chunked_100mb"]["body_bytes_sent"] < 100 * MIB, a
    assert a["negative_length"]["status"] == 400, a
    assert a["healthz_after"] == 200 and (a["mention_after"]["status"], a["mention_after"]["answers"]) == (200, 1), a
