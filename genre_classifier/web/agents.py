"""What an agent gets over MCP: the `classify` and `tag` tools answer in JSON (the ten probabilities, the verdict,
the windows, the model and its precision), with no figure, and a refused input reads as its reason.

They are API endpoints of their own, `/classify_json` and `/tag_json` (for any HTTP client that wants JSON too); the
page's events, whose outputs are a person's figures and tables, are kept out of the MCP tools
(`gradio_internals.keep_out_of_mcp`). A recording comes as a base64 `data:` URL or an http(s) URL. A URL is fetched
as a stranger's upload is taken (`Downloads`): streamed to disk, at most `MAX_FILE_SIZE` bytes, whole within
`FETCH_SECONDS`, counted in the upload budget and the visitor's share while it is on disk, and only from public
addresses: every hop of a redirect is resolved and checked before anything is sent, and the connection goes to the
address that was checked (a name that resolves elsewhere the second time gains nothing).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import socket
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import gradio as gr
import httpx
from gradio import processing_utils
from gradio_client import utils as client_utils

from ..core import answer as verdicts
from ..core.audio import ACCEPTED, AudioError
from ..core.model import Classifier, Prediction
from . import gradio_internals
from .api_docs import AGENT_CLASSIFY_DOC, AGENT_TAG_DOC
from .ledger import NoRoom
from .limits import client_id
from .many_files import MAX_FILES, file_row

if TYPE_CHECKING:
    from .limits import Limits

log = logging.getLogger(__name__)

FETCH_SECONDS = 120.0  # a URL's file arrives whole within this, or not at all: a trickle must not hold a worker
MAX_REDIRECTS = 5
STEP = 1_000_000  # bytes counted in the budget at a time, for a file whose server did not say its size

NOT_PUBLIC = "{url} is not a public address: give the URL of a file anyone on the internet can fetch, or the bytes"
NOT_A_RECORDING = "Give the recording as a data: URL (data:audio/wav;base64,...) or an http(s) URL, not {value!r}"


class Refused(Exception):
    """An agent's URL that is not fetched, or not whole: the sentence it reads."""


AddressCheck = Callable[[ipaddress.IPv4Address | ipaddress.IPv6Address], bool]


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Anywhere on the internet: not private, loopback, link-local (cloud metadata), shared, reserved or multicast."""
    address = getattr(address, "ipv4_mapped", None) or address
    return address.is_global and not address.is_multicast


@dataclass
class Downloads:
    """The bounds of an agent's URL: `max_bytes`, `seconds`, the app's `limits` (its upload budget and a visitor's
    share; none in a bare page), and `admit`, the addresses that may be connected to (tests admit their loopback
    server)."""

    max_bytes: int
    seconds: float = FETCH_SECONDS
    limits: Limits | None = None
    admit: AddressCheck = is_public


class _Pinned(httpx.AsyncHTTPTransport):
    """Connects to the address that was checked, whatever the name resolves to by then; TLS still checks the name."""

    def __init__(self, address: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.address = address

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        request.extensions = {**request.extensions, "sni_hostname": request.url.host}
        request.url = request.url.copy_with(host=self.address)
        return await super().handle_async_request(request)


async def _checked_address(url: httpx.URL, admit: AddressCheck) -> str:
    """An address of `url`'s host that `admit` accepts; Refused if it has none (or no http(s) URL at all)."""
    if url.scheme not in ("http", "https") or not url.host:
        raise Refused(f"{str(url)[:200]} is not an http(s) URL")
    try:
        found = await asyncio.get_running_loop().getaddrinfo(url.host, url.port or 80, type=socket.SOCK_STREAM)
    except OSError:
        raise Refused(f"Could not fetch {str(url)[:200]}: its host {url.host} is not known") from None
    for *_, sockaddr in found:
        address = ipaddress.ip_address(sockaddr[0].split("%")[0])
        if admit(address):
            return str(address)
    raise Refused(NOT_PUBLIC.format(url=str(url)[:200]))


class _Counted:
    """The bytes of a download counted in the upload budget, under its visitor's share."""

    def __init__(self, limits: Limits | None, client: str) -> None:
        self.limits, self.client, self.bytes = limits, client, 0

    def grow_to(self, size: int) -> None:
        if self.limits is None or size <= self.bytes:
            return
        more = max(size - self.bytes, STEP)
        try:  # the answered uploads that make room for it go
            self.limits.delete(self.limits.ledger.reserve(self.client, more, self.limits.in_use()))
        except NoRoom as err:
            raise Refused(str(err)) from err
        self.bytes += more

    def release(self) -> None:
        if self.limits is not None and self.bytes:
            self.limits.ledger.settle(self.client, self.bytes, [])
            self.bytes = 0


async def _download(url: str, folder: str, bounds: Downloads, counted: _Counted) -> str:
    """Stream `url` into `folder`, following up to MAX_REDIRECTS redirects, each hop checked as the first."""
    target = httpx.URL(url)
    for _ in range(MAX_REDIRECTS + 1):
        address = await _checked_address(target, bounds.admit)
        async with (
            httpx.AsyncClient(transport=_Pinned(address), timeout=30, follow_redirects=False) as http,
            http.stream("GET", target) as response,
        ):
            if response.is_redirect:
                target = target.join(response.headers["location"])
                continue
            if response.status_code != 200:
                raise Refused(f"Could not fetch {url[:200]}: its server answered {response.status_code}")
            most = f"{bounds.max_bytes / 1e6:.3g} MB"
            too_large = Refused(f"{url[:200]} is larger than {most}, the most a recording may be")
            declared = int(response.headers.get("content-length") or 0)
            if declared > bounds.max_bytes:
                raise too_large
            counted.grow_to(declared)  # a size said up front is refused before a byte is stored
            name = client_utils.strip_invalid_filename_characters(Path(target.path).name) or "recording"
            path, size = Path(folder) / name, 0
            with open(path, "wb") as file:
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > bounds.max_bytes:
                        raise too_large
                    counted.grow_to(size)
                    file.write(chunk)
            return str(path)
    raise Refused(f"Could not fetch {url[:200]}: more than {MAX_REDIRECTS} redirects")


