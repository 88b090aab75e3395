r"""Markdown → Slack mrkdwn, and the escaping that keeps article and question text inert.

Only links we build ourselves are clickable: the `[n]` citation markers (`<url|[n]>` to the cited
article) and, in ui.py, each source line's title. Everything else in an answer is article text (an
extractive answer quotes articles word for word) or LLM text (which an article can steer), so it
must not be able to ping anyone or put a link in front of the reader. Three layers make it inert:

1. `&`, `<` and `>` become entities (Slack's own escaping rule), so the text cannot open a `<…>` of
   its own: `<!channel>`, `<@U1>`, `<#C1>`, `<https://x|click>` and `<mailto:…>` show as typed.
   A Markdown link `[label](https://…)` becomes just its label: Slack does not read Markdown links,
   and we no longer turn them into `<url|label>`.
2. Slack also *auto*-parses plain mrkdwn text: it links bare URLs (`https://…`), domains
   (`www.evil.example`, `evil.com`) and e-mail addresses, link-ifies `#channel` names and turns
   `@here` / `@channel` (and `@name` with `link_names`) into pings. ui.py sends the text objects
   that carry article text with `"verbatim": true`, which Slack documents as skipping exactly that
   preprocessing while still honouring explicit `<url|text>` / `<@U…>` strings
   (https://docs.slack.dev/reference/block-kit/composition-objects/text-object, "verbatim", and
   https://docs.slack.dev/messaging/formatting-message-text#automatic-parsing).
3. `verbatim` does not exist for a message's top-level `text` (the notification / fallback text),
   and the exact rules of Slack's link detector are not documented, so the text also loses the
   shapes a detector looks for, using invisible characters that leave it readable: a WORD JOINER
   (U+2060) goes between `:` and `//` and before every dot that has a letter on one side and a
   letter or digit on the other (`https:\u2060//evil\u2060.example`, `www\u2060.evil\u2060.example`,
   `me@mail\u2060.org`), and a ZERO WIDTH SPACE (U+200B) after an `@` / `#` that starts a name
   (`@\u200bhere`, `#\u200bgeneral`). A detector needs `://`, `label.tld` or `@name` with nothing
   in between, so none matches; the word joiner, unlike a space, is no line-break opportunity, so
   `U\u2060.S.` never wraps mid-word. (Wrapping URLs in `code` was not chosen: it changes how the
   quote reads, and Slack does not document how it treats URLs inside code spans either.)

    >>> to_mrkdwn("**Modi** met <!channel> [Putin](https://example.com/a?b=1&c=2)")
    '*Modi* met &lt;!channel&gt; Putin'
    >>> to_mrkdwn("said so [1]", {1: "https://news.example/a"})
    'said so <https://news.example/a|[1]>'
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping

_ZWSP = "\u200b"  # ZERO WIDTH SPACE: after `@` / `#`, so no name starts there
_WJ = "\u2060"  # WORD JOINER: inside `://` and before domain dots, invisible and no line break
_STASH = "\x00"
_BOLD = "\x01"

_NAME_SIGIL = re.compile(r"(?<!\w)([@#])(?=\w)")  # `@here`, `@name`, `#channel`; not `me@mail.org`
_SCHEME_SEP = re.compile(r":(?=//)")
# A dot (or an ideographic / full-width one: IDNA reads it as a dot) with a letter on one side and
# a letter or digit on the other: `evil.com`, `www.1x`; numbers (`3.5`, `10.0.0.1`) stay as typed.
_DOTS = "[.\u3002\uff0e\uff61]"
_DOMAIN_DOT = re.compile(rf"(?<=[^\W_])(?={_DOTS}[^\W\d_])|(?<=[^\W\d_])(?={_DOTS}\d)")
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

    Entities for `&`, `<`, `>`; then the shapes Slack auto-links or auto-pings are broken with
    invisible characters (see the module docstring): `@here` / `#general` / `https://` / `evil.com`
    stay readable but cannot become a ping or a link, even where `verbatim` does not apply.
    """
    return _defuse(_entities(text.replace(_STASH, "").replace(_BOLD, "")))


def _entities(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _defuse(text: str) -> str:
    """Break what Slack's automatic parsing would make a link or a ping of (in escaped text)."""
    text = _SCHEME_SEP.sub(":" + _WJ, text)
    text = _DOMAIN_DOT.sub(_WJ, text)
    return _NAME_SIGIL.sub(lambda m: m.group(1) + _ZWSP, text)


def link(url: str, label: str) -> str:
    """A `<url|label>` link; the label is escaped and the URL cannot close the link early."""
    safe_url = url.strip().replace("&", "&amp;").replace("<", "%3C").replace(">", "%3E").replace("|", "%7C")
    safe_url = safe_url.replace(" ", "%20")
    return f"<{safe_url}|{escape(label.replace('|', '¦'))}>" if label else f"<{safe_url}>"


def _is_web_url(url: str) -> bool:
    return bool(re.match(r"https?://[^\s<>]+$", url.strip()))


def to_mrkdwn(markdown: str, citation_urls: Mapping[int, str] | None = None) -> str:
    """Convert Markdown (bold, italics, lists, headings, code) to inert Slack mrkdwn.

    `citation_urls` maps citation numbers to article URLs, turning `[n]` markers into links: the
    only links in the result. A Markdown link `[label](url)` keeps its label and drops the URL;
    bare URLs, domains, `<…>` strings and pings in the text stay visible but inert.
    """
    stash: list[str] = []

    def keep(fragment: str) -> str:
        stash.append(fragment)
        return f"{_STASH}{len(stash) - 1}{_STASH}"

    text = markdown.replace(_STASH, "").replace(_BOLD, "").replace("\r\n", "\n")
    # Code first: nothing inside it is formatted, but it is still escaped.
    text = _FENCE.sub(lambda m: keep(escape(m.group(0))), text)
    text = _INLINE_CODE.sub(lambda m: keep(escape(m.group(0))), text)
    # A Markdown link is not ours to make: keep its words (formatted like the rest), drop the target.
    text = _LINK.sub(lambda m: m.group(1), text)
    if citation_urls:
        text = _CITATION.sub(
            lambda m: keep(link(citation_urls[int(m.group(1))], m.group(0)))
            if _is_web_url(citation_urls.get(int(m.group(1)), ""))
            else m.group(0),
            text,
        )
    text = _entities(text)

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
    text = _defuse(text.replace(_BOLD, "*"))  # last, so no formatting step can rebuild a URL shape
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
