"""A process tree's memory as the kernel counts it, read from /proc while it runs: for benchmarks
that start `newsbot` processes and must report their peak (slack_replicas.py).

RSS alone mixes what a process allocated (RssAnon) with file pages it maps (RssFile), and the
local model is a mapped *.gguf file: the split, and the model's own resident pages, say which
part grows. VmHWM is the kernel's peak; sampling finds when it happened.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

SAMPLE_EVERY = 0.2  # seconds between memory samples


def _status_kb(pid: int) -> dict[str, int]:
    """The kB figures of /proc/<pid>/status (VmRSS, VmHWM, RssAnon, RssFile, …); {} once it is gone."""
    out: dict[str, int] = {}
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return out
    for line in text.splitlines():
        name, _, value = line.partition(":")
        parts = value.split()
        if len(parts) == 2 and parts[1] == "kB":
            out[name] = int(parts[0])
    return out


def _children() -> dict[int, list[int]]:
    """Every process's children, from the parent pid in /proc/*/stat (this kernel has no
    /proc/<pid>/task/<tid>/children)."""
    kids: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()  # after the command name, which may hold spaces
        kids.setdefault(int(fields[1]), []).append(int(entry.name))
    return kids


def process_tree(pid: int, kids: dict[int, list[int]] | None = None) -> list[int]:
    """`pid` and its descendants."""
    kids = _children() if kids is None else kids
    tree: list[int] = []
    todo = [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo += kids.get(p, [])
    return tree


def tree_memory(pid: int, kids: dict[int, list[int]] | None = None) -> dict[str, Any]:
    """VmRSS, RssAnon, RssFile and VmHWM in kB, each summed over the process tree of `pid` (a sum of
    VmHWMs is an upper bound of the tree's peak: the processes may have peaked at different times)."""
    statuses = [_status_kb(p) for p in process_tree(pid, kids)]
    out: dict[str, Any] = {k: sum(st.get(k, 0) for st in statuses) for k in ("VmRSS", "RssAnon", "RssFile", "VmHWM")}
    out["processes"] = len([st for st in statuses if st])
    return out


def gguf_resident_kb(pid: int) -> int | None:
    """kB of mapped *.gguf files resident in `pid` (the llama.cpp model's mmap); None if unreadable."""
    total, in_gguf = 0, False
    try:
        with open(f"/proc/{pid}/smaps") as f:
            for line in f:
                if not line.strip():
                    continue
                head = line.split(None, 1)[0]
                if "-" in head and not head.endswith(":"):  # a mapping's first line: range perms offset dev inode path
                    in_gguf = line.rstrip().endswith(".gguf")
                elif in_gguf and head == "Rss:":
                    total += int(line.split()[1])
    except OSError:
        return None
    return total


def mb(kb: float) -> float:
    return round(kb / 1024, 1)


class MemorySampler:
    """A thread that reads each replica's tree RSS every `every` s and keeps its peak (and the
    RssAnon / RssFile split at that moment), per phase."""

    def __init__(self, pids: list[int], every: float = SAMPLE_EVERY) -> None:
        self.pids, self.every = pids, every
        self.phase = "load"
        self.samples = [0] * len(pids)
        self.peaks: list[dict[str, dict[str, Any]]] = [{} for _ in pids]  # per replica: phase -> sample at its peak
        self.most_processes = [0] * len(pids)
        self.last_hwm = [0] * len(pids)  # kB, the tree's VmHWM at the last sample (if it is gone at the end)
        self._t0 = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="memory-sampler", daemon=True)

    def start(self) -> "MemorySampler":
        self._t0 = time.monotonic()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            kids = _children()  # one scan of /proc per round, for every replica
            for i, pid in enumerate(self.pids):
                m = tree_memory(pid, kids)
                if not m["processes"]:
                    continue
                self.samples[i] += 1
                self.most_processes[i] = max(self.most_processes[i], m["processes"])
                self.last_hwm[i] = m["VmHWM"]
                best = self.peaks[i].get(self.phase)
                if best is None or m["VmRSS"] > best["VmRSS"]:
                    self.peaks[i][self.phase] = {**m, "at": round(time.monotonic() - self._t0, 1)}
            self._stop.wait(self.every)

    def peak(self, i: int) -> dict[str, Any]:
        """Replica i's highest sample over every phase, with the phase it came in."""
        phase, best = max(self.peaks[i].items(), key=lambda kv: kv[1]["VmRSS"], default=("-", {}))
        return {**best, "phase": phase}
