"""Does the answer-sentence scorer gain from context it does not see today, or from other training
settings? 5-fold cross-validated (split by question) beside the shipped features and settings.

    .venv/bin/python benchmarks/sentence_context.py benchmarks/out/sentence-data-<key>.pkl

The file is the feature cache benchmarks/train_sentence_scorer.py writes; the extra columns are
computed from it (the candidates' texts, order and cosines), so nothing is embedded again and a
run takes about two minutes. Context: each sentence's neighbours in its chunk (their cosine and
shared question words), the question words of the three together, the gap to the best cosine
of its own article, its rank by shared words, and shared words weighted by how rare each is
among the question's candidates. Settings: fewer or more rounds and leaves, larger leaves, and
ranking objectives (per question) instead of the binary one. Measured 2026-11-29: none helps
(benchmarks/README.md, thirteenth session).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import train_sentence_scorer as training  # noqa: E402
from benchmarks.dev_questions import DATA  # noqa: E402
from retrieval import checked_question  # noqa: E402
from retrieval.answer.sentences import FEATURES  # noqa: E402
from retrieval.evaluation.questions import read_questions  # noqa: E402
from retrieval.index.lexical import tokenize  # noqa: E402

CONTEXT = ("prev_cosine", "next_cosine", "prev_overlap", "next_overlap", "window_overlap",
           "article_cosine_gap", "overlap_rank", "rare_overlap")
CONTEXT_VARIANTS = {
    "neighbours": CONTEXT[:4],
    "window": ("window_overlap",),
    "within the question's candidates": ("article_cosine_gap", "overlap_rank"),
    "rare words": ("rare_overlap",),
    "all eight": CONTEXT,
}
SETTINGS_VARIANTS = {
    "150 rounds": ({}, 150),
    "600 rounds": ({}, 600),
    "7 leaves": ({"num_leaves": 7}, None),
    "31 leaves": ({"num_leaves": 31}, None),
    "200 rows per leaf at least": ({"min_data_in_leaf": 200}, None),
    "lambdarank": ({"objective": "lambdarank", "lambdarank_truncation_level": 10}, None),
    "rank_xendcg": ({"objective": "rank_xendcg"}, None),
}
SHOWN = ("auc", "gold_shown_learned", "gold_shown_learned_3x1080", "gold_shown_learned_3x1800",
         "abstain@0.05_answerable", "abstain@0.05_absent")


def context(group: dict, question: str) -> np.ndarray:  # type: ignore[type-arg]
    """One row of CONTEXT per candidate sentence of one question."""
    n = len(group["texts"])
    q_terms = set(tokenize([question])[0])
    terms = [set(t) for t in tokenize(group["texts"])] if n else []
    at = {(a, tuple(o)): i for i, (a, o) in enumerate(zip(group["articles"], group["order"]))}
    cosine, overlap = group["X"][:, FEATURES.index("cosine")], group["X"][:, FEATURES.index("overlap")]
    df = {w: sum(w in t for t in terms) for w in q_terms}
    idf = {w: math.log((n + 1) / (df[w] + 0.5)) for w in q_terms}
    article_best: dict[str, float] = {}
    for a, c in zip(group["articles"], cosine):
        article_best[a] = max(article_best.get(a, -1.0), float(c))
    overlap_rank = np.empty(n)
    overlap_rank[np.argsort(-overlap, kind="stable")] = np.arange(n)
    rows = []
    for i, (a, (chunk, s)) in enumerate(zip(group["articles"], group["order"])):
        prev, nxt = at.get((a, (chunk, s - 1))), at.get((a, (chunk, s + 1)))
        window = terms[i].union(*(terms[j] for j in (prev, nxt) if j is not None))
        rows.append([
            cosine[prev] if prev is not None else np.nan, cosine[nxt] if nxt is not None else np.nan,
            overlap[prev] if prev is not None else np.nan, overlap[nxt] if nxt is not None else np.nan,
            len(q_terms & window) / len(q_terms) if q_terms else 0.0,
            cosine[i] - article_best[a], overlap_rank[i],
            sum(idf[w] for w in terms[i] & q_terms) / (sum(idf.values()) or 1.0),
        ])
    return np.asarray(rows, dtype=float).reshape(n, len(CONTEXT))


def report(name: str, groups: list[dict], extra: tuple[str, ...] = (), params: dict | None = None, rounds: int | None = None) -> None:  # type: ignore[type-arg]
    usable = [g for g in groups if len(g["y"])]
    scores = training.out_of_fold(
        usable, params={**training.PARAMS, **(params or {})}, rounds=rounds or training.ROUNDS, names=[*FEATURES, *extra]
    )
    figures = training.evaluate(groups, scores=scores)
    print(f"| {name} | " + " | ".join(f"{figures[k]:.3f}" for k in SHOWN) + " |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("cache", type=Path, help="benchmarks/out/sentence-data-<key>.pkl")
    parser.add_argument("--questions", type=Path, default=DATA / "questions_dev.jsonl")
    args = parser.parse_args()
    groups = training._read_rows(args.cache)
    questions = {q.id: checked_question(q.question) for q in read_questions(args.questions)}
    extra = [context(g, questions[g["id"]]) for g in groups]
    print(f"{len(groups)} questions, {sum(len(g['y']) for g in groups):,} candidate sentences; 5-fold CV\n")
    print("| variant | " + " | ".join(SHOWN) + " |\n|---|" + "---:|" * len(SHOWN))
    report("shipped features and settings", groups)
    for name, columns in CONTEXT_VARIANTS.items():
        keep = [CONTEXT.index(c) for c in columns]
        widened = [{**g, "X": np.hstack([g["X"], e[:, keep]])} for g, e in zip(groups, extra)]
        report(f"+ {name}", widened, columns)
    for name, (params, rounds) in SETTINGS_VARIANTS.items():
        report(name, groups, params=params, rounds=rounds)


if __name__ == "__main__":
    main()
