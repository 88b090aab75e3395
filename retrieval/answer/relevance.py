"""How well a sentence answers a question: embedding similarity plus shared content words.

The word overlap matters because MiniLM rates a sentence on the same topic about as high as
the one that names the thing asked about; sharing the question's stemmed words breaks the tie.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from retrieval.index.embeddings import Embedder
from retrieval.index.lexical import tokenize

OVERLAP_WEIGHT = 0.3


def overlap(terms: set[str], other: set[str]) -> float:
    """Share of `terms` found in `other`."""
    return len(terms & other) / len(terms) if terms else 0.0


def sentence_scores(question: str, sentences: Sequence[str], embedder: Embedder) -> list[float]:
    if not sentences:
        return []
    vectors = np.asarray(embedder.embed_sentences([question, *sentences]))
    similarity = vectors[1:] @ vectors[0]
    q_terms = set(tokenize([question])[0])
    return [
        float(s) + OVERLAP_WEIGHT * overlap(q_terms, set(t))
        for s, t in zip(similarity, tokenize(list(sentences)))
    ]
