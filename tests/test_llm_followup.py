"""Follow-ups become standalone questions: by the LLM when there is one, by a heuristic without."""

from __future__ import annotations

from langchain_core.language_models.fake_chat_models import FakeListChatModel

from retrieval.answer.followup import fallback_standalone, standalone_question
from retrieval.types import Turn

HISTORY = [
    Turn("user", "What did Modi and Putin discuss?"),
    Turn("assistant", "They discussed the supply of fertilizers [1]."),
]


def test_a_first_question_is_left_alone() -> None:
    model = FakeListChatModel(responses=["should not be asked"])
    assert standalone_question("What did Modi and Putin discuss?", [], model) == "What did Modi and Putin discuss?"


def test_the_llm_rewrites_a_follow_up() -> None:
    model = FakeListChatModel(responses=['Rewritten question: "What did Modi and Putin say about the S-500?"\n'])
    assert standalone_question("and what about the S-500?", HISTORY, model) == "What did Modi and Putin say about the S-500?"


def test_without_an_llm_the_follow_up_is_searched_with_the_question_it_follows() -> None:
    assert standalone_question("and what about the S-500?", HISTORY, None) == (
        "What did Modi and Putin discuss? and what about the S-500?"
    )


def test_a_new_self_contained_question_is_not_merged() -> None:
    question = "How high was inflation in the United States in December 2021?"
    assert fallback_standalone(question, HISTORY) == question


def test_a_failing_llm_falls_back_to_the_heuristic() -> None:
    class Broken(FakeListChatModel):
        def _call(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            raise ConnectionError("server down")

    assert standalone_question("what about the S-500?", HISTORY, Broken(responses=["x"])) == (
        "What did Modi and Putin discuss? what about the S-500?"
    )
