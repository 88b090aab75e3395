"""Loaded articles → chunks → vectors → Chroma, idempotently and safe to kill at any point.

The state of each article is read back from the store itself (content hash and chunk count
on every chunk), so there is no second ledger to fall out of step: an article whose chunks
are all present under its current hash is unchanged; anything else is (re)written, and
chunks of older versions are removed only after the new ones are stored.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from retrieval.chunking import chunk_article, embedding_text
from retrieval.embeddings import Embedder
from retrieval.loaders import Loaded
from retrieval.store import ArticleState, ChromaStore, chunk_metadata
from retrieval.types import Article, Chunk, IngestReport

log = logging.getLogger(__name__)

FLUSH_CHUNKS = 1024  # chunks embedded per call: long calls let the model batch by length

Progress = Callable[[int, int], None]  # (articles seen, chunks embedded) so far


@dataclass
class _Pending:
    articles: list[tuple[Article, list[Chunk], bool]] = field(default_factory=list)  # (…, is_update)
    chunks: int = 0


class Ingester:
    def __init__(self, store: ChromaStore, embedder: Embedder, chunk_tokens: int) -> None:
        self.store = store
        self.embedder = embedder
        self.chunk_tokens = chunk_tokens

    def run(self, items: Iterable[Loaded], progress: Progress | None = None) -> IngestReport:
        started = time.perf_counter()
        report = IngestReport()
        states = self.store.article_states()
        bodies = {s.body_hash: aid for aid, s in states.items() if s.body_hash}
        pending = _Pending()
        seen = 0
        changed = False
        for item in items:
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
                report.duplicates += 1
                continue
            if state and state.complete(article.content_hash):
                report.unchanged += 1
                if len(state.chunks) > 1:  # an earlier run was killed before its clean-up
                    self.store.delete_stale(article.id, article.content_hash)
                    changed = True
                continue
            chunks = chunk_article(article, self.embedder.count_tokens, self.chunk_tokens)
            is_update = bool(state and state.chunks)
            pending.articles.append((article, chunks, is_update))
            pending.chunks += len(chunks)
            bodies[article.body_hash] = article.id
            states[article.id] = ArticleState({article.content_hash: len(chunks)}, {article.content_hash: len(chunks)}, article.body_hash)
            if pending.chunks >= FLUSH_CHUNKS:
                self._flush(pending, report)
                pending = _Pending()
                changed = True
            if progress:
                progress(seen, report.chunks)
        if pending.articles:
            self._flush(pending, report)
            changed = True
        if progress:
            progress(seen, report.chunks)
        if changed:
            self.store.bump_revision()
        report.seconds = time.perf_counter() - started
        return report

    def _flush(self, pending: _Pending, report: IngestReport) -> None:
        ids: list[str] = []
        texts: list[str] = []
        inputs: list[str] = []
        metas: list[dict[str, object]] = []
        for article, chunks, _ in pending.articles:
            for chunk in chunks:
                ids.append(chunk.id)
                texts.append(chunk.text)
                inputs.append(embedding_text(article.title, article.published_iso, chunk.text))
                metas.append(chunk_metadata(article, chunk, len(chunks)))
        vectors = self.embedder.embed_batch(inputs)
        self.store.upsert(ids, texts, metas, vectors)  # type: ignore[arg-type]
        for article, _, is_update in pending.articles:
            if is_update:
                self.store.delete_stale(article.id, article.content_hash)
                report.updated += 1
            else:
                report.new += 1
        report.chunks += len(ids)
