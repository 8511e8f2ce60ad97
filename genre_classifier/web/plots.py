"""Waveform, spectrogram and mel-spectrogram figures of a clip, and its genre over time.

One STFT feeds both spectrograms. Long clips are thinned for display only (a coarser hop, a
min/max waveform envelope), so a 10-minute file draws as fast as a short one. Figures are built
with `matplotlib.figure.Figure`, not pyplot, so concurrent requests share no plotting state.

The spectrograms are librosa's (`stft`, `feature.melspectrogram` with its Slaney mel bands, `amplitude_to_db`),
computed by the numpy replicas in `transformers.audio_utils`: librosa's own code compiles numba kernels on its
first call (13 s on a fresh start with librosa 0.11), which a Space pays after every restart.

The app draws through `clip_images` and `genre_timeline_image`: each kind of figure is kept per layout, its frame
(axes, ticks, labels, colour bar) drawn once, and an update draws only what changes over a copy of those pixels,
the spectrograms colour-mapped by numpy at the size they are shown; the images are encoded as webp once. The
`*_figure` functions build the same figures afresh, as matplotlib figures (the Live tab and the tests use them).
"""

from __future__ import annotations

import io
import math
import threading
from functools import cache, lru_cache

import numpy as np
from matplotlib import colormaps
from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.collections import LineCollection
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter, PercentFormatter
from PIL import Image
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
    ).astype(np.float32)  # fmt: skip (float32 as the spectrogram: a float64 product costs 4 x more)


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


def _wrap(text: str, points: float, inches: float) -> list[str]:
    """Words in lines no wider than `inches`, measured as the figure will draw them."""
    lines: list[str] = []
    for word in text.split():
        longer = f"{lines[-1]} {word}" if lines else word
        if lines and _width(longer, points) <= inches * DPI:
            lines[-1] = longer
        else:
            lines.append(word)
    return lines


@lru_cache(maxsize=4096)
def _width(text: str, points: float) -> float:
    """Pixels a line of text takes (measuring is most of a caption's cost, and captions repeat)."""
    return _measure().get_text_width_height_descent(text, FontProperties(size=points), False)[0]


@cache
def _measure():
    """A renderer at the figures' resolution, to measure text before a figure is laid out."""
    return FigureCanvasAgg(Figure(figsize=(1, 1), dpi=DPI)).get_renderer()


def _box(height: float, title_lines: int, caption_lines: int) -> tuple[float, float, float, float]:
    """The axes' place in figure fractions: the title above, the time axis and the caption below."""
    top = PAD + TITLE_PAD + title_lines * _line(TITLE_PT)
    bottom = PAD + X_AXIS + (caption_lines * _line(CAPTION_PT) + PAD if caption_lines else 0)
    return LEFT / WIDTH, bottom / height, (WIDTH - LEFT - RIGHT) / WIDTH, (height - top - bottom) / height


