"""LLM backends, each a LangChain chat model, registered by name and chosen by `NEWSBOT_LLM`.

    local       llama.cpp (llama-cpp-python) over a GGUF file; the default, no server needed
    openai      any OpenAI-compatible server: vLLM, llama.cpp server, Ollama's /v1, OpenAI
    ollama      an Ollama server by URL
    extractive  no LLM at all: quoted sentences (retrieval/extractive.py)

A backend is one function `Settings -> BaseChatModel | None`, registered with `@register(name)`;
the built-in ones register the same way an extra one would. When the configured backend cannot
be loaded, `load_chat_model` falls back to extractive and says why in one line.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import PrivateAttr

from retrieval.errors import BackendError, ConfigError, NewsbotError
from retrieval.settings import Settings

if TYPE_CHECKING:
    from llama_cpp import Llama

log = logging.getLogger(__name__)

EXTRACTIVE = "extractive"
Backend = Callable[[Settings], "BaseChatModel | None"]
_BACKENDS: dict[str, Backend] = {}


def register(name: str) -> Callable[[Backend], Backend]:
    """Make a backend selectable as NEWSBOT_LLM=name."""

    def add(fn: Backend) -> Backend:
        _BACKENDS[name] = fn
        return fn

    return add


def backend_names() -> list[str]:
    return sorted(_BACKENDS)


@dataclass
class LoadedLLM:
    """The chat model to answer with (None = extractive), and what to tell the user if it fell back."""

    backend: str
    model: BaseChatModel | None
    notice: str = ""


def load_chat_model(settings: Settings) -> LoadedLLM:
    """The configured backend, or extractive with a one-line notice when it cannot be loaded."""
    name = settings.llm or "local"
    try:
        factory = _BACKENDS.get(name)
        if factory is None:
            raise ConfigError(f"NEWSBOT_LLM={name!r} is not one of {', '.join(backend_names())}")
        return LoadedLLM(name, factory(settings))
    except ImportError as e:  # the base install has no LLM backend: each is an extra
        notice = (
            f"The {name} LLM is not installed ({e.name}), so this answer quotes the sources instead; "
            f'`pip install "newsbot[{name}]"` adds it.'
        )
    except (NewsbotError, OSError, ValueError) as e:
        notice = f"The {name} LLM could not be loaded, so this answer quotes the sources instead: {e}"
    log.warning("%s", notice)
    return LoadedLLM(EXTRACTIVE, None, notice)


# --- local: llama.cpp ------------------------------------------------------------------------

_llamas: dict[tuple[str, int, int], "Llama"] = {}
_llamas_lock = threading.Lock()


@atexit.register
def _close_llamas() -> None:
    """Free the models before the interpreter tears down llama.cpp's bindings, which otherwise
    makes Llama.__del__ print a TypeError traceback at every exit."""
    with _llamas_lock:
        for llama in _llamas.values():
            llama.close()
        _llamas.clear()


def _llama(path: str, threads: int, n_ctx: int) -> "Llama":
    """One loaded model per (file, threads, context) in the process: loading costs seconds and ~1 GB."""
    with _llamas_lock:
        key = (path, threads, n_ctx)
        if key not in _llamas:
            from llama_cpp import Llama

            try:
                _llamas[key] = Llama(model_path=path, n_ctx=n_ctx, n_threads=threads, verbose=False)
            except (ValueError, RuntimeError) as e:
                raise BackendError(f"llama.cpp could not load {path}: {e}") from e
        return _llamas[key]


_ROLES = {"system": "system", "human": "user", "ai": "assistant"}


class LlamaChat(BaseChatModel):
    """A llama.cpp model as a LangChain chat model (langchain_community is not a dependency).

    The chat template comes from the GGUF file. Calls are serialised: one llama.cpp context
    cannot serve two generations at once. A shared system prompt is evaluated only once, because
    llama.cpp reuses the longest common prefix of consecutive prompts.
    """

    model_path: str
    n_threads: int = 2
    n_ctx: int = 2048
    max_tokens: int = 200
    temperature: float = 0.0
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @property
    def _llm_type(self) -> str:
        return "llama-cpp"

    @property
    def llama(self) -> "Llama":
        return _llama(self.model_path, self.n_threads, self.n_ctx)

    def _request(self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]) -> dict[str, Any]:
        return {
            "messages": [{"role": _ROLES.get(m.type, "user"), "content": m.text} for m in messages],
            "max_tokens": kwargs.get("max_tokens", self.max_tokens),
            "temperature": kwargs.get("temperature", self.temperature),
            "stop": stop or [],
        }

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        with self._lock:
            out: Any = self.llama.create_chat_completion(**self._request(messages, stop, kwargs))
        usage = out.get("usage") or {}
        message = AIMessage(
            content=out["choices"][0]["message"].get("content") or "",
            usage_metadata={
                "input_tokens": usage.get("prompt_tokens", 0),
                "output_tokens": usage.get("completion_tokens", 0),
                "total_tokens": usage.get("total_tokens", 0),
            },
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        with self._lock:
            llama = self.llama
            pieces = 0
            for event in llama.create_chat_completion(**self._request(messages, stop, kwargs), stream=True):
                text = event["choices"][0]["delta"].get("content")  # type: ignore[index]
                if not text:
                    continue
                pieces += 1
                chunk = ChatGenerationChunk(message=AIMessageChunk(content=text))
                if run_manager:
                    run_manager.on_llm_new_token(text, chunk=chunk)
                yield chunk
            # llama.cpp reports no usage when streaming; the context holds prompt + generated tokens
            prompt_tokens = max(0, llama.n_tokens - pieces)
            yield ChatGenerationChunk(
                message=AIMessageChunk(
                    content="",
                    usage_metadata={
                        "input_tokens": prompt_tokens,
                        "output_tokens": pieces,
                        "total_tokens": prompt_tokens + pieces,
                    },
                )
            )


@register("local")
def local_backend(settings: Settings) -> BaseChatModel:
    """The bundled Qwen2.5-Coder-1.5B-Instruct (or NEWSBOT_LLM_MODEL) through llama.cpp."""
    from retrieval.answer.model_files import resolve_model

    path = resolve_model(settings.llm_model, settings.model_dir)
    threads = settings.llm_threads or os.cpu_count() or 2
    model = LlamaChat(
        model_path=str(path), n_threads=threads, n_ctx=settings.llm_ctx, max_tokens=settings.llm_max_tokens
    )
    model.llama  # load now, so a broken file falls back at start-up rather than mid-answer
    return model


# --- servers ---------------------------------------------------------------------------------


@register("openai")
def openai_backend(settings: Settings) -> BaseChatModel:
    """Any OpenAI-compatible server; a local one (base URL set) needs no key."""
    from langchain_openai import ChatOpenAI

    if not settings.openai_api_key and not settings.openai_base_url:
        raise ConfigError(
            "NEWSBOT_LLM=openai needs NEWSBOT_OPENAI_API_KEY (or OPENAI_API_KEY), "
            "or NEWSBOT_OPENAI_BASE_URL for a server that needs no key"
        )
    return ChatOpenAI(
        model=settings.openai_model,
        base_url=settings.openai_base_url or None,
        api_key=settings.openai_api_key or "not-needed",  # type: ignore[arg-type]
        temperature=0,
        max_tokens=settings.llm_max_tokens,  # type: ignore[call-arg]
        stream_usage=True,
        max_retries=1,
        timeout=120,
    )


@register("ollama")
def ollama_backend(settings: Settings) -> BaseChatModel:
    from langchain_ollama import ChatOllama

    return ChatOllama(
        model=settings.ollama_model,
        base_url=settings.ollama_url,
        temperature=0,
        num_predict=settings.llm_max_tokens,
        num_ctx=settings.llm_ctx,
    )


@register(EXTRACTIVE)
def extractive_backend(settings: Settings) -> None:
    """No model: NewsDesk quotes the best sentences instead."""
    return None
