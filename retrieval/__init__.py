"""newsbot's engine. Front-ends use only what is listed in __all__ (pinned by tests/test_public_api.py).

The stages live in sub-packages — ingest → index → search → answer → evaluation — and
`NewsDesk` is the facade over them (docs/architecture.md). The LangChain interfaces
(`NewsRetriever`, `answer_runnable`) load LangChain only when first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from retrieval.dates import user_date
from retrieval.desk import MAX_QUESTION_CHARS, NewsDesk, checked_question
from retrieval.errors import (
    BackendError,
    ConfigError,
    EmptyIndexError,
    LoadError,
    NewsbotError,
    QuestionError,
)
from retrieval.search.hybrid import Filters, SearchResult
from retrieval.settings import Settings, env_float, env_int, load_dotenv_once
from retrieval.types import ABSTAIN_TEXT, HISTORY_TURNS, Answer, Article, ArticleHit, Citation, IngestReport, OnStage, Passage, Stage, Turn

if TYPE_CHECKING:
    from retrieval.runnables import NewsRetriever, answer_runnable

__all__ = [
    "ABSTAIN_TEXT",
    "HISTORY_TURNS",
    "MAX_QUESTION_CHARS",
    "Answer",
    "Article",
    "ArticleHit",
    "BackendError",
    "Citation",
    "ConfigError",
    "EmptyIndexError",
    "Filters",
    "IngestReport",
    "LoadError",
    "NewsDesk",
    "NewsRetriever",
    "NewsbotError",
    "Passage",
    "QuestionError",
    "OnStage",
    "SearchResult",
    "Settings",
    "Stage",
    "Turn",
    "answer_runnable",
    "checked_question",
    "env_float",
    "env_int",
    "load_dotenv_once",
    "user_date",
]

_LAZY = {"NewsRetriever", "answer_runnable"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:  # importing langchain takes seconds; only these need it
        from retrieval import runnables

        return getattr(runnables, name)
    raise AttributeError(f"module 'retrieval' has no attribute {name!r}")
