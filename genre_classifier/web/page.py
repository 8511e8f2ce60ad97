"""The Gradio Blocks app: a clip in, genre probabilities streaming in with plots and genre over time; a live tab."""

from __future__ import annotations

import base64
import contextvars
import logging
import queue
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import gradio as gr
import numpy as np
import soundfile as sf
from gradio.components.plot import PlotData

from .. import examples_dir
from ..core import answer as verdicts
from ..core import gate
from ..core.answer import CLEAR_MARGIN, clock
from ..core.audio import ACCEPTED, AudioError, Clip
from ..core.feedback import Feedback
from ..core.model import Classifier, Prediction
from ..core.settings import Settings
from . import agents, gradio_internals, limits
from .corrections import Remembered, correction_panel
from .live import ANSWERS, LIMIT_SECONDS, LISTENING, LIVE_SECONDS, LIVE_TITLE, LiveSession, gpu_budget, listen_step
from .many_files import many_files_tab
from .plots import clip_images, genre_timeline_image

log = logging.getLogger(__name__)

EXAMPLES_DIR = examples_dir()
EXAMPLES = [
    ("vibe_ace.ogg", "Vibe Ace (jazz)"),
    ("sugar_plum_fairy.ogg", "Sugar Plum Fairy (classical)"),
    ("hungarian_dance_5.ogg", "Hungarian Dance No. 5 (stereo, 44.1 kHz)"),
    ("lets_go_fishin.ogg", "Let's Go Fishin' (pop/folk)"),
    ("trumpet_loop.ogg", "Trumpet loop (5 s)"),
]
TIMELINE_HEADERS = ["Start", "End", "Top genre", "Confidence", "Note"]
PLOTS = ("genre-over-time", "mel", "waveform", "spectrogram", "live-strip")  # their elem_ids
CSS = (
    "#genre-label.not-music { opacity: 0.45; }"  # the genres of a sound that is not music: shown, but faded
    # A figure with nothing drawn yet is not shown at all: no empty, untitled frames before the first answer.
    + ",".join(f"#{plot}:not(:has(img))" for plot in PLOTS)
    + " { display: none; }"
)
# On a phone the answer arrives below the fold (under the player, the button and the examples): it is brought on
# screen when its first words come (measured once they are drawn, a moment after the change). Where it is in view
# already (a laptop), nothing moves.
SHOW_ANSWER = """() => setTimeout(() => {
    const answer = document.querySelector('#details');
    if (answer && answer.getBoundingClientRect().top > 0.6 * window.innerHeight) {
        answer.scrollIntoView({behavior: 'smooth', block: 'start'});
    }
}, 100)"""
NOT_MUSIC_HEADLINE = "This doesn't sound like music"
PLOT_MIN_WIDTH = 480  # px: two figures side by side from a laptop's width up, stacked on a phone or a narrow window


def timeline_rows(prediction: Prediction) -> list[list]:
    """One row per window; a window that is not music says so in place of its genre; one that overlaps the one
    before it (the clip's last) says by how much."""
    rows, previous_end = [], 0.0
    for (start, end), p, music in zip(prediction.window_spans, prediction.window_probs, prediction.music_windows,
                                      strict=True):  # fmt: skip
        overlap = previous_end - start
        note = f"overlaps the previous window by {overlap:.1f} s (covers the clip's end)" if overlap > 0 else ""
        genre = prediction.labels[int(p.argmax())] if music else verdicts.NOT_MUSIC
        rows.append([clock(start, tenths=True), clock(end, tenths=True), genre, round(float(p.max()), 3), note])
        previous_end = end
    return rows


