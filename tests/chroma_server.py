"""A real `chroma run` server on 127.0.0.1 for tests: started, stopped and started again on the
same port and data directory (tests/test_chroma_server.py, tests/test_fault_chroma.py)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.processes import free_port, stop

START_SECONDS = 60


class ChromaServer:
    """`chroma run --path DIR/data` on a fixed port; `start` waits for its heartbeat."""

    def __init__(self, directory: Path, port: int | None = None) -> None:
        self.directory = directory
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = directory / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> "ChromaServer":
        chroma = shutil.which("chroma") or str(Path(sys.executable).parent / "chroma")
        self.directory.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("a")
        self.proc = subprocess.Popen(
            [chroma, "run", "--path", str(self.directory / "data"), "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=log, stderr=log,
        )
        log.close()  # the child holds its own copy
        deadline = time.monotonic() + START_SECONDS
        while True:
            try:
                urllib.request.urlopen(f"{self.url}/api/v2/heartbeat", timeout=1).read()
                return self
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.proc.kill()
                    self.proc.wait()
                    pytest.fail(f"chroma run did not start: {self.log_path.read_text()[-2000:]}")
                time.sleep(0.2)

    def stop(self) -> None:
        """SIGTERM, as a service manager stops it; the port is free when this returns."""
        if self.proc is not None and self.proc.poll() is None:
            stop(self.proc, timeout=20)
        self.proc = None
