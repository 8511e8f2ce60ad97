"""Live mode: the microphone streams in, and every second or two the last few seconds are classified.

Each browser session keeps a bounded buffer of raw chunks and a minute of answers. The buffer goes through
`load_audio` like any other input (mono, checks, resampling to the model's rate), so a silent or muted
microphone is recognised by the same silence check and shows "listening…".

Gradio's microphone stream sends a chunk every 0.1 s and drops those that arrive while the handler is busy, so
the handler only stores each chunk; answers are computed beside it, one at a time for all sessions (`ANSWERS`),
and handed over with the next chunk once ready. Time on the strip is seconds of listening, by the clock; the
status line says so if sound failed to arrive.

On a ZeroGPU Space each answer borrows the GPU and spends the visitor's daily quota, so a session is given a
GPU budget (`GPU_SECONDS_PER_MINUTE`): an answer is only asked for when the GPU time spent so far, plus what
the fastest answer so far took, stays within the budget for the time listened (the first call also starts
ZeroGPU's worker, so it would overstate the next ones). When that spaces answers out, each one
classifies, in one GPU call, a window ending at every second since the last, so the strip keeps one column
per second.
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import numpy as np

from ..core import gate
from ..core.audio import AudioError
from ..core.model import Classifier, Prediction
from .gpu import zero_gpu
from .plots import genre_timeline_image

LIVE_SECONDS = 10.0  # what each live answer is about: long enough for rhythm and timbre, short enough to follow
HISTORY_SECONDS = 60.0  # the rolling strip shows the last minute
LIMIT_SECONDS = 120  # a live session ends by itself after two minutes
MIN_INTERVAL = 1.0  # an answer at most once a second...
SLOWDOWN = 1.5  # ...and no sooner than 1.5 x the last answer's compute time, so a slow CPU never falls behind
GPU_SECONDS_PER_MINUTE = 10.0  # ZeroGPU: GPU time a session may spend per minute of listening (the first at once)
MAX_BATCH = 10  # ZeroGPU: windows one answer may classify, one per second since the last answer
LISTENING = "listening…"
LIVE_TITLE = "Genre over the last minute"
LIVE_CAPTION = f"Seconds of listening. Each column is one answer, about the {LIVE_SECONDS:g} s heard up to then."
ANSWERS = ThreadPoolExecutor(1, thread_name_prefix="live")  # one live answer computed at a time, all sessions


@dataclass
class LiveSession:
    """One browser's live state; bounded whatever the session's length."""

    gpu_budget: float | None = None  # GPU seconds per minute of listening (ZeroGPU), or None: no budget
    rate: int = 0
    buffer: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int16))  # raw samples, the last few s
    heard: float = 0.0  # seconds of audio received
    started: float | None = None  # clock time the listening began
    listened: float = 0.0  # seconds of listening, by the clock (never less than the audio received)
    answered_at: float = 0.0  # `listened` at the last answer
    interval: float = MIN_INTERVAL
    gpu_used: float = 0.0  # seconds spent in GPU calls (ZeroGPU), measured around each call
    last_call: float = 0.0  # the last answer's compute time
    fastest_call: float = 0.0  # the quickest forward so far: what the next GPU call is expected to cost
    history: list[tuple[float, float, np.ndarray, bool]] = field(default_factory=list)  # (start, end, probs, music)
    answer: Future | None = None  # the answer being computed beside the stream
    label: dict[str, float] | str = LISTENING  # the last answer, shown until the next one
    strip: bytes | None = None  # the last rolling strip (webp)

    def add(self, rate: int, chunk: np.ndarray, now: float | None = None) -> None:
        chunk = np.asarray(chunk)
        now = time.monotonic() if now is None else now
        if self.started is None:
            self.started = now - len(chunk) / rate  # the first chunk holds the second before it arrived
        if rate != self.rate or chunk.shape[1:] != self.buffer.shape[1:] or chunk.dtype != self.buffer.dtype:
            self.rate, self.buffer = rate, chunk[:0]  # a new device or format: start the buffer afresh
        keep = LIVE_SECONDS + (MAX_BATCH - 1 if self.gpu_budget else 0)  # batched answers need the seconds before
        self.buffer = np.concatenate([self.buffer, chunk])[-int(keep * rate) :]
        self.heard += len(chunk) / rate
        self.listened = max(self.heard, now - self.started)

    def snapshot(self) -> LiveSession:
        """A copy for an answer to work on beside the stream: only the thread that owns a session (its stream
        handler) changes it, and it takes the answer's bookkeeping with `take`. (`add` replaces the buffer, never
        changes it in place, so the copy may share it.)"""
        return replace(self, history=list(self.history), answer=None)

    def take(self, answered: LiveSession) -> None:
        """The bookkeeping of an answer computed on a snapshot; what arrived meanwhile (`add`) stays."""
        for name in ("answered_at", "interval", "gpu_used", "last_call", "fastest_call", "history"):
            setattr(self, name, getattr(answered, name))

    def gpu_allowance(self) -> float:
        """GPU seconds this session may have spent by now: the first minute's share at once, then pro rata."""
        return self.gpu_budget * max(1.0, self.listened / 60.0)

    def due(self) -> bool:
        if self.listened - self.answered_at < self.interval:
            return False
        return self.gpu_budget is None or self.gpu_used + self.fastest_call <= self.gpu_allowance()

    def status(self) -> str:
        """A line for the page: how long it has listened and how often it answers."""
        line = f"Listening for {self.listened:.0f} s; an answer every {self.interval:.1f} s"
        if self.gpu_budget is not None:
            share = f"{self.gpu_used:.1f} of {self.gpu_allowance():.0f} s"
            line += f" or as the GPU budget allows ({share} of GPU time used, {self.gpu_budget:g} s per minute)"
        line += f", each about the last {LIVE_SECONDS:g} s."
        if (lost := self.listened - self.heard) > 1.5:  # chunks Gradio dropped: a busy server or a slow connection
            line += f" {lost:.0f} s of sound were dropped on the way (a busy server or a slow connection)."
        return line


