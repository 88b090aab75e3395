"""Feeds as configuration: durations, the schedule, the registry in Chroma, OPML, `newsbot feeds`."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from retrieval import ConfigError
from retrieval.feeds import FeedRegistry, FeedState, import_opml, parse_duration
from retrieval.feeds import schedule
from retrieval.feeds.registry import SEEN_MAX

OPML = b"""<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0">
  <head><title>My subscriptions</title></head>
  <body>
    <outline text="Invented Gazette" type="rss" xmlUrl="https://gazette.example/rss"/>
    <outline text="Local">
      <outline text="Lowmoor Echo" type="rss" xmlUrl="https://echo.example/feed.xml"/>
      <outline text="Deeper">
        <outline text="Saltmere Post" type="rss" xmlUrl="https://post.example/atom"/>
      </outline>
    </outline>
    <outline text="Gazette again" type="rss" xmlUrl="HTTPS://GAZETTE.example/rss/"/>
    <outline text="Broken" type="rss" xmlUrl="ftp://files.example/news"/>
  </body>
</opml>
"""


@pytest.mark.parametrize(
    "text, seconds",
    [("30s", 30), ("10m", 600), ("1h", 3600), ("1h30m", 5400), ("2d", 172800), ("90", 90), (" 5m ", 300)],
)
def test_durations_parse(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "10 parsecs", "-5m", "1h30"])
def test_a_bad_duration_is_a_clear_error(text: str) -> None:
    with pytest.raises(ConfigError, match="not a duration such as 30s, 10m"):
        parse_duration(text, "--every")


def test_default_interval_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert schedule.default_every() == 600
    monkeypatch.setenv("NEWSBOT_WATCH_EVERY", "2m")
    assert schedule.default_every() == 120
    monkeypatch.setenv("NEWSBOT_WATCH_EVERY", "often")
    with pytest.raises(ConfigError, match="NEWSBOT_WATCH_EVERY"):
        schedule.default_every()


def test_schedule_honours_ttl_caps_it_and_backs_off() -> None:
    nxt = lambda **kw: schedule.next_poll(1000.0, 600, jitter=False, **kw) - 1000.0  # noqa: E731
    assert nxt() == 600
    assert nxt(ttl=60) == 600  # a feed may not make us poll sooner than our interval
    assert nxt(ttl=3600) == 3600  # but it may ask for longer
    assert nxt(ttl=30 * 86400) == schedule.MAX_TTL  # within reason
    assert [nxt(failures=n) for n in (1, 2, 3)] == [1200, 2400, 4800]
    assert nxt(failures=12) == schedule.MAX_BACKOFF
    jittered = schedule.next_poll(1000.0, 600) - 1000.0
    assert 600 <= jittered <= 630


def test_feed_ttl_from_the_feed_itself() -> None:
    assert schedule.feed_ttl({"ttl": "60"}) == 3600
    assert schedule.feed_ttl({"sy_updateperiod": "hourly", "sy_updatefrequency": "2"}) == 1800
    assert schedule.feed_ttl({"sy_updateperiod": "daily"}) == 86400
    assert schedule.feed_ttl({"ttl": "soon"}) == 0
    assert schedule.human_duration(5400) == "1h30m" and schedule.relative(0, 5) == "never"


def test_registry_keeps_one_record_per_feed(make_desk) -> None:  # type: ignore[no-untyped-def]
    registry = FeedRegistry.for_desk(make_desk())
    feed, created = registry.add("https://gazette.example/rss", every=300, title="Gazette")
    assert created and feed.every == 300
    again, created = registry.add("HTTPS://Gazette.example/rss/?utm_source=x")
    assert not created and again.url == "https://gazette.example/rss" and again.every == 300
    registry.add("https://gazette.example/rss", every=60)
    assert registry.get("https://gazette.example/rss").every == 60  # type: ignore[union-attr]
    with pytest.raises(ConfigError, match="not a feed URL"):
        registry.add("gazette.example/rss")

    now = time.time()
    polled = replace(feed, etag='"v1"', last_poll=now, next_poll=now + 600, last_status="ok: 2 new", articles=2,
                     seen=feed.remember(f"{i:016x}" for i in range(SEEN_MAX + 20)))  # fmt: skip
    registry.save(polled)
    stored = registry.get("https://gazette.example/rss")
    assert stored is not None and stored.etag == '"v1"' and stored.articles == 2
    assert len(stored.seen) == SEEN_MAX and stored.seen[0] == f"{0:016x}"
    assert stored.every == 60  # a poll's save leaves the interval `feeds add` set
    registry.add("https://echo.example/feed.xml")
    assert [f.url for f in registry.due(now)] == ["https://echo.example/feed.xml"]
    assert len(registry.due(now + 700)) == 2

    assert registry.remove("https://gazette.example/rss") and not registry.remove("https://gazette.example/rss")
    registry.save(polled)  # a watcher finishing a poll of a feed removed meanwhile
    assert registry.get("https://gazette.example/rss") is None
    assert [f.url for f in registry.list()] == ["https://echo.example/feed.xml"]


def test_registry_is_a_chroma_collection_beside_the_articles(make_desk) -> None:  # type: ignore[no-untyped-def]
    desk = make_desk()
    FeedRegistry.for_desk(desk).add("https://gazette.example/rss")
    names = {c.name for c in desk.store.client.list_collections()}
    assert f"{desk.settings.collection}_feeds" in names
    assert FeedState.from_meta(FeedState("https://x.example/").to_meta()).url == "https://x.example/"


def test_opml_import_with_folders_duplicates_and_invalid_entries(make_desk, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    registry = FeedRegistry.for_desk(make_desk())
    registry.add("https://post.example/atom")
    path = tmp_path / "subscriptions.opml"
    path.write_bytes(OPML)
    report = import_opml(registry, path, every=900)
    assert report.summary() == "2 added, 2 already present, 1 invalid"
    assert report.invalid[0][0] == "Broken"
    feeds = {f.url: f for f in registry.list()}
    assert set(feeds) == {"https://post.example/atom", "https://gazette.example/rss", "https://echo.example/feed.xml"}
    assert feeds["https://echo.example/feed.xml"].title == "Lowmoor Echo" and feeds["https://echo.example/feed.xml"].every == 900


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), obj={})
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_feeds_add_import_list_remove_through_the_cli(tmp_path: Path) -> None:
    code, out, err = invoke("feeds", "add", "https://gazette.example/rss", "not-a-url", "--every", "5m")
    assert code == 1 and "added: https://gazette.example/rss" in out and "invalid: not a feed URL" in err
    code, out, _ = invoke("feeds", "add", "https://gazette.example/rss")
    assert code == 0 and "already subscribed" in out
    assert invoke("feeds", "add", "https://x.example/rss", "--every", "soon")[0] == 2  # a usage error

    (tmp_path / "subs.opml").write_bytes(OPML)
    code, out, err = invoke("feeds", "import", str(tmp_path / "subs.opml"))
    assert code == 0 and "2 added, 2 already present, 1 invalid" in out and "Broken" in err
    (tmp_path / "junk.opml").write_bytes(b"this is not OPML")
    code, _, err = invoke("feeds", "import", str(tmp_path / "junk.opml"))
    assert code == 1 and "not an OPML subscription list" in err

    code, out, _ = invoke("feeds", "list")
    assert code == 0 and "https://gazette.example/rss" in out and "never polled" in out and "every 5m" in out
    assert "(Lowmoor Echo)" in out and "next poll: due" in out
    listed = json.loads(invoke("feeds", "list", "--json")[1])
    assert {f["url"] for f in listed} == {
        "https://gazette.example/rss", "https://echo.example/feed.xml", "https://post.example/atom",
    }
    assert all(f["seen"] == 0 and f["articles"] == 0 for f in listed)

    code, out, err = invoke("feeds", "remove", "https://gazette.example/rss", "https://never.example/rss")
    assert code == 1 and "removed: https://gazette.example/rss" in out and "not subscribed" in err
    assert "gazette" not in invoke("feeds", "list")[1]
