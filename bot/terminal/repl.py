"""`newsbot chat`: ask the news from a terminal, with follow-ups, filters and numbered sources.

The prompt comes up at once; the NewsDesk is built and warmed up (embedder, lexical index, store)
in a background thread, shown in the status bar, and the first question waits for it. Each answer
streams in a worker thread so Ctrl-C returns to the prompt at once, without interrupting the
engine halfway through a step: the worker drops the rest of the stream at its next piece
(bot/terminal/jobs.py). The slash commands are in bot/terminal/commands.py.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from typing import TYPE_CHECKING

from rich.markup import escape

from bot.terminal.commands import Conversation, SlashCommands, describe
from bot.terminal.jobs import POLL_S, AnswerJob, Warmup
from bot.terminal.render import StreamView, answer_text, make_console, supports_hyperlinks
from retrieval import Answer, EmptyIndexError, Filters, NewsbotError, NewsDesk, Settings

if TYPE_CHECKING:
    from prompt_toolkit import PromptSession
    from rich.console import Console

log = logging.getLogger(__name__)

PROMPT = "newsbot> "
HISTORY_FILE = "chat_history"  # under the data dir (NEWSBOT_HOME), so each index keeps its own
EMPTY_INDEX_HELP = (
    "The news index at {home} is empty, so there is nothing to answer from yet.\n"
    "Add articles in another terminal with `newsbot ingest PATH_OR_URL` "
    "(for example `newsbot ingest corpus/`), then ask again."
)


class Repl(SlashCommands):
    """The read–answer loop; lines starting with / go to the commands, the rest are questions."""

    def __init__(self, settings: Settings, console: "Console", filters: Filters | None = None) -> None:
        self.settings = settings
        self.console = console
        self.links = supports_hyperlinks(console.file)
        self.convo = Conversation(filters=filters or Filters())
        self.warmup = Warmup(settings, on_change=self._invalidate)
        self.session: PromptSession[str] | None = None
        self.job: AnswerJob | None = None

    # --- the prompt ------------------------------------------------------------------------------

    def _invalidate(self) -> None:
        app = self.session.app if self.session else None
        if app is not None and app.is_running:
            app.invalidate()

    def _toolbar(self) -> str:
        state = self.warmup.state
        if not self.warmup.done.is_set():
            state += f" {time.monotonic() - self.warmup.started:.0f}s"
        filters = describe(self.convo.filters)
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
                    elif event is AnswerJob.END:
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


def _plain_loop(settings: Settings, filters: Filters) -> int:
    """Questions from a pipe, one per line, answered in plain text (no prompt, no colours)."""
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
        except NewsbotError as e:  # a store that is down costs this question, not the session
            print(f"error: {e}", file=sys.stderr, flush=True)
            continue
        convo.add(question, answer)
        print(answer_text(answer) + "\n", flush=True)
        if answer.notice:
            print(f"note: {answer.notice}", file=sys.stderr, flush=True)
    return 0


def run_chat(settings: Settings, filters: Filters | None = None) -> int:
    """Entry point of `newsbot chat`; returns the exit code."""
    filters = filters or Filters()
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        return _plain_loop(settings, filters)
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        # started from a background job of a script (`cmd &` ignores SIGINT, and the child
        # inherits that): on a terminal, Ctrl-C must still cancel an answer
        signal.signal(signal.SIGINT, signal.default_int_handler)
    return Repl(settings, make_console(), filters).run()
