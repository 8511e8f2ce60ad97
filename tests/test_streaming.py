"""Answers stream in over HTTP: one update per window of a long clip, then the final answer `predict` returns."""

from __future__ import annotations

import pytest
from gradio_client import handle_file

from .helpers import MUSIC, classify_file
from .test_app import check_answer

LONG_CLIP = MUSIC / "Karissa_Hobbs_-_Lets_Go_Fishin.ogg"  # 2:13, five 30 s windows (the last overlaps)


def test_a_long_clip_streams_an_update_per_window_then_the_final_answer(served_tiny):
    client = served_tiny.client()
    job = client.submit(handle_file(str(LONG_CLIP)), api_name="/classify")
    final = job.result(timeout=300)
    updates = job.outputs()
    assert updates[-1] == final or tuple(updates[-1]) == tuple(final)
    partial = [u[1] for u in updates[:-1]]  # the summaries before the final answer
    for window in range(1, 5):
        assert any(f"(window {window} of 5)" in text and "so far" in text for text in partial), partial
    assert len(updates) - 1 >= 5  # at least one intermediate update per window
    drawn = [i for i, u in enumerate(updates) if all(isinstance(plot, dict) and "plot" in plot for plot in u[2:5])]
    assert drawn == [1, len(updates) - 1]  # the three plots travel once while windows stream in, then with the final
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
