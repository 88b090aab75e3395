"""newsbot's engine. Front-ends use only what is listed in __all__."""

from retrieval.desk import ABSTAIN_TEXT, NewsDesk
from retrieval.errors import BackendError, ConfigError, EmptyIndexError, LoadError, NewsbotError
from retrieval.search import Filters, SearchResult
from retrieval.settings import Settings
from retrieval.types import Answer, Article, ArticleHit, Citation, IngestReport, Passage, Turn

__all__ = [
    "ABSTAIN_TEXT",
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
    "NewsbotError",
    "Passage",
    "SearchResult",
    "Settings",
    "Turn",
]
