"""The page's "Not right?" panel: a visitor corrects an answer and, if they tick the consent, shares the clip the
server just classified (core/feedback.py stores it); a receipt id withdraws it. On only where FEEDBACK_DIR is set.

The clip is the server's own copy, remembered per session when the answer is complete: the browser sends only the
label, the tick and its session (never a path or bytes), so nobody can make the server keep a file it did not
classify for them.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict

import gradio as gr
import numpy as np

from .. import GENRES
from ..core import answer as verdicts
from ..core.audio import Clip
from ..core.feedback import CONSENT, MAX_SECONDS, NOT_MUSIC, OTHER_MUSIC, Answered, Feedback, FeedbackRefused
from ..core.model import Classifier, Prediction
from .limits import client_id

log = logging.getLogger(__name__)

# Sessions whose last answer is remembered: 30 s of float32 is 1.9 MB at 16 kHz, 2.6 MB at the offline model's
# 22,050 Hz, so 64 hold at most about 170 MB. The oldest go first; its visitor is asked to classify again.
REMEMBERED = 64
CHOICES = [*((genre, genre) for genre in GENRES), ("not music", NOT_MUSIC), ("music, but none of these", OTHER_MUSIC)]
FEEDBACK_ON = (
    "**Corrections are on.** When an answer is wrong you can say what the sound is, and, if you agree, share the clip "
    "to teach the next version of this model. Nothing is kept unless you tick the box."
)
NOTHING_ANSWERED = "Classify a clip first: a correction is about the sound this page has just classified."


class Remembered:
    """The last complete answer of each of the latest REMEMBERED sessions, and its sound (the first 30 s)."""

    def __init__(self, classifier: Classifier, size: int = REMEMBERED) -> None:
        self.model_id = getattr(classifier, "model_id", "baseline")
        self.size, self.answers = size, OrderedDict()
        self.lock = threading.Lock()

    def note(self, session: str | None, clip: Clip, prediction: Prediction) -> None:
        """Keep a complete answer; an answer so far means a new clip, with nothing to correct until it is complete."""
        if not session:
            return
        if not prediction.complete:
            return self.forget(session)
        samples = np.array(clip.samples[: int(MAX_SECONDS * clip.sampling_rate)], np.float32)  # a copy: 30 s at most
        top = prediction.top
        answered = Answered(
            samples,
            clip.sampling_rate,
            verdicts.of(prediction).text,
            top,
            float(prediction.probs[prediction.labels.index(top)]),
            self.model_id,
        )
        with self.lock:
            self.answers[session] = answered
            self.answers.move_to_end(session)
            while len(self.answers) > self.size:
                self.answers.popitem(last=False)

    def forget(self, session: str) -> None:
        with self.lock:
            self.answers.pop(session, None)

    def get(self, session: str | None) -> Answered | None:
        with self.lock:
            return self.answers.get(session) if session else None


def _visitor(request: gr.Request, behind_proxy: bool) -> str:
    return client_id(request.headers, request.client.host if request.client else None, behind_proxy)


def correction_panel(feedback: Feedback, remembered: Remembered, behind_proxy: bool, after: gr.Markdown) -> None:
    """The panel, hidden until `after` (the answer in words) first shows, and the withdrawal beside it."""
    gr.Markdown(FEEDBACK_ON, elem_id="feedback-on")
    with gr.Group(visible=False, elem_id="correction") as panel:
        choice = gr.Radio(CHOICES, label="Not right? What is it?", elem_id="correct-label")
        consent = gr.Checkbox(value=False, label=CONSENT, elem_id="consent")
        share_button = gr.Button("Share this correction", elem_id="share")
        shared = gr.Markdown(elem_id="feedback-receipt")
    with gr.Accordion("Withdraw a clip you shared", open=False):
        receipt = gr.Textbox(label="Receipt id", max_length=40, elem_id="withdraw-id")
        withdraw_button = gr.Button("Withdraw", elem_id="withdraw")
        withdrawn = gr.Markdown(elem_id="withdrawn")

    def share(label: str | None, agreed: bool, request: gr.Request):
        answered = remembered.get(request.session_hash)
        try:
            if answered is None:
                raise FeedbackRefused(NOTHING_ANSWERED)
            if not label:
                raise FeedbackRefused("Choose what the sound is first.")
            number = feedback.share(answered, label, agreed, _visitor(request, behind_proxy))
        except FeedbackRefused as err:
            return str(err), agreed
        log.info("Stored correction %s: %s (the model said %s)", number, label, answered.answer)
        # The tick is for this clip only: the next one is asked again.
        return (
            f'Thank you: the clip and "{label}" are kept. Your receipt: **{number}**. Keep it to withdraw the '
            "clip (below) at any time.",
            False,
        )

    def withdraw(number: str, request: gr.Request) -> str:
        try:
            feedback.withdraw(number or "", _visitor(request, behind_proxy))
        except FeedbackRefused as err:
            return str(err)
        log.info("Withdrew correction %s", number.strip().lower())
        return f"Withdrawn: the clip of receipt {number.strip().lower()} and its label are deleted."

    private = {"api_visibility": "private", "queue": False, "show_progress": "hidden"}
    share_button.click(share, inputs=[choice, consent], outputs=[shared, consent], **private)
    withdraw_button.click(withdraw, inputs=receipt, outputs=withdrawn, **private)
    after.change(lambda: gr.update(visible=True), outputs=panel, **private)
