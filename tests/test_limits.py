"""Limits and safety of the served app: long and huge uploads, upload size, who picks the model, binding, who a
visitor is."""

from __future__ import annotations

import re

import numpy as np
import pytest
import soundfile as sf
from starlette.datastructures import Headers

from genre_classifier.core.settings import Settings
from genre_classifier.web.limits import client_id, forwarded_client

from .helpers import ROOT, classify_file


def write_long(path, minutes: float, sr: int, channels: int) -> None:
    """A long tone-and-noise file written block by block, so the test itself stays small in memory."""
    rng = np.random.default_rng(0)
    block = sr * 10
    t = np.arange(block) / sr
    with sf.SoundFile(path, "w", samplerate=sr, channels=channels, subtype="PCM_16") as f:
        for i in range(int(minutes * 6)):
            mono = 0.3 * np.sin(2 * np.pi * (220 + 20 * i) * t) + 0.05 * rng.standard_normal(block)
            f.write(np.repeat(mono[:, None], channels, axis=1))


def test_twelve_minute_file_is_analysed_for_its_first_ten_minutes(served_tiny, tmp_path):
    path = tmp_path / "twelve-minutes.wav"
    write_long(path, minutes=12, sr=22050, channels=1)
    label, details, *_, timeline, _ = classify_file(served_tiny.client(), path)
    assert "The clip is 12:00 min long: only the first 10:00 min were analysed." in details
    assert len(timeline["data"]) == 20 and timeline["data"][-1][1] == "10:00.0"  # 20 windows of 30 s
    assert len(label["confidences"]) == 10


def test_200_mb_file_gets_an_answer_with_bounded_memory(served_tiny, tmp_path):
    path = tmp_path / "huge.wav"
    write_long(path, minutes=19, sr=44100, channels=2)  # 44.1 kHz stereo 16-bit: about 200 MB
    assert path.stat().st_size > 200_000_000
    served_tiny.reset_peak_rss()  # this request's own peak, not what earlier requests left in the allocator
    before = served_tiny.peak_rss_mb()
    label, details, *_ = classify_file(served_tiny.client(), path)
    assert "only the first 10:00 min were analysed" in details and len(label["confidences"]) == 10
    # Only the analysed 10 minutes are decoded, mixed to mono block by block into one array: 106 MB at 44.1 kHz
    # (a whole-file decode to float32 stereo would alone take 400 MB more).
    assert served_tiny.peak_rss_mb() - before < 300


def test_upload_over_the_size_limit_is_refused_clearly(served_small_server, tmp_path):
    path = tmp_path / "two-megabytes.wav"
    write_long(path, minutes=1, sr=22050, channels=1)  # 2.6 MB
    with pytest.raises(Exception, match=re.compile("exceeds|too large|maximum", re.IGNORECASE)):
        classify_file(served_small_server.client(), path)


def test_the_api_offers_the_page_s_two_events_their_json_twins_and_no_model_choice(served_tiny):
    api = served_tiny.client().view_api(print_info=False, return_format="dict")
    assert sorted(api["named_endpoints"]) == ["/classify", "/classify_json", "/tag", "/tag_json"]
    assert [p["parameter_name"] for p in api["named_endpoints"]["/classify_json"]["parameters"]] == ["audio"]
    assert [p["parameter_name"] for p in api["named_endpoints"]["/tag_json"]["parameters"]] == ["files"]
    assert [p["component"] for p in api["named_endpoints"]["/classify"]["parameters"]] == ["Audio"]
    assert [p["component"] for p in api["named_endpoints"]["/tag"]["parameters"]] == ["File"]


def test_local_runs_listen_on_loopback_only(served_tiny):
    listening = set()
    for line in open("/proc/net/tcp").read().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, port = local.split(":")
        if state == "0A" and int(port, 16) == served_tiny.port:  # 0A: LISTEN
            listening.add(address)
    assert listening == {"0100007F"}  # 127.0.0.1


def test_no_remote_code_is_ever_trusted():
    sources = [*ROOT.glob("genre_classifier/*.py"), *ROOT.glob("train/*.py"), ROOT / "app.py"]
    assert not [p.name for p in sources if "trust_remote_code" in p.read_text()]


