"""The page's event handlers: `classify`, whose answers stream in beside the figures, and the Live tab's stream."""

from __future__ import annotations

import contextvars
import logging
import time

import gradio as gr
import numpy as np

from ..core.answer import CLEAR_MARGIN, clock
from ..core.audio import ACCEPTED, AudioError
from ..core.model import Classifier
from . import limits
from .ahead import Ahead
from .api_docs import CLASSIFY_DOC
from .corrections import Remembered
from .live import ANSWERS, LiveSession, gpu_budget, listen_step
from .plots import clip_images, genre_timeline_image, plot_data
from .summary import summary_text, timeline_rows

log = logging.getLogger(__name__)


def make_classify(classifier: Classifier, remembered: Remembered | None = None):
    """The app's main event handler, bound to one loaded classifier shared by all requests; with `remembered`
    (corrections on), each session's complete answer and its sound are kept for the "Not right?" panel.

    A generator: the three plots are drawn while the first window is classified and come with its answer; after
    each further batch of windows the label, summary, table and genre-over-time figure show the answer so far,
    drawn while the next batch is classified; the last output is the whole clip's answer. Bad input raises before
    anything is yielded.
    """

    # Not under @spaces.GPU: decoding, plots and messages need no GPU; on ZeroGPU only the model's forward borrows
    # one (`TransformerClassifier.forward`, which `predict_windows` calls with the featurized windows).
    def classify(
        audio_path: str | None,
        request: gr.Request = None,
        progress: gr.Progress = gr.Progress(),  # noqa: B008 (Gradio's idiom)
    ):
        started = time.perf_counter()
        if not audio_path:
            raise gr.Error("Record a clip or drop an audio file first.", print_exception=False)
        try:
            if limits.gone(audio_path):
                raise AudioError(limits.EXPIRED)
            clip = classifier.decode(audio_path)
        except AudioError as err:
            log.info("Refused input: %s", err)  # the person sees the message; no traceback for bad input
            raise gr.Error(str(err), print_exception=False) from None
        for note in clip.notes:
            gr.Warning(note)
        with Ahead(classifier.predictions(clip)) as answers:  # the first window classified meanwhile:
            figures = tuple(map(plot_data, clip_images(clip.samples, clip.sampling_rate)))
            for p in answers:
                progress(len(p.window_spans) / p.total_windows, desc="Classifying windows")
                answer = (p.confidences(), summary_text(p, clip, classifier.window_seconds))
                pending = not p.complete
                timeline = plot_data(
                    genre_timeline_image(
                        p.labels, p.window_probs, p.window_spans, clip.seconds, pending=pending, music=p.music_windows
                    )
                )
                # The same figures with every answer: Gradio sends a generator's outputs as differences from the
                # last, so they travel once, and again in the final answer. (Not gr.skip(): in Gradio 6 each skip of
                # an output that later gets a value adds a copy of that component to the session's state.)
                if remembered is not None and request is not None:  # before the answer shows its "Not right?"
                    remembered.note(request.session_hash, clip, p)
                yield *answer, *figures, timeline_rows(p), timeline
        log.info("Classified %.1f s of audio in %.2f s: %s", clip.seconds, time.perf_counter() - started, p.top)

    limit = clock(classifier.max_seconds)
    classify.__doc__ = CLASSIFY_DOC.format(limit=limit, accepted=ACCEPTED, margin=CLEAR_MARGIN)
    return classify


def make_listen(classifier: Classifier):
    """The Live tab's stream handler: chunks in, a label, a rolling genre strip and a status line out.

    It returns at once: Gradio drops the chunks that arrive while it is busy, so an answer is computed beside the
    stream (`live.ANSWERS`) and handed over with the first chunk after it is ready.
    """
    budget = gpu_budget(classifier)

    # Every output, every time: the last answer until there is a new one (not gr.skip(): see `make_classify`). The
    # strip goes to a gr.State, whose change alone sends it to the plot: a stream's outputs all travel with each
    # chunk.
    def listen(chunk: tuple[int, np.ndarray] | None, session: LiveSession | None):
        session = session or LiveSession(gpu_budget=budget)
        if chunk is not None:
            session.add(*chunk)
            if session.answer is not None and session.answer.done():
                (session.label, strip), answered = session.answer.result()
                session.take(answered)
                session.strip = strip or session.strip
                session.answer = None
            if session.answer is None and session.due():
                answered = session.snapshot()  # the answer's own copy: this thread alone changes the session
                # In this request's context: on ZeroGPU the answer's GPU call is this visitor's.
                context = contextvars.copy_context()
                session.answer = ANSWERS.submit(context.run, lambda: (listen_step(classifier, answered), answered))
        status = session.status() if session.started is not None else ""
        return session.label, session.strip, status, session

    return listen
