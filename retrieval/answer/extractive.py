"""The answer without an LLM: the retrieved sentences that best answer the question, quoted and cited."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from retrieval.index.embeddings import Embedder
from retrieval.answer.injection import news_sentences
from retrieval.answer import sentences
from retrieval.answer.relevance import sentence_scores
from retrieval.answer.sentences import SentenceScorer
from retrieval.types import ArticleHit, Citation

MAX_SENTENCES = 3
MAX_PER_ARTICLE = 2
ARTICLES_READ = 3
PASSAGES_READ = 2
MIN_WORDS = 5


@dataclass
class Scored:
    hit: ArticleHit
    sentence: str
    score: float


def best_sentences(
    question: str,
    hits: list[ArticleHit],
    embedder: Embedder,
    as_of: dt.date | None = None,
    scorer: SentenceScorer | None = None,
) -> list[Scored]:
    """The sentences most likely to hold the answer: by the learned scorer, or by cosine without it."""
    if scorer is not None:
        cands = [c for c in sentences.candidates(hits) if len(c.text.split()) >= MIN_WORDS]
        scores = scorer.score(sentences.features(question, cands, embedder, as_of))
        return _top([Scored(c.hit, c.text, float(s)) for c, s in zip(cands, scores)])
    pairs: list[tuple[ArticleHit, str]] = []
    for hit in hits[:ARTICLES_READ]:
        for passage in hit.passages[:PASSAGES_READ]:
            pairs.extend(
                (hit, s)
                for _, s in news_sentences(passage.text)
                if len(s.split()) >= MIN_WORDS
            )
    scores = sentence_scores(question, [s for _, s in pairs], embedder) if pairs else []
    return _top([Scored(hit, sentence, score) for (hit, sentence), score in zip(pairs, scores)])


def _top(scored: list[Scored]) -> list[Scored]:
    scored.sort(key=lambda s: -s.score)
    chosen: list[Scored] = []
    per_article: dict[str, int] = {}
    for s in scored:
        if per_article.get(s.hit.article_id, 0) >= MAX_PER_ARTICLE or s.sentence in {c.sentence for c in chosen}:
            continue
        chosen.append(s)
        per_article[s.hit.article_id] = per_article.get(s.hit.article_id, 0) + 1
        if len(chosen) == MAX_SENTENCES:
            break
    return chosen


def extractive_answer(
    question: str,
    hits: list[ArticleHit],
    embedder: Embedder,
    as_of: dt.date | None = None,
    scorer: SentenceScorer | None = None,
) -> tuple[str, list[Citation]]:
    """Quoted sentences, each followed by [n]; sources numbered in order of first use."""
    chosen = best_sentences(question, hits, embedder, as_of, scorer)
    numbers: dict[str, int] = {}
    quotes: dict[str, list[str]] = {}
    parts: list[str] = []
    for s in chosen:
        n = numbers.setdefault(s.hit.article_id, len(numbers) + 1)
        quotes.setdefault(s.hit.article_id, []).append(s.sentence)
        parts.append(f"“{s.sentence}” [{n}]")
    by_id = {h.article_id: h for h in hits}
    citations = [Citation.from_hit(n, by_id[aid], quotes[aid]) for aid, n in numbers.items()]
    return " ".join(parts), citations
