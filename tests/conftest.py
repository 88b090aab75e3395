"""Shared fixtures: every test gets its own NEWSBOT_HOME; the real embedder is loaded once."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test reads or writes the user's data directory, or a developer's .env."""
    home = tmp_path / "newsbot-home"
    monkeypatch.setenv("NEWSBOT_HOME", str(home))
    for name in list(os.environ):
        if name.startswith("NEWSBOT_") and name != "NEWSBOT_HOME":
            monkeypatch.delenv(name)
    # answers are extractive unless a test is about the LLM (those set NEWSBOT_LLM themselves)
    monkeypatch.setenv("NEWSBOT_LLM", "extractive")
    monkeypatch.chdir(tmp_path)
    return home


@pytest.fixture(autouse=True)
def close_chroma_stores() -> Iterator[None]:
    """Each local Chroma store a test opens holds ~15 file descriptors until its system is
    stopped; hundreds of tests would pass 1,024 (pexpect's select() fails there). Stores opened
    by wider-scoped fixtures were opened before this runs, and are kept."""
    from chromadb.api.shared_system_client import SharedSystemClient

    before = set(SharedSystemClient._identifier_to_system)
    yield
    for identifier in set(SharedSystemClient._identifier_to_system) - before:
        system = SharedSystemClient._identifier_to_system.pop(identifier, None)
        try:
            system.stop() if system is not None else None
        except Exception:
            pass


@pytest.fixture(scope="session")
def real_embedder():  # type: ignore[no-untyped-def]
    from retrieval.index.embeddings import MiniLMEmbedder

    embedder = MiniLMEmbedder()
    embedder.embed("load the model once per test session")
    return embedder


@pytest.fixture
def fake_embedder():  # type: ignore[no-untyped-def]
    from tests.fakes import HashingEmbedder

    return HashingEmbedder()


@pytest.fixture
def make_desk(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A NewsDesk over a fresh home with the given embedder (default: the fake one)."""
    from retrieval import NewsDesk, Settings
    from tests.fakes import HashingEmbedder

    def make(embedder=None, **settings):  # type: ignore[no-untyped-def]
        home = settings.pop("home", tmp_path / "desk")
        settings.setdefault("llm", "extractive")
        return NewsDesk(Settings(home=Path(home), **settings), embedder or HashingEmbedder())

    return make


@pytest.fixture(scope="session")
def corpus_home(tmp_path_factory: pytest.TempPathFactory, real_embedder) -> Path:  # type: ignore[no-untyped-def]
    """corpus/ ingested once with the real embedder; tests copy it before writing."""
    from retrieval import NewsDesk, Settings

    home = tmp_path_factory.mktemp("corpus-home")
    report = NewsDesk(Settings(home=home), real_embedder).ingest([CORPUS])
    assert report.ok and report.new >= 1
    return home


@pytest.fixture
def corpus_desk(corpus_home: Path, tmp_path: Path, real_embedder):  # type: ignore[no-untyped-def]
    """A NewsDesk over a private copy of the ingested corpus, with the real embedder."""
    from retrieval import NewsDesk, Settings

    home = tmp_path / "corpus-copy"
    shutil.copytree(corpus_home, home)
    return NewsDesk(Settings(home=home, llm="extractive"), real_embedder)


@pytest.fixture(scope="session")
def local_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled GGUF, joined from its parts and verified once per test session (1.1 GB)."""
    from retrieval.answer.model_files import bundled_model

    return bundled_model(tmp_path_factory.mktemp("models"))


@pytest.fixture
def shared_data() -> Iterator[Path]:
    if not (SHARED_DATA / "realtimeqa" / "articles.jsonl").exists():
        pytest.skip("../shared/data is not beside the checkout")
    yield SHARED_DATA


# --- skips are failures unless expected ------------------------------------------------------------
# A test that skips has not run: on a machine set up by scripts/setup (CI included) nothing should
# skip, so a skip fails the run. NEWSBOT_EXPECTED_SKIPS (comma-separated parts of test ids) names the
# skips a developer expects on their own machine, e.g. "test_local_llm" without the local model.

_skipped: list[tuple[str, str]] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        _skipped.append((report.nodeid, reason))


def _unexpected_skips() -> list[tuple[str, str]]:
    expected = [e.strip() for e in os.environ.get("NEWSBOT_EXPECTED_SKIPS", "").split(",") if e.strip()]
    return [(node, why) for node, why in _skipped if not any(e in node for e in expected)]


def pytest_terminal_summary(terminalreporter, exitstatus: int) -> None:  # type: ignore[no-untyped-def]
    unexpected = _unexpected_skips()
    terminalreporter.write_line(f"skipped: {len(_skipped)} ({len(unexpected)} not expected)")
    for node, why in unexpected:
        terminalreporter.write_line(f"  unexpected skip: {node}: {why}", red=True)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _unexpected_skips() and exitstatus == 0:
        session.exitstatus = 1
