"""The few errors the engine raises; front-ends translate them at their edge."""


class NewsbotError(Exception):
    """Base class: a message fit to show a user."""


class ConfigError(NewsbotError):
    """A setting is missing or wrong."""


class LoadError(NewsbotError):
    """An input (file, feed, URL) could not be read as news; the message names it."""


class BackendError(NewsbotError):
    """A model or store backend failed or cannot be loaded."""


class EmptyIndexError(NewsbotError):
    """Nothing has been ingested yet."""


class QuestionError(NewsbotError):
    """A question the engine will not take: empty, or far longer than any question."""
