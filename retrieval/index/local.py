"""The client of a local Chroma store (a directory), for store.py.

chromadb keeps one "system" per directory for the whole process, and every PersistentClient
on that directory shares it, vector index included: chunks another process writes reach this
one only through a new system (`retire`, then a new client). A system is registered before it
is started, so a client made in a second thread meanwhile gets a half-made one and fails
("Could not connect to tenant default_tenant"); clients are therefore made under one lock.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

_making = threading.Lock()  # process-wide, like chromadb's registry of systems


def local_client(path: Path) -> Any:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    with _making:
        path.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(path), settings=ChromaSettings(anonymized_telemetry=False))


def local_system(path: Path) -> Any:
    """The system a client made now on this directory would use (None before the first)."""
    from chromadb.api.shared_system_client import SharedSystemClient

    return SharedSystemClient._identifier_to_system.get(str(path))


def retire(path: Path) -> Any:
    """Make the next client on this directory load the store afresh; the old system is returned,
    not stopped: a search in another thread may still be using it."""
    from chromadb.api.shared_system_client import SharedSystemClient

    with _making:
        return SharedSystemClient._identifier_to_system.pop(str(path), None)
