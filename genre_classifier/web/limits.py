"""What one visitor of a public Space may cost it: upload bytes on disk, how long they stay, requests in the queue.

Gradio stores every upload in `GRADIO_TEMP_DIR` and keeps it for ever, and its upload route takes files from
anyone, with no request behind them. Here:
- all uploads together hold at most `UPLOAD_BUDGET` bytes at once, one visitor at most `CLIENT_SHARE` of it; an
  upload that would pass either is refused before a byte is stored;
- an upload is kept while requests use it and `UPLOAD_TTL` seconds after the last one (or after it arrived, if
  none did), so that the same file answers again (Classify pressed twice, an API call repeated); an upload that
  has been answered is the first to go when a visitor's share or the budget needs room; never while a queued or
  running request refers to it;
- one visitor has at most `MAX_REQUESTS` requests queued or running at once, and visitors take turns in the
  queue, so one who has several waiting does not hold up the others;
- a body that sends nothing for `UPLOAD_STALL_S` seconds, or is still arriving after `UPLOAD_SECONDS`, is cut off
  (Uvicorn has no body timeout of its own), and an upload cut off or abandoned gives its promise back at once but for
  the bytes that arrived, which stay counted until the sweep has removed its half-written file (no longer written
  to for `UPLOAD_STALL_S` and 2 s: it belongs to a body that has ended).
`guard.Guard` (an ASGI middleware in front of Gradio's routes) makes the checks; `sweep_forever` (on the server's event
loop, beside Gradio's queue) deletes what is no longer needed. A visitor is the address Spaces' proxy added to
`X-Forwarded-For` (its right-most public one; trusted only where `SPACE_ID` says the app runs behind it), else the
socket's.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import math
import os
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import asynccontextmanager
from pathlib import Path

from gradio.utils import get_upload_folder
from starlette.datastructures import Headers

from ..core.settings import Settings
from . import gradio_internals as internals
from .ledger import Ledger, sweep_seconds

log = logging.getLogger(__name__)

MAX_REQUESTS = 3  # queued or running at once per visitor: a clip, a batch of files and a live session
MAX_BODY = 1_000_000  # bytes of any other request's body (JSON naming files, a live chunk)
MAX_MCP_BODY = 64_000_000  # an MCP call may carry its file inline (base64): a longer recording goes by URL
UPLOAD_SECONDS = 600  # an upload still arriving after this is cut off: a trickle must not hold its bytes for ever
STALL_SECONDS = 60.0  # UPLOAD_STALL_S's default: nginx's client_body_timeout, the longest wait between two reads
# Gradio keeps a copy of the page per session with its last values (0.4 MB with an answer's figures, 1-2 MB more
# with a live session's sound) until this many newer sessions evict it; an evicted visitor's next request starts a
# fresh one. 500 hold 0.2 GB (1.2 GB were each one a live session's), where Gradio's own 10,000 would hold 20 times
# as much.
MAX_SESSIONS = 500

EXPIRED = "This upload is no longer on the server (unused for a while, or room was needed): send it again."


def upload_budget(settings: Settings) -> int:
    """`UPLOAD_BUDGET` in bytes, written as `MAX_FILE_SIZE` is ("200mb", "5gb")."""
    return _size("UPLOAD_BUDGET", settings.upload_budget, "200mb or 5gb")


def max_file_size(settings: Settings) -> int:
    """`MAX_FILE_SIZE` in bytes, checked at start: Gradio would only read it when the server is launched."""
    return _size("MAX_FILE_SIZE", settings.max_file_size, "50mb or 1gb")


def _size(name: str, text: str, examples: str) -> int:
    try:
        size = internals.parse_size(text)
    except ValueError:
        size = 0
    if size <= 0:  # "0mb" parses, and would refuse every upload
        raise ValueError(f"{name} must be a size such as {examples} (above 0), not {text!r}")
    return size


def stall_seconds(environ: dict[str, str] | None = None) -> float:
    """`UPLOAD_STALL_S`: how long a request's body may send nothing before it is cut off."""
    text = (os.environ if environ is None else environ).get("UPLOAD_STALL_S", "").strip()
    try:
        seconds = float(text) if text else STALL_SECONDS
    except ValueError:
        seconds = math.nan
    if not 0 < seconds < math.inf:  # nan too
        raise ValueError(f"UPLOAD_STALL_S must be a number of seconds above 0, such as 60, not {text!r}")
    return seconds


def client_id(headers: Headers, peer: str | None, behind_proxy: bool) -> str:
    """Who is asking: behind Spaces' proxy, the address it added to `X-Forwarded-For`; else the socket's address."""
    if not behind_proxy:
        return peer or "unknown"
    lines = headers.getlist("x-forwarded-for") if hasattr(headers, "getlist") else [headers.get("x-forwarded-for", "")]
    return forwarded_client(",".join(lines)) or peer or "unknown"


