""""What's new today?": a question with only a time is answered with the newest stories of that
time, each cited; with nothing from then, the newest there are, flagged as old."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from retrieval import Answer, NewsDesk, Stage
from retrieval.answer.digest import DIGEST_STORIES, is_digest_question

TODAY = dt.date(2026, 11, 27)


@pytest.mark.parametrize("question", [
    "What's new today?", "What’s new?", "Any news this week?", "What were the biggest stories this week?",
    "What's the latest news?", "what is happening today", "Give me the headlines", "What happened yesterday?",
    "Top stories", "Catch me up on the news",
])
def test_questions_with_only_a_time_are_digests(question: str) -> None:
    assert is_digest_question(question)


@pytest.mark.parametrize("question", [
    "What did Modi and Putin discuss?", "What's new with Tesla?", "What happened in Ukraine today?",
    "Any news about the election?", "What is the latest on the S-500 deal?", "Who won today?",
    "What happened to the Titan submarine?",
])
def test_questions_about_something_are_searched(question: str) -> None:
    assert not is_digest_question(question)


def article(i: int, days_ago: int) -> dict[str, Any]:
    return {"url": f"https://example.org/{i}", "source": f"Outlet {i}", "title": f"Story number {i}",
            "published": (TODAY - dt.timedelta(days=days_ago)).isoformat(),
            "text": f"Lead sentence of story {i} says what happened. "
                    + " ".join(f"Detail {i * 100 + k} of story {i} about topic {i}-{k}." for k in range(20))}


@pytest.fixture
def desk(make_desk: Any, tmp_path: Path) -> NewsDesk:
    data = tmp_path / "news.jsonl"
    # two stories today, one yesterday, six from two months ago, one undated
    rows = [article(1, 0), article(2, 0), article(3, 1)] + [article(10 + i, 60 + i) for i in range(6)]
    rows.append({**article(99, 0), "published": ""})
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    desk = make_desk()
    assert desk.ingest([data]).new == len(rows)
    return desk


def final(desk: NewsDesk, question: str, **kw: Any) -> Answer:
    *_, answer = desk.stream(question, **{"as_of": TODAY, **kw})
    assert isinstance(answer, Answer)
    return answer


def test_whats_new_today_lists_todays_stories_newest_first_each_cited(desk: NewsDesk) -> None:
    stages: list[Stage] = []
    answer = final(desk, "What's new today?", on_stage=stages.append)
    assert not answer.abstained
    assert [c.title for c in answer.citations] == ["Story number 1", "Story number 2"]  # today only, not undated
    assert answer.text.startswith("- Story number 1: Lead sentence of story 1 says what happened. [1]\n- Story number 2")
    assert stages == [Stage("reading", DIGEST_STORIES)]


def test_this_week_reaches_back_to_yesterday(desk: NewsDesk) -> None:
    answer = final(desk, "What were the biggest stories this week?")
    assert {c.title for c in answer.citations} == {"Story number 1", "Story number 2", "Story number 3"}


def test_with_nothing_from_then_it_lists_the_newest_it_has_and_says_how_old(desk: NewsDesk) -> None:
    answer = final(desk, "What's new today?", as_of=TODAY + dt.timedelta(days=40))  # today's stories are 40 days old
    assert answer.text.startswith("The newest I have on this is from November 2026: \n- Story number 1")
    assert len(answer.citations) == DIGEST_STORIES


def test_a_question_about_something_is_not_a_digest(desk: NewsDesk) -> None:
    stages: list[Stage] = []
    final(desk, "What happened in story 12?", on_stage=stages.append)
    assert [s.name for s in stages][:2] == ["searching", "reading"]


def test_in_a_conversation_a_bare_question_refers_back_and_is_searched(desk: NewsDesk) -> None:
    from retrieval import Turn

    stages: list[Stage] = []
    final(desk, "What happened?", history=[Turn("user", "Tell me about story 12"), Turn("assistant", "Story 12 [1].")],
          on_stage=stages.append)
    assert stages[0].name == "searching"


def test_a_question_asking_for_recent_news_answered_from_old_news_says_how_old(make_desk: Any, tmp_path: Path) -> None:
    """"Recently", "new", "latest" name no date but ask about now: a two-month-old source is flagged."""
    data = tmp_path / "old.jsonl"
    data.write_text(json.dumps({
        "url": "https://example.org/funicular", "source": "Harbor Times", "title": "Lisbon reopens its funicular",
        "published": (TODAY - dt.timedelta(days=60)).isoformat(),
        "text": "Lisbon reopened the Gloria funicular railway on Monday after a year of repairs. "
                "The city council said the cars were rebuilt by a local firm. Tickets cost four euros.",
    }) + "\n", encoding="utf-8")
    desk = make_desk()
    desk.ingest([data])
    recent = final(desk, "Which city recently reopened the Gloria funicular railway after repairs?")
    assert recent.citations and recent.text.startswith("The newest I have on this is from September 2026: ")
    plain = final(desk, "Which city reopened the Gloria funicular railway after repairs?")
    assert plain.citations and not plain.text.startswith("The newest I have")
    fresh = final(desk, "Which city recently reopened the Gloria funicular railway after repairs?", as_of=TODAY - dt.timedelta(days=55))
    assert fresh.citations and not fresh.text.startswith("The newest I have")
