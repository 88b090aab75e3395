"""Where the local model's wrong answers come from: was the gold answer in the passages it read,
in which numbered passage, which passage it cited, and how old the search's first article was.

    .venv/bin/python benchmarks/reader_errors.py --home EVAL_HOME \\
        --results benchmarks/out/ans-local-22/results-answer.jsonl

For every answerable question that `newsbot eval --mode answer` scored in --results, the passages
are traced again as the pipeline chose them (the same search as of the question's date, with the
time the question names, and the shipped sentence scorer); no model is asked, so it takes about
a second a question. It tells a reader's failure (the gold in the passage it cited, a wrong name
in its answer) from a retrieval one (the gold never shown).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.dev_questions import add_data_arguments, questions_and_absent, resume  # noqa: E402
from retrieval import NewsDesk, Settings, checked_question  # noqa: E402
from retrieval.answer.passages import select_passages  # noqa: E402
from retrieval.evaluation.metrics import cited_numbers, contains  # noqa: E402
from retrieval.search.timeparse import parse_window  # noqa: E402


def trace(desk: NewsDesk, q, result: dict) -> dict:  # type: ignore[no-untyped-def, type-arg]
    """One scored answer with the passages behind it: which held the gold, which were cited."""
    question = checked_question(q.question)
    hits = desk.search(question, as_of=q.date, window=parse_window(question, q.date)).articles
    scorer = desk.sentence_scorer()
    passages = select_passages(question, hits, desk.embedder, q.date, scorer).passages if hits else []
    top_age = (q.date - hits[0].published).days if hits and hits[0].published else None
    return {
        "id": q.id,
        "outcome": "abstained" if result["abstained"] else "right" if result["contains"] else "wrong",
        "gold_in": [p.n for p in passages if contains(p.text, q.answer)],
        "cited": sorted(cited_numbers(result.get("answer") or "")),
        "top_recent": top_age is not None and top_age <= desk.settings.recency_days,  # the search's recency window
    }


def where(row: dict) -> str:  # type: ignore[type-arg]
    """Which passages held the gold answer, in three kinds."""
    gold = row["gold_in"]
    if not gold:
        return "gold not shown"
    return "gold in [1]" if gold[0] == 1 else "gold only in a later passage"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_arguments(parser)
    parser.add_argument("--results", type=Path, required=True, help="newsbot eval's results-answer.jsonl")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "reader-errors.jsonl")
    args = parser.parse_args()

    results = {r["id"]: r for r in map(json.loads, args.results.read_text().splitlines()) if not r["absent"]}
    questions, _ = questions_and_absent(args)
    scored = [q for q in questions if q.id in results]
    rows = resume(args.out, scored, lambda desk, q: trace(desk, q, results[q.id]), args.home)

    print(json.dumps(summary(rows, Settings.from_env(home=args.home).recency_days), indent=1))


def summary(rows: list[dict], recent_days: int) -> dict:  # type: ignore[type-arg]
    """Outcomes by where the gold was shown, the wrong answers that cited [1], and outcomes by
    whether the search's first article is recent."""
    def outcomes(group: list[dict]) -> dict[str, int]:  # type: ignore[type-arg]
        n = Counter(r["outcome"] for r in group)
        return {o: n[o] for o in ("right", "wrong", "abstained")}

    places = ("gold in [1]", "gold only in a later passage", "gold not shown")
    return {
        "questions": len(rows),
        "by_passages_shown": {w: outcomes([r for r in rows if where(r) == w]) for w in places},
        "wrong_citing_1": {
            w: sum(where(r) == w and r["outcome"] == "wrong" and r["cited"][:1] == [1] for r in rows) for w in places
        },
        "by_first_article": {
            f"within {recent_days} days": outcomes([r for r in rows if r["top_recent"]]),
            "older or undated": outcomes([r for r in rows if not r["top_recent"]]),
        },
    }


if __name__ == "__main__":
    main()