class _Plot:
    """One figure, laid out by arithmetic (matplotlib's layout engine costs 0.1 s a plot), whose data `update`
    replaces. `webp` draws it: the first time whole, keeping the frame's pixels; later only the artists that change
    (the data, the time axis, the title and the caption) over a copy of the frame, 5-10 x faster."""

    def __init__(self, height: float, title_lines: int = 1, caption_lines: int = 0, colorbar: bool = False) -> None:
        self.fig = Figure(figsize=(WIDTH, height), dpi=DPI)
        box = _box(height, title_lines, caption_lines)
        self.ax = self.fig.add_axes(box)
        self.title = self.fig.suptitle("", x=PAD / WIDTH, y=1 - PAD / height, ha="left", va="top", fontsize=TITLE_PT)
        self.caption = self.fig.text(PAD / WIDTH, PAD / height, "", fontsize=CAPTION_PT, color="0.25", va="bottom")
        self.ax.set_xlabel("Time (s)", fontsize=LABEL_PT)
        self.ax.tick_params(labelsize=TICK_PT)
        self.bar = None
        if colorbar:
            self.bar = self.fig.add_axes((box[0] + box[2] + BAR_GAP / WIDTH, box[1], BAR_WIDTH / WIDTH, box[3]))
            self.bar.tick_params(labelsize=TICK_PT)
        self.pixels = (round(box[3] * height * DPI), round(box[2] * WIDTH * DPI))  # the axes' (rows, columns)
        self.data: list[Artist] = []  # the artists of the current update, removed by the next
        self.pasted: np.ndarray | None = None  # the image of the current update, at the axes' pixel size
        self.kept = False  # reused by the app: drawn over a kept frame (see `webp`)
        self.canvas: FigureCanvasAgg | None = None
        self.frame, self.frames = None, {}

    def texts(self, title: list[str], caption: list[str]) -> None:
        self.title.set_text("\n".join(title))
        self.caption.set_text("\n".join(caption))

    def replace(self, *artists: Artist) -> None:
        """The artists that show this update's data, in place of the last update's."""
        for artist in self.data:
            artist.remove()
        self.data = list(artists)

    def image(self, rgba: np.ndarray, extent: tuple[float, float, float, float]) -> list[Artist]:
        """An image already at the axes' pixel size (coloured by numpy), shown pixel for pixel: a kept figure
        pastes it into the frame's pixels, a fresh one shows it with imshow."""
        self.pasted = rgba
        if self.kept:
            return []
        return [self.ax.imshow(rgba, extent=extent, aspect="auto", interpolation="nearest", origin="upper")]

    def webp(self) -> bytes:
        """The figure drawn and encoded. The time axis changes with the clip's length, so a frame is kept with it
        for each of the last few lengths."""
        if self.canvas is None:
            self.canvas = FigureCanvasAgg(self.fig)
            for artist in [self.ax.xaxis, *self.changing()]:
                artist.set_animated(True)  # left out of the frame
            self.canvas.draw()
            self.frame = self.canvas.copy_from_bbox(self.fig.bbox)
        limits = self.ax.get_xlim()
        if limits not in self.frames:
            if len(self.frames) >= 4:
                self.frames.pop(next(iter(self.frames)))
            self.canvas.restore_region(self.frame)
            self.fig.draw_artist(self.ax.xaxis)
            self.frames[limits] = self.canvas.copy_from_bbox(self.fig.bbox)
        self.canvas.restore_region(self.frames[limits])
        pixels = np.asarray(self.canvas.buffer_rgba())
        if self.pasted is not None:
            x0, y0 = self.ax.bbox.x0, self.fig.bbox.height - self.ax.bbox.y1  # from the top left
            rows, columns = self.pasted.shape[:2]
            area = pixels[round(y0) : round(y0) + rows, round(x0) : round(x0) + columns]
            opaque = self.pasted[..., 3:] > 0
            area[...] = np.where(opaque, self.pasted, area)
        for artist in self.changing():
            artist.set_animated(True)
            self.fig.draw_artist(artist)
        return encode(pixels)

    def changing(self) -> list[Artist]:
        """What is drawn over the frame at every update: the data, then the spines over its edges, and the texts."""
        return [*self.data, *self.ax.spines.values(), self.title, self.caption]


def encode(rgba: np.ndarray) -> bytes:
    """Webp as `gr.Plot(format="webp")` sends it (lossy, quality 80), at PIL's fastest method: 3 x faster than
    matplotlib's savefig (method 4), which compresses a little more; the figures are opaque, so no alpha."""
    buffer = io.BytesIO()
    Image.frombuffer("RGBA", rgba.shape[1::-1], rgba).convert("RGB").save(buffer, format="webp", quality=80, method=0)
    return buffer.getvalue()


_KEPT: dict[tuple, _Plot] = {}  # the app's figures, one per kind and layout
_DRAWING = threading.Lock()  # a kept figure is drawn for one request at a time


def _kept(kind: type[_Plot], *layout) -> _Plot:
    key = (kind, *layout)
    if key not in _KEPT:
        if len(_KEPT) > 64:  # layouts are few (line counts, the top genre); a bound all the same
            _KEPT.clear()
        _KEPT[key] = kind(*layout)
        _KEPT[key].kept = True
    return _KEPT[key]


def _hertz(hz: float, _position=None) -> str:
    return f"{hz / 1000:g}k" if hz >= 1000 else f"{hz:g}"  # "10k", not "10000": short labels fit the margin


