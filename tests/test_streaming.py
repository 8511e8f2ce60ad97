"""Answers stream in over HTTP: one update per window of a long clip, then the final answer `predict` returns."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
from gradio_client import handle_file

from .helpers import EXAMPLES, classify_event, classify_file, join_classify
from .test_app import check_answer

LONG_CLIP = EXAMPLES / "lets_go_fishin.ogg"  # 2:13, five 30 s windows (the last overlaps)


def test_a_long_clip_streams_an_update_per_window_then_the_final_answer(served_tiny):
    client = served_tiny.client()
    job = client.submit(handle_file(str(LONG_CLIP)), api_name="/classify")
    final = job.result(timeout=300)
    updates = job.outputs()
    assert updates[-1] == final or tuple(updates[-1]) == tuple(final)
    partial = [u[1] for u in updates[:-1]]  # the summaries before the final answer
    for window in range(1, 5):
        assert any(f"(window {window} of 5)" in text and "so far" in text for text in partial), partial
    assert len(updates) == 5  # one per window, the last the final answer
    assert all(all(isinstance(plot, dict) and "plot" in plot for plot in u[2:5]) for u in updates)  # figures first
    assert "so far" not in final[1] and "5 windows" in final[1]
    check_answer(final, expected_windows=5)
    assert final[5]["data"][-1][4].startswith("overlaps the previous window by 17.0 s")  # 103-133 s over 90-120 s
    again = classify_file(client, LONG_CLIP)  # predict() returns the last update: the same answer
    assert again[0] == final[0] and again[1] == final[1]


def test_bad_input_fails_before_any_partial_answer(served_tiny, tmp_path):
    bad = tmp_path / "notes.mp3"
    bad.write_text("shopping list\n" * 100)
    job = served_tiny.client().submit(handle_file(str(bad)), api_name="/classify")
    with pytest.raises(Exception, match="not an audio or video format"):
        job.result(timeout=120)
    assert job.outputs() == []


def test_the_figures_travel_once_while_windows_stream_in(served_tiny):
    """What goes over the wire, as the page reads it: Gradio sends a generator's outputs as differences from the
    last, so the three figures, repeated with every window, go once; the genre-over-time figure with each window;
    all four again in the final answer."""
    with httpx.Client(base_url=served_tiny.url, timeout=300) as http:
        stored = http.post("gradio_api/upload", files={"files": LONG_CLIP.open("rb")}).json()[0]
        session = uuid.uuid4().hex
        join_classify(http, classify_event(http), stored, session).raise_for_status()
        figures = []  # data URLs of figures in each message with outputs
        with http.stream("GET", "gradio_api/queue/data", params={"session_hash": session}) as stream:
            for line in stream.iter_lines():
                message = json.loads(line.removeprefix("data:")) if line.startswith("data:") else {}
                if message.get("msg") in ("process_generating", "process_completed"):
                    figures.append(line.count("data:image/webp"))
                if message.get("msg") == "process_completed":
                    break
    # The first window's answer with the three figures (drawn meanwhile) and its genre over time; the genre over
    # time after each further window (five in all); the final answer whole.
    assert figures == [4, 1, 1, 1, 1, 4], figures
