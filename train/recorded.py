"""A recorded-like copy of a clip: a song as the Space mostly hears it, played in a room and recorded through a laptop
or phone microphone by the browser. One module for evaluation (`train.evaluate --recorded`) and for training
(`train.finetune`'s augmentation, on by default).

The steps, in the order sound meets them, each with its parameters (`Recording`):

- the room: a synthetic impulse response (a direct path, then exponentially decaying noise whose decay reaches
  -60 dB after `rt60` seconds, the room's size and damping), mixed in at `wet`;
- the microphone's band: a 2nd-order high-pass at `low_hz` and low-pass at `high_hz` (laptop and phone
  microphones roll off below about 100 Hz and above about 8 kHz);
- background noise: pink noise at `snr_db` below the signal;
- the level: `gain_db`, then clipping at full scale (a recording made too hot);
- the browser's codec: Opus at `kbps` through FFmpeg, decoded back by the app's own decoder, or none. Chromium's
  MediaRecorder sends 128 kbit/s, which Gradio's recorder asks for too (benchmarks/browser_codec.py); the lower
  rates stand for what squeezes harder (WebRTC calls, messaging apps, a browser told to save bandwidth).

Everything is drawn from a numpy Generator, so a copy is the same for the same seed.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass

import numpy as np
from scipy import signal

from genre_classifier.core import ffmpeg
from genre_classifier.core.audio import load_audio

EVAL_SEED = 0  # the fixed seed of `train.evaluate --recorded`: every run scores the same copies
BIT_RATES = (24, 32, 64, 128)  # kbit/s of Opus: 128 is what Chromium's MediaRecorder sends


@dataclass(frozen=True)
class Recording:
    rt60: float  # seconds for the room's tail to fall by 60 dB
    wet: float  # share of the room's reflections in the mix, 0-1
    low_hz: float
    high_hz: float
    snr_db: float | None  # None: no added noise
    gain_db: float
    kbps: int | None  # Opus bit rate; None: no codec

    @classmethod
    def random(cls, rng: np.random.Generator, codec: bool = True) -> Recording:
        """A plausible room, microphone, level and codec: from a small dry room to a hall, 20-40 dB of noise."""
        return cls(
            rt60=float(rng.uniform(0.2, 1.0)),
            wet=float(rng.uniform(0.1, 0.5)),
            low_hz=float(rng.uniform(60, 200)),
            high_hz=float(rng.uniform(5000, 10000)),
            snr_db=float(rng.uniform(20, 40)),
            gain_db=float(rng.uniform(-6, 12)),
            kbps=int(rng.choice(BIT_RATES)) if codec else None,
        )

    def apply(self, samples: np.ndarray, sampling_rate: int, rng: np.random.Generator) -> np.ndarray:
        """The copy of mono float32 `samples`, same length and rate."""
        x = samples.astype(np.float64)
        peak = np.abs(x).max() or 1.0
        x = (1 - self.wet) * x + self.wet * _reverb(x, sampling_rate, self.rt60, rng)
        x = signal.sosfilt(_band(self.low_hz, self.high_hz, sampling_rate), x)
        if self.snr_db is not None:
            noise = _pink(len(x), rng)
            x = x + noise * np.sqrt(np.mean(x**2) / np.mean(noise**2)) * 10 ** (-self.snr_db / 20)
        x = x / (np.abs(x).max() or 1.0) * peak  # the level the clip had, before the recording's own gain
        x = np.clip(x * 10 ** (self.gain_db / 20), -1.0, 1.0).astype(np.float32)
        return x if self.kbps is None else opus(x, sampling_rate, self.kbps)


def _reverb(x: np.ndarray, sampling_rate: int, rt60: float, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(rt60 * sampling_rate)) / sampling_rate
    response = rng.standard_normal(len(t)) * 10 ** (-3 * t / rt60)  # -60 dB at rt60
    response[0] = 1.0
    wet = signal.fftconvolve(x, response / np.sqrt(np.sum(response**2)))[: len(x)]
    return wet * np.sqrt(np.mean(x**2) / max(np.mean(wet**2), 1e-12))


def _band(low_hz: float, high_hz: float, sampling_rate: int) -> np.ndarray:
    high_hz = min(high_hz, 0.45 * sampling_rate)
    return signal.butter(2, [low_hz, high_hz], btype="bandpass", fs=sampling_rate, output="sos")


def _pink(n: int, rng: np.random.Generator) -> np.ndarray:
    """Noise whose power falls as 1/f, as a room's hum and hiss do more than white noise."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    spectrum /= np.sqrt(np.maximum(np.arange(len(spectrum)), 1))
    return np.fft.irfft(spectrum, n)


