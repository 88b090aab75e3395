"""The answer chain: follow-up → standalone question; hits → short numbered passages → prompt.

Passages are kept short on purpose: on 2 cores, reading them is most of the wait for the first
token, and the 1.5B model answered worse, not better, from longer ones (benchmarks/README.md).
So each article contributes only its sentences closest to the question (PASSAGE_CHARS), and at
most MAX_PASSAGES articles are shown. Passage text is data: it is fenced in <passages> tags (any
such tag inside an article is removed), the system prompt says so, and sentences that speak to
the model (retrieval/injection.py) are never shown.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Sequence
from functools import cache

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from retrieval import prompts
from retrieval.chunking import split_sentences
from retrieval.citations import PromptPassage
from retrieval.embeddings import Embedder
from retrieval.injection import speaks_to_the_model
from retrieval.relevance import sentence_scores
from retrieval.types import ArticleHit, Turn

log = logging.getLogger(__name__)

MAX_PASSAGES = 3  # articles shown to the model (3-5; each costs about 1 s of prompt reading on 2 cores)
PASSAGE_CHARS = 360  # per article: its best sentences, in article order (450 measured worse)
CHUNKS_READ = 2  # an article's best chunks searched for those sentences
HISTORY_TURNS = 4
HISTORY_CHARS = 300
CONDENSE_MAX_TOKENS = 48

_FOLLOW_UP = re.compile(
    r"^\s*(?:and|but|also|so|what about|how about|why|when|where|who else)\b"
    r"|\b(?:it|its|they|them|their|he|him|his|she|her|this|that|these|those|there|the same)\b",
    re.I,
)
_TAGS = re.compile(r"</?\s*passages?\s*>", re.I)
_MARKERS = re.compile(r"\s*\[\d+(?:\s*,\s*\d+)*\]")


def _clean(text: str) -> str:
    """Passage text as data: one line, no fence tags."""
    return " ".join(_TAGS.sub(" ", text).split())


def select_passages(
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
            (p.index * 1000 + i, _clean(s))
            for p in passages
            for i, s in enumerate(split_sentences(p.text))
            if not speaks_to_the_model(s)
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


def _passage_block(n: int, source: str, published: str, title: str, text: str) -> str:
    header = prompts.PASSAGE_HEADER.format(
        n=n, source=_clean(source) or "unknown outlet", date=published or "undated", title=_clean(title) or "untitled"
    )
    return f"{header}\n{_clean(text)}"


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
        today=(today or dt.date.today()).isoformat(), passages="\n".join(blocks), question=_clean(question)
    )
    return [SystemMessage(prompts.ANSWER_SYSTEM), *_examples(), HumanMessage(user)]


@cache
def _examples() -> tuple[BaseMessage, ...]:
    """The worked examples as chat turns; they never change, so they are built once."""
    e = prompts.EXAMPLE_PASSAGE
    passage = _passage_block(1, e["source"], e["date"], e["title"], e["text"])
    turns: list[BaseMessage] = []
    for question, answer in prompts.EXAMPLES:
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
    budget = f"{MAX_PASSAGES}/{PASSAGE_CHARS}/{CHUNKS_READ}"
    return "\n\n".join([budget, *(f"{m.type}: {m.text}" for m in messages)])


def says_not_found(text: str) -> bool:
    """The model's way of abstaining: NOT FOUND, alone or leading its answer."""
    bare = _MARKERS.sub("", text).strip().strip(".!").upper()
    return bare.startswith(prompts.NOT_FOUND) or bare.endswith(prompts.NOT_FOUND) and len(bare) < 60


# --- follow-ups -------------------------------------------------------------------------------


def needs_rewrite(question: str, history: Sequence[Turn]) -> bool:
    return any(t.role == "user" and t.text.strip() for t in history)


def fallback_standalone(question: str, history: Sequence[Turn]) -> str:
    """Without an LLM: a follow-up ("and the S-500?") is searched together with the question it follows."""
    previous = next((t.text.strip() for t in reversed(history) if t.role == "user" and t.text.strip()), "")
    if not previous or not (_FOLLOW_UP.search(question) or len(question.split()) <= 4):
        return question
    return f"{previous.rstrip('?. ')}? {question}"


def _history_text(history: Sequence[Turn]) -> str:
    lines = []
    for t in list(history)[-HISTORY_TURNS:]:
        text = " ".join(_MARKERS.sub("", t.text).split())
        if len(text) > HISTORY_CHARS:
            text = text[:HISTORY_CHARS].rsplit(" ", 1)[0] + " …"
        lines.append(f"{'User' if t.role == 'user' else 'Assistant'}: {text}")
    return "\n".join(lines)


def standalone_question(question: str, history: Sequence[Turn], llm: BaseChatModel | None) -> str:
    """The question rewritten to stand alone; the LLM does it when there is one."""
    if not needs_rewrite(question, history):
        return question
    if llm is None:
        return fallback_standalone(question, history)
    messages = [
        SystemMessage(prompts.CONDENSE_SYSTEM),
        HumanMessage(prompts.CONDENSE_USER.format(history=_history_text(history), question=question)),
    ]
    try:
        limit = {"max_tokens": CONDENSE_MAX_TOKENS} if llm._llm_type in ("llama-cpp", "openai-chat") else {}
        reply = llm.invoke(messages, **limit).text
    except Exception:  # a failing server must not cost the answer: fall back to the heuristic
        log.warning("rewriting the follow-up with the LLM failed; using the heuristic", exc_info=True)
        return fallback_standalone(question, history)
    line = next((ln.strip() for ln in reply.splitlines() if ln.strip()), "")
    line = re.sub(r"^(?:rewritten question|question)\s*:\s*", "", line, flags=re.I).strip().strip('"“”')
    if not line or len(line) > 3 * len(question) + 200:
        return fallback_standalone(question, history)
    return line
