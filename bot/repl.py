"""`newsbot chat`: ask the news from a terminal, with follow-ups, filters and numbered sources.

The prompt comes up at once; the NewsDesk is built and warmed up (embedder, lexical index, store)
in a background thread, shown in the status bar, and the first question waits for it. Each answer
streams in a worker thread so Ctrl-C returns to the prompt at once, without interrupting the
engine halfway through a step: the worker drops the rest of the stream at its next piece.
"""

from __future__ import annotations

import datetime as dt
import difflib
import logging
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from rich.markup import escape

from retrieval import Answer, EmptyIndexError, NewsbotError, NewsDesk, Settings, Turn

from bot.render import StreamView, make_console, rich_source, rich_sources, supports_hyperlinks

if TYPE_CHECKING:
    from prompt_toolkit import PromptSession
    from rich.console import Console

log = logging.getLogger(__name__)

PROMPT = "newsbot> "
HISTORY_FILE = "chat_history"  # under the data dir (NEWSBOT_HOME), so each index keeps its own
MAX_HISTORY_TURNS = 8  # earlier turns passed to the engine: the last four exchanges
POLL_S = 0.1  # how often the main thread looks up from waiting, to animate and to notice Ctrl-C

COMMANDS = {
    "/sources": "the last answer's sources with their quoted passages",
    "/open": "N — the full text of source N of the last answer",
    "/since": "DATE — only articles published on or after DATE (YYYY-MM-DD; `off` clears)",
    "/until": "DATE — only articles published on or before DATE",
    "/source": "NAME[,NAME…] — only these outlets (`off` clears)",
    "/asof": "DATE — answer as if today were DATE (\"this week\" means the week before it)",
    "/reset": "clear the filters and start a new conversation",
    "/help": "this list",
    "/quit": "leave (Ctrl-D works too)",
}
EMPTY_INDEX_HELP = (
    "The news index at {home} is empty, so there is nothing to answer from yet.\n"
    "Add articles in another terminal with `newsbot ingest PATH_OR_URL` "
    "(for example `newsbot ingest corpus/`), then ask again."
)


@dataclass
class Filters:
    """The filters a user set with /since, /until, /source, /asof; they last until /reset."""

    since: dt.date | None = None
    until: dt.date | None = None
    sources: tuple[str, ...] = ()
    as_of: dt.date | None = None

    def describe(self) -> str:
        parts = []
        if self.since:
            parts.append(f"since {self.since}")
        if self.until:
            parts.append(f"until {self.until}")
        if self.sources:
            parts.append("source " + ", ".join(self.sources))
        if self.as_of:
            parts.append(f"as of {self.as_of}")
        return "; ".join(parts)


@dataclass
class Conversation:
    """What a follow-up needs: earlier turns, the last answer (for /sources, /open), the filters."""

    turns: list[Turn] = field(default_factory=list)
    last: Answer | None = None
    filters: Filters = field(default_factory=Filters)

    def add(self, question: str, answer: Answer) -> None:
        self.turns += [Turn("user", question), Turn("assistant", answer.text)]
        self.last = answer

    def history(self) -> list[Turn]:
        return self.turns[-MAX_HISTORY_TURNS:]


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
            desk.warm_up()
            self.desk = desk
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

    _END = object()

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
            self.events.put(self._END)
            self.finished.set()

    def cancel(self) -> None:
        self.cancelled.set()

    def next_event(self) -> object | None:
        """The next piece, Answer or exception; None if nothing came within POLL_S; _END at the end."""
        try:
            return self.events.get(timeout=POLL_S)
        except queue.Empty:
            return None


def _parse_date(arg: str) -> dt.date | None:
    if arg.lower() in ("off", "none", "clear", "-"):
        return None
    return dt.date.fromisoformat(arg)


