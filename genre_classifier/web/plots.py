"""Waveform, spectrogram and mel-spectrogram figures of a clip, and its genre over time.

One STFT feeds both spectrograms. Long clips are thinned for display only (a coarser hop, a
min/max waveform envelope), so a 10-minute file draws as fast as a short one. Figures are built
with `matplotlib.figure.Figure`, not pyplot, so concurrent requests share no plotting state.

The spectrograms are librosa's (`stft`, `feature.melspectrogram` with its Slaney mel bands, `amplitude_to_db`),
computed by the numpy replicas in `transformers.audio_utils`: librosa's own code compiles numba kernels on its
first call (13 s on a fresh start with librosa 0.11), which a Space pays after every restart.

There is one way to draw, the app's: each kind of figure is kept per layout, its frame (axes, ticks, labels,
colour bar) drawn once, and an update draws only what changes over a copy of those pixels, the spectrograms
colour-mapped by numpy at the size they are shown; the images are encoded as webp once (`clip_images`,
`genre_timeline_image`). `drawn_clip` and `drawn_timeline` hold the figures with an update drawn in.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

import numpy as np
from gradio.components.plot import PlotData
from matplotlib.cm import ScalarMappable
from matplotlib.collections import LineCollection
from matplotlib.colors import Normalize
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter, PercentFormatter
from transformers import audio_utils

from ..core.model import clip_is_music, clip_probs
from .figure import (
    CAPTION_PT,
    DRAWING,
    LABEL_PT,
    PAD,
    SIGNAL_HEIGHT,
    TIMELINE_HEIGHT,
    TITLE_PT,
    UNCOVERED,
    WIDTH,
    KeptFigure,
    colour,
    kept,
    shown,
    wrap,
)

N_FFT = 2048
N_MELS = 128
MAX_COLUMNS = 1000  # time columns drawn: about one per pixel of the figure


@cache
def mel_filters(sr: int) -> np.ndarray:
    """librosa's default mel filter bank (Slaney scale and norm, 0 Hz to Nyquist): (n_fft // 2 + 1, N_MELS)."""
    return audio_utils.mel_filter_bank(
        num_frequency_bins=N_FFT // 2 + 1,
        num_mel_filters=N_MELS,
        min_frequency=0.0,
        max_frequency=sr / 2,
        sampling_rate=sr,
        norm="slaney",
        mel_scale="slaney",
    ).astype(np.float32)  # float32 as the spectrogram: a float64 product costs 4 x more)


def mel_frequencies(sr: int) -> np.ndarray:
    """Centre frequency of each mel band in Hz (`librosa.mel_frequencies(N_MELS, fmax=sr / 2)`)."""
    mels = np.linspace(audio_utils.hertz_to_mel(0.0, "slaney"), audio_utils.hertz_to_mel(sr / 2, "slaney"), N_MELS)
    return audio_utils.mel_to_hertz(mels, "slaney")


