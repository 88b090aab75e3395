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
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

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


@dataclass(eq=False)
class _LoadedLlama:
    """One loaded model and the lock that serialises every generation on its one llama.cpp
    context (KV cache, n_tokens): kept together so every LlamaChat over the model shares both."""

    llama: "Llama"
    lock: threading.Lock = field(default_factory=threading.Lock)
    closing: bool = False  # set at exit: a running generation stops after its next token
    closed: bool = False


_llamas: dict[tuple[str, int, int], _LoadedLlama] = {}
_llamas_lock = threading.Lock()
_CLOSE_WAIT = 20.0  # seconds exit waits for the model: a token, normally; warm-up's read-ahead (prime) ~10 s


@atexit.register
def _close_llamas() -> None:
    """Free the models before the interpreter tears down llama.cpp's bindings, which otherwise
    makes Llama.__del__ print a TypeError traceback at every exit. Each model is closed under its
    lock, so never under a generation still running in a (daemon) worker thread."""
    with _llamas_lock:
        for loaded in _llamas.values():
            loaded.closing = True
            if not loaded.lock.acquire(timeout=_CLOSE_WAIT):
                log.warning("a llama.cpp generation did not stop; leaving its model open at exit")
                continue
            try:
                loaded.llama.close()
                loaded.closed = True
            finally:
                loaded.lock.release()
        _llamas.clear()


AMX_BUILD = "+newsbot.amx"  # the local version label of the patched build scripts/llama-amx installs


def check_llama_build(system_info: bytes | None = None, version: str | None = None) -> bool:
    """Whether llama.cpp runs its AMX kernels here (they read prompts about twice as fast with the
    Q8_0 model, benchmarks/README.md). Upstream's AMX kernels kill the whole process with "Illegal
    instruction" at the first prompt of a few hundred tokens on AMX CPUs, which no exception handler
    can catch, so a build with them is refused unless it is the patched one; refused, the answer
    falls back to quotes."""
    if system_info is None or version is None:
        import llama_cpp

        system_info = llama_cpp.llama_print_system_info() if system_info is None else system_info
        version = llama_cpp.__version__ if version is None else version
    if b"AMX_INT8 = 1" not in system_info:
        return False
    if AMX_BUILD in version:
        return True
    raise BackendError(
        "this llama-cpp-python was compiled with llama.cpp's unpatched AMX kernels, which crash on this CPU "
        "(ggml-org/llama.cpp#26954): run scripts/setup, which builds the patched one"
    )


def _llama(path: str, threads: int, n_ctx: int) -> _LoadedLlama:
    """One loaded model per (file, threads, context) in the process: loading costs seconds and ~1 GB."""
    with _llamas_lock:
        key = (os.path.realpath(path), threads, n_ctx)
        if key not in _llamas:
            from llama_cpp import Llama

            check_llama_build()

            try:
                # read, not mapped: llama.cpp repacks most weights into a copy of its own, and a
                # mapping kept the originals resident too (~600 MiB more per process, measured)
                llama = Llama(model_path=path, n_ctx=n_ctx, n_threads=threads, use_mmap=False, verbose=False)
            except (ValueError, RuntimeError) as e:
                raise BackendError(f"llama.cpp could not load {path}: {e}") from e
            _llamas[key] = _LoadedLlama(llama)
        return _llamas[key]


def _usable(loaded: _LoadedLlama) -> "Llama":
    """The model, once its lock is held; a closed one is an error rather than a crash in C."""
    if loaded.closed or loaded.closing:
        raise BackendError("the llama.cpp model is closed: the process is exiting")
    return loaded.llama


