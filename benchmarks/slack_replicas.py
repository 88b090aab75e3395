"""Two real `newsbot slack` processes behind one local URL, one Redis: is each mention answered
exactly once when Slack's retry of it lands on the other replica, how soon does the first text
stream, how much memory does each process take, and does a replica keep serving after a 100 MB
body and a negative Content-Length?

    .venv/bin/python benchmarks/slack_replicas.py --mentions 50             # NEWSBOT_REDIS_URL set
    .venv/bin/python benchmarks/slack_replicas.py --mentions 50 --no-redis  # keys in the home's SQLite file
    .venv/bin/python benchmarks/slack_replicas.py --llm local --replicas 1 --mentions 20 --no-redis

Everything runs on 127.0.0.1: the fake Slack Web API of the tests in this process (it records
every call with a monotonic time), a `redis-server` on a free port, `--replicas` `newsbot slack`
processes (HTTP mode; answers from `--llm`, i.e. NEWSBOT_LLM: extractive by default, or the local
llama.cpp model) over one index (corpus/ ingested into a temporary home unless `--home`), and a
round-robin proxy in front of them. Each mention is delivered twice, the original and its retry
(same event_id, `X-Slack-Retry-Num: 1`, newly signed), both at once from a pool of senders, and
the proxy sends the second delivery to the other replica: the case that de-duplication kept in one
process cannot catch. (With one replica the retry goes back to the same process.)

Memory: each replica's resident set, summed over its process tree (the `newsbot slack` process
and any children it starts; the tree is found through the parent pid in /proc/*/stat), is read
from /proc/<pid>/status once at idle (after /healthz answers, before the first mention), then
every 0.2 s while the load and the abuse run (VmRSS, with its RssAnon / RssFile split), and the
kernel's own peak, VmHWM, is read just before the process is stopped. The resident part of any
mapped *.gguf file (the local model, mmap'ed by llama.cpp) is read from /proc/<pid>/smaps at idle
and at the end, to tell the model's pages from the rest. A replica that exits during the run ends
the wait for answers at once, and is reported.
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
from collections.abc import Callable, Iterator
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
from benchmarks.process_memory import SAMPLE_EVERY, MemorySampler, gguf_resident_kb, mb as _mb, tree_memory  # noqa: E402
from tests.bot.mock_slack_api import MockSlackAPI, _stream_text  # noqa: E402

EVENTS = "/slack/events"
CHANNEL = "C0LOAD"
MIB = 1024 * 1024
LLMS = ("extractive", "local")
# Seconds one answer may take, per backend, when the settle timeouts are scaled by the mentions:
# the local model writes one answer at a time (one llama.cpp context), ~20-30 s each on 2 slow cores,
# more when another job shares the CPU.
ANSWER_SECONDS = {"extractive": 5.0, "local": 90.0}
STARTUP_SECONDS = {"extractive": 180.0, "local": 420.0}  # the local model is loaded before /healthz answers
LLM_FALLBACK = re.compile(r"LLM (could not be loaded|is not installed)")
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


@dataclass
class Replica:
    port: int
    pid: int
    log: Path
    proc: subprocess.Popen[bytes]


def exited(replicas_: list[Replica]) -> str | None:
    """Which replicas have exited (none should before the end), with their codes and last log lines."""
    said = []
    for i, r in enumerate(replicas_):
        if r.proc.poll() is None:
            continue
        tail = r.log.read_text(errors="replace").strip().splitlines()[-3:] if r.log.exists() else []
        said.append(f"replica {i} (pid {r.pid}) exited with {r.proc.returncode}; its log ends: {' / '.join(tail)}")
    return "; ".join(said) or None


@contextmanager
def replicas(home: Path, api_url: str, logs: Path, redis_url: str | None, count: int = 2,
             timeout: float = 180, llm: str = "extractive") -> Iterator[list[Replica]]:
    """`count` `newsbot slack` processes over `home`, answering with NEWSBOT_LLM=`llm`, started
    together; yields them once each answers /healthz. Their logs go to files (a pipe nobody reads
    would stall them)."""
    env = {**os.environ, "SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": SIGNING_SECRET,
           "SLACK_API_URL": api_url, "NEWSBOT_HOME": str(home), "NEWSBOT_LLM": llm,
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
        yield [Replica(port, proc.pid, log, proc) for proc, port, log in started]
    finally:
        for proc, _, _ in started:
            proc.terminate()
        for proc, _, _ in started:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


# --- memory ------------------------------------------------------------------------------------


def idle_memory(replicas_: list[Replica]) -> list[dict[str, Any]]:
    out = []
    for r in replicas_:
        m, g = tree_memory(r.pid), gguf_resident_kb(r.pid)
        out.append({"rss_mb": _mb(m["VmRSS"]), "anon_mb": _mb(m["RssAnon"]), "file_mb": _mb(m["RssFile"]),
                    "hwm_mb": _mb(m["VmHWM"]), "gguf_mb": _mb(g) if g is not None else None,
                    "processes": m["processes"]})
    return out


def final_memory(replicas_: list[Replica], sampler: MemorySampler, idle: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per replica, just before it is stopped: idle figures, the peak sample, VmHWM and the model's pages."""
    out = []
    for i, r in enumerate(replicas_):
        m, peak, g = tree_memory(r.pid), sampler.peak(i), gguf_resident_kb(r.pid)
        out.append({
            "pid": r.pid, "processes_max": max(sampler.most_processes[i], idle[i]["processes"]),
            "idle_rss_mb": idle[i]["rss_mb"], "idle_anon_mb": idle[i]["anon_mb"], "idle_file_mb": idle[i]["file_mb"],
            "idle_gguf_mb": idle[i]["gguf_mb"], "startup_hwm_mb": idle[i]["hwm_mb"],
            "peak_hwm_mb": _mb(m["VmHWM"] if m["processes"] else sampler.last_hwm[i]),
            "alive_at_end": bool(m["processes"]),
            "peak_rss_mb": _mb(peak.get("VmRSS", 0)), "peak_anon_mb": _mb(peak.get("RssAnon", 0)),
            "peak_file_mb": _mb(peak.get("RssFile", 0)), "peak_phase": peak["phase"], "peak_at_s": peak.get("at"),
            "peak_rss_by_phase_mb": {ph: _mb(v["VmRSS"]) for ph, v in sampler.peaks[i].items()},
            "end_rss_mb": _mb(m["VmRSS"]), "end_gguf_mb": _mb(g) if g is not None else None,
            "samples": sampler.samples[i],
        })
    return out


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
    status: int | str | None = None
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
    except OSError as e:  # timed out or dropped: counted under its statuses, not a crash of the run
        d.status = type(getattr(e, "reason", e)).__name__
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
    first_done: dict[str, float] = {}
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
        if c.method in ("chat.stopStream", "chat.update") and thread not in first_done:
            first_done[thread] = c.at
    return {"taken": +taken, "begun": +begun, "finished": +finished, "first_text": first_text, "first_done": first_done,
            "posts": posts}


