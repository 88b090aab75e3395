"""Two real `newsbot slack` processes behind one local URL, one Redis: is each mention answered
exactly once when Slack's retry of it lands on the other replica, how soon does the first text
stream, and does a replica keep serving after a 100 MB body and a negative Content-Length?

    .venv/bin/python benchmarks/slack_replicas.py --mentions 50             # NEWSBOT_REDIS_URL set
    .venv/bin/python benchmarks/slack_replicas.py --mentions 50 --no-redis  # keys in the home's SQLite file

Everything runs on 127.0.0.1: the fake Slack Web API of the tests in this process (it records
every call with a monotonic time), a `redis-server` on a free port, two `newsbot slack` processes
(HTTP mode, extractive answers) over one index (corpus/ ingested into a temporary home unless
`--home`), and a round-robin proxy in front of them. Each mention is delivered twice, the original
and its retry (same event_id, `X-Slack-Retry-Num: 1`, newly signed), both at once from a pool of
senders, and the proxy sends the second delivery to the other replica: the case that
de-duplication kept in one process cannot catch.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import math
import os
import re
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from slack_sdk.signature import SignatureVerifier  # noqa: E402

from bot.slack.messages import PLACEHOLDER  # noqa: E402
from tests.bot.conftest import SIGNING_SECRET, event_payload, mention  # noqa: E402
from tests.bot.mock_slack_api import MockSlackAPI, _stream_text  # noqa: E402

EVENTS = "/slack/events"
CHANNEL = "C0LOAD"
MIB = 1024 * 1024
# Answerable from corpus/ (Modi and Putin's call, 2021-12-20); cycled, one thread per mention.
QUESTIONS = (
    "What did Modi and Putin discuss on their phone call?",
    "When did Narendra Modi speak with Vladimir Putin?",
    "Which anti-missile system might India buy from Russia?",
    "What is the S-500?",
    "What did Putin call India?",
    "By how much did trade between India and Russia grow this year?",
    "What did Modi tweet about his call with Putin?",
    "Did the Kremlin confirm the call between Modi and Putin?",
    "Why did Putin thank Modi?",
    "What defence cooperation did India and Russia commit to?",
)
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "host", "content-length"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(ready: Any, what: str, proc: subprocess.Popen[Any], timeout: float, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None:
            tail = f":\n{log.read_text()[-3000:]}" if log else ""
            raise RuntimeError(f"{what} exited with {proc.returncode}{tail}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not ready after {timeout:g} s")
        time.sleep(0.2)


@contextmanager
def redis_server(workdir: Path) -> Iterator[str]:
    """A throwaway `redis-server` on a free port (nothing saved); yields its URL."""
    import redis

    if not shutil.which("redis-server"):
        raise RuntimeError("redis-server is not installed (apt-get install -y redis-server)")
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(workdir)], stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"

    def pings() -> bool:
        try:
            return bool(redis.Redis.from_url(url, socket_timeout=1).ping())
        except redis.RedisError:
            return False

    try:
        _wait(pings, "redis-server", proc, 10)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def redis_seen_keys(url: str) -> int:
    """How many de-duplication keys the replicas wrote (0: they did not use this Redis)."""
    import redis

    return sum(1 for _ in redis.Redis.from_url(url).scan_iter("newsbot:seen:*"))


def build_home(home: Path) -> Path:
    """corpus/ ingested with the real embedder, as `newsbot ingest` does it."""
    subprocess.run([sys.executable, "-c", "from bot.cli import main; main()", "--home", str(home), "ingest",
                    str(ROOT / "corpus")], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    return home


@contextmanager
def replicas(home: Path, api_url: str, logs: Path, redis_url: str | None, count: int = 2,
             timeout: float = 180) -> Iterator[list[int]]:
    """`count` `newsbot slack` processes over `home`, started together; yields their ports once
    each answers /healthz. Their logs go to files (a pipe nobody reads would stall them)."""
    env = {**os.environ, "SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": SIGNING_SECRET,
           "SLACK_API_URL": api_url, "NEWSBOT_HOME": str(home), "NEWSBOT_LLM": "extractive",
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    env.pop("SLACK_APP_TOKEN", None)
    env.pop("NEWSBOT_REDIS_URL", None)
    if redis_url:
        env["NEWSBOT_REDIS_URL"] = redis_url
    logs.mkdir(parents=True, exist_ok=True)
    started: list[tuple[subprocess.Popen[bytes], int, Path]] = []
    try:
        for i in range(count):
            port, log = free_port(), logs / f"replica-{i}.log"
            with log.open("wb") as out:
                proc = subprocess.Popen([sys.executable, "-c", "from bot.cli import main; main()", "-v", "slack",
                                         "--host", "127.0.0.1", "--port", str(port)],
                                        env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
            started.append((proc, port, log))
        for i, (proc, port, log) in enumerate(started):
            _wait(lambda: http_status(f"http://127.0.0.1:{port}/healthz") == 200, f"replica {i}", proc, timeout, log)
        yield [port for _, port, _ in started]
    finally:
        for proc, _, _ in started:
            proc.terminate()
        for proc, _, _ in started:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


def http_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return None


class Proxy:
    """One local URL in front of the replicas. Round-robin, except that a redelivery of an event (its
    event_id seen before) goes to the replica after the one that had the previous delivery. Each
    answer names its replica in `X-Replica`."""

    def __init__(self, ports: list[int]) -> None:
        self.ports = ports
        self._next = itertools.count()
        self._last: dict[str, int] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}{EVENTS}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def pick(self, body: bytes) -> int:
        try:
            event_id = json.loads(body).get("event_id") if body.startswith(b"{") else None
        except ValueError:
            event_id = None
        with self._lock:
            if event_id in self._last:
                replica = (self._last[event_id] + 1) % len(self.ports)
            else:
                replica = next(self._next) % len(self.ports)
            if event_id:
                self._last[event_id] = replica
            return replica

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self.forward()

            def do_POST(self) -> None:
                self.forward()

            def forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                replica = proxy.pick(body)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                conn = http.client.HTTPConnection("127.0.0.1", proxy.ports[replica], timeout=30)
                try:
                    conn.request(self.command, self.path, body=body or None, headers=headers)
                    resp = conn.getresponse()
                    status, data, kind = resp.status, resp.read(), resp.getheader("Content-Type", "text/plain")
                finally:
                    conn.close()
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("X-Replica", str(replica))
                self.end_headers()
                self.wfile.write(data)

        return Handler


@dataclass
class Delivery:
    thread: str  # the mention's ts: its answer goes in this thread
    body: bytes
    retry: int
    sent: float = 0.0
    status: int | None = None
    replica: str | None = None
    seconds: float = 0.0


def deliver(url: str, d: Delivery) -> Delivery:
    """POST one event as Slack does: signed now (a retry is signed anew), retries marked."""
    ts = str(int(time.time()))
    headers = {"Content-Type": "application/json", "X-Slack-Request-Timestamp": ts,
               "X-Slack-Signature": SignatureVerifier(SIGNING_SECRET).generate_signature(timestamp=ts, body=d.body)}
    if d.retry:
        headers.update({"X-Slack-Retry-Num": str(d.retry), "X-Slack-Retry-Reason": "http_timeout"})
    d.sent = time.monotonic()
    try:
        with urllib.request.urlopen(urllib.request.Request(url, d.body, headers, method="POST"), timeout=30) as r:
            d.status, d.replica = r.status, r.headers.get("X-Replica")
    except urllib.error.HTTPError as e:
        d.status, d.replica = e.code, e.headers.get("X-Replica")
    d.seconds = time.monotonic() - d.sent
    return d


def mention_deliveries(api: MockSlackAPI, n: int) -> list[Delivery]:
    """`n` mentions, each a new top-level message (its own thread), each followed by its retry."""
    out = []
    for i in range(n):
        event = mention(api, QUESTIONS[i % len(QUESTIONS)], channel=CHANNEL)
        body = json.dumps(event_payload(event)).encode()
        out += [Delivery(event["ts"], body, 0), Delivery(event["ts"], body, 1)]
    return out


def answers(api: MockSlackAPI, threads: set[str]) -> dict[str, Any]:
    """Per thread: answers taken on (a 👀 reaction: one per replica that took the question), begun
    (chat.startStream: the fake API always lets a stream start) and finished (chat.stopStream or
    chat.update); when the first answer text came (a stream call carrying markdown, or a posted or
    edited text that is not the placeholder); and chat.postMessage calls into the threads (the
    chat.update path, which the fake API never forces: 0 expected)."""
    thread_of = {m["ts"]: m.get("thread_ts") for m in list(api.messages.get(CHANNEL, []))}
    taken: Counter[str] = Counter()
    begun: Counter[str] = Counter()
    finished: Counter[str] = Counter()
    first_text: dict[str, float] = {}
    posts = 0
    for c in list(api.calls):
        p = c.params
        if c.method == "reactions.add":
            thread = p.get("timestamp")
        elif c.method in ("chat.startStream", "chat.postMessage"):
            thread = p.get("thread_ts")
        else:
            thread = thread_of.get(p.get("ts"))
        if thread not in threads:
            continue
        taken[thread] += c.method == "reactions.add"
        begun[thread] += c.method == "chat.startStream"
        posts += c.method == "chat.postMessage"
        finished[thread] += c.method in ("chat.stopStream", "chat.update")
        if c.method in ("chat.startStream", "chat.appendStream"):
            text = _stream_text(p)
        else:
            text = p.get("text", "") if c.method in ("chat.postMessage", "chat.update") else ""
        if text and text != PLACEHOLDER and thread not in first_text:
            first_text[thread] = c.at
    return {"taken": +taken, "begun": +begun, "finished": +finished, "first_text": first_text, "posts": posts}


def settle(api: MockSlackAPI, threads: set[str], timeout: float, quiet: float = 1.0) -> None:
    """Until every thread has an answer, every answer taken on (👀) has finished, and no Web API
    call came for `quiet` s: a second answer still queued in a replica is counted too."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        last = api.calls[-1].at if api.calls else 0.0
        seen = answers(api, threads)
        done = set(seen["finished"]) >= threads and all(seen["finished"][t] >= n for t, n in seen["taken"].items())
        if done and time.monotonic() - last >= quiet:
            return
        time.sleep(0.2)
    raise RuntimeError(f"answers not settled after {timeout:g} s")


