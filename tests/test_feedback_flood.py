"""A flood of corrections against the app served for real: each flooder is refused past its hourly share, the same
clip is taken once, and another visitor classifies and shares throughout. (The day's cap and the disk cap, too
large to reach here, are flooded in test_feedback.py.)"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
import soundfile as sf
from gradio_client import handle_file

from genre_classifier.core import feedback

from .helpers import ServedApp
from .test_feedback import load

pytestmark = pytest.mark.slow  # starts an app


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    folder = tmp_path_factory.mktemp("feedback")
    served = ServedApp({"MODEL_ID": "baseline", "FEEDBACK_DIR": str(folder)}, tmp_path_factory.mktemp("logs") / "f.log")
    served.folder = folder
    served.wait_ready()
    yield served
    served.stop()


def tone(folder, seed: int):
    """Five seconds of a sound of its own for every seed."""
    rng = np.random.default_rng(seed)
    t = np.arange(5 * 16000) / 16000
    path = folder / f"tone-{seed}.wav"
    sf.write(path, 0.3 * np.sin(2 * np.pi * (200 + seed) * t) + 0.02 * rng.standard_normal(len(t)), 16000)
    return path


class Visitor:
    """A page's session from one address: classify a clip, then correct it as the page's button does."""

    def __init__(self, app: ServedApp, address: str) -> None:
        self.app, self.headers = app, {"X-Forwarded-For": address}
        self.client = app.client(visitor=address)
        config = httpx.get(f"{app.url}config").json()["dependencies"]
        self.share_event = next(d["id"] for d in config if d.get("api_name") == "share")

    def classify(self, path) -> str:
        return self.client.predict(handle_file(str(path)), api_name="/classify")[0]["label"]

    def share(self, label: str = "jazz") -> str:
        body = {"data": [label, True], "fn_index": self.share_event, "session_hash": self.client.session_hash}
        answer = httpx.post(f"{self.app.url}gradio_api/run/predict", json=body, headers=self.headers, timeout=30)
        assert answer.status_code == 200, answer.text  # a refusal is a sentence, never an error
        return answer.json()["data"][0]


def test_a_flood_of_corrections_is_refused_past_its_bounds_while_another_visitor_is_served(app, tmp_path):
    def flood(n: int) -> list[str]:
        visitor, said = Visitor(app, f"198.51.100.{n}"), []
        for i in range(feedback.PER_VISITOR_HOUR + 2):
            visitor.classify(tone(tmp_path, 100 * n + i))
            said += [visitor.share() for _ in range(3)]  # the same clip, again and again
        return said

    quiet, waits, receipts = Visitor(app, "192.0.2.77"), [], []
    with ThreadPoolExecutor(3) as pool:
        flooding = [pool.submit(flood, n) for n in range(3)]
        for i in range(3):  # meanwhile, someone else uses the page as usual
            started = time.monotonic()
            assert quiet.classify(tone(tmp_path, 9000 + i))
            waits.append(time.monotonic() - started)
            receipts.append(quiet.share("rock"))
        said = [s for f in flooding for s in f.result()]

    assert all("Your receipt" in r for r in receipts), receipts
    assert max(waits) < 30, waits
    taken = [s for s in said if "Your receipt" in s]
    assert len(taken) == 3 * feedback.PER_VISITOR_HOUR  # each flooder's hourly share, no more
    assert sum("shared already" in s for s in said) == 3 * feedback.PER_VISITOR_HOUR * 2
    assert all("Your receipt" in s or "shared already" in s or "this hour" in s for s in said), set(said)
    rows = load(app.folder)
    assert len(rows) == 3 * feedback.PER_VISITOR_HOUR + 3
    assert "Traceback" not in app.log
