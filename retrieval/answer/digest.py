""""What's new today?": a question with no topic, only a time. Search has nothing to rank it by
(every article is "news"), so instead of abstaining the answer lists the newest stories of the
window the question names (today, if it names none), each with its lead sentence, cited. When the
store has nothing from then, the newest it has are listed, and the answer says how old they are
(pipeline.dated_caveat), as for any timed question.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

from retrieval.ingest.chunking import split_sentences
from retrieval.types import ArticleHit, Citation

DIGEST_STORIES = 5
LEAD_CHARS = 220  # of each story's first sentence
# How far back to look, in turn, when the window holds nothing: the newest stories are then older.
LOOK_BACK_DAYS = (30, 365, None)

# Newest stories published in [since, until] (either may be None), newest first.
Newest = Callable[[int, "dt.date | None", "dt.date | None"], list[ArticleHit]]

_TIME = re.compile(
    r"\b(?:today|tonight|yesterday|this (?:morning|afternoon|evening|week|weekend|month|year)|"
    r"(?:in )?the (?:last|past) (?:\w+ )?(?:days?|weeks?|hours?|months?)|last (?:night|week|month)|"
    r"lately|recently|right now|now|so far|at the moment|these days|for me)\b"
)
_DIGEST = re.compile(
    r"(?:(?:what|whats|what's|what is|what are|what were|any|anything|is there any|give me|show me|tell me|"
    r"tell me about|list|catch me up on|summari[sz]e)\s+)?(?:the\s+)?"
    r"(?:new|news|latest|latest news|news headlines|headlines|happening|going on|happened|"
    r"(?:top|biggest|big|main|most important|important|key) (?:stories|news|headlines|events))"
    r"(?:\s+(?:in the news|in the world|out there|on the news))?"
)


def is_digest_question(question: str) -> bool:
    """True for "What's new today?", "Any news this week?", "What were the biggest stories this
    week?": a time and nothing else to search for."""
    q = question.lower().replace("’", "'")
    q = re.sub(r"[^\w' ]+", " ", q)
    q = _TIME.sub(" ", q)
    q = " ".join(w for w in q.split() if w not in {"please", "so", "hey", "hi", "newsbot"})
    return bool(_DIGEST.fullmatch(q))


def digest(newest: Newest, window: tuple[dt.date, dt.date] | None, as_of: dt.date) -> tuple[str, list[Citation]]:
    """The newest stories of `window` (default: `as_of`'s day), or, when it holds none, the
    newest before it; a bullet each: headline, lead sentence, citation."""
    since, until = window or (as_of, as_of)
    hits = newest(DIGEST_STORIES, since, until)
    for days in LOOK_BACK_DAYS:
        if hits:
            break
        hits = newest(DIGEST_STORIES, as_of - dt.timedelta(days=days) if days else None, until)
    lines, citations = [], []
    for n, hit in enumerate(hits, start=1):
        lead = next(iter(split_sentences(hit.passages[0].text if hit.passages else "")), "")
        lead = lead if len(lead) <= LEAD_CHARS else lead[: LEAD_CHARS - 1].rstrip() + "…"
        lines.append(f"- {hit.title}: {lead} [{n}]" if lead and lead != hit.title else f"- {hit.title} [{n}]")
        citations.append(Citation.from_hit(n, hit, [lead or hit.title]))
    return "\n".join(lines), citations

