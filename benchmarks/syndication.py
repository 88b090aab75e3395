"""Syndication clusters over a corpus, and pairs for a person to judge.

    .venv/bin/python benchmarks/syndication.py [../shared/data/realtimeqa/articles.jsonl]
        [--threshold 0.5] [--sweep 0.4 0.5 0.6] [--seed 1] [--pairs 30] [--below 10]

Prints the clusters of near-duplicate articles (retrieval/index/syndication.py) with their sizes,
how many span more than one outlet, and the time taken. Writes to benchmarks/out/ a markdown
file with --pairs pairs (one random pair from each of --pairs random clusters, so one big cluster
cannot fill the sample) and --below pairs just under the threshold (similarity within 0.15 of
it), each with outlets, titles, dates, similarity and the first 600 characters of both bodies.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from datasketch import MinHash, MinHashLSH  # noqa: E402

from retrieval.ids import body_hash  # noqa: E402
from retrieval.index import syndication as syn  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ARTICLES = ROOT.parent / "shared" / "data" / "realtimeqa" / "articles.jsonl"
BELOW = 0.15


def load(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def report(arts: list[dict], groups: list[list[int]], threshold: float, seconds: float) -> None:
    inside = sum(len(g) for g in groups)
    sizes = Counter(len(g) for g in groups)
    cross = sum(len({arts[i]["source"] for i in g}) > 1 for g in groups)
    # what the ingester's exact check (same body hash) does not already drop
    new = sum(len({body_hash(arts[i]["text"] or "") for i in g}) - 1 for g in groups)
    print(f"threshold {threshold:.2f} (bands x rows {syn.lsh_params(threshold)}): "
          f"{len(groups)} clusters of size >= 2, holding {inside} articles; "
          f"{inside - len(groups)} would fold away, {new} of them not exact copies; "
          f"{cross} span more than one outlet; {seconds:.1f} s")
    print("  sizes: " + ", ".join(f"{k}: {v}" for k, v in sorted(sizes.items())))


def below_pairs(
    sigs: list[MinHash], groups: list[list[int]], threshold: float
) -> list[tuple[int, int, float]]:
    """Pairs in different clusters whose similarity is in [threshold - BELOW, threshold)."""
    lo = max(threshold - BELOW, 0.05)
    cluster = {i: k for k, g in enumerate(groups) for i in g}
    lsh = MinHashLSH(threshold=lo, num_perm=syn.NUM_PERM, params=syn.lsh_params(lo))
    found = []
    for i, sig in enumerate(sigs):
        if sig.is_empty():
            continue
        for j in lsh.query(sig):
            s = syn.similarity(sig, sigs[j])
            same = i in cluster and cluster.get(j) == cluster[i]
            if lo <= s < threshold and not same:
                found.append((j, i, s))
        lsh.insert(i, sig)
    return sorted(found)


def body(text: str, n: int = 600) -> str:
    text = " ".join((text or "").split())
    return "> " + text[:n] + ("…" if len(text) > n else "")


def pair_md(k: int, arts: list[dict], i: int, j: int, sim: float) -> str:
    a, b = arts[i], arts[j]
    lines = [f"### {k}. similarity {sim:.2f} (articles {i} and {j})", "", "Verdict: ", ""]
    for label, x in (("A", a), ("B", b)):
        words = len(syn.words(x["text"] or ""))
        head = f"**{label}** `{x['source']}` {x['published']} ({words} words): {x['title']}  "
        lines += [head, x["url"], "", body(x["text"]), ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("articles", type=Path, nargs="?", default=ARTICLES)
    parser.add_argument("--threshold", type=float, default=syn.THRESHOLD)
    parser.add_argument("--sweep", type=float, nargs="*", default=[], help="also these thresholds")
    parser.add_argument("--seed", type=int, default=1, help="of the pair samples")
    parser.add_argument("--pairs", type=int, default=30)
    parser.add_argument("--below", type=int, default=10)
    parser.add_argument("--out", type=Path, help="the markdown file (default: under benchmarks/out/)")
    args = parser.parse_args()

    arts = load(args.articles)
    t = time.perf_counter()
    sigs = [syn.signature(a["text"] or "") for a in arts]
    sig_seconds = time.perf_counter() - t
    short = sum(s.is_empty() for s in sigs)
    print(f"{len(arts)} articles ({short} under {syn.MIN_WORDS} words, never folded); "
          f"signatures {sig_seconds:.1f} s ({1000 * sig_seconds / len(arts):.1f} ms each)")
    for threshold in sorted(set(args.sweep) - {args.threshold}):
        t = time.perf_counter()
        report(arts, syn.group(sigs, threshold), threshold, time.perf_counter() - t)
    t = time.perf_counter()
    groups = syn.group(sigs, args.threshold)
    report(arts, groups, args.threshold, time.perf_counter() - t)
    largest = sorted((len(g) for g in groups), reverse=True)[:5]
    print(f"  largest: {', '.join(map(str, largest))}; "
          f"total with signatures {sig_seconds + time.perf_counter() - t:.1f} s")

    rng = random.Random(args.seed)
    sample = []
    for g in rng.sample(groups, min(args.pairs, len(groups))):
        i, j = sorted(rng.sample(g, 2))
        sample.append((i, j, syn.similarity(sigs[i], sigs[j])))
    below = below_pairs(sigs, groups, args.threshold)
    below_sample = sorted(rng.sample(below, min(args.below, len(below))))
    lo = max(args.threshold - BELOW, 0.05)
    print(f"{len(below)} pairs with similarity in [{lo:.2f}, {args.threshold:.2f})")

    name = f"syndication-{args.threshold:.2f}-seed{args.seed}.md"
    out = args.out or ROOT / "benchmarks" / "out" / name
    out.parent.mkdir(parents=True, exist_ok=True)
    parts = [f"# Syndication pairs: threshold {args.threshold:.2f}, seed {args.seed}", "",
             f"{len(groups)} clusters; one random pair from each of {len(sample)} of them.", ""]
    parts += [pair_md(k, arts, i, j, s) for k, (i, j, s) in enumerate(sample, 1)]
    parts += ["", f"## Just below the threshold ({len(below_sample)} of {len(below)})", ""]
    parts += [pair_md(k, arts, i, j, s) for k, (i, j, s) in enumerate(below_sample, 1)]
    out.write_text("\n".join(parts), encoding="utf-8")
    print(f"pairs written to {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")


if __name__ == "__main__":
    main()
