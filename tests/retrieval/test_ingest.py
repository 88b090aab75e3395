"""Ingest is idempotent, replaces changed articles, stores a text once, and survives SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retrieval import NewsDesk, Settings
from retrieval.ingest.chunking import chunk_article, split_sentences
from retrieval.ingest.loaders import make_article

from tests.conftest import ROOT

WORDS = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november".split()


def story(i: int, sentences: int = 12) -> str:
    """A distinct, sentence-rich text for article i."""
    return " ".join(
        f"Report {i} sentence {j} mentions {WORDS[(i + j) % len(WORDS)]} and {WORDS[(i * j) % len(WORDS)]}."
        for j in range(sentences)
    )


def write_jsonl(path: Path, records: list[dict]) -> Path:  # type: ignore[type-arg]
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def record(i: int, **changes: object) -> dict:  # type: ignore[type-arg]
    r = {"url": f"https://news.example/{i}", "source": "Example News", "title": f"Story {i}",
         "authors": [], "published": f"2025/01/{1 + i % 28:02d}", "text": story(i)}
    r.update(changes)
    return r


def all_chunks(desk: NewsDesk) -> list:  # type: ignore[type-arg]
    return list(desk.store.scan())


def test_reingest_adds_nothing_and_embeds_nothing(make_desk, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    desk = make_desk(chunk_tokens=40)
    data = write_jsonl(tmp_path / "a.jsonl", [record(i) for i in range(5)])
    first = desk.ingest([data])
    assert (first.new, first.unchanged, first.failed) == (5, 0, [])
    before = sorted(c.id for c in all_chunks(desk))
    second = desk.ingest([data])
    assert (second.new, second.updated, second.unchanged, second.chunks) == (0, 0, 5, 0)
    assert sorted(c.id for c in all_chunks(desk)) == before


def test_changed_article_replaces_its_old_chunks(make_desk, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    desk = make_desk(chunk_tokens=40)
    desk.ingest([write_jsonl(tmp_path / "a.jsonl", [record(1), record(2)])])
    old = {c.meta["content_hash"] for c in all_chunks(desk) if c.meta["url"].endswith("/1")}
    edited = story(1) + " A correction was appended later."
    report = desk.ingest([write_jsonl(tmp_path / "b.jsonl", [record(1, text=edited), record(2)])])
    assert (report.new, report.updated, report.unchanged) == (0, 1, 1)
    chunks = [c for c in all_chunks(desk) if c.meta["url"].endswith("/1")]
    versions = {c.meta["content_hash"] for c in chunks}
    assert len(versions) == 1 and versions != old and len(old) == 1  # only the new version is left
    assert desk.article_text(chunks[0].article_id).endswith("A correction was appended later.")


def test_same_text_under_two_urls_is_stored_once(make_desk, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    desk = make_desk()
    report = desk.ingest([write_jsonl(tmp_path / "a.jsonl", [record(1), record(1, url="https://mirror.example/1")])])
    assert (report.new, report.duplicates) == (1, 1)
    assert len({c.article_id for c in all_chunks(desk)}) == 1


def test_failures_are_reported_and_the_rest_is_stored(make_desk, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    desk = make_desk()
    (tmp_path / "in").mkdir()
    write_jsonl(tmp_path / "in" / "a.jsonl", [record(1)])
    (tmp_path / "in" / "bad.json").write_text("{oops")
    report = desk.ingest([tmp_path / "in"])
    assert report.new == 1 and [Path(n).name for n, _ in report.failed] == ["bad.json"]
    assert not report.ok


def test_every_chunk_carries_its_article_fields(make_desk, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    desk = make_desk(chunk_tokens=40)
    desk.ingest([write_jsonl(tmp_path / "a.jsonl", [record(3)])])
    chunks = all_chunks(desk)
    assert len(chunks) > 1
    for c in chunks:
        assert c.meta["title"] == "Story 3" and c.meta["source"] == "Example News"
        assert c.meta["url"] == "https://news.example/3" and c.meta["published"] == "2025-01-04"
        assert c.meta["published_ts"] == 1735948800 and c.meta["n_chunks"] == len(chunks)


def test_chunks_end_on_sentences_and_fit_the_model_window(real_embedder) -> None:  # type: ignore[no-untyped-def]
    long_sentence = "word " * 400 + "end."
    article = make_article(body=story(7, 60) + " " + long_sentence, title="T")
    chunks = chunk_article(article, real_embedder.count_tokens, 200)
    counts = real_embedder.count_tokens([c.text for c in chunks])
    assert max(counts) <= 200
    sentences = set(split_sentences(article.body))
    for c in chunks[:-3]:  # before the overlong sentence, every chunk is whole sentences
        assert all(s in sentences for s in split_sentences(c.text))
    assert " ".join(c.text for c in chunks).split() == article.body.split()  # nothing lost


def test_sigkill_midway_then_rerun_ends_consistent(tmp_path: Path) -> None:
    """Kill a real ingest after its first stored batch; the rerun completes it exactly once."""
    data = write_jsonl(tmp_path / "a.jsonl", [record(i, text=story(i, 30)) for i in range(40)])
    env = dict(os.environ, NEWSBOT_HOME=str(tmp_path / "home"), NEWSBOT_INGEST_BATCH="16", NEWSBOT_CHUNK_TOKENS="60")
    cmd = [sys.executable, "-m", "bot.cli", "ingest", "--progress", str(data)]
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
    assert proc.stderr is not None
    seen = b""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        seen += os.read(proc.stderr.fileno(), 4096)
        counts = [int(x) for x in __import__("re").findall(rb"chunks=(\d+)", seen)]
        if counts and counts[-1] >= 100:  # three batches handed over: two are surely stored
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert counts and counts[-1] >= 100, seen[-500:]

    rerun = subprocess.run(cmd[:-2] + ["--json", str(data)], env=env, cwd=ROOT, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    summary = json.loads(rerun.stdout)
    assert summary["new"] + summary["unchanged"] + summary["updated"] == 40 and summary["unchanged"] >= 1

    desk = NewsDesk(Settings(home=tmp_path / "home"))
    chunks = all_chunks(desk)
    per_article = Counter(c.article_id for c in chunks)
    assert len(per_article) == 40
    for c in chunks:
        assert per_article[c.article_id] == c.meta["n_chunks"]  # complete, no duplicates
    assert len({(c.article_id, c.index) for c in chunks}) == len(chunks)


def test_only_leads_are_embedded_and_the_rest_is_searched_lexically(make_desk, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    desk = make_desk(chunk_tokens=40, dense_chunks=2)
    text = story(5, 40) + " The zebra quartet played last."
    report = desk.ingest([write_jsonl(tmp_path / "a.jsonl", [record(5, text=text)])])
    chunks = sorted(all_chunks(desk), key=lambda c: c.index)
    assert report.embedded == 2 and report.chunks == len(chunks) > 2
    assert [c.meta["dense"] for c in chunks] == [True, True] + [False] * (len(chunks) - 2)
    dense_hits = desk.store.dense(desk.embedder.embed("zebra quartet"), 50)
    assert {c.index for c in dense_hits} == {0, 1}
    result = desk.search("zebra quartet")
    (zebra,) = [p for p in result.articles[0].passages if "zebra quartet" in p.text]
    assert zebra.lexical and zebra.dense is None  # found by BM25 alone
    # issue #15: the vector index holds the two leads alone, so its query needs no filter
    assert desk.store.collection.count() == 2 and not desk.store.legacy
    assert desk.store.lexical_collection.count() == len(chunks) - 2


def test_a_store_with_lexical_chunks_in_its_vector_index_is_searched_right_and_split_by_ingest(make_desk, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Stores written before issue #15 kept every chunk in the vector collection (the lexical-only
    ones under their lead's vector). Searching one filters them out; the next ingest moves them."""
    desk = make_desk(chunk_tokens=40, dense_chunks=2)
    text = story(5, 40) + " The zebra quartet played last."
    desk.ingest([write_jsonl(tmp_path / "a.jsonl", [record(5, text=text), record(6)])])
    store = desk.store
    lexical = store.lexical_collection.get(include=["documents", "metadatas"])
    lead = store.collection.get(where={"chunk": 0}, include=["embeddings"], limit=1)["embeddings"][0]
    store.lexical_collection.delete(ids=lexical["ids"])  # the old layout, as an older newsbot wrote it
    store.collection.add(ids=lexical["ids"], documents=lexical["documents"], metadatas=lexical["metadatas"],
                         embeddings=[list(lead)] * len(lexical["ids"]))
    store.collection.modify(metadata={"embedder": desk.embedder.name})  # and without the layout mark
    chunks = sorted((c.id, c.text) for c in all_chunks(desk))

    old = make_desk(chunk_tokens=40, dense_chunks=2)  # a new process opening the old store
    assert old.store.legacy
    assert {c.index for c in old.store.dense(old.embedder.embed("zebra quartet"), 50)} == {0, 1}
    before = [(a.article_id, [p.chunk_id for p in a.passages]) for a in old.search("zebra quartet").articles]
    report = old.ingest([write_jsonl(tmp_path / "b.jsonl", [record(7)])])
    assert report.new == 1 and not old.store.legacy
    after = all_chunks(old)
    assert old.store.collection.count() == sum(c.meta["dense"] for c in after)
    assert sorted((c.id, c.text) for c in after if c.meta["url"] != "https://news.example/7") == chunks
    assert [(a.article_id, [p.chunk_id for p in a.passages]) for a in old.search("zebra quartet").articles][0] == before[0]


