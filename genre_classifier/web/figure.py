"""The app's figures, drawn fast: laid out by arithmetic, kept per layout and updated over a copy of their frame's
pixels (`KeptFigure`), coloured by numpy and encoded as webp. The kinds of figure are in `plots.py`."""

from __future__ import annotations

import io
import threading
from functools import cache, lru_cache

import numpy as np
from matplotlib import colormaps
from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from PIL import Image

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


def line_height(points: float) -> float:
    return 1.25 * points / 72  # inches per line of text


def wrap(text: str, points: float, inches: float) -> list[str]:
    """Words in lines no wider than `inches`, measured as the figure will draw them."""
    lines: list[str] = []
    for word in text.split():
        longer = f"{lines[-1]} {word}" if lines else word
        if lines and text_width(longer, points) <= inches * DPI:
            lines[-1] = longer
        else:
            lines.append(word)
    return lines


@lru_cache(maxsize=4096)
def text_width(text: str, points: float) -> float:
    """Pixels a line of text takes (measuring is most of a caption's cost, and captions repeat)."""
    return _measure().get_text_width_height_descent(text, FontProperties(size=points), False)[0]


@cache
def _measure():
    """A renderer at the figures' resolution, to measure text before a figure is laid out."""
    return FigureCanvasAgg(Figure(figsize=(1, 1), dpi=DPI)).get_renderer()


def axes_box(height: float, title_lines: int, caption_lines: int) -> tuple[float, float, float, float]:
    """The axes' place in figure fractions: the title above, the time axis and the caption below."""
    top = PAD + TITLE_PAD + title_lines * line_height(TITLE_PT)
    bottom = PAD + X_AXIS + (caption_lines * line_height(CAPTION_PT) + PAD if caption_lines else 0)
    return LEFT / WIDTH, bottom / height, (WIDTH - LEFT - RIGHT) / WIDTH, (height - top - bottom) / height


class KeptFigure:
    """One figure, laid out by arithmetic (matplotlib's layout engine costs 0.1 s a plot), whose data `update`
    replaces. `webp` draws it: the first time whole, keeping the frame's pixels; later only the artists that change
    (the data, the time axis, the title and the caption) over a copy of the frame, 5-10 x faster."""

    def __init__(self, height: float, title_lines: int = 1, caption_lines: int = 0, colorbar: bool = False) -> None:
        self.fig = Figure(figsize=(WIDTH, height), dpi=DPI)
        box = axes_box(height, title_lines, caption_lines)
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

    def image(self, rgba: np.ndarray) -> None:
        """An image already at the axes' pixel size (coloured by numpy), pasted pixel for pixel into the frame."""
        self.pasted = rgba

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


_KEPT: dict[tuple, KeptFigure] = {}  # the app's figures, one per kind and layout
DRAWING = threading.Lock()  # a kept figure is drawn for one request at a time


def kept(kind: type[KeptFigure], *layout) -> KeptFigure:
    key = (kind, *layout)
    if key not in _KEPT:
        if len(_KEPT) > 64:  # layouts are few (line counts, the top genre); a bound all the same
            _KEPT.clear()
        _KEPT[key] = kind(*layout)
    return _KEPT[key]


@cache
def _lut(cmap: str) -> np.ndarray:
    return (colormaps[cmap](np.linspace(0, 1, 256)) * 255).round().astype(np.uint8)


def colour(values: np.ndarray, vmin: float, vmax: float, cmap: str) -> np.ndarray:
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


def shown(db: np.ndarray, pixels: tuple[int, int]) -> np.ndarray:
    """A spectrogram (frequency up, time right) resampled to the axes' pixels, top row first."""
    rows, columns = pixels
    return (_resampling(db.shape[0], rows) @ db.astype(np.float32) @ _resampling(db.shape[1], columns).T)[::-1]
