"""Syndication detection: which articles are copies of the same report (a wire story republished
by several outlets with their own boilerplate and light edits), by MinHash over word shingles.

Pure functions over article text, no Chroma. A story's signature is stored as a metadata string
(`encode`), its LSH band keys as metadata fields `lsh_0 … lsh_{BANDS-1}`: two articles share a
band key with high probability when their Jaccard similarity is at or above THRESHOLD, so an
equality `$or` over those fields finds candidates, and `similarity` on the stored signatures
confirms them. Figures behind the constants: benchmarks/syndication.py over the realtimeqa corpus.

Jaccard, not containment: outlets' boilerplate is mostly gone after extraction, and of 2,714
candidate pairs in the corpus only 7 had 4-gram containment >= 0.8 but Jaccard < 0.5 (six
truncated or expanded versions, one list piece quoting a story). Catching those would need the
set sizes stored and lower-threshold bands, for a few pairs.
"""

from __future__ import annotations

import base64
import hashlib
import re
import unicodedata
from collections.abc import Sequence

import numpy as np
from datasketch import MinHash, MinHashLSH
from datasketch.lsh import _optimal_param

# Word 4-grams. Measured on the news corpus: synthetic copies (one word in 40 changed, a paragraph
# dropped, 60 words of boilerplate added) keep Jaccard >= 0.5 for 91% of 150-400-word articles at
# n = 3 or 4 (83% at 5), while same-topic reports from another outlet stay under 0.05 (p99) at 4
# (0.07 at 3); longer n lets fewer recycled year-apart pieces through but loses short copies.
SHINGLE_WORDS = 4
# At or above this estimated Jaccard, two articles are the same story: 28 of 30 sampled clusters
# were (the two misses: identical betting boilerplate as the whole body, a recycled explainer four
# years on). Just below it (0.35-0.5), 6 of 10 pairs were rewritten or expanded versions too.
THRESHOLD = 0.5
NUM_PERM = 128  # standard error of the estimate near THRESHOLD: about 0.044
SEED = 1  # fixed: stored signatures and band keys are only comparable under the same seed
# Shorter texts are never folded: two brief summaries of one event share too much by chance.
MIN_WORDS = 50
# Weight missed copies over spurious candidates: every candidate is confirmed by `similarity`
# anyway, so a false candidate costs one comparison while a missed one is a duplicate hit.
LSH_WEIGHTS = (0.2, 0.8)
# _optimal_param(THRESHOLD, NUM_PERM, *LSH_WEIGHTS), pinned (and checked by a test) because stored
# keys depend on them: a pair at Jaccard 0.5 shares a band 86% of the time, at 0.6 98%, at 0.3 22%.
BANDS, ROWS = 30, 4

_SCHEME = "affine32"  # datasketch 2.0's default, named so that an upgrade cannot change it
_EMPTY = MinHash(num_perm=NUM_PERM, seed=SEED, scheme=_SCHEME)
_WORD = re.compile(r"\w+")  # Unicode letters and digits: punctuation and symbols are dropped
_APOSTROPHES = ("'", "\u2019", "\u02bc")  # "don't" and "don’t" are one word, "dont"


def words(text: str) -> list[str]:
    """The text as normalised words: NFKC, case-folded, apostrophes removed, punctuation dropped."""
    text = unicodedata.normalize("NFKC", text or "").casefold()
    for mark in _APOSTROPHES:  # str.replace: 40 times faster than str.translate here
        text = text.replace(mark, "")
    return _WORD.findall(text)


def shingles(text: str) -> set[bytes]:
    """The body's word SHINGLE_WORDS-grams; none for texts under MIN_WORDS words."""
    w = words(text)
    if len(w) < MIN_WORDS:
        return set()
    n = SHINGLE_WORDS
    return {" ".join(w[i : i + n]).encode() for i in range(len(w) - n + 1)}


def signature(text: str) -> MinHash:
    """The MinHash of the text's shingles; empty (never similar, no keys) for a short text."""
    sig = _EMPTY.copy()  # shares the permutations instead of drawing them again
    sig.update_batch(shingles(text))
    return sig


def encode(sig: MinHash) -> str:
    """The signature as base64 of its little-endian 32-bit hash values (684 characters)."""
    return base64.b64encode(sig.hashvalues.astype("<u4").tobytes()).decode("ascii")


def decode(s: str) -> MinHash:
    """The signature `encode` wrote, exactly."""
    values = np.frombuffer(base64.b64decode(s, validate=True), dtype="<u4").copy()  # writable
    if len(values) != NUM_PERM:
        raise ValueError(f"a signature has {NUM_PERM} hash values, this one {len(values)}")
    return MinHash(seed=SEED, hashvalues=values, permutations=_EMPTY.permutations, scheme=_SCHEME)


def lsh_params(threshold: float = THRESHOLD) -> tuple[int, int]:
    """(bands, rows) for a threshold: the pinned pair for THRESHOLD, else datasketch's choice."""
    if threshold == THRESHOLD:
        return BANDS, ROWS
    b, r = _optimal_param(threshold, NUM_PERM, *LSH_WEIGHTS)
    return int(b), int(r)


def band_keys(sig: MinHash) -> list[str]:
    """One key per band, "<band>:<16 hex>" (blake2b of the band's values): articles sharing any
    key are candidates. None for an empty signature, so short texts are never folded."""
    if sig.is_empty():
        return []
    values = sig.hashvalues.astype("<u4")
    bands = (values[i * ROWS : (i + 1) * ROWS].tobytes() for i in range(BANDS))
    return [f"{i}:{hashlib.blake2b(b, digest_size=8).hexdigest()}" for i, b in enumerate(bands)]


def similarity(a: MinHash, b: MinHash) -> float:
    """Estimated Jaccard similarity of the two shingle sets; 0.0 when either text was too short."""
    if a.is_empty() or b.is_empty():
        return 0.0
    return float(a.jaccard(b))


def clusters(texts: Sequence[str], threshold: float = THRESHOLD) -> list[list[int]]:
    """Groups (two or more, sorted) of indices into `texts` that are copies of one story."""
    return group([signature(t) for t in texts], threshold)


def group(sigs: Sequence[MinHash], threshold: float = THRESHOLD) -> list[list[int]]:
    """`clusters` over signatures already computed: LSH candidates, confirmed by `similarity`,
    joined transitively (a copy of a copy is in the story too)."""
    lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM, params=lsh_params(threshold))
    parent = list(range(len(sigs)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, sig in enumerate(sigs):
        if sig.is_empty():
            continue
        for j in lsh.query(sig):
            if similarity(sig, sigs[j]) >= threshold:
                parent[root(i)] = root(j)
        lsh.insert(i, sig)
    groups: dict[int, list[int]] = {}
    for i in range(len(sigs)):
        groups.setdefault(root(i), []).append(i)
    return sorted((g for g in groups.values() if len(g) > 1), key=lambda g: g[0])
