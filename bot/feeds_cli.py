"""`newsbot feeds …` and `newsbot watch`, and the watcher thread behind `chat/slack --watch`.

Kept apart from bot/cli.py so each stays readable; bot/cli.py registers these commands with
its own desk factory and error translation (`add_feed_commands`), so nothing here imports it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from retrieval import NewsDesk
    from retrieval.feeds import FeedRegistry, FeedState, Watcher

DeskFactory = Callable[[click.Context], "NewsDesk"]


def every_option(name: str = "--every", text: str = "") -> Callable[[Any], Any]:
    def parse(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
        from retrieval import NewsbotError
        from retrieval.feeds import parse_duration

        try:
            return None if value is None else parse_duration(value, name)
        except NewsbotError as e:
            raise click.BadParameter(str(e)) from None

    return click.option(name, "every", callback=parse, metavar="DURATION", help=text)


def make_watcher(desk: "NewsDesk", every: int | None = None, concurrency: int = 4) -> "Watcher":
    from retrieval.feeds import FeedRegistry, Watcher

    return Watcher(desk, FeedRegistry.for_desk(desk), every=every, concurrency=concurrency)


@contextlib.contextmanager
def watching(enabled: bool, desk: Callable[[], "NewsDesk"], every: int | None = None) -> Iterator[None]:
    """Run a watcher in a daemon thread around a front-end (`chat --watch`, `slack --watch`)."""
    if not enabled:
        yield
        return
    watcher = make_watcher(desk(), every)
    stop = threading.Event()
    thread = threading.Thread(target=watcher.run, args=(stop,), name="newsbot-watch", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)  # let it save what it ingested; a slow fetch is not waited for


def _stop_on_signals(stop: threading.Event) -> None:
    """SIGTERM / Ctrl-C: finish the current article, save, exit 0. A second one quits at once."""

    def handler(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise SystemExit(128 + signum)
        logging.getLogger("retrieval.feeds").info("stopping: saving what was ingested…")
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, handler)


def _describe(feed: "FeedState", now: float) -> list[str]:
    from retrieval.feeds import human_duration, relative

    every = f"every {human_duration(feed.every)}" if feed.every else "default interval"
    due = "due" if feed.next_poll <= now else relative(feed.next_poll, now)
    polled = f"polled {relative(feed.last_poll, now)}" if feed.last_poll else "never polled"
    status = f" · {feed.last_status}" if feed.last_status else ""
    return [
        feed.url + (f"  ({feed.title})" if feed.title else ""),
        f"    {polled}{status} · {feed.articles} articles · next poll: {due} · {every}",
    ]


def add_feed_commands(cli: click.Group, desk: DeskFactory, guarded: Callable[[Any], Any]) -> None:
    """Register `feeds` and `watch` on the `newsbot` group."""

    def registry(ctx: click.Context) -> "FeedRegistry":
        from retrieval.feeds import FeedRegistry

        return guarded(lambda: FeedRegistry.for_desk(desk(ctx)))  # type: ignore[no-any-return]

    @cli.group()
    def feeds() -> None:
        """Subscribe to RSS/Atom feeds that `newsbot watch` keeps ingesting."""

    @feeds.command("add")
    @click.argument("urls", nargs=-1, required=True)
    @every_option(text="Poll these feeds this often (30s, 10m, 1h30m) instead of the watcher's interval.")
    @click.pass_context
    def feeds_add(ctx: click.Context, urls: tuple[str, ...], every: int | None) -> None:
        """Subscribe to the feeds at URLS (re-adding one changes its --every)."""
        from retrieval import ConfigError, NewsbotError

        feeds_, bad = registry(ctx), 0
        for url in urls:
            try:
                feed, created = feeds_.add(url, every=every)
            except ConfigError as e:
                click.echo(f"invalid: {e}", err=True)
                bad += 1
                continue
            except NewsbotError as e:
                raise click.ClickException(str(e)) from e
            click.echo(f"{'added' if created else 'already subscribed'}: {feed.url}")
        ctx.exit(1 if bad else 0)

    @feeds.command("import")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False))
    @every_option(text="Poll the imported feeds this often (30s, 10m, 1h30m).")
    @click.pass_context
    def feeds_import(ctx: click.Context, file: str, every: int | None) -> None:
        """Subscribe to every feed of an OPML file, as feed readers export them."""
        from retrieval.feeds import import_opml

        report = guarded(lambda: import_opml(registry(ctx), Path(file), every=every))
        for name, reason in report.invalid:
            click.echo(f"invalid: {name}: {reason}", err=True)
        click.echo(report.summary())

    @feeds.command("list")
    @click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
    @click.pass_context
    def feeds_list(ctx: click.Context, as_json: bool) -> None:
        """The subscribed feeds: last poll and its status, articles ingested, next poll."""
        subscribed = guarded(registry(ctx).list)
        if as_json:
            click.echo(json.dumps([f.to_dict() for f in subscribed], indent=2))
            return
        if not subscribed:
            click.echo("no feeds yet: `newsbot feeds add URL` or `newsbot feeds import FILE.opml`")
        now = time.time()
        for feed in subscribed:
            click.echo("\n".join(_describe(feed, now)))

    @feeds.command("remove")
    @click.argument("urls", nargs=-1, required=True)
    @click.pass_context
    def feeds_remove(ctx: click.Context, urls: tuple[str, ...]) -> None:
        """Unsubscribe (the articles already ingested stay)."""
        feeds_, missing = registry(ctx), 0
        for url in urls:
            if guarded(lambda: feeds_.remove(url)):
                click.echo(f"removed: {url}")
            else:
                click.echo(f"not subscribed: {url}", err=True)
                missing += 1
        ctx.exit(1 if missing else 0)

    @cli.command()
    @every_option(text="Poll feeds this often (30s, 10m, 1h30m) unless a feed asks for longer or sets its own; default $NEWSBOT_WATCH_EVERY or 10m.")
    @click.option("--once", is_flag=True, help="Poll every due feed once, then exit (for cron and tests).")
    @click.option("--concurrency", type=click.IntRange(1, 64), default=4, show_default=True, help="Fetches at a time.")
    @click.pass_context
    def watch(ctx: click.Context, every: int | None, once: bool, concurrency: int) -> None:
        """Keep ingesting the subscribed feeds; SIGTERM or Ctrl-C stops after saving."""
        logging.getLogger("retrieval.feeds").setLevel(min(logging.INFO, logging.getLogger().level))
        watcher = guarded(lambda: make_watcher(desk(ctx), every, concurrency))
        count = len(guarded(watcher.registry.list))
        if not count:
            click.echo("no feeds yet: `newsbot feeds add URL` or `newsbot feeds import FILE.opml`", err=True)
        if once:
            results = guarded(watcher.poll_once)
            errors = sum(not r.ok for r in results)
            click.echo(f"{len(results)} of {count} feeds polled: {sum(r.new for r in results)} new articles, {errors} errors")
            return
        stop = threading.Event()
        _stop_on_signals(stop)
        click.echo(f"watching {count} feeds; Ctrl-C stops", err=True)
        watcher.run(stop)
