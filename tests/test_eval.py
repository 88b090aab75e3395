"""`newsbot eval`: metric functions on hand-made cases, the CLI end to end, resume after a kill."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from retrieval import Settings
from retrieval.evaluation.harness import Evaluation, summarize
from retrieval.evaluation.metrics import (
    cited_numbers,
    contains,
    contains_loosely,
    exact_match,
    f1,
    first_hit,
    mrr_at,
    normalize_answer,
    percentile,
    recall_at,
    strip_citations,
)

from tests.conftest import ROOT


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The Cat's  hat!", "cats hat"),
        ("an apple, a pear and THE plum.", "apple pear and plum"),
        ("  Theatre  ", "theatre"),  # 'the' only as a whole word
        ("U.S.", "us"),
    ],
)
def test_normalize_answer_is_squads(text: str, expected: str) -> None:
    assert normalize_answer(text) == expected


def test_exact_match_and_f1() -> None:
    assert exact_match("The Eiffel Tower!", "eiffel tower") == 1.0
    assert exact_match("Eiffel", "Eiffel Tower") == 0.0
    assert f1("Eiffel", "Eiffel Tower") == pytest.approx(2 * 1.0 * 0.5 / 1.5)
    assert f1("the big red dog", "a red dog barked") == pytest.approx(2 * (2 / 3) * (2 / 3) / (4 / 3))
    assert f1("", "x") == 0.0 and f1("nothing shared", "else") == 0.0


def test_containment_and_citation_stripping() -> None:
    assert contains("Officials said: El Salvador's deal...", "el salvador")
    assert not contains("Salvador Dali", "El Salvador")
    assert strip_citations("“Six more weeks” [1] of winter [2].") == "Six more weeks of winter."
    assert cited_numbers("Six more weeks [1] of winter [2][1]. In 2026 [12].") == {1, 2, 12}
    assert cited_numbers("NOT FOUND") == set()


def test_loose_containment_forgives_curly_punctuation_only() -> None:
    """A gold answer with a curly apostrophe or quotes is the same answer written straight;
    SQuAD's `contains` never finds it, the loose figure does, and still nothing else."""
    answer = "Ben & Jerry's announced that its co-founder quit; the \"Harry Potter\" series starts."
    for gold in ("Ben & Jerry’s", "“Harry Potter”"):
        assert contains_loosely(answer, gold) and not contains(answer, gold)
    assert contains_loosely(answer, "ben and jerry") is False
    assert not contains_loosely("Salvador Dali", "El Salvador") and not contains_loosely("anything", "the")


def test_ranking_figures() -> None:
    ranks = [1, 3, None, 2]
    assert [recall_at(ranks, k) for k in (1, 2, 3, 10)] == [0.25, 0.5, 0.75, 0.75]
    assert mrr_at(ranks, 10) == pytest.approx((1 + 1 / 3 + 0 + 1 / 2) / 4)
    assert mrr_at(ranks, 2) == pytest.approx((1 + 0.5) / 4)
    assert first_hit([False, False, True]) == 3 and first_hit([False]) is None
    assert percentile([5, 1, 3, 2, 4], 50) == 3 and percentile([1, 2, 3, 4], 95) == 4 and percentile([], 50) == 0.0


def test_summary_leaves_short_answers_out_of_recall() -> None:
    rows = [
        {"scorable": True, "rank": 1, "web_rank": 2, "chunk_rank": None, "search_seconds": 0.1},
        {"scorable": True, "rank": None, "web_rank": 1, "chunk_rank": 4, "search_seconds": 0.3},
        {"scorable": False, "rank": None, "web_rank": None, "chunk_rank": None, "search_seconds": 0.2},
    ]
    report = summarize(rows, "retrieval")
    assert (report.questions, report.scored, report.short_answers) == (3, 2, 1)
    assert report.figures["newsbot"]["recall@1"] == 0.5 and report.figures["web"]["recall@1"] == 0.5
    assert report.figures["web"]["recall@3"] == 1.0 and report.figures["newsbot_chunks"]["recall@5"] == 0.5
    assert report.latency["search"] == {"p50": 0.2, "p95": 0.3}