def _stream_worker(
    loaded: _LoadedLlama, request: dict[str, Any], out: queue.SimpleQueue[Any], cancel: threading.Event
) -> None:
    """Run one streaming generation under the model's lock, handing ("text", str), then
    ("usage", dict), or ("error", exception), then ("end", None) to the consumer through `out`.

    Only llama.cpp's own work runs under the lock: the consumer's work between chunks does not,
    and the lock is released when the generation ends (or within a token of `cancel` being set),
    whatever the consumer is doing. `out` is unbounded, so the worker never waits for the consumer.
    """
    try:
        while not loaded.lock.acquire(timeout=0.1):  # wait for the model, unless the consumer left
            if cancel.is_set():
                return
        try:
            if cancel.is_set():
                return
            llama = _usable(loaded)
            pieces = 0
            events: Any = llama.create_chat_completion(**request, stream=True)
            try:
                for event in events:  # an event per generated token (a split character may take two)
                    if cancel.is_set():
                        return
                    if loaded.closing:
                        raise BackendError("the llama.cpp model is closing: the process is exiting")
                    text = event["choices"][0]["delta"].get("content")
                    if text:
                        pieces += 1
                        out.put(("text", text))
                # llama.cpp reports no usage when streaming; the context holds prompt + generated tokens
                prompt_tokens = max(0, llama.n_tokens - pieces)
                out.put(("usage", {
                    "input_tokens": prompt_tokens,
                    "output_tokens": pieces,
                    "total_tokens": prompt_tokens + pieces,
                }))
            finally:
                events.close()  # llama.cpp's generators finish with the context while it is still locked
        finally:
            loaded.lock.release()
    except BaseException as e:  # the consumer re-raises it
        out.put(("error", e))
    finally:
        out.put(("end", None))


_ROLES = {"system": "system", "human": "user", "ai": "assistant"}


class LlamaChat(BaseChatModel):
    """A llama.cpp model as a LangChain chat model (langchain_community is not a dependency).

    The chat template comes from the GGUF file. Calls are serialised on the loaded model's one
    lock, shared by every LlamaChat over it: one llama.cpp context cannot serve two generations at
    once. Streaming runs llama.cpp in a worker thread, so the consumer's work between chunks (Slack
    calls, rate-limit sleeps) never holds the model, and closing or dropping the stream stops the
    generation after its next token. A shared system prompt is evaluated only once, because
    llama.cpp reuses the longest common prefix of consecutive prompts.
    """

    model_path: str
    n_threads: int = 2
    n_ctx: int = 2048
    max_tokens: int = 200
    temperature: float = 0.0

    @property
    def _llm_type(self) -> str:
        return "llama-cpp"

    @property
    def loaded(self) -> _LoadedLlama:
        """The process's one loaded model for this file and settings, with its lock."""
        return _llama(self.model_path, self.n_threads, self.n_ctx)

    @property
    def llama(self) -> "Llama":
        return self.loaded.llama

    def _request(self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]) -> dict[str, Any]:
        return {
            "messages": [{"role": _ROLES.get(m.type, "user"), "content": m.text} for m in messages],
            "max_tokens": kwargs.get("max_tokens", self.max_tokens),
            "temperature": kwargs.get("temperature", self.temperature),
            "stop": stop or [],
        }

    def prime(self, messages: list[BaseMessage]) -> None:
        """Read `messages` into the context now, answering nothing: a later prompt that starts the
        same way (the system prompt and worked examples) reads only what follows. At start-up this
        takes the fixed ~600 tokens off the first question's wait (benchmarks/README.md).

        One call, as the first question would have read it: read a turn at a time, the context
        came out different enough in its last digits to turn a dev answer into NOT FOUND."""
        loaded = self.loaded
        with loaded.lock:
            _usable(loaded).create_chat_completion(**self._request(messages, None, {"max_tokens": 1}))

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        loaded = self.loaded
        with loaded.lock:
            out: Any = _usable(loaded).create_chat_completion(**self._request(messages, stop, kwargs))
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
        out: queue.SimpleQueue[Any] = queue.SimpleQueue()
        cancel = threading.Event()
        request = self._request(messages, stop, kwargs)
        worker = threading.Thread(
            target=_stream_worker, args=(self.loaded, request, out, cancel), name="llama-stream", daemon=True
        )
        worker.start()
        try:
            while True:
                kind, value = out.get()
                if kind == "end":
                    return
                if kind == "error":
                    raise value
                if kind == "usage":
                    yield ChatGenerationChunk(message=AIMessageChunk(content="", usage_metadata=value))
                    continue
                chunk = ChatGenerationChunk(message=AIMessageChunk(content=value))
                if run_manager:
                    run_manager.on_llm_new_token(value, chunk=chunk)
                yield chunk
        finally:  # closed, dropped, or the consumer raised: stop the generation after its next token
            cancel.set()


@register("local")
def local_backend(settings: Settings) -> BaseChatModel:
    """The bundled Qwen2.5-Coder-1.5B-Instruct (or NEWSBOT_LLM_MODEL) through llama.cpp."""
    from retrieval.answer.model_files import resolve_model

    amx = check_llama_build() and settings.llm_amx
    path = resolve_model(settings.llm_model, settings.model_dir, amx=amx)
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
