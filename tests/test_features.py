"""The features computed from audio match the GTZAN feature table the embedded model learnt from."""

import csv

import librosa
import numpy as np
import pytest
from scipy.ndimage import median_filter

from genre_classifier.core.features import FEATURE_NAMES, _hpss, _median_along_rows, extract_features

from .helpers import EXAMPLES, GTZAN, ROOT, needs_gtzan

CLIPS = sorted(p.stem for p in GTZAN.glob("*.wav")) or ["blues.00000"]  # without GTZAN_DIR: one skipped
NEAR_ZERO = {"harmony_mean", "perceptr_mean"}  # means of zero-mean signals: compared absolutely


@pytest.fixture(scope="module")
def table() -> dict[str, dict[str, str]]:
    with open(ROOT / "train" / "data" / "features_30_sec.csv", newline="") as f:
        return {row["filename"].rsplit(".", 1)[0]: row for row in csv.DictReader(f)}


def test_feature_names_follow_the_table_columns(table):
    assert list(next(iter(table.values())))[2:-1] == FEATURE_NAMES


@needs_gtzan
def test_all_fourteen_real_clips_are_there():
    assert len(CLIPS) == 14


@needs_gtzan
@pytest.mark.parametrize("clip", CLIPS)
def test_features_match_the_table(table, clip):
    y, sr = librosa.load(GTZAN / f"{clip}.wav", sr=22050)
    ours = dict(zip(FEATURE_NAMES, extract_features(y, sr), strict=True))
    for name, value in ours.items():
        expected = float(table[clip][name])
        if name in NEAR_ZERO:
            assert abs(value - expected) < 1e-3, name
        else:
            assert value == pytest.approx(expected, rel=0.02), name


def test_short_clip_gets_finite_features():
    y = librosa.tone(440, sr=22050, duration=0.6)
    assert np.isfinite(extract_features(y)).all()


def test_the_harmonic_and_percussive_parts_are_librosas():
    """The HPSS median filters, run as one line of rows for speed, are scipy's 2-D ones exactly, and the parts of real
    music librosa's (to float32 rounding: librosa multiplies magnitude and phase apart)."""
    y, _ = librosa.load(EXAMPLES / "vibe_ace.ogg", sr=22050, duration=10)
    stft = librosa.stft(y, pad_mode="reflect")
    mag = np.abs(stft)
    np.testing.assert_array_equal(_median_along_rows(mag, 31), median_filter(mag, size=(1, 31), mode="reflect"))
    for ours, theirs in zip(_hpss(stft), librosa.decompose.hpss(stft), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
