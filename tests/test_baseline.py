"""The embedded offline model: small, loadable, and the same answers train/baseline.py reported."""

import json

import numpy as np

from genre_classifier import GENRES
from genre_classifier.core.baseline import WEIGHTS_PATH, BaselineModel
from genre_classifier.core.model import BaselineClassifier
from train.baseline import HELDOUT, load_table, predict_heldout

from .helpers import EXAMPLES, GTZAN, ROOT, needs_gtzan

RESULTS = json.loads((ROOT / "train" / "results" / "baseline.json").read_text())


def test_weights_file_is_small_and_complete():
    assert WEIGHTS_PATH.stat().st_size < 1_000_000
    model = BaselineModel.load()
    assert model.labels == GENRES
    assert model.cv_accuracy == RESULTS["cv_accuracy"]


def test_held_out_clips_are_not_in_the_training_rows():
    x, y = load_table()
    assert len(y) == 1000 - len(HELDOUT) == RESULTS["train_rows"]


@needs_gtzan
def test_stored_model_reproduces_the_reported_held_out_predictions():
    assert predict_heldout(BaselineModel.load(), GTZAN) == RESULTS["heldout_predictions"]


def test_stored_model_fits_its_training_table():
    x, y = load_table()
    assert (BaselineModel.load().predict_proba(x).argmax(axis=1) == y).mean() > 0.85


def test_offline_classifier_says_what_it_is():
    classifier = BaselineClassifier()
    assert "Offline model" in classifier.description
    assert f"{RESULTS['cv_accuracy']:.1%}" in classifier.description
    probs = classifier.predict_windows(np.random.default_rng(0).uniform(-0.3, 0.3, (1, 22050)).astype(np.float32))
    assert probs.shape == (1, 10) and np.isclose(probs.sum(), 1)


def test_long_clip_is_classified_per_30_s_window_and_averaged():
    classifier = BaselineClassifier()
    clip = classifier.decode(EXAMPLES / "vibe_ace.ogg")  # 61.5 s: windows at 0 and 30 s
    prediction = classifier.classify(clip.samples)
    assert [(round(a), round(b)) for a, b in prediction.window_spans] == [(0, 30), (30, 60)]
    np.testing.assert_allclose(prediction.probs, prediction.window_probs.mean(axis=0))
    np.testing.assert_allclose(prediction.window_probs.sum(axis=1), 1)
