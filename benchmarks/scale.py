"""How search grows with the store: p50/p95 of the dense half, the lexical half and the whole
search, and the resident memory of a search process, at 100k, 300k and 1M chunks.

    .venv/bin/python benchmarks/scale.py [--sizes 100000,300000,1000000] [--queries 50] \
        [--workdir /tmp/newsbot-scale] [--vectors-from ~/.local/share/newsbot/eval/articles-ab581dffd5c7] \
        [--json benchmarks/out/scale.json] [--profile]

The stores are synthetic, laid out as ingest lays them out and written through
`ChromaStore.upsert`: articles of ~11 chunks of ~200 tokens, each article's first 4 chunks
embedded (`dense: True`, about a third of all chunks), the rest lexical-only. Texts are the
shared corpus's articles chunked by the project's own chunker; past what the corpus gives
(~90k chunks), later copies of an article swap half of each chunk's sentences for sentences of
a similar length from anywhere in the corpus (and mix its title, and move its date by up to two
years within the last ten), so no chunk repeats and vocabulary and lengths stay the corpus's.
Vectors: each embedded chunk's real MiniLM vector from the evaluation index (`--vectors-from`,
read only), plus small Gaussian noise on later copies, re-normalised; random unit vectors when
that index is absent (the output says which). No chunk is embedded.

One NEWSBOT_HOME per size under --workdir, reused when complete (a build that stopped resumes
where it stopped). Each size is then measured in fresh processes: one builds the BM25 cache if
there is none (its time and peak memory), then one opens the store, loads the BM25 cache, runs
one warm-up search, and times, for each of the first --queries dev questions (embedded once
with the real embedder, so the measured process holds no model): the dense half
(`store.dense(vector, 50)`), the lexical half (BM25 top 50 plus `store.get` of the hits, as
`HybridSearcher.candidates` does) and the whole `NewsDesk.search` (with the precomputed query
vector; the query embedding is timed apart). Memory is that process's VmRSS after the warm-up
and its VmHWM (peak) at the end.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import datetime as dt
import hashlib
import io
import itertools
import json
import math
import os
import pstats
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.answer import QUESTIONS, load_questions  # noqa: E402
from retrieval.evaluation.metrics import percentile  # noqa: E402
from retrieval.index.embeddings import MODEL_NAME, Embedder  # noqa: E402
from retrieval.settings import DEFAULT_CHUNK_TOKENS, DEFAULT_COLLECTION, Settings  # noqa: E402

ARTICLES = ROOT.parent / "shared" / "data" / "realtimeqa" / "articles.jsonl"
EVAL_HOME = Path("~/.local/share/newsbot/eval/articles-ab581dffd5c7").expanduser()
DIMENSIONS = 384  # all-MiniLM-L6-v2
YEARS = 10  # later copies of an article are dated within the last YEARS years of the corpus
SHIFT_DAYS = 730  # … and at most this far from the original
BUILT = "scale-build.json"  # in each home: the build's progress, then its figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,300000,1000000", help="chunks per store, comma-separated")
    parser.add_argument("--queries", type=int, default=50, help="the first N dev questions")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/newsbot-scale"))
    parser.add_argument("--vectors-from", type=Path, default=EVAL_HOME,
                        help="an ingested NEWSBOT_HOME to take real vectors from (random unit vectors if absent)")
    parser.add_argument("--articles", type=Path, default=ARTICLES)
    parser.add_argument("--questions", type=Path, default=QUESTIONS)
    parser.add_argument("--batch", type=int, default=4000, help="chunks per ChromaStore.upsert")
    parser.add_argument("--noise", type=float, default=0.02, help="per-dimension sigma added to copied vectors")
    parser.add_argument("--profile", action="store_true", help="cProfile the timed searches of each size")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--worker", choices=["bm25", "measure"], help=argparse.SUPPRESS)
    parser.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--queries-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return run_worker(args)

    sizes = sorted({int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()})
    args.workdir.mkdir(parents=True, exist_ok=True)
    queries = query_vectors(args.workdir, args.questions, args.queries)
    vectors = RealVectors.open(args.vectors_from)
    print(f"vectors: {vectors.description}")
    templates = load_templates(args.articles, args.workdir, max(sizes))
    print(f"corpus: {len(templates):,} articles, {sum(len(t.chunks) for t in templates):,} chunks")

    rows = []
    for size in sizes:
        home = args.workdir / f"chunks-{size}"
        build = build_store(home, size, templates, vectors, args.batch, args.noise)
        bm25 = prepare_bm25(home)
        figures = worker("measure", home, args.workdir / "queries.json", args.profile)
        rows.append({"chunks": size, **build, **bm25, **figures})
        print_row(rows[-1])
        if figures.get("profile"):
            print(figures["profile"])

    print()
    print(table(rows))
    embed = queries["embed_ms"]
    print(f"\nquery embedding (MiniLM, one question; not in the figures above): "
          f"p50 {statistics.median(embed):.1f} ms, p95 {percentile(embed, 95):.1f} ms (load average {queries.get('load_avg')})")
    growth = growth_of(rows)
    print()
    for line in growth["statements"]:
        print(line)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "vectors": vectors.description, "queries": len(queries["questions"]),
            "query_embedding_ms": {"p50": statistics.median(embed), "p95": percentile(embed, 95)},
            "sizes": [{k: v for k, v in r.items() if k != "profile"} for r in rows], "growth": growth,
        }, indent=2))


# --- queries -----------------------------------------------------------------------------------


def query_vectors(workdir: Path, questions_file: Path, n: int) -> dict[str, Any]:
    """The first n dev questions with their MiniLM vectors, embedded once (kept in the workdir)."""
    questions = [(q, as_of.isoformat() if as_of else None) for q, as_of, _ in load_questions(questions_file, n)]
    path = workdir / "queries.json"
    if path.exists():
        cached = json.loads(path.read_text())
        if [tuple(q) for q in cached["questions"]] == questions:
            return cached  # type: ignore[no-any-return]
    embedder = _embedder()
    embedder.embed("load the model before timing")
    vectors, times = [], []
    for question, _ in questions:
        t = time.perf_counter()
        vectors.append(embedder.embed(" ".join(question.split())))
        times.append((time.perf_counter() - t) * 1000)
    found = {"questions": questions, "vectors": vectors, "embed_ms": times, "load_avg": round(os.getloadavg()[0], 2)}
    path.write_text(json.dumps(found))
    return found


_model: Embedder | None = None


def _embedder() -> Embedder:
    """The real MiniLM, loaded once: token counts for chunking, and the query vectors."""
    global _model
    if _model is None:
        from retrieval.index.embeddings import MiniLMEmbedder

        _model = MiniLMEmbedder()
    return _model


class FixedVectors(Embedder):
    """The precomputed vectors of the benchmark's questions; any other text is an error (the
    build embeds nothing, and a measured process must not hold the model)."""

    name = MODEL_NAME  # the store records its embedder's name
    dimensions = DIMENSIONS

    def __init__(self, vectors: dict[str, list[float]]) -> None:
        self.vectors = vectors

    def embed_batch(self, texts: Sequence[str]) -> list[list[float]]:
        return [self.vectors[" ".join(t.split())] for t in texts]


# --- texts -------------------------------------------------------------------------------------


@dataclass
class Template:
    """One corpus article cut into chunks by the project's chunker."""

    id: str
    title: str
    source: str
    url: str
    authors: tuple[str, ...]
    published: dt.date | None
    chunks: list[str]
    _sentences: list[list[str]] | None = None

    @property
    def sentences(self) -> list[list[str]]:
        if self._sentences is None:
            from retrieval.ingest.chunking import split_sentences

            self._sentences = [split_sentences(c) or [c] for c in self.chunks]
        return self._sentences


