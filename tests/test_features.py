"""The features computed from audio match the GTZAN feature table the embedded model learnt from."""

import csv

import librosa
import numpy as np
import pytest

from genre_classifier.core.features import FEATURE_NAMES, extract_features

from .helpers import GTZAN, ROOT, needs_gtzan

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
