"""How long passage choice spends embedding a question's candidate sentences, in ingest's batches
(`embed_batch`, 64) and in the query-time ones (`embed_sentences`, SENTENCE_BATCH).

    .venv/bin/python benchmarks/sentence_embedding.py --home $EVAL_HOME [--n 40] [--rounds 2]

Both ways run in one process over the same texts, alternating round by round, so the machine's
noise falls on both; it asks no model.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.dev_questions import add_data_arguments, questions_and_absent  # noqa: E402
from retrieval import NewsDesk, Settings, checked_question  # noqa: E402
from retrieval.answer import sentences  # noqa: E402
from retrieval.index.embeddings import SENTENCE_BATCH  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_arguments(parser)
    parser.add_argument("--n", type=int, default=40, help="the first N dev questions")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    desk = NewsDesk(Settings.from_env(home=args.home))
    questions, _ = questions_and_absent(args)
    texts = []
    for q in questions[: args.n]:
        hits = desk.search(checked_question(q.question), as_of=q.date).articles
        texts.append([q.question, *(c.text for c in sentences.candidates(hits))])
    print(f"{len(texts)} questions, {statistics.median(map(len, texts)):.0f} texts each (p50)")
    ways = {f"embed_batch ({desk.embedder.batch_size})": desk.embedder.embed_batch,  # type: ignore[attr-defined]
            f"embed_sentences ({SENTENCE_BATCH})": desk.embedder.embed_sentences}
    for embed in ways.values():
        embed(texts[0])  # the model loaded and warm before timing
    for round_ in range(1, args.rounds + 1):
        for name, embed in ways.items():
            seconds = []
            for batch in texts:
                started = time.perf_counter()
                embed(batch)
                seconds.append(time.perf_counter() - started)
            print(f"round {round_}  {name:<22} p50 {statistics.median(seconds):.3f} s  mean {statistics.fmean(seconds):.3f} s")


if __name__ == "__main__":
    main()