def forwarded_client(forwarded: str) -> str | None:
    """The visitor's address in an `X-Forwarded-For` value: the right-most public one.

    A proxy appends the address it was reached from to whatever the client sent (or overwrites the header with it),
    so only the right end is the proxy's word; what lies left of it is the client's to make up, a new visitor with
    every request. Right of it may come the proxy's own internal hops (private, loopback, shared or reserved
    addresses): those are skipped. With no public address (a private network, a test on one machine), the
    right-most valid one.
    """
    valid = []
    for entry in forwarded.split(","):
        with contextlib.suppress(ValueError):
            valid.append(ipaddress.ip_address(entry.strip()))
    for address in reversed(valid):
        address = getattr(address, "ipv4_mapped", None) or address  # ::ffff:8.8.4.4 is 8.8.4.4
        if address.is_global:
            return str(address)
    return str(valid[-1]) if valid else None


def paths_in(value) -> Iterator[str]:
    """Every file path named in a request's data (Gradio's FileData dicts, at any depth)."""
    if isinstance(value, dict):
        if isinstance(value.get("path"), str):
            yield value["path"]
        for item in value.values():
            yield from paths_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from paths_in(item)


class Limits:
    """The ledger, the live requests of Gradio's queue, and the sweep that ties them, for one app."""

    def __init__(self, demo, settings: Settings) -> None:
        self.demo, self.settings = demo, settings
        budget, ttl = upload_budget(settings), settings.upload_ttl
        self.folder = Path(get_upload_folder())
        self.stall = stall_seconds()
        self.ledger = Ledger(budget, ttl, stale=self.stall + 2)  # a body silent for longer has been cut off
        # What is there before the first visitor is the app's own: the examples' copies, which their clicks need.
        self.kept = {path for path, _ in _files(self.folder)}
        self.joining: Counter[str] = Counter()  # requests on their way into the queue, by visitor
        self.sessions = MAX_SESSIONS  # Gradio's state_session_capacity

    def queued_events(self) -> list:
        """Gradio's queued and running events (its queue keeps each one there until it has been answered)."""
        return internals.events(self.demo)

    def requests_of(self, client: str) -> int:
        """Requests of `client` queued, running, or on their way into the queue."""
        queued = [self._visitor(event) for event in self.queued_events()]
        return queued.count(client) + self.joining[client]

    def share_turns(self) -> None:
        """Reorder the waiting requests so that visitors take turns: each one's k-th request (counting those it has
        running) goes before anyone's (k+1)-th, first come first served among equals. Gradio's queue takes the
        first of its list, so a visitor with requests waiting ahead waits for one of them at most."""
        running = Counter(self._visitor(event) for event in internals.running(self.demo))
        for line in internals.waiting_lines(self.demo):
            seen = running.copy()
            turns = []
            for event in line:
                visitor = self._visitor(event)
                turns.append(seen[visitor])
                seen[visitor] += 1
            order = sorted(range(len(line)), key=lambda i: turns[i])  # stable: arrival order among equals
            line[:] = [line[i] for i in order]

    def _visitor(self, event) -> str:
        return client_id(event.request.headers, _peer(event.request), self.settings.behind_proxy)

    def delete(self, paths: list[str]) -> None:
        for path in paths:
            internals.forget_upload(self.demo, path)  # Gradio's record of it goes with the file
            if path not in self.kept:  # someone uploaded an example's bytes: the same path
                with contextlib.suppress(OSError):
                    os.unlink(path)
                with contextlib.suppress(OSError):  # Gradio's folder of one content, <sha256>/<name>, once empty
                    os.rmdir(Path(path).parent)  # (the same bytes under another name may still be needed)

    def in_use(self) -> set[str]:
        return {path for event in self.queued_events() if event.data is not None for path in paths_in(event.data.data)}

    def sweep(self) -> None:
        """Delete the uploads no longer needed, what else the app wrote that is older than the TTL (a CSV of /tag),
        and the temporary files of uploads abandoned half way; never the examples' copies."""
        in_use = self.in_use()
        self.delete(self.ledger.expired(in_use))
        claimed = self.ledger.paths()
        now = time.time()
        for path, modified in _files(self.folder):
            if path in self.kept or path in in_use or path in claimed:
                continue
            arriving = os.path.dirname(path) == str(self.folder)  # Gradio's parser writes an upload here first
            if now - modified > (self.ledger.stale if arriving else self.ledger.ttl):
                with contextlib.suppress(OSError):
                    os.unlink(path)

    async def sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(sweep_seconds(self.ledger.ttl))
            try:
                self.sweep()
            except Exception:  # the sweep must go on, whatever one pass met
                log.exception("Sweeping uploads failed")

    def lifespan(self, _app):
        """For `launch(app_kwargs={"lifespan": ...})`: the sweep runs as long as the server does."""

        @asynccontextmanager
        async def running():
            task = asyncio.create_task(self.sweep_forever())
            try:
                yield
            finally:
                task.cancel()

        return running()


def _files(folder: Path) -> Iterator[tuple[str, float]]:
    """(path, modification time) of every file under `folder`; what vanishes meanwhile is skipped."""
    for root, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(root, name)
            with contextlib.suppress(OSError):
                yield path, os.stat(path).st_mtime


def _peer(request) -> str | None:
    return request.client.host if request.client else None


def gone(path: str | None) -> bool:
    """Whether `path` was an upload that is no longer on the server (idle past its time, or room for newer ones)."""
    if not path:
        return False
    folder = Path(get_upload_folder()).resolve()
    resolved = Path(path).resolve()
    return resolved.is_relative_to(folder) and not resolved.exists()
