"""Answer latency: time to first token and total time (p50/p95), and prompt tokens, per LLM backend.

    .venv/bin/python benchmarks/answer.py --home ~/.local/share/newsbot/eval/articles-ab581dffd5c7 \
        --n 40 --backends local,extractive --out benchmarks/answer-latest.json

Reads the dev questions of ../shared/data/realtimeqa (never copied into the repo), asks each as of
its question date through the public API (`NewsDesk.stream`), and measures what a user waits for:
from the call to the first text piece, and to the final Answer. Models are loaded (warm_up)
before timing, so the figures are per question, not start-up.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from retrieval.evaluation.metrics import percentile  # noqa: E402

QUESTIONS = ROOT.parent / "shared" / "data" / "realtimeqa" / "questions_dev.jsonl"


def load_questions(path: Path, n: int) -> list[tuple[str, dt.date | None, bool]]:
    """(question, as_of, answerable from the articles), in file order."""
    out = []
    with path.open() as f:
        for line in f:
            record = json.loads(line)
            raw = str(record.get("question_date") or "").replace("/", "-")
            try:
                as_of = dt.date.fromisoformat(raw)
            except ValueError:
                as_of = None
            out.append((record["question"], as_of, bool(record.get("urls_containing_answer_string"))))
            if len(out) == n:
                break
    return out


def run_backend(backend: str, home: Path, questions: list[tuple[str, dt.date | None, bool]], embedder: Any) -> dict[str, Any]:
    from retrieval import Answer, NewsDesk, Settings

    desk = NewsDesk(Settings.from_env(home=home, llm=backend), embedder)
    t = time.perf_counter()
    desk.warm_up()
    load_seconds = time.perf_counter() - t
    rows = []
    for i, (question, as_of, answerable) in enumerate(questions, 1):
        started = time.perf_counter()
        first: float | None = None
        answer: Answer | None = None
        for event in desk.stream(question, as_of=as_of):
            if isinstance(event, Answer):
                answer = event
            elif first is None:
                first = time.perf_counter() - started
        total = time.perf_counter() - started
        assert answer is not None
        rows.append({
            "question": question,
            "answerable": answerable,
            "first_token": first if first is not None else total,
            "total": total,
            "prompt_tokens": answer.timings.get("prompt_tokens"),
            "completion_tokens": answer.timings.get("completion_tokens"),
            "abstained": answer.abstained,
            "llm_called": "llm" in answer.timings,
            # where the wait before the first token goes
            "search": answer.timings.get("search"),
            "passages": answer.timings.get("passages"),
            "notice": answer.notice,
        })
        logging.info("%s %d/%d first %.1fs total %.1fs %s", backend, i, len(questions), rows[-1]["first_token"],
                     total, "abstained" if answer.abstained else "")
    generated = [r for r in rows if r["llm_called"]]
    prompt_tokens = [float(r["prompt_tokens"]) for r in generated if r["prompt_tokens"]]
    return {
        "backend": desk.llm().backend,
        "asked": backend,
        "notice": desk.llm().notice,
        "questions": len(rows),
        "load_seconds": round(load_seconds, 2),
        "abstained": sum(r["abstained"] for r in rows),
        # abstaining is right when the articles do not hold the answer, wrong when they do
        "abstained_answerable": f"{sum(r['abstained'] for r in rows if r['answerable'])}/{sum(r['answerable'] for r in rows)}",
        "abstained_unanswerable": f"{sum(r['abstained'] for r in rows if not r['answerable'])}/{sum(not r['answerable'] for r in rows)}",
        "llm_calls": len(generated),
        "first_token_p50": percentile([r["first_token"] for r in rows], 50),
        "first_token_p95": percentile([r["first_token"] for r in rows], 95),
        "total_p50": percentile([r["total"] for r in rows], 50),
        "total_p95": percentile([r["total"] for r in rows], 95),
        # over the answers that called the LLM (abstentions before the LLM cost ~0.1 s and skew p50)
        "llm_first_token_p50": percentile([r["first_token"] for r in generated], 50),
        "llm_total_p50": percentile([r["total"] for r in generated], 50),
        "search_p50": percentile([r["search"] for r in rows if r["search"] is not None], 50),
        "passages_p50": percentile([r["passages"] for r in generated if r["passages"] is not None], 50),
        "prompt_tokens_p50": percentile(prompt_tokens, 50),
        "prompt_tokens_p95": percentile(prompt_tokens, 95),
        "rows": rows,
    }


def table(results: list[dict[str, Any]]) -> str:
    head = ("| backend | n | LLM calls | abstained: answerable / not | first token p50 / p95 (s) | total p50 / p95 (s) | "
            "LLM answers only: first / total p50 (s) | search / passages p50 (s) | prompt tokens p50 / p95 |")
    lines = [head, "|" + "---|" * 9]
    for r in results:
        lines.append(
            f"| {r['backend']} | {r['questions']} | {r['llm_calls']} | "
            f"{r['abstained_answerable']} / {r['abstained_unanswerable']} | "
            f"{r['first_token_p50']:.2f} / {r['first_token_p95']:.2f} | {r['total_p50']:.2f} / {r['total_p95']:.2f} | "
            f"{r['llm_first_token_p50']:.2f} / {r['llm_total_p50']:.2f} | "
            f"{r['search_p50']:.2f} / {r['passages_p50']:.2f} | "
            f"{r['prompt_tokens_p50']:.0f} / {r['prompt_tokens_p95']:.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--home", required=True, type=Path, help="NEWSBOT_HOME holding the evaluation index")
    parser.add_argument("--n", type=int, default=40, help="dev questions to ask (at least 40 for the figures)")
    parser.add_argument("--backends", default="local,extractive")
    parser.add_argument("--questions", type=Path, default=QUESTIONS)
    parser.add_argument("--out", type=Path, help="write every row and summary here as JSON")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    for noisy in ("chromadb", "httpx", "sentence_transformers", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.path.insert(0, str(ROOT))
    from retrieval.index.embeddings import MiniLMEmbedder

    questions = load_questions(args.questions, args.n)
    embedder = MiniLMEmbedder()
    results = [run_backend(b.strip(), args.home, questions, embedder) for b in args.backends.split(",") if b.strip()]
    print(table(results))
    print(f"\n{len(questions)} dev questions from {args.questions.name}; {os.cpu_count()} cores; index {args.home}")
    if args.out:
        args.out.write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
