"""What kind of thing a question asks for, and how well a sentence offers one.

"Which country…" wants a country: a sentence naming Thailand answers it better than one on the
same topic that names no country. The kind is read from the question's words ("which automaker
is…" → "automaker", "how many" → "number", "who" → "person"); a sentence offers the names and
numbers in it that the question does not already contain; the match is MiniLM's cosine between
the kind and the closest of them. So any kind works ("which celestial event"), not a fixed list
of entity types, and no tagger model is needed. A summary question ("what did they discuss?")
asks for several points rather than one thing; the confidence gate treats it apart.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from retrieval.index.embeddings import Embedder

NUMBER, PERSON, PLACE, DATE = "number", "person", "place", "date"
MAX_KIND_WORDS = 3

_NUMERIC = re.compile(r"\bhow (?:many|much|old|long)\b|\bwhat (?:percentage|percent|number|share|age|year)\b", re.I)
_WHICH = re.compile(
    r"\b(?:which|what)\s+(?:of\s+(?:the\s+following|these|those|the)\s*,?\s*)?(?:(?:is|was|are|were)\s+(?:the\s+)?)?"
    r"([\w'’\"“” -]+)",  # quotes kept inside: 'which "junk food" staple'
    re.I,
)
# "what's the name of the new colour…" asks for a colour, not for a "name"
_NAME_OF = re.compile(r"\bnames?\s+(?:of|for)\s+(?:the\s+|a\s+|an\s+|this\s+|that\s+|its\s+|their\s+)?([\w'’\"“” -]+)", re.I)
_QUOTES = "\"“”"
_UNITS = re.compile(r'["“][^"“”]*["”]?|[^\s"“”]+')
# the kind ends where the question goes on ("which country *has*…", "which team *won*…")
_ENDS_KIND = frozenset(
    "is was are were did does do has have had will would can could may might should the a an of in on at to "
    "for by with this that these those following from as be been being its their his her it they which what "
    "who won said made became announced received unveiled".split()
)
_WH_KINDS = tuple(
    (re.compile(pattern, re.I), kind)
    for pattern, kind in ((r"\bwho(?:m|se)?\b", PERSON), (r"\bwhere\b", PLACE), (r"\bwhen\b", DATE))
)
# names (runs of capitalised words, "Bank of England") and numbers ("$15,000", "25%", "3 million")
_OFFERED = re.compile(
    r"[A-Z][\w'’&.-]*(?:\s+(?:of\s+|de\s+|the\s+)?[A-Z][\w'’&.-]*)*"
    r"|\$?\d[\d,.]*%?(?:\s+(?:million|billion|trillion|percent|years?))?"
)
_SUMMARY = re.compile(
    r"\bwhat (?:did|do|does|will)\b[^?.,;]*\b(?:discuss|say|talk|agree|announce|reveal|propose|promise|tell)"
    r"|\bwhat (?:has |have |is )?happen",
    re.I,
)


def asks_for_summary(question: str) -> bool:
    """"What did Modi and Putin discuss?", "what happened in Lisbon?": several points, no one thing."""
    return bool(_SUMMARY.search(question))


def asked_kind(question: str) -> str | None:
    """The kind of answer asked for, in the question's words; None when it names none ("why…")."""
    if _NUMERIC.search(question):
        return NUMBER
    for pattern in (_NAME_OF, _WHICH):
        match = pattern.search(question)
        kind = _kind_words(match.group(1)) if match else None
        if kind:
            return kind
    return next((kind for pattern, kind in _WH_KINDS if pattern.search(question)), None)


def _kind_words(text: str) -> str | None:
    """The kind's words: up to MAX_KIND_WORDS, until the question goes on."""
    words: list[str] = []
    for unit in _UNITS.findall(text):  # a quoted phrase is one unit: 'which "Lord of the Rings" character'
        quoted = unit[0] in _QUOTES
        if (not quoted and unit.lower() in _ENDS_KIND) or len(words) == MAX_KIND_WORDS:
            break
        if words and words[-1].islower() and unit[0].isupper():  # "the charity Prince Harry left"
            break
        words.append(unit.strip(_QUOTES))
    return " ".join(w for w in words if w) or None


def question_words(question: str) -> set[str]:
    """The question's words, lowercased: what a sentence repeating them does not offer as new."""
    return {w.lower() for w in re.findall(r"\w+", question)}


def offered(text: str, question_words: set[str]) -> list[str]:
    """The names and numbers of a sentence that the question does not already hold."""
    out = []
    for match in _OFFERED.finditer(text):
        name = match.group(0).strip(" .,'’")
        words = {w.lower() for w in re.findall(r"\w+", name)}
        if words and not words <= question_words:
            out.append(name)
    return out


def kind_match(question: str, texts: Sequence[str], embedder: Embedder) -> np.ndarray:
    """Per sentence, the cosine between the asked kind and the closest thing it offers: 0 when it
    offers nothing, NaN for every sentence when the question asks for no kind."""
    kind = asked_kind(question)
    if kind is None:
        return np.full(len(texts), np.nan)
    asked = question_words(question)
    per_text = [offered(t, asked) for t in texts]
    names = list(dict.fromkeys(n for names in per_text for n in names))
    if not names:
        return np.zeros(len(texts))
    vectors = np.asarray(embedder.embed_sentences([kind, *names]))
    similarity = dict(zip(names, vectors[1:] @ vectors[0]))
    return np.array([max((float(similarity[n]) for n in names), default=0.0) for names in per_text])
