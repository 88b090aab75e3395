"""`newsbot watch` against feeds served by a real HTTP server on 127.0.0.1: conditional GETs,
only new entries fetched, broken feeds isolated and backed off, a clean stop on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from retrieval.feeds import FeedRegistry, Watcher
from retrieval.ingest.fetch import FetchPolicy
from tests.conftest import ROOT
from tests.feedserver import FeedServer, Item, serving


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FeedServer]:
    monkeypatch.setenv("NEWSBOT_ALLOW_PRIVATE_URLS", "127.0.0.1")
    with serving() as s:
        yield s


def titles(desk) -> set[str]:  # type: ignore[no-untyped-def]
    return {str(c.meta["title"]) for c in desk.store.scan(include_text=False)}


def make_due(registry: FeedRegistry) -> None:
    for feed in registry.list():
        registry.save(replace(feed, next_poll=0))


def watcher_for(desk, every: float = 600, **kw) -> Watcher:  # type: ignore[no-untyped-def]
    return Watcher(desk, FeedRegistry.for_desk(desk), every=every, **kw)


def test_only_new_entries_are_fetched_and_ingested(make_desk, server: FeedServer) -> None:  # type: ignore[no-untyped-def]
    desk = make_desk()
    url = server.feed("/rss", [Item(1), Item(2), Item(3, full=True)])
    watcher = watcher_for(desk)
    watcher.registry.add(url)

    [first] = watcher.poll_once()
    assert (first.status, first.new, first.seen) == ("ok: 3 new", 3, 0)
    assert titles(desk) == {Item(1).title, Item(2).title, Item(3).title}
    assert server.hits["/articles/1.html"] == server.hits["/articles/2.html"] == 1
    assert server.hits["/articles/3.html"] == 0  # its full text was in the feed
    feed = watcher.registry.get(url)
    assert feed and feed.etag and len(feed.seen) == 3 and feed.articles == 3 and feed.title == "Invented Gazette"
    assert 600 <= feed.next_poll - feed.last_poll <= 630

    assert watcher.poll_once() == []  # nothing is due yet
    make_due(watcher.registry)
    [again] = watcher.poll_once()
    assert again.status == "not modified" and server.not_modified["/rss"] == 1

    server.feed("/rss", [Item(1), Item(2), Item(3, full=True), Item(4)])  # the feed gains an entry
    make_due(watcher.registry)
    [third] = watcher.poll_once()
    assert (third.status, third.new, third.seen) == ("ok: 1 new", 1, 3)
    assert server.hits["/articles/4.html"] == 1
    assert server.hits["/articles/1.html"] == server.hits["/articles/2.html"] == 1  # not fetched again
    assert Item(4).title in titles(desk) and desk.stats()["articles"] == 4
    assert watcher.registry.get(url).articles == 4  # type: ignore[union-attr]


def test_a_failing_feed_backs_off_and_the_others_go_on(make_desk, server: FeedServer) -> None:  # type: ignore[no-untyped-def]
    desk = make_desk()
    bad = server.feed("/down", [Item(1)])
    good = server.feed("/up", [Item(2, full=True)])
    server.status["/down"] = 503
    watcher = watcher_for(desk, every=60)
    watcher.registry.add(bad)
    watcher.registry.add(good)

    results = {r.url: r for r in watcher.poll_once()}
    assert results[bad].status == "error: HTTP 503" and results[bad].failures == 1
    assert results[good].status == "ok: 1 new" and Item(2).title in titles(desk)
    waits = []
    for expected in (2, 3):
        first = watcher.registry.get(bad)
        waits.append(first.next_poll - first.last_poll)  # type: ignore[union-attr]
        make_due(watcher.registry)
        results = {r.url: r for r in watcher.poll_once()}
        assert results[bad].failures == expected and results[good].status == "not modified"
    state = watcher.registry.get(bad)
    waits.append(state.next_poll - state.last_poll)  # type: ignore[union-attr]
    assert state.failures == 3 and state.last_status == "error: HTTP 503"  # type: ignore[union-attr]
    assert 120 <= waits[0] < 240 <= waits[1] < 480 <= waits[2] < 960  # every × 2^failures

    del server.status["/down"]  # it recovers: the count resets and it is ingested
    make_due(watcher.registry)
    results = {r.url: r for r in watcher.poll_once()}
    assert results[bad].status == "ok: 1 new" and watcher.registry.get(bad).failures == 0  # type: ignore[union-attr]
    assert Item(1).title in titles(desk)


def test_malformed_refused_and_slow_feeds_are_reported(make_desk, server: FeedServer, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    desk = make_desk()
    junk = server.raw("/junk", b"<rss><channel><title>Half a feed</ti", "text/xml")
    slow = server.feed("/slow", [Item(3, full=True)])
    server.holds["/slow"] = threading.Event()
    good = server.feed("/good", [Item(1, full=True)])
    policy = FetchPolicy(allow=FetchPolicy.from_env().allow, timeout=1.0)
    watcher = watcher_for(desk, policy=policy)
    for url in (junk, slow, good, "http://localhost:9/rss"):
        watcher.registry.add(url)

    results = {r.url: r for r in watcher.poll_once()}
    assert results[junk].status.startswith("error: not a readable RSS/Atom feed")
    assert results[slow].status == "error: timed out after 1 s"
    assert results[good].status == "ok: 1 new" and titles(desk) == {Item(1).title}
    assert results["http://localhost:9/rss"].status.startswith("error: ")  # nothing listens there
    monkeypatch.delenv("NEWSBOT_ALLOW_PRIVATE_URLS")
    make_due(watcher.registry)
    refused = watcher_for(desk).poll_once()  # without the allow-list 127.0.0.1 is off limits
    assert {r.status.split(":")[1].strip() for r in refused} == {"refused"}
    assert all(f.failures >= 1 for f in watcher.registry.list() if f.url != good)


def test_the_feeds_ttl_and_max_age_are_honoured(make_desk, server: FeedServer) -> None:  # type: ignore[no-untyped-def]
    desk = make_desk()
    slow = server.feed("/hourly", [Item(1, full=True)], ttl=60)
    cached = server.feed("/cached", [Item(2, full=True)])
    server.headers["/cached"] = {"Cache-Control": "public, max-age=1800"}
    watcher = watcher_for(desk, every=300)
    watcher.registry.add(slow)
    watcher.registry.add(cached)
    watcher.poll_once()
    for url, asked in ((slow, 3600), (cached, 1800)):
        feed = watcher.registry.get(url)
        assert feed and feed.ttl == asked and asked <= feed.next_poll - feed.last_poll <= asked + 60


def test_a_stop_mid_feed_keeps_what_was_stored_and_reads_the_rest_later(make_desk, server: FeedServer) -> None:  # type: ignore[no-untyped-def]
    desk = make_desk()
    url = server.feed("/rss", [Item(1), Item(2), Item(3)])
    watcher = watcher_for(desk)
    watcher.registry.add(url)
    stop = threading.Event()
    ingest = desk.ingest_items

    def stop_after_one(items, progress=None):  # type: ignore[no-untyped-def]
        def first_then_stop():  # type: ignore[no-untyped-def]
            for item in items:
                yield item
                stop.set()  # as SIGTERM would, while the ingester works on the first article

        return ingest(first_then_stop(), progress)

    desk.ingest_items = stop_after_one
    [result] = watcher.poll_once(stop)
    assert result.status == "stopped after 1 new"
    feed = watcher.registry.get(url)
    assert feed and len(feed.seen) == 1 and not feed.etag and feed.next_poll == 0  # still due
    assert desk.stats()["articles"] == 1  # the article handed over was stored

    desk.ingest_items = ingest
    [rest] = watcher.poll_once(threading.Event())
    assert (rest.status, rest.new, rest.seen) == ("ok: 2 new", 2, 1)
    assert desk.stats()["articles"] == 3
    assert sum(server.hits[f"/articles/{n}.html"] for n in (1, 2, 3)) <= 5  # the stored one not again


def test_watch_once_through_the_cli_then_a_304(server: FeedServer, real_embedder) -> None:  # type: ignore[no-untyped-def]
    url = server.feed("/rss", [Item(1), Item(2, full=True)])
    runner = CliRunner()
    assert runner.invoke(cli, ["feeds", "add", url], obj={}).exit_code == 0
    first = runner.invoke(cli, ["watch", "--once", "--every", "1s"], obj={})
    assert first.exit_code == 0, first.output
    assert "1 of 1 feeds polled: 2 new articles, 0 errors" in first.stdout
    time.sleep(1.2)
    second = runner.invoke(cli, ["watch", "--once", "--every", "1s"], obj={})
    assert second.exit_code == 0 and "1 of 1 feeds polled: 0 new articles, 0 errors" in second.stdout
    assert server.not_modified["/rss"] == 1 and server.hits["/articles/1.html"] == 1
    listed = runner.invoke(cli, ["feeds", "list"], obj={}).stdout
    assert "not modified" in listed and "2 articles" in listed and "(Invented Gazette)" in listed
    stats = runner.invoke(cli, ["stats", "--json"], obj={})
    assert '"articles": 2' in stats.stdout


def _newsbot(*args: str, home: Path, **kw) -> subprocess.Popen[str]:  # type: ignore[no-untyped-def]
    env = dict(os.environ, NEWSBOT_HOME=str(home), NEWSBOT_ALLOW_PRIVATE_URLS="127.0.0.1")
    return subprocess.Popen([sys.executable, "-m", "bot.cli", *args], cwd=ROOT, env=env, text=True, **kw)


def _wait_for(condition, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.mark.slow
def test_sigterm_stops_watch_cleanly_and_saves_state(server: FeedServer, isolated_home: Path, tmp_path: Path) -> None:
    url = server.feed("/rss", [Item(1), Item(2), Item(3)])
    server.holds["/articles/1.html"] = hold = threading.Event()  # the last entry's page waits for us
    assert CliRunner().invoke(cli, ["feeds", "add", url], obj={}).exit_code == 0
    log = (tmp_path / "watch.log").open("w+")
    watch = _newsbot("-v", "watch", "--every", "1h", home=isolated_home, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_for(lambda: server.hits["/articles/1.html"] == 1, 120, "the watcher to ask for the last page")
        time.sleep(3)  # the two pages already served are parsed meanwhile (0.5 s was too short on a loaded machine)
        watch.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        hold.set()  # the page comes after the stop: the last article is not ingested
        assert watch.wait(timeout=180) == 0
    finally:
        watch.kill()
    log.seek(0)
    output = log.read()
    assert "stopping" in output and "stopped after 2 new" in output, output

    runner = CliRunner()
    stats = runner.invoke(cli, ["stats", "--json"], obj={}).stdout
    assert '"articles": 2' in stats
    listed = runner.invoke(cli, ["feeds", "list"], obj={}).stdout
    assert "stopped after 2 new" in listed and "2 articles" in listed and "next poll: due" in listed
    rest = runner.invoke(cli, ["watch", "--once"], obj={})  # the next run reads only the rest
    assert "1 new articles" in rest.stdout, rest.output
    assert server.hits["/articles/2.html"] == server.hits["/articles/3.html"] == 1


class StaleChat(AssertionError):
    """The running chat did not see what another process stored (only this may be xfail)."""


@pytest.mark.slow
def test_a_running_chat_answers_from_what_a_running_watcher_ingests(server: FeedServer, isolated_home: Path, tmp_path: Path) -> None:
    """The issue's end-to-end case: nothing is restarted, the news reaches the chat on its own."""
    from tests.test_repl import Chat

    url = server.feed("/rss", [Item(0), Item(1, full=True)])
    runner = CliRunner()
    assert runner.invoke(cli, ["feeds", "add", url], obj={}).exit_code == 0
    assert "2 new articles" in runner.invoke(cli, ["watch", "--once"], obj={}).stdout
    chat = Chat(isolated_home)
    log = (tmp_path / "watch.log").open("w+")
    watch = _newsbot("watch", "--every", "1s", home=isolated_home, stdout=log, stderr=subprocess.STDOUT)
    try:
        chat.prompt(timeout=30)
        assert "forty rare pear trees" in chat.say("How many rare pear trees did the Brackenfold volunteers replant in the orchard?")

        server.feed("/rss", [Item(0), Item(1, full=True), Item(4)])  # Harrowgate, the new story
        _wait_for(lambda: "1 new" in Path(log.name).read_text(), 180, "the watcher to ingest the new entry")
        question = "Who led the volunteers who repainted the Harrowgate lighthouse violet?"
        fresh = subprocess.run([sys.executable, "-m", "bot.cli", "ask", question], cwd=ROOT, capture_output=True,
                               text=True, timeout=300, env=dict(os.environ, NEWSBOT_HOME=str(isolated_home)))  # fmt: skip
        assert "Quarrington" in fresh.stdout, fresh.stdout + fresh.stderr  # it is stored and answerable
        out = chat.say(question)
        if "Quarrington" not in out:
            raise StaleChat(f"the running chat did not see the new article:\n{out[-500:]}")
    finally:
        watch.send_signal(signal.SIGTERM)
        assert watch.wait(timeout=120) == 0
        chat.close()


