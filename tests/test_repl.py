"""`newsbot chat` driven through a pseudo-terminal, as a person would: real answers over corpus/.

The REPL runs as a child process on a pty (pexpect). The test plays the terminal: it answers
prompt_toolkit's cursor-position request (so the status bar shows, as in a real terminal) and
reads the screen output with escape sequences stripped.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import io
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pexpect
import pytest

from retrieval import Answer, Citation, Turn

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
NEWSBOT = Path(sys.executable).parent / "newsbot"
QUESTION = "What did Modi and Putin discuss?"
CPR_REQUEST = "\x1b[6n"  # prompt_toolkit asks where the cursor is each time a new prompt starts
PROMPT = "newsbot>"
# CSI sequences, OSC sequences (e.g. OSC 8 links) ended by BEL or ST, charset switches, CRs.
ANSI = re.compile(r"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b\[[0-?]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>]|\r")


def clean(raw: str) -> str:
    return ANSI.sub("", raw)


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSBOT_") and k != "FORCE_HYPERLINK"}
    env.update(
        NEWSBOT_HOME=str(home), NEWSBOT_LLM="extractive", TERM="xterm-256color",
        HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
    )
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def corpus_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """corpus/ ingested once for this module, by the real CLI, into its own NEWSBOT_HOME."""
    home = tmp_path_factory.mktemp("repl-corpus")
    done = subprocess.run(
        [str(NEWSBOT), "ingest", str(CORPUS)], env=_env(home), capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    return home


class Chat:
    """One `newsbot chat` on a pty, with the terminal's side of the conversation."""

    def __init__(self, home: Path, *args: str, timeout: float = 180, **env: str) -> None:
        self.started = time.monotonic()
        self.child = pexpect.spawn(
            str(NEWSBOT), ["chat", *args], env=_env(home, **env), cwd=str(home.parent), use_poll=True,
            dimensions=(50, 200), encoding="utf-8", timeout=timeout,
        )
        self.transcript = io.StringIO()
        self.child.logfile_read = self.transcript

    def prompt(self, timeout: float | None = None) -> str:
        """Wait for a fresh prompt; return the screen output since the previous one, cleaned."""
        self.child.expect_exact(CPR_REQUEST, timeout=timeout or self.child.timeout)
        before = self.child.before
        self.child.send("\x1b[1;1R")  # "the cursor is on row 1": what a terminal would answer
        self.child.expect_exact(PROMPT)
        return clean(before)

    def say(self, line: str) -> str:
        """Type a line and Enter; return everything shown until the next prompt."""
        self.child.send(line + "\r")
        return self.prompt()

    def expect(self, pattern: str, timeout: float | None = None) -> str:
        self.child.expect(pattern, timeout=timeout or self.child.timeout)
        return clean(self.child.before + self.child.after)

    def close(self) -> None:
        if self.child.isalive():
            self.child.terminate(force=True)

    def screen(self) -> str:
        return clean(self.transcript.getvalue())


@pytest.fixture
def chat_factory():  # type: ignore[no-untyped-def]
    chats: list[Chat] = []

    def make(home: Path, *args: str, **env: str) -> Chat:
        chats.append(Chat(home, *args, **env))
        return chats[-1]

    yield make
    for c in chats:
        c.close()


def test_conversation_sources_open_filters_and_quit(corpus_index: Path, chat_factory) -> None:  # type: ignore[no-untyped-def]
    chat = chat_factory(corpus_index)
    chat.prompt(timeout=10)
    assert time.monotonic() - chat.started < 5  # ready long before the models (2 s on an idle machine)

    # The first question goes in at once and waits for the background warm-up.
    out = chat.say(QUESTION)
    assert "[1]" in out and "Sources" in out
    assert "unknown outlet · 2021-12-20 · Prime Minister Narendra Modi" in out

    # A follow-up is searched together with the conversation so far.
    out = chat.say("and the S-500?")
    assert "follow-up searched as: What did Modi and Putin discuss? and the S-500?" in out
    assert "S-500" in out and "Sources" in out

    out = chat.say("/sources")
    assert "[1] unknown outlet · 2021-12-20" in out
    assert "“" in out and "”" in out and "Putin" in out  # the quoted passage

    out = chat.say("/open 1")
    assert "Kremlin confirmed that the call was made" in out  # beyond any quoted passage: the article
    assert "/open: N" not in out
    assert "usage: /open N, where N is one of 1" in chat.say("/open 7")

    # Filters persist until /reset.
    assert "filters: since 2022-01-01" in chat.say("/since 2022-01-01")
    out = chat.say(QUESTION)
    assert "couldn't find" in out and "Sources" not in out
    out = chat.say("Did they talk about fertilizers?")
    assert "couldn't find" in out
    assert "not a date" in chat.say("/until yesterday-ish")
    assert "filters cleared" in chat.say("/reset")
    assert "filters: source Reuters" in chat.say("/source Reuters")
    assert "couldn't find" in chat.say(QUESTION)
    chat.say("/reset")
    out = chat.say(QUESTION)
    assert "Sources" in out and "follow-up searched as" not in out  # /reset also began a new conversation

    assert "did you mean /since?" in chat.say("/sinse 2021-01-01")
    assert "unknown command /frobnicate: /help lists the commands" in chat.say("/frobnicate")
    assert "/open" in chat.say("/help")

    chat.child.send("/quit\r")
    chat.child.expect(pexpect.EOF, timeout=15)
    chat.child.close()
    assert chat.child.exitstatus == 0
    assert "Traceback" not in chat.screen()
    history = (corpus_index / "chat_history").read_text()
    assert QUESTION in history and "and the S-500?" in history


