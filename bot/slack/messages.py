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
SLASH_ASKED = "<@{user}> asked: {question}"
