"""Deterministic stand-ins registered like the real backends (never the only thing tested)."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence

from retrieval.index.embeddings import Embedder


class HashingEmbedder(Embedder):
    """Bag of lower-cased words hashed into 256 dimensions: similar words, similar vectors."""

    name = "hashing-test"
    dimensions = 256

    def embed_batch(self, texts: Sequence[str]) -> list[list[float]]:
        out = []
        for text in texts:
            v = [0.0] * self.dimensions
            for word in re.findall(r"[a-z0-9]+", text.lower()):
                v[int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dimensions] += 1.0
            norm = math.sqrt(sum(x * x for x in v)) or 1.0
            out.append([x / norm for x in v])
        return out
