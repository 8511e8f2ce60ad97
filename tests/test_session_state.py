"""What a visitor's session keeps on the server stays the page's components, however many answers it got.

Gradio keeps a copy of the page's components per session (`state_holder`), with the last value of each: a
component handed a new one per answer (as `gr.skip()` followed by a value does in Gradio 6) would keep every
answer's figures until the session is evicted. The app runs in this process so that its sessions can be read.
"""

from __future__ import annotations

import asyncio
import time

import librosa
import numpy as np
import pytest
from gradio_client import Client, handle_file

from genre_classifier.web import server
from genre_classifier.web.handlers import make_listen

from .helpers import CLIPS, write_tone

pytestmark = pytest.mark.slow  # serves the app


@pytest.fixture(scope="module")
def served(tiny_hubert_dir, tmp_path_factory):
    """The app as `python app.py` builds and launches it, in this process (a capacity of 20 sessions)."""
    with pytest.MonkeyPatch.context() as env:  # the settings go with the fixture: later apps' processes inherit none
        env.setenv("MODEL_ID", str(tiny_hubert_dir))
        env.setenv("GRADIO_EXAMPLES_CACHE", str(tmp_path_factory.mktemp("examples")))
        demo, limits, classifier = server.build()
        limits.sessions = 20
        server.launch(demo, limits, classifier, block=False)
        yield demo, classifier
        demo.close()


def event(demo, name: str):
    return next(fn for fn in demo.fns.values() if fn.name == name)


def test_a_session_holds_the_page_whatever_it_asked(served, tmp_path):
    demo, classifier = served
    client = Client(demo.local_url, verbose=False)
    long = write_tone(tmp_path / "long.wav", seconds=65.0)  # three windows: the answer streams in
    for _ in range(3):
        client.predict(handle_file(str(long)), api_name="/classify")
    state = demo.state_holder[client.session_hash]
    blocks = len(state.blocks_config.blocks)

    # A failed request clears the label's error badge (the page runs this after a failure).
    failed = event(demo, "<lambda>")
    assert failed.outputs == failed.inputs == [demo.blocks[failed.inputs[0]._id]]
    shown = failed.fn({"jazz": 0.9, "rock": 0.1})
    asyncio.run(demo.postprocess_data(failed, shown, state))  # one output: no list
    client.predict(handle_file(str(long)), api_name="/classify")
    client.predict([handle_file(str(long)), handle_file(str(CLIPS / "jazz.00000.wav"))], api_name="/tag")

    # The Live tab: one-second chunks, each answered with the last answer until the next is ready; the page asks
    # for the strip's figure when it changes.
    listen, session, shown = make_listen(classifier), None, None
    samples, _ = librosa.load(CLIPS / "reggae.00000.wav", sr=16000, duration=8.0)
    stream, draw = event(demo, "listen"), event(demo, "plot_data")
    for second in range(8):
        chunk = (samples[second * 16000 : (second + 1) * 16000] * 32767).astype(np.int16)
        *outputs, session = listen((16000, chunk), session)
        asyncio.run(demo.postprocess_data(stream, [*outputs, session], state))
        if outputs[1] is not shown:
            shown = outputs[1]
            asyncio.run(demo.postprocess_data(draw, draw.fn(shown), state))
        deadline = time.monotonic() + 10
        while session.answer is not None and not session.answer.done() and time.monotonic() < deadline:
            time.sleep(0.05)
    assert len(session.history) >= 3  # answers

    assert len(state.blocks_config.blocks) == blocks == len(demo.blocks)
    assert set(state.config_values) <= set(demo.blocks)


def test_sessions_are_capped_so_a_flood_of_them_holds_bounded_memory(served):
    demo, _ = served
    for n in range(25):  # as many visitors' first requests
        demo.state_holder[f"visitor-{n}"]
    assert len(demo.state_holder.session_data) == 20
    assert "visitor-4" not in demo.state_holder and "visitor-5" in demo.state_holder  # the oldest went
