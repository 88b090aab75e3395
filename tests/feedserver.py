"""A real HTTP server on 127.0.0.1 serving invented feeds and article pages, for the watcher's tests.

Each path's content can change while it runs; it answers If-None-Match with 304, counts the
requests and 304s per path, and can fail a path (a status code) or hold it until released.
"""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.sax.saxutils import escape

TOPICS = [  # invented stories, each its own paragraph (the ingester folds near-duplicates together)
    ("Lowmoor tram line", [
        "The Lowmoor town council approved a tram line linking the harbour to the hospital",
        "Councillors voted nine to four after a debate that ran past midnight",
        "The first trams are expected to carry passengers in the autumn of next year",
        "Fishermen at the harbour asked for a stop close to the early morning auction hall",
        "The mayor said fares would be capped for pensioners and students",
    ]),
    ("Brackenfold orchard", [
        "Volunteers in Brackenfold replanted an orchard of forty rare pear trees",
        "The saplings were grafted from a single old tree that survived a storm in the village",
        "Children from the primary school labelled every tree with a hand-painted sign",
        "A beekeeper has offered to place hives at the edge of the orchard",
        "The first harvest is not expected for at least five summers",
    ]),
    ("Quillon bridge", [
        "Engineers closed the Quillon footbridge after finding cracks in two of its cables",
        "Commuters now face a detour of twenty minutes through the industrial estate",
        "An inspection by drone revealed corrosion where the cables meet the north tower",
        "The county surveyor said repairs could take until the end of the year",
        "A temporary ferry will run across the river during the morning rush",
    ]),
    ("Saltmere library", [
        "The Saltmere library opened a night reading room staffed by retired teachers",
        "The room stays open until two in the morning on weekdays",
        "Night-shift nurses and taxi drivers were among the first visitors",
        "Donations from a local bakery pay for tea and biscuits",
        "The librarian hopes to add a small collection of audio books in the spring",
    ]),
    ("Harrowgate lighthouse", [
        "Volunteers led by Imelda Quarrington repainted the Harrowgate lighthouse violet",
        "The colour was chosen by a vote among the pupils of the harbour school",
        "Quarrington, a retired sailmaker, spent three weekends on the scaffolding",
        "Paint was donated by a boatyard that has worked on the coast since the war",
        "Sailors say the new colour can be seen from the cliffs across the bay",
    ]),
]


@dataclass
class Item:
    n: int
    full: bool = False  # full text in content:encoded (no page fetch) or only a summary (page fetched)

    @property
    def title(self) -> str:
        return f"{TOPICS[self.n % len(TOPICS)][0]} report {self.n}"

    @property
    def text(self) -> str:
        first, *rest = TOPICS[self.n % len(TOPICS)][1]
        tail = f"Report {self.n} is invented for newsbot's tests and describes no real event."
        return f"{first}, according to report number {self.n}. " + ". ".join(rest) + ". " + tail


@dataclass
class FeedServer:
    base: str = ""
    routes: dict[str, tuple[bytes, str]] = field(default_factory=dict)  # path → (body, content type)
    status: dict[str, int] = field(default_factory=dict)  # path → forced error status
    headers: dict[str, dict[str, str]] = field(default_factory=dict)  # path → extra headers
    holds: dict[str, threading.Event] = field(default_factory=dict)  # path → answered once set
    hits: Counter[str] = field(default_factory=Counter)
    not_modified: Counter[str] = field(default_factory=Counter)

    def url(self, path: str) -> str:
        return self.base + path

    def feed(self, path: str, items: list[Item], title: str = "Invented Gazette", ttl: int | None = None) -> str:
        """Serve an RSS feed of `items` at `path`, and a page for each summary-only item."""
        for item in items:
            if not item.full:
                self.routes[f"/articles/{item.n}.html"] = (page(item).encode(), "text/html; charset=utf-8")
        self.routes[path] = (rss(self, title, items, ttl), "application/rss+xml")
        return self.url(path)

    def raw(self, path: str, body: bytes, content_type: str = "application/rss+xml") -> str:
        self.routes[path] = (body, content_type)
        return self.url(path)


def rss(server: FeedServer, title: str, items: list[Item], ttl: int | None = None) -> bytes:
    entries = []
    for item in items:
        link = server.url(f"/articles/{item.n}.html")
        content = f"<content:encoded><![CDATA[<p>{item.text}</p>]]></content:encoded>" if item.full else ""
        entries.append(
            f"<item><title>{escape(item.title)}</title><link>{link}</link><guid>urn:invented:{item.n}</guid>"
            f"<pubDate>{formatdate(1_700_000_000 + item.n * 3600, usegmt=True)}</pubDate>"
            f"<description>{escape(item.text[:120])}</description>{content}</item>"
        )
    ttl_tag = f"<ttl>{ttl}</ttl>" if ttl else ""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
        f"<title>{escape(title)}</title><link>{server.base}/</link><description>Invented news</description>"
        f"{ttl_tag}{''.join(reversed(entries))}</channel></rss>"
    ).encode()


def page(item: Item) -> str:
    paragraphs = "".join(f"<p>{s.strip()}.</p>" for s in item.text.split(". ") if s.strip(". "))
    return (
        f"<!doctype html><html><head><title>{item.title}</title></head><body>"
        f"<article><h1>{item.title}</h1>{paragraphs}</article></body></html>"
    )


def _handler(server: FeedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            path = self.path.split("?")[0]
            server.hits[path] += 1
            if path in server.holds:
                server.holds[path].wait(30)
            if path in server.status:
                self.send_error(server.status[path])
                return
            if path not in server.routes:
                self.send_error(404)
                return
            body, kind = server.routes[path]
            etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
            if self.headers.get("If-None-Match") == etag:
                server.not_modified[path] += 1
                self.send_response(304)
                self.send_header("ETag", etag)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("ETag", etag)
            for name, value in server.headers.get(path, {}).items():
                self.send_header(name, value)
            self.end_headers()
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
                pass

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@contextmanager
def serving() -> Iterator[FeedServer]:
    state = FeedServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    state.base = f"http://127.0.0.1:{httpd.server_port}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        for hold in state.holds.values():
            hold.set()
        httpd.shutdown()
        httpd.server_close()