def settle(api: MockSlackAPI, threads: set[str], timeout: float, quiet: float = 1.0,
           problem: Callable[[], str | None] | None = None) -> None:
    """Until every thread has an answer, every answer taken on (👀) has finished, and no Web API
    call came for `quiet` s: a second answer still queued in a replica is counted too. Stops early
    (RuntimeError) when `problem()` names one, e.g. a replica that exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if problem and (said := problem()):
            raise RuntimeError(said)
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


def load(api: MockSlackAPI, url: str, mentions: int, workers: int = 8, timeout: float = 600,
         problem: Callable[[], str | None] | None = None) -> dict[str, Any]:
    """Deliver `mentions` mentions and their retries through `url` at once; count the answers. When
    they have not settled within `timeout` s (or `problem()` named one), the figures are still
    returned, with `settled` False and why."""
    deliveries = mention_deliveries(api, mentions)
    threads = {d.thread for d in deliveries}
    started = time.monotonic()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda d: deliver(url, d), deliveries))
    try:
        settle(api, threads, timeout, problem=problem)
        settled, settle_error = True, None
    except RuntimeError as e:
        settled, settle_error = False, str(e)
    seen = answers(api, threads)
    first_sent = {t: min(d.sent for d in deliveries if d.thread == t) for t in threads}
    ttft = [seen["first_text"][t] - first_sent[t] for t in threads if t in seen["first_text"]]
    done = [seen["first_done"][t] - first_sent[t] for t in threads if t in seen["first_done"]]
    acks = [d.seconds for d in deliveries]
    last_finish = max((c.at for c in api.calls if c.method in ("chat.stopStream", "chat.update")), default=started)
    return {
        "settled": settled, "settle_timeout": timeout, "settle_error": settle_error,
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
        "answer_done_p50": percentile(done, 0.5), "answer_done_p95": percentile(done, 0.95),
        "answer_done_max": max(done, default=float("nan")),
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


def abuse(api: MockSlackAPI, port: int, timeout: float = 120,
          problem: Callable[[], str | None] | None = None) -> dict[str, Any]:
    """The oversized and malformed requests straight at one replica, then proof that it still
    serves: /healthz, and one more signed mention answered."""
    out = {"declared_100mb": big_post(port), "chunked_100mb": big_post(port, chunked=True),
           "negative_length": negative_length(port), "healthz_after": http_status(f"http://127.0.0.1:{port}/healthz")}
    [d, _] = mention_deliveries(api, 1)
    deliver(f"http://127.0.0.1:{port}{EVENTS}", d)
    try:
        settle(api, {d.thread}, timeout, problem=problem)
        settle_error = None
    except RuntimeError as e:
        settle_error = str(e)
    seen = answers(api, {d.thread})
    out["mention_after"] = {"status": d.status, "answers": sum(seen["begun"].values()), "settle_error": settle_error,
                            "first_text": round(seen["first_text"].get(d.thread, float("nan")) - d.sent, 2)}
    return out


def llm_fallbacks(replicas_: list[Replica]) -> list[str]:
    """The lines in which a replica said its LLM could not be loaded (it then answers extractively)."""
    lines = []
    for i, r in enumerate(replicas_):
        try:
            text = r.log.read_text(errors="replace")
        except OSError:
            continue
        lines += [f"replica {i}: {line.strip()}" for line in text.splitlines() if LLM_FALLBACK.search(line)]
    return lines


def run(home: Path, workdir: Path, mentions: int, redis_url: str | None, workers: int = 8, *,
        count: int = 2, llm: str = "extractive", answer_seconds: float | None = None) -> dict[str, Any]:
    """Fake Slack, `count` replicas over `home` answering with NEWSBOT_LLM=`llm` (sharing
    `redis_url` if given), the proxy: the load, then the abuse, with each replica's memory sampled
    throughout. The settle timeouts allow `answer_seconds` per answer (default: by backend,
    ANSWER_SECONDS). The figures, as a dict."""
    per_answer = ANSWER_SECONDS.get(llm, ANSWER_SECONDS["local"]) if answer_seconds is None else answer_seconds
    load_timeout = max(600.0, 120.0 + mentions * per_answer)
    abuse_timeout = max(120.0, 60.0 + 2 * per_answer)
    with ExitStack() as stack:
        api = stack.enter_context(MockSlackAPI())
        t0 = time.monotonic()
        started = stack.enter_context(replicas(home, api.url, workdir / "logs", redis_url, count,
                                               timeout=STARTUP_SECONDS.get(llm, STARTUP_SECONDS["local"]), llm=llm))
        ports = [r.port for r in started]
        proxy = Proxy(ports)
        stack.callback(proxy.close)
        figures: dict[str, Any] = {"redis": bool(redis_url), "replicas": count, "llm": llm,
                                   "startup": round(time.monotonic() - t0, 1)}
        time.sleep(1.0)  # let start-up's last allocations land before the idle reading
        idle = idle_memory(started)
        sampler = MemorySampler([r.pid for r in started]).start()
        try:
            figures.update(load(api, proxy.url, mentions, workers, timeout=load_timeout,
                                problem=lambda: exited(started)))
            if redis_url:
                figures["redis_seen_keys"] = redis_seen_keys(redis_url)
            if exited(started):
                figures["abuse"] = None  # nothing to send it to
            else:
                sampler.phase = "abuse"
                figures["abuse"] = abuse(api, ports[0], timeout=abuse_timeout, problem=lambda: exited(started))
        finally:
            sampler.stop()
        figures["memory"] = final_memory(started, sampler, idle)  # read before the replicas are stopped
        figures["llm_fallback"] = llm_fallbacks(started)
        figures["exited"] = exited(started)
        return figures


GB_MIB = 3e9 / MIB  # 3 GB (3·10⁹ bytes) in MiB


def memory_report(f: dict[str, Any]) -> str:
    """One row per replica, in MiB (the `_mb` figures are MiB)."""
    head = ("| replica (pid) | idle RSS | idle anon / file | model pages idle | start-up VmHWM | peak VmHWM "
            "| peak sampled RSS | its anon / file (phase, at) | model pages at end | processes | samples |")
    rows = [head, "|" + "---|" * (head.count(" | ") + 1)]

    def mb(v: float | None) -> str:
        return "-" if v is None else f"{v:.0f}"

    for i, m in enumerate(f["memory"]):
        rows.append(
            f"| {i} ({m['pid']}) | {mb(m['idle_rss_mb'])} | {mb(m['idle_anon_mb'])} / {mb(m['idle_file_mb'])} "
            f"| {mb(m['idle_gguf_mb'])} | {mb(m['startup_hwm_mb'])} | {mb(m['peak_hwm_mb'])} | {mb(m['peak_rss_mb'])} "
            f"| {mb(m['peak_anon_mb'])} / {mb(m['peak_file_mb'])} ({m['peak_phase']}, {m['peak_at_s']} s) "
            f"| {mb(m['end_gguf_mb'])} | {m['processes_max']} | {m['samples']} |")
    peak = max((max(m["peak_hwm_mb"], m["peak_rss_mb"]) for m in f["memory"]), default=float("nan"))
    return "\n".join([
        *rows, "",
        "MiB; each figure summed over the replica's process tree (`processes`: the most processes seen in one "
        "tree; 1 = no children). Model pages: the resident part of the mapped *.gguf file (llama.cpp's mmap) in the "
        f"main process. Peak sampled RSS: the highest of the {SAMPLE_EVERY:g} s samples during the load and the "
        "abuse; peak VmHWM: the kernel's peak since start, read just before the stop (the last sample's, if the "
        "process was gone).",
        f"Highest peak of one replica: {peak:.0f} MiB; at most 3 GB (3·10⁹ bytes = {GB_MIB:.0f} MiB): "
        f"{'yes' if peak <= GB_MIB else 'no'}.",
    ])


def report(f: dict[str, Any]) -> str:
    n = f.get("replicas", 2)
    other = (f"retry on the other replica: {f['retry_on_other_replica']}" if n > 1
             else "one replica: every retry goes back to it")
    fallback = f" — FELL BACK: {'; '.join(f['llm_fallback'])}" if f.get("llm_fallback") else ""
    rows = [
        ("answers from (NEWSBOT_LLM)", f.get("llm", "extractive") + fallback),
        ("Redis (NEWSBOT_REDIS_URL)", "yes" if f["redis"] else "no"),
        (f"{n} replica{'s' if n != 1 else ''} up (/healthz 200)", f"{f['startup']} s"),
        ("mentions / deliveries", f"{f['mentions']} / {f['deliveries']} (statuses {f['statuses']})"),
        ("deliveries per replica", f"{f['by_replica']}; {other}"),
        ("answers (threads answered)",
         f"{f['answers']} ({f['threads_answered']}); other posts in them: {f['fallback_posts']}"),
        ("questions taken on (👀)", str(f["taken_on"])),
        ("threads answered twice / missing", f"{f['duplicates']} / {f['missing']}"),
        ("all settled", f"{'yes' if f.get('settled', True) else 'NO'} (timeout {f.get('settle_timeout', 600):g} s)"
                        + (f": {f['settle_error']}" if f.get("settle_error") else "")),
        ("first streamed text p50 / p95 / max",
         f"{f['first_text_p50']:.2f} / {f['first_text_p95']:.2f} / {f['first_text_max']:.2f} s"),
        ("answer finished (stopStream) p50 / p95 / max",
         f"{f['answer_done_p50']:.2f} / {f['answer_done_p95']:.2f} / {f['answer_done_max']:.2f} s"),
        ("ack p50 / p95", f"{f['ack_p50'] * 1000:.0f} / {f['ack_p95'] * 1000:.0f} ms"),
        ("wall (first delivery → last answer done)", f"{f['wall']:.1f} s"),
    ]
    if "redis_seen_keys" in f:
        rows.append(("dedupe keys in Redis", str(f["redis_seen_keys"])))
    a = f["abuse"]
    if a is None:
        rows.append(("abuse", "not sent: a replica had exited"))
    else:
        for name in ("declared_100mb", "chunked_100mb", "negative_length"):
            r = a[name]
            sent = f" after {r['body_bytes_sent'] / MIB:.1f} MiB of body sent" if "body_bytes_sent" in r else ""
            rows.append((name.replace("_", " "), f"{r['status']} `{r['said']}`{sent}"))
        after = a["mention_after"]
        rows.append(("then: /healthz; a mention", f"{a['healthz_after']}; {after['status']}, {after['answers']} answer "
                                                  f"(first text after {after['first_text']} s)"))
    if f.get("exited"):
        rows.append(("REPLICA EXITED DURING THE RUN", f["exited"]))
    table = "\n".join(["| figure | value |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows)])
    return table + ("\n\n" + memory_report(f) if f.get("memory") else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mentions", type=int, default=50)
    parser.add_argument("--replicas", type=int, default=2, help="`newsbot slack` processes behind the proxy")
    parser.add_argument("--llm", choices=LLMS, default="extractive", help="the replicas' answer backend (NEWSBOT_LLM)")
    parser.add_argument("--answer-seconds", type=float, default=None,
                        help="seconds allowed per answer when the settle timeouts are scaled by the mentions "
                             f"(default by backend: {ANSWER_SECONDS})")
    parser.add_argument("--redis", action=argparse.BooleanOptionalAction, default=True,
                        help="share de-duplication through a local redis-server (default)")
    parser.add_argument("--home", type=Path, help="an ingested NEWSBOT_HOME (default: corpus/ in a temporary one)")
    parser.add_argument("--workers", type=int, default=8, help="deliveries sent at once")
    parser.add_argument("--out", type=Path, help="also write the figures here as JSON")
    args = parser.parse_args()
    if args.replicas < 1:
        parser.error("--replicas must be at least 1")
    with tempfile.TemporaryDirectory(prefix="slack-replicas-") as tmp, ExitStack() as stack:
        work = Path(tmp)
        home = args.home or build_home(work / "home")
        redis_url = stack.enter_context(redis_server(work / "redis")) if args.redis else None
        figures = run(home, work, args.mentions, redis_url, args.workers, count=args.replicas, llm=args.llm,
                      answer_seconds=args.answer_seconds)
    print(report(figures))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(figures, indent=2) + "\n")

if __name__ == "__main__":
    main()