class Repl:
    """The read–answer loop; each method handles one command so the loop stays a table."""

    def __init__(self, settings: Settings, console: "Console", filters: Filters | None = None) -> None:
        self.settings = settings
        self.console = console
        self.links = supports_hyperlinks(console.file)
        self.convo = Conversation(filters=filters or Filters())
        self.warmup = Warmup(settings, on_change=self._invalidate)
        self.session: PromptSession[str] | None = None
        self.job: AnswerJob | None = None
        self.handlers: dict[str, Callable[[str], bool]] = {
            "/sources": self.cmd_sources,
            "/open": self.cmd_open,
            "/since": self.cmd_since,
            "/until": self.cmd_until,
            "/source": self.cmd_source,
            "/asof": self.cmd_asof,
            "/reset": self.cmd_reset,
            "/help": self.cmd_help,
            "/quit": self.cmd_quit,
            "/exit": self.cmd_quit,
        }

    # --- the prompt ------------------------------------------------------------------------------

    def _invalidate(self) -> None:
        app = self.session.app if self.session else None
        if app is not None and app.is_running:
            app.invalidate()

    def _toolbar(self) -> str:
        state = self.warmup.state
        if not self.warmup.done.is_set():
            state += f" {time.monotonic() - self.warmup.started:.0f}s"
        filters = self.convo.filters.describe()
        return f" {state}" + (f" · filters: {filters}" if filters else "") + " · /help · Ctrl-D quits"

    def _build_session(self) -> "PromptSession[str]":
        from prompt_toolkit import PromptSession
        from prompt_toolkit.history import FileHistory
        from prompt_toolkit.key_binding import KeyBindings

        kb = KeyBindings()

        @kb.add("enter")
        def _submit(event):  # type: ignore[no-untyped-def]
            """Enter sends; a line ending in a backslash continues on the next line instead."""
            buf = event.current_buffer
            if buf.document.is_cursor_at_the_end and buf.text.endswith("\\"):
                buf.delete_before_cursor(1)
                buf.insert_text("\n")
            else:
                buf.validate_and_handle()

        @kb.add("escape", "enter")
        def _newline(event):  # type: ignore[no-untyped-def]
            """Alt-Enter (or Esc, Enter) starts a new line in the same question."""
            event.current_buffer.insert_text("\n")

        self.settings.home.mkdir(parents=True, exist_ok=True)
        return PromptSession(
            history=FileHistory(str(self.settings.home / HISTORY_FILE)),
            multiline=True,
            key_bindings=kb,
            prompt_continuation=lambda width, line, wrap: "." * (width - 1) + " ",
            bottom_toolbar=self._toolbar,
            refresh_interval=0.5,
            enable_history_search=False,
        )

    def run(self) -> int:
        self.session = self._build_session()
        self.warmup.start()
        self.console.print(
            "[bold]newsbot chat[/] — ask about the news; follow-ups keep the context. "
            "[dim]/help for commands, Alt-Enter for a new line, Ctrl-D to quit.[/]"
        )
        while True:
            try:
                text = self.session.prompt(PROMPT)
            except KeyboardInterrupt:
                continue  # Ctrl-C at the prompt clears the line, as in a shell
            except EOFError:
                break
            text = text.strip()
            if not text:
                continue
            try:
                if text.startswith("/"):
                    if not self.command(text):
                        break
                else:
                    self.ask(text)
            except KeyboardInterrupt:
                self.console.print("[yellow]⏹ cancelled[/]")
            except Exception as e:  # one bad turn must not end the session
                log.exception("chat turn failed")
                self.console.print(f"[red]error:[/] {escape(str(e))}")
        if self.job is not None and not self.job.finished.is_set():
            self.job.cancel()
            self.job.finished.wait(5)  # let a cancelled answer stop at its next piece before exit
        self.console.print("[dim]bye[/]")
        return 0

    # --- answering -------------------------------------------------------------------------------

    def _wait(self, view: StreamView, done: threading.Event, message: str) -> None:
        """Block (Ctrl-C-able) until `done`, with `message` on the spinner line."""
        if done.is_set():
            return
        view.status(message)
        while not done.wait(POLL_S):
            view.tick()

    def ask(self, question: str) -> None:
        """Stream one answer; Ctrl-C keeps what streamed, drops the rest, and the turn is forgotten."""
        with StreamView(self.console, links=self.links) as view:
            try:
                if self.job is not None:
                    self._wait(view, self.job.finished, "stopping the previous answer…")
                self._wait(view, self.warmup.done, "waiting for the models and index to load…")
                desk = self.warmup.desk
                if desk is None:
                    view.cancel("could not load the engine")
                    self.console.print(f"[red]error:[/] {escape(str(self.warmup.error))}")
                    return
                f = self.convo.filters
                history = self.convo.history()
                view.status("searching the news…")
                self.job = job = AnswerJob(
                    lambda: desk.stream(
                        question, history=history, since=f.since, until=f.until, sources=f.sources, as_of=f.as_of
                    )
                )
                while True:
                    event = job.next_event()
                    if event is None:
                        view.tick()
                    elif event is AnswerJob._END:
                        view.cancel("the engine stopped without an answer")
                        return
                    elif isinstance(event, Answer):
                        view.finish(event)
                        searched = event.standalone_question
                        if history and searched and searched.casefold() != " ".join(question.split()).casefold():
                            self.console.print(f"[dim](follow-up searched as: {escape(searched)})[/]")
                        self.convo.add(question, event)
                        return
                    elif isinstance(event, EmptyIndexError):
                        view.cancel("nothing to search")
                        self._say(EMPTY_INDEX_HELP.format(home=self.settings.home))
                        return
                    elif isinstance(event, NewsbotError):
                        view.cancel("no answer")
                        self.console.print(f"[red]error:[/] {escape(str(event))}")
                        return
                    elif isinstance(event, BaseException):
                        raise event
                    else:
                        view.feed(str(event))
            except KeyboardInterrupt:
                if self.job is not None:
                    self.job.cancel()
                view.cancel()

    # --- commands --------------------------------------------------------------------------------

    def command(self, line: str) -> bool:
        """Run one /command; False means leave."""
        name, _, arg = line.partition(" ")
        name, arg = name.lower(), arg.strip()
        handler = self.handlers.get(name)
        if handler is None:
            close = difflib.get_close_matches(name, list(COMMANDS), n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            self.console.print(f"unknown command {name}: {hint}/help lists the commands", markup=False)
            return True
        return handler(arg)

    def _say(self, text: str) -> None:
        self.console.print(text, markup=False)

    def cmd_help(self, arg: str) -> bool:
        width = max(len(c) for c in COMMANDS)
        for name, what in COMMANDS.items():
            self._say(f"  {name:<{width}}  {what}")
        self._say("  Enter sends a question; Alt-Enter (or a line ending in \\) starts a new line; "
                  "Up recalls earlier questions; Ctrl-C stops an answer.")
        return True

    def cmd_quit(self, arg: str) -> bool:
        return False

    def cmd_reset(self, arg: str) -> bool:
        self.convo = Conversation()
        self._say("filters cleared; new conversation")
        return True

    def cmd_sources(self, arg: str) -> bool:
        last = self.convo.last
        if last is None or not last.citations:
            self._say("no sources yet: ask a question first" if last is None else "the last answer has no sources")
            return True
        self.console.print(rich_sources(last.citations, links=self.links, quotes=True))
        return True

    def cmd_open(self, arg: str) -> bool:
        last = self.convo.last
        if last is None or not last.citations:
            self._say("no sources to open: ask a question first")
            return True
        by_n = {c.n: c for c in last.citations}
        if not arg.isdigit() or int(arg) not in by_n:
            self._say(f"usage: /open N, where N is one of {', '.join(str(n) for n in by_n)}")
            return True
        cited = by_n[int(arg)]
        desk = self.warmup.desk
        body = desk.article_text(cited.article_id) if desk else ""
        self.console.print(rich_source(cited, links=self.links))
        self.console.print()
        self._say(body or cited.quote)
        return True

    def _set_date(self, name: str, arg: str) -> bool:
        f = self.convo.filters
        if not arg:
            self._say(f"/{name.replace('_', '')}: {getattr(f, name) or 'off'}")
            return True
        try:
            value = _parse_date(arg)
        except ValueError:
            self._say(f"{arg!r} is not a date like 2025-04-11 (or `off`)")
            return True
        new = replace(f, **{name: value})
        if new.since and new.until and new.since > new.until:
            self._say(f"since {new.since} is after until {new.until}: nothing could match; not changed")
            return True
        self.convo.filters = new
        self._say(f"filters: {new.describe() or 'none'}")
        return True

    def cmd_since(self, arg: str) -> bool:
        return self._set_date("since", arg)

    def cmd_until(self, arg: str) -> bool:
        return self._set_date("until", arg)

    def cmd_asof(self, arg: str) -> bool:
        return self._set_date("as_of", arg)

    def cmd_source(self, arg: str) -> bool:
        f = self.convo.filters
        if not arg:
            self._say(f"/source: {', '.join(f.sources) or 'off'}")
            return True
        names = () if arg.lower() in ("off", "none", "clear", "-") else tuple(
            s.strip() for s in arg.split(",") if s.strip()
        )
        self.convo.filters = replace(f, sources=names)
        self._say(f"filters: {self.convo.filters.describe() or 'none'}")
        return True


def _plain_loop(settings: Settings, filters: Filters) -> int:
    """Questions from a pipe, one per line, answered in plain text (no prompt, no colours)."""
    from bot.render import answer_text

    desk = NewsDesk(settings)
    convo = Conversation(filters=filters)
    for line in sys.stdin:
        question = line.strip()
        if not question or question.startswith("/"):
            continue
        f = convo.filters
        try:
            answer = desk.answer(
                question, history=convo.history(), since=f.since, until=f.until, sources=f.sources, as_of=f.as_of
            )
        except EmptyIndexError:
            print(EMPTY_INDEX_HELP.format(home=settings.home), file=sys.stderr)
            return 1
        convo.add(question, answer)
        print(answer_text(answer) + "\n", flush=True)
    return 0


def run_chat(settings: Settings, filters: Filters | None = None) -> int:
    """Entry point of `newsbot chat`; returns the exit code."""
    filters = filters or Filters()
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        return _plain_loop(settings, filters)
    return Repl(settings, make_console(), filters).run()