def gpu_budget(classifier: Classifier) -> float | None:
    """A live session's GPU seconds per minute: budgeted only where the GPU spends a visitor's quota (ZeroGPU)."""
    return GPU_SECONDS_PER_MINUTE if zero_gpu() and classifier.on_gpu else None


def _windows(samples: np.ndarray, sampling_rate: int, count: int) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """`count` windows of LIVE_SECONDS (or what there is) ending one second apart, the latest last, and their
    (start, end) in seconds."""
    length, step = min(len(samples), int(LIVE_SECONDS * sampling_rate)), sampling_rate
    ends = [len(samples) - k * step for k in range(count) if len(samples) - k * step >= length][::-1]
    spans = [((end - length) / sampling_rate, end / sampling_rate) for end in ends]
    return np.stack([samples[end - length : end] for end in ends]), spans


def listen_step(classifier: Classifier, session: LiveSession) -> tuple[dict[str, float] | str, bytes | None]:
    """Classify the buffer if an answer is due: the label's value and the updated strip, encoded (None: unchanged)."""
    started = time.perf_counter()
    try:
        clip = classifier.decode((session.rate, session.buffer), max_seconds=len(session.buffer) / session.rate)
    except AudioError:  # silence, a muted microphone, or less than half a second so far
        session.answered_at = session.listened
        return LISTENING, None
    pending = int(session.listened - session.answered_at) if session.gpu_budget else 1
    windows, spans = _windows(clip.samples, clip.sampling_rate, max(1, min(MAX_BATCH, pending)))
    forward_started = time.perf_counter()
    probs = classifier.predict_windows(windows)  # one call, so one GPU borrow on ZeroGPU
    forward = time.perf_counter() - forward_started
    heard = gate.listen(clip.gate_audio, spans)  # on the CPU: no GPU time, no quota
    music = Prediction.from_windows(classifier.labels, probs, spans, heard).music_windows
    session.last_call = time.perf_counter() - started
    session.fastest_call = min(session.fastest_call or forward, forward)
    if session.gpu_budget is not None:
        session.gpu_used += forward
    heard = min(clip.seconds, LIVE_SECONDS)
    previous = session.history[-1][1] if session.history else max(0.0, session.listened - heard)
    edges = np.linspace(previous, session.listened, len(probs) + 1)
    session.history += [
        (float(a), float(b), p, bool(m)) for a, b, p, m in zip(edges[:-1], edges[1:], probs, music, strict=True)
    ]
    session.history = [h for h in session.history if h[1] > session.listened - HISTORY_SECONDS]
    session.answered_at = session.listened
    session.interval = max(MIN_INTERVAL, SLOWDOWN * session.last_call)
    strip = genre_timeline_image(
        classifier.labels,
        np.array([h[2] for h in session.history]),
        [(h[0], h[1]) for h in session.history],
        duration=session.listened,
        start=max(0.0, session.listened - HISTORY_SECONDS),
        title=LIVE_TITLE,
        caption=LIVE_CAPTION,
        music=np.array([h[3] for h in session.history]),
    )
    if not music[-1]:  # someone talking, a dog: no genre until music starts
        return gate.NOT_MUSIC, strip
    return dict(zip(classifier.labels, map(float, probs[-1]), strict=True)), strip
