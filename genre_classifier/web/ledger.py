"""The uploads on disk, by visitor: the bytes they hold and are promised, when each was last needed, and which make
room first. `limits.py` ties it to Gradio's queue and routes."""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from dataclasses import dataclass

CLIENT_SHARE = 0.25  # of the budget, for one visitor at a time
STALE_SECONDS = 60  # a half-received upload not written to for this long was abandoned (its client went away)
BUSY = "The server is busy: try again in a minute."


def megabytes(n: float) -> str:
    return f"{n / 1e6:.0f} MB"


@dataclass
class Upload:
    client: str
    size: int
    seen: float  # time.monotonic() it arrived, or a request last named it or was using it
    used: bool = False  # a request has named it: it may make room for new uploads once no live request does


class Ledger:
    """The uploads on disk and the bytes promised to uploads still arriving, by visitor. Thread-safe."""

    def __init__(self, budget: int, ttl: float) -> None:
        self.budget, self.share, self.ttl = budget, int(budget * CLIENT_SHARE), ttl
        self.uploads: dict[str, Upload] = {}
        self.reserved: Counter[str] = Counter()  # bytes of uploads arriving, and of abandoned ones not yet swept
        self.abandoned: list[tuple[float, str, int]] = []  # (time it may be released, client, bytes)
        self.lock = threading.Lock()

    def held(self, client: str | None = None) -> int:
        stored = sum(u.size for u in self.uploads.values() if client is None or u.client == client)
        return stored + (self.reserved[client] if client else sum(self.reserved.values()))

    def reserve(self, client: str, size: int, in_use: set[str] = frozenset()) -> tuple[int, str] | list[str]:
        """Promise `size` bytes to an arriving upload, making room with answered uploads no request uses (the
        visitor's own first, then anyone's, the longest idle first): the paths to delete; or say why not: (HTTP
        status, sentence)."""
        with self.lock:
            idle = sorted((u.seen, path) for path, u in self.uploads.items() if u.used and path not in in_use)
            freed = []
            for _, path in idle:
                over_share, over_budget = self.held(client) + size > self.share, self.held() + size > self.budget
                if not (over_share or over_budget):
                    break
                if self.uploads[path].client == client or not over_share:  # another's makes room in the budget only
                    freed.append(path)
                    del self.uploads[path]
            if self.held(client) + size > self.share:
                return 429, (
                    f"You have sent more than one visitor may hold at once ({megabytes(self.share)} of uploads "
                    "waiting to be classified): wait for your answers, then try again."
                )
            if self.held() + size > self.budget:
                return 503, BUSY
            self.reserved[client] += size
            return freed

    def settle(self, client: str, size: int, paths: list[str] | None) -> None:
        """An upload has ended: its files (None if it failed) replace the promise."""
        with self.lock:
            if paths is None:  # its half-written temporary file, still counted, stays until the sweep finds it
                self.abandoned.append((time.monotonic() + STALE_SECONDS + 2 * sweep_seconds(self.ttl), client, size))
                return
            self.reserved[client] -= size
            for path in paths:
                try:
                    size_on_disk = os.stat(path).st_size
                except OSError:
                    continue
                self.uploads[path] = Upload(client, size_on_disk, seen=time.monotonic())
            self.reserved += Counter()  # drops clients whose count is back to zero

    def mark_used(self, paths: list[str]) -> None:
        with self.lock:
            for path in paths:
                if upload := self.uploads.get(path):
                    upload.used, upload.seen = True, time.monotonic()

    def expired(self, in_use: set[str]) -> list[str]:
        """Forget the uploads no request has used for the TTL, and return their paths to delete."""
        now = time.monotonic()
        with self.lock:
            for path in in_use & self.uploads.keys():
                self.uploads[path].seen = now  # the TTL counts from the end of the last request that used it
            gone = [path for path, u in self.uploads.items() if now - u.seen > self.ttl]
            for path in gone:
                del self.uploads[path]
            due = [a for a in self.abandoned if a[0] <= now]
            self.abandoned = [a for a in self.abandoned if a[0] > now]
            for _, client, size in due:
                self.reserved[client] -= size
            self.reserved += Counter()
        return gone


def sweep_seconds(ttl: float) -> float:
    return min(1.0, ttl / 4)
