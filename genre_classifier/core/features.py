"""The 57 clip features of the GTZAN feature table (`features_30_sec.csv`), computed with librosa.

Defaults match the table (22050 Hz, n_fft 2048, hop 512, and the reflect padding librosa used
before 0.10); the STFT and the mel spectrogram are computed once and shared.

Two of librosa's steps are taken by equivalents that compile no numba kernel, since a Space starts with an
empty numba cache after every restart: the tempo is `librosa.feature.tempo`, the estimate `beat_track` itself
returns (its beat-tracking dynamic programme, unused here, is the slowest kernel to compile), and the
harmonic and percussive signals come from `torch.istft`, the same inverse STFT as `librosa.istft`.
"""

from __future__ import annotations

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


def _median_along_rows(values: np.ndarray, kernel: int) -> np.ndarray:
    """`median_filter(values, size=(1, kernel), mode="reflect")`, exactly, 10 x faster: scipy's fast median (a
    running one) serves 1-D input only, so each row is padded as "reflect" pads it and all rows run as one line,
    from which only each row's own outputs are kept."""
    half = kernel // 2
    padded = np.pad(values, ((0, 0), (half, half)), mode="symmetric")  # numpy's "symmetric" is scipy's "reflect"
    return median_filter(padded.reshape(-1), size=kernel, mode="reflect").reshape(padded.shape)[:, half:-half]


def _hpss(stft: np.ndarray, kernel: int = 31) -> tuple[np.ndarray, np.ndarray]:
    """`librosa.decompose.hpss` with its defaults: median filters across time (harmonic) and frequency
    (percussive), then soft masks."""
    mag = np.abs(stft)
    harm = _median_along_rows(mag, kernel)
    perc = _median_along_rows(np.ascontiguousarray(mag.T), kernel).T
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
