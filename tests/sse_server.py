"""A tiny OpenAI-compatible chat server, run as its own process, that streams an answer word by word.

Like vLLM or llama.cpp's server it answers POST /v1/chat/completions over HTTP/1.1 with chunked
transfer encoding and server-sent events (`data: {...}`, a last chunk with `finish_reason`, then
`data: [DONE]`). It can also fail partway through, as a real server does:

    python tests/sse_server.py ANSWER_FILE [--delay S] [--truncate-after N] [--die-after N]

    --delay S           seconds between words (default 0.05)
    --truncate-after N  after N words, end the body cleanly (the terminating chunk) and close the
                        connection: no finish_reason, no [DONE], as a server that gives up does
    --die-after N       after N words, SIGKILL itself: the connection drops mid-body

It prints `PORT <n>` on stdout once it listens. A test can also SIGKILL it at any time.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

ARGS = argparse.Namespace()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        text = ARGS.answer
        if not body.get("stream"):
            payload = json.dumps({
                "id": "c1", "object": "chat.completion", "created": 0, "model": body["model"],
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            }).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        words = text.split(" ")
        for i, word in enumerate(words):
            if i == ARGS.die_after:
                os.kill(os.getpid(), signal.SIGKILL)
            if i == ARGS.truncate_after:
                self._end()
                return
            piece = word if i == 0 else " " + word
            delta = {"role": "assistant", "content": piece} if i == 0 else {"content": piece}
            self._event({"choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
            time.sleep(ARGS.delay)
        self._event({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        if (body.get("stream_options") or {}).get("include_usage"):
            usage = {"prompt_tokens": 100, "completion_tokens": len(words), "total_tokens": 100 + len(words)}
            self._event({"choices": [], "usage": usage})
        self._chunk(b"data: [DONE]\n\n")
        self._end()

    def _event(self, data: dict[str, Any]) -> None:
        data = {"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": "fake", **data}
        self._chunk(f"data: {json.dumps(data)}\n\n".encode())

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _end(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()
        self.close_connection = True


def start(answer: str, folder: Path, *options: str) -> tuple[subprocess.Popen[str], str]:
    """Run the server in its own process; return it and its base URL (…/v1) once it listens."""
    answer_file = folder / "sse-answer.txt"
    answer_file.write_text(answer, encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, __file__, str(answer_file), *options], stdout=subprocess.PIPE, text=True
    )
    line = proc.stdout.readline() if proc.stdout else ""
    if not line.startswith("PORT "):
        proc.kill()
        raise RuntimeError(f"the SSE server did not start: {line!r}")
    return proc, f"http://127.0.0.1:{int(line.split()[1])}/v1"


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("answer_file")
    parser.add_argument("--delay", type=float, default=0.05)
    parser.add_argument("--truncate-after", type=int, default=-1)
    parser.add_argument("--die-after", type=int, default=-1)
    parser.parse_args(argv, namespace=ARGS)
    with open(ARGS.answer_file, encoding="utf-8") as f:
        ARGS.answer = f.read()
    server = HTTPServer(("127.0.0.1", 0), Handler)
    print(f"PORT {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1:])
