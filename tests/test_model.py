"""Checkpoint loading (Hub-id code path, local folders, fallback) and window aggregation."""

import time

import numpy as np
import pytest

from genre_classifier import GENRES
from genre_classifier.audio import load_audio
from genre_classifier.model import BaselineClassifier, Classifier, Prediction, TransformerClassifier, load_classifier

from .helpers import GTZAN, MUSIC, save_ast


class FixedClassifier(Classifier):
    """Returns preset per-window probabilities, to check what `classify` does with them."""

    labels = ["a", "b"]
    sampling_rate = 100
    window_seconds = 1.0
    batch_size = 2

    def __init__(self, per_window):
        self.per_window = iter(per_window)
        self.batches = []

    def predict_windows(self, windows):
        self.batches.append(len(windows))
        return np.array([next(self.per_window) for _ in windows])


def test_clip_of_exactly_two_windows_gives_two_rows_and_their_mean():
    classifier = FixedClassifier([[0.9, 0.1], [0.3, 0.7]])
    prediction = classifier.classify(np.ones(200, dtype=np.float32))
    assert prediction.window_spans == [(0.0, 1.0), (1.0, 2.0)]
    np.testing.assert_allclose(prediction.probs, [0.6, 0.4])
    assert prediction.top == "a" and prediction.confidences() == pytest.approx({"a": 0.6, "b": 0.4})


def test_windows_are_classified_in_batches_and_progress_is_reported():
    classifier = FixedClassifier([[1.0, 0.0]] * 5)
    done = []
    prediction = classifier.classify(np.ones(500, dtype=np.float32), done.append)
    assert classifier.batches == [2, 2, 1] and done == [0.4, 0.8, 1.0]
    assert len(prediction.window_probs) == 5


def test_prediction_mean_is_over_windows():
    p = Prediction(["x", "y", "z"], np.array([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]]), [(0, 1), (1, 2)])
    np.testing.assert_allclose(p.probs, [0.4, 0.3, 0.3])
    assert p.top == "x"


def test_true_size_distilhubert_loads_through_the_hub_code_path(distilhubert_dir):
    classifier, reason = load_classifier(str(distilhubert_dir))
    assert reason is None and isinstance(classifier, TransformerClassifier)
    assert classifier.labels == GENRES and classifier.sampling_rate == 16000 and classifier.window_seconds == 30
    assert sum(p.numel() for p in classifier.model.parameters()) > 23_000_000  # the real size, ~23.5 M
    clip = classifier.load(GTZAN / "metal.00000.wav")
    prediction = classifier.classify(clip.samples)
    assert len(prediction.window_spans) == 1
    assert prediction.probs.sum() == pytest.approx(1, abs=1e-5)


def test_ast_windows_follow_its_max_length(tmp_path):
    path = save_ast(tmp_path / "ast")
    classifier, reason = load_classifier(str(path))
    assert reason is None and classifier.window_seconds == pytest.approx(10.24)
    clip = load_audio(MUSIC / "Hungarian_Dance_number_5_-_Allegro_in_F_sharp_minor_(string_orchestra).hq.ogg", 16000)
    prediction = classifier.classify(clip.samples[: 16000 * 21])  # 21 s: two 10.24 s windows (tail < 1/4)
    assert len(prediction.window_spans) == 2
    assert prediction.window_probs.shape == (2, 10)
    np.testing.assert_allclose(prediction.window_probs.sum(axis=1), 1, atol=1e-5)


def test_tiny_model_classifies_long_clip_window_by_window(tiny_hubert_dir):
    classifier, _ = load_classifier(str(tiny_hubert_dir))
    clip = classifier.load(MUSIC / "Kevin_MacLeod_-_Vibe_Ace.ogg")  # 61.5 s
    prediction = classifier.classify(clip.samples)
    assert [round(s) for s, _ in prediction.window_spans] == [0, 30]
    np.testing.assert_allclose(prediction.probs, prediction.window_probs.mean(axis=0))


def test_baseline_id_selects_the_embedded_model():
    classifier, reason = load_classifier("baseline")
    assert isinstance(classifier, BaselineClassifier) and reason is None


def test_unreachable_checkpoint_falls_back_to_the_embedded_model_quickly(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    start = time.monotonic()
    classifier, reason = load_classifier("sanchit-gandhi/distilhubert-finetuned-gtzan")
    assert time.monotonic() - start < 10
    assert isinstance(classifier, BaselineClassifier)
    assert "sanchit-gandhi/distilhubert-finetuned-gtzan could not be loaded" in reason


def test_folder_that_is_not_a_checkpoint_falls_back(tmp_path):
    (tmp_path / "notes.txt").write_text("not a model")
    classifier, reason = load_classifier(str(tmp_path))
    assert isinstance(classifier, BaselineClassifier) and "could not be loaded" in reason
