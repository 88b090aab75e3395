"""Each format → Article, and each kind of bad input → a failure that names it, the rest read."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retrieval.ingest.loaders import load
from retrieval.types import Article

from tests.conftest import CORPUS

BODY = (
    "The city council approved a new budget on Tuesday. It adds money for parks and libraries. "
    "Critics said the plan ignores road repairs. The mayor will sign it next week."
)


def articles(inputs: list) -> list[Article]:  # type: ignore[type-arg]
    return [a for a in load(inputs) if isinstance(a, Article)]


def failures(inputs: list) -> list[tuple[str, str]]:  # type: ignore[type-arg]
    return [f for f in load(inputs) if isinstance(f, tuple)]


def test_seed_format_reads_the_date_header_and_body() -> None:
    (seed,) = articles([CORPUS / "000_ff46239a7c5f29a8.txt"])
    assert seed.published == dt.date(2021, 12, 20)
    assert seed.body.startswith("Prime Minister Narendra Modi on Monday")
    assert "date 2021" not in seed.body
    assert seed.title.startswith("Prime Minister Narendra Modi")  # derived from the text


def test_seed_format_may_name_its_outlet_and_ingest_can_name_it_for_files_that_do_not(tmp_path: Path) -> None:
    named = tmp_path / "named.txt"
    named.write_text(f"date 2024-03-01\nsource The Hindu\n{BODY}\n")
    bare = tmp_path / "bare.txt"
    bare.write_text(f"date 2024-03-02\n{BODY} Another sentence.\n")

    by_date = {a.published: a for a in articles([named, bare])}
    assert by_date[dt.date(2024, 3, 1)].source == "The Hindu"
    assert by_date[dt.date(2024, 3, 1)].body == BODY  # the header line is not news text
    assert by_date[dt.date(2024, 3, 2)].source == ""

    given = {a.published: a.source for a in load([named, bare], source="Reuters") if isinstance(a, Article)}
    assert given == {dt.date(2024, 3, 1): "The Hindu", dt.date(2024, 3, 2): "Reuters"}  # a file's own outlet wins


def test_markdown_with_front_matter(tmp_path: Path) -> None:
    f = tmp_path / "budget.md"
    f.write_text(
        "---\ntitle: Council passes budget\nsource: City Times\nurl: https://example.org/budget\n"
        "published: 2024-03-05T10:00:00Z\nauthors: [Ann Lee, Bo Chen]\n---\n" + BODY
    )
    (a,) = articles([f])
    assert (a.title, a.source, a.url, a.published) == (
        "Council passes budget", "City Times", "https://example.org/budget", dt.date(2024, 3, 5)
    )
    assert a.authors == ("Ann Lee", "Bo Chen")
    assert a.body == BODY


def test_plain_text_takes_a_heading_as_title(tmp_path: Path) -> None:
    f = tmp_path / "note.txt"
    f.write_text("# Council passes budget\n\n" + BODY)
    (a,) = articles([f])
    assert a.title == "Council passes budget" and a.published is None


def test_jsonl_records_in_the_shared_format_and_a_bad_line(tmp_path: Path) -> None:
    good = {"url": "https://www.usatoday.com/x", "source": "www.usatoday.com", "title": "T1",
            "authors": ["A"], "published": "2025/04/11", "text": BODY}
    undated = dict(good, url="https://www.cnn.com/y", title="T2", published="", text=BODY + " More.")
    f = tmp_path / "a.jsonl"
    f.write_text(json.dumps(good) + "\n{not json\n" + json.dumps(undated) + "\n" + json.dumps({"title": "no text"}) + "\n")
    got = list(load([f]))
    assert [a.title for a in got if isinstance(a, Article)] == ["T1", "T2"]
    assert got[0].published == dt.date(2025, 4, 11) and got[2].published is None  # type: ignore[union-attr]
    bad = [f for f in got if isinstance(f, tuple)]
    assert bad == [(f"{f}:2", bad[0][1]), (f"{f}:4", "no article text")]
    assert "invalid JSON" in bad[0][1]


def test_jsonl_is_read_line_by_line_so_a_line_that_is_not_utf8_costs_only_that_line(tmp_path: Path) -> None:
    record = {"title": "T1", "text": BODY, "published": "2025-04-11"}
    f = tmp_path / "a.jsonl"
    f.write_bytes(b"\xef\xbb\xbf" + json.dumps(record).encode() + b"\n" + b'{"title": "caf\xe9", "text": "x"}\n'
                  + json.dumps(dict(record, title="T3", text=BODY + " Again.")).encode() + b"\n")
    got = list(load([f]))
    assert [a.title for a in got if isinstance(a, Article)] == ["T1", "T3"]
    assert got[1] == (f"{f}:2", "not valid UTF-8 (byte 0xe9 at column 15)")
    reading = load([f])
    assert isinstance(next(reading), Article)  # lazily: the first record before the rest is read


def test_json_list_and_iso_dates(tmp_path: Path) -> None:
    f = tmp_path / "a.json"
    f.write_text(json.dumps([{"title": "A", "text": BODY, "published": "2025-01-02T03:04:05+00:00"}]))
    (a,) = articles([f])
    assert a.published == dt.date(2025, 1, 2)


HTML = """<!doctype html><html><head><title>Council passes budget | City Times</title>
<meta property="og:site_name" content="City Times">
<meta name="date" content="2024-03-05"></head>
<body><nav>Home | Sports | Weather</nav><article><h1>Council passes budget</h1>
<p>{body}</p><p>The vote was seven to two after a long debate about spending priorities for the coming year.</p>
</article><footer>Copyright City Times</footer></body></html>""".format(body=BODY)


def test_html_main_text_is_extracted(tmp_path: Path) -> None:
    f = tmp_path / "page.html"
    f.write_text(HTML)
    (a,) = articles([f])
    assert "new budget" in a.body and "Copyright" not in a.body and "Sports" not in a.body
    assert "Council passes budget" in a.title
    assert a.published == dt.date(2024, 3, 5)


RSS = """<?xml version="1.0"?><rss version="2.0"><channel><title>City Times</title>
<item><title>Council passes budget</title><link>{link}</link>
<pubDate>Tue, 05 Mar 2024 10:00:00 GMT</pubDate><description>Short summary.</description></item>
<item><title>Full story in feed</title><link>https://example.org/full</link>
<pubDate>Wed, 06 Mar 2024 10:00:00 GMT</pubDate><description>{long}</description></item>
</channel></rss>"""


@pytest.fixture
def web(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A static web server on 127.0.0.1 serving tmp_path/www (loopback allowed, as for an intranet)."""
    monkeypatch.setenv("NEWSBOT_ALLOW_PRIVATE_URLS", "127.0.0.1")
    root = tmp_path / "www"
    root.mkdir()
    handler = lambda *a, **kw: http.server.SimpleHTTPRequestHandler(*a, directory=str(root), **kw)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_feed_from_url_fetches_linked_pages_when_it_carries_only_summaries(web: str, tmp_path: Path) -> None:
    www = tmp_path / "www"
    (www / "budget.html").write_text(HTML)
    (www / "feed.xml").write_text(RSS.format(link=f"{web}/budget.html", long=("Long text. " * 60).strip()))
    got = articles([f"{web}/feed.xml"])
    assert [a.title for a in got] == ["Council passes budget", "Full story in feed"]
    assert "new budget" in got[0].body  # fetched from the linked page, not the summary
    assert got[0].source == "City Times" and got[0].published == dt.date(2024, 3, 5)


