"""Articles → chunks that end on sentence boundaries and fit the embedder's window.

Chunks do not overlap, so an article's chunks joined in order give back its text: the store
needs no second copy of the body. What gets embedded is `embedding_text`: the chunk under a
header with the title and date, so a passage keeps the context its article gives it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from retrieval.ids import chunk_id
from retrieval.types import Article, Chunk

TokenCounter = Callable[[Sequence[str]], list[int]]

# A sentence ends at . ! ? (maybe closed by a quote or bracket) followed by space and a capital,
# a digit or an opening quote, unless the word before the dot is a common abbreviation.
_BOUNDARY = re.compile(r"(?<=[.!?])([\"'”’)\]]*)\s+(?=[\"'“‘(\[]?[A-Z0-9])")
_ABBREVIATIONS = {"mr", "mrs", "ms", "dr", "st", "jr", "sr", "u.s", "no", "vs", "gov", "sen", "rep", "gen", "lt", "col", "prof", "inc", "corp", "jan", "feb", "aug", "sept", "oct", "nov", "dec"}


def split_sentences(text: str) -> list[str]:
    sentences: list[str] = []
    for paragraph in re.split(r"\n", text):
        start = 0
        for m in _BOUNDARY.finditer(paragraph):
            before = paragraph[start : m.start()].rstrip(".!?")
            last_word = before.rsplit(None, 1)[-1].lower() if before.strip() else ""
            if last_word in _ABBREVIATIONS or (len(last_word) == 1 and last_word.isalpha()):
                continue
            sentences.append(paragraph[start : m.start() + len(m.group(1))].strip())
            start = m.end()
        tail = paragraph[start:].strip()
        if tail:
            sentences.append(tail)
    return [s for s in sentences if s]


def embedding_text(title: str, published: str, text: str) -> str:
    header = f"{title} ({published})" if published else title
    return f"{header}\n{text}" if header else text


def chunk_article(
    article: Article, count_tokens: TokenCounter, max_tokens: int = 200, version: str = ""
) -> list[Chunk]:
    """Greedy packing of whole sentences up to max_tokens; an overlong sentence is cut by words."""
    sentences = split_sentences(article.body)
    pieces: list[str] = []
    run: list[tuple[str, int]] = []  # sentences that fit, packed together
    for sentence, n in zip(sentences, count_tokens(sentences)):
        if n > max_tokens:  # pieces of its own, between the packs before and after it
            pieces += _pack(run, max_tokens) + _split_long(sentence, count_tokens, max_tokens)
            run = []
        else:
            run.append((sentence, n))
    pieces += _pack(run, max_tokens)
    digest = version or article.content_hash
    return [
        Chunk(id=chunk_id(article.id, i, digest), article_id=article.id, index=i, text=text)
        for i, text in enumerate(pieces)
    ]


def _split_long(sentence: str, count_tokens: TokenCounter, max_tokens: int) -> list[str]:
    """An overlong sentence packed a word at a time by each word's own token count (words differ:
    a name is 1 token, a long number or URL 20), so no piece passes max_tokens; a single word longer
    than the window is cut into runs of characters."""
    words = sentence.split()
    units = [
        part
        for word, n in zip(words, count_tokens(words))
        for part in ([(word, n)] if n <= max_tokens else _cut_word(word, n, count_tokens, max_tokens))
    ]
    return _pack(units, max_tokens)


def _pack(units: list[tuple[str, int]], max_tokens: int) -> list[str]:
    """Greedy: texts (with their token counts) joined by spaces into pieces of at most max_tokens."""
    pieces: list[str] = []
    current: list[str] = []
    size = 0
    for text, n in units:
        if size + n > max_tokens and current:
            pieces.append(" ".join(current))
            current, size = [], 0
        current.append(text)
        size += n
    if current:
        pieces.append(" ".join(current))
    return pieces


def _cut_word(word: str, tokens: int, count_tokens: TokenCounter, max_tokens: int) -> list[tuple[str, int]]:
    step = max(1, len(word) * max_tokens // (2 * tokens))  # about half a window of characters a run
    runs = [word[i : i + step] for i in range(0, len(word), step)]
    return list(zip(runs, count_tokens(runs)))
