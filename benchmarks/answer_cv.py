"""Answers from out-of-fold sentence scores: what a change to the sentence scorer buys the local
model on questions its models never saw (issue #11's cross-validated answer figure).

    NEWSBOT_LLM=local .venv/bin/python benchmarks/answer_cv.py --home EVAL_HOME \\
        --cache OUT/sentence-data-<key>.pkl --cross OUT/cross-oof-<key>.npy \\
        --gate-before 0.07 --gate-after 0.07 --answerable 120 --absent 60 --out benchmarks/out/answer-cv.jsonl

The shipped models are trained on every dev question, so `newsbot eval --mode answer` on dev flatters
them. Here both sides score each question's candidate sentences (train_sentence_scorer.py's cache)
with a model that never saw it: "before" without the cross-encoder's score, "after" with it (its
own out-of-fold score, --cross). Each side chooses the passages as the pipeline does and abstains
below its gate; only where the two prompts differ is the model asked, once each, at temperature 0.
Resumable: rows already in --out are skipped.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import train_sentence_scorer as trainer  # noqa: E402
from benchmarks.dev_questions import add_data_arguments, first_questions, gained_and_lost, model_answer, resume  # noqa: E402
from retrieval import NewsDesk, checked_question  # noqa: E402
from retrieval.answer.passages import choose, clean, numbered  # noqa: E402
from retrieval.evaluation.metrics import contains  # noqa: E402


def side(desk: NewsDesk, q, question: str, hits, picked, confidence: float, gate: float) -> dict:  # type: ignore[no-untyped-def, type-arg]
    """One side's outcome: refused by its gate, or the model's answer (NOT FOUND is abstaining too)."""
    passages = numbered(picked, hits)
    if confidence < gate:
        shown = contains(" ".join(p.text for p in passages), q.answer)
        return {"text": "", "contains": False, "shown": shown, "abstained": True, "seconds": 0.0}
    answer = model_answer(desk.llm().model, question, passages, q)
    return {**answer, "abstained": answer["not_found"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_arguments(parser)
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--cross", type=Path, required=True)
    parser.add_argument("--gate-before", type=float, default=0.07)
    parser.add_argument("--gate-after", type=float, default=0.07)
    parser.add_argument("--answerable", type=int, default=385)
    parser.add_argument("--absent", type=int, default=149)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "answer-cv.jsonl")
    args = parser.parse_args()

    groups = [g for g in trainer._read_rows(args.cache) if len(g["y"])]
    folds = min(5, max(2, len(groups) // 4))
    before = trainer.out_of_fold(groups, folds)
    trainer.append_column(groups, np.load(args.cross))
    after = trainer.out_of_fold(groups, folds)
    by_id = {g["id"]: (g, b, a) for g, b, a in zip(groups, before, after)}

    def row(desk: NewsDesk, q) -> dict:  # type: ignore[no-untyped-def, type-arg]
        out: dict = {"id": q.id, "absent": q.id in absent, "gold": q.answer, "changed": False}  # type: ignore[type-arg]
        if q.id not in by_id:
            return out
        g, b, a = by_id[q.id]
        items = [(aid, tuple(o), clean(t)) for aid, o, t in zip(g["articles"], g["order"], g["texts"])]
        question = checked_question(q.question)
        picks = [(choose(items, list(s)), float(s.max()), gate) for s, gate in ((b, args.gate_before), (a, args.gate_after))]
        if picks[0][0] == picks[1][0] and (picks[0][1] < args.gate_before) == (picks[1][1] < args.gate_after):
            return out
        hits = desk.search(question, as_of=q.date).articles
        out["changed"] = True
        for name, (picked, confidence, gate) in zip(("before", "after"), picks):
            out[name] = side(desk, q, question, hits, picked, confidence, gate)
        return out

    chosen, absent = first_questions(args, args.answerable, args.absent)
    done = resume(args.out, chosen, row, args.home)
    answerable = [r for r in done if not r["absent"]]
    figures: dict[str, object] = {"answerable": len(answerable), "absent": len(done) - len(answerable),
                                  "changed": sum(r["changed"] for r in done)}
    for name in ("before", "after"):
        figures[name] = {
            "contains_among_changed": sum(r[name]["contains"] for r in answerable if r["changed"]),
            "shown_among_changed": sum(r[name]["shown"] for r in answerable if r["changed"]),
            "abstained_answerable_among_changed": sum(r[name]["abstained"] for r in answerable if r["changed"]),
            "abstained_absent_among_changed": sum(r[name]["abstained"] for r in done if r["absent"] and r["changed"]),
        }
    figures["wrong_to_right"], figures["right_to_wrong"] = gained_and_lost([r for r in answerable if r["changed"]], "before", "after")
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
