"""Markdown → Slack mrkdwn, and the escaping that keeps article and question text from pinging anyone.

Slack reads `<!channel>`, `<!here>`, `<!everyone>`, `<@U…>` and `<#C…>` as pings and links, so every
piece of text that did not come from our own code goes through `escape` (`&`, `<`, `>` become
entities) before it reaches Slack. `to_mrkdwn` escapes first, then adds the few constructs we build
ourselves (`<url|label>` links), so nothing in the input can open a `<…>` of its own.

    >>> to_mrkdwn("**Modi** met <!channel> [Putin](https://example.com/a?b=1&c=2)")
    '*Modi* met &lt;!channel&gt; <https://example.com/a?b=1&amp;c=2|Putin>'
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping

_ZWSP = "\u200b"
_STASH = "\x00"
_BOLD = "\x01"

_AT_WORDS = re.compile(r"(?<![\w])@(channel|here|everyone)\b", re.IGNORECASE)
_FENCE = re.compile(r"```.*?```", re.DOTALL)
_INLINE_CODE = re.compile(r"`[^`\n]+`")
_LINK = re.compile(r"\[([^\[\]\n]+)\]\(\s*(https?://[^\s()]+)\s*\)")
_CITATION = re.compile(r"\[(\d{1,3})\]")
_BOLD_MD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*|__(?=\S)(.+?)(?<=\S)__")
_ITALIC_STAR = re.compile(r"(?<![\*\w])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\*\w])")
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$")
_BULLET = re.compile(r"^(\s*)[-*+]\s+(?=\S)")
_QUOTE = re.compile(r"^&gt;\s?")
_RULE = re.compile(r"^\s{0,3}([-*_])(\s*\1){2,}\s*$")
_SLACK_LINK = re.compile(r"<([^<>|]+)(?:\|([^<>]*))?>")


def escape(text: str) -> str:
    """Text safe to put anywhere in a Slack message: no pings, no links, no broken entities.

    `@channel` / `@here` / `@everyone` written out plainly also get a zero-width space, so even a
    client that links bare names (`link_names`) cannot turn them into a ping.
    """
    return _escape(text.replace(_STASH, "").replace(_BOLD, ""))


def _escape(text: str) -> str:
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _AT_WORDS.sub(lambda m: "@" + _ZWSP + m.group(1), text)


def link(url: str, label: str) -> str:
    """A `<url|label>` link; the label is escaped and the URL cannot close the link early."""
    safe_url = url.strip().replace("&", "&amp;").replace("<", "%3C").replace(">", "%3E").replace("|", "%7C")
    safe_url = safe_url.replace(" ", "%20")
    return f"<{safe_url}|{escape(label.replace('|', '¦'))}>" if label else f"<{safe_url}>"


def _is_web_url(url: str) -> bool:
    return bool(re.match(r"https?://[^\s<>]+$", url.strip()))


def to_mrkdwn(markdown: str, citation_urls: Mapping[int, str] | None = None) -> str:
    """Convert Markdown (bold, italics, links, lists, headings, code) to Slack mrkdwn.

    `citation_urls` maps citation numbers to article URLs, turning `[n]` markers into links.
    """
    stash: list[str] = []

    def keep(fragment: str) -> str:
        stash.append(fragment)
        return f"{_STASH}{len(stash) - 1}{_STASH}"

    text = markdown.replace(_STASH, "").replace(_BOLD, "").replace("\r\n", "\n")
    # Code first: nothing inside it is formatted, but it is still escaped.
    text = _FENCE.sub(lambda m: keep(escape(m.group(0))), text)
    text = _INLINE_CODE.sub(lambda m: keep(escape(m.group(0))), text)
    text = _LINK.sub(lambda m: keep(link(m.group(2), m.group(1))), text)
    if citation_urls:
        text = _CITATION.sub(
            lambda m: keep(link(citation_urls[int(m.group(1))], m.group(0)))
            if _is_web_url(citation_urls.get(int(m.group(1)), ""))
            else m.group(0),
            text,
        )
    text = _escape(text)

    lines = []
    for line in text.split("\n"):
        if _RULE.match(line):
            lines.append("──────────")
            continue
        heading = _HEADING.match(line)
        if heading:
            line = f"{_BOLD}{heading.group(1)}{_BOLD}"
        line = _BULLET.sub(lambda m: m.group(1) + "• ", line)
        line = _QUOTE.sub("> ", line)
        lines.append(line)
    text = "\n".join(lines)

    text = _BOLD_MD.sub(lambda m: f"{_BOLD}{m.group(1) or m.group(2)}{_BOLD}", text)
    text = _ITALIC_STAR.sub(lambda m: f"_{m.group(1)}_", text)
    text = _STRIKE.sub(lambda m: f"~{m.group(1)}~", text)
    text = text.replace(_BOLD, "*")
    return re.sub(f"{_STASH}(\\d+){_STASH}", lambda m: stash[int(m.group(1))], text)


def slack_to_plain(text: str, drop_user: str | None = None) -> str:
    """A Slack message's text as a person would read it, for the engine: `<@U1>` → `@U1`, links → labels.

    `drop_user` (the bot's own user id) removes mentions of the bot, which are addressing, not content.
    """
    if drop_user:
        text = re.sub(rf"<@{re.escape(drop_user)}(\|[^>]*)?>", " ", text)

    def plain(m: re.Match[str]) -> str:
        target, label = m.group(1), m.group(2)
        if label:
            return ("@" if target.startswith("@") else "#" if target.startswith("#") else "") + label
        if target.startswith("!"):
            return "@" + target[1:].split("^")[0]
        if target.startswith(("@", "#")):
            return target
        return target.removeprefix("mailto:")

    text = _SLACK_LINK.sub(plain, text)
    return " ".join(html.unescape(text).split())