def test_changing_the_chunking_re_embeds_everything(make_desk, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = write_jsonl(tmp_path / "a.jsonl", [record(1)])
    assert make_desk(chunk_tokens=40).ingest([data]).new == 1
    again = make_desk(chunk_tokens=80).ingest([data])
    assert again.updated == 1 and again.unchanged == 0


def test_writes_longer_than_chromas_batch_limit_are_stored_whole(make_desk) -> None:  # type: ignore[no-untyped-def]
    """Issue #14: one very long article (its chunks in one upsert) exceeded Chroma's per-call batch
    limit (5,461 rows locally) and aborted the whole ingest with a traceback."""
    from tests.fakes import HashingEmbedder

    class Tiny(HashingEmbedder):  # 4 dimensions: the vector index is not what is tested, and stays cheap
        name, dimensions = "hashing-4", 4

    desk = make_desk(Tiny())
    store = desk.store
    n = store.client.get_max_batch_size() + 10
    vector = desk.embedder.embed("a book-length article")
    ids = [f"long:{i}" for i in range(n)]
    metas = [{"article_id": "long", "chunk": i, "published_ts": -1, "dense": i == 0} for i in range(n)]
    store.upsert(ids, [f"part {i}" for i in range(n)], metas, [vector] * n)
    assert store.count() == n
    store.delete_chunks(ids)
    assert store.count() == 0


SENTENCE_BITS = ["Modi", "met", "Putin", "in", "Delhi", "on", "Monday", "3.5", "per", "cent", "U.S.", "Dr.",
                 "e.g.", "—", "“quoted”", "S-500", "x" * 40, "7" * 300, "naïve", "日本語", "!", "?", ".", ",", "\n\n",
                 "\n"]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(words=st.lists(st.one_of(st.sampled_from(SENTENCE_BITS), st.text(min_size=1, max_size=12)), min_size=1,
                      max_size=600))
def test_chunks_always_fit_and_keep_every_word_once(real_embedder, words: list[str]) -> None:  # type: ignore[no-untyped-def]
    """Issue #14, a property: whatever the text, every chunk fits the model's window and the chunks
    hold the article's words in order, none lost, none twice."""
    body = " ".join(words)
    try:
        article = make_article(body=body, title="T")
    except Exception:  # nothing but whitespace and control characters: no article, nothing to chunk
        return
    chunks = chunk_article(article, real_embedder.count_tokens, 60)
    assert max(real_embedder.count_tokens([c.text for c in chunks])) <= 60
    assert "".join("".join(c.text for c in chunks).split()) == "".join(article.body.split())  # words may be cut
