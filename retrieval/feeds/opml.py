"""`newsbot feeds import subscriptions.opml`: every feed reader exports OPML, so a reader's list of
feeds moves in one step. listparser reads it, nested folders included, and tolerates the odd
OPML each reader writes better than a hand-rolled XML walk would."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from retrieval.errors import ConfigError, LoadError
from retrieval.feeds.registry import FeedRegistry, checked_url, feed_id


@dataclass
class OpmlReport:
    added: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)  # subscribed already, or twice in the file
    invalid: list[tuple[str, str]] = field(default_factory=list)  # (entry, reason)

    def summary(self) -> str:
        return f"{len(self.added)} added, {len(self.present)} already present, {len(self.invalid)} invalid"


def read_opml(raw: bytes) -> list[tuple[str, str]]:
    """(url, title) of every feed in an OPML document, folders flattened; LoadError if none is."""
    import listparser

    parsed = listparser.parse(raw)  # bytes: listparser treats a str as a URL to fetch
    feeds = [(str(f.get("url") or ""), str(f.get("title") or "")) for f in parsed.feeds]
    if not feeds and not str(parsed.get("version", "")).startswith("opml"):
        reason = parsed.get("bozo_exception") or "no feeds found"
        raise LoadError(f"not an OPML subscription list ({reason})")
    return feeds


def import_opml(registry: FeedRegistry, source: Path | bytes, every: int | None = None) -> OpmlReport:
    """Subscribe to every feed in the file; a bad entry is reported, not fatal."""
    if isinstance(source, Path):
        try:
            raw = source.read_bytes()
        except OSError as e:
            raise LoadError(f"cannot read {source}: {e.strerror or e}") from None
    else:
        raw = source
    report = OpmlReport()
    done: set[str] = set()
    for url, title in read_opml(raw):
        try:
            url = checked_url(url)
        except ConfigError as e:
            report.invalid.append((title or url or "(an outline without xmlUrl)", str(e)))
            continue
        if feed_id(url) in done:
            report.present.append(url)
            continue
        done.add(feed_id(url))
        _, created = registry.add(url, every=every, title=title)
        (report.added if created else report.present).append(url)
    return report
