"""Scoring functions for `newsbot eval`: SQuAD normalisation, EM/F1, ranking recall and MRR."""

from __future__ import annotations

import re
import string
import sys
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import cache

ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = set(string.punctuation)
_CITATION = re.compile(r"\s*\[\d+\]")


def normalize_answer(text: str) -> str:
    """SQuAD's: lower case, no punctuation, no articles (a/an/the), collapsed white space."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCT)
    return " ".join(ARTICLES.sub(" ", text).split())


def strip_citations(text: str) -> str:
    return _CITATION.sub("", text).replace("“", "").replace("”", "")


def cited_numbers(text: str) -> set[int]:
    """The passage numbers an answer cites, from its [n] markers."""
    return {int(n) for n in re.findall(r"\[(\d+)\]", text)}


def exact_match(prediction: str, gold: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(gold))


def f1(prediction: str, gold: str) -> float:
    """SQuAD token F1 between a prediction and one gold answer."""
    pred = normalize_answer(prediction).split()
    ref = normalize_answer(gold).split()
    common = Counter(pred) & Counter(ref)
    same = sum(common.values())
    if not pred or not ref:
        return float(pred == ref)
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(ref)
    return 2 * precision * recall / (precision + recall)


def contains(haystack: str, gold: str) -> bool:
    """Whether the normalised gold answer appears in the normalised text (as RealTime QA judges)."""
    needle = normalize_answer(gold)
    return bool(needle) and needle in normalize_answer(haystack)


def contains_loosely(haystack: str, gold: str) -> bool:
    """`contains` with every Unicode punctuation mark stripped, not only ASCII's: a gold answer
    written with a curly apostrophe ("Ben & Jerry’s") is never `contains`ed in an answer that
    writes it with a straight one, though a reader would count it right."""
    needle = normalize_loosely(gold)
    return bool(needle) and needle in normalize_loosely(haystack)


@cache
def _punctuation() -> dict[int, None]:
    return {cp: None for cp in range(sys.maxunicode + 1) if unicodedata.category(chr(cp)).startswith("P")}


def normalize_loosely(text: str) -> str:
    """SQuAD normalisation (lower case, no articles, one space) with every Unicode punctuation
    character removed, not only ASCII's."""
    text = unicodedata.normalize("NFKC", text).translate(_punctuation()).lower()
    return " ".join(ARTICLES.sub(" ", text).split())


def first_hit(relevant: Sequence[bool]) -> int | None:
    """1-based rank of the first relevant item, or None."""
    return next((i for i, r in enumerate(relevant, 1) if r), None)


def recall_at(ranks: Iterable[int | None], k: int) -> float:
    """Share of questions whose first relevant item is ranked k or better."""
    ranks = list(ranks)
    return sum(1 for r in ranks if r is not None and r <= k) / len(ranks) if ranks else 0.0


def mrr_at(ranks: Iterable[int | None], k: int) -> float:
    ranks = list(ranks)
    return sum(1.0 / r for r in ranks if r is not None and r <= k) / len(ranks) if ranks else 0.0


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, int(round(q / 100 * len(ordered) + 0.5)) - 1))
    return ordered[index]
