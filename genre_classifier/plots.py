"""Waveform, spectrogram and mel-spectrogram figures of a clip, and its genre over time.

One STFT feeds both spectrograms. Long clips are thinned for display only (a coarser hop, a
min/max waveform envelope), so a 10-minute file draws as fast as a short one. Figures are built
with `matplotlib.figure.Figure`, not pyplot, so concurrent requests share no plotting state.

The spectrograms are librosa's (`stft`, `feature.melspectrogram` with its Slaney mel bands, `amplitude_to_db`),
computed by the numpy replicas in `transformers.audio_utils`: librosa's own code compiles numba kernels on its
first call (13 s on a fresh start with librosa 0.11), which a Space pays after every restart.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from transformers import audio_utils

N_FFT = 2048
N_MELS = 128
MAX_COLUMNS = 1000  # time columns drawn: about one per pixel of the figure
SIZE = (9, 2.6)


@cache
def mel_filters(sr: int) -> np.ndarray:
    """librosa's default mel filter bank (Slaney scale and norm, 0 Hz to Nyquist): (n_fft // 2 + 1, N_MELS)."""
    return audio_utils.mel_filter_bank(
        num_frequency_bins=N_FFT // 2 + 1, num_mel_filters=N_MELS, min_frequency=0.0, max_frequency=sr / 2,
        sampling_rate=sr, norm="slaney", mel_scale="slaney",
    )  # fmt: skip


def mel_frequencies(sr: int) -> np.ndarray:
    """Centre frequency of each mel band in Hz (`librosa.mel_frequencies(N_MELS, fmax=sr / 2)`)."""
    mels = np.linspace(audio_utils.hertz_to_mel(0.0, "slaney"), audio_utils.hertz_to_mel(sr / 2, "slaney"), N_MELS)
    return audio_utils.mel_to_hertz(mels, "slaney")


