"""`newsbot eval`: retrieval and answer quality on dated news questions (RealTime QA format).

Each question is asked with `as_of` = its question date. A retrieved article counts as
relevant when its title + text (from the articles file, as for the web ranking it is compared
with) contains the SQuAD-normalised gold answer. Per-question results are appended to a JSONL
file as they are computed, so a killed run resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from retrieval.ids import normalize_url
from retrieval.answer.model_files import AMX_FILENAME
from retrieval.answer.pipeline import WINDOW_GRACE
from retrieval.evaluation.absent import absent_answer_ids
from retrieval.evaluation.questions import Question, read_article_texts, read_questions
from retrieval.evaluation.metrics import (
    cited_numbers,
    contains,
    contains_loosely,
    exact_match,
    f1,
    first_hit,
    mrr_at,
    percentile,
    recall_at,
    strip_citations,
)
from retrieval.search.timeparse import parse_window
from retrieval.settings import Settings
from retrieval.types import Answer

log = logging.getLogger(__name__)

KS = (1, 3, 5, 10)
SEARCH_K = 10


def file_digest(path: Path) -> str:
    h = hashlib.blake2b(digest_size=16)
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:12]


def eval_home(settings: Settings, articles: Path) -> Path:
    """One index per articles file (by content), reused while the file is unchanged."""
    return settings.home / "eval" / f"{articles.stem}-{file_digest(articles)}"


@dataclass
class Report:
    mode: str
    questions: int = 0
    scored: int = 0
    short_answers: int = 0
    unanswerable: int = 0
    figures: dict[str, dict[str, float]] = field(default_factory=dict)
    latency: dict[str, dict[str, float]] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


class Evaluation:
    def __init__(self, settings: Settings, articles: Path, questions: Path, out: Path, mode: str = "retrieval") -> None:
        from retrieval.desk import NewsDesk

        self.settings = settings
        self.articles = articles
        self.questions_path = questions
        self.out = out
        self.mode = mode
        self.home = eval_home(settings, articles)
        self.desk = NewsDesk(_with_home(settings, self.home))

    # --- index ---------------------------------------------------------------------------------

    def ensure_index(self, progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
        """Ingest the articles file with the normal ingest code unless this exact index is built."""
        marker = self.home / "eval-index.json"
        signature = {"articles": file_digest(self.articles), "settings": self._index_settings()}
        if marker.exists() and json.loads(marker.read_text()).get("signature") == signature:
            return {"reused": True}
        report = self.desk.ingest([self.articles], progress=progress)
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(json.dumps({"signature": signature, "ingest": report.to_dict()}, indent=2))
        return {"reused": False, **report.to_dict()}

    def _index_settings(self) -> dict[str, Any]:
        s = self.settings
        return {"chunk_tokens": s.chunk_tokens, "dense_chunks": s.dense_chunks, "embedder": self.desk.embedder.name}

    # --- questions -----------------------------------------------------------------------------

    def run(self, limit: int | None = None, progress: Callable[[int, int], None] | None = None) -> Report:
        questions = read_questions(self.questions_path)
        answerable = [q for q in questions if q.answerable]
        chosen = answerable[:limit] if limit else answerable
        if self.mode == "answer":  # the right reply to these is "I couldn't find this"
            absent = absent_answer_ids(questions, self.articles)
            chosen += [q for q in questions if q.id in absent][:limit]
        texts = read_article_texts(self.articles)
        self.out.mkdir(parents=True, exist_ok=True)
        results_path = self.out / f"results-{self.mode}.jsonl"
        done = self._load_done(results_path)
        with results_path.open("a", encoding="utf-8") as sink:
            for i, q in enumerate(chosen, 1):
                if q.id not in done:
                    row = self._ask(q, texts)
                    sink.write(json.dumps(row) + "\n")
                    sink.flush()
                    done[q.id] = row
                if progress:
                    progress(i, len(chosen))
        rows = [done[q.id] for q in chosen]
        if self.mode == "answer":  # from the stored answer, so the rows of earlier runs have it too
            for q, row in zip(chosen, rows):
                row["contains_loose"] = not row["abstained"] and contains_loosely(strip_citations(row["answer"]), q.answer)
        report = summarize(rows, self.mode)
        report.unanswerable = len(questions) - len(answerable)
        report.config = {
            "articles": str(self.articles),
            "questions": str(self.questions_path),
            "index": str(self.home),
            **self._index_settings(),
            "embed_precision": getattr(self.desk.embedder, "precision", None),  # what "auto" chose here
            "candidates": self.settings.candidates,
            "rrf_k": self.settings.rrf_k,
            "recency_days": self.settings.recency_days,
            "recency_bonus": self.settings.recency_bonus,
            "llm": self.settings.llm if self.mode == "answer" else None,
        }
        return report

    @cached_property
    def fingerprint(self) -> str:
        """Every setting that can change a result (paths aside): rows of other runs are not reused."""
        settings = {k: v for k, v in asdict(self.settings).items() if k not in ("home", "llm_model_dir", "llm_amx")}
        if self.mode != "answer":
            settings = {k: v for k, v in settings.items() if not k.startswith("llm")}
        else:
            from retrieval.answer.prompt import prompt_signature

            from retrieval.answer import sentences

            settings["prompts"] = hashlib.blake2b(prompt_signature().encode(), digest_size=6).hexdigest()
            if self.settings.sentence_scorer and sentences.MANIFEST_FILE.exists():
                settings["scorer"] = json.loads(sentences.MANIFEST_FILE.read_text()).get("sha256")
            model_path = getattr(self.desk.llm().model, "model_path", "")
            if model_path.endswith(AMX_FILENAME):  # the bundled model as Q8_0: other answers than Q4_K_M's
                settings["llm_file"] = AMX_FILENAME
        raw = json.dumps({"mode": self.mode, **settings}, sort_keys=True, default=str)
        return hashlib.blake2b(raw.encode(), digest_size=6).hexdigest()

    def _load_done(self, path: Path) -> dict[str, dict[str, Any]]:
        """Rows of an earlier (killed) run with the same configuration; others are discarded."""
        done: dict[str, dict[str, Any]] = {}
        fingerprint = self.fingerprint
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut short by the kill
                if row.get("fingerprint") == fingerprint:
                    done[row["id"]] = row
            path.write_text("".join(json.dumps(r) + "\n" for r in done.values()), encoding="utf-8")
        return done

    def _ask(self, q: Question, texts: dict[str, str]) -> dict[str, Any]:
        relevant = lambda url: contains(texts.get(normalize_url(url), ""), q.answer)  # noqa: E731
        started = time.perf_counter()
        result = self.desk.search(q.question, SEARCH_K, as_of=q.date)
        search_seconds = time.perf_counter() - started
        passages = sorted(
            (p for a in result.articles for p in a.passages), key=lambda p: -p.score
        )[:SEARCH_K]
        row: dict[str, Any] = {
            "id": q.id,
            "fingerprint": self.fingerprint,
            "absent": not q.answerable,
            "scorable": q.scorable,
            "rank": first_hit([relevant(a.url) for a in result.articles]),
            "web_rank": first_hit([relevant(u) for u in q.web_ranking[:SEARCH_K]]),
            "chunk_rank": first_hit([contains(p.text, q.answer) for p in passages]),
            "top_similarity": result.top_similarity,
            "search_seconds": search_seconds,
        }
        if self.mode == "answer":
            row.update(self._answer(q, texts))
        return row

    def _answer(self, q: Question, texts: dict[str, str]) -> dict[str, Any]:
        started = time.perf_counter()
        answer = self.desk.answer(q.question, as_of=q.date)
        seconds = time.perf_counter() - started
        text = strip_citations(answer.text)
        numbers = cited_numbers(answer.text)
        listed = {c.n for c in answer.citations}
        return {
            "answer": answer.text,
            "abstained": answer.abstained,
            "contains": (not answer.abstained) and contains(text, q.answer),
            "em": 0.0 if answer.abstained else exact_match(text, q.answer),
            "f1": 0.0 if answer.abstained else f1(text, q.answer),
            "gold_shown": contains(" ".join(answer.shown), q.answer),
            "in_window": _cited_in_window(q, answer),
            "caveated": answer.text.startswith("The newest I have on this is from"),
            "citations_valid": numbers <= listed and bool(listed) == bool(numbers),
            "cited_supports": any(contains(texts.get(normalize_url(c.url), c.quote), q.answer) for c in answer.citations),
            "answer_seconds": seconds,
            "first_token_seconds": answer.timings.get("first_token", seconds),
            "prompt_tokens": answer.timings.get("prompt_tokens"),
        }


def _cited_in_window(q: Question, answer: Answer) -> bool | None:
    """Whether a cited source is from the time the question names; None when it names none."""
    window = parse_window(q.question, q.date) if q.date else None
    if window is None or answer.abstained:
        return None
    return any(window[0] - WINDOW_GRACE <= c.published <= window[1] for c in answer.citations if c.published)


def _with_home(settings: Settings, home: Path) -> Settings:
    from dataclasses import replace

    return replace(settings, home=home)


def summarize(all_rows: list[dict[str, Any]], mode: str) -> Report:
    rows = [r for r in all_rows if not r.get("absent")]
    absent = [r for r in all_rows if r.get("absent")]
    scored = [r for r in rows if r["scorable"]]
    report = Report(mode=mode, questions=len(rows), scored=len(scored), short_answers=len(rows) - len(scored))
    for name, key in (("newsbot", "rank"), ("web", "web_rank"), ("newsbot_chunks", "chunk_rank")):
        ranks = [r[key] for r in scored]
        report.figures[name] = {f"recall@{k}": recall_at(ranks, k) for k in KS}
        report.figures[name]["mrr@10"] = mrr_at(ranks, 10)
    report.latency["search"] = _latency([r["search_seconds"] for r in rows])
    if mode == "answer":
        n = len(rows) or 1
        answered = [r for r in rows if not r["abstained"]]
        report.figures["answers"] = {
            "contains": sum(r["contains"] for r in rows) / n,
            "contains_loose": sum(r.get("contains_loose", r["contains"]) for r in rows) / n,
            "exact_match": sum(r["em"] for r in rows) / n,
            "f1": sum(r["f1"] for r in rows) / n,
            "abstention": sum(r["abstained"] for r in rows) / n,
            "gold_shown": sum(r.get("gold_shown", False) for r in rows) / n,
            **_window_figures(rows),
            "citations_valid": sum(r["citations_valid"] for r in answered) / (len(answered) or 1),
            "cited_supports": sum(r["cited_supports"] for r in answered) / (len(answered) or 1),
        }
        if absent:
            report.figures["absent_answer"] = {
                "questions": len(absent),
                "abstention": sum(r["abstained"] for r in absent) / len(absent),
            }
        report.latency["answer"] = _latency([r["answer_seconds"] for r in rows])
        report.latency["first_token"] = _latency([r["first_token_seconds"] for r in rows])
        tokens = [r["prompt_tokens"] for r in rows if r.get("prompt_tokens")]
        if tokens:
            report.latency["prompt_tokens"] = {"p50": percentile(tokens, 50), "p95": percentile(tokens, 95)}
    return report


def _window_figures(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Of the answers to questions that name a time: how often a cited source is from then, and
    how often an answer from older news says so."""
    timed = [r for r in rows if r.get("in_window") is not None]
    if not timed:
        return {}
    old = [r for r in timed if not r["in_window"]]
    return {
        "timed_questions": float(len(timed)),
        "cited_in_window": sum(r["in_window"] for r in timed) / len(timed),
        "old_news_flagged": sum(r.get("caveated", False) for r in old) / len(old) if old else 1.0,
    }