def load_templates(articles: Path, workdir: Path, needed: int) -> list[Template]:
    """Corpus articles in file order, chunked, until they give `needed` chunks or the corpus ends
    (cached in the workdir: chunking the whole corpus takes about two minutes)."""
    cache = workdir / f"corpus-chunks-{DEFAULT_CHUNK_TOKENS}.jsonl"
    templates: list[Template] = []
    last_line, complete = 0, False
    if cache.exists():
        for line in cache.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            if record.get("end"):
                complete = True
                continue
            last_line = record["line"]
            published = dt.date.fromisoformat(record["published"]) if record["published"] else None
            templates.append(Template(record["id"], record["title"], record["source"], record["url"],
                                      tuple(record["authors"]), published, record["chunks"]))
    chunks = sum(len(t.chunks) for t in templates)
    if complete or chunks >= needed:
        return templates

    from retrieval.ingest.chunking import chunk_article
    from retrieval.ingest.loaders import record_to_article

    seen = {t.id for t in templates}
    print(f"chunking the corpus ({articles.name}) with the real tokenizer…", flush=True)
    started = time.perf_counter()
    with articles.open(encoding="utf-8") as src, cache.open("a", encoding="utf-8") as out:
        for number, line in enumerate(src, 1):
            if number <= last_line or not line.strip():
                continue
            try:
                article = record_to_article(json.loads(line), f"{articles}:{number}")
            except Exception:  # noqa: BLE001 - ingest reports and skips these too
                continue
            if article.id in seen:
                continue
            seen.add(article.id)
            pieces = [c.text for c in chunk_article(article, _embedder().count_tokens, DEFAULT_CHUNK_TOKENS)]
            if not pieces:
                continue
            template = Template(article.id, article.title, article.source, article.url, article.authors,
                                article.published, pieces)
            templates.append(template)
            out.write(json.dumps({"line": number, "id": template.id, "title": template.title,
                                  "source": template.source, "url": template.url, "authors": list(template.authors),
                                  "published": article.published_iso, "chunks": pieces}) + "\n")
            chunks += len(pieces)
            if chunks >= needed:
                break
        else:
            out.write(json.dumps({"end": True}) + "\n")
    print(f"  {len(templates):,} articles, {chunks:,} chunks in {time.perf_counter() - started:.0f} s", flush=True)
    return templates


