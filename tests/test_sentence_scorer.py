"""The learned answer-sentence scorer: choosing sentences under the prompt's budget, its features,
the shipped LightGBM model (loaded for real, checked against its manifest), the confidence gate,
the training script end to end on a tiny slice, and the absent-answer questions it learns to
abstain on. Real MiniLM, real Chroma, real LightGBM throughout."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from retrieval import NewsDesk, Settings
from retrieval.answer import sentences
from retrieval.answer.passages import choose, select_passages
from retrieval.answer.sentences import FEATURES, QUESTION_TYPES, SentenceScorer, default_scorer, question_type
from retrieval.errors import BackendError
from retrieval.evaluation.absent import absent_answer_ids
from retrieval.evaluation.metrics import normalize_loosely
from retrieval.evaluation.harness import summarize
from retrieval.evaluation.questions import Question
from retrieval.types import ArticleHit, Passage

from tests.conftest import ROOT

RIGHT = "Sixteen people died when the Gloria funicular derailed in Lisbon on Wednesday."
QUESTION = "How many people died in the Lisbon tram crash?"
AS_OF = dt.date(2025, 9, 5)


def hit(article_id: str, score: float, published: dt.date | None, *texts: str, dense: float = 0.5) -> ArticleHit:
    passages = [Passage(f"{article_id}:{i}", t, i, score, dense) for i, t in enumerate(texts)]
    return ArticleHit(article_id, f"Article {article_id}", "news.example", f"https://news.example/{article_id}", published, score, passages)


def lisbon_hits() -> list[ArticleHit]:
    """The right sentence sits second, in the second article; the rest is on topic with no answer."""
    return [
        hit("mourning", 0.050, dt.date(2025, 9, 4),
            "Lisbon declared a period of national mourning after the tram crash. "
            "Flags flew at half mast across the Portuguese capital. "
            "Residents left flowers at the foot of the steep hill on Thursday.", dense=0.62),
        hit("gloria", 0.045, dt.date(2025, 9, 3),
            "The Gloria funicular is one of the best known tourist attractions in Lisbon. "
            f"{RIGHT} "
            "Investigators are examining the cable that links the two cars.", dense=0.58),
        hit("tourism", 0.030, dt.date(2025, 8, 1),
            "Tourists flock to the trams and funiculars of Lisbon every summer. "
            "The historic tram network of the city dates back more than a century.", dense=0.41),
    ]


# --- choose: pure ------------------------------------------------------------------------------


def test_choose_puts_the_best_sentence_first_and_reads_each_article_in_order() -> None:
    items = [
        ("a", (0, 0), "A opens the story."),
        ("a", (1, 2), "A closes the story."),
        ("b", (0, 0), "B holds the answer."),
        ("c", (0, 0), "C is barely related."),
    ]
    picked = choose(items, [0.3, 0.6, 0.9, 0.1], relative=0.0)
    assert picked == [("b", ["B holds the answer."]), ("a", ["A opens the story.", "A closes the story."]), ("c", ["C is barely related."])]
    assert [a for a, _ in choose(items, [0.3, 0.6, 0.9, 0.1], max_articles=2, relative=0.0)] == ["b", "a"]


def test_choose_leaves_out_an_article_far_less_likely_to_answer_than_the_best() -> None:
    """A distractor the scorer rates under half the best sentence is not shown, and the article
    kept gets its characters; when nothing stands out, every article is still shown."""
    items = [
        ("tesla", (0, 0), "Regulators opened a probe into Tesla's self-driving software."),
        ("tesla", (0, 1), "Tesla did not respond."),
        ("bmw", (0, 0), "German automaker BMW plans a self-driving car."),
    ]
    assert choose(items, [0.6, 0.2, 0.25]) == [("tesla", [t for _, _, t in items[:2]])]
    assert [a for a, _ in choose(items, [0.3, 0.1, 0.2])] == ["tesla", "bmw"]
    assert [a for a, _ in choose(items, [0.6, 0.2, 0.25], relative=0.0)] == ["tesla", "bmw"]


def test_choose_keeps_to_the_budget_skips_duplicates_and_cuts_an_overlong_sentence() -> None:
    items = [
        ("a", (0, 0), "x" * 30),
        ("a", (0, 1), "y" * 30),
        ("b", (0, 0), "x" * 30),  # the same sentence syndicated in another article
        ("b", (0, 1), "z" * 10),
    ]
    picked = choose(items, [0.9, 0.8, 0.85, 0.1], budget=50)
    assert picked == [("a", ["x" * 30]), ("b", ["z" * 10])]  # y would overflow; b's copy of x is skipped
    assert sum(len(t) for _, texts in picked for t in texts) <= 50

    long = " ".join(["word"] * 40)  # 199 characters
    ((_, (cut,)),) = choose([("a", (0, 0), long)], [1.0], budget=60)
    assert cut.endswith(" …") and len(cut) <= 60 + 2 and long.startswith(cut[:-2])
    assert choose([], []) == []


# --- features ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("How many people died in the Lisbon tram crash?", "how many"),
        ("Who won the election?", "who"),
        ("Why did the bridge close?", "why"),
        ("How did the choir win?", "how"),
        ("In which city, and when, did it happen?", "which"),  # the first question word counts
        ("Tell me about the pie.", None),
    ],
)
def test_question_type(question: str, kind: str | None) -> None:
    assert question_type(question) == (QUESTION_TYPES.index(kind) if kind else len(QUESTION_TYPES))


def test_features_have_one_column_per_feature_in_order(real_embedder) -> None:  # type: ignore[no-untyped-def]
    hits = lisbon_hits()
    hits.append(hit("late", 0.01, dt.date(2025, 9, 9), "A report published on 9 September counted 16 victims in all."))
    hits.append(hit("undated", 0.01, None, "The funicular cars were built by a local firm long ago."))
    cands = sentences.candidates(hits, articles=5)
    rows = sentences.features(QUESTION, cands, real_embedder, AS_OF)
    assert rows.shape == (len(cands), len(FEATURES)) and len(cands) == 10
    col = {name: rows[:, FEATURES.index(name)] for name in FEATURES}
    by_text = {c.text: i for i, c in enumerate(cands)}
    right, flags, late = by_text[RIGHT], by_text["Flags flew at half mast across the Portuguese capital."], by_text[cands[-2].text]

    assert col["has_number"][late] == 1.0 and col["has_number"][right] == 0.0  # digits, not number words
    assert col["new_names"][right] == 2  # Gloria, Wednesday; not Lisbon (asked) nor Sixteen (opens the sentence)
    assert col["new_names"][flags] == 1  # Portuguese; "Flags" opens the sentence
    assert col["new_names"][by_text["The historic tram network of the city dates back more than a century."]] == 0
    assert col["article_rank"][right] == 1 and col["sentence_index"][right] == 1 and col["chunk_rank"][right] == 0
    assert col["days_before"][right] == 2 and col["after_as_of"][right] == 0
    assert col["days_before"][late] == 0 and col["after_as_of"][late] == 1  # published after the question
    assert np.isnan(col["days_before"][-1]) and np.isnan(col["after_as_of"][-1])  # undated
    assert col["cosine_gap"].max() == 0 and col["cosine_rank"][np.argmax(col["cosine"])] == 0
    assert set(col["question_type"]) == {QUESTION_TYPES.index("how many")}
    assert col["article_score"].max() == 1.0
    assert col["kind_gap"].max() == 0 and (col["kind_match"] >= 0).all()  # "how many": a number is asked for
    assert col["kind_match"][right] > col["kind_match"][by_text["The historic tram network of the city dates back more than a century."]]
    assert sentences.features(QUESTION, [], real_embedder, AS_OF).shape == (0, len(FEATURES))
    assert np.isnan(sentences.features(QUESTION, cands[:1], real_embedder, None)[0, FEATURES.index("days_before")])


# --- the shipped model -------------------------------------------------------------------------


def test_the_shipped_scorer_loads_is_deterministic_and_finds_the_number_of_dead(real_embedder) -> None:  # type: ignore[no-untyped-def]
    scorer = SentenceScorer.load()
    assert scorer.manifest["features"] == list(FEATURES)
    cands = sentences.candidates(lisbon_hits())
    rows = sentences.features(QUESTION, cands, real_embedder, AS_OF)
    first = scorer.score(rows)
    assert np.array_equal(first, scorer.score(rows))
    assert np.array_equal(first, SentenceScorer.load().score(rows))  # a second load scores the same
    assert ((first >= 0) & (first <= 1)).all() and scorer.score(np.zeros((0, len(FEATURES)))).shape == (0,)

    assert cands[int(np.argmax(first))].text == RIGHT  # the sentence that says how many died, not the topical ones

    selection = select_passages(QUESTION, lisbon_hits(), real_embedder, AS_OF, scorer=default_scorer())
    assert RIGHT in selection.passages[0].text
    assert selection.passages[0].hit.article_id == "gloria" and selection.passages[0].n == 1
    assert isinstance(selection.confidence, float) and 0.0 <= selection.confidence <= 1.0
    assert selection.confidence == pytest.approx(float(first.max()))
    assert default_scorer() is default_scorer()  # loaded once per process


def test_no_scorer_means_cosine_and_no_confidence(real_embedder) -> None:  # type: ignore[no-untyped-def]
    selection = select_passages(QUESTION, lisbon_hits(), real_embedder, AS_OF, scorer=None)
    assert selection.confidence is None and selection.passages and selection.passages[0].n == 1


@pytest.fixture
def model_copy(tmp_path: Path) -> tuple[Path, Path]:
    model, manifest = tmp_path / "scorer.txt", tmp_path / "scorer.json"
    shutil.copyfile(sentences.MODEL_FILE, model)
    shutil.copyfile(sentences.MANIFEST_FILE, manifest)
    return model, manifest


def test_a_damaged_model_file_is_refused_by_name(model_copy: tuple[Path, Path]) -> None:
    model, manifest = model_copy
    assert SentenceScorer.load(model, manifest).manifest["sha256"]
    raw = bytearray(model.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    model.write_bytes(bytes(raw))
    with pytest.raises(BackendError, match="does not match") as e:
        SentenceScorer.load(model, manifest)
    assert str(model) in str(e.value) and "train_sentence_scorer.py" in str(e.value)


def test_a_manifest_of_other_features_an_unparsable_one_or_a_missing_file_are_refused(model_copy: tuple[Path, Path]) -> None:
    model, manifest = model_copy
    meta = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({**meta, "features": [*FEATURES[:-1], "something_else"]}))
    with pytest.raises(BackendError, match="other features"):
        SentenceScorer.load(model, manifest)
    manifest.write_text("{ not json")
    with pytest.raises(BackendError, match="cannot be read"):
        SentenceScorer.load(model, manifest)
    with pytest.raises(BackendError, match=re.escape(str(model.with_name("gone.txt")))):
        SentenceScorer.load(model.with_name("gone.txt"), manifest)

    import hashlib

    garbage = b"tree\nnot a LightGBM model at all\n"  # matches its manifest, but LightGBM cannot read it
    model.write_bytes(garbage)
    manifest.write_text(json.dumps({**meta, "sha256": hashlib.sha256(garbage).hexdigest()}))
    with pytest.raises(BackendError, match="cannot be loaded"):
        SentenceScorer.load(model, manifest)


SEED_QUESTION = "What did Modi and Putin discuss?"
SEED_DATE = dt.date(2021, 12, 20)


def test_the_desk_falls_back_to_cosine_when_the_scorer_is_damaged(
    corpus_desk: NewsDesk, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    model, manifest = tmp_path / "sentence_scorer.txt", tmp_path / "sentence_scorer.json"
    model.write_text("tree\nversion=v4\n")  # cut short: its sha256 is not the manifest's
    manifest.write_text(json.dumps({"sha256": "0" * 64, "features": list(FEATURES)}))
    monkeypatch.setattr(sentences, "MODEL_FILE", model)
    monkeypatch.setattr(sentences, "default_scorer", lambda: SentenceScorer.load(model, manifest))
    with caplog.at_level(logging.WARNING, logger="retrieval.desk"):
        assert corpus_desk.sentence_scorer() is None
        assert corpus_desk.sentence_scorer() is None  # tried once, warned once
    assert caplog.text.count("does not match") == 1 and str(model) in caplog.text and "cosine" in caplog.text

    answer = corpus_desk.answer(SEED_QUESTION, as_of=dt.date(2021, 12, 21))
    assert not answer.abstained and answer.citations
    assert [c.published for c in answer.citations] == [SEED_DATE]


def test_a_desk_without_a_built_scorer_uses_cosine_quietly(
    make_desk, real_embedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture  # type: ignore[no-untyped-def]
) -> None:
    monkeypatch.setattr(sentences, "MODEL_FILE", tmp_path / "never-built.txt")
    with caplog.at_level(logging.WARNING):
        assert make_desk(real_embedder).sentence_scorer() is None
    assert not caplog.records


def test_the_desk_answers_with_the_scorer_and_its_confidence_gate(corpus_home: Path, tmp_path: Path, real_embedder) -> None:  # type: ignore[no-untyped-def]
    home = tmp_path / "corpus-copy"
    shutil.copytree(corpus_home, home)
    desk = NewsDesk(Settings(home=home, llm="extractive"), real_embedder)
    assert isinstance(desk.sentence_scorer(), SentenceScorer)
    answer = desk.answer(SEED_QUESTION, as_of=dt.date(2021, 12, 21))
    assert not answer.abstained and [c.published for c in answer.citations] == [SEED_DATE]
    seed = (ROOT / "corpus" / "000_ff46239a7c5f29a8.txt").read_text()
    assert all(part in seed for part in answer.citations[0].quote.split(" … "))

    strict = NewsDesk(Settings(home=home, llm="extractive", min_confidence=1.0), real_embedder)
    refused = strict.answer("Which missile system did Modi and Putin discuss?", as_of=dt.date(2021, 12, 21))
    assert refused.abstained and not refused.citations
    # "what did they discuss" wants several points, so it is gated only when its best sentence is
    # very unlikely (SUMMARY_CONFIDENCE): the scorer learned from answers one sentence holds
    assert not strict.answer(SEED_QUESTION, as_of=dt.date(2021, 12, 21)).abstained
    assert NewsDesk(Settings(home=home, sentence_scorer=False), real_embedder).sentence_scorer() is None


def test_settings_read_the_scorer_switch_and_the_confidence_floor(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings.from_env().sentence_scorer is True
    monkeypatch.setenv("NEWSBOT_SENTENCE_SCORER", "0")
    monkeypatch.setenv("NEWSBOT_MIN_CONFIDENCE", "0.2")
    s = Settings.from_env()
    assert s.sentence_scorer is False and s.min_confidence == 0.2


# --- training end to end -----------------------------------------------------------------------

TRAIN_ARTICLES = [
    ("https://news.example/gloria", "Gloria funicular derails in Lisbon", "2025/09/04",
     "Sixteen people died when the Gloria funicular derailed in Lisbon on Wednesday. "
     "The yellow carriage left its track on a steep hill near Restauradores square. "
     "Emergency crews worked through the night to free trapped passengers. "
     "The city declared three days of mourning. "
     "Investigators are examining a cable that may have snapped. "
     "The funicular has carried visitors up the hill since 1885."),
    ("https://news.example/pie", "Town bakes giant pie", "2025/03/01",
     "Bakers in Millbrook made a pie four metres wide for the spring fair. "
     "The filling was rhubarb grown on farms around the town. "
     "It took eleven bakers two days to prepare the crust. "
     "The pie was baked in a brick oven built for the occasion. "
     "Visitors queued for an hour to taste a slice. "
     "The organisers plan an even larger pie next year."),
    ("https://news.example/bridge", "Bridge reopens after repairs", "2025/02/20",
     "The old iron bridge over the Wessel river reopened on Monday after two years of repairs. "
     "Engineers replaced every rivet of the central span. "
     "The repairs cost the county more than it had planned. "
     "Cyclists were the first to cross the bridge at dawn. "
     "Traffic on the ring road is expected to ease as a result. "
     "A small ceremony marked the reopening."),
    ("https://news.example/choir", "Choir wins national prize", "2025/03/02",
     "The Millbrook youth choir won the national prize with a song about the sea. "
     "The choir is led by the conductor Maria Okafor. "
     "Forty singers between twelve and eighteen years old took part. "
     "The judges praised the harmony of the final chorus. "
     "The choir will perform at the capital's concert hall in May. "
     "Parents raised the money for the trip with bake sales."),
    ("https://news.example/election", "Dunmore elects a new mayor", "2025/03/03",
     "Peter Hale won the mayoral election in Dunmore by a narrow margin. "
     "Turnout was higher than at any election in the past decade. "
     "The new mayor promised to repair the roads of the old town. "
     "His rival conceded defeat late on Sunday evening. "
     "The council will meet for the first time next week. "
     "Local businesses welcomed the result."),
]


def _question(qid: str, question: str, answer: str, url: str | None) -> dict[str, object]:
    return {
        "question_id": qid, "question_date": "2025/09/05", "question": question,
        "choices": [answer, "Other", "Neither", "Both"], "answer_idx": 0, "answer_text": answer,
        "gcs_ranked_urls": [url] if url else [], "urls_containing_answer_string": [url] if url else [],
    }


TRAIN_QUESTIONS = [
    _question("g1", "How many people died when the Gloria funicular derailed?", "Sixteen", "https://news.example/gloria"),
    _question("g2", "Since what year has the Gloria funicular carried visitors?", "1885", "https://news.example/gloria"),
    _question("p1", "What filling did Millbrook's giant pie have?", "rhubarb", "https://news.example/pie"),
    _question("b1", "Which river does the reopened iron bridge cross?", "Wessel", "https://news.example/bridge"),
    _question("c1", "Who leads the Millbrook youth choir?", "Maria Okafor", "https://news.example/choir"),
    _question("e1", "Who won the mayoral election in Dunmore?", "Peter Hale", "https://news.example/election"),
    _question("x1", "Who won the chess olympiad in Lisbon?", "Zanzibar Knights", None),
    _question("x2", "What did the Dunmore council ban at its first meeting?", "leaf blowers", None),
]


def test_the_training_script_rebuilds_a_loadable_model(tmp_path: Path) -> None:
    """Ingest and training both run as commands, as a maintainer runs them. (Ingesting in this
    process instead keeps its Chroma client open on the home, which doubled the script's time.)"""
    articles, questions = tmp_path / "articles.jsonl", tmp_path / "questions.jsonl"
    articles.write_text("".join(
        json.dumps({"url": u, "source": "news.example", "title": t, "authors": [], "published": d, "text": x}) + "\n"
        for u, t, d, x in TRAIN_ARTICLES
    ))
    questions.write_text("".join(json.dumps(q) + "\n" for q in TRAIN_QUESTIONS))
    home, model_dir, out = tmp_path / "home", tmp_path / "models", tmp_path / "out"
    env = dict(os.environ, HF_HUB_OFFLINE="1", NEWSBOT_HOME=str(home))
    ingest = subprocess.run([sys.executable, "-m", "bot.cli", "ingest", str(articles)], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert ingest.returncode == 0 and f"{len(TRAIN_ARTICLES)} new" in ingest.stdout, ingest.stderr[-3000:]

    cmd = [sys.executable, str(ROOT / "benchmarks" / "train_sentence_scorer.py"), "--home", str(home),
           "--articles", str(articles), "--questions", str(questions), "--model-dir", str(model_dir), "--out", str(out)]
    run = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]

    manifest = json.loads((model_dir / "sentence_scorer.json").read_text())
    assert manifest["features"] == list(FEATURES) and len(manifest["sha256"]) == 64
    figures = manifest["cross_validated"]
    assert figures["questions_absent"] == 2 and figures["questions_answerable"] == 6
    assert figures["positives"] >= 5 and figures["sentences"] > figures["positives"]
    assert json.loads(run.stdout)["questions_absent"] == 2  # the figures are printed too
    scorer = SentenceScorer.load(model_dir / "sentence_scorer.txt", model_dir / "sentence_scorer.json")
    assert scorer.score(np.zeros((2, len(FEATURES)))).shape == (2,)
    cache = list(out.glob("sentence-data-*.pkl"))
    assert cache  # features cached for a quick re-train

    cross = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "cross_encoder.py"), str(cache[0]),
                            "--questions", str(questions), "--epochs", "1"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert cross.returncode == 0, cross.stderr[-3000:]
    cross_figures = json.loads(cross.stdout)
    assert cross_figures["sentences"] == figures["sentences"] and (out / cross_figures["oof"]).exists()
    for name in ("scorer", "scorer_with_cross_encoder"):
        assert 0.0 <= cross_figures[name]["p_at_1"] <= cross_figures[name]["mrr"] <= 1.0
    assert cross_figures["score_one_question"]["p50_ms"] > 0

    # sentence_context.py: context columns and other settings, cross-validated from the same cache
    context = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "sentence_context.py"), str(cache[0]),
                              "--questions", str(questions)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert context.returncode == 0, context.stderr[-3000:]
    table = [line for line in context.stdout.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(table) == 1 + 1 + 5 + 7 and table[1].startswith("| shipped features and settings | ")
    assert all(0.0 <= float(cell) <= 1.0 for row in table[1:] for cell in row.strip("| ").split(" | ")[1:])

    rerank = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "rerank_articles.py"), str(cache[0]),
                             "--articles", str(articles), "--cross", str(out / cross_figures["oof"])], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert rerank.returncode == 0, rerank.stderr[-3000:]
    recall = json.loads(rerank.stdout)
    assert set(recall) == {"questions", "fused search", "best sentence P", "lambdarank"}
    assert all(0.0 <= r <= 1.0 for name, pair in recall.items() if name != "questions" for r in pair)

    # reader_errors.py re-traces the passages behind answers as `newsbot eval --mode answer` scored them
    scored = {"g1": ("Sixteen people died [1].", True, False), "p1": ("The filling was apple [1].", False, False),
              "b1": ("", False, True), "x1": ("The Knights [1].", False, False)}
    results = tmp_path / "results-answer.jsonl"
    results.write_text("".join(
        json.dumps({"id": qid, "absent": qid.startswith("x"), "answer": a, "contains": c, "abstained": ab}) + "\n"
        for qid, (a, c, ab) in scored.items()
    ))
    errors = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "reader_errors.py"), "--home", str(home),
                             "--articles", str(articles), "--questions", str(questions), "--results", str(results),
                             "--out", str(tmp_path / "reader-errors.jsonl")], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert errors.returncode == 0, errors.stderr[-3000:]
    where = json.loads(errors.stdout)
    assert where["questions"] == 3  # the absent-answer one is left out
    assert where["by_passages_shown"]["gold in [1]"]["right"] == 1  # "Sixteen", from the funicular article
    assert sum(n for shown in where["by_passages_shown"].values() for n in shown.values()) == 3
    first = where["by_first_article"]  # asked on 2025-09-05: the funicular story is a day old, the pie's months
    assert first["within 14 days"]["right"] == 1 and sum(n for group in first.values() for n in group.values()) == 3

    # sentence_embedding.py times a question's candidates in ingest's batches and in query-time ones
    timing = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "sentence_embedding.py"), "--home", str(home),
                             "--questions", str(questions), "--articles", str(articles), "--n", "2", "--rounds", "1"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert timing.returncode == 0, timing.stderr[-3000:]
    assert "2 questions" in timing.stdout and "embed_batch (64)" in timing.stdout and "embed_sentences (32)" in timing.stdout


