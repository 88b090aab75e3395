"""Files, folders, feeds and URLs → Articles. One reader per format; a bad input is a LoadError.

`load(inputs)` yields Articles and (input, reason) failures in one stream, so a caller can go
on with the rest of a batch and still report every input that could not be read.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from retrieval.errors import LoadError
from retrieval.ingest.articles import MAX_ARTICLE_CHARS, MAX_TITLE, article_from_fields, make_article  # noqa: F401 (the limits are read here)
from retrieval.ingest.fetch import fetch_bytes
from retrieval.types import Article

log = logging.getLogger(__name__)

Failure = tuple[str, str]
Loaded = Article | Failure

SEED_HEADER = re.compile(r"^\s*date\s+(\d{4}-\d{2}-\d{2})\b[ \t]*\n?")
SOURCE_HEADER = re.compile(r"^[ \t]*source[ \t]+(\S[^\n]*?)[ \t]*\n", re.I)  # optional, after the date
FEED_SNIFF = re.compile(rb"<(rss|feed|rdf:RDF)[\s>]", re.IGNORECASE)
HTML_SNIFF = re.compile(rb"<(!doctype html|html|body|article)[\s>]", re.IGNORECASE)

TEXT_SUFFIXES = {".txt", ".md", ".markdown", ".text"}
HTML_SUFFIXES = {".html", ".htm", ".xhtml"}
FEED_SUFFIXES = {".rss", ".atom", ".xml"}
JSON_SUFFIXES = {".json"}
JSONL_SUFFIXES = {".jsonl", ".ndjson"}
NOT_NEWS = {"README", "LICENSE", "LICENCE", "CHANGELOG"}  # skipped when walking a folder
KNOWN_SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | FEED_SUFFIXES | JSON_SUFFIXES | JSONL_SUFFIXES
# Size limits, so one huge input is refused with a reason instead of filling memory or the store.
# A collection (JSON, JSONL) may be large (the shared articles.jsonl is ~90 MB); one document may
# not, and neither may one article's text (a long news feature is ~100,000 characters).
MAX_DOCUMENT_BYTES = 20 * 2**20
MAX_COLLECTION_BYTES = 2 * 2**30


def load(inputs: Iterable[str | Path], source: str = "") -> Iterator[Loaded]:
    """Every Article in the given paths (folders recursively) and URLs, or why an input failed.

    `source` names the outlet of articles whose input does not (the seed format has no outlet)."""
    for loaded in _load(inputs):
        if source and isinstance(loaded, Article) and not loaded.source:
            loaded = replace(loaded, source=source.strip())
        yield loaded


def _load(inputs: Iterable[str | Path]) -> Iterator[Loaded]:
    for item in inputs:
        name = str(item)
        if is_url(name):
            yield from _guard(name, lambda: load_url(name))
            continue
        path = Path(name)
        if path.is_dir():
            for file in sorted(p for p in path.rglob("*") if p.is_file()):
                if _is_hidden(file, path) or file.stem.upper() in NOT_NEWS:
                    continue
                if file.suffix.lower() not in KNOWN_SUFFIXES and file.suffix:
                    log.info("skipping %s: not a news format", file)
                    continue
                yield from _guard(str(file), lambda f=file: load_file(f))  # type: ignore[misc]
        elif path.exists():
            yield from _guard(name, lambda: load_file(path))
        else:
            yield (name, "no such file or folder")


def _is_hidden(file: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in file.relative_to(root).parts)


def _guard(name: str, produce: Callable[[], Iterable[Loaded]]) -> Iterator[Loaded]:
    """Turn any failure of one input into a reported failure, so the batch goes on."""
    try:
        yield from produce()
    except LoadError as e:
        yield (name, str(e))
    except OSError as e:
        yield (name, f"cannot read: {e.strerror or e}")
    except Exception as e:  # a parser bug on odd input must not end the batch
        log.debug("unexpected failure reading %s", name, exc_info=True)
        yield (name, f"unreadable ({type(e).__name__}: {e})")


def is_url(name: str) -> bool:
    return name.startswith(("http://", "https://"))


# --- files -------------------------------------------------------------------------------------


def load_file(path: Path) -> Iterator[Loaded]:
    suffix = path.suffix.lower()
    limit = MAX_COLLECTION_BYTES if suffix in JSONL_SUFFIXES | JSON_SUFFIXES else MAX_DOCUMENT_BYTES
    if (size := path.stat().st_size) > limit:
        raise LoadError(f"{size / 2**20:,.0f} MiB is over the {limit / 2**20:,.0f} MiB such a file may have; not read")
    if suffix in JSONL_SUFFIXES:
        yield from _stream_jsonl(path)
        return
    raw = path.read_bytes()
    if not raw.strip():
        raise LoadError("empty file")
    if suffix in JSON_SUFFIXES:
        yield from parse_json(_decode(raw), str(path))
    elif suffix in HTML_SUFFIXES:
        yield parse_html(raw, origin=str(path))
    elif suffix in FEED_SUFFIXES or FEED_SNIFF.search(raw[:2048]):
        yield from parse_feed(raw, origin=str(path))
    elif HTML_SNIFF.search(raw[:2048]):
        yield parse_html(raw, origin=str(path))
    else:
        yield parse_text(_decode(raw), origin=str(path))


def _decode(raw: bytes) -> str:
    if b"\x00" in raw[:8192]:
        raise LoadError("binary file, not text")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise LoadError(
            f"not valid UTF-8 (byte 0x{raw[e.start]:02x} at offset {e.start}); re-save it as UTF-8"
        ) from None


def parse_text(text: str, origin: str = "") -> Article:
    """The seed format (`date YYYY-MM-DD` then the body), front matter + Markdown, or plain text."""
    seed = SEED_HEADER.match(text)
    if seed:
        body = text[seed.end():]
        source = SOURCE_HEADER.match(body)
        if source:
            body = body[source.end():]
        return make_article(
            body=body, published=seed.group(1), source=source.group(1) if source else "", origin=origin
        )
    if text.lstrip().startswith("---"):
        import frontmatter

        try:
            post = frontmatter.loads(text)
        except Exception as e:
            raise LoadError(f"bad front matter: {e}") from None
        return article_from_fields(post.content, dict(post.metadata), origin)
    title = ""
    first, _, rest = text.strip().partition("\n")
    heading = first.lstrip("# ").strip()
    if rest.strip() and (first.startswith("#") or len(heading) <= MAX_TITLE and not heading.endswith(".")):
        title, text = heading, rest
    return make_article(body=text, title=title, origin=origin)


def _stream_jsonl(path: Path) -> Iterator[Loaded]:
    """Line by line from disk: a 2 GiB file is never held in memory, and a line that is not
    UTF-8 costs that line only."""
    with path.open("rb") as f:
        empty = True
        for lineno, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            empty = False
            where = f"{path}:{lineno}"
            try:
                line = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
            except UnicodeDecodeError as e:
                yield (where, f"not valid UTF-8 (byte 0x{raw[e.start]:02x} at column {e.start + 1})")
                continue
            yield from parse_jsonl(line, str(path), first_line=lineno)
        if empty:
            raise LoadError("empty file")


def parse_jsonl(text: str, origin: str, first_line: int = 1) -> Iterator[Loaded]:
    for lineno, line in enumerate(text.splitlines(), first_line):
        if not line.strip():
            continue
        where = f"{origin}:{lineno}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            yield (where, f"invalid JSON ({e.msg})")
            continue
        yield _record(record, where)


def parse_json(text: str, origin: str) -> Iterator[Loaded]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise LoadError(f"invalid JSON at line {e.lineno} column {e.colno} ({e.msg})") from None
    if isinstance(data, dict) and isinstance(data.get("articles"), list):
        data = data["articles"]
    records = data if isinstance(data, list) else [data]
    for i, record in enumerate(records):
        where = f"{origin}[{i}]" if isinstance(data, list) else origin
        yield _record(record, where)


def _record(record: Any, where: str) -> Loaded:
    """One record's article, or its failure: a bad record never costs the file's other records."""
    try:
        return record_to_article(record, where)
    except LoadError as e:
        return (where, str(e))
    except Exception as e:  # noqa: BLE001 - a field of a shape no rule expected
        log.debug("unexpected failure reading %s", where, exc_info=True)
        return (where, f"unreadable record ({type(e).__name__}: {e})")


def record_to_article(record: Any, origin: str) -> Article:
    """A record with the fields of the shared articles.jsonl: url, source, title, authors, published, text."""
    if not isinstance(record, dict):
        raise LoadError(f"expected an object with a text field, got {type(record).__name__}")
    body = record.get("text") or record.get("body") or record.get("content") or ""
    if not isinstance(body, str):
        raise LoadError("the text field is not a string")
    return article_from_fields(body, record, origin)


# --- HTML and feeds ----------------------------------------------------------------------------


def parse_html(raw: bytes | str, origin: str = "", url: str = "") -> Article:
    import trafilatura

    html = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    doc = trafilatura.bare_extraction(html, url=url or None, with_metadata=True, favor_precision=True)
    if doc is None:
        raise LoadError("no article text found in the HTML")
    meta = doc if isinstance(doc, dict) else doc.as_dict()
    body = meta.get("text") or ""
    if not body.strip():
        raise LoadError("no article text found in the HTML")
    return make_article(
        body=body,
        title=meta.get("title") or "",
        source=meta.get("sitename") or meta.get("hostname") or "",
        url=url or meta.get("url") or "",
        authors=meta.get("author") or (),
        published=meta.get("date"),
        origin=origin,
    )


def parse_feed(
    raw: bytes,
    origin: str = "",
    fetch: Callable[[str], bytes] | None = None,
    skip: Callable[[Any], bool] | None = None,
) -> Iterator[Loaded]:
    """Each entry of an RSS/Atom feed; entries carrying only a summary are completed from their page.

    `skip(entry)` drops an entry (one already ingested, say) before its page is fetched."""
    import feedparser

    feed = feedparser.parse(raw)
    entries = [e for e in feed.entries if e.get("title") or e.get("link") or e.get("summary")]
    if not entries:
        reason = feed.get("bozo_exception") or "no entries"
        raise LoadError(f"not a readable RSS/Atom feed ({reason})")
    outlet = feed.feed.get("title", "")
    fetch = fetch or fetch_url
    for i, entry in enumerate(entries):
        if skip is not None and skip(entry):
            continue
        where = f"{origin}#{entry.get('link') or i}"
        link = entry.get("link", "")
        content = " ".join(c.get("value", "") for c in entry.get("content", []))
        summary = entry.get("summary", "")
        published = entry.get("published_parsed") or entry.get("updated_parsed") or entry.get("published")
        authors = [a.get("name", "") for a in entry.get("authors", []) if a.get("name")]
        try:
            if needs_page(entry):
                try:
                    page = parse_html(fetch(link), origin=where, url=link)
                    body = page.body
                except LoadError as e:
                    log.warning("%s: could not fetch the full article (%s); using the summary", where, e)
                    body = strip_tags(content or summary)
            else:
                body = strip_tags(content or summary)
            yield make_article(
                body=body,
                title=entry.get("title", ""),
                source=outlet,
                url=link,
                authors=authors,
                published=published,
                origin=where,
            )
        except LoadError as e:
            yield (where, str(e))


def needs_page(entry: Any) -> bool:
    """A feedparser entry with a link but under 400 characters of content: only a summary."""
    content = " ".join(c.get("value", "") for c in entry.get("content", []))
    return bool(entry.get("link")) and len(strip_tags(content)) < 400


def strip_tags(html: str) -> str:
    """The text of an HTML fragment, entities decoded; plain text comes back as it is."""
    if "<" not in html:
        return html
    from lxml import html as lxml_html

    try:
        return lxml_html.fromstring(html).text_content()
    except Exception:
        return re.sub(r"<[^>]+>", " ", html)


# --- URLs --------------------------------------------------------------------------------------


def fetch_url(url: str) -> bytes:
    """The body of `url` under the fetch policy of the environment (retrieval/ingest/fetch.py):
    a feed cannot make newsbot read a local file or an address inside the network."""
    return fetch_bytes(url)


def load_url(url: str) -> Iterator[Loaded]:
    raw = fetch_url(url)
    if not raw.strip():
        raise LoadError("empty response")
    if FEED_SNIFF.search(raw[:2048]):
        yield from parse_feed(raw, origin=url)
    else:
        yield parse_html(raw, origin=url, url=url)
