"""A synthetic but audio-like ten-class task: one sound recipe (tones, noise, rhythm, sweeps) per genre name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from genre_classifier import GENRES

RATE = 16000


def _clip(kind: int, rng: np.random.Generator, seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    jitter = rng.uniform(0.95, 1.05)
    phase = rng.uniform(0, 2 * np.pi)
    tone = lambda hz: np.sin(2 * np.pi * hz * jitter * t + phase)  # noqa: E731
    clicks = lambda per_s: (np.mod(t + rng.uniform(0, 1), 1 / per_s) < 0.004).astype(float)  # noqa: E731
    recipes = [
        lambda: tone(150),
        lambda: tone(400),
        lambda: tone(1000),
        lambda: tone(2500),
        lambda: rng.standard_normal(len(t)) * 0.5,
        lambda: np.cumsum(rng.standard_normal(len(t))) / 60,  # brown (low-pass) noise
        lambda: clicks(4),
        lambda: clicks(12),
        lambda: (tone(300) + tone(450)) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)),  # tremolo chord
        lambda: np.sin(2 * np.pi * (200 + 1400 * t / seconds) * t * jitter),  # rising sweep
    ]
    signal = recipes[kind]()
    signal = signal / (np.abs(signal).max() + 1e-9) * rng.uniform(0.2, 0.8)
    return (signal + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


def write_dataset(root: Path, per_genre: int = 20, seconds: float = 1.5, seed: int = 0) -> Path:
    """Folder `root/<genre>/<n>.wav` with `per_genre` clips for each of the ten GTZAN genre names."""
    rng = np.random.default_rng(seed)
    for kind, genre in enumerate(GENRES):
        (root / genre).mkdir(parents=True, exist_ok=True)
        for n in range(per_genre):
            sf.write(root / genre / f"{genre}.{n:05d}.wav", _clip(kind, rng, seconds), RATE)
    return root
