"""How fast new news reaches a running bot, and what keeping up costs it.

    .venv/bin/python benchmarks/freshness.py --home ~/.local/share/newsbot/eval/articles-ab581dffd5c7

Works on a copy of the given index (the eval index: 8,210 articles, ~90k chunks), never on the
index itself. Prints:

1. catch-up: the CPU a running process spends to see 1 and 100 articles another process
   ingested (reading the change log, fetching and tokenising the new chunks, rebuilding the
   delta BM25), and its first search after (which reopens a local store's vector index),
   beside a steady search and beside a full rebuild of the lexical index (what it cost before);
2. feed → answerable: seconds from an item appearing in a feed on 127.0.0.1 to a running
   desk finding it, with `newsbot watch` polling in another process;
3. idle polls: wall and CPU time of one poll of 200 unchanged feeds (all 304).

Sections 2 and 3 run the real watcher; `--skip-feeds` leaves them out. Section 3 uses a home of
its own, so its 200 subscriptions stay out of the index copy.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import random
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from retrieval import NewsDesk, Settings  # noqa: E402
from retrieval.feeds import FeedRegistry, Watcher  # noqa: E402
from retrieval.index.embeddings import Embedder  # noqa: E402
from retrieval.ingest.fetch import FetchPolicy  # noqa: E402
from tests.feedserver import Item, serving  # noqa: E402

ARTICLES = ROOT.parent / "shared" / "data" / "realtimeqa" / "articles.jsonl"
WRITE = """
import json, sys
from pathlib import Path
from retrieval import NewsDesk, Settings
from retrieval.ingest.loaders import record_to_article
records = [json.loads(line) for line in open(sys.argv[2])]
report = NewsDesk(Settings(home=Path(sys.argv[1]))).ingest_items(record_to_article(r, "bench") for r in records)
print(json.dumps(report.to_dict()))
"""


def synthetic_articles(n: int, seed: int) -> list[dict[str, object]]:
    """New articles made of sentences from ten random real ones each: new text, real vocabulary,
    and no near-copy of a stored article (so nothing is folded away as syndication)."""
    rng = random.Random(seed)
    with ARTICLES.open() as f:
        texts = [t for line in f if (t := json.loads(line).get("text"))]
    out = []
    for i in range(n):
        sentences = [s for t in rng.sample(texts, 10) for s in rng.sample(t.split(". "), min(4, t.count(". ") + 1))]
        out.append({
            "url": f"https://bench.example/{seed}/{i}", "source": "Bench Wire", "title": f"Bench story {seed}-{i}",
            "published": "2025-06-01", "text": ". ".join(sentences) + f". Marker zq{seed}x{i}.",
        })
    return out


def cpu() -> float:
    return time.process_time()


def catch_up(home: Path, sizes: list[int]) -> None:
    desk = NewsDesk(Settings.from_env(home=home, refresh_seconds=0.0))
    t, c = time.perf_counter(), cpu()
    index = desk.lexical()  # loads the cached main index or builds it
    print(f"lexical index ready: {len(index):,} chunks, {time.perf_counter() - t:.1f} s wall, {cpu() - c:.1f} s CPU")
    t, c = time.perf_counter(), cpu()
    from retrieval.index.lexical import LexicalIndex

    LexicalIndex.build(desk.store)
    rebuild = (time.perf_counter() - t, cpu() - c)
    print(f"full rebuild from the store (what every change cost before): {rebuild[0]:.1f} s wall, {rebuild[1]:.1f} s CPU")
    query = "What did the central bank decide about interest rates?"
    desk.search(query)
    steady = []
    for _ in range(5):
        c = cpu()
        desk.search(query)
        steady.append(cpu() - c)
    print(f"steady search: {sorted(steady)[2] * 1000:.0f} ms CPU (median of 5)")
    print("| articles added by another process | chunks | catch-up CPU | first search after, CPU | found by search |")
    print("|---:|---:|---:|---:|---|")
    for seed, n in enumerate(sizes, 1):
        records = synthetic_articles(n, seed)
        with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
            f.write("".join(json.dumps(r) + "\n" for r in records))
        done = subprocess.run([sys.executable, "-c", WRITE, str(home), f.name], cwd=ROOT, capture_output=True, text=True)
        os.unlink(f.name)
        if done.returncode != 0:
            raise SystemExit(done.stderr)
        report = json.loads(done.stdout.strip().splitlines()[-1])
        c = cpu()
        before = len(desk.lexical().delta)
        catch = cpu() - c
        c = cpu()
        result = desk.search(f"Bench story {seed}-{n - 1} zq{seed}x{n - 1}")
        first = cpu() - c
        found = any(a.url == f"https://bench.example/{seed}/{n - 1}" for a in result.articles)
        print(f"| {n} | {report['chunks']:,} (delta now {before:,}) | {catch:.2f} s | {first:.2f} s | {found} |")


# --- 2. feed → answerable ----------------------------------------------------------------------

FEED_PATH = "/bench/rss"
STORED = re.compile(r": [1-9]\d* new, ")  # the watcher's log line once a feed's new entries are stored


class StampedHits(Counter[str]):
    """The feed server's request counter, noting when each request came: the first feed request
    after an item appears is the poll that picks it up."""

    def __init__(self) -> None:
        super().__init__()
        self.at: list[tuple[str, float]] = []

    def __setitem__(self, path: str, count: int) -> None:
        self.at.append((path, time.monotonic()))
        super().__setitem__(path, count)

    def first(self, path: str, after: float) -> float:
        return next((t for p, t in self.at if p == path and t >= after), float("nan"))


@dataclass
class Story(Item):
    """A feed item with a text of its own: the feed server's items on one topic are near-copies,
    which the ingester would fold into one story. Its marker word makes it findable."""

    record: dict[str, object] = field(default_factory=dict)

    @property
    def title(self) -> str:
        return str(self.record["title"])

    @property
    def text(self) -> str:
        return str(self.record["text"])

    @property
    def query(self) -> str:
        """Its marker alone: no other article has it, so it ranks first in the lexical half once
        the desk has it (with the title too, other "Bench story" articles found by both halves
        outrank it in the fusion, and a stored item would go unseen)."""
        return self.text.rsplit(" ", 1)[-1].rstrip(".")


class WatchProcess:
    """`newsbot watch --every 2s` on `home` in another process, each log line kept with the time
    it arrived: its "1 new" line comes once the item is stored (and the feed's state saved)."""

    def __init__(self, home: Path) -> None:
        env = dict(os.environ, NEWSBOT_HOME=str(home), NEWSBOT_ALLOW_PRIVATE_URLS="127.0.0.1")
        cmd = [sys.executable, "-m", "bot.cli", "--home", str(home), "watch", "--every", "2s"]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[tuple[float, str]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append((time.monotonic(), line.rstrip()))

    def stored(self, since: int, wait: float = 10.0) -> float:
        """When the first store after log line `since` was logged (NaN if none within `wait` s)."""
        deadline = time.monotonic() + wait
        while True:
            for at, line in self.lines[since:]:
                if STORED.search(line):
                    return at
            if time.monotonic() > deadline:
                return float("nan")
            time.sleep(0.1)

    def log(self) -> str:
        return "\n".join([line for _, line in self.lines if "not modified" not in line][-20:])

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


def found(desk: NewsDesk, story: Story, timeout: float = 300) -> tuple[float, float, list[str]]:
    """Search every 0.2 s until the story is among the results: (when, seconds that search took,
    the catch-up included, the searches that failed meanwhile)."""
    deadline, failed = time.monotonic() + timeout, []
    while time.monotonic() < deadline:
        start = time.monotonic()
        try:
            result = desk.search(story.query)
        except Exception as e:  # counted and shown: what a user asking then would have got
            failed.append(f"{type(e).__name__}: {e}")
        else:
            if any(a.url.endswith(f"/articles/{story.n}.html") for a in result.articles):
                end = time.monotonic()
                return end, end - start, failed
        time.sleep(0.2)
    raise SystemExit(f"item {story.n} was not found in {timeout:.0f} s; {len(failed)} searches failed {failed[-1:]}")


def feed_to_answer(
    home: Path, rounds: int = 3, embedder: Embedder | None = None
) -> tuple[list[dict[str, float]], int]:
    """A desk in this process (as a running bot holds one) asked continuously, once with the
    default refresh and once refreshing every second, while `newsbot watch` ingests in another.
    A bot asked after a quiet spell catches up on that question, so this is the slow side."""
    records = synthetic_articles(2 * rounds + 1, seed=100)
    stories: list[Story] = []
    rows: list[dict[str, float]] = []
    errors: list[str] = []
    with serving() as server:
        server.hits = hits = StampedHits()

        def publish() -> Story:
            stories.append(Story(len(stories), full=True, record=records[len(stories)]))
            server.feed(FEED_PATH, stories, title="Bench Wire")
            return stories[-1]

        first = publish()
        settings = Settings.from_env(home=home)
        desk = NewsDesk(settings, embedder)
        FeedRegistry.for_desk(desk).add(server.url(FEED_PATH))
        start = time.monotonic()
        watcher = WatchProcess(home)
        try:
            errors += found(desk, first, timeout=600)[2]  # the watcher has loaded its model once this is found
            print(f"watcher ready, desk warm: the first item found {time.monotonic() - start:.0f} s after starting both")
            origin = "NEWSBOT_REFRESH_SECONDS" if os.environ.get("NEWSBOT_REFRESH_SECONDS") else "the default"
            print(f"desk refresh_seconds={settings.refresh_seconds:g} ({origin}), then 1; watcher `--every 2s`; "
                  "the desk searches every 0.2 s")  # fmt: skip
            print("| desk refresh | round | waiting for the poll | fetch, embed, store | stored → found by the desk "
                  "(the search that found it) | item → found | searches failed |")  # fmt: skip
            print("|---:" * 7 + "|")
            for refresh in dict.fromkeys([settings.refresh_seconds, 1.0]):
                if refresh != desk.settings.refresh_seconds:
                    desk = NewsDesk(replace(settings, refresh_seconds=refresh), desk.embedder)
                    errors += found(desk, first, timeout=600)[2]  # loads its lexical index
                for n in range(1, rounds + 1):
                    mark = len(watcher.lines)
                    story = publish()
                    t0 = time.monotonic()
                    at, search, failed = found(desk, story)
                    errors.extend(failed)
                    stored, polled = watcher.stored(mark), hits.first(FEED_PATH, t0)
                    row = {"refresh": refresh, "total": at - t0, "polled": polled - t0, "stored": stored - t0,
                           "seen": at - stored, "search": search, "failed": len(failed)}  # fmt: skip
                    rows.append(row)
                    print(f"| {refresh:g} s | {n} | {row['polled']:.1f} s | {stored - polled:.1f} s "
                          f"| {row['seen']:.1f} s ({search:.2f} s) | {row['total']:.1f} s | {len(failed)} |")  # fmt: skip
        except BaseException:
            print("the watcher's last lines:\n" + watcher.log(), file=sys.stderr)
            raise
        finally:
            code = watcher.stop()
    for refresh in dict.fromkeys(r["refresh"] for r in rows):
        mine = [r for r in rows if r["refresh"] == refresh]
        med = {k: statistics.median(r[k] for r in mine) for k in ("total", "stored", "seen")}
        print(f"median item → found, desk refresh {refresh:g} s: {med['total']:.1f} s "
              f"(watcher stored it after {med['stored']:.1f} s, the desk saw it {med['seen']:.1f} s later)")  # fmt: skip
    if errors:
        print(f"{len(errors)} of the desk's searches raised (warm-up included), e.g. `{errors[0][:200]}`")
    print(f"watcher stopped by SIGTERM: exit code {code}")
    return rows, code


# --- 3. idle polls ---------------------------------------------------------------------------------

SERVE = """
import json, sys
from tests.feedserver import Item, serving
with serving() as server:  # every feed: one item, the same in all (stored once), its own title and ETag
    urls = [server.feed(f"/idle/{i}", [Item(1)], title=f"Idle feed {i}") for i in range(int(sys.argv[1]))]
    print(json.dumps(urls), flush=True)
    for _ in sys.stdin:
        print(json.dumps([sum(server.hits.values()), sum(server.not_modified.values())]), flush=True)
"""


def idle_polls(home: Path, feeds: int = 200, concurrency: int = 4) -> dict[str, float]:
    """The cost of a watcher when nothing changed: one conditional GET and one saved state per
    feed. The server runs in another process, so this process's CPU is the watcher's alone."""
    server = subprocess.Popen([sys.executable, "-c", SERVE, str(feeds)], cwd=ROOT, text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)  # fmt: skip
    assert server.stdin is not None and server.stdout is not None

    def counters() -> list[int]:
        server.stdin.write("\n")
        server.stdin.flush()
        return json.loads(server.stdout.readline())

    try:
        urls = json.loads(server.stdout.readline())
        desk = NewsDesk(Settings.from_env(home=home))
        registry = FeedRegistry.for_desk(desk)
        for url in urls:
            registry.add(url)
        policy = FetchPolicy(allow=(ipaddress.ip_network("127.0.0.1/32"),))
        t = time.perf_counter()
        primed = Watcher(desk, registry, every=600, concurrency=concurrency, policy=policy).poll_once()
        print(f"first poll of {feeds} feeds (each answered 200; their one shared item stored once, loading the model): "
              f"{time.perf_counter() - t:.1f} s wall, {sum(r.ok for r in primed)} ok")  # fmt: skip
        hits, unchanged = counters()
        again = Watcher(desk, registry, every=0.001, concurrency=concurrency, policy=policy)  # all due again
        t, c = time.perf_counter(), cpu()
        results = again.poll_once()
        wall, used = time.perf_counter() - t, cpu() - c
        hits2, unchanged2 = counters()
    finally:
        server.stdin.close()
        server.wait(timeout=30)
    figures = {"feeds": len(results), "requests": hits2 - hits, "not_modified": unchanged2 - unchanged,
               "wall": wall, "cpu": used}  # fmt: skip
    print(f"idle poll of {len(results)} unchanged feeds, {concurrency} fetches at a time: "
          f"{figures['not_modified']} of {figures['requests']} requests answered 304")  # fmt: skip
    print(f"| feeds | wall | CPU | wall per feed | CPU per feed |\n|---:|---:|---:|---:|---:|\n"
          f"| {len(results)} | {wall:.2f} s | {used:.2f} s | {wall / max(1, len(results)) * 1000:.1f} ms "
          f"| {used / max(1, len(results)) * 1000:.1f} ms |")  # fmt: skip
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, required=True, help="an ingested NEWSBOT_HOME (copied, never written)")
    parser.add_argument("--sizes", default="1,100", help="articles added per step")
    parser.add_argument("--rounds", type=int, default=3, help="items timed per desk refresh setting (section 2)")
    parser.add_argument("--feeds", type=int, default=200, help="unchanged feeds polled (section 3)")
    parser.add_argument("--skip-feeds", action="store_true")
    args = parser.parse_args()
    print("load average at the start: " + ", ".join(f"{x:.1f}" for x in os.getloadavg()) + f" ({os.cpu_count()} cores)")
    with tempfile.TemporaryDirectory(prefix="newsbot-fresh-") as tmp:
        home = Path(tmp) / "home"
        shutil.copytree(args.home, home)
        catch_up(home, [int(s) for s in args.sizes.split(",")])
        if not args.skip_feeds:
            feed_to_answer(home, args.rounds)
            idle_polls(Path(tmp) / "idle-home", args.feeds)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory of this process: {peak:,.0f} MB")


if __name__ == "__main__":
    main()
