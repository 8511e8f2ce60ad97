"""Live mode: the microphone streams in, and every second or two the last few seconds are classified.

Each browser session keeps a bounded buffer of raw chunks (the last `LIVE_SECONDS`) and a minute of answers.
The buffer goes through `load_audio` like any other input (mono, checks, resampling to the model's rate),
so a silent or muted microphone is recognised by the same silence check and shows "listening…".
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from matplotlib.figure import Figure

from .audio import AudioError
from .model import Classifier
from .plots import genre_timeline_figure

LIVE_SECONDS = 10.0  # what each live answer is about: long enough for rhythm and timbre, short enough to follow
HISTORY_SECONDS = 60.0  # the rolling strip shows the last minute
LIMIT_SECONDS = 120  # a live session ends by itself after two minutes
MIN_INTERVAL = 1.0  # seconds of audio between answers at most once a second...
SLOWDOWN = 1.5  # ...and no sooner than 1.5 x the last answer's compute time, so a slow CPU never falls behind
LISTENING = "listening…"


@dataclass
class LiveSession:
    """One browser's live state; bounded whatever the session's length."""

    rate: int = 0
    buffer: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int16))  # raw samples, last LIVE_SECONDS
    heard: float = 0.0  # seconds of audio received
    answered_at: float = 0.0  # `heard` at the last answer
    interval: float = MIN_INTERVAL
    history: list[tuple[float, float, np.ndarray]] = field(default_factory=list)  # (start, end, probabilities)

    def add(self, rate: int, chunk: np.ndarray) -> None:
        chunk = np.asarray(chunk)
        if rate != self.rate or chunk.shape[1:] != self.buffer.shape[1:] or chunk.dtype != self.buffer.dtype:
            self.rate, self.buffer = rate, chunk[:0]  # a new device or format: start the buffer afresh
        self.buffer = np.concatenate([self.buffer, chunk])[-int(LIVE_SECONDS * rate) :]
        self.heard += len(chunk) / rate

    def due(self) -> bool:
        return self.heard - self.answered_at >= self.interval


def listen_step(classifier: Classifier, session: LiveSession) -> tuple[dict[str, float] | str, Figure | None]:
    """Classify the buffer if an answer is due: the label's value and the updated strip (None: unchanged)."""
    started = time.perf_counter()
    try:
        clip = classifier.load((session.rate, session.buffer), max_seconds=LIVE_SECONDS)
    except AudioError:  # silence, a muted microphone, or less than half a second so far
        session.answered_at = session.heard
        return LISTENING, None
    prediction = classifier.classify(clip.samples)
    previous = session.history[-1][1] if session.history else max(0.0, session.heard - clip.seconds)
    session.history.append((previous, session.heard, prediction.probs))
    session.history = [h for h in session.history if h[1] > session.heard - HISTORY_SECONDS]
    session.answered_at = session.heard
    session.interval = max(MIN_INTERVAL, SLOWDOWN * (time.perf_counter() - started))
    figure = genre_timeline_figure(
        classifier.labels,
        np.array([h[2] for h in session.history]),
        [(h[0], h[1]) for h in session.history],
        duration=session.heard,
        start=max(0.0, session.heard - HISTORY_SECONDS),
        title=f"Genre over the last minute (each column: the {LIVE_SECONDS:g} s heard up to then)",
    )
    return prediction.confidences(), figure
