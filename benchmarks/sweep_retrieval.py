"""Article recall@k of a few search configurations on one index, models loaded once.

    .venv/bin/python benchmarks/sweep_retrieval.py --home EVAL_HOME \\
        [--questions ../shared/data/realtimeqa/questions_dev.jsonl] [--articles ...articles.jsonl]

Used to choose the fusion and time settings in retrieval/settings.py; each row changes one
thing from the defaults, so the table shows what each lever buys. `newsbot eval` remains the
reference measurement.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from retrieval import NewsDesk, Settings  # noqa: E402
from retrieval.evaluation import KS, read_article_texts, read_questions  # noqa: E402
from retrieval.ids import normalize_url  # noqa: E402
from retrieval.metrics import contains, first_hit, mrr_at, recall_at  # noqa: E402
from retrieval.search import Filters, HybridSearcher  # noqa: E402

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "realtimeqa"

VARIANTS: dict[str, dict[str, object]] = {
    "defaults": {},
    "no time boost": {"recency_bonus": 0.0},
    "boost 7 days": {"recency_days": 7},
    "boost 30 days": {"recency_days": 30},
    "bonus 0.008": {"recency_bonus": 0.008},
    "rrf k=20": {"rrf_k": 20},
    "fuse chunks": {"fuse_articles": False},
    "bonus 0.006": {"recency_bonus": 0.006},
    "candidates 100": {"candidates": 100},
    "dense only": {"_lexical": 0.0},
    "lexical only": {"_dense": 0.0},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--articles", type=Path, default=SHARED / "articles.jsonl")
    parser.add_argument("--questions", type=Path, default=SHARED / "questions_dev.jsonl")
    parser.add_argument("--only", nargs="*", help="variant names to run")
    args = parser.parse_args()

    desk = NewsDesk(Settings.from_env(home=args.home))
    texts = read_article_texts(args.articles)
    questions = [q for q in read_questions(args.questions) if q.answerable and q.scorable]
    lexical = desk.lexical()
    print(f"{len(questions)} questions\n")
    print("| variant | " + " | ".join(f"R@{k}" for k in KS) + " | MRR@10 |")
    print("|---|" + "---:|" * (len(KS) + 1))
    for name, changes in VARIANTS.items():
        if args.only and name not in args.only:
            continue
        weights = {"dense": float(changes.pop("_dense", 1.0)), "lexical": float(changes.pop("_lexical", 1.0))}  # type: ignore[arg-type]
        settings = replace(desk.settings, **changes)  # type: ignore[arg-type]
        searcher = HybridSearcher(settings, desk.store, desk.embedder, lexical, weights=weights)
        ranks = []
        for q in questions:
            result = searcher.search(q.question, 10, Filters(as_of=q.date))
            ranks.append(first_hit([contains(texts.get(normalize_url(a.url), ""), q.answer) for a in result.articles]))
        print(f"| {name} | " + " | ".join(f"{recall_at(ranks, k):.3f}" for k in KS) + f" | {mrr_at(ranks, 10):.3f} |", flush=True)


if __name__ == "__main__":
    main()
