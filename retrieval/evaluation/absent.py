"""Which questions have an answer nowhere in the articles: there, the right reply is to abstain.

The check is deliberately looser than `metrics.contains`: Unicode punctuation is stripped as
well as ASCII, so an answer written with a curly apostrophe or in curly quotes still finds the
article that has it. A question counts as absent only when no article contains its answer.
"""

from __future__ import annotations

import json
import sys
import unicodedata
from collections.abc import Iterable
from functools import cache
from pathlib import Path

from retrieval.evaluation.metrics import ARTICLES
from retrieval.evaluation.questions import MIN_ANSWER_CHARS, Question


@cache
def _punctuation() -> dict[int, None]:
    return {cp: None for cp in range(sys.maxunicode + 1) if unicodedata.category(chr(cp)).startswith("P")}


def normalize_loosely(text: str) -> str:
    """SQuAD normalisation (lower case, no articles, one space) with every Unicode punctuation
    character removed, not only ASCII's."""
    text = unicodedata.normalize("NFKC", text).translate(_punctuation()).lower()
    return " ".join(ARTICLES.sub(" ", text).split())


def absent_answer_ids(questions: Iterable[Question], articles: Path) -> set[str]:
    """Ids of the questions whose (loosely normalised) answer appears in no article."""
    corpus = " \n ".join(
        normalize_loosely(f"{a.get('title') or ''} {a.get('text') or ''}")
        for a in map(json.loads, filter(str.strip, articles.read_text(encoding="utf-8").splitlines()))
    )
    absent = set()
    for q in questions:
        needle = normalize_loosely(q.answer)
        if len(needle) >= MIN_ANSWER_CHARS and needle not in corpus:
            absent.add(q.id)
    return absent
