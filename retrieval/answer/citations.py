"""The citation checker: what the model wrote is kept only where a given passage supports it.

Rules, applied sentence by sentence to the model's text:
- a [n] that matches no passage is removed;
- a cited passage that does not support the sentence at all is un-cited;
- a sentence left without a citation gets the passage that supports it best (embedding
  similarity plus word overlap, above a threshold), or is dropped;
- sentences that talk about the passages instead of the news ("the passages do not say…") and
  sentences that repeat the system prompt are dropped;
- a citation whose supporting sentence is an instruction to an AI (injection.py) is not support,
  and a sentence with a link, address or image that its supporting sentences do not contain is
  dropped: planted text must not reach an answer even when it slips past the passage filter.
The sources are exactly the cited articles, renumbered in order of first use, each with the
passage sentences that support what cites it. Nothing outside `passages` can ever be cited.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from retrieval.ingest.chunking import split_sentences
from retrieval.index.embeddings import Embedder
from retrieval.index.lexical import tokenize
from retrieval.answer.injection import speaks_to_the_model
from retrieval.answer.relevance import OVERLAP_WEIGHT, overlap
from retrieval.types import ArticleHit, Citation

MIN_SUPPORT = 0.5  # an uncited sentence needs this much support to be attributed to a passage
KEEP_CITED = 0.3  # a cited passage below this does not support the sentence at all
LEAK_NGRAM = 5  # a sentence sharing a run of this many words with the system prompt is a leak
OUTPUT_CHECKS = True  # the injection checks on the answer side (benchmarks/injection.py turns them off to measure)

_LINK = re.compile(
    r"https?://\S+|\bwww\.\S+|!?\[[^\]]*\]\([^)]*\)|\b[\w-]+(?:\.[\w-]+)*\.(?:example|com|org|net|io|co|info|biz|xyz|ru|app|"
    r"gov|edu|uk|ly|me|link|site|online)\b",
    re.I,
)
_MARKER = re.compile(r"\[\s*(\d+(?:\s*[,;]\s*\d+)*)\s*\]")
_MARKERS_AFTER_STOP = re.compile(r"([.!?])((?:\s*\[\s*\d+(?:\s*[,;]\s*\d+)*\s*\])+)")
_META = re.compile(
    r"\b(?:passages?|articles?|context|provided (?:text|information|sources))\b.{0,40}\b"
    r"(?:do(?:es)? not|don't|doesn't|did not|didn't|no)\b.{0,30}\b"
    r"(?:answer|contain|mention|say|provide|include|specify|information|details?)\b"
    r"|\b(?:there is|i have|i found) no information\b|\bnot (?:mentioned|specified|provided) in\b",
    re.I,
)


@dataclass(frozen=True)
class PromptPassage:
    """One numbered passage as the model saw it: the article and the short text shown."""

    n: int
    hit: ArticleHit
    text: str


@dataclass
class Checked:
    text: str
    citations: list[Citation]
    dropped: list[str] = field(default_factory=list)  # sentences removed, for logs and tests
    removed_numbers: list[int] = field(default_factory=list)  # out-of-range [n] taken out


@dataclass
class _Claim:
    text: str  # without markers, without final punctuation
    stop: str  # its final punctuation
    cited: list[int]


def _claims(text: str) -> list[_Claim]:
    """Sentences with the numbers they cite; markers after the full stop belong to the sentence."""
    text = _MARKERS_AFTER_STOP.sub(lambda m: m.group(2) + m.group(1), text.strip())
    claims: list[_Claim] = []
    for sentence in split_sentences(text):
        numbers = [int(n) for group in _MARKER.findall(sentence) for n in re.split(r"[,;]", group)]
        bare = " ".join(_MARKER.sub(" ", sentence).split())
        bare = re.sub(r"\s+([.,;:!?])", r"\1", bare).lstrip("-*• ").strip()
        stop = bare[-1] if bare.endswith((".", "!", "?")) else "."
        bare = bare.rstrip(".!? ")
        if sum(ch.isalnum() for ch in bare) < 3:
            if claims and numbers:  # a stray "[2]." after a sentence belongs to it
                claims[-1].cited.extend(numbers)
            continue
        claims.append(_Claim(bare, stop, numbers))
    return claims


def _ngrams(words: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def leaks(sentence: str, secret: str, n: int = LEAK_NGRAM) -> bool:
    """Whether the sentence repeats a run of n words of the secret (the system prompt)."""
    words = re.findall(r"\w+", sentence.lower())
    return bool(_ngrams(words, n) & _ngrams(re.findall(r"\w+", secret.lower()), n))


def is_meta(sentence: str) -> bool:
    """A sentence about the passages rather than the news ("the passages do not mention…")."""
    return bool(_META.search(sentence))


def _supports(score: float, sentence: str, threshold: float) -> bool:
    return score >= threshold and not (OUTPUT_CHECKS and speaks_to_the_model(sentence))


def _foreign_link(claim: str, support: list[str]) -> bool:
    """A link, address or image in the answer that none of its sources holds: an answer carries
    the news, never a destination someone planted."""
    held = " ".join(support).lower()
    return any(link.group(0).lower().rstrip(".,;)") not in held for link in _LINK.finditer(claim))


def check_citations(
    text: str,
    passages: list[PromptPassage],
    embedder: Embedder,
    *,
    secret: str = "",
    min_support: float = MIN_SUPPORT,
    keep_cited: float = KEEP_CITED,
) -> Checked:
    """The model's text with every claim tied to a passage that supports it (see module doc)."""
    claims = _claims(text)
    by_n = {p.n: p for p in passages}
    removed = sorted({n for c in claims for n in c.cited if n not in by_n})
    dropped: list[str] = []
    kept: list[_Claim] = []
    for c in claims:
        if (secret and leaks(c.text, secret)) or is_meta(c.text):
            dropped.append(c.text)
        else:
            kept.append(c)
    if not kept or not passages:
        return Checked("", [], dropped + [c.text for c in kept], removed)

    # support[i, j]: how well passage j backs claim i; best[i][j]: the passage sentence that does
    sentences = [[s for s in split_sentences(p.text) if s.strip()] or [p.text] for p in passages]
    flat = [s for group in sentences for s in group]
    vectors = np.asarray(embedder.embed_sentences([c.text for c in kept] + flat))
    claim_vecs, sent_vecs = vectors[: len(kept)], vectors[len(kept) :]
    similarity = claim_vecs @ sent_vecs.T
    claim_terms = [set(t) for t in tokenize([c.text for c in kept])]
    passage_terms = [set(t) for t in tokenize([p.hit.title + " " + p.text for p in passages])]
    support = np.zeros((len(kept), len(passages)))
    best: list[list[str]] = [[""] * len(passages) for _ in kept]
    offset = 0
    for j, group in enumerate(sentences):
        block = similarity[:, offset : offset + len(group)]
        offset += len(group)
        for i in range(len(kept)):
            k = int(np.argmax(block[i]))
            support[i, j] = float(block[i, k]) + OVERLAP_WEIGHT * overlap(claim_terms[i], passage_terms[j])
            best[i][j] = group[k]

    numbers: dict[str, int] = {}  # article id -> new number, in order of first use
    quotes: dict[str, list[str]] = {}
    hits: dict[str, ArticleHit] = {}
    out: list[str] = []
    index = {p.n: j for j, p in enumerate(passages)}
    for i, c in enumerate(kept):
        cited = [n for n in dict.fromkeys(c.cited) if n in by_n and _supports(support[i, index[n]], best[i][index[n]], keep_cited)]
        if not cited:
            j = int(np.argmax(support[i]))
            if not _supports(support[i, j], best[i][j], min_support):
                dropped.append(c.text)
                continue
            cited = [passages[j].n]
        if OUTPUT_CHECKS and _foreign_link(c.text, [best[i][index[n]] for n in cited] + [by_n[n].hit.url for n in cited]):
            dropped.append(c.text)
            continue
        marks = []
        for n in cited:
            p = by_n[n]
            aid = p.hit.article_id
            new = numbers.setdefault(aid, len(numbers) + 1)
            hits[aid] = p.hit
            quote = best[i][index[n]]
            if quote not in quotes.setdefault(aid, []):
                quotes[aid].append(quote)
            if f"[{new}]" not in marks:
                marks.append(f"[{new}]")
        out.append(f"{c.text} {''.join(marks)}{c.stop}")

    citations = [Citation.from_hit(n, hits[aid], quotes[aid]) for aid, n in numbers.items()]
    return Checked(" ".join(out), citations, dropped, removed)
