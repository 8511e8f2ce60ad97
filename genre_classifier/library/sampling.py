"""A few windows of a long file instead of all of them: where they lie, and decoding only them.

A song's genre does not change every 30 s. Silla et al. (2007) found the beginning, middle and end segments of a
song together classify it better than any one of them, and Raposo et al. (2016) found 30 s gathered from segments
across a song as good as the whole song. So a long file is heard through `SAMPLED_WINDOWS` model windows, one at
the centre of each equal part of it (a 5-minute song: 15-45 s, 75-105 s, ... 255-285 s), and only those are decoded:
libsndfile and FFmpeg seek to each. Why five, measured against every window's answer on real songs:
docs/tagging.md (`python benchmarks/tag.py --tracks DIR`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..core.audio import SILENCE_PEAK, file_seconds, length_notes, load_excerpts

if TYPE_CHECKING:
    from ..core.model import Classifier

SAMPLED_WINDOWS = 5


@dataclass(frozen=True)
class Excerpts:
    """The windows of a file that are analysed, decoded: what `batch` needs of a file, as a whole decode gives it."""

    windows: np.ndarray  # (n, samples) at the model's rate
    gate_audio: np.ndarray  # the same windows end to end, at the gate's rate
    gate_spans: list[tuple[float, float]]  # where each window lies in `gate_audio` (seconds)
    spans: list[tuple[float, float]]  # where each window lies in the file (seconds)
    seconds: float  # the stretch of the file they were chosen from: its length, or MAX_DURATION_S of it
    notes: tuple[str, ...]


def window_starts(seconds: float, window: float, count: int = SAMPLED_WINDOWS) -> list[float] | None:
    """Where `count` windows of `window` seconds start, one centred in each of `count` equal parts of `seconds`;
    None for a file too short for sampling to save much (fewer than `count` + 1 windows' worth): it is analysed
    whole."""
    if seconds < (count + 1) * window:
        return None
    part = seconds / count
    return [round(part * (i + 0.5) - window / 2, 3) for i in range(count)]


def excerpts(classifier: Classifier, path: Path, count: int = SAMPLED_WINDOWS) -> Excerpts | None:
    """The `count` windows of a long file, each decoded by seeking to it; None where the whole file is to be decoded
    instead: a short file, a length the header does not give, an excerpt that comes out short (a header that
    promised more than the file holds) or silent ones (decoding the whole file says what is wrong)."""
    total = file_seconds(path)
    if total is None:
        return None
    seconds = min(total, classifier.max_seconds)
    window = classifier.window_seconds
    if (starts := window_starts(seconds, window, count)) is None:
        return None
    clips = load_excerpts(path, classifier.sampling_rate, [(start, window) for start in starts], gate=True)
    length = int(round(window * classifier.sampling_rate))
    if any(len(clip.samples) < length for clip in clips):
        return None
    if max(float(np.abs(clip.samples).max()) for clip in clips) < SILENCE_PEAK:
        return None
    return Excerpts(
        windows=np.stack([clip.samples[:length] for clip in clips]),
        gate_audio=np.concatenate([clip.gate_audio for clip in clips]),
        gate_spans=[(i * window, (i + 1) * window) for i in range(len(starts))],
        spans=[(start, start + window) for start in starts],
        seconds=seconds,
        notes=tuple(length_notes(total, classifier.max_seconds)),
    )
