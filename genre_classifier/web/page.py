"""The Gradio Blocks page: a clip in, genre probabilities streaming in with plots and genre over time; a live tab;
many files. Its handlers are in handlers.py, its words in summary.py, its CSS and JavaScript in assets.py."""

from __future__ import annotations

import gradio as gr

from .. import examples_dir
from ..core.audio import ACCEPTED
from ..core.feedback import Feedback
from ..core.model import Classifier
from ..core.settings import Settings
from . import agents, gradio_internals
from .assets import SHOW_ANSWER
from .corrections import Remembered, correction_panel
from .handlers import make_classify, make_listen
from .live import LIMIT_SECONDS, LISTENING, LIVE_SECONDS, LIVE_TITLE, gpu_budget
from .many_files import many_files_tab
from .plots import plot_data
from .summary import fade

EXAMPLES_DIR = examples_dir()
EXAMPLES = [
    ("vibe_ace.ogg", "Vibe Ace (jazz)"),
    ("sugar_plum_fairy.ogg", "Sugar Plum Fairy (classical)"),
    ("hungarian_dance_5.ogg", "Hungarian Dance No. 5 (stereo, 44.1 kHz)"),
    ("lets_go_fishin.ogg", "Let's Go Fishin' (pop/folk)"),
    ("trumpet_loop.ogg", "Trumpet loop (5 s)"),
]
TIMELINE_HEADERS = ["Start", "End", "Top genre", "Confidence", "Note"]
PLOT_MIN_WIDTH = 480  # px: two figures side by side from a laptop's width up, stacked on a phone or a narrow window


def build_demo(
    classifier: Classifier,
    fallback_reason: str | None = None,
    downloads: agents.Downloads | None = None,
    feedback: Feedback | None = None,
    behind_proxy: bool = False,
) -> gr.Blocks:
    """The whole UI; `fallback_reason` is shown when the embedded model stands in for the chosen one; `downloads`
    bounds the agents' URLs (by default the most Gradio takes as an upload, counted in no budget); `feedback`
    (FEEDBACK_DIR set) adds the "Not right?" panel, whose visitors are told apart as limits.py does."""
    downloads = downloads or agents.Downloads(max_bytes=gradio_internals.parse_size(Settings().max_file_size))
    remembered = Remembered(classifier) if feedback else None
    classify = make_classify(classifier, remembered)
    warning = f"⚠️ {fallback_reason}\n\n" if fallback_reason else ""  # the description: read again at each page load
    with gr.Blocks(title="Music genre classifier") as demo:
        agents.add_tools(classifier, downloads)  # first: the MCP tools take the plain names
        gr.Markdown(
            "# Music genre classifier\nRecord a clip or drop an audio or video file to see how likely each of the ten "
            "GTZAN genres is, with the waveform, spectrogram and mel-spectrogram of what you gave. Long recordings are "
            f"classified window by window, and the answer streams in as they finish. Accepted: {ACCEPTED}."
        )
        info = gr.Markdown(f"{warning}**{classifier.description}.**", elem_id="model-info")
        with gr.Tab("Clip"):
            with gr.Row():
                with gr.Column() as input_column:
                    audio = gr.Audio(sources=["upload", "microphone"], type="filepath", label="Audio")
                    button = gr.Button("Classify", variant="primary")
                with gr.Column():
                    details = gr.Markdown(label="Summary", elem_id="details")
                    # The summary above is the headline ("Unsure: blues or rock"), so the label shows only the bars.
                    label = gr.Label(
                        num_top_classes=len(classifier.labels),
                        label="Genre probabilities",
                        show_heading=False,
                        elem_id="genre-label",
                    )
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
                [button.click, audio.upload, audio.stop_recording],
                classify,
                inputs=audio,
                outputs=outputs,
                api_name="classify",
                show_progress="minimal",
                show_progress_on=[label],
                concurrency_id="classify",
            )
            details.change(
                fade, inputs=details, outputs=label, api_visibility="private", queue=False, show_progress="hidden"
            )
            details.change(None, js=SHOW_ANSWER, api_visibility="private", queue=False, show_progress="hidden")
            classified.failure(
                lambda shown: shown,
                inputs=label,
                outputs=label,
                show_progress="hidden",
                api_visibility="private",
                queue=False,
            )
            with input_column:  # examples sit under the button; created last because they need the outputs
                # Cached lazily (per process, see app.py): the first click computes, later clicks answer at once.
                # With corrections on, each click is classified afresh, so that the server holds the sound a
                # correction of it refers to.
                gr.Examples(
                    [[str(EXAMPLES_DIR / name)] for name, _ in EXAMPLES],
                    inputs=audio,
                    outputs=outputs,
                    fn=classify,
                    run_on_click=True,
                    cache_examples=not feedback,
                    cache_mode="lazy" if not feedback else None,
                    example_labels=[text for _, text in EXAMPLES],
                )
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
                lambda: (None, LISTENING, ""),
                outputs=[session, live_label, live_status],
                api_visibility="private",
                queue=False,
            )
            live_audio.stream(
                make_listen(classifier),
                inputs=[live_audio, session],
                outputs=[live_label, strip, live_status, session],
                stream_every=1.0,
                time_limit=LIMIT_SECONDS,
                concurrency_limit=1,
                concurrency_id="live",
                api_visibility="private",
                show_progress="hidden",
            )
            strip.change(
                plot_data,
                inputs=strip,
                outputs=live_plot,
                api_visibility="private",
                show_progress="hidden",
                queue=False,
            )
        many_files_tab(classifier)
        demo.load(
            lambda: f"{warning}**{classifier.description}.**",
            None,
            info,
            api_visibility="private",
            queue=False,
            show_progress="hidden",
        )
    agents.keep_page_out_of_mcp(demo)
    return demo
