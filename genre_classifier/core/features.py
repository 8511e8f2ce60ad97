"""The 57 clip features of the GTZAN feature table (`features_30_sec.csv`), computed with librosa.

Defaults match the table (22050 Hz, n_fft 2048, hop 512, and the reflect padding librosa used
before 0.10); the STFT and the mel spectrogram are computed once and shared, and the two HPSS
median filters run in parallel, which keeps a 30 s clip around a second.

Two of librosa's steps are taken by equivalents that compile no numba kernel, since a Space starts with an
empty numba cache after every restart: the tempo is `librosa.feature.tempo`, the estimate `beat_track` itself
returns (its beat-tracking dynamic programme, unused here, is the slowest kernel to compile), and the
harmonic and percussive signals come from `torch.istft`, the same inverse STFT as `librosa.istft`.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import librosa
import numpy as np
from scipy.ndimage import median_filter

SAMPLING_RATE = 22050
WINDOW_SECONDS = 30.0

_SUMMARISED = [
    "chroma_stft",
    "rms",
    "spectral_centroid",
    "spectral_bandwidth",
    "rolloff",
    "zero_crossing_rate",
    "harmony",
    "perceptr",
]
FEATURE_NAMES = (
    [f"{name}_{stat}" for name in _SUMMARISED for stat in ("mean", "var")]
    + ["tempo"]
    + [f"mfcc{i}_{stat}" for i in range(1, 21) for stat in ("mean", "var")]
)


def _hpss(stft: np.ndarray, kernel: int = 31) -> tuple[np.ndarray, np.ndarray]:
    """`librosa.decompose.hpss` with its defaults, its two median filters in two threads (they
    release the GIL, and they are 80 % of the feature time)."""
    mag = np.abs(stft)
    with ThreadPoolExecutor(1) as pool:
        harm = pool.submit(median_filter, mag, size=(1, kernel), mode="reflect")
        perc = median_filter(mag, size=(kernel, 1), mode="reflect")
        harm = harm.result()
    mask_harm = librosa.util.softmask(harm, perc, power=2, split_zeros=True)
    mask_perc = librosa.util.softmask(perc, harm, power=2, split_zeros=True)
    return stft * mask_harm, stft * mask_perc


def _istft(stft: np.ndarray, length: int) -> np.ndarray:
    """`librosa.istft(stft, length=length)` with its defaults (Hann window, centred), computed by torch."""
    import torch

    signal = torch.istft(
        torch.from_numpy(stft), n_fft=2048, hop_length=512, window=torch.hann_window(2048), center=True, length=length
    )
    return signal.numpy()


def extract_features(y: np.ndarray, sr: int = SAMPLING_RATE) -> np.ndarray:
    """The table's 57 features (in `FEATURE_NAMES` order) for one mono clip at 22050 Hz."""
    if sr != SAMPLING_RATE:
        raise ValueError(f"features are defined at {SAMPLING_RATE} Hz, got {sr}")
    stft = librosa.stft(y, pad_mode="reflect")
    mag = np.abs(stft)
    power = mag**2
    mel_db = librosa.power_to_db(librosa.feature.melspectrogram(S=power, sr=sr))
    harmonic, percussive = _hpss(stft)
    onset = librosa.onset.onset_strength(S=mel_db, sr=sr, aggregate=np.median)  # as beat_track(y=...) does
    # beat_track's own tempo estimate, which it reports as 0 when there are no onsets (a silent window)
    tempo = librosa.feature.tempo(onset_envelope=onset, sr=sr) if onset.any() else 0.0
    series = [
        librosa.feature.chroma_stft(S=power, sr=sr),
        librosa.feature.rms(y=y, pad_mode="reflect"),
        librosa.feature.spectral_centroid(S=mag, sr=sr),
        librosa.feature.spectral_bandwidth(S=mag, sr=sr),
        librosa.feature.spectral_rolloff(S=mag, sr=sr),
        librosa.feature.zero_crossing_rate(y),
        _istft(harmonic, len(y)),
        _istft(percussive, len(y)),
    ]
    values = [stat(s) for s in series for stat in (np.mean, np.var)] + [np.ravel(tempo)[0]]
    mfcc = librosa.feature.mfcc(S=mel_db, n_mfcc=20)
    values += [stat(row) for row in mfcc for stat in (np.mean, np.var)]
    return np.asarray(values, dtype=np.float64)
