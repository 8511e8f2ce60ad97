"""The uploads on disk, by visitor: the bytes they hold and are promised, when each was last needed, and which make
room first. `limits.py` ties it to Gradio's queue and routes.

Gradio stores an upload by its content (`<sha256>/<name>`), so two visitors who send the same bytes get one file: the
ledger keeps one claim per visitor on it, and a file goes only when no visitor's claim on it is left."""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from dataclasses import dataclass

CLIENT_SHARE = 0.25  # of the budget, for one visitor at a time
# A half-received upload not written to for this long has ended (cut off, or its client went away): the Guard cuts
# off any body silent for UPLOAD_STALL_S, so 2 s more than that, by default.
STALE_SECONDS = 62
BUSY = "The server is busy: try again in a minute."


class NoRoom(Exception):
    """An upload the budget cannot take: the HTTP status to answer, and a sentence for the visitor."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def megabytes(n: float) -> str:
    return f"{n / 1e6:.0f} MB"


@dataclass
class Upload:
    """One visitor's claim on a stored file."""

    client: str
    size: int
    seen: float  # time.monotonic() it arrived, or a request last named it or was using it
    used: bool = False  # a request has named it: it may make room for new uploads once no live request does


class Ledger:
    """The uploads on disk and the bytes promised to uploads still arriving, by visitor. Thread-safe."""

    def __init__(self, budget: int, ttl: float, stale: float = STALE_SECONDS) -> None:
        self.budget, self.share, self.ttl, self.stale = budget, int(budget * CLIENT_SHARE), ttl, stale
        self.uploads: dict[tuple[str, str], Upload] = {}  # by (path, visitor)
        self.reserved: Counter[str] = Counter()  # bytes of uploads arriving, and of abandoned ones not yet swept
        self.abandoned: list[tuple[float, str, int]] = []  # (time it may be released, client, bytes)
        self.lock = threading.Lock()

    def held(self, client: str | None = None) -> int:
        """Bytes on disk and promised: a visitor's own (a file it shares counted in full), or all (each file once)."""
        if client is None:
            on_disk = {path: u.size for (path, _), u in self.uploads.items()}
            return sum(on_disk.values()) + sum(self.reserved.values())
        return sum(u.size for u in self.uploads.values() if u.client == client) + self.reserved[client]

    def paths(self) -> set[str]:
        """The files some visitor still has a claim on."""
        with self.lock:
            return {path for path, _ in self.uploads}

    def _unclaimed(self, paths: list[str]) -> list[str]:
        claimed = {path for path, _ in self.uploads}
        return [path for path in dict.fromkeys(paths) if path not in claimed]

    def reserve(self, client: str, size: int, in_use: set[str] = frozenset()) -> list[str]:
        """Promise `size` bytes to an arriving upload, making room with answered uploads no request uses (the
        visitor's own first, then anyone's, the longest idle first): the paths to delete. `NoRoom` says why not."""
        with self.lock:
            idle = sorted((u.seen, key) for key, u in self.uploads.items() if u.used and key[0] not in in_use)
            freed = []
            for _, key in idle:
                over_share, over_budget = self.held(client) + size > self.share, self.held() + size > self.budget
                if not (over_share or over_budget):
                    break
                if key[1] == client or not over_share:  # another's makes room in the budget only
                    freed.append(key[0])
                    del self.uploads[key]
            if self.held(client) + size > self.share:
                raise NoRoom(
                    429,
                    f"You have sent more than one visitor may hold at once ({megabytes(self.share)} of uploads "
                    "waiting to be classified): wait for your answers, then try again.",
                )
            if self.held() + size > self.budget:
                raise NoRoom(503, BUSY)
            self.reserved[client] += size
            return self._unclaimed(freed)

    def settle(self, client: str, size: int, paths: list[str] | None, arrived: int | None = None) -> None:
        """An upload has ended: its files (None if it failed) replace the promise. Of a failed one, the `arrived`
        bytes (all, if not known) stay counted until the sweep has removed its half-written file; the rest of its
        promise is free at once, for others' uploads."""
        with self.lock:
            if paths is None:
                kept = size if arrived is None else min(size, arrived)
                self.reserved[client] -= size - kept
                self.abandoned.append((time.monotonic() + self.stale + 2 * sweep_seconds(self.ttl), client, kept))
                self.reserved += Counter()
                return
            self.reserved[client] -= size
            for path in paths:
                try:
                    size_on_disk = os.stat(path).st_size
                except OSError:
                    continue
                self.uploads[path, client] = Upload(client, size_on_disk, seen=time.monotonic())
            self.reserved += Counter()  # drops clients whose count is back to zero

    def mark_used(self, paths: list[str], client: str | None = None) -> None:
        """A request of `client` named `paths`: its claims on them (any visitor's, if it has none) may make room."""
        with self.lock:
            for path in paths:
                claims = [u for (claimed, _), u in self.uploads.items() if claimed == path]
                for upload in [u for u in claims if u.client == client] or claims:
                    upload.used, upload.seen = True, time.monotonic()

    def expired(self, in_use: set[str]) -> list[str]:
        """Forget the claims no request has used for the TTL, and return the paths no claim is left on, to delete."""
        now = time.monotonic()
        with self.lock:
            for (path, _), upload in self.uploads.items():
                if path in in_use:
                    upload.seen = now  # the TTL counts from the end of the last request that used it
            gone = [key for key, u in self.uploads.items() if now - u.seen > self.ttl]
            for key in gone:
                del self.uploads[key]
            due = [a for a in self.abandoned if a[0] <= now]
            self.abandoned = [a for a in self.abandoned if a[0] > now]
            for _, client, size in due:
                self.reserved[client] -= size
            self.reserved += Counter()
            return self._unclaimed([path for path, _ in gone])


def sweep_seconds(ttl: float) -> float:
    return min(1.0, ttl / 4)