def test_atom_feed_file(tmp_path: Path) -> None:
    f = tmp_path / "feed.atom"
    f.write_text(
        '<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>Wire</title>'
        '<entry><title>Budget</title><link href="https://example.invalid/a"/><updated>2024-03-05T00:00:00Z</updated>'
        f"<content type=\"html\">&lt;p&gt;{(BODY + ' ') * 4}&lt;/p&gt;</content></entry></feed>"
    )
    (a,) = articles([f])
    assert a.title == "Budget" and a.source == "Wire" and "<p>" not in a.body


def test_bad_inputs_are_named_with_a_reason_and_the_rest_is_read(tmp_path: Path, web: str) -> None:
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "binary.txt").write_bytes(b"\x00\x01\x02PNG\x00" * 50)
    (tmp_path / "latin1.txt").write_bytes("Café au lait, déjà vu. ".encode("latin-1") * 5)
    (tmp_path / "broken.json").write_text('{"title": "x", "text": ')
    (tmp_path / "broken.rss").write_text("<rss><channel><item>")
    (tmp_path / "good.md").write_text("# Good\n\n" + BODY)
    got = list(load([tmp_path, tmp_path / "missing.txt", f"{web}/nothing-here.xml", "http://127.0.0.1:9/feed"]))
    good = [a for a in got if isinstance(a, Article)]
    reasons = {Path(name).name if not name.startswith("http") else name: why for name, why in (f for f in got if isinstance(f, tuple))}
    assert [a.title for a in good] == ["Good"]
    assert reasons["empty.txt"] == "empty file"
    assert "binary" in reasons["binary.txt"]
    assert "UTF-8" in reasons["latin1.txt"]
    assert "invalid JSON" in reasons["broken.json"]
    assert "feed" in reasons["broken.rss"]
    assert reasons["missing.txt"] == "no such file or folder"
    assert "HTTP 404" in reasons[f"{web}/nothing-here.xml"]
    assert "cannot fetch" in reasons["http://127.0.0.1:9/feed"]


def test_same_url_gives_same_id_and_tracking_parameters_do_not_matter() -> None:
    from retrieval.ingest.loaders import make_article

    a = make_article(body=BODY, url="https://Example.org/story/?utm_source=x#top")
    b = make_article(body=BODY + " Updated.", url="https://example.org/story")
    assert a.id == b.id and a.content_hash != b.content_hash


GOOD = {"url": "https://example.org/ok", "source": "Example", "title": "Fine", "published": "2024-05-02",
        "text": "A perfectly ordinary article about the harbour festival."}


