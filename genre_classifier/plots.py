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
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter, PercentFormatter
from transformers import audio_utils

N_FFT = 2048
N_MELS = 128
MAX_COLUMNS = 1000  # time columns drawn: about one per pixel of the figure


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


# Layout, in inches, the same for every figure: the time axes line up wherever two figures share a column, and
# the text keeps its size whatever the clip. Computed, not solved: matplotlib's layout engine costs 0.1 s a plot.
# The text is large for the width because the same image serves every screen: on a phone (390 px) a figure is
# shown about 325 px wide, where 10 pt is 9 px; in a laptop's two-column grid (600 px) it is 17 px.
WIDTH = 5.0
SIGNAL_HEIGHT = 2.8  # the waveform and the spectrogram, side by side
TIMELINE_HEIGHT = 3.6  # genre over time, and the mel spectrogram beside it
DPI = 180  # 900 px wide: as wide as any column it is shown in, so the browser only ever scales it down
LEFT, RIGHT = 0.95, 0.9  # beside the axes: the y label and tick labels ("classical" is the widest) / the colour bar
PAD = 0.08
TITLE_PAD = 0.12  # between the title and the axes: clear of the colour bar's top label
BAR_GAP, BAR_WIDTH = 0.1, 0.12
TICK_PT, LABEL_PT, TITLE_PT, CAPTION_PT = 10.5, 11.0, 12.0, 10.0
X_AXIS = 0.45  # below the axes: tick labels and the "Time (s)" label
SMALLEST_PT = CAPTION_PT  # what tests check for readability on a narrow screen
UNCOVERED = 0.01  # seconds of uncovered time worth marking (not float rounding of a window's end)


def _line(points: float) -> float:
    return 1.25 * points / 72  # inches per line of text


def _wrap(renderer, text: str, points: float, inches: float) -> list[str]:
    """Words in lines no wider than `inches`, measured as the figure will draw them."""
    font, lines = FontProperties(size=points), []
    for word in text.split():
        longer = f"{lines[-1]} {word}" if lines else word
        if lines and renderer.get_text_width_height_descent(longer, font, False)[0] <= inches * DPI:
            lines[-1] = longer
        else:
            lines.append(word)
    return lines


def _figure(height: float, title: str, caption: str = "", colorbar: bool = False) -> tuple[Figure, Axes, Axes | None]:
    """A figure with its axes placed by arithmetic: the title above, the time axis and the caption below."""
    fig = Figure(figsize=(WIDTH, height), dpi=DPI)
    renderer = FigureCanvasAgg(fig).get_renderer()
    title_lines = _wrap(renderer, title, TITLE_PT, WIDTH - 2 * PAD)
    caption_lines = _wrap(renderer, caption, CAPTION_PT, WIDTH - 2 * PAD)
    top = PAD + TITLE_PAD + len(title_lines) * _line(TITLE_PT)
    bottom = PAD + X_AXIS + (len(caption_lines) * _line(CAPTION_PT) + PAD if caption_lines else 0)
    box = (LEFT / WIDTH, bottom / height, (WIDTH - LEFT - RIGHT) / WIDTH, (height - top - bottom) / height)
    ax = fig.add_axes(box)
    fig.suptitle("\n".join(title_lines), x=PAD / WIDTH, y=1 - PAD / height, ha="left", va="top", fontsize=TITLE_PT)
    ax.set_xlabel("Time (s)", fontsize=LABEL_PT)
    ax.tick_params(labelsize=TICK_PT)
    if caption_lines:
        fig.text(PAD / WIDTH, PAD / height, "\n".join(caption_lines), fontsize=CAPTION_PT, color="0.25", va="bottom")
    bar = None
    if colorbar:
        bar = fig.add_axes((box[0] + box[2] + BAR_GAP / WIDTH, box[1], BAR_WIDTH / WIDTH, box[3]))
        bar.tick_params(labelsize=TICK_PT)
    return fig, ax, bar


def _hertz(hz: float, _position=None) -> str:
    return f"{hz / 1000:g}k" if hz >= 1000 else f"{hz:g}"  # "10k", not "10000": short labels fit the margin


def waveform_figure(samples: np.ndarray, sr: int) -> Figure:
    """Amplitude over time; long clips are drawn as their min/max envelope."""
    fig, ax, _ = _figure(SIGNAL_HEIGHT, "Waveform")
    duration = len(samples) / sr
    per_column = len(samples) // MAX_COLUMNS
    if per_column > 1:
        blocks = samples[: per_column * MAX_COLUMNS].reshape(MAX_COLUMNS, per_column)
        t = np.linspace(0, duration, MAX_COLUMNS)
        ax.fill_between(t, blocks.min(axis=1), blocks.max(axis=1), color="tab:blue", linewidth=0)
    else:
        ax.plot(np.arange(len(samples)) / sr, samples, color="tab:blue", linewidth=0.6)
    ax.set(xlim=(0, duration), ylim=(-1.05, 1.05))
    ax.set_ylabel("Amplitude", fontsize=LABEL_PT)
    return fig