@contextmanager
def fetched(value: str, bounds: Downloads, client: str = "agent") -> Iterator[str]:
    """The recording named by `value` (a data: URL or an http(s) URL) in a file of its own while the block runs, its
    bytes counted in the budget until then; gr.Error saying why not."""
    value = (value or "").strip()
    counted = _Counted(bounds.limits, client)
    with tempfile.TemporaryDirectory(prefix="genre-agent-") as folder:
        try:
            if value.startswith("data:"):
                path = processing_utils.save_base64_to_cache(value, folder)
            elif value.startswith(("http://", "https://")):
                path = asyncio.run(asyncio.wait_for(_download(value, folder, bounds, counted), bounds.seconds))
            else:
                raise gr.Error(NOT_A_RECORDING.format(value=value[:60]), print_exception=False)
        except TimeoutError:
            counted.release()
            reason = f"{value[:200]} did not arrive within {bounds.seconds:g} s: give a faster server, or the bytes"
            log.info("Could not fetch an agent's recording: %s", reason)
            raise gr.Error(reason, print_exception=False) from None
        except Refused as err:
            counted.release()
            log.info("Refused an agent's recording: %s", err)
            raise gr.Error(str(err), print_exception=False) from None
        except (httpx.HTTPError, OSError, ValueError) as err:  # a connection refused or cut, a data: URL that is not
            counted.release()
            log.info("Could not fetch an agent's recording: %s", err)
            raise gr.Error(f"Could not fetch {value[:200]}: {err}", print_exception=False) from None
        try:
            yield path
        finally:
            counted.release()


def visitor(request: gr.Request | None, bounds: Downloads) -> str:
    """Who the agent is, as the limits count visitors (the MCP server's call carries its client's headers)."""
    if request is None or bounds.limits is None:
        return "agent"
    peer = request.client.host if request.client else None
    return client_id(request.headers, peer, bounds.limits.settings.behind_proxy)


def clip_answer(prediction: Prediction, seconds: float, notes: list[str], classifier: Classifier) -> dict:
    """A clip's answer as data: the verdict in words ("jazz", "unsure: blues or rock", "not music"), the ten
    probabilities, the music gate's score, and each window's genre (or "not music")."""
    said = verdicts.of(prediction)
    windows = [
        {
            "start": round(start, 2),
            "end": round(end, 2),
            "music": bool(music),
            "genre": prediction.labels[int(p.argmax())] if music else verdicts.NOT_MUSIC,
            "confidence": round(float(p.max()), 4),
        }
        for (start, end), p, music in zip(
            prediction.window_spans, prediction.window_probs, prediction.music_windows, strict=True
        )
    ]
    return {
        "verdict": said.text,
        "music": said.music,
        "sounds_like": said.sounds_like,
        "music_score": None if prediction.music_score is None else round(prediction.music_score, 3),
        "probabilities": {label: round(p, 4) for label, p in prediction.confidences().items()},
        "seconds": round(seconds, 2),
        "windows": windows,
        "notes": notes,
        "model": classifier.description,
        "precision": getattr(classifier, "precision", "fp32"),
    }


def make_classify(classifier: Classifier, bounds: Downloads):
    def classify(audio: str, request: gr.Request = None) -> str:
        with fetched(audio, bounds, visitor(request, bounds)) as path:
            try:
                clip = classifier.decode(path)
            except AudioError as err:
                log.info("Refused an agent's recording: %s", err)
                raise gr.Error(str(err), print_exception=False) from None
        prediction = classifier.classify(clip)
        log.info("Classified %.1f s of audio for an agent: %s", clip.seconds, verdicts.of(prediction).text)
        return json.dumps(clip_answer(prediction, clip.seconds, clip.notes, classifier))

    classify.__doc__ = AGENT_CLASSIFY_DOC.format(accepted=ACCEPTED, limit=classifier.max_seconds / 60)
    return classify


def make_tag_json(classifier: Classifier, bounds: Downloads):
    def tag(files: list[str], request: gr.Request = None) -> str:
        if not files:
            raise gr.Error("Give one or more recordings.", print_exception=False)
        if len(files) > MAX_FILES:
            raise gr.Error(f"{len(files)} recordings were given; up to {MAX_FILES} at a time.", print_exception=False)
        rows = []
        for i, value in enumerate(files):
            name = value if not value.startswith("data:") else f"recording {i + 1}"
            rows.append(file_row(classifier, name[:200], fetched(value, bounds, visitor(request, bounds))))
        return json.dumps({"files": rows, "model": classifier.description})

    tag.__doc__ = AGENT_TAG_DOC.format(accepted=ACCEPTED, most=MAX_FILES)
    return tag


def add_tools(classifier: Classifier, bounds: Downloads) -> None:
    """The two agent endpoints, inside the page's Blocks and before its events, so that the tools take the plain
    names; each shares its concurrency group with the page's event (one forward of each kind at a time)."""
    gr.api(make_classify(classifier, bounds), api_name="classify_json", concurrency_id="classify")
    gr.api(make_tag_json(classifier, bounds), api_name="tag_json", concurrency_id="tag")


def keep_page_out_of_mcp(demo: gr.Blocks) -> None:
    """The page's `/classify` and `/tag` stay on the API (figures and tables for a person) but are not MCP tools."""
    gradio_internals.keep_out_of_mcp(demo, {"classify", "tag"})