@pytest.mark.parametrize("field, value", [
    ("authors", 5), ("authors", {"name": "A"}), ("authors", [1, None, "B"]), ("published", float("nan")),
    ("published", 1e300), ("published", True), ("published", [2020]), ("source", 7), ("url", ["x"]),
    ("title", {"t": 1}), ("text", 5),
])
def test_one_odd_record_is_reported_and_the_records_after_it_are_read(tmp_path: Path, field: str, value: object) -> None:
    """Issue #14: `{"authors": 5}` or a NaN date used to make the whole file "unreadable"."""
    f = tmp_path / "news.jsonl"
    odd = {**GOOD, "url": "https://example.org/odd", field: value}
    f.write_text("\n".join(json.dumps(r) for r in (GOOD, odd, {**GOOD, "url": "https://example.org/after"})),
                 encoding="utf-8")
    items = list(load([f]))
    articles = [i for i in items if isinstance(i, Article)]
    assert len(items) == 3 and articles[-1].url == "https://example.org/after"
    for item in items:
        if not isinstance(item, Article):
            assert item[0] == f"{f}:2" and item[1]  # named by line, with a reason
    if field == "published":
        assert articles[1].published is None  # no date rather than a guess


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)


@settings(max_examples=150, deadline=None)
@given(record=st.dictionaries(st.sampled_from(sorted(GOOD) + ["author", "date", "body", "link"]), JSON, max_size=6))
def test_any_json_shape_costs_at_most_its_own_line(record: dict[str, object]) -> None:
    from retrieval.ingest.loaders import parse_jsonl

    text = "\n".join([json.dumps({**GOOD, **record}), json.dumps(GOOD)])
    items = list(parse_jsonl(text, "f.jsonl"))
    assert len(items) == 2 and isinstance(items[1], Article)


def test_escape_sequences_in_articles_are_not_stored(tmp_path: Path) -> None:
    """Issue #14: ESC sequences in an article reached `ask`, `chat` and `/open`."""
    f = tmp_path / "evil.jsonl"
    f.write_text(json.dumps({
        "url": "https://example.org/evil", "source": "Evil\x1b[2J Times", "authors": ["A\x07"],
        "title": "Clear \x1b]8;;https://evil.example\x1b\\screen\x1b]8;;\x1b\\",
        "text": "Normal words.\x1b[31m Red?\x9b Tab\there.\nNext line\x00 ends.",
    }) + "\n", encoding="utf-8")
    [article] = list(load([f]))
    assert isinstance(article, Article)
    for text in (article.title, article.source, article.body, *article.authors):
        assert not any(ord(ch) < 32 and ch not in "\n\t" or 0x7f <= ord(ch) <= 0x9f for ch in text), repr(text)
    assert "Tab here.\nNext line ends." in article.body  # a tab is a space, as before


def test_huge_inputs_are_refused_with_a_reason_and_the_rest_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue #14: no size limit on files; one huge article could exhaust memory or the store."""
    from retrieval.ingest import loaders

    monkeypatch.setattr(loaders, "MAX_DOCUMENT_BYTES", 1000)  # the real limits are 20 MiB and 2 GiB
    big = tmp_path / "big.html"
    big.write_text("<html><body><p>" + "word " * 400 + "</p></body></html>", encoding="utf-8")
    records = tmp_path / "news.jsonl"
    records.write_text("\n".join(json.dumps(r) for r in (
        {**GOOD, "url": "https://example.org/huge", "text": "Long words. " * (loaders.MAX_ARTICLE_CHARS // 10)}, GOOD,
    )), encoding="utf-8")
    items = list(load([big, records]))
    failures = {i[0]: i[1] for i in items if not isinstance(i, Article)}
    assert "MiB" in failures[str(big)] and "not read" in failures[str(big)]
    assert "2,000,000" in failures[f"{records}:1"]
    assert [a.url for a in items if isinstance(a, Article)] == [GOOD["url"]]


ENCODINGS = ["utf-8", "utf-16", "latin-1", "cp1252", "shift_jis", "koi8-r"]
SUFFIXES = [".txt", ".md", ".html", ".json", ".jsonl", ".xml", ".rss", ""]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    suffix=st.sampled_from(SUFFIXES),
    content=st.one_of(
        st.binary(max_size=3000),
        st.tuples(st.text(max_size=400), st.sampled_from(ENCODINGS)).map(lambda t: t[0].encode(t[1], errors="replace")),
        st.sampled_from(["<html><body><p>", '{"text": "', '<?xml version="1.0"?><rss><channel><item><description>'])
        .map(lambda head: (head + "é" * 5000 + "word " * 20000).encode("utf-8")),  # enormous fields
    ),
)
def test_any_bytes_in_any_kind_of_file_give_articles_or_named_failures(tmp_path: Path, suffix: str, content: bytes) -> None:
    f = tmp_path / f"input{suffix}"
    f.write_bytes(content)
    for item in load([f]):  # never raises: every input is an article or a failure with its reason
        assert isinstance(item, Article) or (isinstance(item, tuple) and item[0].startswith(str(f)) and item[1])
