"""The music gate: whether a window sounds like music of the kind the genres describe, whatever model answers.

A ten-genre classifier names a genre for anything, speech and barking included. The gate is a small model of its
own, beside the genre model: 52 of the GTZAN table's features (all but HPSS's four and the tempo; about 0.1 s for
30 s of audio) into a multinomial logistic regression over music (the 986 rows of the GTZAN
feature table), voice, noise and tone (speech, noise, applause, tones, hum and ringing made by `train/sounds.py`).
It needs nothing from the genre model, so it works the same for the embedded model, a Hub checkpoint, or a folder
that brings only its weights. A window is music when its music probability is at least `MusicGate.min_music`,
chosen by `train/music_gate.py` so that at most 0.5 % of GTZAN's own clips fall below it in cross-validation.
Beside the features, a speech detector trained on real speech (`voice.py`) hears whether a voice fills the window:
where speech fills more than `MusicGate.voice_share` of its sounding frames, the window's music score falls below
the threshold, so one score and one threshold decide for every output; where it hears none in a window that sound
fills, the features' "voice" (learned from espeak-ng) is set aside. The
features are defined on the full band at 22050 Hz, so the gate hears the clip at that rate (`Clip.gate_samples`),
not at the model's 16 kHz, which would take away what cymbals and guitars put above 8 kHz. Results:
docs/music-gate.md.
"""

from __future__ import annotations

import functools
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.fft
from scipy.fft import dct
from scipy.special import softmax
from transformers import audio_utils

from . import baseline, voice
from .baseline import LOG_SCALED
from .features import FEATURE_NAMES
from .features import SAMPLING_RATE as RATE

GATE_PATH = Path(__file__).with_name("music_gate.npz")
# The table's features but HPSS's four (about half of their time) and the tempo (a beat tracker's worth of code)
GATE_FEATURE_NAMES = [name for name in FEATURE_NAMES if not name.startswith(("harmony", "perceptr", "tempo"))]
NOT_MUSIC = "not music"
# What a sound that is not music sounds like, by the gate's class: its voices were speech, but a dog's bark and a
# bird's call land there too (docs/music-gate.md).
DESCRIBED = {"voice": "a voice, speaking or calling", "noise": "noise", "tone": "a tone or a hum"}
_LOG = LOG_SCALED[[FEATURE_NAMES.index(name) for name in GATE_FEATURE_NAMES]]


N_FFT, HOP = 2048, 512


