"""Writing one answer into Slack while the engine generates it, two ways behind one small interface
(`open`, `add`, `finish`, `fail`):

- `NativeReply`: Slack's own streaming, `chat.startStream` / `chat.appendStream` / `chat.stopStream`
  through slack_sdk's `WebClient.chat_stream()` helper. The text goes out as `markdown_text`; the
  sources and the 👍/👎 `feedback_buttons` are the blocks passed at stop. Threads only (Slack
  requires `thread_ts`), and in channels the asker's user and team ids.
- `UpdateReply`: a placeholder message edited with `chat.update` at most once per interval, then
  replaced by the final Block Kit answer (`NEWSBOT_SLACK_STREAMING=update`, slash commands, and the
  fallback of a native stream Slack refuses or ends early).

What the user sees at the end is always the checked `Answer`, not the raw stream: citation checking
can change the text. What the Answer only adds at the end goes out with `chat.stopStream`; when it
changed what had already streamed, the stopped message is then replaced (`chat.update`, same ts) by
the full final rendering. (Stopping first, then replacing, keeps one message and one code path for
every stream; holding the stream open until the check would leave Slack's "writing" state up for
the check's duration, and Slack ends idle streams on its own.)
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import Protocol

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack.ui import (
    Message,
    answer_messages,
    notice_message,
    placeholder_message,
    stream_final_blocks,
    stream_markdown,
    streaming_message,
)
from retrieval import Answer

log = logging.getLogger(__name__)

# chat.appendStream / chat.stopStream: Slack ended the stream on its side (it times out).
STREAM_GONE = frozenset({"message_not_in_streaming_state"})
# chat.startStream: streaming is not available here (workspace, plan, token or conversation type).
STREAM_REFUSED = frozenset({
    "not_allowed", "not_allowed_token_type", "method_not_supported", "method_not_supported_for_channel_type",
    "feature_not_enabled", "team_not_allowed", "enterprise_not_allowed", "unknown_method", "not_supported",
})
_LAST_WORD = re.compile(r"\S+\Z")

Post = Callable[[Message], "str | None"]  # posts in the question's thread; None when it may not


class Reply(Protocol):
    ts: str | None

    def open(self) -> bool: ...
    def add(self, piece: str) -> None: ...
    def finish(self, answer: Answer) -> None: ...
    def fail(self, text: str) -> None: ...


class UpdateReply:
    """A placeholder, edited with chat.update as the answer grows, replaced by the final answer."""

    def __init__(self, client: WebClient, channel: str, thread_ts: str | None, post: Post, *,
                 interval: float, ts: str | None = None) -> None:
        self.client, self.channel, self.thread_ts, self.post = client, channel, thread_ts, post
        self.interval, self.ts = interval, ts
        self.text = ""
        self._last = time.monotonic()

    def open(self) -> bool:
        """Post the placeholder; False when we may not post here (the asker was told privately)."""
        if self.ts is None:
            self.ts = self.post(placeholder_message())
        self._last = time.monotonic()
        return self.ts is not None

    def add(self, piece: str) -> None:
        self.text += piece
        if time.monotonic() - self._last >= self.interval:
            self.show()

    def show(self) -> None:
        """The answer so far, now: edited in, or posted when there is no message yet."""
        if self.ts is None:
            self.ts = self.post(streaming_message(self.text))
        else:
            self.client.chat_update(channel=self.channel, ts=self.ts, **streaming_message(self.text))
        self._last = time.monotonic()

    def finish(self, answer: Answer) -> None:
        self.replace(answer_messages(answer))

    def replace(self, replies: list[Message]) -> None:
        if self.ts is None:
            self.ts = self.post(replies[0])
            if self.ts is None:
                return
        else:
            self.client.chat_update(channel=self.channel, ts=self.ts, **replies[0])
        for extra in replies[1:]:
            self.client.chat_postMessage(channel=self.channel, thread_ts=self.thread_ts or self.ts, **extra)

    def fail(self, text: str) -> None:
        if self.ts:
            self.client.chat_update(channel=self.channel, ts=self.ts, **notice_message(text))
        else:
            self.post(notice_message(text))


class NativeReply:
    """The answer streamed with chat.startStream / appendStream / stopStream (slack_sdk's ChatStream).

    Cadence: the helper sends when `buffer_size` characters are waiting; we also send what is waiting
    once `interval` seconds have passed since the last send, so a slow LLM still shows words about
    once a second (and the first words start the stream at once). Text is sent a whole word at a time,
    escaped (`ui.stream_markdown`). When Slack refuses the stream or ends it early, the rest goes the
    `UpdateReply` way on the same message (or a new one when none was started)."""

    def __init__(self, client: WebClient, channel: str, thread_ts: str, post: Post, *, interval: float,
                 buffer_size: int, recipient_user_id: str | None = None, recipient_team_id: str | None = None) -> None:
        self.client, self.channel, self.thread_ts, self.post = client, channel, thread_ts, post
        self.interval = interval
        recipient = {"recipient_user_id": recipient_user_id, "recipient_team_id": recipient_team_id}
        self.stream = client.chat_stream(channel=channel, thread_ts=thread_ts, buffer_size=max(1, buffer_size),
                                         **{k: v for k, v in recipient.items() if v})
        self.text = ""  # everything the engine gave, raw
        self._held = ""  # raw text not yet given to the stream: an unfinished word
        self._last_send = float("-inf")
        self._stopped = False
        self.fallback: UpdateReply | None = None

    @property
    def ts(self) -> str | None:  # type: ignore[override]
        return self.fallback.ts if self.fallback else self.stream.ts

    def open(self) -> bool:
        return True  # nothing to show before the first words: startStream goes with them

    def add(self, piece: str) -> None:
        self.text += piece
        if self.fallback:
            self.fallback.add(piece)
            return
        self._held += piece
        word = _LAST_WORD.search(self._held)
        ready = self._held[: word.start()] if word else self._held
        if not ready:
            return
        self._held = self._held[len(ready):]
        now = time.monotonic()
        due = now - self._last_send >= self.interval
        try:  # chunks=[] makes the helper send what it holds now
            if self.stream.append(markdown_text=stream_markdown(ready), chunks=[] if due else None) is not None:
                self._last_send = now
        except SlackApiError as e:
            self._fall_back(e).show()

    def finish(self, answer: Answer) -> None:
        if not self.fallback:
            # Text the checked Answer only adds at the end (e.g. a note on the newest source) goes
            # out with the stop; any other change is handled after it.
            rest = self._held + (answer.text[len(self.text):] if answer.text.startswith(self.text) else "")
            try:
                self.stream.stop(markdown_text=stream_markdown(rest) if rest else None, blocks=stream_final_blocks(answer))
                self._stopped = True
                if not answer.text.startswith(self.text):
                    # Citation checking changed what streamed: the checked Answer replaces it.
                    log.debug("streamed text differs from the checked answer; replacing message %s", self.stream.ts)
                    UpdateReply(self.client, self.channel, self.thread_ts, self.post, interval=self.interval,
                                ts=self.stream.ts).replace(answer_messages(answer, feedback="context_actions"))
                return
            except SlackApiError as e:
                self._fall_back(e).finish(answer)
                return
        self.fallback.finish(answer)

    def fail(self, text: str) -> None:
        if self.fallback:
            self.fallback.fail(text)
            return
        if self.stream.ts and not self._stopped:
            try:  # a message left streaming would show a writing indicator until Slack times it out
                self.stream.stop()
            except Exception as e:  # noqa: BLE001 - the apology below matters more
                log.debug("could not stop stream %s: %s", self.stream.ts, e)
        self._stopped = True
        UpdateReply(self.client, self.channel, self.thread_ts, self.post, interval=self.interval, ts=self.stream.ts).fail(text)

    def _fall_back(self, e: SlackApiError) -> UpdateReply:
        """Slack refused the stream or ended it: carry on with chat.update on the same message."""
        error = e.response.get("error")
        if error not in STREAM_GONE | STREAM_REFUSED:
            raise e
        log.info("native streaming in %s stopped (%s); falling back to chat.update on %s",
                 self.channel, error, self.stream.ts or "a new message")
        self._stopped = True
        self.fallback = UpdateReply(self.client, self.channel, self.thread_ts, self.post,
                                    interval=self.interval, ts=self.stream.ts)
        self.fallback.text = self.text
        return self.fallback


def make_reply(client: WebClient, *, streaming: str, channel: str, thread_ts: str | None, post: Post,
               interval: float, buffer_size: int, user: str | None = None,
               team: str | None = None, is_dm: bool = False) -> Reply:
    """Native streaming where Slack allows it (a reply in a thread, when `streaming` is "native"),
    else the chat.update way. In channels the stream names its recipient (user and team)."""
    if streaming == "native" and thread_ts:
        return NativeReply(client, channel, thread_ts, post, interval=interval, buffer_size=buffer_size,
                           recipient_user_id=None if is_dm else user, recipient_team_id=None if is_dm else team)
    return UpdateReply(client, channel, thread_ts, post, interval=interval)
