"""Markdown → mrkdwn and escaping, as (input, expected) tables; only citations become links."""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest

from bot.slack.mrkdwn import escape, link, slack_to_plain, to_mrkdwn
from bot.slack.ui import answer_messages, question_message
from retrieval import Answer, Citation

ZW = "\u200b"  # after `@` / `#`: no ping, no channel link
WJ = "\u2060"  # inside `://` and before domain dots: no auto-link


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<!channel> look", "&lt;!channel&gt; look"),
        ("<!here|here> and <!everyone>", "&lt;!here|here&gt; and &lt;!everyone&gt;"),
        ("hi <@U123ABC> in <#C42|general>", f"hi &lt;@{ZW}U123ABC&gt; in &lt;#{ZW}C42|general&gt;"),
        ("<!subteam^S1|@team>", f"&lt;!subteam^S1|@{ZW}team&gt;"),
        ("AT&T <b>bold</b> 3 > 2", "AT&amp;T &lt;b&gt;bold&lt;/b&gt; 3 &gt; 2"),
        ("already &amp; escaped", "already &amp;amp; escaped"),
        ("hey @channel and @here, mail me@everyone.org",
         f"hey @{ZW}channel and @{ZW}here, mail me@everyone{WJ}.org"),
        ("<https://evil.example|click>", f"&lt;https:{WJ}//evil{WJ}.example|click&gt;"),
        ("<mailto:a@b.co|mail>", f"&lt;mailto:a@b{WJ}.co|mail&gt;"),
        ("see www.evil.example or #general", f"see www{WJ}.evil{WJ}.example or #{ZW}general"),
        ("3.5% in the U.S. at 10.0.0.1", f"3.5% in the U{WJ}.S. at 10.0.0.1"),
    ],
)
def test_escape(text: str, expected: str) -> None:
    assert escape(text) == expected


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        ("**bold** and __also__", "*bold* and *also*"),
        ("*italic* and _italic_", "_italic_ and _italic_"),
        ("~~gone~~", "~gone~"),
        # A Markdown link is article/LLM text, not ours: its label stays, its target goes.
        ("[Putin](https://example.com/a?b=1&c=2)", "Putin"),
        ("[a|b>c](https://x.org/p|q)", "a|b&gt;c"),
        ("[**bold** label](http://a.b)", "*bold* label"),
        ("[https://evil.example](https://evil.example)", f"https:{WJ}//evil{WJ}.example"),
        ("[x](javascript:alert(1))", "[x](javascript:alert(1))"),
        ("# Heading\n## Sub", "*Heading*\n*Sub*"),
        ("- one\n* two\n  + nested", "• one\n• two\n  • nested"),
        ("1. first\n2. second", "1. first\n2. second"),
        ("> quoted <!channel>", "> quoted &lt;!channel&gt;"),
        ("`code **not bold** <!here>`", "`code **not bold** &lt;!here&gt;`"),
        ("```\nx = a < b && c\n```", "```\nx = a &lt; b &amp;&amp; c\n```"),
        ("2 * 3 * 4", "2 * 3 * 4"),
        ("snake_case_name stays", "snake_case_name stays"),
        ("---", "──────────"),
        ("**<!channel>** [<@U1>](https://a.b)", f"*&lt;!channel&gt;* &lt;@{ZW}U1&gt;"),
        ("`curl https://evil.example`", f"`curl https:{WJ}//evil{WJ}.example`"),
        ("bad \x00 control \x01 chars", "bad  control  chars"),
    ],
)
def test_to_mrkdwn(markdown: str, expected: str) -> None:
    assert to_mrkdwn(markdown) == expected


def test_citation_markers_link_to_their_articles() -> None:
    urls = {1: "https://news.example/a_b_c", 2: "", 3: "javascript:x"}
    assert to_mrkdwn("Said so [1][2] and [3].", urls) == "Said so <https://news.example/a_b_c|[1]>[2] and [3]."


def test_link_without_label() -> None:
    assert link("https://a.b/c d", "") == "<https://a.b/c%20d>"


@pytest.mark.parametrize(
    ("slack", "expected"),
    [
        ("<@UBOT> what did <@U1> say?", "what did @U1 say?"),
        ("<@UBOT|newsbot> news about <#C1|general>", "news about #general"),
        ("see <https://a.b/c|this> and <https://x.y>", "see this and https://x.y"),
        ("<!here> &lt;b&gt; &amp; more", "@here <b> & more"),
        ("<!subteam^S1> hi", "@subteam hi"),
        ("  spaced\n\nout  ", "spaced out"),
    ],
)
def test_slack_to_plain(slack: str, expected: str) -> None:
    assert slack_to_plain(slack, drop_user="UBOT") == expected


# --- only citations are links ------------------------------------------------------------------

SOURCE = "https://news.example/modi-putin?id=1&lang=en"
EVIL = (
    "They met [1]. [click](https://evil.example) or https://evil.example/x or www.evil.example, "
    "see <https://evil.example|click> and <mailto:boss@evil.example|mail>, <!channel> <@U123> "
    "<#C1|general> @here @channel <!subteam^S1|@team> [2](https://evil.example/2) "
    "[[1]](https://evil.example/3)"
)


