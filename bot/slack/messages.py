"""Everything the Slack bot says on its own behalf, in one place."""

PLACEHOLDER = ":mag: Searching the news…"
STREAMING_SUFFIX = " …"
ERROR_APOLOGY = "Sorry, something went wrong while I was answering. Please try again in a moment."
EMPTY_INDEX = "I don't have any news to search yet. Ask whoever runs me to ingest some articles."
EMPTY_QUESTION = "Ask me a question about the news, e.g. `/news what did Modi and Putin discuss?`"
FEEDBACK_THANKS = {"up": "Thanks for the 👍, noted.", "down": "Thanks for the 👎, noted: it helps me improve."}
NOT_IN_CHANNEL = "I can't post in this conversation. Invite me first (`/invite @newsbot`), then ask again."
SOURCES_TITLE = "Sources"
CONTINUED = "(continued)"
SLASH_ASKED_SEP = " asked: "
SLASH_ASKED = "<@{user}>" + SLASH_ASKED_SEP + "{question}"

# The agent experience (bot/slack/agent.py)
PROMPTS_TITLE = "Ask me about the news. For example:"
DEFAULT_PROMPTS = (
    "What's new today?",
    "What were the biggest stories this week?",
    "What did Modi and Putin discuss?",
)
STATUS_SEARCHING = "Searching the news…"
STATUS_READING = "Reading {n} articles…"
STATUS_READING_ONE = "Reading 1 article…"
STATUS_WRITING = "Writing…"