def _summary(prediction: Prediction, clip: Clip, window_seconds: float) -> str:
    """The answer in words, headed by the verdict: the genre when it is clearly ahead, else the close contenders; a
    sound the music gate does not take for music is headed so, its genres named as an afterthought."""
    answer = verdicts.of(prediction)
    share = dict(zip(prediction.labels, prediction.probs, strict=True))
    top = answer.contenders[0]
    music = prediction.music_windows
    if not answer.music:
        headline = NOT_MUSIC_HEADLINE
        sounds = f"It sounds like {gate.DESCRIBED[answer.sounds_like]}." if answer.sounds_like else ""
        why = f"The verdict: not music. {sounds} The genres below are only what the model would say if it were: "
        why += f"{top} at {share[top]:.0%}, which means little here."
    elif answer.clear:
        runner_up = max((g for g in prediction.labels if g != top), key=share.get)
        headline, why = top, f"Clearly ahead: {share[top]:.0%}, the next is {runner_up} at {share[runner_up]:.0%}."
    else:
        close = ", ".join(f"{genre} {share[genre]:.0%}" for genre in answer.contenders)
        headline, why = answer.text[0].upper() + answer.text[1:], f"No genre is clearly ahead: {close}."
    if answer.music and not music.all():  # a podcast's music intro: the genre is the music's
        why += f" {(~music).sum()} of {len(music)} windows are not music; the genres are those of the others."
    done = len(prediction.window_spans)
    if not prediction.complete:  # an answer so far, refined as the other windows finish
        heard = prediction.window_spans[-1][1]
        return (
            f"## {headline} (so far)\n\n{why} After {clock(heard, tenths=True)} of {clock(clip.seconds, tenths=True)} "
            f"(window {done} of {prediction.total_windows})…"
        )
    lines = [
        f"## {headline}",
        f"{why} Classified from {clip.seconds:.1f} s of audio, {done} window{'s' if done > 1 else ''} of up to "
        f"{window_seconds:g} s.",
        *clip.notes,
    ]
    return "\n\n".join(lines)


def fade(summary: str | None) -> dict:
    """The bars' look for a summary: faded when it says the sound is not music (a page-only event, after the
    summary changes, so that the API's outputs stay the label and its confidences)."""
    return gr.update(elem_classes=["not-music"] if (summary or "").startswith(f"## {NOT_MUSIC_HEADLINE}") else [])


def plot_data(webp: bytes | None) -> PlotData | None:
    """A figure drawn and encoded by `plots` (from its kept figures, a tenth of a fresh figure's cost), as the data
    gr.Plot would make of a matplotlib figure."""
    if webp is None:
        return None
    return PlotData(type="matplotlib", plot="data:image/webp;base64," + base64.b64encode(webp).decode())


class Ahead:
    """The answers of `partials`, computed in a worker thread: the handler draws and sends one answer while the
    next is computed (on a GPU the CPU would idle meanwhile; a CPU's forward leaves some of it free). An error of
    the forward is raised where the answers are iterated; leaving the `with` block stops the forwards."""

    def __init__(self, partials: Iterator[Prediction]) -> None:
        self._answers: queue.SimpleQueue = queue.SimpleQueue()
        self._left = False
        # In this request's context: on ZeroGPU the forward's GPU call is this visitor's.
        run = contextvars.copy_context().run
        threading.Thread(target=run, args=(self._compute, partials), name="classify", daemon=True).start()

    def _compute(self, partials: Iterator[Prediction]) -> None:
        try:
            for p in partials:
                self._answers.put(p)
                if self._left:  # the visitor left, or the request failed: no more forwards for it
                    break
        except BaseException as err:  # noqa: BLE001 (raised in the request's thread)
            self._answers.put(err)
        self._answers.put(None)

    def __enter__(self) -> Ahead:
        return self

    def __exit__(self, *_) -> None:
        self._left = True

    def __iter__(self) -> Iterator[Prediction]:
        while (p := self._answers.get()) is not None:
            if isinstance(p, BaseException):
                raise p
            yield p


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
            clip = classifier.load(audio_path)
        except AudioError as err:
            log.info("Refused input: %s", err)  # the person sees the message; no traceback for bad input
            raise gr.Error(str(err), print_exception=False) from None
        for note in clip.notes:
            gr.Warning(note)
        with Ahead(classifier.predictions(clip)) as answers:  # the first window classified meanwhile:
            figures = tuple(map(plot_data, clip_images(clip.samples, clip.sampling_rate)))
            for p in answers:
                progress(len(p.window_spans) / p.total_windows, desc="Classifying windows")
                answer = (p.confidences(), _summary(p, clip, classifier.window_seconds))
                pending = not p.complete
                timeline = plot_data(genre_timeline_image(
                    p.labels, p.window_probs, p.window_spans, clip.seconds, pending=pending, music=p.music_windows
                ))  # fmt: skip
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


