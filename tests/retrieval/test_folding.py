"""Syndicated copies of a story are stored once, and its sources say who else ran it."""

from __future__ import annotations

from pathlib import Path

from bot.citation_text import source_line
from retrieval import Citation
from tests.retrieval.test_ingest import write_jsonl

WIRE = (
    "The harbour authority of Port Velmar said on Tuesday that it would close the northern quay for "
    "six weeks of repairs after inspectors found corrosion in the steel pilings that support the "
    "container cranes. Shipping companies were told to divert vessels to the southern terminal, where "
    "two extra berths will open at night to absorb the traffic. The authority's director, Mara Lindqvist, "
    "said the repairs would cost about 40 million euros and be paid from the port's reserve fund. Unions "
    "welcomed the decision but asked for guarantees that no dock workers would lose shifts during the "
    "closure. Freight forwarders warned that waiting times could rise by a day at the busiest weeks of "
    "the season. The quay was last renovated in 1998, and engineers had flagged the pilings in a report "
    "two years ago, according to documents seen by reporters."
)
COPY = (
    "Sign up for our morning briefing. " + WIRE.replace("said on Tuesday", "announced on Tuesday")
    + " Copyright 2025 The Velmar Courier. All rights reserved."
)
OTHER = (
    "The city council of Port Velmar approved a new cycling plan on Wednesday that adds forty kilometres "
    "of protected lanes over three years. Council members debated for five hours before the vote, which "
    "passed by eleven to four. Opponents argued that the lanes would remove parking spaces from the old "
    "town, while supporters pointed to a rise in commuting by bicycle since the ferry timetable changed. "
    "The plan also includes secure parking for bicycles at the ferry terminal and the central station, "
    "and a pilot of shared cargo bikes for small shops. The first lanes are due to open next spring."
)


def rec(n: int, source: str, text: str, title: str = "Port Velmar to close northern quay for repairs") -> dict:  # type: ignore[type-arg]
    return {"url": f"https://{source.lower().replace(' ', '')}.example/{n}", "source": source, "title": title,
            "published": "2025-03-04", "text": text}