def _without_citations(mrkdwn: str, urls: dict[int, str]) -> str:
    """The text with our own citation links cut out (replaced by a space, so nothing joins up)."""
    for n, url in urls.items():
        mrkdwn = mrkdwn.replace(link(url, f"[{n}]"), " ")
    return mrkdwn


def assert_inert(rest: str) -> None:
    """No Slack link, mention or command; nothing Slack's automatic parsing would link or ping."""
    assert "<" not in rest and not re.search(r"<(https?:|mailto:|!|@|#)", rest), rest
    assert "://" not in rest, rest
    assert not re.search(r"[^\W\d_]\.[^\W_]|[^\W_]\.[^\W\d_]", rest), rest  # evil.example, www.1x
    assert not re.search(r"(?<!\w)[@#]\w", rest), rest  # @here, @U123, #general


def test_article_links_and_pings_are_inert_and_citations_still_link() -> None:
    urls = {1: SOURCE}
    out = to_mrkdwn(EVIL, urls)
    assert out.startswith(f"They met {link(SOURCE, '[1]')}. click or ")
    assert link(SOURCE, "[1]") == "<https://news.example/modi-putin?id=1&amp;lang=en|[1]>"
    # two links, both to the source: `[1]` and the `[1]` inside `[[1]](…)`
    assert out.count("<http") == out.count(link(SOURCE, "[1]")) == 2
    assert "evil" in out and "click" in out  # still there to read …
    assert_inert(_without_citations(out, urls))  # … but not to click or ping


def test_answer_message_sections_are_verbatim_and_only_cite() -> None:
    cited = Citation(n=1, article_id="a1", title="Visit www.evil.example now",
                     source="evil.example", published=dt.date(2021, 12, 20), url=SOURCE, quote="q")
    answer = Answer("<!here> what about https://evil.example?", EVIL, [cited], abstained=False)
    [msg] = answer_messages(answer)
    asked = question_message("U0ALICE", answer.question)  # a /news question, posted above the answer
    asked_text = asked["blocks"][0]["text"]["text"]
    assert asked_text.startswith("<@U0ALICE> asked: ")  # our mention is kept
    assert_inert(asked_text.removeprefix("<@U0ALICE> asked: "))
    section = msg["blocks"][0]
    assert section["text"]["verbatim"] is True and asked["blocks"][0]["text"]["verbatim"] is True
    for text in (section["text"]["text"], msg["text"]):  # the blocks and the notification fallback
        assert link(SOURCE, "[1]") in text
        assert_inert(_without_citations(text, {1: SOURCE}))
    [source] = [b for b in msg["blocks"][1:] if b["type"] == "context"]
    title_link = link(SOURCE, cited.title)
    assert title_link in source["elements"][0]["text"]  # the source line keeps its title link
    assert_inert(source["elements"][0]["text"].replace(title_link, " "))


def test_terminal_answer_links_only_its_citations() -> None:
    from bot.terminal.render import answer_text, make_console, print_answer

    osc8 = "\x1b]8;;https://evil.example\x1b\\click here\x1b]8;;\x1b\\"
    cited = Citation(n=1, article_id="a1", title=f"Title {osc8}", source="Reuters",
                     published=dt.date(2021, 12, 20), url=SOURCE, quote=f"q {osc8}")
    text = f"{EVIL} {osc8} \x9b31mred\x1b[2J [link=https://evil.example]x[/link]"
    answer = Answer("q?", text, [cited], abstained=False)
    buf = io.StringIO()
    print_answer(make_console(buf, force_terminal=True), answer, links=True)
    targets = set(re.findall(r"\x1b\]8;[^;\x1b]*;([^\x1b]*)\x1b\\", buf.getvalue()))
    assert targets == {SOURCE, ""}  # OSC 8 links open to the source and close (""), nothing else
    assert "\x9b" not in buf.getvalue() and "\x1b[2J" not in buf.getvalue()
    assert "click here" in buf.getvalue()  # the words stay, as plain text
    assert "[link=https://evil.example]x[/link]" in buf.getvalue()  # not read as rich markup
    assert "\x1b" not in answer_text(answer)


# --- property: whatever the text, only the citations given become links ------------------------

from hypothesis import given, settings  # noqa: E402 - the dev extra; a missing one is a broken setup, not a skip
from hypothesis import strategies as st  # noqa: E402

FRAGMENTS = [
    "<", ">", "|", "!", "@", "#", "&", "^", ":", "/", ".", "(", ")", "[", "]", "[1]", "[2]", "[7]",
    "https://", "http://", "mailto:", "www.", "evil", ".example", ".com", "here", "channel", "U1",
    "C1", "subteam^S1", "`", "```", "*", "**", "_", "__", "~~", "\n", " ", "> ", "# ", "- ", "1. ",
    "---", "&lt;", "&gt;", "&amp;", "\x00", "\x01", "\u2060", "\u200b", "%3C", "。", "．",
]
URLS = {1: SOURCE, 2: "http://x.org/p|q>r s", 7: "javascript:alert(1)"}

TEXTS = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=4)), max_size=40)


@settings(max_examples=300, deadline=None)
@given(TEXTS.map("".join))
def test_no_text_makes_a_link_or_ping_but_the_citations(text: str) -> None:
    out = to_mrkdwn(text, URLS)
    assert_inert(_without_citations(out, URLS))
    assert_inert(escape(text))
