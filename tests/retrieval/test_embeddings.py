"""The embedder's precision: bfloat16 where the CPU has it, vectors that search the same either way."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval import Settings
from retrieval.errors import ConfigError
from retrieval.index import embeddings
from retrieval.index.embeddings import MiniLMEmbedder, resolve_precision

AMX_CPU = "processor\t: 0\nflags\t\t: fpu sse avx2 avx512f avx512_vnni amx_bf16 amx_tile amx_int8\n"
AVX512_BF16_CPU = "flags\t\t: fpu sse avx2 avx512f avx512_bf16\n"
OLDER_CPU = "flags\t\t: fpu sse avx2 avx512f avx512_vnni\nbugs\t\t: amx_bf16_is_not_a_flag_here\n"

NEWS = [
    "The central bank raised interest rates by a quarter point on Wednesday.",
    "Inflation slowed for a third month as fuel prices fell.",
    "The striker scored twice as the home side won the cup final.",
    "Wildfires forced thousands to leave their homes in the hills above the city.",
]


@pytest.mark.parametrize(
    ("cpuinfo", "expected"),
    [(AMX_CPU, "bfloat16"), (AVX512_BF16_CPU, "bfloat16"), (OLDER_CPU, "float32")],
)
def test_auto_takes_bfloat16_only_where_the_cpu_multiplies_it_natively(cpuinfo: str, expected: str) -> None:
    assert resolve_precision("auto", cpuinfo) == expected


def test_an_explicit_precision_is_kept_and_an_unknown_one_is_a_config_error() -> None:
    assert resolve_precision("float32", AMX_CPU) == "float32"
    assert resolve_precision("bfloat16", OLDER_CPU) == "bfloat16"
    with pytest.raises(ConfigError, match="NEWSBOT_EMBED_PRECISION='float16' is not one of auto, float32, bfloat16"):
        MiniLMEmbedder(precision="float16")


def test_the_precision_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("NEWSBOT_EMBED_PRECISION", " Float32 ")
    assert Settings.from_env(home=tmp_path).embed_precision == "float32"
    monkeypatch.delenv("NEWSBOT_EMBED_PRECISION")
    assert Settings.from_env(home=tmp_path).embed_precision == "auto"


def test_bfloat16_vectors_are_unit_length_and_rank_like_float32(real_embedder, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A store embedded in one precision is searched with queries embedded in the other."""
    monkeypatch.setattr(embeddings, "BF16_MIN_TEXTS", 1)  # bfloat16 for these few texts too
    full = np.asarray(MiniLMEmbedder(precision="float32").embed_batch(NEWS))
    half = np.asarray(MiniLMEmbedder(precision="bfloat16").embed_batch(NEWS))
    assert full.dtype == half.dtype == np.float64  # plain floats, as Chroma is given them
    assert np.allclose(np.linalg.norm(half, axis=1), 1.0, atol=1e-5)
    assert np.min(np.sum(full * half, axis=1)) > 0.999
    query = "Did the bank put up rates?"
    for embedder in (MiniLMEmbedder(precision="float32"), MiniLMEmbedder(precision="bfloat16")):
        scores = full @ np.asarray(embedder.embed(query))
        assert int(np.argmax(scores)) == 0
        assert list(np.argsort(-scores)) == list(np.argsort(-(half @ np.asarray(embedder.embed(query)))))


def test_a_few_texts_such_as_a_query_are_embedded_in_float32_either_way(real_embedder) -> None:  # type: ignore[no-untyped-def]
    query = "Did the bank put up rates?"
    assert MiniLMEmbedder(precision="bfloat16").embed(query) == MiniLMEmbedder(precision="float32").embed(query)
    many = NEWS * (embeddings.BF16_MIN_TEXTS // len(NEWS) + 1)
    assert MiniLMEmbedder(precision="bfloat16").embed_batch(many) != MiniLMEmbedder(precision="float32").embed_batch(many)


def test_a_questions_sentences_are_embedded_in_smaller_batches_to_the_same_vectors(real_embedder, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Smaller batches pad a short sentence less when a long one shares its batch; ingest keeps 64."""
    embedder = MiniLMEmbedder(batch_size=64, precision="float32")
    sizes: list[int] = []
    encode = embedder.model.encode
    monkeypatch.setattr(embedder.model, "encode", lambda texts, **kw: sizes.append(kw["batch_size"]) or encode(texts, **kw))
    texts = NEWS * 10 + [" ".join(NEWS) * 3]
    sentences = np.asarray(embedder.embed_sentences(texts))
    batch = np.asarray(embedder.embed_batch(texts))
    assert sizes == [embeddings.SENTENCE_BATCH, 64]
    assert np.allclose(sentences, batch, atol=1e-5)
