"""The figures: on the clip's time axis, overlaps drawn honestly, the overall answer marked, every mark explained,
and all their text inside the figure and clear of other text, at every clip length the app accepts."""

from __future__ import annotations

import io
import itertools

import numpy as np
import pytest
from matplotlib.text import Text
from PIL import Image

from genre_classifier import GENRES
from genre_classifier.core.audio import window_starts
from genre_classifier.web.live import LIVE_CAPTION, LIVE_TITLE
from genre_classifier.web.plots import drawn_clip, drawn_timeline, genre_timeline_image

from .helpers import CLIPS


def probs(*tops: int) -> np.ndarray:
    rows = np.full((len(tops), len(GENRES)), 0.02)
    for row, top in zip(rows, tops, strict=True):
        row[top] = 1 - 0.02 * (len(GENRES) - 1)
    return rows


def pixels(image: bytes) -> np.ndarray:
    """An encoded figure as the page receives it, decoded."""
    return np.asarray(Image.open(io.BytesIO(image)).convert("RGB"), dtype=int)


def timeline(*args, **kwargs):
    """The app's genre-over-time figure with an answer drawn in, as it is encoded for the page."""
    with drawn_timeline(*args, **kwargs) as plot:
        return plot.fig


def caption(fig) -> str:
    """The text under the axes: the figure's texts but its title."""
    return " ".join(t.get_text().replace("\n", " ") for t in fig.texts if t.get_text() != fig.get_suptitle())


def test_the_figure_spans_the_clip_and_lines_up_with_the_other_plots():
    answer = (GENRES, probs(5, 5, 6), [(0, 30), (30, 60), (45, 75)])
    fig = timeline(*answer, duration=75.0)
    ax = fig.axes[0]
    assert ax.get_xlim() == (0, 75.0) and ax.get_xlabel() == "Time (s)"
    with drawn_clip(np.zeros(22050 * 75, dtype=np.float32) + 0.1, 22050) as (waveform, *_):
        # time lines up where figures share a column
        assert ax.get_position().x0 == waveform.ax.get_position().x0
        assert ax.get_position().x1 == waveform.ax.get_position().x1
    assert [t.get_text() for t in ax.get_yticklabels()] == GENRES
    assert "jazz overall" in fig.get_suptitle()  # jazz wins 2 windows of 3
    assert ax.get_yticklabels()[5].get_fontweight() == "bold"
    assert "Hatched, 45.0–60.0 s: the last window (45.0–75.0 s) overlaps the one before" in caption(fig)
    assert "White lines: window edges" in caption(fig) and "Grey" not in caption(fig)
    rgb = pixels(genre_timeline_image(*answer, duration=75.0))
    assert ((rgb.max(axis=2) - rgb.min(axis=2)) > 40).mean() > 0.3  # a drawn heat strip, not empty axes


def test_a_partial_answer_greys_the_time_still_to_classify_and_a_short_tail_is_explained():
    fig = timeline(GENRES, probs(2), [(0, 30)], duration=133.0, pending=True)
    assert fig.axes[0].get_xlim() == (0, 133.0)
    assert caption(fig) == "Grey, 30.0–133.0 s: still being classified…"
    done = timeline(GENRES, probs(2, 2), [(0, 30), (30, 60)], duration=61.5)
    assert "Grey, 60.0–61.5 s: too short for a window of its own, not classified." in caption(done)


def texts_drawn(fig) -> list[Text]:
    """Every piece of text the figure draws (tick labels only for ticks inside the axes' limits)."""
    tick_labels, shown = set(), set()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            lo, hi = sorted(axis.get_view_interval())
            locs = axis.get_majorticklocs()
            for tick in [*axis.majorTicks, *axis.minorTicks]:
                tick_labels |= {tick.label1, tick.label2}
            for tick, loc in zip(axis.get_major_ticks(len(locs)), locs, strict=True):
                if lo - 1e-9 * (hi - lo) <= loc <= hi + 1e-9 * (hi - lo):
                    shown |= {tick.label1, tick.label2}
    return [
        t
        for t in fig.findobj(Text)
        if t.get_visible() and t.get_text().strip() and (t not in tick_labels or t in shown)
    ]


@pytest.mark.parametrize("seconds", [0.5, 31.0, 45.8, 61.5, 600.0])
def test_every_text_is_inside_its_figure_and_over_no_other_text(seconds):
    sr, window = 22050, 30 * 22050  # at 22050 Hz the frequency axis reaches 11 kHz: five digits in Hz
    samples = np.random.default_rng(0).uniform(-0.5, 0.5, int(seconds * sr)).astype(np.float32)
    starts = window_starts(len(samples), window)
    spans = [(s / sr, min(s + window, len(samples)) / sr) for s in starts]
    answers = probs(*(i % len(GENRES) for i in range(len(spans))))
    start = max(0.0, seconds - 60)  # a live strip: the last minute of answers
    recent = [i for i, (_, end) in enumerate(spans) if end > start]
    with drawn_clip(samples, sr) as plots:
        check_texts(plots)
    for answer in [
        (GENRES, answers, spans, len(samples) / sr),
        (GENRES, answers[:1], spans[:1], len(samples) / sr, 0.0, "Genre over time", True),
        (GENRES, answers[recent], [spans[i] for i in recent], seconds, start, LIVE_TITLE, False, LIVE_CAPTION),
    ]:
        with drawn_timeline(*answer) as plot:
            check_texts([plot])


def check_texts(plots) -> None:
    """Every text of each figure, drawn and encoded as the page gets it, lies inside it and over no other."""
    for plot in plots:
        plot.webp()
        fig, renderer = plot.fig, plot.fig.canvas.get_renderer()
        box = fig.bbox
        extents = [(t.get_text(), t.get_window_extent(renderer)) for t in texts_drawn(fig)]
        assert len(extents) > 8
        for text, extent in extents:
            assert box.x0 <= extent.x0 and extent.x1 <= box.x1 and box.y0 <= extent.y0 and extent.y1 <= box.y1, text
        for (a, first), (b, second) in itertools.combinations(extents, 2):
            assert not first.overlaps(second), f"{a!r} is drawn over {b!r}"


def test_the_spectrograms_are_librosas_without_its_numba_kernels():
    """Same STFT, Slaney mel bands and dB scale as librosa's defaults (what the figures always showed)."""
    import librosa
    import soundfile as sf

    from genre_classifier.core.audio import resample
    from genre_classifier.web.plots import N_FFT, N_MELS, mel_frequencies, spectrograms

    clip, rate = sf.read(CLIPS / "jazz.00000.wav", dtype="float32")
    for sr, samples in [(rate, clip), (16000, resample(clip, rate, 16000)), (22050, clip[:20000])]:
        stft_db, mel_db = spectrograms(samples, sr)
        hop = max(N_FFT // 4, -(-len(samples) // 1000))
        magnitude = np.abs(librosa.stft(samples, n_fft=N_FFT, hop_length=hop))
        mel = librosa.feature.melspectrogram(S=magnitude**2, sr=sr, n_mels=N_MELS)
        np.testing.assert_allclose(stft_db, librosa.amplitude_to_db(magnitude, ref=np.max), atol=1e-3)
        np.testing.assert_allclose(mel_db, librosa.power_to_db(mel, ref=np.max), atol=1e-3)
        np.testing.assert_allclose(mel_frequencies(sr), librosa.mel_frequencies(n_mels=N_MELS, fmax=sr / 2))