@cache
def _lut(cmap: str) -> np.ndarray:
    return (colormaps[cmap](np.linspace(0, 1, 256)) * 255).round().astype(np.uint8)


def _colour(values: np.ndarray, vmin: float, vmax: float, cmap: str) -> np.ndarray:
    """Values as RGBA bytes through a colour map, as matplotlib's 256-colour maps pick them."""
    scaled = (values - vmin) * (256 / max(vmax - vmin, 1e-9))
    return _lut(cmap)[np.clip(scaled, 0, 255).astype(np.intp)]


@cache
def _resampling(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) weights that resample a length: a box filter when shrinking (each pixel the mean of the cells
    it covers), linear between cell centres when growing, as an anti-aliased image is drawn."""
    if n_out < n_in:
        edges = np.linspace(0, n_in, n_out + 1)
        cells = np.arange(n_in)
        weights = np.clip(np.minimum(edges[1:, None], cells + 1) - np.maximum(edges[:-1, None], cells), 0, None)
    else:
        centres = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
        low = np.minimum(np.floor(centres).astype(int), n_in - 2) if n_in > 1 else np.zeros(n_out, int)
        weights = np.zeros((n_out, n_in))
        frac = centres - low if n_in > 1 else np.zeros(n_out)
        weights[np.arange(n_out), low] = 1 - frac
        if n_in > 1:
            weights[np.arange(n_out), low + 1] = frac
    return (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32)


def _shown(db: np.ndarray, pixels: tuple[int, int]) -> np.ndarray:
    """A spectrogram (frequency up, time right) resampled to the axes' pixels, top row first."""
    rows, columns = pixels
    return (_resampling(db.shape[0], rows) @ db.astype(np.float32) @ _resampling(db.shape[1], columns).T)[::-1]


class _Waveform(_Plot):
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


class _Spectrogram(_Plot):
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
        rgba = _colour(_shown(db, self.pixels), self.vmin, self.vmax, "magma")
        self.replace(*self.image(rgba, (0, duration, 0, self.top)))
        self.ax.set(xlim=(0, duration), ylim=(0, self.top))
        return self


def _range(db: np.ndarray) -> tuple[float, float]:
    """The colour bar's range: the data's, as imshow would scale it (0 to -80 dB for nearly every clip)."""
    return float(db.min()), float(db.max())


def waveform_figure(samples: np.ndarray, sr: int) -> Figure:
    """Amplitude over time; long clips are drawn as their min/max envelope."""
    return _Waveform().update(samples, sr).fig


def spectrogram_figure(stft_db: np.ndarray, sr: int, duration: float) -> Figure:
    """Linear-frequency spectrogram in dB, 0 Hz to Nyquist."""
    return _Spectrogram(sr, *_range(stft_db)).update(stft_db, duration).fig


def mel_figure(mel_db: np.ndarray, sr: int, duration: float) -> Figure:
    """128-band mel spectrogram in dB, its bands labelled with their frequency in Hz."""
    return _Spectrogram(sr, *_range(mel_db), mel=True).update(mel_db, duration).fig


def clip_figures(samples: np.ndarray, sr: int) -> tuple[Figure, Figure, Figure]:
    """The three figures the app shows for a clip."""
    duration = len(samples) / sr
    stft_db, mel_db = spectrograms(samples, sr)
    return waveform_figure(samples, sr), spectrogram_figure(stft_db, sr, duration), mel_figure(mel_db, sr, duration)


def clip_images(samples: np.ndarray, sr: int) -> tuple[bytes, bytes, bytes]:
    """The three figures of `clip_figures` as the page shows them, encoded (webp), from the kept figures."""
    duration = len(samples) / sr
    stft_db, mel_db = spectrograms(samples, sr)
    with _DRAWING:
        return (
            _kept(_Waveform).update(samples, sr).webp(),
            _kept(_Spectrogram, sr, *_range(stft_db)).update(stft_db, duration).webp(),
            _kept(_Spectrogram, sr, *_range(mel_db), True).update(mel_db, duration).webp(),
        )


