"""Loaded articles → chunks → vectors → Chroma, idempotently and safe to kill at any point.

The state of each article is read back from the store itself (content hash and chunk count
on every chunk), so there is no second ledger to fall out of step: an article whose chunks
are all present under its current hash is unchanged; anything else is (re)written, and
chunks of older versions are removed only after the new ones are stored.

A full disk stops an ingest cleanly, before the write it has no room for (see `_check_room`):
what was stored stays complete and searchable, and the next run continues from there.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from retrieval.index.disk_room import (
    RESERVE_FACTOR, RESERVE_FLOOR, DiskFullError, free_bytes, human_size, says_disk_full, segment_bytes,
)
from retrieval.ingest.chunking import chunk_article, embedding_text
from retrieval.index.embeddings import Embedder
from retrieval.index.folding import Fold, Folder
from retrieval.ids import content_hash
from retrieval.ingest.loaders import Loaded
from retrieval.settings import Settings
from retrieval.index.records import ArticleState, chunk_metadata
from retrieval.index.store import PLACEHOLDER, ChromaStore
from retrieval.types import Article, Chunk, IngestReport

log = logging.getLogger(__name__)

EMBED_FORMAT = "title-date-header-v1"  # how embedding_text() frames a chunk; bump when it changes

Progress = Callable[[int, int], None]  # (articles seen, chunks embedded) so far
LOOKUP_GROUP = 256  # articles whose stored state is looked up in one query
def _groups(items: Iterable[Loaded], size: int) -> Iterator[list[Loaded]]:
    group: list[Loaded] = []
    for item in items:
        group.append(item)
        if len(group) == size:
            yield group
            group = []
    if group:
        yield group


@dataclass
class _Pending:
    articles: list[tuple[Article, list[Chunk], bool, str]] = field(default_factory=list)  # (…, is_update, also)
    embeds: int = 0  # chunks of these articles that will be embedded


class Ingester:
    def __init__(self, store: ChromaStore, embedder: Embedder, settings: Settings) -> None:
        self.store = store
        self.embedder = embedder
        self.chunk_tokens = settings.chunk_tokens
        self.dense_chunks = settings.dense_chunks
        self.batch = settings.ingest_batch  # chunks per embed call: long calls batch by length
        # a change of embedder or chunking makes every article "changed", so it is re-embedded
        self.signature = f"{embedder.name}|{EMBED_FORMAT}|{self.chunk_tokens}|{self.dense_chunks}"

    def version(self, article: Article) -> str:
        return content_hash(article.content_hash, self.signature)

    def run(self, items: Iterable[Loaded], progress: Progress | None = None) -> IngestReport:
        """Embedding runs in this thread while the previous batch is written to Chroma in another,
        so the store's work hides behind the model's (each write is still one transaction).

        A full disk raises DiskFullError, whose message says what was stored and what to do."""
        self._stored = 0  # articles whose write has completed
        try:
            if moved := self.store.split_lexical():  # a store an older newsbot wrote, once
                log.warning("moved %d lexical-only chunks out of the vector collection", moved)
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="newsbot-writer") as writer:
                self._writer = writer
                self._writing: Future[None] | None = None
                self.folder = Folder(self.store)
                self._folds: list[Fold] = []
                report = self._run(items, progress)
                self._wait_for_write()
        except DiskFullError:
            raise
        except Exception as e:  # a failed write is the last: nothing is submitted after it
            free = self._free()
            low = free is not None and free < RESERVE_FLOOR
            if not (says_disk_full(e) or low):
                raise
            # Chroma says only "Failed to apply logs to the metadata segment" when its compaction
            # hits the full disk; the store cannot be read until there is room to finish it
            raise self._full(
                f"a write failed ({e})" + (f"; {human_size(free)} free" if low and free is not None else ""),
                "searching it may fail until space is freed",
            ) from e
        return report

    def _free(self) -> int | None:
        """Free bytes on the disk of a local store (None for a Chroma server)."""
        return None if self.store.settings.chroma_url else free_bytes(self.store.settings.chroma_path)

    def _full(self, what: str, state: str) -> DiskFullError:
        path, n = self.store.where, self._stored
        return DiskFullError(
            f"the disk is full where the news index is stored ({path}): {what}. Ingest stopped after "
            f"storing {n} article{'' if n == 1 else 's'} in this run; {state}. Free some space and run "
            "ingest again: it continues where it stopped, without storing anything twice.",
            path, n,
        )

    def _check_room(self, n_chunks: int, batch_bytes: int) -> None:
        """Stop before a write the disk has no room for, rather than let Chroma run out mid-write."""
        free = self._free()
        if free is None:
            return
        need = RESERVE_FLOOR + RESERVE_FACTOR * batch_bytes + segment_bytes(self.store.settings.chroma_path)
        if free < need:
            raise self._full(
                f"{human_size(free)} free, and storing the next {n_chunks} chunks safely needs about {human_size(need)}",
                "what is stored is complete and searchable",
            )

    def _run(self, items: Iterable[Loaded], progress: Progress | None) -> IngestReport:
        started = time.perf_counter()
        report = IngestReport()
        states: dict[str, ArticleState] = {}  # what the store holds, looked up a group at a time
        bodies: dict[str, str] = {}  # body hash → the article that has it
        pending = _Pending()
        seen = 0
        for group in _groups(items, LOOKUP_GROUP):
            self._look_up(group, states, bodies)
            for item in group:
                seen += 1
                if isinstance(item, tuple):
                    name, reason = item
                    log.info("skipped %s: %s", name, reason)
                    report.failed.append((name, reason))
                    continue
                article = item
                state = states.get(article.id)
                owner = bodies.get(article.body_hash)
                if owner is not None and owner != article.id:
                    report.duplicates += 1  # the same text under another URL: one more outlet of it
                    self._folds.append(Fold(owner, article.source, article.url))
                    continue
                version = self.version(article)
                if state and state.complete(version):
                    report.unchanged += 1
                    if len(state.chunks) > 1:  # an earlier run was killed before its clean-up
                        self._wait_for_write()
                        self.store.delete_stale(article.id, version)
                    continue
                chunks = chunk_article(article, self.embedder.count_tokens, self.chunk_tokens, version)
                is_update = bool(state and state.chunks)
                pending.articles.append((article, chunks, is_update, state.also if state else ""))
                pending.embeds += min(len(chunks), self.dense_chunks or len(chunks))
                bodies[article.body_hash] = article.id
                states[article.id] = ArticleState({version: len(chunks)}, {version: len(chunks)}, article.body_hash)
                if pending.embeds >= self.batch:
                    self._flush(pending, report)
                    pending = _Pending()
                if progress:
                    progress(seen, report.chunks)
        if pending.articles:
            self._flush(pending, report)
        if progress:
            progress(seen, report.chunks)
        self._wait_for_write()
        self._write_folds(self._folds)
        report.seconds = time.perf_counter() - started
        return report

    def _look_up(self, group: list[Loaded], states: dict[str, ArticleState], bodies: dict[str, str]) -> None:
        """One store lookup for a group of articles, instead of a scan of the whole store: a feed
        poll that brings three stories should not read the metadata of 90,000 chunks."""
        articles = [a for a in group if isinstance(a, Article)]
        found = self.store.article_states(
            [a.id for a in articles if a.id not in states], [a.body_hash for a in articles if a.body_hash not in bodies]
        )
        for article_id, state in found.items():
            states.setdefault(article_id, state)
            if state.body_hash:
                bodies.setdefault(state.body_hash, article_id)

    def _flush(self, pending: _Pending, report: IngestReport) -> None:
        ids: list[str] = []
        texts: list[str] = []
        metas: list[dict[str, object]] = []
        inputs: list[str] = []
        vector_of: list[int | None] = []  # per chunk: its position in `inputs` (None: not embedded)
        new = [a for a, _, is_update, _ in pending.articles if not is_update]
        stored, folds = self.folder.split(new)
        keep = {a.id for a in stored}
        articles = [(a, ch, is_update, also) for a, ch, is_update, also in pending.articles if is_update or a.id in keep]
        self._folds += folds
        for article, chunks, _, also in articles:
            version = self.version(article)
            story = self.folder.story_fields(article)
            for chunk in chunks:
                dense = not self.dense_chunks or chunk.index < self.dense_chunks
                vector_of.append(len(inputs) if dense else None)
                if dense:
                    inputs.append(embedding_text(article.title, article.published_iso, chunk.text))
                ids.append(chunk.id)
                texts.append(chunk.text)
                meta = chunk_metadata(article, chunk, len(chunks), version, dense)
                metas.append({**meta, **(story if chunk.index == 0 else {}), **({"also": also} if also else {})})
        vectors = self.embedder.embed_batch(inputs)
        updated = [(a.id, self.version(a)) for a, _, is_update, _ in articles if is_update]
        folding, self._folds = self._folds, []

        def write() -> None:
            self.store.upsert(ids, texts, metas, [PLACEHOLDER if i is None else vectors[i] for i in vector_of])  # type: ignore[misc]
            self._stored += len(articles)
            for article_id, version in updated:  # old versions go only once the new one is stored
                self.store.delete_stale(article_id, version)
            self._write_folds(folding)  # after the stories they fold into are stored

        self._wait_for_write()
        dims = len(vectors[0]) if vectors else 0
        self._check_room(len(ids), sum(len(t) for t in texts) + sum(len(str(m)) for m in metas) + 4 * dims * len(ids))
        self._writing = self._writer.submit(write)
        report.updated += len(updated)
        report.new += len(articles) - len(updated)
        report.folded += len(folds)
        report.chunks += len(ids)
        report.embedded += len(inputs)

    def _write_folds(self, folds: list[Fold]) -> None:
        for fold in folds:
            if fold.replaces and self.store.absorb(fold.story_id, fold.replaces):
                log.info("story %s replaced by its newer version %s", fold.replaces, fold.story_id)
            elif fold.url and self.store.add_outlet(fold.story_id, fold.source, fold.url):
                log.info("folded %s into story %s (also reported by %s)", fold.url, fold.story_id, fold.source)

    def _wait_for_write(self) -> None:
        """Surface a failed write at once, and keep at most one batch in flight."""
        if self._writing is not None:
            self._writing.result()
            self._writing = None
