"""The answer prompt: system rules, three worked examples as earlier turns, then the numbered
passages, the day the question is asked, and the question — with nothing after it.

Passage text is data: it is fenced in <passages> tags (any such tag inside an article is removed
by `passages.clean`), and the system prompt says so. The worked examples come before everything
that varies, so llama.cpp's prefix cache reads them once.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from functools import cache

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from retrieval.answer import prompts, sentences
from retrieval.answer.citations import PromptPassage
from retrieval.answer.passages import CHUNKS_READ, MAX_PASSAGES, PASSAGE_CHARS, RELATIVE_SCORE, clean
from retrieval.types import ArticleHit

MARKERS = re.compile(r"\s*\[\d+(?:\s*,\s*\d+)*\]")


def _passage_block(n: int, source: str, published: str, title: str, text: str) -> str:
    header = prompts.PASSAGE_HEADER.format(
        n=n, source=clean(source) or "unknown outlet", date=published or "undated", title=clean(title) or "untitled"
    )
    return f"{header}\n{clean(text)}"


def answer_messages(
    question: str, passages: Sequence[PromptPassage], today: dt.date | None = None
) -> list[BaseMessage]:
    """System rules, the worked examples, then the passages and the question.

    The model is told the day the question is asked (as_of), so that for "this week" it can
    prefer a recent source over an older one on the same topic."""
    blocks = [
        _passage_block(
            p.n, p.hit.source, p.hit.published.isoformat() if p.hit.published else "", p.hit.title, p.text
        )
        for p in passages
    ]
    user = prompts.ANSWER_USER.format(
        today=(today or dt.date.today()).isoformat(), passages="\n".join(blocks), question=clean(question)
    )
    return [SystemMessage(prompts.ANSWER_SYSTEM), *_examples(), HumanMessage(user)]


@cache
def _examples() -> tuple[BaseMessage, ...]:
    """The worked examples as chat turns; they never change, so they are built once."""
    turns: list[BaseMessage] = []
    for e, question, answer in prompts.EXAMPLES:
        passage = _passage_block(1, e["source"], e["date"], e["title"], e["text"])
        user = prompts.ANSWER_USER.format(today=prompts.EXAMPLE_TODAY, passages=passage, question=question)
        turns.append(HumanMessage(user))
        turns.append(AIMessage(answer))
    return tuple(turns)


def prompt_signature() -> str:
    """Everything that shapes what the model is shown: the prompt rendered for a fixed sample,
    and the passage budget. Evaluation keys its results by it, so a changed prompt never
    reuses answers of the old one."""
    hit = ArticleHit("sample", "Title", "Outlet", "https://example.org", dt.date(2000, 1, 1), 1.0)
    messages = answer_messages("Question?", [PromptPassage(1, hit, "Passage.")], dt.date(2000, 1, 2))
    budget = f"{MAX_PASSAGES}/{PASSAGE_CHARS}/{CHUNKS_READ}/{sentences.ARTICLES_READ}/{sentences.CHUNKS_READ}/{RELATIVE_SCORE}"
    return "\n\n".join([budget, *(f"{m.type}: {m.text}" for m in messages)])


def says_not_found(text: str) -> bool:
    """The model's way of abstaining: NOT FOUND, alone or leading its answer."""
    bare = MARKERS.sub("", text).strip().strip(".!").upper()
    return bare.startswith(prompts.NOT_FOUND) or bare.endswith(prompts.NOT_FOUND) and len(bare) < 60