def test_context_columns_read_a_sentences_neighbours_in_its_own_chunk_only() -> None:
    from benchmarks.sentence_context import CONTEXT, context

    texts = ["The council met on Monday night.", "It banned leaf blowers in the town.", "Residents cheered the vote.",
             "Another paper wrote about the council and its ban."]
    X = np.zeros((4, len(FEATURES)))
    X[:, FEATURES.index("cosine")] = [0.5, 0.4, 0.2, 0.6]
    X[:, FEATURES.index("overlap")] = [0.5, 0.5, 0.0, 1.0]
    group = {"texts": texts, "articles": ["a", "a", "a", "b"], "order": [(0, 0), (0, 1), (0, 2), (0, 0)], "X": X}
    rows = context(group, "What did the council ban?")
    col = {name: rows[:, CONTEXT.index(name)] for name in CONTEXT}
    assert rows.shape == (4, len(CONTEXT))
    assert col["prev_cosine"][1] == 0.5 and col["next_cosine"][1] == 0.2 and col["next_overlap"][0] == 0.5
    assert np.isnan(col["prev_cosine"][0]) and np.isnan(col["prev_cosine"][3]) and np.isnan(col["next_cosine"][3])
    # the question's words are what, did, council, ban: "council" comes from the sentence before
    assert col["window_overlap"][1] == 0.5 and col["window_overlap"][2] == 0.25 and col["window_overlap"][3] == 0.5
    assert list(col["article_cosine_gap"]) == pytest.approx([0.0, -0.1, -0.3, 0.0])
    assert col["overlap_rank"][3] == 0 and col["rare_overlap"][2] == 0.0
    assert context({**group, "texts": [], "articles": [], "order": [], "X": X[:0]}, "Who?").shape == (0, len(CONTEXT))


