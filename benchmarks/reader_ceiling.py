"""How often would the local model answer right if it were shown the answer and nothing else?
The ceiling of the reader, apart from search and sentence choice (benchmarks/README.md, "The
reader's ceiling").

    NEWSBOT_LLM=local .venv/bin/python benchmarks/reader_ceiling.py --home EVAL_HOME \\
        --answerable 100 --out benchmarks/out/reader-ceiling.jsonl

For each of the first --answerable answerable dev questions: the real search as of the question's
date, with the time it names, and the shipped sentence scorer's candidates. Where some candidate
sentence holds the gold answer, the model is asked twice at temperature 0, with no gate before it:
- `shipped`: the passages the pipeline chooses;
- `oracle`: the article of the best-scored gold-holding sentence alone, that sentence always
  shown, the rest of the same budget filled with that article's best sentences: no distractor.
Resumable: rows already in --out are skipped.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.dev_questions import add_data_arguments, first_questions, gained_and_lost, model_answer, resume  # noqa: E402
from retrieval import NewsDesk, checked_question  # noqa: E402
from retrieval.answer.passages import choose, numbered, scored_sentences  # noqa: E402
from retrieval.evaluation.metrics import contains, percentile  # noqa: E402
from retrieval.search.timeparse import parse_window  # noqa: E402


def oracle(items: list, scores: list[float], gold: list[int]) -> list:  # type: ignore[type-arg]
    """`choose` over one article, that of the best-scored gold-holding sentence, which comes first."""
    first = max(gold, key=lambda i: scores[i])
    keep = [i for i in range(len(items)) if items[i][0] == items[first][0]]
    return choose([items[i] for i in keep], [scores[i] + (1.0 if i == first else 0.0) for i in keep])


def row(desk: NewsDesk, q) -> dict:  # type: ignore[no-untyped-def, type-arg]
    question = checked_question(q.question)
    hits = desk.search(question, as_of=q.date, window=parse_window(question, q.date)).articles
    out: dict = {"id": q.id, "gold": q.answer, "candidate": False}  # type: ignore[type-arg]
    scorer, model = desk.sentence_scorer(), desk.llm().model
    if not hits or scorer is None or model is None:
        return out
    items, scores = scored_sentences(question, hits, desk.embedder, q.date, scorer)
    gold = [i for i, item in enumerate(items) if contains(item[2], q.answer)]
    if not gold:
        return out
    out.update(candidate=True, confidence=max(scores))
    for name, picked in (("shipped", choose(items, scores)), ("oracle", oracle(items, scores, gold))):
        out[name] = model_answer(model, question, numbered(picked, hits), q)
        out[name]["articles"] = len(picked)
    return out


def summary(rows: list[dict]) -> dict[str, object]:  # type: ignore[type-arg]
    """Answers holding the gold on each side, overall and where the shipped passages showed it."""
    asked = [r for r in rows if r["candidate"]]
    shown = [r for r in asked if r["shipped"]["shown"]]
    figures: dict[str, object] = {"questions": len(rows), "gold_among_candidates": len(asked), "shipped_shows_gold": len(shown)}
    for side in ("shipped", "oracle"):
        figures[side] = {
            "contains": sum(r[side]["contains"] for r in asked),
            "contains_where_shipped_shows_gold": sum(r[side]["contains"] for r in shown),
            "not_found": sum(r[side]["not_found"] for r in asked),
            "seconds_p50": percentile([r[side]["seconds"] for r in asked], 50),
        }
    figures["oracle_gains"], figures["oracle_losses"] = gained_and_lost(asked, "shipped", "oracle")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_arguments(parser)
    parser.add_argument("--answerable", type=int, default=100)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "reader-ceiling.jsonl")
    args = parser.parse_args()

    chosen, _ = first_questions(args, args.answerable)
    print(json.dumps(summary(resume(args.out, chosen, row, args.home)), indent=2))


if __name__ == "__main__":
    main()
