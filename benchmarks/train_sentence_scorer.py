"""Rebuild retrieval/answer/models/sentence_scorer.{txt,json} from the dev questions, with 5-fold
cross-validated figures (split by question).

    .venv/bin/python benchmarks/train_sentence_scorer.py --home EVAL_HOME [--limit N] [--out DIR]

EVAL_HOME is the index `newsbot eval` builds from ../shared/data/realtimeqa/articles.jsonl
($NEWSBOT_HOME/eval/articles-<digest>). For every answerable dev question (and every question
whose answer is in no article, as all-negative groups) it runs the real search as of the
question's date, takes the candidate sentences the answer pipeline would see, and labels a
sentence positive when it contains the SQuAD-normalised gold answer. The features are cached
in --out, keyed by the index revision and the code that computes them, so re-training is seconds.

It reports, out of fold: sentence AUC, and "gold shown" — how often the passages the model
would be shown contain the gold answer — for today's cosine selection and the learned one,
plus the scorer's confidence on answerable vs absent-answer questions (the abstention signal).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pickle
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.dev_questions import add_data_arguments, questions_and_absent  # noqa: E402
from retrieval import NewsDesk, Settings, checked_question  # noqa: E402
from retrieval.answer import passages as passage_selection  # noqa: E402
from retrieval.answer import answer_type, sentences  # noqa: E402
from retrieval.evaluation.metrics import contains  # noqa: E402
PARAMS = {
    "objective": "binary",
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_data_in_leaf": 40,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "verbose": -1,
    "seed": 7,
    "deterministic": True,
    "num_threads": 2,
}
ROUNDS = 300


def collect(desk: NewsDesk, questions: list, absent: set[str], cache: Path) -> list[dict]:  # type: ignore[type-arg]
    """Per question: candidate sentences, features, labels, and today's selection's text.

    Each question's row is appended to a cache file as soon as it is computed (keyed by the index
    revision and the features), so a killed run resumes where it stopped: on 2 busy cores the
    whole dev set takes the better part of an hour."""
    code = b"".join(Path(m.__file__).read_bytes() for m in (sentences, answer_type))  # how features are computed
    key = hashlib.blake2b(desk.store.revision().encode() + b"|" + code, digest_size=8).hexdigest()
    path = cache / f"sentence-data-{key}.pkl"
    done = {g["id"]: g for g in _read_rows(path)}
    cache.mkdir(parents=True, exist_ok=True)
    with path.open("ab") as sink:
        for i, q in enumerate(questions, 1):
            if q.id not in done:
                done[q.id] = _row(desk, q, absent)
                pickle.dump(done[q.id], sink)
                sink.flush()
            if i % 50 == 0:
                print(f"  {i}/{len(questions)} questions", file=sys.stderr)
    return [done[q.id] for q in questions]


def _read_rows(path: Path) -> list[dict]:  # type: ignore[type-arg]
    rows = []
    if path.exists():
        with path.open("rb") as f:
            while True:
                try:
                    rows.append(pickle.load(f))
                except (EOFError, pickle.UnpicklingError):  # the end, or a row cut short by a kill
                    break
    return rows


def _row(desk: NewsDesk, q, absent: set[str]) -> dict:  # type: ignore[no-untyped-def, type-arg]
    question = checked_question(q.question)  # as the answer pipeline gets it: markup stripped
    result = desk.search(question, as_of=q.date)
    cands = sentences.candidates(result.articles)
    old = passage_selection.select_passages_by_cosine(question, result.articles, desk.embedder)
    return {
        "id": q.id,
        "answer": q.answer,
        "absent": q.id in absent,
        "texts": [c.text for c in cands],
        "articles": [c.hit.article_id for c in cands],
        "order": [(c.chunk_index, c.sentence_index) for c in cands],
        "X": sentences.features(question, cands, desk.embedder, q.date),
        "y": np.array([contains(c.text, q.answer) for c in cands], dtype=float),
        "old_shown": " ".join(p.text for p in old),
    }


def shown_text(group: dict, scores: np.ndarray, **budget: int) -> str:  # type: ignore[type-arg]
    picked = passage_selection.choose(
        list(zip(group["articles"], group["order"], group["texts"])), list(scores), **budget
    )
    return " ".join(text for _, texts in picked for text in texts)


def train(  # type: ignore[no-untyped-def]
    X: np.ndarray,
    y: np.ndarray,
    params: dict = PARAMS,  # type: ignore[type-arg]
    rounds: int = ROUNDS,
    names: list[str] | None = None,
    sizes: np.ndarray | None = None,
):
    """`names` default to FEATURES (benchmarks/cross_encoder.py appends one column); `sizes`, the
    rows per question, only for a ranking objective (benchmarks/sentence_context.py)."""
    import lightgbm

    names = names or [*sentences.FEATURES, "cross_encoder"][: X.shape[1]]
    data = lightgbm.Dataset(X, y, group=sizes, feature_name=names, categorical_feature=["question_type"])
    return lightgbm.train(params, data, num_boost_round=rounds)


def splits_of(groups: list[dict], folds: int) -> list[tuple[np.ndarray, np.ndarray]]:  # type: ignore[type-arg]
    """Row indices (train, test) of each fold, split by question."""
    from sklearn.model_selection import GroupKFold

    index = np.concatenate([[i] * len(g["y"]) for i, g in enumerate(groups)])
    return list(GroupKFold(n_splits=folds).split(index, index, index))


def append_column(groups: list[dict], column: np.ndarray) -> None:  # type: ignore[type-arg]
    """One more feature: `column` holds a value per sentence, in the groups' order."""
    start = 0
    for g in groups:
        g["X"] = np.hstack([g["X"], column[start : start + len(g["y"]), None]])
        start += len(g["y"])


