"""Markdown → mrkdwn and escaping, as (input, expected) tables."""

from __future__ import annotations

import pytest

from bot.slack.mrkdwn import escape, link, slack_to_plain, to_mrkdwn

ZW = "\u200b"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<!channel> look", "&lt;!channel&gt; look"),
        ("<!here|here> and <!everyone>", "&lt;!here|here&gt; and &lt;!everyone&gt;"),
        ("hi <@U123ABC> in <#C42|general>", "hi &lt;@U123ABC&gt; in &lt;#C42|general&gt;"),
        ("<!subteam^S1|@team>", "&lt;!subteam^S1|@team&gt;"),
        ("AT&T <b>bold</b> 3 > 2", "AT&amp;T &lt;b&gt;bold&lt;/b&gt; 3 &gt; 2"),
        ("already &amp; escaped", "already &amp;amp; escaped"),
        ("hey @channel and @here, mail me@everyone.org", f"hey @{ZW}channel and @{ZW}here, mail me@everyone.org"),
        ("<https://evil.example|click>", "&lt;https://evil.example|click&gt;"),
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
        ("[Putin](https://example.com/a?b=1&c=2)", "<https://example.com/a?b=1&amp;c=2|Putin>"),
        ("[a|b>c](https://x.org/p|q)", "<https://x.org/p%7Cq|a¦b&gt;c>"),
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
        ("**<!channel>** [<@U1>](https://a.b)", "*&lt;!channel&gt;* <https://a.b|&lt;@U1&gt;>"),
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
