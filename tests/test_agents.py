"""An agent's URL is fetched as a stranger's upload is taken: at most MAX_FILE_SIZE, whole within a time, counted in the
upload budget and the visitor's share, and every hop of a redirect only to an address the app admits.

A loopback server of the test's own stands for the internet: the tests admit 127.0.0.1 (the app admits only public
addresses), and 127.0.0.2, a decoy, stands for a private address behind the app that a redirect points at.
"""

from __future__ import annotations

import http.server
import ipaddress
import threading
import time
from types import SimpleNamespace

import gradio as gr
import pytest

from genre_classifier.core.settings import Settings
from genre_classifier.web import agents, limits

from .helpers import CLIPS

pytestmark = pytest.mark.slow  # starts a (loopback) server

CAP = 200_000  # bytes: the test's MAX_FILE_SIZE
SONG = (CLIPS / "rock.00000.wav").read_bytes()[:150_000]


class Files(http.server.BaseHTTPRequestHandler):
    """/song.wav, /big.wav (over the cap, its size said), /endless.wav (no size said, never ends), /trickle.wav
    (a byte every 0.2 s), /to/<url> (a redirect there)."""

    fetched: list[str] = []

    def do_GET(self):  # noqa: N802 (the standard library's name)
        Files.fetched.append(f"{self.server.server_address[0]}{self.path}")
        if self.path.startswith("/to/"):
            self.send_response(302)
            self.send_header("Location", self.path[len("/to/") :])
            self.end_headers()
            return
        body = {"/song.wav": SONG, "/big.wav": b"\0" * (CAP + 1)}.get(self.path)
        self.send_response(200 if body or self.path in ("/endless.wav", "/trickle.wav") else 404)
        if body is not None:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            if body is not None:
                self.wfile.write(body)
            elif self.path == "/endless.wav":  # bounded: stops by itself after 10 MB
                for _ in range(160):
                    self.wfile.write(b"\0" * 65536)
            elif self.path == "/trickle.wav":  # bounded: stops by itself after 10 s
                for _ in range(50):
                    self.wfile.write(b"\0")
                    self.wfile.flush()
                    time.sleep(0.2)
        except (BrokenPipeError, ConnectionResetError):  # the app stopped reading: what the test wants
            pass

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def servers():
    """The test's own server on 127.0.0.1, and a decoy on 127.0.0.2 that nothing may reach."""
    started = []
    for host in ("127.0.0.1", "127.0.0.2"):
        server = http.server.ThreadingHTTPServer((host, 0), Files)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        started.append(server)
    yield [f"http://{s.server_address[0]}:{s.server_address[1]}" for s in started]
    for server in started:
        server.shutdown()


@pytest.fixture
def bounds(tmp_path, monkeypatch):
    """The app's bounds with a budget of 8 MB (a visitor's share: 2 MB), admitting the test's own server."""
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path))
    queue = SimpleNamespace(event_ids_to_events={}, active_jobs=[], event_queue_per_concurrency_id={})
    demo = SimpleNamespace(_queue=queue, blocks={}, upload_file_set=set())
    guarded = limits.Limits(demo, Settings(upload_budget="8mb", upload_ttl=60))
    admit = lambda address: address == ipaddress.ip_address("127.0.0.1")  # noqa: E731
    return agents.Downloads(max_bytes=CAP, seconds=2.0, limits=guarded, admit=admit)


def refusal(url: str, bounds) -> str:
    with pytest.raises(gr.Error) as refused, agents.fetched(url, bounds, "198.51.100.30"):
        pass
    return refused.value.message


def test_a_recording_at_a_url_is_fetched_and_counted_while_it_is_on_disk(servers, bounds):
    with agents.fetched(f"{servers[0]}/to//song.wav", bounds, "198.51.100.30") as path:
        assert open(path, "rb").read() == SONG
        assert bounds.limits.ledger.held("198.51.100.30") >= len(SONG)  # in the visitor's share and the budget
    assert bounds.limits.ledger.held() == 0


@pytest.mark.parametrize("name", ["big.wav", "endless.wav"])
def test_a_file_too_large_is_refused_whether_or_not_its_size_is_said(servers, bounds, name):
    started = time.monotonic()
    assert "is larger than 0.2 MB, the most a recording may be" in refusal(f"{servers[0]}/{name}", bounds)
    assert time.monotonic() - started < 2 and bounds.limits.ledger.held() == 0


def test_a_server_that_trickles_is_given_up_on_in_time(servers, bounds):
    started = time.monotonic()
    assert "did not arrive within 2 s" in refusal(f"{servers[0]}/trickle.wav", bounds)
    assert time.monotonic() - started < 3 and bounds.limits.ledger.held() == 0


@pytest.mark.parametrize("private", ["http://127.0.0.2:{port}/song.wav", "http://169.254.169.254/latest/meta-data/"])
def test_a_redirect_to_a_private_address_is_refused_before_it_is_followed(servers, bounds, private):
    """The first URL is admitted; where it redirects (a decoy on another loopback address; the cloud's metadata
    service) is checked as the first was, and never reached."""
    Files.fetched.clear()
    target = private.format(port=servers[1].rsplit(":", 1)[1])
    assert "is not a public address" in refusal(f"{servers[0]}/to/{target}", bounds)
    assert [f.split("/", 1)[0] for f in Files.fetched] == ["127.0.0.1"]  # the decoy was never asked


def test_an_agent_s_download_takes_only_its_visitor_s_share(servers, bounds):
    bounds.max_bytes = 10_000_000
    bounds.limits.ledger.reserve("198.51.100.30", 1_900_000)  # an upload of its own, arriving
    assert "more than one visitor may hold at once" in refusal(f"{servers[0]}/song.wav", bounds)
    with agents.fetched(f"{servers[0]}/song.wav", bounds, "198.51.100.31") as path:  # another visitor is served
        assert open(path, "rb").read() == SONG
