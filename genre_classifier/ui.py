"""The Gradio Blocks app: audio in, genre probabilities, plots and a per-window timeline out."""

from __future__ import annotations

import io
import logging
import tempfile
import time
from pathlib import Path

import gradio as gr
import numpy as np
import soundfile as sf
import spaces
from matplotlib.figure import Figure

from .audio import ACCEPTED, AudioError
from .model import Classifier, Prediction
from .plots import clip_figures

log = logging.getLogger(__name__)

EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "examples"
EXAMPLES = [
    ("vibe_ace.ogg", "Vibe Ace (jazz)"),
    ("sugar_plum_fairy.ogg", "Sugar Plum Fairy (classical)"),
    ("hungarian_dance_5.ogg", "Hungarian Dance No. 5 (stereo, 44.1 kHz)"),
    ("lets_go_fishin.ogg", "Let's Go Fishin' (pop/folk)"),
    ("trumpet_loop.ogg", "Trumpet loop (5 s)"),
]
TIMELINE_HEADERS = ["Start", "End", "Top genre", "Confidence", "Note"]


def _clock(seconds: float) -> str:
    minutes, sec = divmod(seconds, 60)
    return f"{int(minutes)}:{sec:04.1f}"


def timeline_rows(prediction: Prediction) -> list[list]:
    """One row per window; a window that overlaps the one before it (the clip's last) says by how much."""
    rows, previous_end = [], 0.0
    for (start, end), p in zip(prediction.window_spans, prediction.window_probs, strict=True):
        overlap = previous_end - start
        note = f"overlaps the previous window by {overlap:.1f} s (covers the clip's end)" if overlap > 0 else ""
        rows.append([_clock(start), _clock(end), prediction.labels[int(p.argmax())], round(float(p.max()), 3), note])
        previous_end = end
    return rows


def make_classify(classifier: Classifier):
    """The app's main event handler, bound to one loaded classifier shared by all requests."""

    @spaces.GPU  # on a ZeroGPU Space the GPU is attached for this call; a no-op elsewhere
    def classify(audio_path: str | None, progress: gr.Progress = gr.Progress()):  # noqa: B008 (Gradio's idiom)
        started = time.perf_counter()
        if not audio_path:
            raise gr.Error("Record a clip or drop an audio file first.", print_exception=False)
        try:
            clip = classifier.load(audio_path)
        except AudioError as err:
            log.info("Refused input: %s", err)  # the person sees the message; no traceback for bad input
            raise gr.Error(str(err), print_exception=False) from None
        progress(0, desc="Classifying")
        prediction = classifier.classify(clip.samples, lambda done: progress(done, desc="Classifying windows"))
        figures = clip_figures(clip.samples, clip.sampling_rate)
        for note in clip.notes:
            gr.Warning(note)
        n = len(prediction.window_spans)
        summary = [
            f"**{prediction.top}** ({prediction.probs.max():.0%}) from {clip.seconds:.1f} s of audio, "
            f"{n} window{'s' if n > 1 else ''} of up to {classifier.window_seconds:g} s.",
            *clip.notes,
        ]
        timeline = timeline_rows(prediction)
        log.info(
            "Classified %.1f s of audio in %.2f s: %s", clip.seconds, time.perf_counter() - started, prediction.top
        )
        return prediction.confidences(), "\n\n".join(summary), *figures, timeline

    return classify


def warm_up(classifier: Classifier) -> float:
    """Answer a short synthetic clip through the whole handler before serving, so the first visitor waits no
    longer than the next: librosa's numba kernels compile, torch picks its kernels, matplotlib and PIL's webp
    encoder load. Returns the seconds it took."""
    started = time.perf_counter()
    t = np.arange(int(classifier.window_seconds * classifier.sampling_rate)) / classifier.sampling_rate  # a full window
    tone = 0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 2 * t)) / 2
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "warm-up.wav"
        sf.write(path, tone, classifier.sampling_rate)
        outputs = make_classify(classifier)(str(path))
    for output in outputs:
        if isinstance(output, Figure):
            output.savefig(io.BytesIO(), format="webp")  # as gr.Plot(format="webp") sends it
    return time.perf_counter() - started


def build_demo(classifier: Classifier, fallback_reason: str | None = None) -> gr.Blocks:
    """The whole UI; `fallback_reason` is shown when the embedded model stands in for the chosen one."""
    classify = make_classify(classifier)
    model_line = f"**{classifier.description}.**"
    if fallback_reason:
        model_line = f"⚠️ {fallback_reason}\n\n{model_line}"
    with gr.Blocks(title="Music genre classifier") as demo:
        gr.Markdown(
            "# Music genre classifier\n"
            "Record a clip or drop an audio or video file to see how likely each of the ten "
            "GTZAN genres is, with the waveform, spectrogram and mel-spectrogram of what you gave. "
            f"Long recordings are classified window by window. Accepted: {ACCEPTED}."
        )
        gr.Markdown(model_line, elem_id="model-info")
        with gr.Row():
            with gr.Column() as input_column:
                audio = gr.Audio(sources=["upload", "microphone"], type="filepath", label="Audio")
                button = gr.Button("Classify", variant="primary")
            with gr.Column():
                label = gr.Label(num_top_classes=len(classifier.labels), label="Genre probabilities")
                details = gr.Markdown(label="Summary", elem_id="details")
        waveform = gr.Plot(label="Waveform", format="webp")
        spectrogram = gr.Plot(label="Spectrogram", format="webp")
        mel = gr.Plot(label="Mel spectrogram", format="webp")
        timeline = gr.Dataframe(headers=TIMELINE_HEADERS, label="Genre over time (top genre per window)")
        outputs = [label, details, waveform, spectrogram, mel, timeline]
        gr.on(
            [button.click, audio.upload, audio.stop_recording], classify, inputs=audio, outputs=outputs,
            api_name="classify",
        )  # fmt: skip
        with input_column:  # examples sit under the button; created last because they need the outputs
            gr.Examples(
                [[str(EXAMPLES_DIR / name)] for name, _ in EXAMPLES], inputs=audio, outputs=outputs, fn=classify,
                run_on_click=True, cache_examples=False, example_labels=[text for _, text in EXAMPLES],
            )  # fmt: skip
    return demo