def test_history_recall_and_multiline_input(corpus_index: Path, chat_factory) -> None:  # type: ignore[no-untyped-def]
    (corpus_index / "chat_history").write_text(f"\n# 2025-01-01 00:00:00\n+{QUESTION}\n")
    chat = chat_factory(corpus_index)
    chat.prompt(timeout=10)
    chat.child.send("\x1b[A")  # Up: the question from the earlier run comes back
    chat.child.expect_exact(QUESTION)
    chat.child.send("\x15")  # Ctrl-U clears it again
    # Alt-Enter starts a second line; Enter sends both lines as one question.
    chat.child.send("What did Modi and Putin\x1b\r")
    chat.child.send("discuss?\r")
    out = chat.prompt()
    assert "Sources" in out
    history = (corpus_index / "chat_history").read_text()
    assert "+What did Modi and Putin\n+discuss?" in history
    chat.child.send("\x04")  # Ctrl-D leaves
    chat.child.expect(pexpect.EOF, timeout=15)
    chat.child.close()
    assert chat.child.exitstatus == 0


def test_ctrl_c_while_the_answer_waits_for_the_models(corpus_index: Path, chat_factory) -> None:  # type: ignore[no-untyped-def]
    """The first answer is in progress (blocked on the ~8 s model load) when Ctrl-C arrives."""
    chat = chat_factory(corpus_index)
    chat.prompt(timeout=10)
    chat.child.send(QUESTION + "\r")
    chat.expect("waiting for the models and index to load", timeout=10)
    sent = time.monotonic()
    chat.child.sendintr()
    out = chat.expect("cancelled", timeout=10)
    out += chat.prompt(timeout=10)
    assert time.monotonic() - sent < 5
    assert "Sources" not in out  # no answer was printed for the cancelled question
    # The warm-up went on in the background; the next question is answered.
    out = chat.say(QUESTION)
    assert "Sources" in out
    chat.child.send("\x04")
    chat.child.expect(pexpect.EOF, timeout=15)
    chat.child.close()
    assert chat.child.exitstatus == 0
    assert "Traceback" not in chat.screen()


def _local_llm_available() -> bool:
    if importlib.util.find_spec("llama_cpp") is None:
        return False
    try:
        from retrieval.answer.model_files import find_parts

        find_parts()
    except Exception:
        return False
    return True


@pytest.mark.skipif(not _local_llm_available(), reason="the local LLM (llama-cpp-python + model parts) is not installed")
def test_ctrl_c_while_the_local_llm_streams(corpus_index: Path, local_model: Path, chat_factory) -> None:  # type: ignore[no-untyped-def]
    """A real generated answer is streaming token by token (~13 tokens/s) when Ctrl-C arrives."""
    # the model file is joined once per session; a short prompt gets to the streaming sooner
    chat = chat_factory(corpus_index, NEWSBOT_LLM="local", NEWSBOT_LLM_MODEL=str(local_model), NEWSBOT_PROMPT_CHARS="600")
    chat.prompt(timeout=10)
    chat.child.send(QUESTION + "\r")  # waits for the model to load, then streams
    chat.expect("searching the news", timeout=30)  # everything after this is the answer's own output
    streamed = chat.expect(r"(?i)india|russia|modi|putin|defen[cs]e|s-[45]00|fertili[sz]er|summit", timeout=900)
    assert "Sources" not in streamed
    sent = time.monotonic()
    chat.child.sendintr()
    out = chat.expect("cancelled", timeout=10)
    out += chat.prompt(timeout=15)
    assert time.monotonic() - sent < 5
    assert "Sources" not in out and "Newest source" not in out
    chat.child.send("/quit\r")
    chat.child.expect(pexpect.EOF, timeout=30)
    chat.child.close()
    assert chat.child.exitstatus == 0
    assert "Traceback" not in chat.screen()


