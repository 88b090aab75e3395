"""The answer-type cue of the sentence scorer: the kind a question asks for, what a sentence
offers, and (real MiniLM) that a sentence naming a thing of that kind matches best."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval.answer.answer_type import NUMBER, PERSON, PLACE, asked_kind, asks_for_summary, kind_match, offered


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("Which country has become the third in Asia to legalise same-sex marriage?", "country"),
        ("Which automaker is facing a new investigation into its self-driving features?", "automaker"),
        ("Which NFL team won the Super Bowl in New Orleans?", "NFL team"),  # the kind ends at the verb
        ("The UK opened its first legal drugs consumption room in which city?", "city"),
        ("Which of the following is the world’s largest coral reef?", "world’s largest coral"),
        ("Dairy farmers in France are turning to which of the following as an alternative?", None),
        ("What is the new fee to climb Mount Everest?", "new fee"),
        ("How many people died in the Lisbon tram crash?", NUMBER),
        ("What percentage of Delaware students are chronically absent?", NUMBER),
        ("Who delivered a eulogy at Jimmy Carter’s state funeral?", PERSON),
        ("Where did the Pope spend Easter?", PLACE),
        ("Why did the bridge close?", None),
        ('Which "junk food" staple is undergoing a surge of popularity in France?', "junk food staple"),
        ("A storm shares a name with which “Lord of the Rings” character?", "Lord of the Rings character"),
        ("What's the name of the new trend that has people arriving late?", "new trend"),  # not "name"
        ("What is the name of the charity Prince Harry stood down from?", "charity"),
        ("What was the name of the Maine Coon cat left on a plane?", "Maine Coon cat"),
    ],
)
def test_asked_kind(question: str, kind: str | None) -> None:
    # "which of the following as …" names no kind: "as" ends it before it starts
    assert asked_kind(question) == kind


def test_offered_skips_what_the_question_already_names() -> None:
    question_words = {"which", "country", "legalised", "same", "sex", "marriage", "in", "asia"}
    text = "Thailand became the third place in Asia to allow same-sex marriage, after Taiwan and Nepal, with 130 votes."
    assert offered(text, question_words) == ["Thailand", "Taiwan", "Nepal", "130"]
    assert offered("The Bank of England raised rates by 0.25% to 5.25%.", set()) == ["The Bank of England", "0.25%", "5.25%"]
    assert offered("", set()) == []


def test_a_sentence_naming_a_country_matches_which_country(real_embedder) -> None:  # type: ignore[no-untyped-def]
    question = "Which country has become the third in Asia to legalise same-sex marriage?"
    texts = [
        "Thailand has become the third place in Asia to legalise same-sex marriage.",
        "Asia watched as campaigners celebrated outside parliament.",  # its one name is the question's
        "The bill was championed by Pride groups and Mayor Chadchart Sittipunt.",  # names, but of people
    ]
    match = kind_match(question, texts, real_embedder)
    assert match[1] == 0.0 and match[0] > match[2] > 0
    assert np.array_equal(match, kind_match(question, texts, real_embedder))  # deterministic
    assert np.isnan(kind_match("Why did the bridge close?", texts, real_embedder)).all()
    assert kind_match(question, [], real_embedder).shape == (0,)


@pytest.mark.parametrize(
    ("question", "summary"),
    [
        ("What did Modi and Putin discuss?", True),
        ("What did Modi and Putin say about the S-500 missile system?", True),
        ("What happened in Lisbon on Wednesday?", True),
        ("Which missile system did Modi and Putin discuss?", False),  # one thing, of a kind
        ("What had been the world's largest iceberg is breaking up, scientists say. How big is it?", False),
        ("Why did the bridge close?", False),
    ],
)
def test_asks_for_summary(question: str, summary: bool) -> None:
    assert asks_for_summary(question) is summary
