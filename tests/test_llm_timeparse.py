"""Time expressions against a fixed as_of: Wednesday 5 January 2022."""

from __future__ import annotations

import datetime as dt

import pytest

from retrieval.search.timeparse import parse_window

AS_OF = dt.date(2022, 1, 5)  # a Wednesday
D = dt.date


@pytest.mark.parametrize(
    ("question", "window"),
    [
        ("What happened today?", (D(2022, 1, 5), D(2022, 1, 5))),
        ("What did the Fed say yesterday?", (D(2022, 1, 4), D(2022, 1, 4))),
        ("What did Biden say this week?", (D(2022, 1, 3), D(2022, 1, 5))),
        ("What happened in Ukraine last week?", (D(2021, 12, 27), D(2022, 1, 2))),
        ("How high was inflation last month?", (D(2021, 12, 1), D(2021, 12, 31))),
        ("What did Modi and Putin discuss in December 2021?", (D(2021, 12, 1), D(2021, 12, 31))),
        ("Any news in May?", (D(2021, 5, 1), D(2021, 5, 31))),
        ("What has happened since Monday?", (D(2022, 1, 3), D(2022, 1, 5))),
        ("What changed since Wednesday?", (D(2021, 12, 29), D(2022, 1, 5))),  # asked on a Wednesday
        ("What happened since December 20, 2021?", (D(2021, 12, 20), D(2022, 1, 5))),
        ("Who spoke on December 20, 2021?", (D(2021, 12, 20), D(2021, 12, 20))),
        ("What happened on 20 Dec 2021?", (D(2021, 12, 20), D(2021, 12, 20))),
        ("What happened in the past 3 days?", (D(2022, 1, 2), D(2022, 1, 5))),
        ("What happened last Monday?", (D(2022, 1, 3), D(2022, 1, 3))),
        ("Who won elections in 2021?", (D(2021, 1, 1), D(2021, 12, 31))),
        ("What did Modi and Putin discuss?", None),
        ("Who won the 2022 FIFA World Cup final?", None),
        ("May I ask about the march on Washington?", None),
    ],
)
def test_window(question: str, window: tuple[dt.date, dt.date] | None) -> None:
    assert parse_window(question, AS_OF) == window