@pytest.mark.parametrize(
    "forwarded, visitor",
    [
        ("8.8.4.4", "8.8.4.4"),  # a proxy that overwrites the header
        ("1.2.3.4, 8.8.4.4", "8.8.4.4"),  # one that appends to what the client made up
        ("1.2.3.4, 5.6.7.8,8.8.4.4", "8.8.4.4"),
        ("1.2.3.4, 8.8.4.4, 10.0.0.5, 127.0.0.1", "8.8.4.4"),  # the proxy's own internal hops after it
        ("1.2.3.4, 8.8.4.4, 100.64.1.2, 169.254.0.1, 192.168.1.1", "8.8.4.4"),
        ("1.2.3.4, 8.8.4.4, not-an-address, 999.1.1.1, , unknown", "8.8.4.4"),  # garbage is skipped
        ("1.2.3.4, 2001:4860:4860::8888, fd00::1, ::1", "2001:4860:4860::8888"),  # IPv6
        ("2001:db8::1, 2001:4860:4860::8888", "2001:4860:4860::8888"),
        ("1.2.3.4, ::ffff:8.8.4.4, 10.0.0.5", "8.8.4.4"),  # IPv4 written as IPv6
        ("203.0.113.1, 10.0.0.5", "10.0.0.5"),  # nothing public (one machine's tests): the right-most valid one
        ("garbage", None),
        ("", None),
    ],
)
def test_the_visitor_is_the_address_the_proxy_added(forwarded, visitor):
    assert forwarded_client(forwarded) == visitor


def test_the_forwarded_address_is_trusted_only_behind_spaces_proxy():
    headers = Headers(raw=[(b"x-forwarded-for", b"1.2.3.4"), (b"x-forwarded-for", b"5.6.7.8, 8.8.4.4")])
    assert not Settings.from_environment({}).behind_proxy
    assert client_id(headers, "127.0.0.1", behind_proxy=False) == "127.0.0.1"
    assert Settings.from_environment({"SPACE_ID": "someone/genre-classifier"}).behind_proxy
    assert client_id(headers, "127.0.0.1", True) == "8.8.4.4"  # the header written more than once: its last address
    assert client_id({"x-forwarded-for": "1.2.3.4, 8.8.4.4"}, None, True) == "8.8.4.4"  # as a queued request has it
    assert client_id(Headers(), "127.0.0.1", True) == "127.0.0.1"
    assert client_id(Headers(), None, True) == "unknown"


def guard_an_upload(tmp_path, monkeypatch, chunks, declared: int = 2_000_000):
    """One upload through the Guard to a stand-in for Gradio's upload route (which reads the body as Starlette's
    `Request.stream()` does, so a disconnect is a ClientDisconnect). `chunks` is what the client sends: bytes, or
    None for silence from then on, or "gone" for a client that goes away. Returns (limits, responses, seconds); the
    test fails rather than waits if the Guard never ends."""
    import asyncio
    import time
    from types import SimpleNamespace

    from starlette.requests import Request

    from genre_classifier.web import guard, limits

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path))
    queue = SimpleNamespace(event_ids_to_events={}, active_jobs=[], event_queue_per_concurrency_id={})
    demo = SimpleNamespace(_queue=queue, blocks={}, upload_file_set=set())
    guarded = limits.Limits(demo, Settings(upload_budget="8mb", upload_ttl=60))
    responses = []

    async def gradio(scope, receive, send):
        async for _ in Request(scope, receive).stream():
            pass
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"[]"})

    sent = iter(chunks)

    async def receive():
        chunk = next(sent, None)
        if chunk == "gone":
            return {"type": "http.disconnect"}
        if chunk is None:
            await asyncio.Event().wait()  # a client that declared its size and went silent, connection open
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message):
        responses.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/gradio_api/upload",
        "client": ("203.0.113.5", 5000),
        "headers": [(b"content-length", str(declared).encode()), (b"content-type", b"multipart/form-data; boundary=x")],
    }
    started = time.monotonic()
    asyncio.run(asyncio.wait_for(guard.Guard(gradio, guarded)(scope, receive, send), timeout=8))
    return guarded, responses, time.monotonic() - started


