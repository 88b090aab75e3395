"""Whether a local store's disk has room for the next write, and whether an error says it had none.

Chroma on a full disk can do worse than fail a write: a cut-short persist of a vector segment can
truncate its index_metadata.pickle and leave the collection unreadable even after space is freed
(seen with chromadb 1.5.9 on an 8 MB tmpfs). So ingest checks for room before each write.
"""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

from retrieval.errors import BackendError

# Room a write needs: Chroma grows by up to ~7x a batch's raw bytes (its log, the metadata segment
# with its full-text index, the vectors) and rewrites each vector segment's files when it persists.
RESERVE_FLOOR = 16 * 2**20
RESERVE_FACTOR = 10
DISK_FULL_WORDS = ("no space left", "disk is full", "quota exceeded")  # ENOSPC, sqlite's SQLITE_FULL, EDQUOT


class DiskFullError(BackendError):
    """The disk holding a local store is full: ingest stopped; `stored` articles were written first."""

    def __init__(self, message: str, path: str, stored: int) -> None:
        super().__init__(message)
        self.path = path
        self.stored = stored


def free_bytes(path: Path) -> int | None:
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


def segment_bytes(path: Path) -> int:
    """The size of the store's vector segments (the directories beside chroma.sqlite3)."""
    try:
        return sum(f.stat().st_size for d in path.iterdir() if d.is_dir() for f in d.iterdir() if f.is_file())
    except OSError:
        return 0


def says_disk_full(error: BaseException | None) -> bool:
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if any(words in str(error).lower() for words in DISK_FULL_WORDS):
            return True
        error = error.__cause__ or error.__context__
    return False


def human_size(n: int) -> str:
    return f"{n / 2**20:.1f} MB" if n >= 2**20 else f"{n / 2**10:.0f} KB"
