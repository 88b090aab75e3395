"""Every dev question's search result as one JSON line (article ids, each with its passage chunk
ids, in order), asked as of the question's date: run it on two versions of the code and compare
the files to show a change left the answers' inputs as they were.

    .venv/bin/python benchmarks/search_dump.py --home EVAL_HOME --out /tmp/after.jsonl
    (cd OLD_WORKTREE && python benchmarks/search_dump.py --home EVAL_HOME --out /tmp/before.jsonl)
    cmp /tmp/before.jsonl /tmp/after.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.answer import QUESTIONS, load_questions  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, required=True, help="an ingested NEWSBOT_HOME (newsbot eval prints its index)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    from retrieval import NewsDesk, Settings

    desk = NewsDesk(Settings.from_env(home=args.home, llm="extractive"))
    with args.out.open("w") as f:
        for question, as_of, _ in load_questions(QUESTIONS, 10_000):
            result = desk.search(question, as_of=as_of)
            f.write(json.dumps([[a.article_id, [p.chunk_id for p in a.passages]] for a in result.articles]) + "\n")


if __name__ == "__main__":
    main()