def spectrograms(samples: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray]:
    """STFT magnitude and 128-band mel power, both in dB relative to their peak (80 dB range), from one STFT:
    `librosa.stft` (Hann window, centred, zero padding) and `librosa.feature.melspectrogram` defaults."""
    hop = max(N_FFT // 4, math.ceil(len(samples) / MAX_COLUMNS))
    # audio_utils.spectrogram's frames, in one batched FFT rather than its loop over frames (5 x faster)
    frames = np.lib.stride_tricks.sliding_window_view(np.pad(samples, N_FFT // 2), N_FFT)[::hop]
    window = audio_utils.window_function(N_FFT, "hann").astype(np.float32)
    magnitude = np.ascontiguousarray(np.abs(np.fft.rfft(frames * window, axis=1)).T)
    mel = mel_filters(sr).T @ magnitude**2
    # librosa's ref=np.max, amin 1e-5 (amplitude) / 1e-10 (power), top_db 80
    stft_db = audio_utils.amplitude_to_db(magnitude, max(magnitude.max(), 1e-5), min_value=1e-5, db_range=80.0)
    mel_db = audio_utils.power_to_db(mel, max(mel.max(), 1e-10), min_value=1e-10, db_range=80.0)
    return stft_db, mel_db


# Layout, in inches, the same for every figure: the time axes line up wherever two figures share a column, and
# the text keeps its size whatever the clip. Computed, not solved: matplotlib's layout engine costs 0.1 s a plot.
# The text is large for the width because the same image serves every screen: on a phone (390 px) a figure is
# shown about 325 px wide, where 10 pt is 9 px; in a laptop's two-column grid (600 px) it is 17 px.
def _hertz(hz: float, _position=None) -> str:
    return f"{hz / 1000:g}k" if hz >= 1000 else f"{hz:g}"  # "10k", not "10000": short labels fit the margin


class _Waveform(KeptFigure):
    def __init__(self) -> None:
        super().__init__(SIGNAL_HEIGHT)
        self.texts(["Waveform"], [])
        self.ax.set_ylim(-1.05, 1.05)
        self.ax.set_ylabel("Amplitude", fontsize=LABEL_PT)

    def update(self, samples: np.ndarray, sr: int) -> _Waveform:
        """Amplitude over time; long clips are drawn as their min/max envelope."""
        duration = len(samples) / sr
        per_column = len(samples) // MAX_COLUMNS
        if per_column > 1:
            blocks = samples[: per_column * MAX_COLUMNS].reshape(MAX_COLUMNS, per_column)
            t = np.linspace(0, duration, MAX_COLUMNS)
            self.replace(self.ax.fill_between(t, blocks.min(axis=1), blocks.max(axis=1), color="tab:blue", lw=0))
        else:
            self.replace(*self.ax.plot(np.arange(len(samples)) / sr, samples, color="tab:blue", linewidth=0.6))
        self.ax.set_xlim(0, duration)
        return self


class _Spectrogram(KeptFigure):
    """Linear-frequency spectrogram in dB, 0 Hz to Nyquist; or (`mel`) the 128-band mel spectrogram, its bands
    labelled with their frequency in Hz."""

    def __init__(self, sr: int, vmin: float, vmax: float, mel: bool = False) -> None:
        super().__init__(TIMELINE_HEIGHT if mel else SIGNAL_HEIGHT, colorbar=True)
        self.vmin, self.vmax, self.top = vmin, vmax, N_MELS if mel else sr / 2
        self.texts([f"Mel spectrogram ({N_MELS} bands, mel scale)" if mel else "Spectrogram (STFT magnitude)"], [])
        self.ax.set_ylim(0, self.top)
        if mel:
            centres = mel_frequencies(sr)
            ticks = [hz for hz in (0, 500, 1000, 2000, 4000, 8000, 16000) if hz <= sr / 2]  # 250 Hz: crowds 0, 500
            self.ax.set_yticks(np.searchsorted(centres, ticks), [_hertz(hz) for hz in ticks])
        else:
            self.ax.yaxis.set_major_formatter(FuncFormatter(_hertz))
        self.ax.set_ylabel("Frequency (Hz)", fontsize=LABEL_PT)
        self.fig.colorbar(ScalarMappable(Normalize(vmin, vmax), "magma"), cax=self.bar, format="%+.0f dB")

    def update(self, db: np.ndarray, duration: float) -> _Spectrogram:
        rgba = colour(shown(db, self.pixels), self.vmin, self.vmax, "magma")
        self.image(rgba)
        self.replace()
        self.ax.set(xlim=(0, duration), ylim=(0, self.top))
        return self


def _range(db: np.ndarray) -> tuple[float, float]:
    """The colour bar's range: the data's, as imshow would scale it (0 to -80 dB for nearly every clip)."""
    return float(db.min()), float(db.max())


@contextmanager
def drawn_clip(samples: np.ndarray, sr: int) -> Iterator[tuple[KeptFigure, KeptFigure, KeptFigure]]:
    """The three figures the app shows for a clip, with it drawn in: the waveform (long clips as their min/max
    envelope), the linear spectrogram (0 Hz to Nyquist) and the 128-band mel spectrogram, in dB; held for the caller
    alone (kept figures are shared by all requests)."""
    duration = len(samples) / sr
    stft_db, mel_db = spectrograms(samples, sr)
    with DRAWING:
        yield (
            kept(_Waveform).update(samples, sr),
            kept(_Spectrogram, sr, *_range(stft_db)).update(stft_db, duration),
            kept(_Spectrogram, sr, *_range(mel_db), True).update(mel_db, duration),
        )


def clip_images(samples: np.ndarray, sr: int) -> tuple[bytes, bytes, bytes]:
    """The three figures of `drawn_clip` as the page shows them, encoded (webp)."""
    with drawn_clip(samples, sr) as plots:
        return tuple(plot.webp() for plot in plots)


class _Timeline(KeptFigure):
    """Probability of every genre over time, one row per genre; `layout` is what `_timeline_layout` gives."""

    def __init__(self, labels: tuple[str, ...], top: int | None, title_lines: int, caption_lines: int) -> None:
        super().__init__(TIMELINE_HEIGHT, title_lines, caption_lines, colorbar=top is not None)
        self.labels = labels
        n = len(labels)
        self.ax.set_yticks(range(n), labels)
        self.ax.set_ylim(n - 0.5, -0.5)
        if top is not None:
            self.ax.get_yticklabels()[top].set_fontweight("bold")
            self.fig.colorbar(
                ScalarMappable(Normalize(0, 1), "viridis"), cax=self.bar, format=PercentFormatter(1.0, decimals=0)
            )

    def update(self, answer: _Answer) -> _Timeline:
        n, rows, columns = len(self.labels), *self.pixels
        start, duration = answer.start, answer.duration
        # Each pixel column shows the window that covers its centre, the last one where two overlap (drawn over).
        t = start + (np.arange(columns) + 0.5) * (duration - start) / columns
        which = np.full(columns, -1)
        for i, (begin, end) in enumerate(answer.spans):
            which[(t >= begin) & (t < end)] = i
        probs = np.asarray(answer.probs, dtype=np.float32).reshape(-1, n)
        grid = probs[np.maximum(which, 0)].T if len(probs) else np.zeros((n, columns), np.float32)
        colours = colour(grid, 0, 1, "viridis")
        colours[:, which < 0, 3] = 0  # time no window covers: the axes' own background
        rgba = colours[(np.arange(rows) * n) // rows]  # each genre's row of colours, as many pixels high as it is
        self.image(rgba)
        artists = []
        edges = [[(begin, -0.5), (begin, n - 0.5)] for begin, _ in answer.spans if begin > start]
        if edges:  # one collection: an axvline each costs 2 ms to make
            artists.append(self.ax.add_collection(LineCollection(edges, colors="white", lw=0.8), autolim=False))
        artists += [
            self.ax.add_patch(
                Rectangle((begin, -0.5), before - begin, n, fill=False, hatch="///", edgecolor="white", lw=0)
            )
            for begin, before, _ in answer.overlaps
        ]
        if duration - answer.covered > UNCOVERED:
            artists.append(self.ax.axvspan(answer.covered, duration, color="0.85"))
        for begin, end in answer.not_music:  # faded, and named: a client needs no colour to see it
            artists.append(self.ax.add_patch(Rectangle((begin, -0.5), end - begin, n, color="white", alpha=0.45, lw=0)))
            artists.append(
                self.ax.text(
                    (begin + end) / 2,
                    (n - 1) / 2,
                    "not music",
                    ha="center",
                    va="center",
                    rotation=90 if (end - begin) < 0.08 * (duration - start) else 0,
                )
            )
        if answer.top is not None:
            outline = Rectangle((start, answer.top - 0.5), duration - start, 1, fill=False, edgecolor="#ff2d55", lw=1.5)
            artists.append(self.ax.add_patch(outline))
        self.replace(*artists)
        self.texts(answer.title_lines, answer.caption_lines)
        self.ax.set(xlim=(start, duration), ylim=(n - 0.5, -0.5))
        return self


class _Answer:
    """What the genre-over-time figure says about an answer: its marks, title and caption, in lines."""

    def __init__(self, labels, window_probs, spans, duration, start, title, pending, caption, music=None) -> None:
        self.probs, self.spans, self.duration, self.start = window_probs, list(spans), duration, start
        music = np.ones(len(self.spans), bool) if music is None else np.asarray(music, bool)
        self.not_music = [span for span, heard in zip(self.spans, music, strict=True) if not heard]
        notes = [caption] if caption else []
        if self.not_music:
            notes.append('Faded, marked "not music": windows that do not sound like music.')
        if len(self.spans) > 1:
            notes.append("White lines: window edges.")
        self.overlaps, covered = [], None  # (start, end of the windows before, end) of each window that overlaps
        for begin, end in self.spans:
            if covered is not None and begin < covered:
                self.overlaps.append((begin, covered, end))
            covered = end if covered is None else max(covered, end)
        for begin, before, end in self.overlaps:
            notes.append(
                f"Hatched, {begin:.1f}–{before:.1f} s: the last window ({begin:.1f}–{end:.1f} s) overlaps the one "
                "before and is drawn over it."
            )
        self.covered = max(start, covered or start)
        if duration - self.covered > UNCOVERED:
            why = "still being classified…" if pending else "too short for a window of its own, not classified."
            notes.append(f"Grey, {self.covered:.1f}–{duration:.1f} s: {why}")
        self.top = None
        if len(window_probs) and not clip_is_music(music):
            title += ": not music overall"
        elif len(window_probs):  # the answer of the music windows, as `Prediction.probs`
            overall = clip_probs(np.asarray(window_probs), music)
            self.top = int(overall.argmax())
            title += f": {labels[self.top]} overall ({overall[self.top]:.0%}, outlined)"
        self.title_lines = wrap(title, TITLE_PT, WIDTH - 2 * PAD)
        self.caption_lines = wrap(" ".join(notes), CAPTION_PT, WIDTH - 2 * PAD)
        self.layout = (tuple(labels), self.top, len(self.title_lines), len(self.caption_lines))


@contextmanager
def drawn_timeline(
    labels: list[str],
    window_probs: np.ndarray,
    spans: list[tuple[float, float]],
    duration: float,
    start: float = 0.0,
    title: str = "Genre over time",
    pending: bool = False,
    caption: str = "",
    music: np.ndarray | None = None,
) -> Iterator[KeptFigure]:
    """Probability of every genre over time, one row per genre and one column per window, held for the caller.

    The overall answer (the mean over windows) is outlined; where the clip's last window overlaps the one
    before it, the shared span is hatched; time no window covers is grey (still to classify while `pending`;
    afterwards only a tail too short for a window of its own is left); windows that are not music are faded. A
    caption under the axes says what each of these marks means, after `caption`.
    """
    answer = _Answer(labels, window_probs, spans, duration, start, title, pending, caption, music)
    with DRAWING:
        yield kept(_Timeline, *answer.layout).update(answer)


def genre_timeline_image(*args, **kwargs) -> bytes:
    """`drawn_timeline` (same arguments) as the page shows it, encoded (webp)."""
    with drawn_timeline(*args, **kwargs) as plot:
        return plot.webp()


def plot_data(webp: bytes | None) -> PlotData | None:
    """A figure drawn and encoded by `plots` (from its kept figures, a tenth of a fresh figure's cost), as the data
    gr.Plot would make of a matplotlib figure."""
    if webp is None:
        return None
    return PlotData(type="matplotlib", plot="data:image/webp;base64," + base64.b64encode(webp).decode())
