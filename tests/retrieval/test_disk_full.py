"""Hardening, fault 3: the disk fills during ingest. The index is left consistent, the user is told
so in one clear message (how much was stored, that a rerun continues), and a rerun after space is
freed completes, storing every article exactly once.

The disk is a real small tmpfs when this machine lets the test mount one (root, CAP_SYS_ADMIN); else
a full disk is simulated by an OSError(ENOSPC) from ChromaStore.upsert after a few writes. Both ways
must give the same outcomes. What Chroma itself does on a full disk (found on tmpfs, chromadb 1.5):
the log write fails with sqlite's "database or disk is full"; or the log is written and compaction
fails ("Failed to apply logs to the metadata segment"), after which every read fails until space is
freed; or the HNSW segment's index_metadata.pickle is truncated, which no freeing of space repairs.
So ingest stops before a write the disk has no room for (`_check_room` in the ingester).
"""

from __future__ import annotations

import errno
import json
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from retrieval import NewsbotError, NewsDesk, Settings
from retrieval.index.disk_room import RESERVE_FLOOR, DiskFullError
from retrieval.index.store import ChromaStore
from tests.conftest import ROOT
from tests.fakes import HashingEmbedder

MiB = 2**20
N_ARTICLES = 160
BATCH = 96  # chunks embedded per write: seven writes for the whole input
CHUNK_TOKENS = 60
FAIL_AFTER = 2  # simulated: writes that succeed before the disk "fills"
ROOM = 5 * MiB  # tmpfs: what is free beyond the ingester's reserve floor when the ingest starts
FILLER = 32 * MiB  # tmpfs: deleted to free space for the rerun

# the CLI with the fast fake embedder (the same signature as the desk's below, so stored articles count
# as unchanged); when simulating, every ChromaStore.upsert after the first FAIL_AFTER raises ENOSPC
CLI = """
import errno, sys
import retrieval.desk
from tests.fakes import HashingEmbedder
retrieval.desk.MiniLMEmbedder = lambda **_: HashingEmbedder()
if sys.argv[1] == "simulated":
    from retrieval.index.store import ChromaStore
    upsert, calls = ChromaStore.upsert, []
    def failing(self, *args):
        calls.append(1)
        if len(calls) > {fail_after}:
            raise OSError(errno.ENOSPC, "No space left on device")
        upsert(self, *args)
    ChromaStore.upsert = failing
from bot.cli import cli
cli(sys.argv[2:], obj={{}})
""".format(fail_after=FAIL_AFTER)


def article_records(n: int) -> list[dict[str, object]]:
    """Distinct articles (random words: no two alike enough to be folded as one story)."""
    rng = random.Random(3)
    vocabulary = sorted({"".join(rng.choice("bcdfghklmnprstvz") + rng.choice("aeiou") for _ in range(3)) for _ in range(3000)})
    records = []
    for i in range(n):
        sentences = [" ".join(rng.choices(vocabulary, k=12)).capitalize() + "." for _ in range(25)]
        records.append({"url": f"https://news.example/{i}", "source": "Example News", "title": f"Story {i}",
                        "authors": [], "published": f"2025-01-{1 + i % 28:02d}", "text": " ".join(sentences)})
    return records


@dataclass
class SmallDisk:
    home: Path
    mode: str  # "tmpfs" or "simulated"
    filler: Path | None = None
    simulation: pytest.MonkeyPatch | None = None

    def free_space(self) -> None:
        if self.filler is not None:
            self.filler.unlink()
        if self.simulation is not None:
            self.simulation.undo()


def _mount(where: Path, size: int) -> bool:
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                              capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def _stop_chroma_under(where: Path) -> None:
    """A local Chroma system keeps its files open; the disk cannot be unmounted under it."""
    from chromadb.api.shared_system_client import SharedSystemClient

    for identifier in [i for i in SharedSystemClient._identifier_to_system if i.startswith(str(where))]:
        try:
            SharedSystemClient._identifier_to_system.pop(identifier).stop()
        except Exception:
            pass


