"""Rendering of answers and sources, shared by `newsbot ask` and `newsbot chat`.

Plain text (`answer_text`, its sources in bot.citation_text's `source_line`) and JSON
(`answer_json`) are what `ask` prints when its output is piped; on a terminal both commands use
the rich functions below, so an answer looks the same wherever it is read: [n] markers
highlighted, then the numbered sources (outlet · date · title), the titles clickable (OSC 8) where
the terminal is known to support it.

Only those links are ours to make: article and answer text is always added to rich as plain `Text`
(never parsed as console markup, never highlighted) and first loses its control characters, so an
article carrying its own escape sequences (an OSC 8 hyperlink, a colour, a cursor move) can neither
show a link nor rewrite the screen.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

from bot.citation_text import also_text, date_text, outlet, source_line
from retrieval import Answer, Citation

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
    from rich.live import Live
    from rich.text import Text

CITATION_MARK = re.compile(r"\[(\d+)\]")
# C0 controls but tab and newline, DEL, C1 controls: ESC starts OSC 8 links and other sequences,
# \x9b and \x9d are the one-byte CSI / OSC introducers, \r and \b overwrite what was printed.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
STREAM_REFRESH_S = 0.05  # at most 20 redraws a second while text streams in

# Terminals known to render OSC 8 hyperlinks; elsewhere the escape sequence can print as junk.
_LINK_TERM_PROGRAMS = {"iTerm.app", "WezTerm", "vscode", "ghostty", "Hyper", "Tabby", "rio", "zed"}
_LINK_TERMS = {"xterm-kitty", "xterm-ghostty", "alacritty", "foot", "foot-extra", "wezterm", "contour"}


def inert(text: str) -> str:
    """Article or answer text without control characters: it prints as text, never as a terminal
    escape sequence (no OSC 8 link, colour or cursor movement smuggled in by an article)."""
    return _CONTROL.sub("", text)


# --- plain text and JSON (what `newsbot ask` prints when piped) -----------------------------------


def answer_text(answer: Answer) -> str:
    lines = [inert(answer.text)]
    if answer.citations:
        lines += ["", "Sources:"] + [inert(source_line(c)) for c in answer.citations]
    return "\n".join(lines)


def answer_json(answer: Answer) -> str:
    data: dict[str, Any] = answer.to_dict()
    data["citations"] = [
        {k: c[k] for k in ("n", "title", "source", "published", "url", "quote")} for c in data["citations"]
    ]
    return json.dumps(data, ensure_ascii=False, indent=2)


# --- terminal rendering (rich) --------------------------------------------------------------------


def supports_hyperlinks(stream: TextIO | None = None) -> bool:
    """Whether to emit OSC 8 links: FORCE_HYPERLINK=1/0 decides, else only known terminals get them."""
    env = os.environ
    forced = env.get("FORCE_HYPERLINK")
    if forced is not None:
        return forced.strip().lower() not in ("", "0", "false", "no")
    stream = stream or sys.stdout
    if not (hasattr(stream, "isatty") and stream.isatty()) or env.get("TERM") == "dumb":
        return False
    if env.get("TERM_PROGRAM") in _LINK_TERM_PROGRAMS or env.get("TERM") in _LINK_TERMS:
        return True
    if any(env.get(name) for name in ("WT_SESSION", "KONSOLE_VERSION", "KITTY_WINDOW_ID", "DOMTERM")):
        return True
    vte = env.get("VTE_VERSION", "")
    return vte.isdigit() and int(vte) >= 5000  # GNOME Terminal, Tilix, …


def make_console(stream: TextIO | None = None, *, force_terminal: bool | None = None) -> "Console":
    """A console that never re-styles text by guesswork (numbers, URLs): answers are data."""
    from rich.console import Console

    return Console(file=stream, force_terminal=force_terminal, highlight=False, emoji=False, soft_wrap=False)


def rich_answer(answer: Answer, *, links: bool = False) -> "Text":
    """The answer text with its [n] markers highlighted, each linked to its source when possible:
    the only links in it (the rest is plain, inert text, whatever URLs or markup it contains)."""
    from rich.style import Style
    from rich.text import Text

    by_n = {c.n: c for c in answer.citations}
    body = inert(answer.text)
    text = Text(style="italic" if answer.abstained else "")
    pos = 0
    for m in CITATION_MARK.finditer(body):
        text.append(body[pos : m.start()])
        cited = by_n.get(int(m.group(1)))
        url = inert(cited.url) if (links and cited and cited.url) else None
        text.append(m.group(0), style=Style(color="cyan", bold=True, link=url))
        pos = m.end()
    text.append(body[pos:])
    return text


def rich_source(c: Citation, *, links: bool = False, quote: bool = False) -> "Text":
    """`[n] outlet · date · title`, the title a link (or the URL appended), optionally the quote below."""
    from rich.style import Style
    from rich.text import Text

    line = Text()
    line.append(f"[{c.n}] ", style="bold cyan")
    line.append(inert(outlet(c)), style="bold")
    line.append(f" · {inert(date_text(c))} · ", style="dim")
    line.append(inert(c.title), style=Style(link=inert(c.url), underline=True) if links and c.url else "")
    if c.url and not links:
        line.append(f" · {inert(c.url)}", style="dim")
    if c.also:
        line.append(f" · {inert(also_text(c))}", style="dim")
    if quote and c.quote:
        line.append("\n    “", style="dim")
        line.append(inert(c.quote), style="italic")
        line.append("”", style="dim")
    return line


def rich_sources(citations: Sequence[Citation], *, links: bool = False, quotes: bool = False) -> "Text":
    from rich.text import Text

    text = Text("Sources", style="bold")
    for c in citations:
        text.append("\n")
        text.append_text(rich_source(c, links=links, quote=quotes))
    return text


def print_answer(console: "Console", answer: Answer, *, links: bool | None = None) -> None:
    """The checked answer (and the engine's notice, if any), a blank line, then its numbered sources."""
    from rich.text import Text

    links = supports_hyperlinks(console.file) if links is None else links
    console.print(rich_answer(answer, links=links))
    notice = getattr(answer, "notice", "")
    if notice:
        console.print(Text(inert(notice), style="yellow"))
    if answer.citations:
        console.print()
        console.print(rich_sources(answer.citations, links=links))


class _Tail:
    """The last screenful of streaming text: a live region taller than the terminal can't redraw."""

    def __init__(self, text: "Text") -> None:
        self.text = text

    def __rich_console__(self, console: "Console", options: "ConsoleOptions") -> "RenderResult":
        from rich.text import Text

        lines = self.text.wrap(console, options.max_width)
        keep = max(1, (options.height or console.height) - 2)
        yield Text("\n").join(lines[-keep:])


class StreamView:
    """Shows an answer while it streams, then the checked Answer (authoritative) in its place.

        >>> with StreamView(console) as view:
        ...     for event in desk.stream(question):
        ...         view.finish(event) if isinstance(event, Answer) else view.feed(event)
    """

    def __init__(self, console: "Console", *, links: bool | None = None, status: str = "searching the news…") -> None:
        self.console = console
        self.links = supports_hyperlinks(console.file) if links is None else links
        self.streamed = ""
        self._status = status
        self._live: Live | None = None
        self._last_refresh = 0.0

    def __enter__(self) -> "StreamView":
        from rich.live import Live

        if self.console.is_terminal:
            self._live = Live(
                self._renderable(), console=self.console, auto_refresh=False, transient=True,
                redirect_stdout=False, redirect_stderr=False, vertical_overflow="visible",
            )
            self._live.start(refresh=True)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop()

    def _stop(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def _renderable(self) -> "RenderableType":
        from rich.spinner import Spinner
        from rich.text import Text

        if not self.streamed:
            return Spinner("dots", text=Text(self._status, style="dim"))
        return _Tail(Text(inert(self.streamed)))

    def status(self, message: str) -> None:
        """Change the line shown before any text has streamed (e.g. "loading models…")."""
        self._status = message
        self.tick(force=True)

    def tick(self, force: bool = False) -> None:
        """Redraw (animates the spinner); cheap to call often."""
        now = time.monotonic()
        if self._live is not None and (force or now - self._last_refresh >= STREAM_REFRESH_S):
            self._live.update(self._renderable(), refresh=True)
            self._last_refresh = now

    def feed(self, piece: str) -> None:
        self.streamed += piece
        self.tick()

    def finish(self, answer: Answer) -> None:
        self._stop()
        print_answer(self.console, answer, links=self.links)

    def cancel(self, note: str = "cancelled") -> None:
        """Keep what had streamed (dimmed), say it was cut off."""
        from rich.text import Text

        self._stop()
        if self.streamed:
            self.console.print(Text(inert(self.streamed), style="dim"))
        self.console.print(Text(f"⏹ {note}", style="yellow"))