def spectrograms(samples: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray]:
    """STFT magnitude and 128-band mel power, both in dB relative to their peak (80 dB range), from one STFT:
    `librosa.stft` (Hann window, centred, zero padding) and `librosa.feature.melspectrogram` defaults."""
    hop = max(N_FFT // 4, math.ceil(len(samples) / MAX_COLUMNS))
    magnitude = audio_utils.spectrogram(
        samples, audio_utils.window_function(N_FFT, "hann"), frame_length=N_FFT, hop_length=hop, power=1.0,
        center=True, pad_mode="constant",
    )  # fmt: skip
    mel = mel_filters(sr).T @ magnitude**2
    # librosa's ref=np.max, amin 1e-5 (amplitude) / 1e-10 (power), top_db 80
    stft_db = audio_utils.amplitude_to_db(magnitude, max(magnitude.max(), 1e-5), min_value=1e-5, db_range=80.0)
    mel_db = audio_utils.power_to_db(mel, max(mel.max(), 1e-10), min_value=1e-10, db_range=80.0)
    return stft_db, mel_db


AXES = (0.08, 0.17, 0.82, 0.72)  # fixed (the layout solver costs 0.1 s a plot), and aligned across plots
COLORBAR = (0.915, 0.17, 0.015, 0.72)


def _figure(title: str) -> tuple[Figure, object]:
    fig = Figure(figsize=SIZE, dpi=100)
    ax = fig.add_axes(AXES)
    ax.set_title(title, fontsize=10, loc="left")
    ax.set_xlabel("Time (s)")
    return fig, ax


def waveform_figure(samples: np.ndarray, sr: int) -> Figure:
    """Amplitude over time; long clips are drawn as their min/max envelope."""
    fig, ax = _figure("Waveform")
    duration = len(samples) / sr
    per_column = len(samples) // MAX_COLUMNS
    if per_column > 1:
        blocks = samples[: per_column * MAX_COLUMNS].reshape(MAX_COLUMNS, per_column)
        t = np.linspace(0, duration, MAX_COLUMNS)
        ax.fill_between(t, blocks.min(axis=1), blocks.max(axis=1), color="tab:blue", linewidth=0)
    else:
        ax.plot(np.arange(len(samples)) / sr, samples, color="tab:blue", linewidth=0.6)
    ax.set(xlim=(0, duration), ylim=(-1.05, 1.05), ylabel="Amplitude")
    return fig


def spectrogram_figure(stft_db: np.ndarray, sr: int, duration: float) -> Figure:
    """Linear-frequency spectrogram in dB, 0 Hz to Nyquist."""
    fig, ax = _figure("Spectrogram (STFT magnitude)")
    image = ax.imshow(stft_db, origin="lower", aspect="auto", cmap="magma", extent=(0, duration, 0, sr / 2))
    ax.set_ylabel("Frequency (Hz)")
    fig.colorbar(image, cax=fig.add_axes(COLORBAR), format="%+.0f dB")
    return fig


def mel_figure(mel_db: np.ndarray, sr: int, duration: float) -> Figure:
    """128-band mel spectrogram in dB, its bands labelled with their frequency in Hz."""
    fig, ax = _figure(f"Mel spectrogram ({N_MELS} mel bands)")
    image = ax.imshow(mel_db, origin="lower", aspect="auto", cmap="magma", extent=(0, duration, 0, N_MELS))
    centres = mel_frequencies(sr)
    ticks = [hz for hz in (0, 250, 500, 1000, 2000, 4000, 8000, 16000) if hz <= sr / 2]
    ax.set_yticks(np.searchsorted(centres, ticks), [f"{hz:g}" for hz in ticks])
    ax.set_ylabel("Frequency (Hz, mel scale)")
    fig.colorbar(image, cax=fig.add_axes(COLORBAR), format="%+.0f dB")
    return fig


def clip_figures(samples: np.ndarray, sr: int) -> tuple[Figure, Figure, Figure]:
    """The three figures the app shows for a clip."""
    duration = len(samples) / sr
    stft_db, mel_db = spectrograms(samples, sr)
    return waveform_figure(samples, sr), spectrogram_figure(stft_db, sr, duration), mel_figure(mel_db, sr, duration)


TIMELINE_SIZE = (9, 3.4)
TIMELINE_AXES = (0.08, 0.14, 0.82, 0.72)  # the same left and width as AXES: time lines up with the plots above
TIMELINE_COLORBAR = (0.915, 0.14, 0.015, 0.72)


def genre_timeline_figure(
    labels: list[str],
    window_probs: np.ndarray,
    spans: list[tuple[float, float]],
    duration: float,
    start: float = 0.0,
    title: str | None = None,
    pending: bool = False,
) -> Figure:
    """Probability of every genre over time, one row per genre and one column per window.

    The overall answer (the mean over windows) is outlined; where the clip's last window overlaps the one
    before it, the shared span is hatched and labelled; time no window covers is grey ("classifying…" while
    `pending`; afterwards only a tail too short for a window of its own is left uncovered).
    """
    fig = Figure(figsize=TIMELINE_SIZE, dpi=100)
    ax = fig.add_axes(TIMELINE_AXES)
    n = len(labels)
    image = None
    covered = start
    for (begin, end), probs in zip(spans, window_probs, strict=True):
        image = ax.imshow(
            np.asarray(probs)[:, None], extent=(begin, end, n - 0.5, -0.5), aspect="auto", cmap="viridis",
            vmin=0, vmax=1, interpolation="nearest",
        )  # fmt: skip
        if begin < covered:
            ax.add_patch(Rectangle((begin, -0.5), covered - begin, n, fill=False, hatch="///", edgecolor="white", lw=0))
            ax.annotate(
                f"overlap: the last window ({begin:.1f}–{end:.1f} s) is drawn over the one before",
                ((begin + covered) / 2, -0.5), xytext=(0, 2), textcoords="offset points", ha="center", va="bottom",
                fontsize=7,
            )  # fmt: skip
        ax.axvline(begin, color="white", lw=0.6)
        covered = max(covered, end)
    if covered < duration:
        ax.axvspan(covered, duration, color="0.92")
        if pending:
            ax.text((covered + duration) / 2, (n - 1) / 2, "classifying…", ha="center", va="center", color="0.4")
    ax.set_yticks(range(n), labels, fontsize=8)
    if len(window_probs):
        overall = np.asarray(window_probs).mean(axis=0)
        top = int(overall.argmax())
        ax.get_yticklabels()[top].set_fontweight("bold")
        ax.add_patch(Rectangle((start, top - 0.5), duration - start, 1, fill=False, edgecolor="#ff2d55", lw=1.5))
        title = title or f"Genre over time: {labels[top]} overall ({overall[top]:.0%}, outlined)"
    ax.set_title(title or "Genre over time", fontsize=10, loc="left")
    ax.set(xlim=(start, duration), ylim=(n - 0.5, -0.5), xlabel="Time (s)")
    if image is not None:
        fig.colorbar(image, cax=fig.add_axes(TIMELINE_COLORBAR), label="probability")
    return fig
