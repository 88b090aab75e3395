"""What the benchmarks over the dev questions share: where the data is, the arguments that name
it and the eval index, and a loop that a killed run resumes (a model answer costs seconds each,
so the whole dev set takes an hour or more on 2 cores)."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from retrieval import NewsDesk, Settings
from retrieval.answer.citations import PromptPassage
from retrieval.answer.prompt import answer_messages, says_not_found
from retrieval.evaluation.absent import absent_answer_ids
from retrieval.evaluation.metrics import contains
from retrieval.evaluation.questions import Question, read_questions

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "realtimeqa"

Row = dict[str, Any]


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """--home (the index `newsbot eval` built from --articles), --questions, --articles."""
    parser.add_argument("--home", required=True, type=Path, help="the eval index: $NEWSBOT_HOME/eval/articles-<digest>")
    parser.add_argument("--questions", type=Path, default=DATA / "questions_dev.jsonl")
    parser.add_argument("--articles", type=Path, default=DATA / "articles.jsonl")


def questions_and_absent(args: argparse.Namespace) -> tuple[list[Question], set[str]]:
    """The dev questions, and the ids of those whose answer is in no article."""
    questions = read_questions(args.questions)
    return questions, absent_answer_ids(questions, args.articles)


def first_questions(args: argparse.Namespace, answerable: int, absent: int = 0) -> tuple[list[Question], set[str]]:
    """The first `answerable` dev questions whose answer is in some article, then the first
    `absent` whose answer is in none; and the ids of all of the latter."""
    questions, absent_ids = questions_and_absent(args)
    chosen = [q for q in questions if q.answerable and q.id not in absent_ids][:answerable]
    return chosen + [q for q in questions if q.id in absent_ids][:absent], absent_ids


def resume(out: Path, questions: Iterable[Question], row: Callable[[NewsDesk, Question], Row], home: Path) -> list[Row]:
    """Every question's row: those already in `out` (JSON lines) as they are, the rest computed
    and appended one by one, so a killed run loses at most the question it was on."""
    out.parent.mkdir(parents=True, exist_ok=True)
    done = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
    seen = {r["id"] for r in done}
    desk = NewsDesk(Settings.from_env(home=home))
    with out.open("a") as sink:
        for q in questions:
            if q.id not in seen:
                done.append(row(desk, q))
                print(json.dumps(done[-1]), file=sink, flush=True)
    return done


def gained_and_lost(rows: Sequence[Row], before: str, after: str) -> tuple[int, int]:
    """Of these rows, how many answers hold the gold on the `after` side only, and on the `before` side only."""
    gained = sum(bool(r[after]["contains"] and not r[before]["contains"]) for r in rows)
    lost = sum(bool(r[before]["contains"] and not r[after]["contains"]) for r in rows)
    return gained, lost


def model_answer(model: Any, question: str, passages: Sequence[PromptPassage], q: Question) -> Row:
    """The local model's answer to these passages (temperature 0), scored: does it hold the gold,
    was the gold shown, did it say NOT FOUND, and how long it took."""
    started = time.perf_counter()
    text = "".join(c.text for c in model.stream(answer_messages(question, passages, q.date)))
    return {
        "text": text,
        "contains": contains(text, q.answer),
        "shown": contains(" ".join(p.text for p in passages), q.answer),
        "not_found": says_not_found(text),
        "seconds": round(time.perf_counter() - started, 2),
    }