@contextmanager
def small_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    where = tmp_path / "disk"
    where.mkdir()
    if not _mount(where, RESERVE_FLOOR + ROOM + FILLER):
        upsert, calls = ChromaStore.upsert, []

        def failing(self, *args):  # type: ignore[no-untyped-def]
            calls.append(1)
            if len(calls) > FAIL_AFTER:
                raise OSError(errno.ENOSPC, "No space left on device")
            upsert(self, *args)

        with pytest.MonkeyPatch.context() as simulation:
            simulation.setattr(ChromaStore, "upsert", failing)
            yield SmallDisk(where / "home", "simulated", simulation=simulation)
        return
    try:
        filler = where / "filler"
        with filler.open("wb") as f:
            for _ in range(FILLER // MiB):
                f.write(b"\0" * MiB)
        yield SmallDisk(where / "home", "tmpfs", filler)
    finally:
        _stop_chroma_under(where)
        if subprocess.run(["umount", str(where)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(where)], capture_output=True)


def desk_on(home: Path) -> NewsDesk:
    settings = Settings(home=home, llm="extractive", ingest_batch=BATCH, chunk_tokens=CHUNK_TOKENS)
    return NewsDesk(settings, HashingEmbedder())


def complete_articles(desk: NewsDesk) -> int:
    """Every article the store holds has all its chunks, of one version, each once."""
    states = desk.store.article_states()
    for article_id, state in states.items():
        assert len(state.chunks) == 1, f"{article_id} is stored in two versions: {state.chunks}"
        (version,) = state.chunks
        assert state.complete(version), f"{article_id} is half-stored: {state.chunks} of {state.expected}"
    chunks = list(desk.store.scan(include_text=False))
    assert len(chunks) == len({c.id for c in chunks}) == sum(s.expected[h] for s in states.values() for h in s.chunks)
    return len(states)


def assert_says_disk_full(message: str, home: Path, stored: int | None = None) -> None:
    assert "disk is full" in message and str(home / "chroma") in message, message
    assert "run ingest again" in message and "continues where it stopped" in message, message
    if stored is not None:
        assert f"after storing {stored} article" in message, message
    assert "Traceback" not in message and "chromadb" not in message, message


def test_a_full_disk_stops_ingest_cleanly_and_a_rerun_completes(tmp_path: Path) -> None:
    data = tmp_path / "articles.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in article_records(N_ARTICLES)))
    with small_disk(tmp_path) as disk:
        print(f"\nthe disk: {disk.mode}")
        # 1. the ingest runs out of space part-way: one clear error, saying what was stored
        with pytest.raises(DiskFullError) as raised:
            desk_on(disk.home).ingest([data])
        error = raised.value
        assert isinstance(error, NewsbotError) and 0 < error.stored < N_ARTICLES, (disk.mode, error.stored)
        assert_says_disk_full(str(error), disk.home, error.stored)
        print(f"ingest: {error}")

        # 2. the index is consistent: a fresh desk opens it, every article in it is whole, search works
        desk = desk_on(disk.home)
        assert complete_articles(desk) == error.stored
        some = next(iter(desk.store.article_states()))
        words = " ".join(desk.article_text(some).split()[:8])
        assert some in [hit.article_id for hit in desk.search(words, k=3).articles]

        # 3. what `newsbot ingest` prints on a full disk: one line, no traceback
        env = dict(os.environ, NEWSBOT_HOME=str(disk.home), NEWSBOT_INGEST_BATCH=str(BATCH),
                   NEWSBOT_CHUNK_TOKENS=str(CHUNK_TOKENS), NEWSBOT_LLM="extractive")
        cli = subprocess.run([sys.executable, "-c", CLI, disk.mode, "ingest", "--no-progress", str(data)],
                             env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert cli.returncode == 1 and cli.stdout == "", (cli.stdout, cli.stderr)
        assert cli.stderr.startswith("Error: the disk is full") and cli.stderr.count("\n") == 1, cli.stderr
        assert_says_disk_full(cli.stderr, disk.home)
        print(f"newsbot ingest: {cli.stderr}")

        # 4. space freed, the rerun completes: every article once, those stored before unchanged
        before = complete_articles(desk_on(disk.home))
        assert before >= error.stored
        disk.free_space()
        report = desk_on(disk.home).ingest([data])
        assert report.failed == [] and (report.duplicates, report.folded, report.updated) == (0, 0, 0)
        assert (report.unchanged, report.new) == (before, N_ARTICLES - before)
        assert complete_articles(desk_on(disk.home)) == N_ARTICLES
