"""Chroma's embedding-function protocol, filled in so Chroma never reaches for its own default
(which downloads a model and fails offline)."""

from __future__ import annotations

from typing import Any

from retrieval.index.embeddings import Embedder


class ChromaEmbeddingFunction:
    """Adapter so Chroma never reaches for its own (downloading) default embedding function."""

    def __init__(self, embedder: Embedder) -> None:
        self._embedder = embedder

    def __call__(self, input: list[str]) -> Any:
        import numpy as np

        return [np.asarray(v, dtype=np.float32) for v in self._embedder.embed_batch(list(input))]

    def embed_query(self, input: list[str]) -> Any:
        return self(input)

    @staticmethod
    def name() -> str:
        return "newsbot"

    def get_config(self) -> dict[str, Any]:
        return {"model": self._embedder.name}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> "ChromaEmbeddingFunction":
        from retrieval.index.embeddings import MiniLMEmbedder

        return ChromaEmbeddingFunction(MiniLMEmbedder())

    def default_space(self) -> str:
        return "cosine"

    def supported_spaces(self) -> list[str]:
        return ["cosine", "l2", "ip"]

    def is_legacy(self) -> bool:
        return False

    @staticmethod
    def validate_config(config: dict[str, Any]) -> None:
        return None

    def validate_config_update(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        return None


class NoEmbedding(ChromaEmbeddingFunction):
    """For side collections: records are looked up by id and metadata, never by similarity."""

    def __init__(self) -> None:
        pass

    def __call__(self, input: list[str]) -> Any:
        import numpy as np

        return [np.ones(1, dtype=np.float32) for _ in input]

    @staticmethod
    def name() -> str:
        return "newsbot-none"

    def get_config(self) -> dict[str, Any]:
        return {}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> "NoEmbedding":
        return NoEmbedding()