class _Timeline(_Plot):
    """Probability of every genre over time, one row per genre; `layout` is what `_timeline_layout` gives."""

    def __init__(self, labels: tuple[str, ...], top: int | None, title_lines: int, caption_lines: int) -> None:
        super().__init__(TIMELINE_HEIGHT, title_lines, caption_lines, colorbar=top is not None)
        self.labels = labels
        n = len(labels)
        self.ax.set_yticks(range(n), labels)
        self.ax.set_ylim(n - 0.5, -0.5)
        if top is not None:
            self.ax.get_yticklabels()[top].set_fontweight("bold")
            self.fig.colorbar(ScalarMappable(Normalize(0, 1), "viridis"), cax=self.bar,
                              format=PercentFormatter(1.0, decimals=0))  # fmt: skip

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
        colours = _colour(grid, 0, 1, "viridis")
        colours[:, which < 0, 3] = 0  # time no window covers: the axes' own background
        rgba = colours[(np.arange(rows) * n) // rows]  # each genre's row of colours, as many pixels high as it is
        artists = self.image(rgba, (start, duration, n - 0.5, -0.5))
        edges = [[(begin, -0.5), (begin, n - 0.5)] for begin, _ in answer.spans if begin > start]
        if edges:  # one collection: an axvline each costs 2 ms to make
            artists.append(self.ax.add_collection(LineCollection(edges, colors="white", lw=0.8), autolim=False))
        artists += [
            self.ax.add_patch(
                Rectangle((begin, -0.5), before - begin, n, fill=False, hatch="///", edgecolor="white", lw=0)
            )  # fmt: skip
            for begin, before, _ in answer.overlaps
        ]
        if duration - answer.covered > UNCOVERED:
            artists.append(self.ax.axvspan(answer.covered, duration, color="0.85"))
        for begin, end in answer.not_music:  # faded, and named: a client needs no colour to see it
            artists.append(self.ax.add_patch(Rectangle((begin, -0.5), end - begin, n, color="white", alpha=0.45, lw=0)))
            artists.append(self.ax.text((begin + end) / 2, (n - 1) / 2, "not music", ha="center", va="center",
                                        rotation=90 if (end - begin) < 0.08 * (duration - start) else 0))  # fmt: skip
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
            notes.append("Faded, marked \"not music\": windows that do not sound like music.")
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
        if len(window_probs) and music.mean() < 0.5:
            title += ": not music overall"
        elif len(window_probs):  # the answer of the music windows, as `Prediction.probs`
            overall = np.asarray(window_probs)[music].mean(axis=0)
            self.top = int(overall.argmax())
            title += f": {labels[self.top]} overall ({overall[self.top]:.0%}, outlined)"
        self.title_lines = _wrap(title, TITLE_PT, WIDTH - 2 * PAD)
        self.caption_lines = _wrap(" ".join(notes), CAPTION_PT, WIDTH - 2 * PAD)
        self.layout = (tuple(labels), self.top, len(self.title_lines), len(self.caption_lines))


def genre_timeline_figure(
    labels: list[str],
    window_probs: np.ndarray,
    spans: list[tuple[float, float]],
    duration: float,
    start: float = 0.0,
    title: str = "Genre over time",
    pending: bool = False,
    caption: str = "",
    music: np.ndarray | None = None,
) -> Figure:
    """Probability of every genre over time, one row per genre and one column per window.

    The overall answer (the mean over windows) is outlined; where the clip's last window overlaps the one
    before it, the shared span is hatched; time no window covers is grey (still to classify while `pending`;
    afterwards only a tail too short for a window of its own is left). A caption under the axes says what each
    of these marks means, after `caption`.
    """
    answer = _Answer(labels, window_probs, spans, duration, start, title, pending, caption, music)
    return _Timeline(*answer.layout).update(answer).fig


def genre_timeline_image(
    labels: list[str],
    window_probs: np.ndarray,
    spans: list[tuple[float, float]],
    duration: float,
    start: float = 0.0,
    title: str = "Genre over time",
    pending: bool = False,
    caption: str = "",
    music: np.ndarray | None = None,
) -> bytes:
    """`genre_timeline_figure` as the page shows it, encoded (webp), from the kept figure of its layout."""
    answer = _Answer(labels, window_probs, spans, duration, start, title, pending, caption, music)
    with _DRAWING:
        return _kept(_Timeline, *answer.layout).update(answer).webp()