def _latency(values: list[float]) -> dict[str, float]:
    return {"p50": percentile(values, 50), "p95": percentile(values, 95)}


# --- output -------------------------------------------------------------------------------------


def markdown_table(report: Report) -> str:
    lines = [
        f"Questions: {report.questions} answerable from the articles; {report.scored} scored "
        f"({report.short_answers} with answers of 1–2 characters left out of recall).",
        "",
        "| ranking | " + " | ".join(f"R@{k}" for k in KS) + " | MRR@10 |",
        "|---|" + "---:|" * (len(KS) + 1),
    ]
    labels = {"newsbot": "newsbot (articles)", "web": "web search (gcs_ranked_urls)", "newsbot_chunks": "newsbot (passages)"}
    for name, label in labels.items():
        f = report.figures[name]
        lines.append(f"| {label} | " + " | ".join(f"{f[f'recall@{k}']:.3f}" for k in KS) + f" | {f['mrr@10']:.3f} |")
    if "answers" in report.figures:
        a = report.figures["answers"]
        lines += [
            "",
            "| contains | EM | F1 | abstained | citations valid | cited article has answer |",
            "|---:|---:|---:|---:|---:|---:|",
            f"| {a['contains']:.3f} | {a['exact_match']:.3f} | {a['f1']:.3f} | {a['abstention']:.3f} "
            f"| {a['citations_valid']:.3f} | {a['cited_supports']:.3f} |",
            "",
            f"Contains, with Unicode punctuation stripped as well (a curly “’” in the gold answer): {a['contains_loose']:.3f}.",
            f"Gold answer in the passages shown to the model: {a['gold_shown']:.3f}.",
        ]
        if "timed_questions" in a:
            lines.append(
                f"Of {a['timed_questions']:.0f} answers to questions naming a time, a cited source is from then "
                f"for {a['cited_in_window']:.3f}; {a['old_news_flagged']:.3f} of the others say how old their news is."
            )
        if "absent_answer" in report.figures:
            b = report.figures["absent_answer"]
            lines.append(f"Abstained on {b['abstention']:.3f} of the {b['questions']} questions whose answer is in no article.")
    lines += ["", "| latency (s) | p50 | p95 |", "|---|---:|---:|"]
    for name, v in report.latency.items():
        lines.append(f"| {name} | {v['p50']:.3f} | {v['p95']:.3f} |")
    return "\n".join(lines)


def write_outputs(report: Report, out: Path) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / f"report-{report.mode}.json", "markdown": out / f"report-{report.mode}.md", "plot": out / f"recall-{report.mode}.png"}
    paths["json"].write_text(json.dumps(report.to_dict(), indent=2))
    paths["markdown"].write_text(markdown_table(report) + "\n")
    _plot(report, paths["plot"])
    return paths


def _plot(report: Report, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    for name, label, style in (("newsbot", "newsbot (articles)", "o-"), ("web", "web search ranking", "s--"), ("newsbot_chunks", "newsbot (passages)", "^:")):
        ax.plot(KS, [report.figures[name][f"recall@{k}"] for k in KS], style, label=label)
    ax.set_xlabel("k")
    ax.set_ylabel("answer recall@k")
    ax.set_xticks(list(KS))
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    ax.set_title(f"Answer recall@k on {report.scored} questions")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)

