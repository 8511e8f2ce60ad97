"""The genre-over-time figure: on the clip's time axis, overlaps drawn honestly, the overall answer marked."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from genre_classifier import GENRES
from genre_classifier.plots import AXES, TIMELINE_AXES, genre_timeline_figure

from .helpers import GTZAN


def probs(*tops: int) -> np.ndarray:
    rows = np.full((len(tops), len(GENRES)), 0.02)
    for row, top in zip(rows, tops, strict=True):
        row[top] = 1 - 0.02 * (len(GENRES) - 1)
    return rows


def drawn(fig) -> np.ndarray:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return np.asarray(Image.open(buffer).convert("RGB"), dtype=int)


def test_the_figure_spans_the_clip_and_lines_up_with_the_other_plots():
    fig = genre_timeline_figure(GENRES, probs(5, 5, 6), [(0, 30), (30, 60), (45, 75)], duration=75.0)
    ax = fig.axes[0]
    assert ax.get_xlim() == (0, 75.0) and ax.get_xlabel() == "Time (s)"
    assert (TIMELINE_AXES[0], TIMELINE_AXES[2]) == (AXES[0], AXES[2])  # same horizontal placement as the plots
    assert [t.get_text() for t in ax.get_yticklabels()] == GENRES
    assert "jazz overall" in ax.get_title(loc="left")  # jazz wins 2 windows of 3
    assert ax.get_yticklabels()[5].get_fontweight() == "bold"
    assert any("overlap" in t.get_text() and "45.0–75.0 s" in t.get_text() for t in ax.texts)
    rgb = drawn(fig)
    assert ((rgb.max(axis=2) - rgb.min(axis=2)) > 40).mean() > 0.3  # a drawn heat strip, not empty axes


def test_a_partial_answer_greys_the_time_still_to_classify():
    fig = genre_timeline_figure(GENRES, probs(2), [(0, 30)], duration=133.0, pending=True)
    ax = fig.axes[0]
    assert ax.get_xlim() == (0, 133.0) and any(t.get_text() == "classifying…" for t in ax.texts)
    assert not any("overlap" in t.get_text() for t in ax.texts)
    done = genre_timeline_figure(GENRES, probs(2), [(0, 30)], duration=30.6)  # a tail too short for a window
    assert not any(t.get_text() == "classifying…" for t in done.axes[0].texts)


def test_the_spectrograms_are_librosas_without_its_numba_kernels():
    """Same STFT, Slaney mel bands and dB scale as librosa's defaults (what the figures always showed)."""
    import librosa
    import soundfile as sf

    from genre_classifier.audio import resample
    from genre_classifier.plots import N_FFT, N_MELS, mel_frequencies, spectrograms

    clip, rate = sf.read(GTZAN / "jazz.00000.wav", dtype="float32")
    for sr, samples in [(rate, clip), (16000, resample(clip, rate, 16000)), (22050, clip[:20000])]:
        stft_db, mel_db = spectrograms(samples, sr)
        hop = max(N_FFT // 4, -(-len(samples) // 1000))
        magnitude = np.abs(librosa.stft(samples, n_fft=N_FFT, hop_length=hop))
        mel = librosa.feature.melspectrogram(S=magnitude**2, sr=sr, n_mels=N_MELS)
        np.testing.assert_allclose(stft_db, librosa.amplitude_to_db(magnitude, ref=np.max), atol=1e-3)
        np.testing.assert_allclose(mel_db, librosa.power_to_db(mel, ref=np.max), atol=1e-3)
        np.testing.assert_allclose(mel_frequencies(sr), librosa.mel_frequencies(n_mels=N_MELS, fmax=sr / 2))
