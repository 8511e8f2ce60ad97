"""Start the app: load the model, build the page and serve it within its public limits.

`python app.py` (how Spaces starts it) and `genre-classifier serve` both come here.
"""

# First: on a ZeroGPU Space `spaces` must patch torch before anything touches CUDA (it refuses to start after).

import atexit
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import gradio as gr
import numpy as np
import soundfile as sf
from starlette.middleware import Middleware

from ..core import gate
from ..core.feedback import Feedback
from ..core.loading import load_classifier
from ..core.model import Classifier
from ..core.settings import Settings
from . import agents, gpu, gradio_internals
from .assets import CSS
from .guard import Guard
from .handlers import make_classify
from .limits import Limits, max_file_size, stall_seconds, upload_budget
from .page import EXAMPLES_DIR, build_demo
from .plots import clip_images, genre_timeline_image

log = logging.getLogger("app")
QUIET_SECONDS, QUIET_WAIT_MAX = 2.0, 60.0
WARM_UP_WAIT = 5.0  # seconds the port waits for the warm-up, at most


def build() -> tuple[gr.Blocks, Limits, Classifier]:
    """The page for `MODEL_ID` (or the embedded model, saying why), and its limits. The settings are read here,
    once; one that cannot mean anything stops the process with one sentence."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = Settings.from_environment()
        upload_budget(settings), max_file_size(settings), stall_seconds()
    except ValueError as err:  # such as PRECISION=fp8, MAX_DURATION_S=inf or UPLOAD_BUDGET=lots
        sys.exit(f"Cannot start: {err}")
    try:
        feedback = Feedback(settings.feedback_dir) if settings.feedback_dir else None
    except OSError as err:  # a folder that cannot be made or written
        sys.exit(f"Cannot start: FEEDBACK_DIR={settings.feedback_dir} cannot hold corrections ({err}).")
    if feedback:
        log.info("Corrections on: kept in %s", feedback.folder)
    classifier, fallback_reason = load_classifier(settings=settings)
    log.info("Serving %s", classifier.description)
    gpu.borrow(classifier)
    # Gradio would keep example answers in .gradio/ across restarts, even for another MODEL_ID: this process's own
    # folder keeps the lazily cached answers true to the model that serves them.
    if "GRADIO_EXAMPLES_CACHE" not in os.environ:
        os.environ["GRADIO_EXAMPLES_CACHE"] = tempfile.mkdtemp(prefix="genre-examples-")
        atexit.register(shutil.rmtree, os.environ["GRADIO_EXAMPLES_CACHE"], ignore_errors=True)
    downloads = agents.Downloads(max_bytes=max_file_size(settings))
    demo = build_demo(classifier, fallback_reason, downloads, feedback, settings.behind_proxy)
    limits = Limits(demo, settings)
    downloads.limits = limits  # an agent's URL counts in the upload budget and its visitor's share, as an upload
    return demo, limits, classifier


def warm_up(classifier: Classifier) -> float:
    """Pay the first-use costs before a visitor does: a synthetic clip of one window, written as a file comes, goes
    through the request handler itself (decoding, resampling, the music gate, the forward at its full window, whose
    kernels PyTorch or numba set up on first use, the figures and their encoders). Returns the seconds it took."""
    started = time.perf_counter()
    rate = 44100  # as a file or a microphone brings it
    t = np.arange(int(classifier.window_seconds * rate)) / rate
    tone = (0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 2 * t)) / 2).astype(np.float32)
    if classifier.on_gpu:  # a forward would borrow a GPU for no visitor (ZeroGPU): the gate and figures alone
        clip = classifier.decode((rate, tone))
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


def _warm_up(classifier: Classifier) -> None:
    try:
        log.info("Warmed up in %.1f s; ready", warm_up(classifier))
    except Exception as err:  # the server serves regardless; only the first answer is slower
        log.warning("Warm-up failed (%s: %s); serving anyway", type(err).__name__, err)


def _convert_when_quiet(classifier: Classifier, limits: Limits) -> None:
    """Start the OpenVINO conversion once no request has been queued or answered for QUIET_SECONDS (or after
    QUIET_WAIT_MAX at the latest), at the lowest priority: the converter's start (seconds of imports) slows a forward
    that runs beside it by about a second even at niceness 19, so the visitors who come at once are answered first."""
    started = quiet_since = time.monotonic()
    while time.monotonic() - quiet_since < QUIET_SECONDS and time.monotonic() - started < QUIET_WAIT_MAX:
        time.sleep(0.5)
        if limits.queued_events():
            quiet_since = time.monotonic()
    classifier.switch_runtime(nice=19)


def launch(demo: gr.Blocks, limits: Limits, classifier: Classifier, block: bool = True) -> None:
    """Serve until stopped (or, with `block=False`, in the background). Gradio's own GRADIO_SERVER_NAME /
    GRADIO_SERVER_PORT apply (default 127.0.0.1:7860)."""
    # A synthetic clip goes the way of a request before the port opens (about 2 s), so that the first visitor waits
    # what the next one does: one who came during the warm-up would share the CPU with it. Where it takes longer than
    # WARM_UP_WAIT (librosa's kernels compiling on a fresh install), the port opens anyway, the rest goes on beside.
    warming = threading.Thread(target=_warm_up, args=(classifier,), name="warm-up", daemon=True)
    warming.start()
    warming.join(WARM_UP_WAIT)
    # On a CPU the forward moves to OpenVINO once converted (see _convert_when_quiet).
    threading.Thread(target=_convert_when_quiet, args=(classifier, limits), name="convert", daemon=True).start()
    # One upload at a time (beside one live step and one /tag request, which have their own limits): a forward pass
    # already uses every core (or the GPU), so running two at once only doubles memory and each one's wait. Queued
    # requests wait their turn (up to max_size, a few per visitor: see limits.py). No route skips the queue (Gradio
    # leaves them open off Spaces).
    settings = limits.settings
    demo.queue(default_concurrency_limit=1, max_size=settings.queue_size, api_open=False)
    try:
        gradio_internals.check(demo)
    except gradio_internals.GradioMismatch as err:
        sys.exit(f"Cannot start: {err}")
    demo.launch(
        # An MCP server at /gradio_api/mcp/ (tools: classify and tag) unless GRADIO_MCP_SERVER says otherwise.
        mcp_server=settings.mcp_server,
        max_file_size=settings.max_file_size,
        allowed_paths=[str(EXAMPLES_DIR)],
        app_kwargs={"middleware": [Middleware(Guard, limits=limits)], "lifespan": limits.lifespan},
        state_session_capacity=limits.sessions,
        prevent_thread_lock=not block,
        css=CSS,
    )


def main() -> None:
    launch(*build())