@pytest.mark.slow
def test_chat_watch_ingests_in_the_same_process(server: FeedServer, isolated_home: Path) -> None:
    import pexpect
    from tests.test_repl import Chat

    url = server.feed("/rss", [Item(1, full=True)])
    runner = CliRunner()
    assert runner.invoke(cli, ["feeds", "add", url], obj={}).exit_code == 0
    assert "1 new articles" in runner.invoke(cli, ["watch", "--once"], obj={}).stdout
    server.feed("/rss", [Item(1, full=True), Item(4)])
    chat = Chat(isolated_home, "--watch", NEWSBOT_ALLOW_PRIVATE_URLS="127.0.0.1", NEWSBOT_WATCH_EVERY="1s")
    try:
        chat.prompt(timeout=30)
        _wait_for(lambda: server.hits["/articles/4.html"] == 1, 120, "chat --watch to fetch the new page")
        for _ in range(10):
            out = chat.say("Who led the volunteers who repainted the Harrowgate lighthouse violet?")
            if "Quarrington" in out:
                break
            time.sleep(2)
        assert "Quarrington" in out, out
        assert "INFO" not in chat.screen() and "Traceback" not in chat.screen()  # the watcher kept quiet
        chat.child.send("/quit\r")
        chat.child.expect(pexpect.EOF, timeout=30)
        chat.child.close()
        assert chat.child.exitstatus == 0
    finally:
        chat.close()
