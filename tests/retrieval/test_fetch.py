"""The safe fetcher against real HTTP(S) servers on 127.0.0.1: what a hostile feed could try
(other schemes, redirects into the network, endless or compressed bodies, silence) is refused or
cut off with a one-line LoadError, and nothing outside 127.0.0.1 is ever connected to."""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress
import socket
import ssl
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

import pytest

from retrieval.errors import ConfigError, LoadError
from retrieval.ingest.fetch import FetchPolicy, FetchRefused, HTTPStatusError, fetch, fetch_bytes
from retrieval.types import Article

LOCAL = FetchPolicy(allow=(ipaddress.ip_network("127.0.0.1/32"),))
MB = 2**20
BLOCK = b"x" * (64 * 1024)
ETAG = '"v1"'
MODIFIED = "Tue, 05 Mar 2024 10:00:00 GMT"
ARTICLE = (
    "<html><head><title>Council passes budget</title></head><body><article>"
    "<h1>Council passes budget</h1>"
    + "<p>The city council approved a new budget on Tuesday after a long debate about spending.</p>" * 8
    + "</article></body></html>"
)
FEED = """<?xml version="1.0"?><rss version="2.0"><channel><title>City Times</title>
<item><title>Council passes budget</title><link>{base}/article.html</link>
<pubDate>Tue, 05 Mar 2024 10:00:00 GMT</pubDate><description>Short summary.</description></item>
<item><title>Password file</title><link>file:///etc/passwd</link>
<pubDate>Wed, 06 Mar 2024 10:00:00 GMT</pubDate>
<description>Only the summary of this one.</description></item>
</channel></rss>"""


