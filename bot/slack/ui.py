"""Block Kit builders: data in, message dicts (`text` + `blocks`) out. No Slack calls here.

Every message carries a plain `text` fallback (notifications, screen readers, old clients), and every
piece of text from an article or a user is escaped (see `bot.slack.mrkdwn`). Slack's limits decide the
shapes: a section holds 3,000 characters, a message 50 blocks.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from slack_sdk.models.blocks import ContextActionsBlock, FeedbackButtonObject, FeedbackButtonsElement, PlainTextObject

from bot.citation_text import also_text, date_text, outlet
from bot.slack import messages
from bot.slack.mrkdwn import escape, link, to_mrkdwn
from retrieval import Answer, Citation

SECTION_LIMIT = 3000  # characters of mrkdwn in one section block
BLOCKS_PER_MESSAGE = 50
MESSAGE_CHARS = 12_000  # text per message we allow ourselves (Slack truncates near 40,000)
FALLBACK_CHARS = 3000  # the `text` fallback of one message
BUTTON_VALUE_LIMIT = 2000

FEEDBACK_BLOCK_ID = "newsbot_feedback"
QUESTION_BLOCK_ID = "newsbot_question"  # a /news question we posted: a thread's history reads it as the user's
FEEDBACK_UP = "newsbot_feedback_up"
FEEDBACK_DOWN = "newsbot_feedback_down"
FEEDBACK_ACTION = "newsbot_feedback"  # the `feedback_buttons` element; its values say which vote
FeedbackStyle = Literal["buttons", "context_actions"]

Message = dict[str, Any]


def _mrkdwn(text: str, verbatim: bool) -> dict[str, Any]:
    """A mrkdwn text object. `verbatim` for any that carries article or user text: Slack then skips
    its automatic parsing (bare URLs and domains → links, `#channel` → link, `@here` → ping) but
    still honours the explicit `<url|text>` / `<@U…>` strings we build (citations, source titles,
    "asked by"). See the Block Kit text object reference, and bot.slack.mrkdwn for the rest."""
    obj: dict[str, Any] = {"type": "mrkdwn", "text": text}
    if verbatim:
        obj["verbatim"] = True
    return obj


def _section(mrkdwn: str, *, verbatim: bool = False) -> dict[str, Any]:
    return {"type": "section", "text": _mrkdwn(mrkdwn, verbatim)}


def _context(*mrkdwn: str, verbatim: bool = False) -> dict[str, Any]:
    return {"type": "context", "elements": [_mrkdwn(t[:SECTION_LIMIT], verbatim) for t in mrkdwn]}


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def split_text(text: str, limit: int = SECTION_LIMIT) -> list[str]:
    """Cut mrkdwn into pieces of at most `limit` characters: at paragraphs, lines or spaces, never
    inside a `<url|label>` link or an `&amp;` entity."""
    pieces: list[str] = []
    while len(text) > limit:
        window = text[:limit]
        cut = max(window.rfind("\n\n"), -1)
        if cut < limit // 2:
            cut = window.rfind("\n")
        if cut < limit // 2:
            cut = window.rfind(" ")
        if cut < limit // 2:
            cut = limit
        head = text[:cut]
        opened, entity = head.rfind("<"), head.rfind("&")
        if opened > head.rfind(">"):
            cut = opened if opened > 0 else cut
        elif entity > head.rfind(";") and cut - entity < 8:
            cut = entity if entity > 0 else cut
        pieces.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if text.strip() or not pieces:
        pieces.append(text)
    return pieces


def source_mrkdwn(c: Citation) -> str:
    """`[n] outlet · date · <url|title>`: the plain source line (bot.citation_text) as escaped
    mrkdwn, its title the link instead of a bare URL; one context line per cited source."""
    title = link(c.url, c.title or c.url) if c.url.startswith(("http://", "https://")) else escape(c.title)
    also = f" · {escape(also_text(c))}" if c.also else ""
    return f"[{c.n}] {escape(outlet(c))} · {date_text(c)} · {title}{also}"


def feedback_value(question: str, vote: str | None = None) -> str:
    """What a 👍/👎 click carries back: the question, cut to fit Slack's 2,000-character value, and
    for `feedback_buttons` (one action_id for both buttons) the vote, "up" or "down"."""
    question = question[:1500]
    while True:
        value = json.dumps({"v": vote, "q": question} if vote else {"q": question}, ensure_ascii=False)
        if len(value) <= BUTTON_VALUE_LIMIT:
            return value
        question = question[: len(question) * 3 // 4]


def feedback_block(question: str) -> dict[str, Any]:
    value = feedback_value(question)
    return {
        "type": "actions",
        "block_id": FEEDBACK_BLOCK_ID,
        "elements": [
            {"type": "button", "action_id": FEEDBACK_UP, "text": {"type": "plain_text", "text": "👍", "emoji": True}, "value": value},
            {"type": "button", "action_id": FEEDBACK_DOWN, "text": {"type": "plain_text", "text": "👎", "emoji": True}, "value": value},
        ],
    }


def feedback_buttons_block(question: str) -> dict[str, Any]:
    """👍/👎 as Slack's AI-app feedback: a `context_actions` block with one `feedback_buttons` element."""
    def button(emoji: str, label: str, vote: str) -> FeedbackButtonObject:
        return FeedbackButtonObject(text=PlainTextObject(text=emoji, emoji=True), accessibility_label=label,
                                    value=feedback_value(question, vote))

    return ContextActionsBlock(
        block_id=FEEDBACK_BLOCK_ID,
        elements=[FeedbackButtonsElement(
            action_id=FEEDBACK_ACTION,
            positive_button=button("👍", "This answer was helpful", "up"),
            negative_button=button("👎", "This answer was not helpful", "down"),
        )],
    ).to_dict()


