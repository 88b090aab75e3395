"""Ingest throughput against the embedder's own limit, re-ingest time, search latency, peak memory.

    .venv/bin/python benchmarks/ingest.py [--articles ../shared/data/realtimeqa/articles.jsonl]
                                          [--limit 1000] [--questions ...questions_dev.jsonl]

Ingests the first --limit articles (0: all) into a fresh temporary home with the same code as
`newsbot ingest`, then embeds exactly the texts that ingest embedded in one call of the same
model (the raw limit), and prints both throughputs and their ratio.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from retrieval import NewsDesk, Settings  # noqa: E402
from retrieval.ingest.chunking import embedding_text  # noqa: E402
from retrieval.evaluation.metrics import percentile  # noqa: E402

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "realtimeqa"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--articles", type=Path, default=SHARED / "articles.jsonl")
    parser.add_argument("--questions", type=Path, default=SHARED / "questions_dev.jsonl")
    parser.add_argument("--limit", type=int, default=1000, help="articles to ingest (0: all)")
    parser.add_argument("--searches", type=int, default=100)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="newsbot-bench-") as tmp:
        data = Path(tmp) / "articles.jsonl"
        with args.articles.open(encoding="utf-8") as src, data.open("w", encoding="utf-8") as dst:
            for i, line in enumerate(src):
                if args.limit and i >= args.limit:
                    break
                dst.write(line)
        desk = NewsDesk(Settings.from_env(home=Path(tmp) / "home"))
        t = time.perf_counter()
        desk.embedder.embed("load the model before timing")
        load_seconds = time.perf_counter() - t

        report = desk.ingest([data])
        ingest_seconds = report.seconds
        articles = report.new + report.updated + report.duplicates

        inputs = [
            embedding_text(c.meta["title"], c.meta["published"], c.text)
            for c in desk.store.scan()
            if c.meta.get("dense", True)
        ]
        t = time.perf_counter()
        desk.embedder.embed_batch(inputs)
        raw_seconds = time.perf_counter() - t

        t = time.perf_counter()
        again = desk.ingest([data])
        reingest_seconds = time.perf_counter() - t
        assert again.new == again.updated == again.chunks == 0, again

        questions = [json.loads(line)["question"] for line in args.questions.read_text().splitlines()[: args.searches]]
        t = time.perf_counter()
        desk.lexical()
        lexical_build = time.perf_counter() - t
        latencies = []
        for q in questions:
            t = time.perf_counter()
            desk.search(q)
            latencies.append(time.perf_counter() - t)

    figures: dict[str, object] = {
        "embed_precision": getattr(desk.embedder, "precision", "float32"),  # NEWSBOT_EMBED_PRECISION
        "articles": articles,
        "failed_inputs": len(report.failed),
        "chunks_stored": report.chunks,
        "chunks_embedded": report.embedded,
        "dense_chunks_per_article": desk.settings.dense_chunks,
        "model_load_s": load_seconds,
        "ingest_s": ingest_seconds,
        "ingest_articles_per_s": articles / ingest_seconds,
        "ingest_chunks_stored_per_s": report.chunks / ingest_seconds,
        "ingest_chunks_embedded_per_s": report.embedded / ingest_seconds,
        "raw_embed_s": raw_seconds,
        "raw_chunks_embedded_per_s": len(inputs) / raw_seconds,
        "ingest_vs_raw": (report.embedded / ingest_seconds) / (len(inputs) / raw_seconds),
        "reingest_s": reingest_seconds,
        "reingest_vs_ingest": reingest_seconds / ingest_seconds,
        "lexical_index_build_s": lexical_build,
        "search_p50_s": percentile(latencies, 50),
        "search_p95_s": percentile(latencies, 95),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    width = max(map(len, figures))
    for name, value in figures.items():
        shown = f"{value:,.3f}" if isinstance(value, float) else f"{value:,}" if isinstance(value, int) else value
        print(f"{name:<{width}}  {shown}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
