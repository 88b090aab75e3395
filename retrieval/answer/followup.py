"""Follow-ups ("and the S-500?") rewritten into questions that stand alone, so search sees the topic.

The LLM rewrites when there is one; without it, or when it fails, a follow-up is searched
together with the question it follows.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage

from retrieval.answer import prompts
from retrieval.answer.prompt import MARKERS
from retrieval.types import HISTORY_TURNS, Turn

log = logging.getLogger(__name__)

HISTORY_CHARS = 300
CONDENSE_MAX_TOKENS = 48

_FOLLOW_UP = re.compile(
    r"^\s*(?:and|but|also|so|what about|how about|why|when|where|who else)\b"
    r"|\b(?:it|its|they|them|their|he|him|his|she|her|this|that|these|those|there|the same)\b",
    re.I,
)


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
        text = " ".join(MARKERS.sub("", t.text).split())
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
