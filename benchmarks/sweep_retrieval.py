"""Article recall@k of a few search configurations on one index, models loaded once.

    .venv/bin/python benchmarks/sweep_retrieval.py --home EVAL_HOME \\
        [--questions ../shared/data/realtimeqa/questions_dev.jsonl] [--articles ...articles.jsonl]

Used to choose the fusion and time settings in retrieval/settings.py; each row changes one
thing from the defaults, so the table shows what each lever buys. `newsbot eval` remains the
reference measurement.
"""

from __future__ import annotations

import argparse
import pickle
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from retrieval import NewsDesk, Settings  # noqa: E402
from retrieval.evaluation.harness import KS  # noqa: E402
from retrieval.evaluation.questions import Question, read_article_texts, read_questions  # noqa: E402
from retrieval.ids import normalize_url  # noqa: E402
from retrieval.evaluation.metrics import contains, first_hit, mrr_at, recall_at  # noqa: E402
from retrieval.search.hybrid import Filters, HybridSearcher  # noqa: E402
from retrieval.search.timeparse import parse_window  # noqa: E402

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "realtimeqa"

VARIANTS: dict[str, dict[str, object]] = {
    "defaults": {},
    "no time boost": {"recency_bonus": 0.0},
    "boost 7 days": {"recency_days": 7},
    "boost 30 days": {"recency_days": 30},
    "bonus 0.008": {"recency_bonus": 0.008},
    "rrf k=20": {"rrf_k": 20},
    "rrf k=100": {"rrf_k": 100},
    "fuse chunks": {"fuse_articles": False},
    "candidates 100": {"candidates": 100},
    "candidates 30": {"candidates": 30},
    "dense only": {"_lexical": 0.0},
    "lexical only": {"_dense": 0.0},
    "dense 0.7": {"_dense": 0.7},
    "lexical 0.7": {"_lexical": 0.7},
    "time words as windows": {"_windows": True},
    "later articles kept": {"later_days": -1},
    "later: 0 days": {"later_days": 0},
    "later: 1 day": {"later_days": 1},
    "later: 3 days": {"later_days": 3},
    "later: 7 days": {"later_days": 7},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--articles", type=Path, default=SHARED / "articles.jsonl")
    parser.add_argument("--questions", type=Path, default=SHARED / "questions_dev.jsonl")
    parser.add_argument("--only", nargs="*", help="variant names to run")
    parser.add_argument("--cache", type=Path, help="keep the candidate lists in this file between runs")
    args = parser.parse_args()

    desk = NewsDesk(Settings.from_env(home=args.home))
    texts = read_article_texts(args.articles)
    questions = [q for q in read_questions(args.questions) if q.answerable and q.scorable]
    lexical = desk.lexical()
    memo: dict[tuple[str, str], bool] = {}

    def relevant(q: Question, url: str) -> bool:
        if (q.id, url) not in memo:
            memo[q.id, url] = contains(texts.get(normalize_url(url), ""), q.answer)
        return memo[q.id, url]

    # both halves are queried once per question (the widest candidate list any variant needs);
    # each variant only re-ranks them
    most = max([desk.settings.candidates, *(v["candidates"] for v in VARIANTS.values() if "candidates" in v)])
    widest = replace(desk.settings, candidates=most)
    base = HybridSearcher(widest, desk.store, desk.embedder, lexical)
    # the cache is valid for one index revision and one question file
    key = (desk.store.revision(), str(args.questions), most)
    cached = pickle.loads(args.cache.read_bytes()) if args.cache and args.cache.exists() else None
    if cached and cached[0] == key:
        found = cached[1]
    else:
        found = [base.candidates(q.question) for q in questions]
        if args.cache:
            args.cache.write_bytes(pickle.dumps((key, found)))
    print(f"{len(questions)} questions; 'pool': an answer-bearing article anywhere in the fused candidates\n")
    print("| variant | " + " | ".join(f"R@{k}" for k in KS) + " | MRR@10 | pool |")
    print("|---|" + "---:|" * (len(KS) + 2))
    for name, changes in VARIANTS.items():
        if args.only and name not in args.only:
            continue
        changes = dict(changes)
        windows = bool(changes.pop("_windows", False))
        weights = {"dense": float(changes.pop("_dense", 1.0)), "lexical": float(changes.pop("_lexical", 1.0))}  # type: ignore[arg-type]
        settings = replace(desk.settings, **changes)  # type: ignore[arg-type]
        searcher = HybridSearcher(settings, desk.store, desk.embedder, lexical, weights=weights)
        ranks = []
        for q, f in zip(questions, found):
            window = parse_window(q.question, q.date) if windows and q.date else None
            result = searcher.rank(f.top(settings.candidates), 1000, Filters(as_of=q.date, window=window))
            ranks.append(first_hit([relevant(q, a.url) for a in result.articles]))
        pool = sum(r is not None for r in ranks) / len(ranks)
        print(f"| {name} | " + " | ".join(f"{recall_at(ranks, k):.3f}" for k in KS) + f" | {mrr_at(ranks, 10):.3f} | {pool:.3f} |", flush=True)

if __name__ == "__main__":
    main()