def spectrogram_figure(stft_db: np.ndarray, sr: int, duration: float) -> Figure:
    """Linear-frequency spectrogram in dB, 0 Hz to Nyquist."""
    fig, ax, bar = _figure(SIGNAL_HEIGHT, "Spectrogram (STFT magnitude)", colorbar=True)
    image = ax.imshow(stft_db, origin="lower", aspect="auto", cmap="magma", extent=(0, duration, 0, sr / 2))
    ax.yaxis.set_major_formatter(FuncFormatter(_hertz))
    ax.set_ylabel("Frequency (Hz)", fontsize=LABEL_PT)
    fig.colorbar(image, cax=bar, format="%+.0f dB")
    return fig


def mel_figure(mel_db: np.ndarray, sr: int, duration: float) -> Figure:
    """128-band mel spectrogram in dB, its bands labelled with their frequency in Hz."""
    fig, ax, bar = _figure(TIMELINE_HEIGHT, f"Mel spectrogram ({N_MELS} bands, mel scale)", colorbar=True)
    image = ax.imshow(mel_db, origin="lower", aspect="auto", cmap="magma", extent=(0, duration, 0, N_MELS))
    centres = mel_frequencies(sr)
    ticks = [hz for hz in (0, 500, 1000, 2000, 4000, 8000, 16000) if hz <= sr / 2]  # 250 Hz would crowd 0 and 500
    ax.set_yticks(np.searchsorted(centres, ticks), [_hertz(hz) for hz in ticks])
    ax.set_ylabel("Frequency (Hz)", fontsize=LABEL_PT)
    fig.colorbar(image, cax=bar, format="%+.0f dB")
    return fig


def clip_figures(samples: np.ndarray, sr: int) -> tuple[Figure, Figure, Figure]:
    """The three figures the app shows for a clip."""
    duration = len(samples) / sr
    stft_db, mel_db = spectrograms(samples, sr)
    return waveform_figure(samples, sr), spectrogram_figure(stft_db, sr, duration), mel_figure(mel_db, sr, duration)


def genre_timeline_figure(
    labels: list[str],
    window_probs: np.ndarray,
    spans: list[tuple[float, float]],
    duration: float,
    start: float = 0.0,
    title: str = "Genre over time",
    pending: bool = False,
    caption: str = "",
) -> Figure:
    """Probability of every genre over time, one row per genre and one column per window.

    The overall answer (the mean over windows) is outlined; where the clip's last window overlaps the one
    before it, the shared span is hatched; time no window covers is grey (still to classify while `pending`;
    afterwards only a tail too short for a window of its own is left). A caption under the axes says what each
    of these marks means, after `caption`.
    """
    notes = [caption] if caption else []
    if len(spans) > 1:
        notes.append("White lines: window edges.")
    overlaps, covered = [], None  # (start, end of the windows before, end) of each window that overlaps them
    for begin, end in spans:
        if covered is not None and begin < covered:
            overlaps.append((begin, covered, end))
        covered = end if covered is None else max(covered, end)
    for begin, before, end in overlaps:
        notes.append(
            f"Hatched, {begin:.1f}–{before:.1f} s: the last window ({begin:.1f}–{end:.1f} s) overlaps the one before "
            "and is drawn over it."
        )
    covered = max(start, covered or start)
    if duration - covered > UNCOVERED:
        why = "still being classified…" if pending else "too short for a window of its own, not classified."
        notes.append(f"Grey, {covered:.1f}–{duration:.1f} s: {why}")
    n = len(labels)
    overall = np.asarray(window_probs).mean(axis=0) if len(window_probs) else None
    if overall is not None:
        top = int(overall.argmax())
        title += f": {labels[top]} overall ({overall[top]:.0%}, outlined)"
    fig, ax, bar = _figure(TIMELINE_HEIGHT, title, " ".join(notes), colorbar=overall is not None)
    image = None
    for (begin, end), probs in zip(spans, window_probs, strict=True):
        image = ax.imshow(
            np.asarray(probs)[:, None], extent=(begin, end, n - 0.5, -0.5), aspect="auto", cmap="viridis",
            vmin=0, vmax=1, interpolation="nearest",
        )  # fmt: skip
        if begin > start:
            ax.axvline(begin, color="white", lw=0.8)
    for begin, before, _ in overlaps:
        ax.add_patch(Rectangle((begin, -0.5), before - begin, n, fill=False, hatch="///", edgecolor="white", lw=0))
    if duration - covered > UNCOVERED:
        ax.axvspan(covered, duration, color="0.85")
    ax.set_yticks(range(n), labels)
    if overall is not None:
        top = int(overall.argmax())
        ax.get_yticklabels()[top].set_fontweight("bold")
        ax.add_patch(Rectangle((start, top - 0.5), duration - start, 1, fill=False, edgecolor="#ff2d55", lw=1.5))
        fig.colorbar(image, cax=bar, format=PercentFormatter(1.0, decimals=0))
    ax.set(xlim=(start, duration), ylim=(n - 0.5, -0.5))
    return fig
