"""When the local model says NOT FOUND: how sure was the sentence scorer, and would its best
sentences have held the answer? Picks pipeline.QUOTE_CONFIDENCE (benchmarks/README.md).

    NEWSBOT_LLM=local .venv/bin/python benchmarks/not_found.py --home EVAL_HOME \\
        --answerable 100 --floor 0.3 --out benchmarks/out/not-found.jsonl

For every absent-answer dev question and the first N answerable ones: the real search as of the
question's date, the passages and confidence the pipeline would use, and, where the confidence is
at least --floor (below it, the pipeline's gates or the threshold decide anyway), the model's answer
and whether the extractive answer's sentences contain the gold. Resumable: rows already in --out
are skipped.
"""

from __future__ import annotations

import argparse
import json
import sys
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.dev_questions import add_data_arguments, questions_and_absent, resume  # noqa: E402
from retrieval import NewsDesk, checked_question  # noqa: E402
from retrieval.answer.extractive import best_sentences  # noqa: E402
from retrieval.answer.passages import select_passages  # noqa: E402
from retrieval.answer.prompt import answer_messages, says_not_found  # noqa: E402
from retrieval.evaluation.metrics import contains  # noqa: E402


def row(desk: NewsDesk, q, absent: set[str], floor: float) -> dict:  # type: ignore[no-untyped-def, type-arg]
    question = checked_question(q.question)
    result = desk.search(question, as_of=q.date)
    out: dict = {"id": q.id, "absent": q.id in absent, "gold": q.answer}  # type: ignore[type-arg]
    scorer, model = desk.sentence_scorer(), desk.llm().model
    if not result.articles or scorer is None or model is None:
        return out
    selection = select_passages(question, result.articles, desk.embedder, q.date, scorer)
    out["confidence"] = selection.confidence
    out["shown"] = contains(" ".join(p.text for p in selection.passages), q.answer)
    if (selection.confidence or 0.0) >= floor:
        text = "".join(c.text for c in model.stream(answer_messages(question, selection.passages, q.date)))
        best = best_sentences(question, result.articles, desk.embedder, q.date, scorer)
        out.update(text=text, not_found=says_not_found(text), contains=contains(text, q.answer),
                   quote_contains=contains(" ".join(b.sentence for b in best), q.answer))
    return out


def summary(rows: list[dict], threshold: float) -> dict[str, int]:  # type: ignore[type-arg]
    """At `threshold`: refusals turned into quotes, on answerable and on absent-answer questions."""
    quoted = [r for r in rows if r.get("not_found") and r["confidence"] >= threshold]
    return {
        "answerable_quoted": sum(not r["absent"] for r in quoted),
        "answerable_quoted_with_gold": sum(not r["absent"] and r["quote_contains"] for r in quoted),
        "absent_quoted": sum(r["absent"] for r in quoted),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_arguments(parser)
    parser.add_argument("--answerable", type=int, default=100)
    parser.add_argument("--floor", type=float, default=0.3)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "not-found.jsonl")
    args = parser.parse_args()

    questions, absent = questions_and_absent(args)
    chosen = [q for q in questions if q.id in absent] + [q for q in questions if q.answerable][: args.answerable]
    done = resume(args.out, chosen, partial(row, absent=absent, floor=args.floor), args.home)
    for threshold in (args.floor, 0.4, 0.5, 0.6):
        print(f"quote at P >= {threshold}: {json.dumps(summary(done, threshold))}")


if __name__ == "__main__":
    main()
