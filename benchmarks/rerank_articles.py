"""Does answer-sentence evidence re-rank articles better than the fused search? (issue #11, lever 1)

    .venv/bin/python benchmarks/rerank_articles.py benchmarks/out/sentence-data-<key>.pkl [--articles FILE] [--cross FILE]

Reads the per-question cache benchmarks/train_sentence_scorer.py writes (the top five articles of
the real search for each dev question, with every candidate sentence's features), scores the
sentences out of fold (5 folds split by question), and compares, over the answerable questions
with an answer-bearing article among those five, recall@1 and @3 of:
  - the fused search order (today);
  - articles ordered by their best sentence's P(holds the answer);
  - a LightGBM lambdarank over per-article features (fused rank and score, best cosine, headline
    overlap, days to as_of, published after as_of, best / mean-of-3 sentence P, sentence count,
    best word overlap, question type), itself cross-validated by question.
An article is relevant when its title + text contains the SQuAD-normalised gold answer, as in
`newsbot eval`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import train_sentence_scorer as trainer  # noqa: E402
from benchmarks.dev_questions import DATA  # noqa: E402
from retrieval.answer.sentences import FEATURES  # noqa: E402
from retrieval.evaluation.metrics import contains  # noqa: E402
from retrieval.ids import article_id  # noqa: E402

ARTICLE_COLUMNS = ("article_rank", "article_score", "article_dense", "title_overlap", "days_before", "after_as_of")


def article_texts(path: Path) -> dict[str, str]:
    texts = {}
    for line in path.open(encoding="utf-8"):
        a = json.loads(line)
        url, title, text = a.get("url") or "", a.get("title") or "", a.get("text") or ""
        texts[article_id(url, title, text)] = f"{title} {text}"
    return texts


def per_article(groups: list[dict], scores: list[np.ndarray], texts: dict[str, str]):  # type: ignore[no-untyped-def, type-arg]
    """(question, features, relevant) for each candidate article of each usable question."""
    col = {name: FEATURES.index(name) for name in (*ARTICLE_COLUMNS, "cosine", "overlap", "question_type")}
    rows, labels, qids = [], [], []
    for qi, (g, s) in enumerate(zip(groups, scores)):
        by_article: dict[str, list[int]] = {}
        for k, aid in enumerate(g["articles"]):
            by_article.setdefault(aid, []).append(k)
        relevant = {aid: contains(texts.get(aid, ""), g["answer"]) for aid in by_article}
        if g["absent"] or not any(relevant.values()):
            continue
        for aid, ks in by_article.items():
            x, p = g["X"][ks], np.sort(s[ks])[::-1]
            rows.append([*(x[0, col[c]] for c in ARTICLE_COLUMNS), p[0], p[:3].mean(), len(ks),
                         x[:, col["cosine"]].max(), x[:, col["overlap"]].max(), x[0, col["question_type"]]])
            labels.append(int(relevant[aid]))
            qids.append(qi)
    return np.array(rows), np.array(labels), np.array(qids)


def recall(order_key: np.ndarray, labels: np.ndarray, qids: np.ndarray) -> tuple[float, float]:
    """Recall@1 and @3 when each question's articles are sorted by order_key, highest first."""
    at1, at3 = [], []
    for q in dict.fromkeys(qids):
        mine = qids == q
        ranked = labels[mine][np.argsort(-order_key[mine], kind="stable")]
        at1.append(ranked[0])
        at3.append(ranked[:3].any())
    return float(np.mean(at1)), float(np.mean(at3))


def lambdarank_out_of_fold(X: np.ndarray, y: np.ndarray, qids: np.ndarray) -> np.ndarray:
    import lightgbm
    from sklearn.model_selection import GroupKFold

    params = {"objective": "lambdarank", "num_leaves": 7, "min_data_in_leaf": 20, "learning_rate": 0.05,
              "verbose": -1, "seed": 7, "deterministic": True, "num_threads": 2}
    out = np.zeros(len(y))
    folds = min(5, len(set(qids.tolist())))
    for train_idx, test_idx in GroupKFold(n_splits=folds).split(X, y, qids):
        sizes = [int(np.sum(qids[train_idx] == q)) for q in dict.fromkeys(qids[train_idx])]
        model = lightgbm.train(params, lightgbm.Dataset(X[train_idx], y[train_idx], group=sizes), 150)
        out[test_idx] = model.predict(X[test_idx])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("cache", type=Path)
    parser.add_argument("--articles", type=Path, default=DATA / "articles.jsonl")
    parser.add_argument("--cross", type=Path, help="the trainer's cross-oof-<key>.npy: sentences scored with the cross-encoder too")
    args = parser.parse_args()
    groups = [g for g in trainer._read_rows(args.cache) if len(g["y"])]
    if args.cross:
        trainer.append_column(groups, np.load(args.cross))
    scores = trainer.out_of_fold(groups, folds=min(5, max(2, len(groups) // 4)))
    X, y, qids = per_article(groups, scores, article_texts(args.articles))
    figures = {
        "questions": int(len(set(qids.tolist()))),
        "fused search": recall(-X[:, 0], y, qids),
        "best sentence P": recall(X[:, len(ARTICLE_COLUMNS)], y, qids),
        "lambdarank": recall(lambdarank_out_of_fold(X, y, qids), y, qids),
    }
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