def _opus_command(sampling_rate: int, kbps: int) -> list[str]:
    return [
        "ffmpeg",
        "-nostdin",
        "-v",
        "error",
        "-f",
        "f32le",
        "-ar",
        str(sampling_rate),
        "-ac",
        "1",
        "-i",
        "pipe:",
        "-c:a",
        "libopus",
        "-b:a",
        f"{kbps}k",
        "-f",
        "ogg",
        "pipe:",
    ]


def codec_problem() -> str | None:
    """Why the copies' Opus cannot be made on this machine, in words (None: it can). Checked before a run that
    needs it, not in a loader worker or after hours of training: FFmpeg must be there, and built with libopus,
    which a second of silence through the same command shows."""
    if not ffmpeg.available():
        return "FFmpeg is not installed"
    try:
        subprocess.run(
            _opus_command(48000, 64), input=bytes(4 * 48000), capture_output=True, check=True, timeout=ffmpeg.TIMEOUT_S
        )
    except (OSError, subprocess.SubprocessError):
        return "FFmpeg here cannot encode Opus (no libopus)"
    return None


def check_codec(needed_by: list[str], skip: str) -> None:
    """Stop with one sentence (`DataError`) where the parts of a run `needed_by` names need Opus and this machine
    cannot encode it; `skip` says how to do without them."""
    from train.data import DataError

    if needed_by and (problem := codec_problem()):
        raise DataError(
            f"{problem}; FFmpeg with libopus is needed for {' and '.join(needed_by)}: install it (apt "
            f"install ffmpeg), or {skip}."
        )


def opus(samples: np.ndarray, sampling_rate: int, kbps: int) -> np.ndarray:
    """`samples` through Opus at `kbps` (FFmpeg's libopus, in Ogg, as a browser sends it), decoded back by the app's
    decoder at the same rate and trimmed or padded to the same length."""
    encoded = subprocess.run(
        _opus_command(sampling_rate, kbps),
        input=samples.astype("<f4").tobytes(),
        capture_output=True,
        check=True,
        timeout=ffmpeg.TIMEOUT_S,
    ).stdout
    decoded = load_audio(encoded, sampling_rate, max_seconds=len(samples) / sampling_rate + 1).samples
    return np.pad(decoded, (0, max(0, len(samples) - len(decoded))))[: len(samples)].astype(np.float32)


def recorded_copy(samples: np.ndarray, sampling_rate: int, seed: int | tuple[int, ...] = EVAL_SEED) -> np.ndarray:
    """The evaluation's copy: a random recording, the same one for the same seed."""
    rng = np.random.default_rng(seed)
    return Recording.random(rng).apply(samples, sampling_rate, rng)


@dataclass(frozen=True)
class Augment:
    """Training augmentation: with probability `p`, a random recorded-like copy (the codec in `codec_p` of them);
    always a random gain of up to `gain_db` either way. The random crop already shifts the clip in time."""

    p: float = 0.5
    codec_p: float = 0.5
    gain_db: float = 6.0

    def describe(self) -> str:
        return (
            f"a recorded-like copy of {self.p:.0%} of crops (room, microphone band, noise, level and clipping; "
            f"Opus at {min(BIT_RATES)}-{max(BIT_RATES)} kbit/s in {self.codec_p:.0%} of those), and a gain of up "
            f"to ±{self.gain_db:g} dB on every crop (train/recorded.py)"
        )

    def __call__(self, samples: np.ndarray, sampling_rate: int, rng: np.random.Generator) -> np.ndarray:
        if rng.random() < self.p:
            samples = Recording.random(rng, codec=rng.random() < self.codec_p).apply(samples, sampling_rate, rng)
        gain = 10 ** (rng.uniform(-self.gain_db, self.gain_db) / 20)
        return np.clip(samples * gain, -1.0, 1.0).astype(np.float32)
