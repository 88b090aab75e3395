"""Block Kit builders: shapes, Slack's limits, fallbacks and escaping."""

from __future__ import annotations

import datetime as dt
import json

from bot.slack import messages
from slack_sdk.models.blocks import Block

from bot.slack.ui import (
    BLOCKS_PER_MESSAGE,
    BUTTON_VALUE_LIMIT,
    FALLBACK_CHARS,
    SECTION_LIMIT,
    answer_messages,
    feedback_buttons_block,
    feedback_value,
    posted_question,
    question_message,
    source_mrkdwn,
    split_text,
    stream_final_blocks,
    stream_markdown,
    streaming_message,
)
from retrieval import Answer, Citation


def cite(n: int, **kw: object) -> Citation:
    base = dict(n=n, article_id=f"a{n}", title=f"Title {n}", source="The Hindu", published=dt.date(2021, 12, 20),
                url=f"https://example.com/{n}", quote="q")
    base.update(kw)
    return Citation(**base)  # type: ignore[arg-type]


def test_source_mrkdwn() -> None:
    assert source_mrkdwn(cite(1)) == "[1] The Hindu · 2021-12-20 · <https://example.com/1|Title 1>"
    assert source_mrkdwn(cite(2, source="", published=None, url="", title="<!here> T")) == (
        "[2] unknown outlet · undated · &lt;!here&gt; T"
    )


def test_short_answer_is_one_message_with_sources_and_buttons() -> None:
    answer = Answer("Q?", "Modi and **Putin** spoke [1].", [cite(1)], abstained=False)
    [msg] = answer_messages(answer)
    assert msg["text"] == "Modi and *Putin* spoke <https://example.com/1|[1]>."
    assert [b["type"] for b in msg["blocks"]] == ["section", "divider", "context", "actions"]
    up, down = msg["blocks"][-1]["elements"]
    assert (up["text"]["text"], down["text"]["text"]) == ("👍", "👎")
    assert json.loads(up["value"]) == {"q": "Q?"}


def test_abstention_has_buttons_but_no_sources() -> None:
    [msg] = answer_messages(Answer("Q?", "I couldn't find this.", [], abstained=True))
    assert [b["type"] for b in msg["blocks"]] == ["section", "actions"]


def test_long_answers_are_split_under_slack_limits() -> None:
    paragraphs = [f"Paragraph {i} " + "word " * 300 + f"[{i % 3 + 1}]" for i in range(60)]
    answer = Answer("Q?", "\n\n".join(paragraphs), [cite(1), cite(2), cite(3)], abstained=False)
    msgs = answer_messages(answer)
    assert len(msgs) > 1
    for msg in msgs:
        assert 1 <= len(msg["blocks"]) <= BLOCKS_PER_MESSAGE
        assert msg["text"] and len(msg["text"]) <= FALLBACK_CHARS
        for b in msg["blocks"]:
            if b["type"] == "section":
                assert len(b["text"]["text"]) <= SECTION_LIMIT
                assert b["text"]["text"].count("<") == b["text"]["text"].count(">")  # no link cut in two
    assert msgs[-1]["blocks"][-1]["type"] == "actions"
    assert sum(b["type"] == "actions" for m in msgs for b in m["blocks"]) == 1
    text = " ".join(b["text"]["text"] for m in msgs for b in m["blocks"] if b["type"] == "section")
    assert text.count("Paragraph") == 60


def test_split_text_never_cuts_links_or_entities() -> None:
    text = ("x" * 95) + " <https://example.com/long|label> &amp; " + "y " * 50
    for piece in split_text(text, 100):
        assert len(piece) <= 100
        assert piece.count("<") == piece.count(">")
        assert not piece.endswith("&") and "&am" not in piece.replace("&amp;", "")
    assert split_text("") == [""]


def test_streaming_message_is_short_and_marked_in_progress() -> None:
    msg = streaming_message("word " * 2000)
    body = msg["blocks"][0]["text"]["text"]
    assert len(body) <= SECTION_LIMIT and len(body) <= FALLBACK_CHARS
    # the notification text is the section itself, marked in progress (issue #14: an `or` made this always pass)
    assert msg["text"] == body and msg["text"].endswith(messages.STREAMING_SUFFIX)
    assert msg["blocks"][0]["text"]["text"].endswith(messages.STREAMING_SUFFIX)
    assert streaming_message("")["text"].startswith(messages.PLACEHOLDER)


def test_feedback_value_fits_even_for_huge_questions() -> None:
    value = feedback_value('"<é>"' * 2000)
    assert len(value) <= BUTTON_VALUE_LIMIT
    assert json.loads(value)["q"].startswith('"<é>"')


def test_slash_questions_say_who_asked_without_letting_them_ping() -> None:
    msg = question_message("U0ALICE", "<!channel> news?")
    assert msg["blocks"][0]["text"]["text"] == msg["text"] == "<@U0ALICE> asked: &lt;!channel&gt; news?"
    assert msg["blocks"][0]["text"]["verbatim"] is True
    assert posted_question(msg) == "&lt;!channel&gt; news?" and posted_question({"text": msg["text"]}) is None


def test_stream_final_blocks_are_sources_then_feedback_buttons() -> None:
    answer = Answer("Q?", "Modi and Putin spoke [1][2].", [cite(1), cite(2)], abstained=False)
    *sources, feedback = stream_final_blocks(answer)
    assert [b["elements"][0]["text"] for b in sources] == [source_mrkdwn(cite(1)), source_mrkdwn(cite(2))]
    assert feedback == feedback_buttons_block("Q?")
    assert feedback["type"] == "context_actions"
    [element] = feedback["elements"]
    assert element["type"] == "feedback_buttons"
    assert json.loads(element["positive_button"]["value"]) == {"v": "up", "q": "Q?"}
    assert json.loads(element["negative_button"]["value"]) == {"v": "down", "q": "Q?"}
    assert len(feedback_value('"<é>"' * 2000, "down")) <= BUTTON_VALUE_LIMIT
    [msg] = answer_messages(answer, feedback="context_actions")
    assert msg["blocks"][-1] == feedback


def test_streamed_markdown_cannot_ping_or_link() -> None:
    text = stream_markdown("see [here](https://evil.example/x) <!channel> <@U1> @here & www.evil.com")
    for shape in ("<!channel>", "<@U1>", "](", "https://", "@here", "www.evil.com"):
        assert shape not in text, shape
    assert "&lt;!channel&gt;" in text and "&amp;" in text


def test_every_message_we_build_is_block_kit_that_slack_sdk_accepts() -> None:
    """slack_sdk's block models validate on build: each block parses to a model that renders it back
    unchanged (so no field is unknown, misspelt or over a limit the models check)."""
    from bot.slack.ui import notice_message, placeholder_message

    long = Answer("<!here> Q?", ("Modi and Putin spoke [1]. " * 400) + "They met [2].",
                  [cite(n, also=("Reuters",)) for n in range(1, 60)], abstained=False, notice="quoting instead")
    messages_built = [
        *answer_messages(long), *answer_messages(long, feedback="context_actions"),
        streaming_message("partial <!channel> answer"), placeholder_message(), notice_message(messages.ERROR_APOLOGY),
        question_message("U0ALICE", "<!here> what happened?"),
    ]
    blocks = [b for m in messages_built for b in m["blocks"]] + stream_final_blocks(long)
    assert {b["type"] for b in blocks} >= {"section", "context", "divider", "actions", "context_actions"}
    for block in blocks:
        model = Block.parse(block)
        assert model is not None and model.to_dict() == block, block
