"""The answer pipeline, in the order it runs:

    follow-up → standalone question → time window ("last week", relative to as_of) → search
    → relevance gate → answer sentences (learned scorer) → confidence gate → prompt
    → streamed LLM tokens → citation check → Answer

Both gates abstain without calling the LLM.

When there is no LLM, or it fails mid-answer, the extractive answer (best sentences, quoted and
cited) takes over from the same search result. `NewsDesk.stream` delegates here.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from retrieval.answer import prompts
from retrieval.answer.answer_type import asks_for_summary
from retrieval.answer.citations import PromptPassage, check_citations
from retrieval.answer.digest import DIGEST_STORIES, Newest, digest, is_digest_question
from retrieval.answer.extractive import extractive_answer
from retrieval.answer.followup import standalone_question
from retrieval.answer.llm import LoadedLLM
from retrieval.answer.passages import PROMPT_CHARS, select_passages
from retrieval.answer.prompt import answer_messages, says_not_found
from retrieval.answer.sentences import SentenceScorer
from retrieval.index.embeddings import Embedder
from retrieval.search.hybrid import Filters, SearchResult
from retrieval.search.timeparse import parse_window, recent_window
from retrieval.answer.sentences import ARTICLES_READ
from retrieval.types import ABSTAIN_TEXT, Answer, Citation, OnStage, Stage, Turn

log = logging.getLogger(__name__)

Search = Callable[[str, Filters], SearchResult]
# the confidence gate for "what did they discuss / what happened" questions (benchmarks/README.md)
SUMMARY_CONFIDENCE = 0.03
# The 1.5B model says NOT FOUND beside a passage that plainly answers ("which prison site?" with
# three sentences naming Guantanamo Bay); above this P of the best sentence the sentences are
# quoted instead of refusing (benchmarks/not_found.py; benchmarks/README.md, "NOT FOUND beside a
# sure sentence").
QUOTE_CONFIDENCE = 0.5
Checked = tuple[str, list[Citation]]
_NOT_FOUND: Checked = ("", [])  # the model's NOT FOUND, told apart by identity


@dataclass
class AnswerPipeline:
    """One answer's worth of work; built per question by `NewsDesk.stream`."""

    search: Search
    embedder: Embedder
    llm: LoadedLLM
    min_relevance: float
    scorer: SentenceScorer | None = None  # None: sentences chosen by cosine, no confidence gate
    min_confidence: float = 0.0
    prompt_chars: int = PROMPT_CHARS
    newest: Newest | None = None  # "what's new?" lists the newest stories; None: searched like any question

    def stream(
        self, question: str, history: Sequence[Turn], filters: Filters, on_stage: OnStage | None = None
    ) -> Iterator[str | Answer]:
        """Text as it is produced (str pieces), then the checked Answer, always last.

        The final Answer's text is authoritative: citation checking may change what streamed.
        `on_stage` hears where the answer has got to (searching → reading → writing) before any
        text exists; it is not told when a gate abstains."""
        stage = on_stage or (lambda _stage: None)
        run = _Run(question, time.perf_counter())
        as_of = filters.as_of or dt.date.today()
        run.standalone = standalone_question(question, history, self.llm.model)
        run.lap("rewrite")
        run.window = parse_window(run.standalone, as_of)
        filters = replace(filters, as_of=as_of, window=run.window)
        if self.newest is not None and not history and is_digest_question(run.standalone):  # in a thread, it refers back
            stage(Stage("reading", articles=DIGEST_STORIES))
            text, citations = digest(self.newest, run.window, as_of)
            run.lap("digest", first_token=True)
            yield text if citations else ABSTAIN_TEXT
            yield run.answer(text, citations, self.llm.notice)
            return
        # for the caveat only (not for "what's new?": that is today); search favours recent news anyway
        run.window = run.window or recent_window(run.standalone, as_of)
        stage(Stage("searching"))
        result = self.search(run.standalone, filters)
        run.lap("search")
        if not result.articles or result.top_similarity < self.min_relevance:
            yield ABSTAIN_TEXT
            yield run.answer("", [], self.llm.notice)
            return
        notice = self.llm.notice
        stage(Stage("reading", articles=min(len(result.articles), ARTICLES_READ)))
        if self.llm.model is not None or self.scorer is not None:  # extractive without a scorer needs none
            selection = select_passages(
                run.standalone, result.articles, self.embedder, as_of, self.scorer, self.prompt_chars
            )
            run.shown = [p.text for p in selection.passages]
            run.lap("passages")
            floor = self.confidence_floor(run.standalone)
            if selection.confidence is not None and selection.confidence < floor:
                log.info("abstaining: answer confidence %.3f < %.3f", selection.confidence, floor)
                yield ABSTAIN_TEXT
                yield run.answer("", [], notice)
                return
        stage(Stage("writing"))
        if self.llm.model is not None:
            checked = yield from self._generate(run, selection.passages, as_of)
            if checked is _NOT_FOUND:
                if (selection.confidence or 0.0) < QUOTE_CONFIDENCE:
                    yield ABSTAIN_TEXT
                    yield run.answer("", [], notice)
                    return
                # the scorer is sure a sentence answers: quote it rather than refuse
                log.info("the model found no answer; quoting the sources (confidence %.3f)", selection.confidence)
                notice = (
                    "The model found no answer in these sources, so this answer quotes the sentences "
                    "most likely to hold one."
                )
            elif checked is not None:
                yield run.answer(*checked)
                return
            else:
                partway = " partway through its answer" if "first_token" in run.timings else ""
                notice = f"The {self.llm.backend} LLM failed{partway}, so this answer quotes the sources instead."
        text, citations = extractive_answer(run.standalone, result.articles, self.embedder, as_of, self.scorer)
        run.lap("answer", first_token=True)
        yield text if citations else ABSTAIN_TEXT
        yield run.answer(text, citations, notice)

    def confidence_floor(self, question: str) -> float:
        """The scorer learned from answers one sentence can hold: a name, a place, a number. A
        question that asks what was discussed or what happened wants several points, so its best
        sentence's P runs low even when the news answers it, and only a very low P means "no answer"."""
        if asks_for_summary(question):
            return min(self.min_confidence, SUMMARY_CONFIDENCE)
        return self.min_confidence

    def _generate(
        self, run: _Run, passages: list[PromptPassage], as_of: dt.date
    ) -> Generator[str, None, Checked | None]:
        """Stream the model's answer; return it with checked citations, _NOT_FOUND (nothing
        streamed), or None if the backend failed."""
        model = self.llm.model
        assert model is not None
        raw, shown = "", 0
        ended = _FINISHED.get(self.llm.backend)  # None: the backend's stream ends when its answer does
        finished = False
        try:
            for chunk in model.stream(answer_messages(run.standalone, passages, as_of)):
                run.usage(getattr(chunk, "usage_metadata", None))
                if ended is not None and not finished:
                    finished = ended(getattr(chunk, "response_metadata", None) or {})
                if not chunk.text:
                    continue
                if not raw:
                    run.timings["first_token"] = time.perf_counter() - run.started
                raw += chunk.text
                if not shown and _may_be_abstaining(raw):
                    continue  # show nothing of the NOT FOUND marker
                yield raw[shown:]
                shown = len(raw)
        except Exception as e:  # a server down or a model crash: quote the sources rather than fail
            # one line (it shows on the user's terminal); the traceback only when debugging
            log.warning("the %s LLM failed while answering: %s", self.llm.backend, _why(e))
            log.debug("the %s LLM's failure", self.llm.backend, exc_info=True)
            return None
        if ended is not None and not finished:  # the connection ended, not the answer: the text is cut off
            log.warning("the %s LLM's stream ended before its answer did: %r", self.llm.backend, raw[-80:])
            return None
        run.lap("llm")
        log.debug("model output: %r", raw)
        if says_not_found(raw):
            return _NOT_FOUND
        checked = check_citations(raw, passages, self.embedder, secret=prompts.ANSWER_SYSTEM)
        run.lap("check")
        if checked.dropped or checked.removed_numbers:
            log.info("citation check dropped %r, removed numbers %s", checked.dropped, checked.removed_numbers)
        return checked.text, checked.citations


