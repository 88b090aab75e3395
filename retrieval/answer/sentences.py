"""Answer-sentence selection: which sentences of the retrieved articles hold the answer.

Cosine similarity alone rates a sentence on the same topic about as high as the one that names
the thing asked for, so a learned scorer (LightGBM, trained by benchmarks/train_sentence_scorer.py
on the dev questions: a sentence is positive when it contains the gold answer) weighs it with
cheap cues: shared words, the article's rank and date, where the sentence sits, and whether it
has what the question asks for (a number for "how many", a name for "who", something of the kind a
"which …" names: answer_type.py). Its probability is
also the answer's confidence, which the pipeline uses to abstain.

The model file ships beside this module with a manifest holding its sha256; a file that does not
match is refused with a BackendError naming it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from retrieval.answer.answer_type import kind_match, question_words
from retrieval.answer.injection import news_sentences
from retrieval.answer.relevance import overlap
from retrieval.errors import BackendError
from retrieval.index.embeddings import Embedder
from retrieval.index.lexical import tokenize
from retrieval.types import ArticleHit

MODEL_DIR = Path(__file__).with_name("models")
MODEL_FILE = MODEL_DIR / "sentence_scorer.txt"
MANIFEST_FILE = MODEL_DIR / "sentence_scorer.json"

ARTICLES_READ = 5  # articles whose sentences compete for the prompt
CHUNKS_READ = 3  # each article's best matched chunks (2 left the answer out for 3.5 % more questions)
MIN_WORDS = 4

QUESTION_TYPES = ("who", "which", "what", "when", "where", "how many", "how much", "why", "how")
FEATURES = (
    "cosine", "cosine_gap", "cosine_rank", "overlap", "title_overlap", "article_rank", "article_score",
    "article_dense", "chunk_rank", "chunk_index", "sentence_index", "words", "has_number",
    "new_names", "days_before", "after_as_of", "question_type", "kind_match", "kind_gap",
)
_NAME = re.compile(r"(?<!^)(?<![.!?]\s)\b[A-Z][a-z]+")
_NUMBER = re.compile(r"\d")


@dataclass(frozen=True)
class Candidate:
    """A sentence that could go into the prompt, with where it came from."""

    hit: ArticleHit
    article_rank: int
    chunk_rank: int
    chunk_index: int
    sentence_index: int
    text: str


def candidates(hits: Sequence[ArticleHit], articles: int = ARTICLES_READ, chunks: int = CHUNKS_READ) -> list[Candidate]:
    """Every sentence of the best chunks of the best articles, minus those that speak to the model."""
    out: list[Candidate] = []
    for rank, hit in enumerate(hits[:articles]):
        for chunk_rank, passage in enumerate(hit.passages[:chunks]):
            for i, sentence in news_sentences(passage.text):
                if len(sentence.split()) >= MIN_WORDS:
                    out.append(Candidate(hit, rank, chunk_rank, passage.index, i, sentence))
    return out


def question_type(question: str) -> int:
    q = question.lower()
    found = [(q.find(w), i) for i, w in enumerate(QUESTION_TYPES) if re.search(rf"\b{w}\b", q)]
    return min(found)[1] if found else len(QUESTION_TYPES)


def features(question: str, cands: Sequence[Candidate], embedder: Embedder, as_of: dt.date | None) -> np.ndarray:
    """One row of FEATURES per candidate."""
    if not cands:
        return np.zeros((0, len(FEATURES)))
    vectors = np.asarray(embedder.embed_sentences([question, *(c.text for c in cands)]))
    cosine = vectors[1:] @ vectors[0]
    order = np.argsort(-cosine)
    cosine_rank = np.empty(len(cands))
    cosine_rank[order] = np.arange(len(cands))
    q_terms = set(tokenize([question])[0])
    q_words = question_words(question)
    terms = tokenize([c.text for c in cands])
    hits = {c.hit.article_id: c.hit for c in cands}
    titles = {aid: set(t) for aid, t in zip(hits, tokenize([h.title for h in hits.values()]))}
    top_score = max(c.hit.score for c in cands) or 1.0
    qtype = question_type(question)
    kind = kind_match(question, [c.text for c in cands], embedder)
    kind_gap = kind - kind.max()  # NaN throughout when the question asks for no kind
    rows = []
    for c, cos, rank, t, k, gap in zip(cands, cosine, cosine_rank, terms, kind, kind_gap):
        days = (as_of - c.hit.published).days if as_of and c.hit.published else np.nan
        names = {m.lower() for m in _NAME.findall(c.text)} - q_words
        rows.append([
            cos, cos - cosine.max(), rank, overlap(q_terms, set(t)), overlap(q_terms, titles[c.hit.article_id]),
            c.article_rank, c.hit.score / top_score, c.hit.best_dense, c.chunk_rank, c.chunk_index,
            c.sentence_index, len(c.text.split()), float(bool(_NUMBER.search(c.text))), len(names),
            max(days, 0) if days == days else np.nan, float(days < 0) if days == days else np.nan, qtype, k, gap,
        ])
    return np.asarray(rows, dtype=float)


class SentenceScorer:
    """The trained model: P(sentence holds the answer)."""

    def __init__(self, booster: object, manifest: dict[str, object]) -> None:
        self.booster = booster
        self.manifest = manifest

    @classmethod
    def load(cls, model: Path = MODEL_FILE, manifest: Path = MANIFEST_FILE) -> SentenceScorer:
        import lightgbm

        try:
            meta = json.loads(manifest.read_text())
            raw = model.read_bytes()
        except (OSError, ValueError) as e:
            raise BackendError(f"the sentence scorer cannot be read ({model}): {e}") from e
        digest = hashlib.sha256(raw).hexdigest()
        if digest != meta.get("sha256"):
            raise BackendError(
                f"the sentence scorer {model} does not match its manifest (sha256 {digest[:12]}…, "
                f"expected {str(meta.get('sha256'))[:12]}…): rebuild it with benchmarks/train_sentence_scorer.py"
            )
        if tuple(meta.get("features", ())) != FEATURES:
            raise BackendError(f"the sentence scorer {model} was trained on other features: rebuild it")
        try:
            booster = lightgbm.Booster(model_str=raw.decode())
        except Exception as e:  # LightGBM raises its own error type for an unparsable model
            raise BackendError(f"the sentence scorer {model} cannot be loaded: {e}") from e
        return cls(booster, meta)

    def score(self, rows: np.ndarray) -> np.ndarray:
        if len(rows) == 0:
            return np.zeros(0)
        return np.asarray(self.booster.predict(rows))  # type: ignore[attr-defined]


@cache
def default_scorer() -> SentenceScorer:
    """The shipped scorer, loaded once per process."""
    return SentenceScorer.load()