# What the API page says of `/classify`: what to pass, what comes back, the limits (agents: agents.py).
# Gradio reads one line per parameter and per returned value.
CLASSIFY_DOC = "\n".join([
    "Music genre of a recording: the probability of each of the ten GTZAN genres (blues, classical, country, disco, "
    "hiphop, jazz, metal, pop, reggae, rock), and whether one of them is clearly ahead.",
    "",
    "Args:",
    "    audio_path: the recording, an audio or video file ({accepted}), as an http(s) URL of a public address or an "
    "uploaded file. Only its first {limit} min are analysed. Files over the size limit (300 MB unless the server says "
    "otherwise) and URLs of private or loopback addresses are refused.",
    "",
    "Returns:",
    "    the ten genre probabilities (a label and its confidences)",
    "    the answer in words, headed by the verdict (the genre when it leads the second by {margin:g} or more, else "
    "\"Unsure: blues or rock\" naming the close contenders, or \"This doesn't sound like music\" for speech, noise "
    "or tones, whose probabilities then mean little), with the seconds and windows classified",
    "    three figures: waveform, spectrogram and mel spectrogram",
    "    the genre of each window (start, end, top genre or \"not music\", confidence)",
    "    a figure of the genre over time",
])  # fmt: skip


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


def warm_up(classifier: Classifier) -> float:
    """Pay the first-use costs before a visitor does: a synthetic clip of one window, written as a file comes, goes
    through the request handler itself (decoding, resampling, the music gate, the forward at its full window, whose
    kernels PyTorch or numba set up on first use, the figures and their encoders). Returns the seconds it took."""
    started = time.perf_counter()
    rate = 44100  # as a file or a microphone brings it
    t = np.arange(int(classifier.window_seconds * rate)) / rate
    tone = (0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 2 * t)) / 2).astype(np.float32)
    if classifier.on_gpu:  # a forward would borrow a GPU for no visitor (ZeroGPU): the gate and figures alone
        clip = classifier.load((rate, tone))
        gate.listen(clip.gate_audio, [(0.0, clip.seconds)])
        clip_images(clip.samples, clip.sampling_rate)
        genre_timeline_image(classifier.labels, np.full((1, len(classifier.labels)), 0.1), [(0, 1)], 1.0)
    else:
        with tempfile.TemporaryDirectory(prefix="genre-warm-up-") as folder:
            path = Path(folder) / "warm-up.wav"
            sf.write(path, tone, rate)
            for _ in make_classify(classifier)(str(path), progress=lambda *args, **kwargs: None):
                pass
    return time.perf_counter() - started


