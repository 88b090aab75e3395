"""Choose NEWSBOT_MIN_RELEVANCE: how often each threshold abstains on answerable questions
(bad) and on questions whose answer is in none of the articles (good).

    .venv/bin/python benchmarks/abstain_threshold.py --home EVAL_HOME \\
        [--questions ../shared/data/realtimeqa/questions_dev.jsonl]

EVAL_HOME is the index `newsbot eval` built (it prints its path). The signal is the best cosine
similarity between the question and any embedded chunk (SearchResult.top_similarity).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from retrieval import NewsDesk, Settings  # noqa: E402
from retrieval.evaluation.questions import read_questions  # noqa: E402
from retrieval.evaluation.metrics import percentile  # noqa: E402

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "realtimeqa"
THRESHOLDS = (0.20, 0.25, 0.30, 0.35, 0.40, 0.45, 0.50)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--questions", type=Path, default=SHARED / "questions_dev.jsonl")
    parser.add_argument("--off-topic", type=Path, help="a text file of questions the news cannot answer, one a line")
    args = parser.parse_args()

    desk = NewsDesk(Settings.from_env(home=args.home))
    questions = read_questions(args.questions)
    groups: dict[str, list[float]] = {"answerable": [], "not in the articles": []}
    for q in questions:
        similarity = desk.search(q.question, as_of=q.date).top_similarity
        groups["answerable" if q.answerable else "not in the articles"].append(similarity)
    if args.off_topic:
        groups["off-topic"] = [desk.search(line).top_similarity for line in args.off_topic.read_text().splitlines() if line.strip()]

    print("| questions | n | p5 | p50 | p95 | " + " | ".join(f"abstain@{t:.2f}" for t in THRESHOLDS) + " |")
    print("|---|---:|---:|---:|---:|" + "---:|" * len(THRESHOLDS))
    for name, values in groups.items():
        rates = [sum(v < t for v in values) / len(values) for t in THRESHOLDS]
        print(
            f"| {name} | {len(values)} | {percentile(values, 5):.3f} | {percentile(values, 50):.3f} | "
            f"{percentile(values, 95):.3f} | " + " | ".join(f"{r:.3f}" for r in rates) + " |"
        )


if __name__ == "__main__":
    main()