def percentile(values: list[float], q: float) -> float:
    """Nearest rank: the smallest value with at least q of them at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)] if ordered else float("nan")


def load(api: MockSlackAPI, url: str, mentions: int, workers: int = 8, timeout: float = 600) -> dict[str, Any]:
    """Deliver `mentions` mentions and their retries through `url` at once; count the answers."""
    deliveries = mention_deliveries(api, mentions)
    threads = {d.thread for d in deliveries}
    started = time.monotonic()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda d: deliver(url, d), deliveries))
    settle(api, threads, timeout)
    seen = answers(api, threads)
    first_sent = {t: min(d.sent for d in deliveries if d.thread == t) for t in threads}
    ttft = [seen["first_text"][t] - first_sent[t] for t in threads if t in seen["first_text"]]
    acks = [d.seconds for d in deliveries]
    last_finish = max(c.at for c in api.calls if c.method in ("chat.stopStream", "chat.update"))
    return {
        "mentions": mentions, "deliveries": len(deliveries),
        "statuses": dict(Counter(d.status for d in deliveries)),
        "by_replica": dict(Counter(d.replica for d in deliveries)),
        "retry_on_other_replica": sum(1 for t in threads if len({d.replica for d in deliveries if d.thread == t}) == 2),
        "taken_on": sum(seen["taken"].values()),
        "answers": sum(seen["begun"].values()), "threads_answered": len(seen["begun"]),
        "duplicates": sum(1 for n in seen["begun"].values() if n > 1), "missing": len(threads - set(seen["begun"])),
        "fallback_posts": seen["posts"],
        "first_text_p50": percentile(ttft, 0.5), "first_text_p95": percentile(ttft, 0.95),
        "first_text_max": max(ttft, default=float("nan")),
        "ack_p50": percentile(acks, 0.5), "ack_p95": percentile(acks, 0.95),
        "wall": last_finish - started,
    }


def _response(s: socket.socket, timeout: float = 10) -> tuple[int | None, str]:
    """The status and body the server answered, or how the connection ended without an answer."""
    s.settimeout(timeout)
    data = b""
    try:
        while True:
            head, blank, body = data.partition(b"\r\n\r\n")
            length = re.search(rb"(?im)^content-length:\s*(\d+)", head) if blank else None
            if length and len(body) >= int(length.group(1)):
                break
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    except OSError as e:
        if not data:
            return None, type(e).__name__
    if not data:
        return None, "closed without an answer"
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body.decode(errors="replace").strip()


def big_post(port: int, size: int = 100 * MIB, *, chunked: bool = False, block: int = 64 * 1024) -> dict[str, Any]:
    """POST `size` bytes to a replica in `block`-sized writes (declared up front, or chunked, so
    only the running count can trip the cap), stopping as soon as the server has answered."""
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}"
    piece = f"{block:x}\r\n".encode() + b"x" * block + b"\r\n" if chunked else b"x" * block
    started, sent, send_error = time.monotonic(), 0, None
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(f"POST {EVENTS} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                  f"{framing}\r\n\r\n".encode())
        wait = 0.5  # a refusal on the declared length comes before the first body byte
        while sent < size and not select.select([s], [], [], wait)[0]:
            wait = 0.0
            try:
                s.sendall(piece)
            except OSError as e:  # the server closed first; its answer may still be readable
                send_error = type(e).__name__
                break
            sent += block
        status, said = _response(s)
    return {"status": status, "said": said, "body_bytes_sent": sent, "send_error": send_error,
            "seconds": round(time.monotonic() - started, 3)}


def negative_length(port: int) -> dict[str, Any]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(f"POST {EVENTS} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                  "Content-Length: -1\r\n\r\n{}".encode())
        status, said = _response(s)
    return {"status": status, "said": said}


def abuse(api: MockSlackAPI, port: int, timeout: float = 120) -> dict[str, Any]:
    """The oversized and malformed requests straight at one replica, then proof that it still
    serves: /healthz, and one more signed mention answered."""
    out = {"declared_100mb": big_post(port), "chunked_100mb": big_post(port, chunked=True),
           "negative_length": negative_length(port), "healthz_after": http_status(f"http://127.0.0.1:{port}/healthz")}
    [d, _] = mention_deliveries(api, 1)
    deliver(f"http://127.0.0.1:{port}{EVENTS}", d)
    settle(api, {d.thread}, timeout)
    seen = answers(api, {d.thread})
    out["mention_after"] = {"status": d.status, "answers": sum(seen["begun"].values()),
                            "first_text": round(seen["first_text"].get(d.thread, float("nan")) - d.sent, 2)}
    return out


def run(home: Path, workdir: Path, mentions: int, redis_url: str | None, workers: int = 8) -> dict[str, Any]:
    """Fake Slack, two replicas over `home` (sharing `redis_url` if given), the proxy: the load,
    then the abuse. The figures, as a dict."""
    with ExitStack() as stack:
        api = stack.enter_context(MockSlackAPI())
        t0 = time.monotonic()
        ports = stack.enter_context(replicas(home, api.url, workdir / "logs", redis_url))
        proxy = Proxy(ports)
        stack.callback(proxy.close)
        figures: dict[str, Any] = {"redis": bool(redis_url), "startup": round(time.monotonic() - t0, 1)}
        figures.update(load(api, proxy.url, mentions, workers))
        if redis_url:
            figures["redis_seen_keys"] = redis_seen_keys(redis_url)
        figures["abuse"] = abuse(api, ports[0])
        return figures


def report(f: dict[str, Any]) -> str:
    rows = [
        ("Redis (NEWSBOT_REDIS_URL)", "yes" if f["redis"] else "no"),
        ("two replicas up (/healthz 200)", f"{f['startup']} s"),
        ("mentions / deliveries", f"{f['mentions']} / {f['deliveries']} (statuses {f['statuses']})"),
        ("deliveries per replica", f"{f['by_replica']}; retry on the other replica: {f['retry_on_other_replica']}"),
        ("answers (threads answered)",
         f"{f['answers']} ({f['threads_answered']}); other posts in them: {f['fallback_posts']}"),
        ("questions taken on (👀)", str(f["taken_on"])),
        ("threads answered twice / missing", f"{f['duplicates']} / {f['missing']}"),
        ("first streamed text p50 / p95 / max",
         f"{f['first_text_p50']:.2f} / {f['first_text_p95']:.2f} / {f['first_text_max']:.2f} s"),
        ("ack p50 / p95", f"{f['ack_p50'] * 1000:.0f} / {f['ack_p95'] * 1000:.0f} ms"),
        ("wall (first delivery → last answer done)", f"{f['wall']:.1f} s"),
    ]
    if "redis_seen_keys" in f:
        rows.append(("dedupe keys in Redis", str(f["redis_seen_keys"])))
    a = f["abuse"]
    for name in ("declared_100mb", "chunked_100mb", "negative_length"):
        r = a[name]
        sent = f" after {r['body_bytes_sent'] / MIB:.1f} MiB of body sent" if "body_bytes_sent" in r else ""
        rows.append((name.replace("_", " "), f"{r['status']} `{r['said']}`{sent}"))
    after = a["mention_after"]
    rows.append(("then: /healthz; a mention", f"{a['healthz_after']}; {after['status']}, {after['answers']} answer "
                                              f"(first text after {after['first_text']} s)"))
    return "\n".join(["| figure | value |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mentions", type=int, default=50)
    parser.add_argument("--redis", action=argparse.BooleanOptionalAction, default=True,
                        help="share de-duplication through a local redis-server (default)")
    parser.add_argument("--home", type=Path, help="an ingested NEWSBOT_HOME (default: corpus/ in a temporary one)")
    parser.add_argument("--workers", type=int, default=8, help="deliveries sent at once")
    parser.add_argument("--out", type=Path, help="also write the figures here as JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="slack-replicas-") as tmp, ExitStack() as stack:
        work = Path(tmp)
        home = args.home or build_home(work / "home")
        redis_url = stack.enter_context(redis_server(work / "redis")) if args.redis else None
        figures = run(home, work, args.mentions, redis_url, args.workers)
    print(report(figures))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