class _Run:
    """The clock and timings of one answer."""

    def __init__(self, question: str, started: float) -> None:
        self.question = question
        self.standalone = question
        self.started = started
        self.timings: dict[str, float] = {}
        self.shown: list[str] = []
        self.window: tuple[dt.date, dt.date] | None = None  # the time the question names, if any
        self._last = started

    def lap(self, name: str, first_token: bool = False) -> None:
        now = time.perf_counter()
        self.timings[name] = now - self._last
        if first_token:
            self.timings["first_token"] = now - self.started
        self._last = now

    def usage(self, usage: dict[str, int] | None) -> None:
        if usage:
            self.timings["prompt_tokens"] = float(usage.get("input_tokens", 0))
            self.timings["completion_tokens"] = float(usage.get("output_tokens", 0))

    def answer(self, text: str, citations: list[Citation], notice: str = "") -> Answer:
        self.timings["total"] = time.perf_counter() - self.started
        if not citations:
            return Answer(self.question, ABSTAIN_TEXT, [], True, self.timings, self.standalone, notice, self.shown)
        caveat = dated_caveat(self.window, citations)
        text = caveat + ("\n" if caveat and text.startswith("- ") else "") + text + newest_source(citations)
        return Answer(self.question, text, citations, False, self.timings, self.standalone, notice, self.shown)


