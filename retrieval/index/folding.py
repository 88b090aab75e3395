"""Syndicated copies fold into one stored story at ingest (the detection is in syndication.py).

A wire story republished by a dozen outlets would otherwise be a dozen search hits crowding out
everything else, and a dozen times the embedding. The first copy ingested is stored as the
story; each later copy that is near-identical (MinHash Jaccard ≥ syndication.THRESHOLD) adds its
outlet and link to the story's `also` field instead. The story's lead chunk carries its LSH band
keys and signature, so candidates are found with one metadata query, from any process.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from datasketch import MinHash

from retrieval.dates import to_epoch
from retrieval.index import syndication
from retrieval.index.records import NO_DATE
from retrieval.index.store import ChromaStore
from retrieval.types import Article

FOLD_DAYS = 30  # copies further apart are a recycled explainer (Groundhog Day 2018 and 2022), not one story
NEWER = 86_400  # a copy published a day or more after the story is an updated version: it replaces it
FULLER = 1.25  # … as does a copy of the same day with a quarter more words (a live page, later in the day)
Known = tuple[str, MinHash, int, int]  # story id, signature, published_ts, words


@dataclass(frozen=True)
class Fold:
    story_id: str  # the stored article the copy folds into
    source: str = ""
    url: str = ""
    replaces: str = ""  # set when a newer version is stored instead: the old story it absorbs


class Folder:
    """One ingest run's view of the stories: stored ones (looked up per batch) and its own."""

    def __init__(self, store: ChromaStore) -> None:
        self.store = store
        self._seen: dict[str, list[Known]] = {}  # band key → stories accepted this run
        self._signatures: dict[str, MinHash] = {}

    def signature(self, article: Article) -> MinHash:
        if article.id not in self._signatures:
            self._signatures[article.id] = syndication.signature(article.body)
        return self._signatures[article.id]

    def split(self, articles: Sequence[Article]) -> tuple[list[Article], list[Fold]]:
        """Which new articles to store, and which are copies of a story (stored or in the batch)."""
        keys = {a.id: syndication.band_keys(self.signature(a)) for a in articles}
        stored = self.store.stories_with_keys([k for ks in keys.values() for k in ks])
        known = dict(self._seen)
        for chunk in stored:
            sig = syndication.decode(str(chunk.meta.get("minhash", "")))
            known_story = (chunk.article_id, sig, _day(chunk.meta), int(chunk.meta.get("words", 0)))  # type: ignore[call-overload]
            for key in story_keys(chunk.meta):
                known.setdefault(key, []).append(known_story)
        keep: list[Article] = []
        folds: list[Fold] = []
        for article in articles:
            sig = self.signature(article)
            day = to_epoch(article.published) if article.published else NO_DATE
            size = len(article.body.split())
            story = self._match(article.id, sig, day, [c for k in keys[article.id] for c in known.get(k, [])])
            if story and not _better(day, size, story[1], story[2]):
                folds.append(Fold(story[0], article.source, article.url))
                continue
            if story:  # an update of the story, or a fuller copy: the news is in this version
                folds.append(Fold(article.id, replaces=story[0]))
            keep.append(article)
            for key in keys[article.id]:
                known.setdefault(key, []).append((article.id, sig, day, size))
                self._seen.setdefault(key, []).append((article.id, sig, day, size))
        return keep, folds

    @staticmethod
    def _match(article_id: str, sig: MinHash, day: int, candidates: list[Known]) -> tuple[str, int, int] | None:
        """The story (id, published_ts, words) this article is a copy of, if any."""
        best, score = None, syndication.THRESHOLD
        for story_id, story_sig, story_day, story_words in candidates:
            apart = abs(day - story_day) if day != NO_DATE and story_day != NO_DATE else 0
            if story_id == article_id or apart > FOLD_DAYS * 86_400:
                continue
            s = syndication.similarity(sig, story_sig)
            if s >= score:
                best, score = (story_id, story_day, story_words), s
        return best

    def story_fields(self, article: Article) -> dict[str, str | int]:
        """Metadata for a stored story's lead chunk: its band keys and signature."""
        sig = self.signature(article)
        keys = syndication.band_keys(sig)
        if not keys:
            return {}
        fields: dict[str, str | int] = {f"lsh_{key.split(':', 1)[0]}": key for key in keys}
        fields["minhash"] = syndication.encode(sig)
        fields["words"] = len(article.body.split())
        return fields


def _better(day: int, words: int, story_day: int, story_words: int) -> bool:
    """Whether a copy should replace the story: published a day or more later, or as new and fuller."""
    if day != NO_DATE and story_day != NO_DATE and abs(day - story_day) >= NEWER:
        return day > story_day
    return words >= FULLER * max(story_words, 1)


def story_keys(meta: dict[str, object]) -> list[str]:
    return [str(v) for k, v in meta.items() if k.startswith("lsh_") and v]


@dataclass
class FoldReport:
    stories: int = 0  # stored stories now carrying their band keys
    folded: int = 0  # stored copies removed, their outlets added to the story they copy


def fold_stored(store: ChromaStore, batch: int = 500) -> FoldReport:
    """Fold copies already in an index built before folding existed, and give every story its
    band keys so later copies fold into it. The newest version is kept (same-day copies: the
    fullest); the others' chunks are deleted (through the change log) once their outlet is
    recorded on it."""
    bodies: dict[str, list[tuple[int, str, str]]] = {}  # article → (index, text, chunk id)
    leads: dict[str, tuple[str, dict[str, object]]] = {}
    for c in store.scan():
        bodies.setdefault(c.article_id, []).append((c.index, c.text, c.id))
        if c.index == 0:
            leads[c.article_id] = (c.id, c.meta)
    ids = [a for a in bodies if a in leads]
    sigs = [syndication.signature(" ".join(t for _, t, _ in sorted(bodies[a]))) for a in ids]
    report = FoldReport()
    gone: set[str] = set()
    for cluster in syndication.group(sigs):
        size = {ids[i]: sum(len(t.split()) for _, t, _ in bodies[ids[i]]) for i in cluster}
        members = sorted((-(_day(leads[ids[i]][1]) // NEWER), -size[ids[i]], ids[i]) for i in cluster)  # newest, fullest
        members = [(m[0], m[2]) for m in members]
        story, newest = members[0][1], _day(leads[members[0][1]][1])
        for _, copy in members[1:]:
            day = _day(leads[copy][1])
            if newest != NO_DATE and day != NO_DATE and newest - day > FOLD_DAYS * 86_400:
                continue
            meta = leads[copy][1]
            store.add_outlet(story, str(meta.get("source", "")), str(meta.get("url", "")))
            store.delete_chunks([chunk_id for _, _, chunk_id in bodies[copy]])
            gone.add(copy)
            report.folded += 1
    keyed = [(a, sig) for a, sig in zip(ids, sigs) if a not in gone and not sig.is_empty()]
    for start in range(0, len(keyed), batch):
        part = keyed[start:start + batch]
        fields: list[dict[str, Any]] = [
            {f"lsh_{k.split(':', 1)[0]}": k for k in syndication.band_keys(sig)}
            | {"minhash": syndication.encode(sig), "words": sum(len(t.split()) for _, t, _ in bodies[a])}
            for a, sig in part
        ]
        store.update_metadata([leads[a][0] for a, _ in part], fields)
        report.stories += len(part)
    return report


def _day(meta: dict[str, object]) -> int:
    return int(meta.get("published_ts", NO_DATE))  # type: ignore[call-overload]
