"""A write-ahead log of chunk additions and deletions, kept in Chroma beside the chunks.

Derived indexes (the BM25 index each bot process holds) follow the store by replaying this
log instead of rebuilding whole. Every write is logged *before* it is made, so a writer killed
at any point leaves at worst a logged change that never happened: a reader waits for logged
chunks to appear (and gives up on them after `PENDING_SECONDS`), and a logged deletion of a
chunk that survived only hides an outdated version. Nothing stored is ever missing from a
reader's index, which is what a revision number in the collection's metadata could not promise:
Chroma caches that metadata, and a kill between a write and the bump left readers stale.

The log lives in the same Chroma (a local directory or a server), so every process and every
replica reads the same one.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

SKEW_NS = 300 * 10**9  # writers' clocks may disagree by this much; readers re-read this far back
RETENTION_NS = 7 * 86_400 * 10**9  # records older than this are pruned; older readers rebuild
PENDING_SECONDS = 3600  # a logged chunk that has not appeared after this was never written
WRITER = uuid.uuid4().hex[:12]  # this process, so a reader can tell its own writes from others'


@dataclass(frozen=True)
class Change:
    id: str
    ts: int  # the writer's clock, nanoseconds since the epoch
    writer: str
    add: tuple[str, ...] = ()
    delete: tuple[str, ...] = ()


@dataclass
class Cursor:
    """How far a reader has read: the newest record time and the ids read near it."""

    ts: int = 0
    read: set[str] = field(default_factory=set)

    def unread(self, changes: Sequence[Change]) -> list[Change]:
        fresh = [c for c in changes if c.id not in self.read]
        for c in fresh:
            self.read.add(c.id)
            self.ts = max(self.ts, c.ts)
        horizon = self.ts - 2 * SKEW_NS
        self.read = {i for i in self.read if _ts_of(i) >= horizon}
        return sorted(fresh, key=lambda c: (c.ts, c.id))


class ChangeLog:
    def __init__(self, collection: Any) -> None:
        self.collection = collection
        self._n = 0
        self._lock = threading.Lock()

    def append(self, add: Sequence[str] = (), delete: Sequence[str] = ()) -> None:
        if not add and not delete:
            return
        with self._lock:
            self._n += 1
            ts = time.time_ns()
            record_id = f"{ts:020d}-{WRITER}-{os.getpid()}-{self._n}"
        self.collection.add(
            ids=[record_id],
            documents=[json.dumps({"add": list(add), "delete": list(delete)})],
            metadatas=[{"ts": ts, "writer": WRITER}],
        )

    def since(self, ts: int) -> list[Change]:
        """Every record from `ts` minus the clock skew on, oldest first."""
        found = self.collection.get(where={"ts": {"$gte": ts - SKEW_NS}}, include=["documents", "metadatas"])
        changes = []
        for record_id, doc, meta in zip(found["ids"], found["documents"], found["metadatas"]):
            body = json.loads(doc or "{}")
            changes.append(Change(
                record_id, int(meta["ts"]), str(meta.get("writer", "")),
                tuple(body.get("add", ())), tuple(body.get("delete", ())),
            ))
        return sorted(changes, key=lambda c: (c.ts, c.id))

    def prune(self, now_ns: int | None = None) -> None:
        """Drop records past retention; a reader that old rebuilds from the store instead."""
        cutoff = (now_ns or time.time_ns()) - RETENTION_NS
        self.collection.delete(where={"ts": {"$lt": cutoff}})

    @staticmethod
    def covers(cursor_ts: int, now_ns: int | None = None) -> bool:
        """Whether records since `cursor_ts` are all still kept (else: rebuild, do not replay)."""
        return (now_ns or time.time_ns()) - cursor_ts < RETENTION_NS - SKEW_NS


def _ts_of(record_id: str) -> int:
    try:
        return int(record_id.split("-", 1)[0])
    except ValueError:
        return 0