@functools.cache
def gzip_bomb() -> bytes:
    """50 MB of zeros, gzipped to about 50 KB."""
    z = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: a gzip container
    return b"".join(z.compress(bytes(MB)) for _ in range(50)) + z.flush()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # a body without Content-Length ends when the connection closes
    server: Server

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.server.requests.append((self.path, dict(self.headers)))
        path, _, query = self.path.partition("?")
        try:
            route = path.strip("/").replace("/", "_").replace(".", "_").replace("-", "_")
            getattr(self, "route_" + route)(query)
        except AttributeError:
            self.reply(404, b"no such page")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading, as it should past the cap

    def reply(self, status: int, body: bytes = b"", **headers: str) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        if "Content_Length" not in headers:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def route_page(self, query: str) -> None:
        if self.headers.get("If-None-Match") == ETAG or self.headers.get("If-Modified-Since") == MODIFIED:
            self.reply(304, ETag=ETAG)
        else:
            self.reply(200, b"hello", ETag=ETAG, Last_Modified=MODIFIED, Cache_Control="public, max-age=300")

    def route_nocache(self, query: str) -> None:
        self.reply(200, b"fresh", Cache_Control="no-cache, max-age=60")

    def route_redirect(self, query: str) -> None:
        self.reply(302, Location=unquote(query))

    def route_dir_relative(self, query: str) -> None:
        self.reply(301, Location="../page")

    def route_loop(self, query: str) -> None:
        self.reply(302, Location="/loop")

    def route_status_404(self, query: str) -> None:
        self.reply(404, b"gone")

    def route_status_503(self, query: str) -> None:
        self.reply(503, b"busy")

    def route_big(self, query: str) -> None:  # 50 MB, length not declared
        self.send_response(200)
        self.end_headers()
        for _ in range(50 * MB // len(BLOCK)):
            self.wfile.write(BLOCK)

    def route_big_declared(self, query: str) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(50 * MB))
        self.end_headers()
        for _ in range(50 * MB // len(BLOCK)):
            self.wfile.write(BLOCK)

    def route_lying(self, query: str) -> None:  # says 1000 bytes, sends 50 MB
        self.send_response(200)
        self.send_header("Content-Length", "1000")
        self.end_headers()
        for _ in range(50 * MB // len(BLOCK)):
            self.wfile.write(BLOCK)

    def route_chunked(self, query: str) -> None:
        self.protocol_version = "HTTP/1.1"
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for _ in range(50 * MB // len(BLOCK)):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(BLOCK), BLOCK))
        self.wfile.write(b"0\r\n\r\n")

    def route_bomb(self, query: str) -> None:
        self.reply(200, gzip_bomb(), Content_Encoding="gzip")

    def route_small_gzip(self, query: str) -> None:
        z = zlib.compressobj(9, zlib.DEFLATED, 31)
        self.reply(200, z.compress(b"compressed news " * 100) + z.flush(), Content_Encoding="gzip")

    def route_drip(self, query: str) -> None:  # one byte at a time, never done
        self.send_response(200)
        self.end_headers()
        for _ in range(100):
            self.wfile.write(b".")
            self.wfile.flush()
            time.sleep(0.1)

    def route_feed_xml(self, query: str) -> None:
        base = f"http://{self.headers['Host']}"
        self.reply(200, FEED.format(base=base).encode(), Content_Type="application/rss+xml")

    def route_article_html(self, query: str) -> None:
        self.reply(200, ARTICLE.encode(), Content_Type="text/html; charset=utf-8")


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str = "127.0.0.1") -> None:
        super().__init__((host, 0), Handler)
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.port = self.server_address[1]
        self.base = f"http://{host}:{self.port}"


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    threading.Thread(target=s.serve_forever, args=(0.05,), daemon=True).start()
    yield s
    s.shutdown()
    s.server_close()


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Every (address, port) urllib3 opens a socket to."""
    import urllib3.util.connection

    opened: list[tuple[str, int]] = []
    real = urllib3.util.connection.create_connection

    def recording(address: tuple[str, int], *args: object, **kwargs: object) -> socket.socket:
        opened.append(address)
        return real(address, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(urllib3.util.connection, "create_connection", recording)
    return opened


# --- what may be fetched ------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://x.org/", "data:text/plain,hi", "gopher://x/"])
def test_only_http_and_https_are_fetched(url: str) -> None:
    with pytest.raises(FetchRefused, match="only http"):
        fetch(url, policy=FetchPolicy(allow=True))


def test_loopback_is_refused_by_default(server: Server, connections: list[tuple[str, int]]) -> None:
    with pytest.raises(FetchRefused) as e:
        fetch_bytes(f"{server.base}/page")  # the policy of the (emptied) environment
    assert str(e.value) == (
        f"refused: {server.base}/page resolves to a loopback address 127.0.0.1 "
        "(set NEWSBOT_ALLOW_PRIVATE_URLS=1 to allow)"
    )
    assert connections == [] and server.requests == []


@pytest.mark.parametrize(
    "url, why",
    [
        ("http://10.0.0.5/", "a private address 10.0.0.5"),
        ("http://100.64.0.1/", "a private address 100.64.0.1"),
        ("http://0.0.0.0/", "an unspecified address 0.0.0.0"),
        ("http://224.0.0.1/", "a multicast address 224.0.0.1"),
        ("http://[::]/", "an unspecified address ::"),
        ("http://[fe80::1]/", "a link-local address fe80::1"),
        ("http://[fd00:ec2::254]/", "the cloud metadata address fd00:ec2::254"),
        ("http://[::ffff:127.0.0.1]/", "a loopback address 127.0.0.1 (in ::ffff:7f00:1)"),
        ("http://[2002:a00:1::]/", "a private address 10.0.0.1 (in 2002:a00:1::)"),  # 6to4
        ("http://localhost/", "a loopback address"),
    ],
)
def test_addresses_outside_the_public_internet_are_refused(
    url: str, why: str, connections: list[tuple[str, int]]
) -> None:
    with pytest.raises(FetchRefused, match="resolves to " + why.replace("(", r"\(").replace(")", r"\)")):
        fetch(url, policy=FetchPolicy())
    assert connections == []


def test_the_metadata_service_is_refused_even_inside_an_allowed_network() -> None:
    policy = FetchPolicy(allow=(ipaddress.ip_network("169.254.0.0/16"),))
    with pytest.raises(FetchRefused, match="cloud metadata address 169.254.169.254"):
        fetch("http://169.254.169.254/latest/meta-data/", policy=policy)


def test_allowed_addresses_are_fetched_and_the_request_is_polite(server: Server) -> None:
    got = fetch(f"{server.base}/page?x=1", policy=LOCAL)
    assert (got.status, got.body, got.url, got.max_age) == (200, b"hello", f"{server.base}/page?x=1", 300)
    path, headers = server.requests[0]
    assert path == "/page?x=1"
    assert headers["Host"] == f"127.0.0.1:{server.port}" and headers["User-Agent"].startswith("newsbot/")


def test_the_environment_sets_the_policy(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSBOT_ALLOW_PRIVATE_URLS", "10.0.0.0/8, 127.0.0.1")
    assert fetch_bytes(f"{server.base}/page") == b"hello"
    monkeypatch.setenv("NEWSBOT_ALLOW_PRIVATE_URLS", "1")
    monkeypatch.setenv("NEWSBOT_FETCH_TIMEOUT", "2.5")
    monkeypatch.setenv("NEWSBOT_FETCH_MAX_BYTES", "1000")
    assert FetchPolicy.from_env() == FetchPolicy(allow=True, timeout=2.5, max_bytes=1000)
    for name, bad in [("NEWSBOT_ALLOW_PRIVATE_URLS", "intranet"), ("NEWSBOT_FETCH_TIMEOUT", "soon")]:
        with monkeypatch.context() as m:
            m.setenv(name, bad)
            with pytest.raises(ConfigError, match=name):
                FetchPolicy.from_env()


# --- redirects ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "http://127.0.0.2:{port}/page",
        "http://[::1]:{port}/page",
        "http://[::ffff:10.0.0.1]/",
        "file:///etc/passwd",
    ],
)
def test_a_redirect_out_of_the_allowed_addresses_is_refused(
    server: Server, connections: list[tuple[str, int]], target: str
) -> None:
    start = f"{server.base}/redirect?{target.format(port=server.port)}"
    with pytest.raises(FetchRefused, match=r"redirected from") as e:
        fetch(start, policy=LOCAL)
    assert "\n" not in str(e.value)
    assert connections == [("127.0.0.1", server.port)]  # only the redirecting server


def test_a_relative_redirect_is_followed(server: Server) -> None:
    got = fetch(f"{server.base}/dir/relative", policy=LOCAL)
    assert (got.url, got.body) == (f"{server.base}/page", b"hello")


def test_a_redirect_loop_stops(server: Server) -> None:
    with pytest.raises(LoadError, match=r"too many redirects \(more than 5\) fetching .*/loop"):
        fetch(f"{server.base}/loop", policy=LOCAL)
    assert len(server.requests) == 6


# --- bodies -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path, message",
    [
        ("/big", "response larger than 10 MiB; cut off"),
        ("/chunked", "response larger than 10 MiB; cut off"),
        ("/bomb", "response larger than 10 MiB; cut off"),
        ("/big-declared", r"response larger than 10 MiB \(Content-Length 52428800\)"),
    ],
)
def test_a_huge_body_is_cut_off_quickly_in_little_memory(server: Server, path: str, message: str) -> None:
    started = time.monotonic()
    tracemalloc.start()
    try:
        with pytest.raises(LoadError, match=message):
            fetch(f"{server.base}{path}", policy=LOCAL)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 30 * MB
    assert time.monotonic() - started < 10


def test_a_body_longer_than_its_content_length_is_read_to_the_length_only(server: Server) -> None:
    assert len(fetch_bytes(f"{server.base}/lying", policy=LOCAL)) == 1000


def test_gzip_is_decoded_and_the_cap_counts_decoded_bytes(server: Server) -> None:
    assert fetch_bytes(f"{server.base}/small-gzip", policy=LOCAL) == b"compressed news " * 100
    small = FetchPolicy(allow=LOCAL.allow, max_bytes=1000)  # the gzip itself is under 100 bytes
    with pytest.raises(LoadError, match="larger than 1000 bytes; cut off"):
        fetch(f"{server.base}/small-gzip", policy=small)


# --- conditional GET, status, time ---------------------------------------------------------------


def test_an_etag_or_a_date_makes_a_304_not_modified(server: Server) -> None:
    first = fetch(f"{server.base}/page", policy=LOCAL)
    assert (first.etag, first.last_modified, first.not_modified) == (ETAG, MODIFIED, False)
    by_etag = fetch(f"{server.base}/page", etag=first.etag, policy=LOCAL)
    by_date = fetch(f"{server.base}/page", last_modified=first.last_modified, policy=LOCAL)
    for got in (by_etag, by_date):
        assert (got.status, got.not_modified, got.body, got.etag) == (304, True, b"", ETAG)
    assert by_date.last_modified == MODIFIED  # kept though the 304 does not repeat it
    assert server.requests[1][1]["If-None-Match"] == ETAG
    assert server.requests[2][1]["If-Modified-Since"] == MODIFIED


def test_no_cache_gives_no_max_age(server: Server) -> None:
    assert fetch(f"{server.base}/nocache", policy=LOCAL).max_age is None


@pytest.mark.parametrize("status", [404, 503])
def test_an_error_status_carries_the_status(server: Server, status: int) -> None:
    with pytest.raises(HTTPStatusError) as e:
        fetch(f"{server.base}/status/{status}", policy=LOCAL)
    assert e.value.status == status
    assert str(e.value).startswith(f"HTTP {status} ")
    assert str(e.value).endswith(f"fetching {server.base}/status/{status}")


def test_a_server_that_never_answers_times_out() -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()  # the kernel accepts the connection; nobody ever reads or answers
    try:
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/"
        started = time.monotonic()
        with pytest.raises(LoadError, match=f"timed out after 0.5 s fetching {url}"):
            fetch(url, policy=FetchPolicy(allow=LOCAL.allow, timeout=0.5))
        assert time.monotonic() - started < 3
    finally:
        silent.close()


def test_a_body_that_drips_forever_times_out(server: Server) -> None:
    started = time.monotonic()
    with pytest.raises(LoadError, match="timed out after 1 s"):
        fetch(f"{server.base}/drip", policy=FetchPolicy(allow=LOCAL.allow, timeout=1))
    assert time.monotonic() - started < 4


def test_dns_failure_and_refused_connections_are_one_line_load_errors() -> None:
    with pytest.raises(LoadError, match="cannot fetch http://nowhere.invalid/: cannot resolve nowhere"):
        fetch("http://nowhere.invalid/", policy=LOCAL)
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    with pytest.raises(LoadError, match=f"cannot fetch http://127.0.0.1:{port}/: Connection refused"):
        fetch(f"http://127.0.0.1:{port}/", policy=LOCAL)


# --- TLS to a pinned address ---------------------------------------------------------------------


def _certificates(tmp_path: Path, name: str) -> tuple[Path, Path, Path]:
    """A CA and a leaf certificate for `name`: (ca.pem, leaf.pem, leaf.key)."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.timezone.utc)

    def cert(subject, key, issuer, signer, ca, san=None):  # type: ignore[no-untyped-def]
        b = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if san:
            b = b.add_extension(x509.SubjectAlternativeName(san), critical=False)
        if ca:
            usage = x509.KeyUsage(True, False, False, False, False, True, True, False, False)
            b = b.add_extension(usage, critical=True)
            b = b.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        return b.sign(signer, hashes.SHA256())

    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = cert("newsbot test CA", ca_key, "newsbot test CA", ca_key, True)
    leaf = cert(name, leaf_key, "newsbot test CA", ca_key, False, [x509.DNSName(name)])
    paths = tmp_path / "ca.pem", tmp_path / "leaf.pem", tmp_path / "leaf.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        leaf_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return paths


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[Callable[[str], tuple[Server, Path, list[str]]]]:
    """An HTTPS server on 127.0.0.1 whose certificate names `name`; also the CA and the SNI seen."""
    servers: list[Server] = []

    def start(name: str) -> tuple[Server, Path, list[str]]:
        ca, leaf, key = _certificates(tmp_path, name)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(leaf, key)
        sni: list[str] = []
        context.sni_callback = lambda sock, name, ctx: sni.append(name)  # type: ignore[assignment,misc]
        s = Server()
        s.socket = context.wrap_socket(s.socket, server_side=True)
        threading.Thread(target=s.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(s)
        return s, ca, sni

    yield start
    for s in servers:
        s.shutdown()
        s.server_close()


def test_https_to_the_pinned_address_still_verifies_the_host_name(
    tls_server: Callable[[str], tuple[Server, Path, list[str]]],
    monkeypatch: pytest.MonkeyPatch,
    connections: list[tuple[str, int]],
) -> None:
    import certifi

    server, ca, sni = tls_server("localhost")
    url = f"https://localhost:{server.port}/page"
    with pytest.raises(LoadError, match="CERTIFICATE_VERIFY_FAILED"):  # not signed by a public CA
        fetch(url, policy=LOCAL)
    monkeypatch.setattr(certifi, "where", lambda: str(ca))
    got = fetch(url, policy=LOCAL)  # localhost is 127.0.0.1 (allowed) and maybe ::1 (dropped)
    assert got.body == b"hello" and sni[-1] == "localhost"
    assert server.requests[-1][1]["Host"] == f"localhost:{server.port}"
    assert set(connections) == {("127.0.0.1", server.port)}
    with pytest.raises(LoadError, match="cannot fetch https://127.0.0.1"):  # the certificate names localhost
        fetch(f"https://127.0.0.1:{server.port}/page", policy=LOCAL)


# --- the loaders go through it -------------------------------------------------------------------


def test_a_feed_url_loads_and_an_entry_linking_a_local_file_keeps_its_summary(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    from retrieval.ingest.loaders import load, load_url

    monkeypatch.setenv("NEWSBOT_ALLOW_PRIVATE_URLS", "127.0.0.1")
    got = list(load_url(f"{server.base}/feed.xml"))
    assert all(isinstance(a, Article) for a in got)
    budget, passwd = got
    assert isinstance(budget, Article) and isinstance(passwd, Article)
    assert "approved a new budget" in budget.body  # fetched from the linked page
    assert passwd.body == "Only the summary of this one." and "root:" not in passwd.body
    monkeypatch.delenv("NEWSBOT_ALLOW_PRIVATE_URLS")
    ((name, reason),) = load([f"{server.base}/feed.xml"])
    assert name == f"{server.base}/feed.xml" and reason.startswith("refused:") and "loopback" in reason
