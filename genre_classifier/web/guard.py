"""The ASGI middleware in front of Gradio's routes that enforces `limits.py`: uploads within the budget and a visitor's
share, bodies on a timer (`UPLOAD_STALL_S` between two reads, `UPLOAD_SECONDS` in all), a few queued requests per
visitor, small bodies elsewhere."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import time
from collections import Counter

from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect

from .ledger import NoRoom, megabytes
from .limits import MAX_BODY, MAX_MCP_BODY, MAX_REQUESTS, UPLOAD_SECONDS, Limits, client_id, paths_in

log = logging.getLogger(__name__)


def _is_loopback(address: str | None) -> bool:
    try:
        return ipaddress.ip_address(address or "").is_loopback
    except ValueError:
        return False


async def _respond(send, status: int, text: str, json_detail: bool = False, close: bool = False) -> None:
    """A short answer; `close` ends the connection after it (what is left of a body that was cut off is not read)."""
    body = json.dumps({"detail": text}).encode() if json_detail else text.encode()
    kind = b"application/json" if json_detail else b"text/plain; charset=utf-8"
    headers = [(b"content-type", kind), (b"content-length", str(len(body)).encode())]
    await send(
        {"type": "http.response.start", "status": status, "headers": headers + [(b"connection", b"close")] * close}
    )
    await send({"type": "http.response.body", "body": body})


class Body:
    """A request's body as it arrives, on a timer: `next()` gives up (None, with `why` set) once nothing has come for
    `stall` seconds or the body is still arriving after `seconds`, whether or not a byte comes meanwhile."""

    def __init__(self, receive, stall: float, seconds: float) -> None:
        self.receive, self.stall, self.deadline = receive, stall, time.monotonic() + seconds
        self.arrived, self.complete, self.why = 0, False, ""

    async def next(self) -> dict | None:
        if self.complete:
            return await self.receive()  # past the body only a disconnect comes, whenever it comes
        left = self.deadline - time.monotonic()
        try:
            message = await asyncio.wait_for(self.receive(), timeout=max(0.0, min(self.stall, left)))
        except TimeoutError:
            self.why = (
                f"nothing arrived for {self.stall:g} s"
                if self.stall < left
                else (f"it was still arriving after {UPLOAD_SECONDS:g} s")
            )
            return None
        if message["type"] == "http.request":
            self.arrived += len(message.get("body", b""))
            self.complete = not message.get("more_body")
        return message


class Guard:
    """ASGI middleware: uploads within the budget and a visitor's share, a few requests per visitor, small bodies.

    It reads headers and bodies and passes every request it lets through unchanged (ZeroGPU's `x-ip-token` too).
    """

    def __init__(self, app, limits: Limits) -> None:
        self.app, self.limits = app, limits

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        headers = Headers(scope=scope)
        peer = scope["client"][0] if scope.get("client") else None
        client = client_id(headers, peer, self.limits.settings.behind_proxy)
        if scope["path"].endswith("/upload"):
            return await self.upload(scope, receive, send, headers, client)
        # An MCP call may carry its recording inline: the call itself, and the queue request that Gradio's MCP server
        # then makes over loopback with its own header (only a process on this machine connects from loopback).
        mcp = "/mcp" in scope["path"] or (headers.get("x-gradio-user") == "mcp" and _is_loopback(peer))
        return await self.request(scope, receive, send, client, MAX_MCP_BODY if mcp else MAX_BODY)

    async def upload(self, scope, receive, send, headers: Headers, client: str) -> None:
        try:
            size = int(headers["content-length"])
        except (KeyError, ValueError):
            return await _respond(send, 411, "Send uploads with a Content-Length header.")
        try:  # the answered uploads that make room for it go
            self.limits.delete(self.limits.ledger.reserve(client, size, self.limits.in_use()))
        except NoRoom as err:
            log.info("Refused an upload of %s from %s: %s", megabytes(size), client, err)
            return await _respond(send, err.status, str(err))
        arriving = Body(receive, self.limits.stall, UPLOAD_SECONDS)
        status, body, paths = 0, b"", None

        async def receive_in_time():
            # Gradio's parser stops at a disconnect (ClientDisconnect); the sweep removes what it wrote
            return await arriving.next() or {"type": "http.disconnect"}

        async def send_noting_files(message):
            nonlocal status, body, paths
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                body += message.get("body", b"")
                if status == 200 and not message.get("more_body"):
                    paths = json.loads(body)  # the stored files' paths, registered before the client learns them
                    self.limits.ledger.settle(client, size, paths)
            await send(message)

        try:
            await self.app(scope, receive_in_time, send_noting_files)
        except ClientDisconnect:  # a client that goes away is a line in the log, not a traceback
            if not arriving.why:
                log.info(
                    "An upload of %s from %s stopped after %s: its client went away",
                    megabytes(size),
                    client,
                    megabytes(arriving.arrived),
                )
        finally:
            if paths is None:
                self.limits.ledger.settle(client, size, None, arriving.arrived)
        if arriving.why:
            log.info(
                "Cut off an upload of %s from %s after %s: %s",
                megabytes(size),
                client,
                megabytes(arriving.arrived),
                arriving.why,
            )
            if not status:
                await _respond(send, 408, f"This upload was cut off ({arriving.why}): send it again.", close=True)

    async def request(self, scope, receive, send, client: str, limit: int) -> None:
        """Any other POST: a body of at most `limit` bytes; a request for the queue only within the visitor's share
        of it."""
        chunks, size = [], 0
        arriving = Body(receive, self.limits.stall, UPLOAD_SECONDS)
        while True:
            message = await arriving.next()
            if message is None:
                log.info("Cut off a request from %s: %s", client, arriving.why)
                return await _respond(send, 408, f"This request was cut off ({arriving.why}).", True, close=True)
            if message["type"] != "http.request":
                return  # the client went away
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > limit:
                return await _respond(send, 413, "This request is too large.", json_detail=True)
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        joins = "/queue/join" in scope["path"] or "/call/" in scope["path"]
        if joins and self.limits.requests_of(client) >= MAX_REQUESTS:
            log.info("Refused a request from %s: %d already queued or running", client, MAX_REQUESTS)
            return await _respond(
                send,
                429,
                (
                    f"You already have {MAX_REQUESTS} requests waiting or running: wait for their answers, then try "
                    "again."
                ),
                json_detail=True,
            )
        try:
            named = list(paths_in(json.loads(body)))
        except ValueError:
            named = []  # not JSON: nothing of ours to note; Gradio answers it
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        self.limits.joining[client] += joins
        try:
            await self.app(scope, replay, send)
        finally:
            # Only now, with the request in the queue (or refused), may its uploads go once no live request names
            # them: marked before, a sweep in between would take a file the request is about to need.
            self.limits.ledger.mark_used(named, client)
            self.limits.joining[client] -= joins
            self.limits.joining += Counter()
            if joins:
                self.limits.share_turns()