def test_empty_index_points_to_ingest(tmp_path: Path, chat_factory) -> None:  # type: ignore[no-untyped-def]
    chat = chat_factory(tmp_path / "empty-home")
    chat.prompt(timeout=10)
    out = chat.say(QUESTION)
    assert "is empty" in out and "newsbot ingest" in out
    assert "Traceback" not in out
    chat.child.send("/quit\r")
    chat.child.expect(pexpect.EOF, timeout=15)
    chat.child.close()
    assert chat.child.exitstatus == 0


def test_ask_on_a_terminal_uses_the_shared_renderer(corpus_index: Path) -> None:
    child = pexpect.spawn(
        str(NEWSBOT), ["ask", QUESTION], env=_env(corpus_index), dimensions=(50, 200), encoding="utf-8", timeout=180,
        use_poll=True,
    )
    child.expect(pexpect.EOF)
    child.close()
    out = clean(child.before)
    assert child.exitstatus == 0
    assert "[1]" in out and "\nSources\n" in out  # the rich layout (piped output says "Sources:")
    assert "[1] unknown outlet · 2021-12-20 · Prime Minister Narendra Modi" in out


# --- the renderer itself ---------------------------------------------------------------------------

CITED = Citation(1, "a1", "Modi and Putin speak", "Reuters", dt.date(2021, 12, 20), "https://example.com/a1", "They spoke.")
ANSWER = Answer("q?", "They spoke by phone [1].", [CITED], abstained=False)


def _rendered(links: bool) -> str:
    from bot.terminal.render import make_console, print_answer

    buf = io.StringIO()
    console = make_console(buf, force_terminal=True)
    print_answer(console, ANSWER, links=links)
    return buf.getvalue()


def test_sources_are_osc8_links_where_supported() -> None:
    raw = _rendered(links=True)
    assert "\x1b]8;" in raw and "https://example.com/a1" in raw
    text = clean(raw)
    assert "[1] Reuters · 2021-12-20 · Modi and Putin speak" in text
    assert "https://example.com/a1" not in text  # the title is the link


def test_sources_show_the_url_where_links_are_not_supported() -> None:
    raw = _rendered(links=False)
    assert "\x1b]8;" not in raw
    assert "[1] Reuters · 2021-12-20 · Modi and Putin speak · https://example.com/a1" in clean(raw)


def test_hyperlink_support_detection(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.terminal.render import supports_hyperlinks

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    for name in ("FORCE_HYPERLINK", "TERM_PROGRAM", "VTE_VERSION", "WT_SESSION", "KONSOLE_VERSION", "KITTY_WINDOW_ID", "DOMTERM"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    assert not supports_hyperlinks(Tty())
    assert not supports_hyperlinks(io.StringIO())
    monkeypatch.setenv("VTE_VERSION", "7200")
    assert supports_hyperlinks(Tty())
    assert not supports_hyperlinks(io.StringIO())  # a pipe never gets escape sequences
    monkeypatch.setenv("FORCE_HYPERLINK", "0")
    assert not supports_hyperlinks(Tty())


def test_plain_text_format_of_ask_is_unchanged() -> None:
    from bot.terminal.render import answer_text

    assert answer_text(ANSWER) == (
        "They spoke by phone [1].\n\nSources:\n"
        "[1] Reuters · 2021-12-20 · Modi and Putin speak · https://example.com/a1"
    )


def test_a_long_session_keeps_only_the_turns_the_engine_reads() -> None:
    """Issue #14: the REPL's turns grew without bound over a long session."""
    from bot.terminal.commands import Conversation
    from retrieval import HISTORY_TURNS

    convo = Conversation()
    for i in range(500):
        convo.add(f"question {i}", Answer(f"question {i}", f"answer {i}", [], abstained=False))
    assert len(convo.turns) == HISTORY_TURNS
    assert convo.history()[-2:] == [Turn("user", "question 499"), Turn("assistant", "answer 499")]
