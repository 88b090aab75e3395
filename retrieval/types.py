"""The engine's own data shapes; every foreign result is converted into these at its boundary."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import Any, Callable, Literal


@dataclass(frozen=True)
class Article:
    """One news article, normalised from whatever format it arrived in."""

    id: str
    title: str
    body: str
    source: str = ""
    url: str = ""
    authors: tuple[str, ...] = ()
    published: dt.date | None = None
    origin: str = ""  # the file or URL it was read from, for messages

    @cached_property
    def content_hash(self) -> str:
        from retrieval.ids import content_hash

        return content_hash(self.title, self.source, self.url, self.published_iso, self.body)

    @cached_property
    def body_hash(self) -> str:
        from retrieval.ids import body_hash

        return body_hash(self.body)

    @property
    def published_iso(self) -> str:
        return self.published.isoformat() if self.published else ""


@dataclass(frozen=True)
class Chunk:
    """A passage of an article small enough for the embedder (under 256 tokens)."""

    id: str
    article_id: str
    index: int
    text: str


@dataclass
class Passage:
    """A retrieved chunk with the scores that ranked it."""

    chunk_id: str
    text: str
    index: int
    score: float = 0.0  # fused score
    dense: float | None = None  # cosine similarity to the question, when dense search found it
    lexical: float | None = None  # BM25 score, when lexical search found it


@dataclass
class ArticleHit:
    """A search result: an article and its best passages, best first."""

    article_id: str
    title: str
    source: str
    url: str
    published: dt.date | None
    score: float
    passages: list[Passage] = field(default_factory=list)
    also: tuple[str, ...] = ()  # other outlets that ran the same story (folded at ingest)

    @property
    def best_dense(self) -> float:
        return max((p.dense for p in self.passages if p.dense is not None), default=0.0)


HISTORY_TURNS = 4  # earlier messages of a conversation the engine reads; front-ends need keep no more


@dataclass(frozen=True)
class Turn:
    """One earlier message of a conversation (a Slack thread, a REPL session)."""

    role: str  # "user" or "assistant"
    text: str


@dataclass(frozen=True)
class Citation:
    n: int
    article_id: str
    title: str
    source: str
    published: dt.date | None
    url: str
    quote: str
    also: tuple[str, ...] = ()  # "also reported by": outlets whose copies of the story were folded into it

    @classmethod
    def from_hit(cls, n: int, hit: ArticleHit, quotes: list[str]) -> Citation:
        return cls(n, hit.article_id, hit.title, hit.source, hit.published, hit.url, " … ".join(quotes), hit.also)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["published"] = self.published.isoformat() if self.published else None
        d["also"] = list(self.also)
        return d


@dataclass(frozen=True)
class Stage:
    """Where an answer has got to, for front-ends that show progress while the first words are
    still seconds away (Slack's "Searching the news…" status line)."""

    name: Literal["searching", "reading", "writing"]
    articles: int = 0  # "reading": how many articles the answer is chosen from


OnStage = Callable[[Stage], None]

ABSTAIN_TEXT = "I couldn't find this in the news I have."  # what an Answer that abstains says


@dataclass
class Answer:
    """What every front-end renders: text with [n] markers, the sources they point to, timings."""

    question: str
    text: str
    citations: list[Citation]
    abstained: bool
    timings: dict[str, float] = field(default_factory=dict)
    standalone_question: str = ""
    notice: str = ""  # one line a front-end may show, e.g. "the LLM could not be loaded; quoting instead"
    shown: list[str] = field(default_factory=list)  # the passage texts it was written from (evaluation, debugging)

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "answer": self.text,
            "abstained": self.abstained,
            "citations": [c.to_dict() for c in self.citations],
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
            **({"notice": self.notice} if self.notice else {}),
        }


@dataclass
class IngestReport:
    """Counts of one ingest run; failures name the input and the reason."""

    new: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates: int = 0  # the same text under another URL: stored once, its outlet recorded
    folded: int = 0  # near-copies of a story (syndication) folded into it; an older version replaced counts too
    chunks: int = 0  # stored
    embedded: int = 0  # of which embedded (the others are searched lexically)
    seconds: float = 0.0
    failed: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["failed"] = [{"input": name, "reason": why} for name, why in self.failed]
        return d
