"""Does leaving out the articles the sentence scorer rates far below the best one help the local
model? Picks passages.RELATIVE_SCORE (benchmarks/README.md, "Fewer distractors").

    NEWSBOT_LLM=local .venv/bin/python benchmarks/distractors.py --home EVAL_HOME \\
        --relative 0.5 --answerable 385 --absent 149 --out benchmarks/out/distractors.jsonl

For each question (the first --answerable answerable dev questions whose answer is in the articles,
then the first --absent absent-answer ones): the real search as of the question's date and the
sentence scores the pipeline would use, then the passages chosen with --before (0: every article
allowed, the old choice) and with --relative. Only where the two differ is the model asked, once
with each, at temperature 0; the rest would get the same answer either way. Resumable: rows
already in --out are skipped.
"""

from __future__ import annotations

import argparse
import json
import sys
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.dev_questions import add_data_arguments, first_questions, gained_and_lost, model_answer, resume  # noqa: E402
from retrieval import NewsDesk, checked_question  # noqa: E402
from retrieval.answer.passages import choose, numbered, scored_sentences  # noqa: E402


def row(desk: NewsDesk, q, absent: set[str], relative: float, before_relative: float = 0.0) -> dict:  # type: ignore[no-untyped-def, type-arg]
    question = checked_question(q.question)
    result = desk.search(question, as_of=q.date)
    out: dict = {"id": q.id, "absent": q.id in absent, "gold": q.answer, "changed": False}  # type: ignore[type-arg]
    scorer, model = desk.sentence_scorer(), desk.llm().model
    if not result.articles or scorer is None or model is None:
        return out
    items, scores = scored_sentences(question, result.articles, desk.embedder, q.date, scorer)
    before, after = choose(items, scores, relative=before_relative), choose(items, scores, relative=relative)
    if [a for a, _ in before] == [a for a, _ in after]:
        return out
    out.update(changed=True, confidence=max(scores), articles=[len(before), len(after)])
    for name, picked in (("before", before), ("after", after)):
        out[name] = model_answer(model, question, numbered(picked, result.articles), q)
    return out


def summary(rows: list[dict]) -> dict[str, object]:  # type: ignore[type-arg]
    """Over the questions whose passages changed: answers holding the gold (answerable), NOT FOUND
    (absent-answer), the gold shown, and the model's time, before and after."""
    changed = [r for r in rows if r["changed"]]
    answerable = [r for r in changed if not r["absent"]]
    absent = [r for r in changed if r["absent"]]
    figures: dict[str, object] = {"questions": len(rows), "changed_answerable": len(answerable), "changed_absent": len(absent)}
    for side in ("before", "after"):
        seconds = sorted(r[side]["seconds"] for r in changed)
        figures[side] = {
            "contains": sum(r[side]["contains"] for r in answerable),
            "gold_shown": sum(r[side]["shown"] for r in answerable),
            "not_found_answerable": sum(r[side]["not_found"] for r in answerable),
            "not_found_absent": sum(r[side]["not_found"] for r in absent),
            "model_seconds_p50": seconds[len(seconds) // 2] if seconds else None,
        }
    figures["wrong_to_right"], figures["right_to_wrong"] = gained_and_lost(answerable, "before", "after")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_arguments(parser)
    parser.add_argument("--relative", type=float, default=0.5)
    parser.add_argument("--before", type=float, default=0.0, help="the ratio compared against (0: every article)")
    parser.add_argument("--answerable", type=int, default=385)
    parser.add_argument("--absent", type=int, default=149)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "distractors.jsonl")
    args = parser.parse_args()

    chosen, absent = first_questions(args, args.answerable, args.absent)
    done = resume(args.out, chosen, partial(row, absent=absent, relative=args.relative, before_relative=args.before), args.home)
    print(json.dumps(summary(done), indent=2))


if __name__ == "__main__":
    main()
