"""The chat's slash commands and the conversation state they act on.

`SlashCommands` is mixed into `Repl` (bot/terminal/repl.py): each `cmd_*` handles one command and
returns False only to leave, so the read loop stays a table lookup. Filters are the engine's own
`retrieval.Filters` (frozen; a command replaces one field), and they last until /reset.
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from bot.terminal.jobs import Warmup
from bot.terminal.render import inert, rich_source, rich_sources
from retrieval import HISTORY_TURNS, Answer, Filters, QuestionError, Turn, user_date

if TYPE_CHECKING:
    from rich.console import Console

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
_OFF = ("off", "none", "clear", "-")


def describe(f: Filters) -> str:
    """The filters a user set with /since, /until, /source, /asof, as the status bar shows them."""
    parts = []
    if f.since:
        parts.append(f"since {f.since}")
    if f.until:
        parts.append(f"until {f.until}")
    if f.sources:
        parts.append("source " + ", ".join(f.sources))
    if f.as_of:
        parts.append(f"as of {f.as_of}")
    return "; ".join(parts)


@dataclass
class Conversation:
    """What a follow-up needs: earlier turns, the last answer (for /sources, /open), the filters."""

    turns: deque[Turn] = field(default_factory=lambda: deque(maxlen=HISTORY_TURNS))  # all the engine reads
    last: Answer | None = None
    filters: Filters = field(default_factory=Filters)

    def add(self, question: str, answer: Answer) -> None:
        self.turns.extend((Turn("user", question), Turn("assistant", answer.text)))  # a long session stays small
        self.last = answer

    def history(self) -> list[Turn]:
        return list(self.turns)


def _parse_date(arg: str) -> dt.date | None:
    return None if arg.lower() in _OFF else user_date(arg, "date")


class SlashCommands:
    """The /commands of `newsbot chat`, over the state the REPL keeps (declared below)."""

    console: "Console"
    convo: Conversation
    links: bool
    warmup: Warmup

    def command_handlers(self) -> dict[str, Callable[[str], bool]]:
        return {
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

    def command(self, line: str) -> bool:
        """Run one /command; False means leave."""
        name, _, arg = line.partition(" ")
        name, arg = name.lower(), arg.strip()
        handler = self.command_handlers().get(name)
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
        self._say(inert(body or cited.quote))  # an article's own escape sequences print as nothing
        return True

    def _set_date(self, name: str, arg: str) -> bool:
        f = self.convo.filters
        if not arg:
            self._say(f"/{name.replace('_', '')}: {getattr(f, name) or 'off'}")
            return True
        try:
            value = _parse_date(arg)
        except QuestionError:
            self._say(f"{arg!r} is not a date like 2025-04-11 (or `off`)")
            return True
        new = replace(f, **{name: value})
        if new.since and new.until and new.since > new.until:
            self._say(f"since {new.since} is after until {new.until}: nothing could match; not changed")
            return True
        self.convo.filters = new
        self._say(f"filters: {describe(new) or 'none'}")
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
        names = () if arg.lower() in _OFF else tuple(s.strip() for s in arg.split(",") if s.strip())
        self.convo.filters = replace(f, sources=names)
        self._say(f"filters: {describe(self.convo.filters) or 'none'}")
        return True
