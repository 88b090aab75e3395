"""Feeds as configuration: subscriptions kept in Chroma, polled by `newsbot watch`.

The front-ends use this package's names (like `retrieval`'s): `newsbot feeds …` edits the
registry, `newsbot watch` (or `chat --watch`, `slack --watch`) runs a Watcher.
"""

from __future__ import annotations

from retrieval.feeds.opml import OpmlReport, import_opml
from retrieval.feeds.registry import FeedRegistry, FeedState, checked_url
from retrieval.feeds.schedule import default_every, human_duration, parse_duration, relative
from retrieval.feeds.watcher import PollResult, Watcher

__all__ = [
    "FeedRegistry",
    "FeedState",
    "OpmlReport",
    "PollResult",
    "Watcher",
    "checked_url",
    "default_every",
    "human_duration",
    "import_opml",
    "parse_duration",
    "relative",
]
