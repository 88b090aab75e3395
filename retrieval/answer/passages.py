"""The passages shown to the model: the sentences most likely to hold the answer, grouped by article.

Passages are kept short on purpose: on 2 cores, reading them is most of the wait for the first
token. With the learned scorer (sentences.py), the best-scored sentences of at most MAX_PASSAGES
articles, none rated far below the best (RELATIVE_SCORE), fill PROMPT_CHARS (1,440:
cross-validated, the gold answer is shown for 0.725 of dev questions, against 0.686 at 1,080 and
0.748 at 1,800, which costs ~90 prompt tokens more, i.e. a later first token on 2 cores); without
it, each article contributes its sentences nearest the question by cosine. Sentences that speak
to the model (injection.py) are never shown, and passage text is one line with no <passages>
fence tags of its own.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass

from retrieval.answer.citations import PromptPassage
from retrieval.answer.injection import news_sentences
from retrieval.answer import sentences
from retrieval.answer.relevance import sentence_scores
from retrieval.answer.sentences import SentenceScorer
from retrieval.index.embeddings import Embedder
from retrieval.settings import DEFAULT_PROMPT_CHARS
from retrieval.types import ArticleHit

MAX_PASSAGES = 3  # articles shown to the model (3-5; each costs about 1 s of prompt reading on 2 cores)
PASSAGE_CHARS = 360  # per article, when sentences are chosen by cosine (450 measured worse)
PROMPT_CHARS = DEFAULT_PROMPT_CHARS  # all passages together, by the learned scorer (Settings.prompt_chars)
CHUNKS_READ = 2  # an article's best chunks searched for those sentences
# An article whose best sentence scores under this share of the best sentence's is not shown:
# the 1.5B model names what a weaker article says (the Oxford word of the year "brain rot", from
# the year before, beside the article naming "rage bait"), and reads a shorter prompt sooner.
# Measured: benchmarks/README.md, "Fewer distractors".
RELATIVE_SCORE = 0.5

_TAGS = re.compile(r"</?\s*passages?\s*>", re.I)


def clean(text: str) -> str:
    """Passage text as data: one line, no fence tags."""
    return " ".join(_TAGS.sub(" ", text).split())


@dataclass
class Selection:
    """The passages the model is shown, and how sure the sentence scorer is that they answer."""

    passages: list[PromptPassage]
    confidence: float | None = None  # the best sentence's P(holds the answer); None without the scorer


def select_passages(
    question: str,
    hits: Sequence[ArticleHit],
    embedder: Embedder,
    as_of: dt.date | None = None,
    scorer: SentenceScorer | None = None,
    chars: int = PROMPT_CHARS,
) -> Selection:
    """The best sentences of the best articles, `chars` characters in all, by the learned scorer;
    by cosine (select_passages_by_cosine) when there is none."""
    if scorer is None:
        return Selection(select_passages_by_cosine(question, hits, embedder, max_chars=chars // MAX_PASSAGES))
    items, scores = scored_sentences(question, hits, embedder, as_of, scorer)
    return Selection(numbered(choose(items, scores, budget=chars), hits), max(scores, default=0.0))


def scored_sentences(
    question: str, hits: Sequence[ArticleHit], embedder: Embedder, as_of: dt.date | None, scorer: SentenceScorer
) -> tuple[list[Item], list[float]]:
    """The candidate sentences of the best articles, as `choose` takes them, and each one's
    P(holds the answer): scored once, chosen from as often as a caller compares choices."""
    cands = sentences.candidates(hits)
    scores = scorer.score(sentences.features(question, cands, embedder, as_of))
    items = [(c.hit.article_id, (c.chunk_index, c.sentence_index), clean(c.text)) for c in cands]
    return items, [float(s) for s in scores]


def numbered(picked: list[tuple[str, list[str]]], hits: Sequence[ArticleHit]) -> list[PromptPassage]:
    """What `choose` picked, as the numbered passages of the prompt."""
    by_id = {h.article_id: h for h in hits}
    return [PromptPassage(n, by_id[aid], " ".join(texts)) for n, (aid, texts) in enumerate(picked, 1)]


Item = tuple[str, tuple[int, int], str]  # article id, (chunk index, sentence index), sentence


def choose(
    items: Sequence[Item],
    scores: Sequence[float],
    max_articles: int = MAX_PASSAGES,
    budget: int = PROMPT_CHARS,
    relative: float = RELATIVE_SCORE,
) -> list[tuple[str, list[str]]]:
    """Best-scored sentences first, from at most max_articles articles, until the characters run
    out; per article in reading order, articles in the order of their best sentence. An article
    whose best sentence scores under `relative` × the best one's is left out, and its share of the
    characters goes to the articles kept."""
    picked: dict[str, list[tuple[tuple[int, int], str]]] = {}
    used, seen = 0, set()
    ranked = sorted(range(len(items)), key=lambda i: -scores[i])
    best: dict[str, float] = {}
    for i in ranked:  # best first, so each article keeps its best score
        best.setdefault(items[i][0], scores[i])
    floor = relative * scores[ranked[0]] if ranked else 0.0
    for i in ranked:
        article, order, text = items[i]
        if text in seen or (article not in picked and (len(picked) >= max_articles or best[article] < floor)):
            continue
        if used and used + len(text) > budget:
            continue
        if len(text) > budget:
            text = text[:budget].rsplit(" ", 1)[0] + " …"
        picked.setdefault(article, []).append((order, text))
        used += len(text) + 1
        seen.add(text)
    return [(article, [t for _, t in sorted(group)]) for article, group in picked.items()]


def select_passages_by_cosine(
    question: str,
    hits: Sequence[ArticleHit],
    embedder: Embedder,
    max_passages: int = MAX_PASSAGES,
    max_chars: int = PASSAGE_CHARS,
) -> list[PromptPassage]:
    """One numbered passage per article, best article first: its sentences nearest the question.

    The prompt's budget is max_passages * max_chars; when search found fewer articles, each gets
    a larger share, so a single relevant article is still read well beyond one paragraph.
    """
    chosen = list(hits[:max_passages])
    budget = max(max_chars, max_passages * max_chars // max(1, len(chosen)))
    per_hit: list[list[tuple[int, str]]] = []  # (position in article, sentence)
    for hit in chosen:
        passages = sorted(hit.passages[:CHUNKS_READ], key=lambda p: p.index)
        per_hit.append([
            (p.index * 1000 + i, clean(s))
            for p in passages
            for i, s in news_sentences(p.text)
        ])
    flat = [s for group in per_hit for _, s in group]
    scores = iter(sentence_scores(question, flat, embedder))
    out: list[PromptPassage] = []
    for hit, group in zip(chosen, per_hit):
        ranked = sorted(((next(scores), pos, s) for pos, s in group), key=lambda x: -x[0])
        picked: list[tuple[int, str]] = []
        used = 0
        for _, pos, s in ranked:
            if used and used + len(s) > budget:
                continue
            picked.append((pos, s if len(s) <= budget else s[:budget].rsplit(" ", 1)[0] + " …"))
            used += len(s) + 1
        text = " ".join(s for _, s in sorted(picked))
        if text:
            out.append(PromptPassage(len(out) + 1, hit, text))
    return out


