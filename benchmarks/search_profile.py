"""Where one search's time goes: p50/p95 of the whole search and of its parts, and (--profile)
cProfile's top functions over the same searches. The starting point for issue #15 (60 ms).

    .venv/bin/python benchmarks/search_profile.py --home ~/.local/share/newsbot/eval/articles-ab581dffd5c7 \
        --n 50 --profile

Asks the first N dev questions as of their dates through `NewsDesk.search`, after one warm-up
search (models and the BM25 index loaded, not timed). Parts: the query embedding alone, the
candidates of both halves (`HybridSearcher.candidates`: dense query, BM25, chunk fetches), and
the fused ranking and grouping (`rank`).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.answer import QUESTIONS, load_questions  # noqa: E402
from retrieval.evaluation.metrics import percentile  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, required=True, help="an ingested NEWSBOT_HOME (newsbot eval prints its index)")
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--profile", action="store_true", help="also print cProfile's top functions by cumulative time")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()

    from retrieval import NewsDesk, Settings
    from retrieval.search.hybrid import Filters, HybridSearcher

    desk = NewsDesk(Settings.from_env(home=args.home, llm="extractive"))
    questions = [(q, as_of) for q, as_of, _ in load_questions(QUESTIONS, args.n)]
    desk.search("warm up the models and indexes", as_of=questions[0][1])
    searcher = HybridSearcher(desk.settings, desk.store, desk.embedder, desk.lexical())

    times: dict[str, list[float]] = {"search (whole)": [], "query embedding": [], "candidates": [], "rank + group": []}
    profiler = cProfile.Profile() if args.profile else None
    for question, as_of in questions:
        filters = Filters(as_of=as_of)
        t = time.perf_counter()
        if profiler:
            profiler.enable()
        desk.search(question, as_of=as_of)
        if profiler:
            profiler.disable()
        times["search (whole)"].append(time.perf_counter() - t)
        t = time.perf_counter()
        desk.embedder.embed(question)
        times["query embedding"].append(time.perf_counter() - t)
        t = time.perf_counter()
        found = searcher.candidates(question, filters)
        times["candidates"].append(time.perf_counter() - t)
        t = time.perf_counter()
        searcher.rank(found, None, filters)
        times["rank + group"].append(time.perf_counter() - t)

    print(f"{len(questions)} searches over {args.home}")
    for part, values in times.items():
        ms = [v * 1000 for v in values]
        print(f"  {part:<16} p50 {statistics.median(ms):7.1f} ms   p95 {percentile(ms, 95):7.1f} ms")
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(args.top)
        print(out.getvalue())


if __name__ == "__main__":
    main()