def test_a_stalled_upload_is_cut_off_and_gives_back_what_it_was_promised(tmp_path, monkeypatch, caplog):
    """It declared a visitor's whole share, sent 1 kB and went silent: after UPLOAD_STALL_S without a byte it is
    answered 408 and the connection closed; of its promise it keeps only the kilobyte that may be on disk."""
    monkeypatch.setenv("UPLOAD_STALL_S", "0.5")
    with caplog.at_level("INFO", logger="genre_classifier.web.guard"):
        guarded, responses, seconds = guard_an_upload(tmp_path, monkeypatch, [b"x" * 1024, None])
    assert 0.4 < seconds < 3
    assert responses[0]["status"] == 408 and (b"connection", b"close") in responses[0]["headers"]
    assert b"nothing arrived" in responses[1]["body"]
    assert guarded.ledger.held() <= 1024  # another visitor's upload is accepted at once
    assert guarded.ledger.reserve("198.51.100.8", 2_000_000) == []
    lines = [r for r in caplog.records if r.name == "genre_classifier.web.guard"]
    assert len(lines) == 1 and "Cut off an upload" in lines[0].getMessage() and lines[0].exc_info is None


def test_the_upload_deadline_holds_when_nothing_arrives(tmp_path, monkeypatch):
    from genre_classifier.web import guard

    monkeypatch.setattr(guard, "UPLOAD_SECONDS", 1.0)  # a silence shorter than the stall timeout, past the deadline
    guarded, responses, seconds = guard_an_upload(tmp_path, monkeypatch, [b"x" * 1024, None])
    assert 0.9 < seconds < 3 and responses[0]["status"] == 408
    assert guarded.ledger.held() <= 1024


def test_a_client_that_goes_away_is_one_line_in_the_log(tmp_path, monkeypatch, caplog):
    with caplog.at_level("INFO"):
        guarded, responses, _ = guard_an_upload(tmp_path, monkeypatch, [b"x" * 1024, "gone"])
    lines = [r for r in caplog.records if r.name == "genre_classifier.web.guard"]
    assert len(lines) == 1 and "went away" in lines[0].getMessage() and lines[0].exc_info is None
    assert guarded.ledger.held() <= 1024


def test_the_same_bytes_sent_by_two_visitors_stay_while_either_needs_them(tmp_path, monkeypatch):
    """Gradio stores an upload by its content (`<sha256>/<name>`): two visitors who send the same bytes get the same
    path, or under another name the same folder. One visitor's copy going (to make room for its next upload, or idle
    past the TTL) must leave the file and folder the other still needs."""
    import time
    from types import SimpleNamespace

    from genre_classifier.web import limits

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path))
    queue = SimpleNamespace(event_ids_to_events={}, active_jobs=[], event_queue_per_concurrency_id={})
    demo = SimpleNamespace(_queue=queue, blocks={}, upload_file_set=set())
    guarded = limits.Limits(demo, Settings(upload_budget="8mb", upload_ttl=1.0))  # a visitor's share: 2 MB
    song, renamed = tmp_path / "5e1f" / "song.wav", tmp_path / "5e1f" / "my-song.wav"
    song.parent.mkdir()
    for path in (song, renamed):
        path.write_bytes(b"\0" * 1_000_000)
    first, second, third = "198.51.100.11", "198.51.100.12", "198.51.100.13"
    for visitor, path in ((third, renamed), (first, song), (second, song)):
        assert guarded.ledger.reserve(visitor, 1_000_000) == []
        guarded.ledger.settle(visitor, 1_000_000, [str(path)])
    assert guarded.ledger.held() == 2_000_000  # on disk once each
    # The second visitor's page classifies it and moves on to a larger file: its answered copy makes room...
    guarded.ledger.mark_used([str(song)], second)
    guarded.delete(guarded.ledger.reserve(second, 1_500_000))
    assert song.exists()  # ...but the first visitor has not asked for it yet
    guarded.ledger.settle(second, 1_500_000, None, 0)
    time.sleep(0.6)
    guarded.ledger.mark_used([str(song)], first)  # the first visitor's request, while the third's copy ages
    time.sleep(0.6)
    guarded.sweep()  # the third visitor's copy has been idle past the TTL: it goes, not its folder's other file
    assert not renamed.exists() and song.exists()
    time.sleep(1.1)
    guarded.sweep()
    assert not song.exists() and not song.parent.exists() and guarded.ledger.held() == 0
