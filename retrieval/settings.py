"""Every engine setting, read once from the environment (prefix NEWSBOT_) and a .env file."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

from retrieval.errors import ConfigError

N = TypeVar("N", int, float)

DEFAULT_COLLECTION = "news"
DEFAULT_CHUNK_TOKENS = 200  # under the embedder's 256-token window, with room for the title line
DEFAULT_EMBED_BATCH = 64
DEFAULT_INGEST_BATCH = 1024  # chunks embedded and stored per step; one Chroma transaction each
# Chunks of each article embedded for dense search (0: all). The rest are stored and searched
# lexically: embedding is the whole cost of ingest, and answers sit mostly in an article's lead.
DEFAULT_DENSE_CHUNKS = 4
DEFAULT_SEARCH_K = 5  # articles returned
DEFAULT_CANDIDATES = 50  # chunks fetched from each of dense and lexical search before fusion
DEFAULT_RRF_K = 60
DEFAULT_FUSE_ARTICLES = True  # fuse the two rankings of articles (best passage each), not of chunks
DEFAULT_RECENCY_DAYS = 14
DEFAULT_RECENCY_BONUS = 0.004  # added to the fused score of articles from the days before as_of
# Articles dated more than this many days after as_of are not yet news on that day (-1: keep them);
# the grace covers time zones and a week's news published a day early (benchmarks/README.md).
DEFAULT_LATER_DAYS = 2
DEFAULT_MIN_RELEVANCE = 0.40  # best cosine similarity below which nothing is relevant (benchmarks/README.md)
DEFAULT_PROMPT_CHARS = 1440  # characters of article text the model is shown (benchmarks/README.md)
DEFAULT_MIN_CONFIDENCE = 0.07  # the sentence scorer's best P(answer) below which newsbot abstains
DEFAULT_REFRESH_SECONDS = 10.0  # how often a search first reads the store's change log
DEFAULT_LLM = "local"  # local | openai | ollama | extractive
DEFAULT_LLM_CTX = 2048
DEFAULT_LLM_MAX_TOKENS = 200  # 1-4 sentences with citations; about 15 s at 13 tokens/s on 2 cores
DEFAULT_OPENAI_MODEL = "gpt-4o-mini"
DEFAULT_OLLAMA_URL = "http://127.0.0.1:11434"
DEFAULT_OLLAMA_MODEL = "qwen2.5:1.5b-instruct"
DEFAULT_CHROMA_HNSW = {"ef_construction": 200, "ef_search": 100, "max_neighbors": 32}


def _default_home() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("newsbot", appauthor=False))


def load_dotenv_once() -> None:
    """A .env in the working directory fills variables the environment does not already set."""
    from dotenv import find_dotenv, load_dotenv

    path = find_dotenv(usecwd=True)
    if path:
        load_dotenv(path, override=False)


def env_int(name: str, default: int) -> int:
    """An integer setting; a malformed one is a ConfigError naming the variable, not a traceback."""
    return _number(name, default, int, "a whole number")


def env_float(name: str, default: float) -> float:
    return _number(name, default, float, "a number")


def _number(name: str, default: N, kind: Callable[[str], N], what: str) -> N:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return kind(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not {what}") from None


@dataclass(frozen=True)
class Settings:
    home: Path = field(default_factory=_default_home)
    chroma_url: str = ""
    collection: str = DEFAULT_COLLECTION
    chunk_tokens: int = DEFAULT_CHUNK_TOKENS
    embed_batch: int = DEFAULT_EMBED_BATCH
    embed_precision: str = "auto"  # auto | float32 | bfloat16 (auto: bfloat16 where the CPU has it)
    ingest_batch: int = DEFAULT_INGEST_BATCH
    dense_chunks: int = DEFAULT_DENSE_CHUNKS
    search_k: int = DEFAULT_SEARCH_K
    candidates: int = DEFAULT_CANDIDATES
    rrf_k: int = DEFAULT_RRF_K
    fuse_articles: bool = DEFAULT_FUSE_ARTICLES
    recency_days: int = DEFAULT_RECENCY_DAYS
    recency_bonus: float = DEFAULT_RECENCY_BONUS
    later_days: int = DEFAULT_LATER_DAYS
    min_relevance: float = DEFAULT_MIN_RELEVANCE
    sentence_scorer: bool = True  # the learned answer-sentence scorer; off = sentences by cosine
    min_confidence: float = DEFAULT_MIN_CONFIDENCE
    prompt_chars: int = DEFAULT_PROMPT_CHARS
    refresh_seconds: float = DEFAULT_REFRESH_SECONDS
    llm: str = DEFAULT_LLM
    llm_model: str = ""  # a GGUF path or `repo_id:filename`; empty = the bundled model
    llm_model_dir: Path | None = None  # where the bundled model is joined; default the user cache dir
    llm_threads: int = 0  # 0 = every core
    llm_amx: bool = True  # on AMX CPUs with the patched llama.cpp, the bundled model as Q8_0 (model_files.amx_model)
    llm_ctx: int = DEFAULT_LLM_CTX
    llm_max_tokens: int = DEFAULT_LLM_MAX_TOKENS
    openai_base_url: str = ""
    openai_model: str = DEFAULT_OPENAI_MODEL
    openai_api_key: str = field(default="", repr=False)
    ollama_url: str = DEFAULT_OLLAMA_URL
    ollama_model: str = DEFAULT_OLLAMA_MODEL

    @classmethod
    def from_env(cls, **overrides: object) -> "Settings":
        load_dotenv_once()
        env = os.environ
        s = cls(
            home=Path(env["NEWSBOT_HOME"]).expanduser() if env.get("NEWSBOT_HOME") else _default_home(),
            chroma_url=env.get("NEWSBOT_CHROMA_URL", ""),
            collection=env.get("NEWSBOT_COLLECTION", DEFAULT_COLLECTION),
            chunk_tokens=env_int("NEWSBOT_CHUNK_TOKENS", DEFAULT_CHUNK_TOKENS),
            embed_batch=env_int("NEWSBOT_EMBED_BATCH", DEFAULT_EMBED_BATCH),
            embed_precision=env.get("NEWSBOT_EMBED_PRECISION", "auto").strip().lower() or "auto",
            ingest_batch=env_int("NEWSBOT_INGEST_BATCH", DEFAULT_INGEST_BATCH),
            dense_chunks=env_int("NEWSBOT_DENSE_CHUNKS", DEFAULT_DENSE_CHUNKS),
            search_k=env_int("NEWSBOT_SEARCH_K", DEFAULT_SEARCH_K),
            candidates=env_int("NEWSBOT_CANDIDATES", DEFAULT_CANDIDATES),
            rrf_k=env_int("NEWSBOT_RRF_K", DEFAULT_RRF_K),
            fuse_articles=env_int("NEWSBOT_FUSE_ARTICLES", int(DEFAULT_FUSE_ARTICLES)) == 1,
            recency_days=env_int("NEWSBOT_RECENCY_DAYS", DEFAULT_RECENCY_DAYS),
            recency_bonus=env_float("NEWSBOT_RECENCY_BONUS", DEFAULT_RECENCY_BONUS),
            later_days=env_int("NEWSBOT_LATER_DAYS", DEFAULT_LATER_DAYS),
            min_relevance=env_float("NEWSBOT_MIN_RELEVANCE", DEFAULT_MIN_RELEVANCE),
            sentence_scorer=env_int("NEWSBOT_SENTENCE_SCORER", 1) == 1,
            min_confidence=env_float("NEWSBOT_MIN_CONFIDENCE", DEFAULT_MIN_CONFIDENCE),
            prompt_chars=env_int("NEWSBOT_PROMPT_CHARS", DEFAULT_PROMPT_CHARS),
            refresh_seconds=env_float("NEWSBOT_REFRESH_SECONDS", DEFAULT_REFRESH_SECONDS),
            llm=env.get("NEWSBOT_LLM", DEFAULT_LLM).strip().lower() or DEFAULT_LLM,
            llm_model=env.get("NEWSBOT_LLM_MODEL", ""),
            llm_model_dir=Path(env["NEWSBOT_LLM_MODEL_DIR"]).expanduser() if env.get("NEWSBOT_LLM_MODEL_DIR") else None,
            llm_threads=env_int("NEWSBOT_LLM_THREADS", 0),
            llm_amx=env_int("NEWSBOT_LLM_AMX", 1) == 1,
            llm_ctx=env_int("NEWSBOT_LLM_CTX", DEFAULT_LLM_CTX),
            llm_max_tokens=env_int("NEWSBOT_LLM_MAX_TOKENS", DEFAULT_LLM_MAX_TOKENS),
            openai_base_url=env.get("NEWSBOT_OPENAI_BASE_URL", ""),
            openai_model=env.get("NEWSBOT_OPENAI_MODEL", DEFAULT_OPENAI_MODEL),
            openai_api_key=env.get("NEWSBOT_OPENAI_API_KEY") or env.get("OPENAI_API_KEY", ""),
            ollama_url=env.get("NEWSBOT_OLLAMA_URL", DEFAULT_OLLAMA_URL),
            ollama_model=env.get("NEWSBOT_OLLAMA_MODEL", DEFAULT_OLLAMA_MODEL),
        )
        given = {k: v for k, v in overrides.items() if v is not None}
        if isinstance(given.get("home"), str):
            given["home"] = Path(str(given["home"])).expanduser()
        return replace(s, **given) if given else s

    @property
    def chroma_path(self) -> Path:
        return self.home / "chroma"

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache"

    @property
    def model_dir(self) -> Path:
        """Shared by every NEWSBOT_HOME of the user: the joined GGUF is 1.1 GB."""
        from platformdirs import user_cache_dir

        return self.llm_model_dir or Path(user_cache_dir("newsbot", appauthor=False)) / "models"
