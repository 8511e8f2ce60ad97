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
