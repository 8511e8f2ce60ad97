"""Gradio's private internals are read in one module, which checks at start-up that this Gradio still has them."""

from __future__ import annotations

import re

import gradio as gr
import pytest

from genre_classifier.web import gradio_internals

from .helpers import ROOT


def queued_demo() -> gr.Blocks:
    with gr.Blocks() as demo:
        gr.Button().click(lambda: None)
    demo.queue(default_concurrency_limit=1)
    return demo


def test_this_gradio_has_every_internal_the_limits_use():
    demo = queued_demo()
    gradio_internals.check(demo)
    assert gradio_internals.events(demo) == [] and list(gradio_internals.running(demo)) == []
    assert gradio_internals.parse_size("5gb") == 5 * 1024**3


def test_a_gradio_whose_internals_moved_is_refused_with_a_sentence():
    demo = queued_demo()
    del demo._queue.active_jobs  # as if a new release had renamed it
    demo.upload_file_set = None
    with pytest.raises(gradio_internals.GradioMismatch) as refused:
        gradio_internals.check(demo)
    message = str(refused.value)
    assert "Blocks._queue.active_jobs" in message and "Blocks.upload_file_set" in message
    assert f"Gradio {gr.__version__} lacks" in message and "pip install -r requirements.txt" in message


def test_no_other_module_reads_gradio_internals():
    private = re.compile(r"\._queue\b|upload_file_set|_parse_file_size|gradio\.\w+\._\w+")
    for path in (ROOT / "genre_classifier").rglob("*.py"):
        if path.name != "gradio_internals.py":
            assert not private.search(path.read_text()), path
