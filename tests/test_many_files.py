"""Several files at once (the Many files tab and the agents' `tag`): one path, each file its row, whatever it holds."""

from __future__ import annotations

import base64
import json

from genre_classifier.core.model import BaselineClassifier
from genre_classifier.web import agents

from .helpers import CLIPS


def data_url(name: str) -> str:
    return "data:audio/wav;base64," + base64.b64encode((CLIPS / name).read_bytes()[:200_000]).decode()


class Odd(BaselineClassifier):
    """The embedded model, failing in an unforeseen way on its first clip."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def classify(self, clip):
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("an odd failure")
        return super().classify(clip)


def test_an_agent_s_odd_recording_gets_its_row_and_the_others_their_answers():
    tag = agents.make_tag_json(Odd(), agents.Downloads(max_bytes=10**7))
    files = json.loads(tag([data_url("rock.00000.wav"), "not a recording", data_url("jazz.00000.wav")]))["files"]
    assert [row["path"] for row in files] == ["recording 1", "not a recording", "recording 3"]
    assert files[0]["note"] == "It could not be classified (the server log says why)."
    assert "data: URL" in files[1]["note"] and not files[1]["genre"]
    assert files[2]["genre"]
