"""Sounds that are not music, made here: speech from espeak-ng, noise, tones, hum, ringing and applause.

They teach the music gate (`train/music_gate.py`) what the GTZAN table lacks, and they test it
(`benchmarks/music_gate.py`, the tests). Training and evaluation draw from disjoint sets (`split`): other languages
and sentences for speech, other seeds for the rest, so no sound the gate is measured on was trained on.
Each sound is deterministic for its seed, mono float32 at 22050 Hz.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf

RATE = 22050
KINDS = ("speech", "speech in noise", "noise", "tone", "hum", "ringing", "applause")
LANGUAGES = {  # espeak-ng voices: training hears none of the evaluation's
    "train": ["fr-fr", "de", "es", "it", "pt", "nl", "pl", "sv", "ru", "tr", "cs", "hu", "ro", "id"],
    "eval": ["en-gb", "en-us", "fi", "da", "el", "hr", "sk", "vi"],
}
SENTENCES = {
    "train": [
        "Good evening and welcome back to the programme, where tonight we look at the history of the railway.",
        "I called to say that the meeting has moved to Thursday afternoon, so please let the others know.",
        "The recipe asks for two eggs, a cup of flour and a pinch of salt, mixed slowly until smooth.",
        "When the storm reached the coast, the fishermen had already pulled their boats onto the sand.",
        "Chapter three. The house stood at the end of a long road, and nobody had lived there for years.",
        "Press one for opening hours, press two to speak to an assistant, or stay on the line.",
        "Scientists say the new telescope will let us see galaxies that formed soon after the big bang.",
        "Hi, it's me again. I'm running a little late, the traffic is terrible, see you in twenty minutes.",
    ],
    "eval": [
        "Welcome to the podcast. Today we talk about how a computer listens to a recording of a song.",
        "This is a voice memo to remind myself to buy bread, milk and batteries on the way home.",
        "The committee will now consider the second item on the agenda, the budget for next year.",
        "Once upon a time there was a little fox who lived at the edge of a very old forest.",
        "Please record a clip of your favourite song, then drop the file here and wait for the answer.",
        "Next stop, Central Station. Please mind the gap between the train and the platform.",
    ],
}
SEEDS = {"train": range(0, 1000), "eval": range(1000, 2000)}  # the non-speech sounds: disjoint seeds


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def speech(text: str, voice: str, speed: int = 160, pitch: int = 50) -> np.ndarray:
    """A sentence spoken by espeak-ng (Debian's `espeak-ng` package), at 22050 Hz."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "speech.wav"
        subprocess.run(
            ["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(out), text],
            check=True,
            capture_output=True,
            timeout=60,
        )
        samples, rate = sf.read(out, dtype="float32")
    assert rate == RATE, rate
    return samples


def _noise(rng: np.random.Generator, n: int, colour: float) -> np.ndarray:
    """Noise with a 1/f^colour power spectrum (0 white, 1 pink, 2 brown), unit peak."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / RATE)
    spectrum /= np.maximum(f, 20.0) ** (colour / 2)
    signal = np.fft.irfft(spectrum, n)
    return signal / np.abs(signal).max()


def noise(rng: np.random.Generator, seconds: float) -> np.ndarray:
    """White, pink or brown noise, steady or slowly swelling (wind, a fan, the sea)."""
    n = int(seconds * RATE)
    signal = _noise(rng, n, rng.choice([0.0, 1.0, 2.0, rng.uniform(0, 2)]))
    if rng.random() < 0.5:
        t = np.arange(n) / RATE
        signal *= 0.6 + 0.4 * np.sin(2 * np.pi * rng.uniform(0.05, 0.5) * t + rng.uniform(0, 6.3))
    return signal


def tone(rng: np.random.Generator, seconds: float) -> np.ndarray:
    """A steady tone, a sweep, or beeps (a test tone, a smoke alarm, a truck reversing)."""
    t = np.arange(int(seconds * RATE)) / RATE
    shape = rng.choice(["steady", "sweep", "beeps"])
    if shape == "sweep":
        f0, f1 = sorted(rng.uniform(80, 8000, 2))
        phase = 2 * np.pi * (f0 * t + (f1 - f0) * t**2 / (2 * seconds))
    else:
        phase = 2 * np.pi * rng.uniform(200, 4000) * t
    signal = np.sin(phase)
    if shape == "beeps":
        signal *= (t * rng.uniform(0.5, 3)) % 1 < 0.5
    return signal


def hum(rng: np.random.Generator, seconds: float) -> np.ndarray:
    """Mains hum, 50 or 60 Hz with its harmonics, and a little hiss (a bad cable, a fridge)."""
    t = np.arange(int(seconds * RATE)) / RATE
    base = rng.choice([50.0, 60.0])
    signal = sum(rng.uniform(0.1, 1) / k * np.sin(2 * np.pi * base * k * t) for k in range(1, 8))
    signal = signal + rng.uniform(0, 0.05) * _noise(rng, len(t), 0.0)
    return signal / np.abs(signal).max()


def ringing(rng: np.random.Generator, seconds: float) -> np.ndarray:
    """A telephone's ring (two tones, on and off), a doorbell, or a bell struck again and again."""
    t = np.arange(int(seconds * RATE)) / RATE
    kind = rng.choice(["phone", "bell"])
    if kind == "phone":
        f1, f2 = rng.choice([(440, 480), (400, 450), (425, 425), (1000, 1200)])
        on = (t % rng.uniform(3, 6)) < rng.uniform(0.8, 2)
        return 0.5 * (np.sin(2 * np.pi * f1 * t) + np.sin(2 * np.pi * f2 * t)) * on
    period, f = rng.uniform(0.5, 3), rng.uniform(300, 2000)
    decay = np.exp(-(t % period) * rng.uniform(2, 8))
    partials = sum(np.sin(2 * np.pi * f * r * t) / (i + 1) for i, r in enumerate([1, 2.76, 5.4, 8.93]))
    return partials * decay / 2


def applause(rng: np.random.Generator, seconds: float) -> np.ndarray:
    """Many hands clapping: short bursts of band-limited noise at random times, a crowd's density."""
    n = int(seconds * RATE)
    signal = np.zeros(n)
    clap_len = int(0.02 * RATE)
    envelope = np.exp(-np.arange(clap_len) / (0.004 * RATE))
    for start in rng.integers(0, n - clap_len, int(seconds * rng.uniform(20, 200))):
        signal[start : start + clap_len] += rng.standard_normal(clap_len) * envelope * rng.uniform(0.2, 1)
    spectrum = np.fft.rfft(signal)
    f = np.fft.rfftfreq(n, 1 / RATE)
    spectrum *= np.exp(-(((np.log(np.maximum(f, 1)) - np.log(rng.uniform(800, 2500))) / 1.2) ** 2))
    signal = np.fft.irfft(spectrum, n)
    return signal / np.abs(signal).max()


def _room(rng: np.random.Generator, signal: np.ndarray) -> np.ndarray:
    """A recording's traces: a room's reverberation, a noise floor, and often a band that stops at 8 kHz
    (16 kHz recordings, such as audiobooks and calls)."""
    ir_len = int(rng.uniform(0.05, 0.6) * RATE)
    ir = rng.standard_normal(ir_len) * np.exp(-np.arange(ir_len) / (ir_len / 6))
    ir[0] = 1 / rng.uniform(0.05, 0.5)
    wet = np.convolve(signal, ir)[: len(signal)]
    wet = wet / np.abs(wet).max() + _noise(rng, len(wet), rng.uniform(0, 2)) * 10 ** (-rng.uniform(30, 60) / 20)
    if rng.random() < 0.5:
        spectrum = np.fft.rfft(wet)
        spectrum[np.fft.rfftfreq(len(wet), 1 / RATE) > 7800] = 0
        wet = np.fft.irfft(spectrum, len(wet))
    return wet


def _speech(rng: np.random.Generator, split: str, seconds: float) -> np.ndarray:
    parts, total = [], 0
    while total < seconds * RATE:
        voice = rng.choice(LANGUAGES[split])
        voice += rng.choice(["", "+m1", "+m3", "+f1", "+f2", "+f4"])
        part = speech(rng.choice(SENTENCES[split]), voice, int(rng.integers(130, 200)), int(rng.integers(25, 75)))
        pause = np.zeros(int(rng.uniform(0.2, 0.8) * RATE), np.float32)
        parts += [part, pause]
        total += len(part) + len(pause)
    return _room(rng, np.concatenate(parts)[: int(seconds * RATE)])


def make(kind: str, seed: int, split: str = "eval", seconds: float = 15.0) -> np.ndarray:
    """One sound of `kind` (one of `KINDS`), deterministic for `seed`, at a random level below full scale."""
    if seed not in SEEDS[split]:
        raise ValueError(f"seed {seed} is not one of the {split} seeds")
    rng = np.random.default_rng(seed)
    if kind == "speech":
        signal = _speech(rng, split, seconds)
    elif kind == "speech in noise":  # a café, a street: speech over noise at 0-20 dB
        voice = _speech(rng, split, seconds)
        background = noise(rng, len(voice) / RATE) * np.abs(voice).max() * 10 ** (-rng.uniform(0, 20) / 20)
        signal = voice + background
    else:
        signal = {"noise": noise, "tone": tone, "hum": hum, "ringing": ringing, "applause": applause}[kind](
            rng, seconds
        )
    signal = np.asarray(signal, dtype=np.float64)
    return (signal / np.abs(signal).max() * rng.uniform(0.05, 0.9)).astype(np.float32)


def corpus(split: str, per_kind: int, seconds: float = 15.0) -> Iterator[tuple[str, int, np.ndarray]]:
    """`per_kind` sounds of every kind (speech only where espeak-ng is installed): (kind, seed, samples)."""
    seeds = SEEDS[split]
    for k, kind in enumerate(KINDS):
        if "speech" in kind and not espeak_available():
            continue
        for i in range(per_kind):
            seed = seeds[k * 100 + i]
            yield kind, seed, make(kind, seed, split, seconds)
