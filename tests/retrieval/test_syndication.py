"""Syndication detection on invented articles: a wire copy with another outlet's boilerplate and a
light edit is the same story, another report on the same event is not, and the stored forms
(signature string, band keys) are exact and the same in every process."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from datasketch.lsh import _optimal_param

from retrieval.index import syndication as syn
from tests.conftest import ROOT

WIRE = """MARLOW CREEK, Ore. (Wire) — Floodwaters from the swollen Tamsin River closed the only bridge
into Marlow Creek on Thursday, cutting off about 2,400 residents as crews raced to shore up a levee
that engineers said was leaking in at least three places.

County emergency manager Rosa Delgado said the Harlan Street bridge would stay shut until
inspectors could check its pilings, which could take until the weekend. "We are not going to send
a single car across that span until we know it will hold," Delgado told reporters at a fire
station that has become the town's command post.

The river crested at 19.6 feet early Thursday, more than four feet above flood stage, after three
days of heavy rain fell on snow in the hills above the valley. Forecasters expect it to fall slowly
through Friday, but another storm is due on Sunday.

Volunteers filled sandbags in the high school parking lot through the night. The Red Cross opened a
shelter in the gymnasium, where 85 people slept on cots on Wednesday. Officials urged residents of
the low-lying Millrace neighborhood to leave while roads to the north remained open.

The state transportation department said it would fly a drone over the bridge on Friday morning to
look for scour damage. A spokesman said a temporary ferry service was being considered if the
closure lasts more than a week.

Marlow Creek last flooded in 1996, when the same bridge was closed for a month and the town's paper
mill lost two weeks of production. The mill, now the largest employer in the county, said it had
moved equipment to its upper floors as a precaution and sent most workers home."""

COPY = (
    "The Valley Courier | Published 7:05 a.m. PT March 14 | Updated 9:40 a.m. PT\n"
    "Share this story on Facebook, X or by email.\n\n"
    + WIRE.replace("(Wire) — Floodwaters", "— Floodwaters")
    .replace("told reporters at a fire station", "told reporters Thursday at a fire station")
    .replace(" A spokesman said a temporary ferry service was being considered if the\n"
             "closure lasts more than a week.", "")
    .replace("largest employer", "biggest employer")
    + "\n\nContact the Courier newsroom at news@valleycourier.example. Subscribe for unlimited "
    "access to local news. Copyright The Wire. All rights reserved. This material may not be "
    "published, broadcast, rewritten or redistributed."
)

# The same flood, reported and written independently by another outlet.
OTHER = """Residents of Marlow Creek woke up on Thursday to find themselves on an island. The Tamsin
River, fed by days of rain and melting snow, had risen past its banks overnight, and county officials
closed the Harlan Street bridge, the town's only link to the highway, while they assess its safety.

"I've lived here forty years and I have never seen the water this close to the road," said Tom
Brannock, who runs a hardware store on Main Street and spent the morning handing out shovels. Across
town, teenagers and retirees worked side by side filling sandbags outside the high school.

Engineers are most worried about the levee protecting the Millrace neighborhood, where seepage was
found in several spots. Emergency officials have asked families there to evacuate voluntarily and
have set up cots in the school gym for anyone who needs a place to stay.

The flood brings back memories of 1996, when the bridge was closed for weeks and the paper mill
shut down. This time, mill managers said, they moved machinery upstairs early. More rain is in the
forecast for Sunday, and officials warned the worst may not be over."""

UNRELATED = " ".join(
    f"The orchestra rehearsed symphony number {i} in the new hall while the conductor, a patient man "
    f"from Lyon, asked the cellos to play the opening bars again and again until they were soft."
    for i in range(6)
)


def test_copy_with_other_boilerplate_and_a_light_edit_is_the_same_story() -> None:
    a, b = syn.signature(WIRE), syn.signature(COPY)
    assert syn.similarity(a, b) >= syn.THRESHOLD
    assert set(syn.band_keys(a)) & set(syn.band_keys(b))  # so a Chroma `$or` over lsh_i finds it


def test_another_report_of_the_same_event_is_not() -> None:
    a, b = syn.signature(WIRE), syn.signature(OTHER)
    assert syn.similarity(a, b) < syn.THRESHOLD / 2


def test_signature_string_round_trips_exactly() -> None:
    sig = syn.signature(WIRE)
    s = syn.encode(sig)
    assert isinstance(s, str) and len(s) == 684
    back = syn.decode(s)
    assert (back.hashvalues == sig.hashvalues).all()
    assert syn.similarity(back, sig) == 1.0
    assert syn.band_keys(back) == syn.band_keys(sig)
    with pytest.raises(ValueError):
        syn.decode(s[:100])


def test_band_keys_are_one_short_key_per_band_from_datasketchs_own_layout() -> None:
    keys = syn.band_keys(syn.signature(WIRE))
    assert len(keys) == syn.BANDS <= 32
    assert [k.split(":")[0] for k in keys] == [str(i) for i in range(syn.BANDS)]
    assert all(re.fullmatch(r"\d+:[0-9a-f]{16}", k) for k in keys)
    assert (syn.BANDS, syn.ROWS) == _optimal_param(syn.THRESHOLD, syn.NUM_PERM, *syn.LSH_WEIGHTS)
    assert syn.lsh_params() == (syn.BANDS, syn.ROWS)


def test_keys_are_the_same_in_another_process() -> None:
    code = (
        "import sys; from retrieval.index import syndication as s; "
        "print(' '.join(s.band_keys(s.signature(sys.stdin.read()))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], input=WIRE, capture_output=True, text=True, check=True,
        cwd=ROOT, env={"PYTHONHASHSEED": "12345", "PATH": ""},
    ).stdout.split()
    assert out == syn.band_keys(syn.signature(WIRE)) == syn.band_keys(syn.signature(WIRE))
    assert syn.SEED == 1


def test_short_texts_are_never_folded() -> None:
    brief = "Floodwaters closed the only bridge into Marlow Creek on Thursday, officials said."
    assert syn.shingles(brief) == set()
    assert syn.band_keys(syn.signature(brief)) == []
    assert syn.similarity(syn.signature(brief), syn.signature(brief)) == 0.0
    assert syn.clusters([brief, brief, WIRE]) == []


def test_clusters_groups_the_copies_and_nothing_else() -> None:
    texts = [OTHER, WIRE, UNRELATED, COPY, "too short", WIRE.replace("Thursday", "Friday")]
    assert syn.clusters(texts) == [[1, 3, 5]]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Don’t STOP — the Café's “opening” at 9:30!", ["dont", "stop", "the", "cafés", "opening", "at", "9", "30"]),
        ("ＦＵＬＬ-width and ﬁ ligature", ["full", "width", "and", "fi", "ligature"]),
        ("Zürich, Москва; 東京", ["zürich", "москва", "東京"]),
    ],
)
def test_words_are_normalised_across_scripts(text: str, expected: list[str]) -> None:
    assert syn.words(text) == expected
