"""A running process's lexical index follows what any process writes, and no kill leaves it stale."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from retrieval import NewsDesk, Settings
from retrieval.index import changes as changes_module
from retrieval.index.lexical import LexicalIndex

from tests.conftest import ROOT
from tests.fakes import HashingEmbedder
from tests.retrieval.test_ingest import record, story, write_jsonl

# a writer process with the fake embedder, printing one line per article it has handed over
WRITER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from retrieval import NewsDesk, Settings
    from tests.fakes import HashingEmbedder
    desk = NewsDesk(Settings(home=Path(sys.argv[1]), chunk_tokens=60, ingest_batch=16), HashingEmbedder())
    report = desk.ingest(sys.argv[2:], progress=lambda n, c: print(n, flush=True))
    print("done", report.new, report.updated, flush=True)
""")


def writer(home: Path, *inputs: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(home), *map(str, inputs)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def desk_at(home: Path) -> NewsDesk:
    return NewsDesk(Settings(home=home, chunk_tokens=60, ingest_batch=16, refresh_seconds=0), HashingEmbedder())


def stored_ids(desk: NewsDesk) -> set[str]:
    return {c.id for c in desk.store.scan(include_text=False)}


def test_a_running_desk_sees_what_another_process_ingests(tmp_path: Path) -> None:
    home = tmp_path / "home"
    reader = desk_at(home)
    reader.ingest([write_jsonl(tmp_path / "a.jsonl", [record(i) for i in range(3)])])
    assert not [a for a in reader.search("zyxquartz turbines").articles if "zyxquartz" in a.passages[0].text]

    news = write_jsonl(tmp_path / "b.jsonl", [record(9, text="The zyxquartz turbines were switched on at dawn. " + story(9))])
    proc = writer(home, news)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err

    hits = reader.search("zyxquartz turbines").articles
    assert hits and hits[0].url == "https://news.example/9"
    passage = hits[0].passages[0]
    assert passage.lexical and passage.dense is not None  # both halves: BM25 delta and the reopened store
    assert reader.lexical().chunk_ids() == stored_ids(reader)


def test_threads_using_a_just_reopened_store_all_get_it(tmp_path: Path) -> None:
    """A search's two halves open the store in two threads right after a refresh reopened it;
    chromadb hands a client made meanwhile a half-started system unless clients are made in turn."""
    desk = desk_at(tmp_path / "home")
    desk.ingest([write_jsonl(tmp_path / "a.jsonl", [record(i) for i in range(3)])])
    expected = desk.store.count()
    for _ in range(20):
        desk.store.reopen()
        start, counts, errors = threading.Barrier(4), [], []

        def count() -> None:
            start.wait()
            try:
                counts.append(desk.store.count())
            except Exception as e:  # noqa: BLE001 - the failure under test is any error
                errors.append(e)

        threads = [threading.Thread(target=count) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors and counts == [expected] * 4


@pytest.mark.parametrize("kill_after", [1, 12, 30])
def test_sigkill_at_any_point_leaves_no_stale_lexical_index(tmp_path: Path, kill_after: int) -> None:
    """An update pass (new versions written, old ones deleted) killed partway, then rerun."""
    home = tmp_path / "home"
    first = write_jsonl(tmp_path / "a.jsonl", [record(i, text=story(i, 20)) for i in range(30)])
    desk_at(home).ingest([first])
    reader = desk_at(home)
    assert reader.lexical().chunk_ids() == stored_ids(reader)

    edited = [record(i, text=story(i, 20) + f" Update {i}: the council voted.") for i in range(30)]
    second = write_jsonl(tmp_path / "b.jsonl", edited + [record(i, text=story(i, 20)) for i in range(30, 45)])
    proc = writer(home, second)
    assert proc.stdout is not None
    for _ in range(kill_after):
        proc.stdout.readline()
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    after_kill = reader.lexical().chunk_ids()
    assert after_kill <= stored_ids(reader)  # never a chunk the store does not have
    assert desk_at(home).lexical().chunk_ids() <= stored_ids(reader)

    rerun = writer(home, second)
    out, err = rerun.communicate(timeout=180)
    assert rerun.returncode == 0 and "done" in out, err
    stored = stored_ids(reader)
    assert reader.lexical().chunk_ids() == stored  # the long-running reader caught up exactly
    assert desk_at(home).lexical().chunk_ids() == stored  # and a fresh one (cached main + log) agrees
    hits = reader.lexical().search("council voted", 500)
    assert len({c.meta["url"] for c in reader.store.get([h.chunk_id for h in hits])}) == 30  # each new version


def test_logged_but_never_written_chunks_are_waited_for_then_dropped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The two crash windows of the write-ahead order, made exact: killed after logging an
    addition (the chunk never appears) or after logging a deletion (the chunk survives)."""
    desk = desk_at(tmp_path / "home")
    desk.ingest([write_jsonl(tmp_path / "a.jsonl", [record(1), record(2)])])
    index = desk.lexical()
    survivor = sorted(stored_ids(desk))[0]
    desk.store.changes.append(add=["ghost:0:0"])
    desk.store.changes.append(delete=[survivor])
    index.catch_up(desk.store)
    assert "ghost:0:0" in index.pending and "ghost:0:0" not in index.chunk_ids()
    assert survivor not in index.chunk_ids() and index.chunk_ids() <= stored_ids(desk)

    monkeypatch.setattr("retrieval.index.lexical.PENDING_SECONDS", 0)
    index.catch_up(desk.store)
    assert not index.pending


def test_a_merge_rebuilds_the_main_index_in_the_background(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("retrieval.index.lexical.MIN_MERGE", 5)
    home = tmp_path / "home"
    desk = desk_at(home)
    desk.ingest([write_jsonl(tmp_path / "a.jsonl", [record(1)])])
    before = desk.lexical()
    desk.ingest([write_jsonl(tmp_path / "b.jsonl", [record(i, text=story(i, 30)) for i in range(2, 8)])])
    desk.lexical()  # catches up, finds the delta too big, starts the merge
    deadline = time.monotonic() + 60
    while desk._merging.is_set() and time.monotonic() < deadline:
        time.sleep(0.1)
    merged = desk.lexical()
    assert merged is not before and not merged.delta
    assert merged.chunk_ids() == stored_ids(desk)


def test_a_cache_of_another_collection_or_too_old_is_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    desk = desk_at(home)
    desk.ingest([write_jsonl(tmp_path / "a.jsonl", [record(1)])])
    desk.lexical()
    cached = LexicalIndex.load_or_build(desk.store, desk.settings.cache_dir)
    assert cached.key == desk.store.key
    monkeypatch.setattr(changes_module, "RETENTION_NS", 0)
    rebuilt = LexicalIndex.load_or_build(desk.store, desk.settings.cache_dir)
    assert rebuilt.cursor.ts > cached.cursor.ts and rebuilt.chunk_ids() == stored_ids(desk)


def test_a_new_chunk_ranks_as_it_would_in_a_full_rebuild(tmp_path: Path) -> None:
    """The delta borrows the main index's statistics: a word rare among the new chunks but
    common in the store must not outrank what a rebuilt index would put first."""
    desk = desk_at(tmp_path / "home")
    desk.ingest([write_jsonl(tmp_path / "a.jsonl", [record(i, text=story(i) + " The harbour reopened.") for i in range(20)])])
    desk.lexical()
    fresh = [record(50, text="Volcanic ash closed the harbour at Quillon. " + story(50)), record(51, text=story(51))]
    desk.ingest([write_jsonl(tmp_path / "b.jsonl", fresh)])
    index = desk.lexical()
    assert index.delta
    query = "volcanic ash harbour"
    live = [(h.chunk_id, round(h.score, 6)) for h in index.search(query, 5)]
    rebuilt = [(h.chunk_id, round(h.score, 6)) for h in LexicalIndex.build(desk.store).search(query, 5)]
    assert live[0][0] == rebuilt[0][0]
    assert [x for _, x in live] == pytest.approx([x for _, x in rebuilt], rel=0.1)  # the rest tie
    (top,) = desk.store.get([live[0][0]])
    assert top.meta["url"] == fresh[0]["url"]


def test_a_search_between_another_process_s_write_and_the_refresh_does_not_fail(tmp_path: Path) -> None:
    """A local store's vector index loaded before another process wrote fails a filtered query
    ("Error finding id") until it is read again: the search must reopen it, not raise."""
    home = tmp_path / "home"
    reader = NewsDesk(Settings(home=home, chunk_tokens=60, refresh_seconds=3600), HashingEmbedder())
    reader.ingest([write_jsonl(tmp_path / "a.jsonl", [record(i) for i in range(3)])])
    assert reader.search("report sentence alpha").articles
    proc = writer(home, write_jsonl(tmp_path / "b.jsonl", [record(i, text=story(i, 25)) for i in range(10, 30)]))
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    for query in ("report sentence alpha", "mentions bravo and charlie", "Report 12 sentence 3"):
        assert reader.search(query).articles  # no exception, before any refresh
