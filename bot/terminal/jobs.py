"""The chat's two background threads: loading the engine, and streaming one answer.

Both run off the main thread so the prompt comes up at once and Ctrl-C returns to it at once; the
main thread polls them every POLL_S, animating the spinner meanwhile.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator

from retrieval import Answer, EmptyIndexError, NewsDesk, Settings

log = logging.getLogger(__name__)

POLL_S = 0.1  # how often the main thread looks up from waiting, to animate and to notice Ctrl-C


class Warmup:
    """Builds the NewsDesk and loads its models and indexes off the main thread."""

    def __init__(self, settings: Settings, on_change: Callable[[], None] = lambda: None) -> None:
        self.settings = settings
        self.desk: NewsDesk | None = None
        self.error: BaseException | None = None
        self.empty = False
        self.state = "loading models and index…"
        self.started = time.monotonic()
        self.seconds = 0.0
        self.done = threading.Event()
        self._on_change = on_change
        self._thread = threading.Thread(target=self._run, name="newsbot-warmup", daemon=True)

    def start(self) -> "Warmup":
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            desk = NewsDesk(self.settings)
            self.desk = desk  # a Chroma server down now may be back by the first question
            desk.warm_up()
            try:
                desk.search("news", 1)  # opens the store too, so the first answer pays for nothing
                self.state = "ready"
            except EmptyIndexError:
                self.empty = True
                self.state = "the index is empty: run `newsbot ingest PATH_OR_URL`"
        except BaseException as e:  # shown at the first question; the prompt must survive it
            log.debug("warm-up failed", exc_info=True)
            self.error = e
            self.state = f"could not load: {e}"
        finally:
            self.seconds = time.monotonic() - self.started
            self.done.set()
            self._on_change()


class AnswerJob:
    """One answer streaming in a worker thread; `cancel()` makes it stop at its next piece."""

    END = object()  # the last event of every job

    def __init__(self, stream: Callable[[], Iterator[str | Answer]]) -> None:
        self.events: queue.Queue[object] = queue.Queue()
        self.cancelled = threading.Event()
        self.finished = threading.Event()
        self._stream = stream
        threading.Thread(target=self._run, name="newsbot-answer", daemon=True).start()

    def _run(self) -> None:
        try:
            events = self._stream()
            try:
                for event in events:
                    if self.cancelled.is_set():
                        break
                    self.events.put(event)
            finally:
                close = getattr(events, "close", None)
                if close:
                    close()
        except BaseException as e:
            self.events.put(e)
        finally:
            self.events.put(self.END)
            self.finished.set()

    def cancel(self) -> None:
        self.cancelled.set()

    def next_event(self) -> object | None:
        """The next piece, Answer or exception; None if nothing came within POLL_S; END at the end."""
        try:
            return self.events.get(timeout=POLL_S)
        except queue.Empty:
            return None