def build_demo(classifier: Classifier, fallback_reason: str | None = None, downloads: agents.Downloads | None = None,
               feedback: Feedback | None = None, behind_proxy: bool = False) -> gr.Blocks:
    """The whole UI; `fallback_reason` is shown when the embedded model stands in for the chosen one; `downloads`
    bounds the agents' URLs (by default the most Gradio takes as an upload, counted in no budget); `feedback`
    (FEEDBACK_DIR set) adds the "Not right?" panel, whose visitors are told apart as limits.py does."""
    downloads = downloads or agents.Downloads(max_bytes=gradio_internals.parse_size(Settings().max_file_size))
    remembered = Remembered(classifier) if feedback else None
    classify = make_classify(classifier, remembered)
    model_line = (f"⚠️ {fallback_reason}\n\n" if fallback_reason else "") + f"**{classifier.description}.**"
    with gr.Blocks(title="Music genre classifier") as demo:
        agents.add_tools(classifier, downloads)  # first: the MCP tools take the plain names
        gr.Markdown(
            "# Music genre classifier\nRecord a clip or drop an audio or video file to see how likely each of the ten "
            "GTZAN genres is, with the waveform, spectrogram and mel-spectrogram of what you gave. Long recordings are "
            f"classified window by window, and the answer streams in as they finish. Accepted: {ACCEPTED}."
        )
        gr.Markdown(model_line, elem_id="model-info")
        with gr.Tab("Clip"):
            with gr.Row():
                with gr.Column() as input_column:
                    audio = gr.Audio(sources=["upload", "microphone"], type="filepath", label="Audio")
                    button = gr.Button("Classify", variant="primary")
                with gr.Column():
                    details = gr.Markdown(label="Summary", elem_id="details")
                    # The summary above is the headline ("Unsure: blues or rock"), so the label shows only the bars.
                    label = gr.Label(
                        num_top_classes=len(classifier.labels), label="Genre probabilities", show_heading=False,
                        elem_id="genre-label",
                    )  # fmt: skip
                    if feedback:  # "Not right?" under the bars, once there is an answer
                        correction_panel(feedback, remembered, behind_proxy, after=details)
            # Two figures a row on a laptop, one under the other on a phone (a Row wraps columns narrower than
            # min_width). Each figure carries its own title, so the panels show no label badge over it.
            plot = {"format": "webp", "show_label": False}
            with gr.Row():
                with gr.Column(min_width=PLOT_MIN_WIDTH):
                    genre_plot = gr.Plot(label="Genre over time", elem_id="genre-over-time", **plot)
                with gr.Column(min_width=PLOT_MIN_WIDTH):
                    mel = gr.Plot(label="Mel spectrogram", elem_id="mel", **plot)
            with gr.Accordion("Genre over time, in numbers", open=False):
                timeline = gr.Dataframe(headers=TIMELINE_HEADERS, label="Genre per window")
            with gr.Row():
                with gr.Column(min_width=PLOT_MIN_WIDTH):
                    waveform = gr.Plot(label="Waveform", elem_id="waveform", **plot)
                with gr.Column(min_width=PLOT_MIN_WIDTH):
                    spectrogram = gr.Plot(label="Spectrogram", elem_id="spectrogram", **plot)
            # The order is the API's: the label first, then the summary, the three plots, the genre-over-time views.
            outputs = [label, details, waveform, spectrogram, mel, timeline, genre_plot]
            # Progress shows on the label alone. When the event fails, Gradio marks the panels its progress showed on
            # with a red "Error" badge, beside the toast that already says what is wrong (and what gradio_client
            # raises): the label's is cleared at once, by giving it back its own value (gr.skip() would add a copy
            # of the label to the session's state, see `make_classify`), so the toast is the one message.
            classified = gr.on(
                [button.click, audio.upload, audio.stop_recording], classify, inputs=audio, outputs=outputs,
                api_name="classify", show_progress="minimal", show_progress_on=[label], concurrency_id="classify",
            )  # fmt: skip
            details.change(fade, inputs=details, outputs=label, api_visibility="private", queue=False,
                           show_progress="hidden")  # fmt: skip
            details.change(None, js=SHOW_ANSWER, api_visibility="private", queue=False, show_progress="hidden")
            classified.failure(
                lambda shown: shown, inputs=label, outputs=label, show_progress="hidden", api_visibility="private",
                queue=False,
            )
            with input_column:  # examples sit under the button; created last because they need the outputs
                # Cached lazily (per process, see app.py): the first click computes, later clicks answer at once.
                # With corrections on, each click is classified afresh, so that the server holds the sound a
                # correction of it refers to.
                gr.Examples(
                    [[str(EXAMPLES_DIR / name)] for name, _ in EXAMPLES], inputs=audio, outputs=outputs, fn=classify,
                    run_on_click=True, cache_examples=not feedback, cache_mode="lazy" if not feedback else None,
                    example_labels=[text for _, text in EXAMPLES],
                )  # fmt: skip
        with gr.Tab("Live"):
            often = "about once a second" if gpu_budget(classifier) is None else "as often as its GPU budget allows"
            gr.Markdown(
                f"Play music near your microphone and press Record: {often} (never sooner than 1.5 × the time an "
                f"answer takes), the last {LIVE_SECONDS:g} s are classified. Listening stops by itself after "
                f"{LIMIT_SECONDS // 60} minutes."
            )
            with gr.Row():  # side by side on a laptop, one under the other on a phone, as the Clip tab's figures
                with gr.Column(min_width=PLOT_MIN_WIDTH):
                    live_audio = gr.Audio(
                        sources=["microphone"], streaming=True, type="numpy", label="Microphone", elem_id="live-mic"
                    )
                    # Empty until Record is pressed: "listening…" comes with the recording.
                    live_label = gr.Label(num_top_classes=3, label="Genre now", elem_id="live-genre")
                    live_status = gr.Markdown(elem_id="live-status")
                with gr.Column(min_width=PLOT_MIN_WIDTH):
                    live_plot = gr.Plot(label=LIVE_TITLE, elem_id="live-strip", **plot)
            session, strip = gr.State(), gr.State()  # the live session; its last strip (webp), see `make_listen`
            live_audio.start_recording(  # unqueued: a fresh session must not wait behind others' uploads
                lambda: (None, LISTENING, ""), outputs=[session, live_label, live_status], api_visibility="private",
                queue=False,
            )  # fmt: skip
            live_audio.stream(
                make_listen(classifier), inputs=[live_audio, session],
                outputs=[live_label, strip, live_status, session],
                stream_every=1.0, time_limit=LIMIT_SECONDS, concurrency_limit=1, concurrency_id="live",
                api_visibility="private", show_progress="hidden",
            )  # fmt: skip
            strip.change(plot_data, inputs=strip, outputs=live_plot, api_visibility="private", show_progress="hidden",
                         queue=False)  # fmt: skip
        many_files_tab(classifier)
    agents.keep_page_out_of_mcp(demo)
    return demo
