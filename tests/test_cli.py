"""The `newsbot` command end to end over corpus/, as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import CORPUS, ROOT


def newsbot(*args: str, home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        cwd=ROOT,
        env=dict(os.environ, NEWSBOT_HOME=str(home), NEWSBOT_LLM="extractive", **env),
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("cli-home")
    first = newsbot("ingest", str(CORPUS), home=home)
    assert first.returncode == 0, first.stderr
    assert "1 new" in first.stdout
    return home


def test_help_is_instant() -> None:
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "bot.cli", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0 and "ingest" in out.stdout and "ask" in out.stdout
    assert time.perf_counter() - started < 5  # generous: it imports no model library
    probe = subprocess.run(
        [sys.executable, "-c", "import sys, bot.cli; print(any(m in sys.modules for m in ('torch', 'chromadb', 'sentence_transformers')))"],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert probe.stdout.strip() == "False"


def test_reingest_is_a_no_op(home: Path) -> None:
    again = newsbot("ingest", str(CORPUS), home=home)
    assert again.returncode == 0 and "0 new, 0 updated, 1 unchanged" in again.stdout


def test_ask_answers_with_numbered_sources(home: Path) -> None:
    out = newsbot("ask", "What did Modi and Putin discuss?", home=home)
    assert out.returncode == 0, out.stderr
    answer, _, sources = out.stdout.partition("Sources:")
    assert "[1]" in answer and "Putin" in answer
    assert "[1] " in sources and "2021-12-20" in sources


def test_ask_json_shape(home: Path) -> None:
    out = newsbot("ask", "--json", "--as-of", "2021-12-21", "What did Modi and Putin discuss?", home=home)
    data = json.loads(out.stdout)
    assert set(data) >= {"answer", "abstained", "citations", "timings"}
    assert data["abstained"] is False
    (c,) = data["citations"]
    assert set(c) == {"n", "title", "source", "published", "url", "quote"}
    assert c["n"] == 1 and c["published"] == "2021-12-20"
    seed = (CORPUS / "000_ff46239a7c5f29a8.txt").read_text()
    assert all(part in seed for part in c["quote"].split(" … "))  # quoted verbatim


def test_ask_abstains_on_what_the_news_does_not_say(home: Path) -> None:
    data = json.loads(newsbot("ask", "--json", "Who won the 2022 FIFA World Cup final?", home=home).stdout)
    assert data["abstained"] is True and data["citations"] == [] and "couldn't find" in data["answer"]


def test_hard_filters_exclude_everything_outside_them(home: Path) -> None:
    """In this process (click's runner), so the two asks share one loaded embedder."""
    from click.testing import CliRunner

    from bot.cli import cli

    for hard_filter in (["--since", "2022-01-01"], ["--source", "nowhere-news"]):
        args = ["--home", str(home), "ask", "--json", *hard_filter, "What did Modi and Putin discuss?"]
        result = CliRunner().invoke(cli, args, obj={}, env={"NEWSBOT_LLM": "extractive"})
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["abstained"] is True, hard_filter


def test_stats(home: Path) -> None:
    data = json.loads(newsbot("stats", "--json", home=home).stdout)
    assert data["articles"] == 1 and data["chunks"] >= 1 and data["earliest"] == "2021-12-20"


def test_bad_arguments_get_clear_messages(home: Path, tmp_path: Path) -> None:
    bad_date = newsbot("ask", "--since", "last tuesday", "q", home=home)
    assert bad_date.returncode == 2 and "not a date" in bad_date.stderr
    huge = newsbot("ask", "x" * 50_000, home=home)
    assert huge.returncode == 2 and "50,000 characters" in huge.stderr and "Traceback" not in huge.stderr
    empty = newsbot("ask", "What happened?", home=tmp_path / "nothing")
    assert empty.returncode == 1 and "newsbot ingest" in empty.stderr and "Traceback" not in empty.stderr


def test_ingest_exit_status_names_the_failed_input(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "bad.json").write_text("{")
    (tmp_path / "in" / "good.txt").write_text("date 2024-01-02\nThe council met on Tuesday. It approved the budget.")
    out = newsbot("ingest", str(tmp_path / "in"), home=tmp_path / "h")
    assert out.returncode == 1 and "bad.json" in out.stderr and "1 new" in out.stdout