def test_the_reader_ceiling_shows_the_article_of_the_best_gold_sentence_alone() -> None:
    from benchmarks.reader_ceiling import oracle

    items = [("a", (0, 0), "BMW opened a plant in Munich."), ("b", (0, 0), "Regulators opened an inquiry."),
             ("b", (0, 1), "It covers Tesla's driver assistance."), ("c", (0, 0), "Tesla sold more cars."),
             ("b", (0, 2), "The agency gave no date.")]
    scores = [0.9, 0.6, 0.1, 0.3, 0.5]
    assert oracle(items, scores, [2, 3]) == [("c", ["Tesla sold more cars."])]  # "a" holds no gold, "b" a weaker one
    assert oracle(items, scores, [2]) == [  # the gold sentence, then its article's best, in reading order
        ("b", ["Regulators opened an inquiry.", "It covers Tesla's driver assistance.", "The agency gave no date."])]


# --- the questions whose answer is in no article -----------------------------------------------


def test_absent_answers_are_found_loosely(tmp_path: Path) -> None:
    articles = tmp_path / "articles.jsonl"
    articles.write_text(json.dumps({
        "url": "https://news.example/play", "title": "A premiere", "published": "2025/03/01",
        "text": "The theatre staged O'Brien's \"Last Stand\" to a full house on Friday.",
    }) + "\n")

    def q(qid: str, answer: str) -> Question:
        return Question(qid, None, "What was staged?", answer, (), ())

    questions = [
        q("curly", "O’Brien’s “Last Stand”"),  # curly apostrophes and quotes, straight ones in the article
        q("nowhere", "Zanzibar Knights"),
        q("short", "Xy"),  # under 3 characters once normalised: never called absent
        q("article", "The"),  # normalises to nothing
    ]
    assert absent_answer_ids(questions, articles) == {"nowhere"}
    assert normalize_loosely("O’Brien’s «Last Stand» — the end!") == "obriens last stand end"


def test_summary_reports_abstention_on_absent_answers_apart_from_recall() -> None:
    def row(rank: int | None, abstained: bool, absent: bool = False) -> dict[str, object]:
        return {
            "scorable": True, "rank": rank, "web_rank": None, "chunk_rank": None, "search_seconds": 0.1,
            "abstained": abstained, "contains": not abstained, "em": 0.0, "f1": 0.0, "gold_shown": True,
            "citations_valid": True, "cited_supports": True, "answer_seconds": 1.0, "first_token_seconds": 0.5,
            **({"absent": True} if absent else {}),
        }

    rows = [row(1, False), row(None, False), row(None, True, absent=True), row(None, False, absent=True), row(None, True, absent=True)]
    report = summarize(rows, "answer")
    assert report.questions == 2 and report.scored == 2
    assert report.figures["newsbot"]["recall@1"] == 0.5  # the absent rows count for nothing here
    assert report.figures["answers"]["abstention"] == 0.0
    assert report.figures["answers"]["contains_loose"] == report.figures["answers"]["contains"]  # rows without it
    assert report.figures["absent_answer"] == {"questions": 3, "abstention": pytest.approx(2 / 3)}
    assert "absent_answer" not in summarize(rows[:2], "answer").figures
