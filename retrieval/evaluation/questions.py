"""The dev questions (RealTime QA format) and the article texts they are judged against."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

from retrieval.dates import parse_date
from retrieval.evaluation.metrics import normalize_answer
from retrieval.ids import normalize_url

MIN_ANSWER_CHARS = 3  # answers normalising to fewer characters match almost any text


@dataclass(frozen=True)
class Question:
    id: str
    date: dt.date | None
    question: str
    answer: str
    web_ranking: tuple[str, ...]
    answer_urls: tuple[str, ...]

    @property
    def answerable(self) -> bool:
        return bool(self.answer_urls)

    @property
    def scorable(self) -> bool:
        return len(normalize_answer(self.answer)) >= MIN_ANSWER_CHARS


def read_questions(path: Path) -> list[Question]:
    questions = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        q = json.loads(line)
        questions.append(
            Question(
                id=str(q["question_id"]),
                date=parse_date(q.get("question_date")),
                question=q["question"],
                answer=q.get("answer_text") or q["choices"][q["answer_idx"]],
                web_ranking=tuple(q.get("gcs_ranked_urls") or ()),
                answer_urls=tuple(q.get("urls_containing_answer_string") or ()),
            )
        )
    return questions


def read_article_texts(path: Path) -> dict[str, str]:
    """Normalised URL → title + text: the ground truth a retrieved article is judged on."""
    texts = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            a = json.loads(line)
            texts[normalize_url(a.get("url") or "")] = f"{a.get('title') or ''}\n{a.get('text') or ''}"
    return texts
