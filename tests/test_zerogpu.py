"""The ZeroGPU contract, without a GPU: only the model's forward runs inside `@spaces.GPU`, on plain arrays.

On a ZeroGPU Space the decorated function runs in a forked worker that receives its arguments and returns its
result pickled, and the visitor's quota pays for the time inside it. `spaces.GPU` is replaced here by a
recorder that does what the worker boundary does to the data (a pickle round trip) and times each call.
"""

from __future__ import annotations

import contextvars
import runpy
import threading
import time
from dataclasses import dataclass, field

import gradio as gr
import numpy as np
import pytest
import soundfile as sf
import spaces
from gradio.context import LocalContext
from spaces.zero.gradio import error as zero_error

from genre_classifier import GENRES
from genre_classifier.core.model import TransformerClassifier
from genre_classifier.web import gpu
from genre_classifier.web.gpu import GPU_STARTUP_SECONDS, gpu_seconds
from genre_classifier.web.handlers import make_classify, make_listen

from .helpers import CLIPS, DATA, EXAMPLES, ROOT, GPURecorder


def _timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def leaves(value):
    """Every leaf of nested containers."""
    if isinstance(value, dict):
        for item in value.values():
            yield from leaves(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from leaves(item)
    else:
        yield value


@pytest.fixture
def recorder(monkeypatch) -> GPURecorder:
    recorder = GPURecorder()
    monkeypatch.setattr(spaces, "GPU", recorder)  # before the classifier's forward borrows it
    return recorder


def test_only_the_forward_crosses_the_gpu_boundary_with_arrays_in_and_out(recorder, tiny_hubert_dir):
    classifier = gpu.borrow(TransformerClassifier.from_pretrained(str(tiny_hubert_dir), device="cpu"))
    clip = DATA / "vibe_ace.hq.ogg"  # 44.1 kHz stereo: decoded, resampled, 2 windows
    classify = make_classify(classifier)
    list(classify(str(clip)))  # first calls (torch kernels, fonts) out of the way
    recorder.calls.clear()
    *_, (label, summary, *plots) = classify(str(clip))

    assert recorder.calls, "the model never ran inside @spaces.GPU"
    for call in recorder.calls:
        for leaf in leaves([call["args"], call["kwargs"]]):
            assert isinstance(leaf, np.ndarray), f"{type(leaf).__name__} crossed the GPU boundary"  # no path, no clip
        assert call["duration"] == gpu_seconds(*call["args"]) >= GPU_STARTUP_SECONDS
    windows = sum(len(next(iter(call["args"][0].values()))) for call in recorder.calls)
    assert windows == 2 and sorted(label) == sorted(GENRES) and len(plots) == 5

    # The time inside is the model's: the forward alone on the same inputs takes as long. Decoding, resampling,
    # the plots and the summary run outside (the plots drawn meanwhile), so the visitor's quota pays none of them.
    inside = sum(call["seconds"] for call in recorder.calls)
    forward = min(_timed(lambda: [classifier._forward(*call["args"]) for call in recorder.calls]) for _ in range(2))
    assert inside <= 2 * forward + 0.2, (inside, forward)  # margins for a shared, noisy host


def test_the_duration_asked_for_follows_the_clip():
    short, long = ({"input_values": np.zeros((n, 16))} for n in (1, 20))  # one window, and 10 min of 30 s windows
    assert GPU_STARTUP_SECONDS <= gpu_seconds(short) < gpu_seconds(long) <= 30


def test_a_live_answer_is_one_gpu_call_on_arrays(recorder, tiny_hubert_dir, monkeypatch):
    monkeypatch.setattr("spaces.config.Config.zero_gpu", True)  # a ZeroGPU Space: live sessions get a GPU budget
    classifier = gpu.borrow(TransformerClassifier.from_pretrained(str(tiny_hubert_dir), device="cpu"))
    classifier.on_gpu = True  # as on ZeroGPU, where the model sits on "cuda"
    listen = make_listen(classifier)
    pcm, rate = sf.read(CLIPS / "rock.00000.wav", dtype="int16")
    session, statuses = None, []
    for second in range(5):
        *_, status, session = listen((rate, pcm[second * rate : (second + 1) * rate]), session)
        statuses += [status] if isinstance(status, str) else []
        if session.answer is not None:
            session.answer.result()  # as time passes between chunks: the next one hands the answer over
    if session.answer is not None:  # the last answer, as the next chunk would hand it over
        session.take(session.answer.result()[1])
    assert session.gpu_budget is not None and session.gpu_used > 0
    assert len(recorder.calls) == len(session.history) > 0
    for call in recorder.calls:
        assert all(isinstance(leaf, np.ndarray) for leaf in leaves([call["args"], call["kwargs"]]))
    assert statuses and "GPU budget" in statuses[-1]


def test_a_zerogpu_space_on_the_embedded_model_still_declares_a_gpu_function(recorder, monkeypatch):
    """ZeroGPU will not start a Space that declares no @spaces.GPU function, and the embedded model (the fallback
    when the Hub cannot be reached) needs none: app.py declares one anyway, as it starts."""
    monkeypatch.setattr("spaces.config.Config.zero_gpu", True)
    monkeypatch.setenv("MODEL_ID", "baseline")
    runpy.run_path(str(ROOT / "app.py"), run_name="app")  # not "__main__": builds the app, launches nothing
    assert recorder.registered and not recorder.calls


@dataclass
class OneVisitor(GPURecorder):
    """ZeroGPU as one visitor's calls meet it. Each call notes the request it is made for (ZeroGPU reads it from
    Gradio's context: whose quota pays); calls after the first wait for `more`, or are refused as `spaces` refuses
    a visitor whose quota has run out."""

    refuse: bool = False
    more: threading.Event = field(default_factory=threading.Event)
    requests: list = field(default_factory=list)

    def wrap(self, fn, duration):
        inner = super().wrap(fn, duration)

        def worker(*args, **kwargs):
            self.requests.append(LocalContext.request.get(None))
            if len(self.requests) > 1 and self.refuse:
                raise zero_error("ZeroGPU quota exceeded", "You have exceeded your GPU quota")
            if len(self.requests) > 1:
                self.more.wait(timeout=60)
            return inner(*args, **kwargs)

        return worker


def classify_for(visitor, classifier):
    """The handler's answers for a five-window clip, iterated in the context Gradio gives a visitor's event."""
    context = contextvars.copy_context()
    context.run(LocalContext.request.set, visitor)
    answers = make_classify(classifier)(str(EXAMPLES / "lets_go_fishin.ogg"))
    return lambda: context.run(next, answers), lambda: context.run(answers.close)


def test_the_forward_runs_for_the_visitor_and_a_quota_refusal_reaches_them_after_the_first_answer(
    monkeypatch, tiny_hubert_dir
):
    recorder = OneVisitor(refuse=True)
    monkeypatch.setattr(spaces, "GPU", recorder)
    classifier = gpu.borrow(TransformerClassifier.from_pretrained(str(tiny_hubert_dir), device="cpu"))
    visitor = object()  # the gr.Request of the visitor's event
    step, _ = classify_for(visitor, classifier)
    first = step()
    assert "so far" in first[1] and all(figure is not None for figure in first[2:5])
    with pytest.raises(gr.Error, match="exceeded your GPU quota"):
        step()
    assert recorder.requests == [visitor, visitor]  # none after the refusal


def test_a_visitor_who_leaves_mid_answer_gets_no_more_forwards(monkeypatch, tiny_hubert_dir):
    recorder = OneVisitor()
    monkeypatch.setattr(spaces, "GPU", recorder)
    classifier = gpu.borrow(TransformerClassifier.from_pretrained(str(tiny_hubert_dir), device="cpu"))
    step, close = classify_for(object(), classifier)
    step()  # the first window's answer; the second window's forward is under way
    close()  # what Gradio does when the page is closed
    recorder.more.set()  # the forward under way ends
    for thread in threading.enumerate():
        if thread.name == "classify":
            thread.join(timeout=60)
    assert len(recorder.calls) == 2, recorder.calls  # of five windows