@functools.cache
def _filters() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The Hann window; the bins' (1, frequency, frequency^2) as columns; librosa's default mel bank (Slaney) and its
    chroma bank (tuning 0), each as (bins, bands) to multiply frames in rows."""
    window = audio_utils.window_function(N_FFT, "hann").astype(np.float32)  # float32, as librosa's STFT
    freqs = np.linspace(0, RATE / 2, N_FFT // 2 + 1)
    moments = np.stack([np.ones_like(freqs), freqs, freqs**2], axis=1)
    mel = audio_utils.mel_filter_bank(
        num_frequency_bins=N_FFT // 2 + 1,
        num_mel_filters=128,
        min_frequency=0.0,
        max_frequency=RATE / 2,
        sampling_rate=RATE,
        norm="slaney",
        mel_scale="slaney",
    )
    chroma = audio_utils.chroma_filter_bank(num_frequency_bins=N_FFT, num_chroma=12, sampling_rate=RATE)
    return window, moments, mel.astype(np.float32), chroma.T.astype(np.float32)


def _per_frame(values: np.ndarray) -> np.ndarray:
    """Sums of `values` over each frame of N_FFT samples, HOP apart (librosa's `util.frame` framing): HOP divides
    N_FFT, so each frame's sum is that of N_FFT // HOP blocks of HOP samples, each block summed once."""
    blocks_a_frame = N_FFT // HOP
    n_frames = (len(values) - N_FFT) // HOP + 1
    blocks = values[: (n_frames + blocks_a_frame - 1) * HOP].reshape(-1, HOP).sum(axis=1, dtype=np.float64)
    return np.lib.stride_tricks.sliding_window_view(blocks, blocks_a_frame).sum(axis=1)


def _stats(series: np.ndarray) -> list[float]:
    return [float(np.mean(series)), float(np.var(series))]


def gate_features(y: np.ndarray) -> np.ndarray:
    """The gate's 52 features (`GATE_FEATURE_NAMES`) of a mono window at 22050 Hz, as `features.extract_features`
    computes them (chroma untuned), with numpy, scipy and `transformers.audio_utils` in place of librosa's functions:
    those compile numba kernels on first use, 20 s on a fresh start of a Space, which its first visitor would wait
    for. These compile nothing; tests/test_gate.py checks that they give librosa's values."""
    window, moments, mel_bank, chroma_bank = _filters()
    y = np.asarray(y, dtype=np.float32)
    reflected = np.pad(y, N_FFT // 2, mode="reflect")  # the table's librosa padded the STFT and RMS by reflection
    frames = np.lib.stride_tricks.sliding_window_view(reflected, N_FFT)[::HOP]
    # Frames in rows (librosa.stft's transpose); scipy's FFT keeps float32 as librosa's does, numpy's is 3x slower
    spectrum = scipy.fft.rfft(frames * window, axis=1)
    power = spectrum.real**2 + spectrum.imag**2
    mag = np.sqrt(power)
    mel_db = audio_utils.power_to_db(power @ mel_bank, reference=1.0, min_value=1e-10, db_range=80.0)
    chroma = power @ chroma_bank
    top = chroma.max(axis=1, keepdims=True)
    chroma /= np.where(top > np.finfo(chroma.dtype).tiny, top, 1.0)
    rms = np.sqrt(_per_frame(reflected * reflected) / N_FFT)
    # Each frame's total, first and second moment of frequency in one product: the centroid and the spread about it
    # (librosa's bandwidth, sqrt(E[(f - centroid)^2]) = sqrt(E[f^2] - centroid^2)) without a shares matrix
    total, first, second = (mag @ moments).T
    total = np.where(total > np.finfo(mag.dtype).tiny, total, 1.0)
    centroid = first / total
    bandwidth = np.sqrt(np.maximum(second / total - centroid**2, 0.0))
    cumulative = np.cumsum(mag, axis=1)
    rolloff = moments[np.argmax(cumulative >= 0.85 * cumulative[:, -1:], axis=1), 1]
    edged = np.pad(y, N_FFT // 2, mode="edge")  # zero_crossing_rate pads with the edge values
    signs = np.signbit(np.where(np.abs(edged) <= 1e-10, 0.0, edged))
    crossings = np.concatenate([[False], signs[1:] != signs[:-1]])
    # A frame's first sample never counts as a crossing (librosa frames first, then compares within the frame).
    zcr = (_per_frame(crossings) - crossings[: len(crossings) - N_FFT + 1 : HOP]) / N_FFT
    mfcc = dct(mel_db, type=2, axis=1, norm="ortho")[:, :20]
    values = [*_stats(chroma), *_stats(rms), *_stats(centroid), *_stats(bandwidth), *_stats(rolloff), *_stats(zcr)]
    return np.asarray(values + [v for column in mfcc.T for v in _stats(column)], dtype=np.float64)


def prepare(features: np.ndarray) -> np.ndarray:
    """Log-scale the variance columns of gate features (rows of `GATE_FEATURE_NAMES`), as the embedded model does."""
    return baseline.prepare(features, _LOG)


@dataclass(frozen=True)
class MusicGate:
    """Standardiser + multinomial logistic regression; `classes[0]` is music."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray  # (n_classes, n_features)
    intercept: np.ndarray  # (n_classes,)
    classes: list[str]  # "music", then what else it can tell: "voice", "noise", "tone"
    min_music: float  # a window whose music probability is below this is not music
    voice_share: float  # a window whose sounding frames are more than this share speech is a voice (`voice.py`)

    def class_probs(self, features: np.ndarray) -> np.ndarray:
        """Probabilities (n, n_classes) for raw gate feature rows (n, 52)."""
        return softmax(((prepare(features) - self.mean) / self.scale) @ self.coef.T + self.intercept, axis=1)

    def save(self, path: Path = GATE_PATH) -> None:
        np.savez(
            path,
            mean=self.mean,
            scale=self.scale,
            coef=self.coef,
            intercept=self.intercept,
            classes=np.array(self.classes),
            feature_names=np.array(GATE_FEATURE_NAMES),
            min_music=self.min_music,
            voice_share=self.voice_share,
        )

    @classmethod
    def load(cls, path: Path = GATE_PATH) -> MusicGate:
        with np.load(path) as data:
            if list(data["feature_names"]) != GATE_FEATURE_NAMES:
                raise ValueError(f"{path} was fitted on other features than gate_features computes")
            arrays = {k: data[k].astype(np.float64) for k in ("mean", "scale", "coef", "intercept")}
            return cls(
                **arrays,
                classes=[str(c) for c in data["classes"]],
                min_music=float(data["min_music"]),
                voice_share=float(data["voice_share"]),
            )


@functools.cache
def gate() -> MusicGate:
    """The gate shipped with the package, loaded once."""
    return MusicGate.load()


@dataclass(frozen=True)
class Heard:
    """What the gate heard in each window of a clip."""

    music: np.ndarray  # (n_windows,) music score: the features' music probability, lowered where a voice fills it
    sounds: list[str]  # the likeliest other sound of each window ("voice", "noise", "tone")


def voice_ceiling(share: np.ndarray | float, model: MusicGate) -> np.ndarray:
    """The highest music score a window can have when `share` of its sounding frames are speech: from 1 for none down
    to the threshold at `voice_share` (a tie is still music), and on down to 0 for a window of talk alone, so that a
    voice-filled window is not music however musical its features look."""
    return np.interp(share, [0.0, model.voice_share, 1.0], [1.0, model.min_music, 0.0])


def listen(samples: np.ndarray, spans: list[tuple[float, float]]) -> Heard:
    """The gate's view of the windows `spans` (seconds) of a clip at 22050 Hz (`Clip.gate_samples`). Several windows
    are heard in threads, one a core, what a GPU's call leaves the CPU to do: numpy and scipy's FFT let go of Python's
    lock (the speech detector takes one window at a time)."""
    model = gate()
    windows = [samples[int(begin * RATE) : max(int(end * RATE), int(begin * RATE) + 1)] for begin, end in spans]
    with ThreadPoolExecutor(min(len(windows), os.cpu_count() or 1), thread_name_prefix="listen") as pool:
        features = list(pool.map(gate_features, windows))
        detected = list(pool.map(voice.detect, windows, [RATE] * len(windows)))
        probs = model.class_probs(np.stack(features))
        # The features learned "voice" from espeak-ng, and soft or old recordings of music can lean to it. Where they
        # take a window for a voice and the detector, trained on real speech, hears none in it while sound fills it,
        # that class is set aside.
        spoken = model.classes.index("voice")
        taken_for_voice = probs[:, 1:].argmax(axis=1) + 1 == spoken
        no_voice = taken_for_voice & np.array([d is not None and d.no_voice for d in detected])
        probs[no_voice, spoken] = 0.0
        probs /= probs.sum(axis=1, keepdims=True)
        others = [model.classes[i] for i in probs[:, 1:].argmax(axis=1) + 1]
        # The highest share of speech that leaves each window's score as the features gave it: up to it, whether the
        # voice sings changes nothing, and the speech detector need not hear its pitch.
        harmless = np.interp(probs[:, 0], [0.0, model.min_music, 1.0], [1.0, model.voice_share, 0.0])
        shares = list(pool.map(lambda d, up_to: 0.0 if d is None else d.spoken(up_to), detected, harmless))
    ceiling = voice_ceiling(shares, model)
    voices = ceiling < probs[:, 0]  # the speech detector, not the features, keeps these windows from being music
    sounds = ["voice" if heard else other for heard, other in zip(voices, others, strict=True)]
    return Heard(np.minimum(probs[:, 0], ceiling), sounds)


def is_music(music: np.ndarray | float) -> np.ndarray:
    """Whether each music probability passes the gate."""
    return np.asarray(music) >= gate().min_music