def test_a_syndicated_copy_folds_into_the_story_with_its_outlet(make_desk, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    desk = make_desk()
    first = desk.ingest([write_jsonl(tmp_path / "a.jsonl", [rec(1, "Wire Service", WIRE), rec(2, "City Desk", OTHER, "Cycling plan")])])
    assert (first.new, first.folded) == (2, 0)
    second = desk.ingest([write_jsonl(tmp_path / "b.jsonl", [rec(3, "Velmar Courier", COPY)])])
    assert (second.new, second.folded) == (0, 1)

    hits = desk.search("northern quay repairs corrosion").articles
    assert [h.source for h in hits if "quay" in h.title] == ["Wire Service"]  # the story once
    assert hits[0].also == ("Velmar Courier",)
    cited = Citation.from_hit(1, hits[0], ["quote"])  # as the answer pipeline cites a hit
    assert cited.to_dict()["also"] == ["Velmar Courier"]
    assert source_line(cited).endswith("· also reported by Velmar Courier")

    again = desk.ingest([write_jsonl(tmp_path / "b.jsonl", [rec(3, "Velmar Courier", COPY)])])
    assert again.new == 0 and desk.search("northern quay").articles[0].also == ("Velmar Courier",)  # not twice


def test_copies_in_one_batch_and_from_another_desk_fold_too(make_desk, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    home = tmp_path / "shared-home"
    report = make_desk(home=home).ingest([write_jsonl(tmp_path / "a.jsonl", [rec(1, "Wire Service", WIRE), rec(3, "Velmar Courier", COPY)])])
    assert (report.new, report.folded) == (1, 1)
    later = make_desk(home=home).ingest([write_jsonl(tmp_path / "b.jsonl", [rec(4, "Harbour Daily", WIRE + " Updated with a quote.")])])
    assert later.folded == 1
    assert make_desk(home=home).search("northern quay").articles[0].also == ("Velmar Courier", "Harbour Daily")


def test_a_new_version_of_the_story_keeps_its_other_outlets(make_desk, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    desk = make_desk()
    desk.ingest([write_jsonl(tmp_path / "a.jsonl", [rec(1, "Wire Service", WIRE), rec(3, "Velmar Courier", COPY)])])
    corrected = WIRE + " Correction: the quay was last renovated in 1999, not 1998."
    report = desk.ingest([write_jsonl(tmp_path / "b.jsonl", [rec(1, "Wire Service", corrected)])])
    assert report.updated == 1
    hit = desk.search("northern quay correction").articles[0]
    assert hit.also == ("Velmar Courier",) and "Correction" in desk.article_text(hit.article_id)


def test_different_stories_and_short_texts_are_never_folded(make_desk, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    desk = make_desk()
    short = "Port Velmar closes the northern quay for repairs."
    report = desk.ingest([write_jsonl(tmp_path / "a.jsonl", [
        rec(1, "Wire Service", WIRE), rec(2, "City Desk", OTHER, "Cycling plan"),
        rec(5, "Brief A", short), rec(6, "Brief B", short + " More soon."),
    ])])
    assert (report.new, report.folded) == (4, 0)


def test_the_same_text_years_apart_is_not_folded(make_desk, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A recycled explainer republished for next year's event is that year's news, not a copy."""
    desk = make_desk()
    later = dict(rec(3, "Velmar Courier", COPY), published="2027-03-04")
    report = desk.ingest([write_jsonl(tmp_path / "a.jsonl", [rec(1, "Wire Service", WIRE), later])])
    assert (report.new, report.folded) == (2, 0)


def test_an_index_built_before_folding_is_folded_in_place(make_desk, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    desk = make_desk()
    records = [rec(1, "Wire Service", WIRE), rec(3, "Velmar Courier", COPY), rec(2, "City Desk", OTHER, "Cycling plan")]
    import retrieval.index.folding as folding  # folding bypassed, as an older newsbot stored them

    original = folding.Folder.split
    folding.Folder.split = lambda self, articles: (list(articles), [])  # type: ignore[method-assign]
    try:
        assert desk.ingest([write_jsonl(tmp_path / "a.jsonl", records)]).new == 3
    finally:
        folding.Folder.split = original  # type: ignore[method-assign]
    assert len({h.article_id for h in desk.search("northern quay", k=10).articles if "quay" in h.title}) == 2

    report = desk.fold()
    assert (report.folded, report.stories) == (1, 2)
    quay = [h for h in desk.search("northern quay", k=10).articles if "quay" in h.title]
    assert len(quay) == 1 and {quay[0].source, *quay[0].also} == {"Wire Service", "Velmar Courier"}
    assert desk.lexical().chunk_ids() == {c.id for c in desk.store.scan(include_text=False)}
    later = desk.ingest([write_jsonl(tmp_path / "b.jsonl", [rec(4, "Harbour Daily", WIRE)])])
    assert later.folded == 1  # the story now carries its band keys


def test_an_updated_version_days_later_replaces_the_story(make_desk, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """News goes stale: a copy published days after the story, with a new paragraph, is the
    version worth answering from, so it is stored and the old one becomes an "also"."""
    desk = make_desk()
    desk.ingest([write_jsonl(tmp_path / "a.jsonl", [rec(1, "Wire Service", WIRE), rec(3, "Velmar Courier", COPY)])])
    update = dict(rec(5, "Harbour Daily", WIRE + " On Friday the authority said the quay will reopen in May."), published="2025-03-07")
    report = desk.ingest([write_jsonl(tmp_path / "b.jsonl", [update])])
    assert (report.new, report.folded) == (1, 1)  # stored, and the old version folded into it
    quay = [h for h in desk.search("northern quay reopen", k=10).articles if "quay" in h.title]
    assert len(quay) == 1 and quay[0].source == "Harbour Daily"
    assert set(quay[0].also) == {"Wire Service", "Velmar Courier"}
    assert "reopen in May" in desk.article_text(quay[0].article_id)


def test_a_fuller_copy_of_the_same_day_replaces_a_shorter_one(make_desk, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    desk = make_desk()
    desk.ingest([write_jsonl(tmp_path / "a.jsonl", [rec(1, "Wire Service", WIRE)])])
    fuller = WIRE + " " + " ".join(f"Later on Tuesday, dock crew {i} reported the cranes were secured." for i in range(6))
    report = desk.ingest([write_jsonl(tmp_path / "b.jsonl", [rec(6, "Live Desk", fuller)])])
    assert (report.new, report.folded) == (1, 1)
    (quay,) = [h for h in desk.search("northern quay", k=10).articles if "quay" in h.title]
    assert quay.source == "Live Desk" and quay.also == ("Wire Service",)