def out_of_fold(groups: list[dict], folds: int = 5, **settings) -> list[np.ndarray]:  # type: ignore[no-untyped-def, type-arg]
    """Each group's sentence scores from a model that never saw its question; `settings` go to
    `train` (params, rounds, names)."""
    index = np.concatenate([[i] * len(g["y"]) for i, g in enumerate(groups)])
    X = np.vstack([g["X"] for g in groups])
    y = np.concatenate([g["y"] for g in groups])
    ranking = settings.get("params", PARAMS)["objective"] != "binary"
    scores = np.zeros(len(y))
    for train_idx, test_idx in splits_of(groups, folds):
        sizes = np.unique(index[train_idx], return_counts=True)[1] if ranking else None  # rows come by question
        scores[test_idx] = train(X[train_idx], y[train_idx], sizes=sizes, **settings).predict(X[test_idx])
    return [scores[index == i] for i in range(len(groups))]


BUDGETS = [(articles, chars) for articles in (3, 4, 5) for chars in (1080, 1440, 1800)]


def evaluate(groups: list[dict], folds: int = 5, scores: list[np.ndarray] | None = None) -> dict[str, float]:  # type: ignore[type-arg]
    """`scores`: the usable groups' out-of-fold scores, when the caller already has them."""
    from sklearn.metrics import roc_auc_score

    usable = [g for g in groups if len(g["y"])]
    scores = out_of_fold(usable, folds) if scores is None else scores
    y = np.concatenate([g["y"] for g in usable])
    cosine = [g["X"][:, sentences.FEATURES.index("cosine")] for g in usable]
    figures = {"sentences": int(len(y)), "positives": int(y.sum())}
    figures["auc"] = float(roc_auc_score(y, np.concatenate(scores)))
    figures["auc_cosine"] = float(roc_auc_score(y, np.concatenate(cosine)))
    answerable = [i for i, g in enumerate(usable) if not g["absent"]]

    def gold_shown(per_group: list[np.ndarray], **budget: int) -> float:
        return float(np.mean([contains(shown_text(usable[i], per_group[i], **budget), usable[i]["answer"]) for i in answerable]))

    figures["gold_shown_today"] = float(np.mean([contains(usable[i]["old_shown"], usable[i]["answer"]) for i in answerable]))
    figures["gold_shown_cosine_choose"] = gold_shown(cosine)
    figures["gold_shown_learned"] = gold_shown(scores)
    for articles, chars in BUDGETS:
        figures[f"gold_shown_learned_{articles}x{chars}"] = gold_shown(scores, max_articles=articles, budget=chars)
    figures["gold_in_candidates"] = float(np.mean([usable[i]["y"].any() for i in answerable]))
    confidence = np.array([s.max() for s in scores])
    absent = np.array([g["absent"] for g in usable])
    for t in (0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2):
        figures[f"abstain@{t}_answerable"] = float((confidence[~absent] < t).mean())
        figures[f"abstain@{t}_absent"] = float((confidence[absent] < t).mean()) if absent.any() else float("nan")
    figures["questions_answerable"] = len(answerable)
    figures["questions_absent"] = int(absent.sum())
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_arguments(parser)
    parser.add_argument("--limit", type=int, help="only the first N questions (a smoke run)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out")
    parser.add_argument("--model-dir", type=Path, default=sentences.MODEL_DIR)
    args = parser.parse_args()

    questions, absent = questions_and_absent(args)
    chosen = [q for q in questions if q.answerable or q.id in absent][: args.limit]
    desk = NewsDesk(Settings.from_env(home=args.home))
    groups = collect(desk, chosen, absent, args.out)
    figures = evaluate(groups, folds=min(5, max(2, len(groups) // 4)))
    print(json.dumps(figures, indent=2))

    X = np.vstack([g["X"] for g in groups if len(g["y"])])
    y = np.concatenate([g["y"] for g in groups if len(g["y"])])
    model = train(X, y).model_to_string().encode()
    args.model_dir.mkdir(parents=True, exist_ok=True)
    (args.model_dir / sentences.MODEL_FILE.name).write_bytes(model)
    manifest = {
        "sha256": hashlib.sha256(model).hexdigest(),
        "features": list(sentences.FEATURES),
        "params": PARAMS,
        "rounds": ROUNDS,
        "trained_on": {"questions": args.questions.name, "groups": len(groups), "sentences": int(len(y))},
        "cross_validated": figures,
    }
    (args.model_dir / sentences.MANIFEST_FILE.name).write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote {args.model_dir / sentences.MODEL_FILE.name} ({len(model):,} bytes)", file=sys.stderr)


if __name__ == "__main__":
    main()