# How a backend's streamed chunks say that the model finished its answer. A server can end a
# stream cleanly partway through (no finish_reason, no [DONE]) and the client takes that as the
# end: without this word from the model, the text is cut off. llama.cpp runs in process and
# cannot end early unnoticed, so it (like any backend not named here) is taken at its word.
_FINISHED: dict[str, Callable[[dict[str, Any]], bool]] = {
    "openai": lambda meta: bool(meta.get("finish_reason")),  # langchain-openai, from the last choice
    "ollama": lambda meta: meta.get("done") is True,  # langchain-ollama, from Ollama's last line
}


def _why(e: BaseException) -> str:
    """An error and what caused it, in one line: "Connection error. (peer closed connection …)"."""
    parts: list[str] = []
    cause: BaseException | None = e
    for _ in range(5):  # a chain can loop
        if cause is None:
            break
        text = str(cause).strip() or type(cause).__name__
        if text not in parts:
            parts.append(text)
        cause = cause.__cause__ or cause.__context__
    return parts[0] + "".join(f" ({p})" for p in parts[1:])


def _may_be_abstaining(raw: str) -> bool:
    head = raw.lstrip().upper()
    return prompts.NOT_FOUND.startswith(head) or head.startswith(prompts.NOT_FOUND)


WINDOW_GRACE = dt.timedelta(days=3)  # news of a week is often published a day or two before it


def dated_caveat(window: tuple[dt.date, dt.date] | None, citations: list[Citation]) -> str:
    """Old news is not this week's news: when the question names a time and no cited source is
    from around then, the answer says first how old its news is."""
    dates = [c.published for c in citations if c.published]
    if not window or not dates or any(window[0] - WINDOW_GRACE <= d <= window[1] for d in dates):
        return ""
    return f"The newest I have on this is from {max(dates):%B %Y}: "


def newest_source(citations: list[Citation]) -> str:
    """Each answer says how fresh its news is: the date of its newest cited source."""
    dates = [c.published for c in citations if c.published]
    return f"\n\nNewest source: {max(dates):%-d %B %Y}." if dates else ""