def stream_markdown(text: str) -> str:
    """A piece of the answer as streamed `markdown_text` (Slack renders it as Markdown): as inert as
    mrkdwn (entities, defused URLs and pings; see bot.slack.mrkdwn), and a Markdown link
    `[label](url)` cannot form. Escape whole words: the defusing looks at a word at a time."""
    return escape(text).replace("](", "]\u2060(")  # WORD JOINER, as in bot.slack.mrkdwn


def stream_final_blocks(answer: Answer) -> list[dict[str, Any]]:
    """What chat.stopStream puts under the streamed text: the notice, one context line per cited
    source, and the 👍/👎 `feedback_buttons`."""
    blocks: list[dict[str, Any]] = []
    notice = getattr(answer, "notice", "")
    if notice:
        blocks.append(_context(":information_source: " + escape(notice)))
    blocks += [_context(source_mrkdwn(c), verbatim=True) for c in answer.citations[: BLOCKS_PER_MESSAGE - 2]]
    blocks.append(feedback_buttons_block(answer.question))
    return blocks


def placeholder_message() -> Message:
    return {"text": messages.PLACEHOLDER, "blocks": [_section(messages.PLACEHOLDER)]}


def streaming_message(partial: str) -> Message:
    """The answer so far, while it is being written: one section, the tail if it is long."""
    body = to_mrkdwn(partial.strip()) or messages.PLACEHOLDER
    if len(body) + len(messages.STREAMING_SUFFIX) > SECTION_LIMIT:
        body = split_text(body, SECTION_LIMIT - len(messages.STREAMING_SUFFIX))[0]
    body += messages.STREAMING_SUFFIX
    return {"text": _clip(body, FALLBACK_CHARS), "blocks": [_section(body, verbatim=True)]}


def notice_message(text: str) -> Message:
    """A short message of our own (apology, empty index): already-safe text, no buttons."""
    return {"text": text, "blocks": [_section(text)]}


def question_message(user: str, question: str) -> Message:
    """A `/news` question, posted where everyone sees it; the answer goes into its thread. The asker
    is mentioned by id; their words cannot ping or link (verbatim, escaped)."""
    asked = messages.SLASH_ASKED.format(user=user, question=escape(question))
    block = {**_section(_clip(asked, SECTION_LIMIT), verbatim=True), "block_id": QUESTION_BLOCK_ID}
    return {"text": _clip(asked, FALLBACK_CHARS), "blocks": [block]}


def posted_question(message: dict[str, Any]) -> str | None:
    """The question of a message `question_message` built, as plain text; None for any other."""
    blocks = message.get("blocks") or []
    if not blocks or blocks[0].get("block_id") != QUESTION_BLOCK_ID:
        return None
    text = message.get("text") or ""
    return text.split(messages.SLASH_ASKED_SEP, 1)[1] if messages.SLASH_ASKED_SEP in text else None


def answer_messages(answer: Answer, *, feedback: FeedbackStyle = "buttons") -> list[Message]:
    """The final answer as one or more messages: text sections, a context line per cited source, and
    👍/👎 on the last one (classic buttons, or the `feedback_buttons` of a natively streamed answer).
    The first message replaces the placeholder; the rest follow it."""
    urls = {c.n: c.url for c in answer.citations}
    body = to_mrkdwn(answer.text.strip(), urls)
    blocks: list[dict[str, Any]] = [_section(piece, verbatim=True) for piece in split_text(body)]
    notice = getattr(answer, "notice", "")  # e.g. "the LLM could not be loaded; quoting instead"
    if notice:
        blocks.append(_context(":information_source: " + escape(notice)))
    if answer.citations:
        blocks.append({"type": "divider"})
        blocks += [_context(source_mrkdwn(c), verbatim=True) for c in answer.citations]
    blocks.append(feedback_block(answer.question) if feedback == "buttons" else feedback_buttons_block(answer.question))
    return _pack(blocks, fallback=body, citations=answer.citations)


def _block_chars(block: dict[str, Any]) -> int:
    if block["type"] == "section":
        return len(block["text"]["text"])
    if block["type"] == "context":
        return sum(len(e["text"]) for e in block["elements"])
    return 0


def _pack(blocks: list[dict[str, Any]], *, fallback: str, citations: list[Citation]) -> list[Message]:
    """Group blocks into messages under the block and size limits, each with a `text` fallback."""
    groups: list[list[dict[str, Any]]] = [[]]
    size = 0
    for block in blocks:
        chars = _block_chars(block)
        if groups[-1] and (len(groups[-1]) >= BLOCKS_PER_MESSAGE or size + chars > MESSAGE_CHARS):
            groups.append([])
            size = 0
        groups[-1].append(block)
        size += chars
    out: list[Message] = []
    for i, group in enumerate(groups):
        sections = [b["text"]["text"] for b in group if b["type"] == "section"]
        if sections:
            text = "\n\n".join(sections)
        elif i == 0:
            text = fallback
        else:
            text = f"{messages.SOURCES_TITLE}: " + "; ".join(source_mrkdwn(c) for c in citations)
        out.append({"text": _clip(text, FALLBACK_CHARS), "blocks": group})
    return out