class Recombiner:
    """Later copies of the corpus: half of each chunk's sentences swapped for corpus sentences
    of a similar length, the title half another's, the date moved within the last ten years."""

    def __init__(self, templates: list[Template]) -> None:
        self.templates = templates
        self.pool = [s for t in templates for chunk in t.sentences for s in chunk]
        dates = [t.published for t in templates if t.published]
        self.latest = max(dates) if dates else dt.date.today()
        self.earliest = self.latest - dt.timedelta(days=365 * YEARS)

    def title(self, template: Template, rng: random.Random) -> str:
        own = template.title.split()
        other = self.templates[rng.randrange(len(self.templates))].title.split()
        return " ".join(own[: (len(own) + 1) // 2] + other[len(other) // 2:])

    def date(self, template: Template, rng: random.Random) -> dt.date | None:
        if template.published is None:
            return None
        day = template.published + dt.timedelta(days=rng.randint(-SHIFT_DAYS, SHIFT_DAYS))
        return min(self.latest, max(self.earliest, day))

    def chunk(self, sentences: list[str], rng: random.Random) -> str:
        out = []
        for sentence in sentences:
            if rng.random() < 0.5:
                candidates = [self.pool[rng.randrange(len(self.pool))] for _ in range(4)]
                sentence = min(candidates, key=lambda s: abs(len(s) - len(sentence)))
            out.append(sentence)
        return " ".join(out)


# --- vectors -----------------------------------------------------------------------------------


class RealVectors:
    """Each embedded chunk's vector from an ingested store, by (article id, chunk number)."""

    def __init__(self, by_chunk: dict[tuple[str, int], Any], description: str) -> None:
        import numpy as np

        self.by_chunk = by_chunk
        self.matrix = np.stack(list(by_chunk.values())) if by_chunk else None
        self.description = description

    @classmethod
    def open(cls, home: Path) -> "RealVectors":
        path = home.expanduser() / "chroma"
        if not (path / "chroma.sqlite3").exists():
            return cls({}, f"random unit vectors ({DIMENSIONS} dims; no evaluation index at {home})")
        return cls(_read_vectors(path), f"real MiniLM vectors from {home}")

    def __call__(self, template_id: str, chunk: int, copy: int, noise: float, rng: Any) -> list[float]:
        import numpy as np

        if self.matrix is None:
            v = rng.standard_normal(DIMENSIONS)
        else:
            real = self.by_chunk.get((template_id, chunk))
            if real is None:  # an article the index folded away, or a chunk it cut differently
                real, copy = self.matrix[rng.integers(len(self.matrix))], max(copy, 1)
            v = real + rng.normal(0.0, noise, DIMENSIONS) if copy else real
        return (v / np.linalg.norm(v)).astype(np.float32).tolist()  # type: ignore[no-any-return]


def _read_vectors(path: Path) -> dict[tuple[str, int], Any]:
    """The embedded chunks of the store at `path`, read with chromadb directly: no collection is
    created or changed there (ChromaStore would add its side collections)."""
    import chromadb
    import numpy as np
    from chromadb.api.shared_system_client import SharedSystemClient
    from chromadb.config import Settings as ChromaSettings

    client = chromadb.PersistentClient(path=str(path), settings=ChromaSettings(anonymized_telemetry=False))
    collection = client.get_collection(DEFAULT_COLLECTION)
    found: dict[tuple[str, int], Any] = {}
    for offset in itertools.count(0, 5000):
        page = collection.get(where={"dense": True}, include=["embeddings", "metadatas"], limit=5000, offset=offset)
        if not page["ids"]:
            break
        for meta, vector in zip(page["metadatas"], page["embeddings"]):
            found[(str(meta["article_id"]), int(meta["chunk"]))] = np.asarray(vector, dtype=np.float32)
    system = SharedSystemClient._identifier_to_system.pop(str(path), None)
    if system is not None:
        system.stop()
    return found


# --- building a store --------------------------------------------------------------------------


def synthetic_articles(templates: list[Template], vectors: RealVectors, noise: float, dense_chunks: int,
                       start: int = 0) -> Iterator[tuple[list[str], list[str], list[dict[str, Any]], list[list[float]]]]:
    """Article after article, each as ingest would store it: ids, texts, metadata, vectors."""
    import numpy as np

    from retrieval.ids import chunk_id
    from retrieval.index.records import chunk_metadata
    from retrieval.types import Article, Chunk

    recombiner: Recombiner | None = None
    for j in itertools.count(start):
        template, copy = templates[j % len(templates)], j // len(templates)
        rng, vector_rng = random.Random(j), np.random.default_rng(j)
        if copy == 0:
            article_id, title, published, texts = template.id, template.title, template.published, template.chunks
        else:
            recombiner = recombiner or Recombiner(templates)
            article_id = hashlib.blake2b(f"{template.id}/{copy}".encode(), digest_size=16).hexdigest()
            title, published = recombiner.title(template, rng), recombiner.date(template, rng)
            texts = [recombiner.chunk(sentences, rng) for sentences in template.sentences]
        url = template.url + (f"?copy={copy}" if copy and template.url else "")
        article = Article(article_id, title, " ".join(texts), template.source, url, template.authors, published)
        version = article.content_hash
        ids, metas, vecs = [], [], []
        for i, text in enumerate(texts):
            dense = not dense_chunks or i < dense_chunks
            ids.append(chunk_id(article_id, i, version))
            meta = chunk_metadata(article, Chunk(ids[-1], article_id, i, text), len(texts), version, dense)
            if i == 0:
                meta.update(story_fields(article, rng))
            metas.append(meta)
            # lexical-only chunks are handed their lead's vector, as ingest does (the store drops it)
            vecs.append(vectors(template.id, i, copy, noise, vector_rng) if dense else vecs[0])
        yield ids, list(texts), metas, vecs


def story_fields(article: Any, rng: random.Random) -> dict[str, Any]:
    """What ingest adds to a story's lead chunk (folding.py: 30 LSH band keys, the MinHash
    signature, the word count), with random values of the same shape: computing real MinHash
    signatures would cost more than the rest of the build."""
    fields: dict[str, Any] = {f"lsh_{b}": f"{b}:{rng.getrandbits(64):016x}" for b in range(30)}
    fields["minhash"] = base64.b64encode(rng.randbytes(128 * 4)).decode("ascii")
    fields["words"] = len(article.body.split())
    return fields


def build_store(home: Path, size: int, templates: list[Template], vectors: RealVectors, batch: int,
                noise: float) -> dict[str, Any]:
    """Write `size` chunks into the home's store (resuming a build that stopped); its build figures."""
    marker = home / BUILT
    state = json.loads(marker.read_text()) if marker.exists() else {}
    if state.get("done"):
        print(f"{size:,} chunks: reusing {home} (built in {state['seconds'] / 60:.1f} min, {state['vectors']})", flush=True)
        return {"build_min": state["seconds"] / 60, "vectors": state["vectors"], "reused": True}
    from retrieval.index.store import ChromaStore

    settings = Settings.from_env(home=home, chroma_url="", llm="extractive")
    store = ChromaStore(settings, FixedVectors({}))
    store.split_lexical()  # as ingest does before it writes (a no-op on a store it created)
    written, articles, seconds = state.get("written", 0), state.get("articles", 0), state.get("seconds", 0.0)
    state = {"size": size, "vectors": state.get("vectors", vectors.description), "done": False}
    print(f"{size:,} chunks: building {home}" + (f" (resuming at {written:,})" if written else ""), flush=True)
    started, shown = time.perf_counter() - seconds, 0.0
    pending: list[tuple[list[str], list[str], list[dict[str, Any]], list[list[float]]]] = []
    for ids, texts, metas, vecs in synthetic_articles(templates, vectors, noise, settings.dense_chunks, articles):
        if written + sum(len(p[0]) for p in pending) + len(ids) >= size:  # the last article, cut to size
            keep = size - written - sum(len(p[0]) for p in pending)
            ids, texts, metas, vecs = ids[:keep], texts[:keep], metas[:keep], vecs[:keep]
            for meta in metas:
                meta["n_chunks"] = keep
            pending.append((ids, texts, metas, vecs))
        else:
            pending.append((ids, texts, metas, vecs))
            if sum(len(p[0]) for p in pending) < batch:
                continue
        store.upsert(*(sum((list(p[k]) for p in pending), []) for k in range(4)))
        written += sum(len(p[0]) for p in pending)
        articles += len(pending)
        pending = []
        seconds = time.perf_counter() - started
        marker.write_text(json.dumps({**state, "written": written, "articles": articles, "seconds": seconds}))
        if written >= size or seconds - shown >= 30:
            shown = seconds
            rate = written / seconds if seconds else 0.0
            eta = (size - written) / rate / 60 if rate else 0.0
            print(f"  {written:,} / {size:,} chunks, {seconds / 60:.1f} min, {rate:,.0f} chunks/s, ~{eta:.1f} min to go", flush=True)
        if written >= size:
            break
    state.update(written=written, articles=articles, seconds=seconds, done=True)
    marker.write_text(json.dumps(state))
    print(f"  built {size:,} chunks in {seconds / 60:.1f} min", flush=True)
    _stop_local_stores()
    return {"build_min": seconds / 60, "vectors": state["vectors"], "reused": False}


def _stop_local_stores() -> None:
    """Close the stores this process opened: the measured process must be the only reader."""
    from chromadb.api.shared_system_client import SharedSystemClient

    for identifier in list(SharedSystemClient._identifier_to_system):
        system = SharedSystemClient._identifier_to_system.pop(identifier, None)
        if system is not None:
            system.stop()


def prepare_bm25(home: Path) -> dict[str, Any]:
    """Build the BM25 cache in a process of its own when there is none (what a first search or a
    merge costs at this size); the measured process then loads it, as a restarted bot does."""
    built = home / "scale-bm25.json"
    if not any((home / "cache").glob("bm25-*.pkl")) or not built.exists():
        figures = worker("bm25", home)
        built.write_text(json.dumps(figures))
        print(f"  BM25 index built in {figures['bm25_build_s']:.1f} s, peak {figures['bm25_build_peak_mib']:,.0f} MiB", flush=True)
    return dict(json.loads(built.read_text()))


# --- the measured processes --------------------------------------------------------------------


def worker(kind: str, home: Path, queries: Path | None = None, profile: bool = False) -> dict[str, Any]:
    out = home / f"scale-{kind}-out.json"
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", kind, "--home", str(home), "--out", str(out)]
    if queries:
        command += ["--queries-file", str(queries)]
    if profile:
        command.append("--profile")
    subprocess.run(command, check=True)
    return dict(json.loads(out.read_text()))


def run_worker(args: argparse.Namespace) -> None:
    figures = bm25_worker(args.home) if args.worker == "bm25" else measure_worker(args.home, args.queries_file, args.profile)
    args.out.write_text(json.dumps(figures))


def _desk(home: Path, vectors: dict[str, list[float]]) -> Any:
    from retrieval import NewsDesk

    return NewsDesk(Settings.from_env(home=home, chroma_url="", llm="extractive"), FixedVectors(vectors))


def bm25_worker(home: Path) -> dict[str, Any]:
    from retrieval.index.lexical import LexicalIndex

    desk = _desk(home, {})
    t = time.perf_counter()
    LexicalIndex.load_or_build(desk.store, desk.settings.cache_dir, rebuild=True)
    return {"bm25_build_s": time.perf_counter() - t, "bm25_build_peak_mib": proc_status("VmHWM")}


def measure_worker(home: Path, queries_file: Path, profile: bool) -> dict[str, Any]:
    queries = json.loads(queries_file.read_text())
    questions = [(q, dt.date.fromisoformat(a) if a else None) for q, a in queries["questions"]]
    vectors = {" ".join(q.split()): v for (q, _), v in zip(questions, queries["vectors"])}
    load_before = os.getloadavg()[0]
    t = time.perf_counter()
    desk = _desk(home, vectors)
    index = desk.lexical()  # loads the BM25 cache
    bm25_load = time.perf_counter() - t
    t = time.perf_counter()
    desk.search(questions[0][0], as_of=questions[0][1])  # opens the vector index
    first_search = time.perf_counter() - t
    rss = proc_status("VmRSS")

    n = desk.settings.candidates
    times: dict[str, list[float]] = {"dense": [], "lexical": [], "whole": []}
    profiler = cProfile.Profile() if profile else None
    for question, as_of in questions:
        key = " ".join(question.split())
        if profiler:
            profiler.enable()
        t = time.perf_counter()
        desk.search(question, as_of=as_of)
        times["whole"].append(time.perf_counter() - t)
        t = time.perf_counter()
        desk.store.dense(vectors[key], n)
        times["dense"].append(time.perf_counter() - t)
        t = time.perf_counter()
        hits = index.search(key, n)
        desk.store.get([h.chunk_id for h in hits])
        times["lexical"].append(time.perf_counter() - t)
        if profiler:
            profiler.disable()

    figures: dict[str, Any] = {
        "dense_chunks": int(desk.store.collection.count()),
        "lexical_chunks": int(desk.store.lexical_collection.count()),
        "legacy_filter": bool(desk.store.legacy),  # dense queries filtered on `dense` (an old layout)
        "bm25_load_s": bm25_load, "first_search_s": first_search,
        "rss_mib": rss, "peak_rss_mib": proc_status("VmHWM"),
        "bm25_cache_mib": sum(f.stat().st_size for f in (home / "cache").glob("bm25-*.pkl")) / 2**20,
        "store_mib": disk_mib(home / "chroma"),
        "load_avg": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }
    for part, values in times.items():
        ms = [v * 1000 for v in values]
        figures[f"{part}_p50_ms"], figures[f"{part}_p95_ms"] = statistics.median(ms), percentile(ms, 95)
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(25)
        figures["profile"] = out.getvalue()
    return figures


def proc_status(field: str) -> float:
    """A memory figure of this process from /proc/self/status (VmRSS, VmHWM), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def disk_mib(path: Path) -> float:
    """Space the files under `path` take on disk (as du counts it)."""
    return sum(f.stat().st_blocks * 512 for f in path.rglob("*") if f.is_file()) / 2**20


# --- the report --------------------------------------------------------------------------------

COLUMNS = [
    ("chunks", "{:,}"), ("embedded", "{:,}"), ("build min", "{:.1f}"), ("BM25 build s", "{:.1f}"),
    ("BM25 load s", "{:.1f}"), ("dense p50/p95 ms", "{}"), ("lexical p50/p95 ms", "{}"), ("whole p50/p95 ms", "{}"),
    ("RSS MiB", "{:,.0f}"), ("peak RSS MiB", "{:,.0f}"), ("BM25 cache MiB", "{:,.0f}"), ("store MiB", "{:,.0f}"),
]


def _cells(row: dict[str, Any]) -> list[str]:
    pair = lambda part: f"{row[part + '_p50_ms']:.1f} / {row[part + '_p95_ms']:.1f}"  # noqa: E731
    values = [row["dense_chunks"] + row["lexical_chunks"], row["dense_chunks"], row["build_min"], row["bm25_build_s"],
              row["bm25_load_s"], pair("dense"), pair("lexical"), pair("whole"), row["rss_mib"], row["peak_rss_mib"],
              row["bm25_cache_mib"], row["store_mib"]]
    return [fmt.format(v) for (_, fmt), v in zip(COLUMNS, values)]


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| " + " | ".join(name for name, _ in COLUMNS) + " |", "|" + "---:|" * len(COLUMNS)]
    lines += ["| " + " | ".join(_cells(r)) + " |" for r in rows]
    return "\n".join(lines)


def print_row(row: dict[str, Any]) -> None:
    print("  " + ", ".join(f"{name} {cell}" for (name, _), cell in zip(COLUMNS, _cells(row))), flush=True)
    print(f"  first search {row['first_search_s']:.1f} s; load average {row['load_avg'][0]} → {row['load_avg'][1]}", flush=True)
    if row["legacy_filter"]:
        print("  WARNING: the store is marked as of the old layout, so its dense queries ran filtered", flush=True)


def _shape(exponent: float) -> str:
    if exponent < 0.25:
        return "barely grows"
    if exponent < 0.8:
        return "grows sub-linearly"
    if exponent <= 1.2:
        return "grows linearly"
    return "grows faster than linearly"


def _fit(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float]:
    """Least-squares line y = a + b·x."""
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    return my - b * mx, b


def growth_of(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """p50 ratios largest/smallest size (and the exponent k of p50 ∝ chunks^k), and memory per
    100k chunks from a linear fit over all sizes."""
    if len(rows) < 2:
        return {"statements": ["one size measured: no growth to state"]}
    first, last = rows[0], rows[-1]
    scale = last["chunks"] / first["chunks"]
    growth: dict[str, Any] = {"statements": []}
    for part in ("dense", "lexical", "whole"):
        ratio = last[f"{part}_p50_ms"] / first[f"{part}_p50_ms"]
        exponent = math.log(ratio) / math.log(scale)
        growth[part] = {"p50_ratio": ratio, "exponent": exponent}
        growth["statements"].append(
            f"{part} p50 {_shape(exponent)}: {first[f'{part}_p50_ms']:.1f} → {last[f'{part}_p50_ms']:.1f} ms "
            f"(×{ratio:.2f} for ×{scale:.0f} chunks, p50 ∝ chunks^{exponent:.2f})")
    xs = [r["chunks"] for r in rows]
    for key, what in (("rss_mib", "RSS after warm-up"), ("peak_rss_mib", "peak RSS"),
                      ("bm25_cache_mib", "BM25 cache"), ("store_mib", "store on disk")):
        base, slope = _fit(xs, [r[key] for r in rows])
        growth[key] = {"mib_per_100k": slope * 100_000, "intercept_mib": base}
        at_million = base + slope * 1_000_000
        measured = next((r[key] for r in rows if r["chunks"] == 1_000_000), None)
        million = (f"1M chunks = {measured / 1024:.2f} GiB (measured)" if measured is not None
                   else f"1M chunks ≈ {at_million / 1024:.2f} GiB (extrapolated)")
        growth["statements"].append(f"{what}: {slope * 100_000:,.0f} MiB per 100k chunks over {base:,.0f} MiB; {million}")
    return growth


if __name__ == "__main__":
    main()
