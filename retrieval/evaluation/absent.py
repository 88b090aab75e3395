"""Which questions have an answer nowhere in the articles: there, the right reply is to abstain.

The check is deliberately looser than `metrics.contains`: Unicode punctuation is stripped as
well as ASCII, so an answer written with a curly apostrophe or in curly quotes still finds the
article that has it. A question counts as absent only when no article contains its answer.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from retrieval.evaluation.metrics import normalize_loosely
from retrieval.evaluation.questions import MIN_ANSWER_CHARS, Question


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