ARTICLES = [
    ("https://news.example/pie", "Town bakes giant pie", "2025/03/01",
     "Bakers in Millbrook made a pie four metres wide for the spring fair. The filling was rhubarb."),
    ("https://news.example/bridge", "Bridge reopens after repairs", "2025/02/20",
     "The old iron bridge over the Wessel river reopened on Monday after two years of repairs."),
    ("https://news.example/choir", "Choir wins national prize", "2025/03/02",
     "The Millbrook youth choir won the national prize with a song about the sea."),
    ("https://news.example/weather", "Cold week ahead", "2025/03/03",
     "Forecasters expect frost every night this week across the north of the country."),
]
QUESTIONS = [
    {"question_id": "q1", "question_date": "2025/03/04", "question": "What filling did Millbrook's giant pie have?",
     "choices": ["Apple", "Rhubarb", "Cherry", "Plum"], "answer_idx": 1, "answer_text": "Rhubarb",
     "gcs_ranked_urls": ["https://news.example/choir", "https://news.example/pie"],
     "urls_containing_answer_string": ["https://news.example/pie"]},
    {"question_id": "q2", "question_date": "2025-03-04", "question": "Which river does the reopened iron bridge cross?",
     "choices": ["Wessel", "Thames", "Rhine", "Po"], "answer_idx": 0, "answer_text": "Wessel",
     "gcs_ranked_urls": ["https://news.example/bridge"], "urls_containing_answer_string": ["https://news.example/bridge"]},
    {"question_id": "q3", "question_date": "2025/03/04", "question": "What did the choir sing about?",
     "choices": ["The sea", "Love", "War", "Home"], "answer_idx": 0, "answer_text": "sea",
     "gcs_ranked_urls": ["https://news.example/choir"], "urls_containing_answer_string": ["https://news.example/choir"]},
    {"question_id": "q4", "question_date": "2025/03/04", "question": "Who won the election?", "choices": ["A", "B", "C", "D"],
     "answer_idx": 0, "answer_text": "A", "gcs_ranked_urls": [], "urls_containing_answer_string": []},
]


@pytest.fixture
def dataset(tmp_path: Path) -> tuple[Path, Path]:
    articles = tmp_path / "articles.jsonl"
    articles.write_text("".join(
        json.dumps({"url": u, "source": "news.example", "title": t, "authors": [], "published": d, "text": x}) + "\n"
        for u, t, d, x in ARTICLES
    ))
    questions = tmp_path / "questions.jsonl"
    questions.write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS))
    return articles, questions


def test_eval_cli_end_to_end(dataset: tuple[Path, Path], tmp_path: Path) -> None:
    articles, questions = dataset
    out = tmp_path / "out"
    env = dict(os.environ, NEWSBOT_HOME=str(tmp_path / "home"))
    cmd = [sys.executable, "-m", "bot.cli", "eval", "--articles", str(articles), "--questions", str(questions), "--out", str(out)]
    run = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "| newsbot (articles) |" in run.stdout and "| web search (gcs_ranked_urls) |" in run.stdout
    report = json.loads((out / "report-retrieval.json").read_text())
    assert (report["questions"], report["scored"], report["short_answers"], report["unanswerable"]) == (3, 3, 0, 1)
    assert report["figures"]["web"]["recall@1"] == pytest.approx(2 / 3)  # q1's web ranking puts the pie second
    assert report["figures"]["web"]["mrr@10"] == pytest.approx((0.5 + 1 + 1) / 3)
    assert report["figures"]["newsbot"]["recall@3"] == 1.0  # four articles: the right one is near the top
    assert (out / "recall-retrieval.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "report-retrieval.md").read_text().startswith("Questions: 3")

    again = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert "index: reused" in again.stderr  # the articles file did not change


def test_a_killed_run_resumes_where_it_stopped(dataset: tuple[Path, Path], tmp_path: Path, real_embedder) -> None:  # type: ignore[no-untyped-def]
    articles, questions = dataset
    out = tmp_path / "out"
    settings = Settings(home=tmp_path / "home")

    def make() -> Evaluation:
        evaluation = Evaluation(settings, articles, questions, out)
        evaluation.desk.embedder = real_embedder  # share the loaded model between the two runs
        evaluation.desk.store.embedder = real_embedder
        return evaluation

    first = make()
    first.ensure_index()

    def die_after_two(done: int, total: int) -> None:
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        first.run(progress=die_after_two)
    results = out / "results-retrieval.jsonl"
    kept = [json.loads(line) for line in results.read_text().splitlines()]
    assert [r["id"] for r in kept] == ["q1", "q2"]
    with results.open("a") as f:
        f.write('{"id": "q3", "fingerp')  # the kill cut a line short

    seen: list[int] = []
    report = make().run(progress=lambda done, total: seen.append(done))
    rows = [json.loads(line) for line in results.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["q1", "q2", "q3"]
    assert rows[:2] == kept  # not recomputed
    assert report.questions == 3 and seen[-1] == 3
