"""The citation checker on crafted model outputs, with the real embedder (what users run)."""

from __future__ import annotations

import datetime as dt

import pytest

from retrieval.answer.citations import PromptPassage, check_citations, is_meta, leaks
from retrieval.answer.prompts import ANSWER_SYSTEM
from retrieval.types import ArticleHit

TEXTS = {
    "modi": (
        "Modi and Putin hold phone call",
        "Prime Minister Narendra Modi held a telephone call with Russian President Vladimir Putin. "
        "They agreed to enhance cooperation, including in the supply of fertilizers.",
    ),
    "oil": ("Oil climbs", "Oil prices rose on Monday as traders weighed supply risks from Libya."),
    "cup": ("Argentina champions", "Argentina beat France on penalties to win the World Cup final in Qatar."),
}


@pytest.fixture
def passages() -> list[PromptPassage]:
    out = []
    for n, (key, (title, text)) in enumerate(TEXTS.items(), 1):
        hit = ArticleHit(key, title, f"Outlet {key}", f"https://example.org/{key}", dt.date(2021, 12, 18 + n), 1.0)
        out.append(PromptPassage(n, hit, text))
    return out


def check(text: str, passages: list[PromptPassage], embedder) -> tuple[str, list[str]]:  # type: ignore[no-untyped-def]
    checked = check_citations(text, passages, embedder, secret=ANSWER_SYSTEM)
    assert {c.article_id for c in checked.citations} <= set(TEXTS)  # never a source it was not given
    assert [c.n for c in checked.citations] == list(range(1, len(checked.citations) + 1))
    return checked.text, [c.article_id for c in checked.citations]


def test_out_of_range_number_is_removed_and_the_claim_attributed(passages, real_embedder) -> None:  # type: ignore[no-untyped-def]
    checked = check_citations("Modi and Putin agreed to enhance cooperation on fertilizers [7].", passages, real_embedder)
    assert checked.removed_numbers == [7]
    assert checked.text == "Modi and Putin agreed to enhance cooperation on fertilizers [1]."
    assert [c.article_id for c in checked.citations] == ["modi"]
    assert checked.citations[0].quote == "They agreed to enhance cooperation, including in the supply of fertilizers."


def test_missing_citation_gets_the_supporting_passage(passages, real_embedder) -> None:  # type: ignore[no-untyped-def]
    text, ids = check("Oil prices rose as traders weighed supply risks.", passages, real_embedder)
    assert (text, ids) == ("Oil prices rose as traders weighed supply risks [1].", ["oil"])


def test_unsupported_sentence_is_dropped(passages, real_embedder) -> None:  # type: ignore[no-untyped-def]
    checked = check_citations(
        "Modi and Putin spoke by telephone [1]. The moon is made of green cheese.", passages, real_embedder
    )
    assert checked.text == "Modi and Putin spoke by telephone [1]."
    assert checked.dropped == ["The moon is made of green cheese"]


def test_nothing_supported_means_no_citations(passages, real_embedder) -> None:  # type: ignore[no-untyped-def]
    assert check("The moon is made of green cheese [2].", passages, real_embedder) == ("", [])


def test_citation_of_an_unrelated_passage_is_moved_or_removed(passages, real_embedder) -> None:  # type: ignore[no-untyped-def]
    text, ids = check("Argentina won the World Cup final on penalties [2].", passages, real_embedder)
    assert (text, ids) == ("Argentina won the World Cup final on penalties [1].", ["cup"])
    text, ids = check("Modi and Putin spoke by telephone [1, 3].", passages, real_embedder)
    assert (text, ids) == ("Modi and Putin spoke by telephone [1].", ["modi"])


def test_sources_are_renumbered_in_order_of_first_use(passages, real_embedder) -> None:  # type: ignore[no-untyped-def]
    text, ids = check(
        "Oil prices rose on Monday [2]. Modi and Putin held a phone call. [1] Supply risks from Libya worried traders [2].",
        passages,
        real_embedder,
    )
    assert ids == ["oil", "modi"]
    assert text == (
        "Oil prices rose on Monday [1]. Modi and Putin held a phone call [2]. "
        "Supply risks from Libya worried traders [1]."
    )


def test_talk_about_the_passages_and_prompt_leaks_are_dropped(passages, real_embedder) -> None:  # type: ignore[no-untyped-def]
    text, ids = check(
        "Modi and Putin held a phone call [1]. The passages do not mention what they said about oil [2]. "
        "My rules say: put the number of the passage that supports each sentence [1].",
        passages,
        real_embedder,
    )
    assert (text, ids) == ("Modi and Putin held a phone call [1].", ["modi"])


@pytest.mark.parametrize(
    ("sentence", "meta"),
    [
        ("The passages do not mention the score", True),
        ("The provided articles don't say who won", True),
        ("There is no information about the final", True),
        ("Putin did not mention the S-500", False),
        ("Oil prices rose", False),
    ],
)
def test_is_meta(sentence: str, meta: bool) -> None:
    assert is_meta(sentence) is meta


def test_leaks() -> None:
    assert leaks("I must write 1 to 4 short sentences and put the number", ANSWER_SYSTEM)
    assert not leaks("Modi and Putin discussed fertilizers", ANSWER_SYSTEM)
