"""Checkpoint loading (Hub-id code path, local folders, fallback) and window aggregation."""

import logging
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
import torch

from genre_classifier import GENRES
from genre_classifier.core.audio import load_audio
from genre_classifier.core.loading import load_classifier
from genre_classifier.core.model import (
    BaselineClassifier,
    Classifier,
    Prediction,
    TransformerClassifier,
)
from genre_classifier.core.settings import Settings

from .helpers import CLIPS, DISTILHUBERT_CONFIG, EXAMPLES, ROOT, save_ast


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


def test_windows_are_classified_in_batches_and_each_batch_gives_the_answer_so_far():
    per_window = [[1.0, 0.0]] * 4 + [[0.0, 1.0]]
    classifier = FixedClassifier(per_window)
    answers = list(classifier.predictions(np.ones(500, dtype=np.float32)))
    assert classifier.batches == [2, 2, 1]
    assert [len(a.window_spans) for a in answers] == [2, 4, 5] and [a.complete for a in answers] == [0, 0, 1]
    np.testing.assert_allclose(answers[-1].probs, [0.8, 0.2])
    np.testing.assert_allclose(FixedClassifier(per_window).classify(np.ones(500, dtype=np.float32)).probs, [0.8, 0.2])


def test_prediction_mean_is_over_windows():
    p = Prediction(["x", "y", "z"], np.array([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]]), [(0, 1), (1, 2)])
    np.testing.assert_allclose(p.probs, [0.4, 0.3, 0.3])
    assert p.top == "x"


def test_true_size_distilhubert_loads_through_the_hub_code_path(distilhubert_dir):
    classifier, reason = load_classifier(str(distilhubert_dir))
    assert reason is None and isinstance(classifier, TransformerClassifier)
    assert classifier.labels == GENRES and classifier.sampling_rate == 16000 and classifier.window_seconds == 30
    assert sum(p.numel() for p in classifier.model.parameters()) > 23_000_000  # the real size, ~23.5 M
    clip = classifier.decode(CLIPS / "metal.00000.wav")
    prediction = classifier.classify(clip.samples)
    assert len(prediction.window_spans) == 1
    assert prediction.probs.sum() == pytest.approx(1, abs=1e-5)


def test_ast_windows_follow_its_max_length(tmp_path):
    path = save_ast(tmp_path / "ast")
    classifier, reason = load_classifier(str(path))
    assert reason is None and classifier.window_seconds == pytest.approx(10.24)
    clip = load_audio(EXAMPLES / "hungarian_dance_5.ogg", 16000)
    prediction = classifier.classify(clip.samples[: 16000 * 21])  # 21 s: two 10.24 s windows (tail < 1/4)
    assert len(prediction.window_spans) == 2
    assert prediction.window_probs.shape == (2, 10)
    np.testing.assert_allclose(prediction.window_probs.sum(axis=1), 1, atol=1e-5)


def test_tiny_model_classifies_long_clip_window_by_window(tiny_hubert_dir):
    classifier, _ = load_classifier(str(tiny_hubert_dir))
    clip = classifier.decode(EXAMPLES / "vibe_ace.ogg")  # 61.5 s
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
    assert "sanchit-gandhi/distilhubert-finetuned-gtzan could not be loaded: the Hub is switched off" in reason


def bert_checkpoint(out):
    """A text model: a real checkpoint, but not an audio classifier."""
    from transformers import BertConfig, BertModel

    config = BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
    BertModel(config).save_pretrained(out)
    return out


def speech_command_checkpoint(out):
    """An audio classifier of other classes (keyword spotting)."""
    from transformers import AutoConfig

    from .helpers import TINY_HUBERT, hubert_extractor, save_random_model

    config = AutoConfig.from_pretrained(
        DISTILHUBERT_CONFIG,
        num_labels=3,
        id2label={0: "yes", 1: "no", 2: "up"},
        label2id={"yes": 0, "no": 1, "up": 2},
        **TINY_HUBERT,
    )
    return save_random_model(config, out, hubert_extractor())


@pytest.mark.parametrize(
    "make, cause",
    [
        (lambda tmp: tmp / "no" / "such" / "folder", "the folder {} does not exist"),
        (lambda tmp: (tmp / "notes.txt").write_text("not a model") and tmp, "the folder holds no config.json"),
        (lambda tmp: bert_checkpoint(tmp / "bert"), "it is a bert model, not an audio classifier"),
        (lambda tmp: speech_command_checkpoint(tmp / "kws"), "its labels (yes, no, up) are not the ten GTZAN genres"),
    ],
    ids=["missing-folder", "not-a-checkpoint", "text-model", "other-labels"],
)
def test_the_fallback_names_the_cause_in_words(tmp_path, make, cause):
    model_id = str(make(tmp_path))
    classifier, reason = load_classifier(model_id)
    assert isinstance(classifier, BaselineClassifier)
    assert reason.startswith(f"The checkpoint {model_id} could not be loaded: {cause.format(model_id)}"), reason


def test_a_device_this_machine_lacks_is_named_not_blamed_on_the_checkpoint(tiny_hubert_dir, caplog):
    if torch.cuda.device_count() > 7:
        pytest.skip("this machine has a cuda:7")
    classifier, reason = load_classifier(str(tiny_hubert_dir), Settings(device="cuda:7"))
    assert isinstance(classifier, BaselineClassifier)
    assert reason.startswith(
        f"The checkpoint {tiny_hubert_dir} could not be loaded: it cannot be placed on the device cuda:7 (DEVICE): "
    ), reason
    # The operator sees the traceback in the log, not only at DEBUG
    records = [r for r in caplog.records if r.levelno >= logging.WARNING and r.exc_info]
    assert records and "cuda:7" in records[0].getMessage()


def test_the_longest_stretch_analysed_is_the_settings_for_every_model_loaded(tiny_hubert_dir):
    """MAX_DURATION_S bounds the checkpoint, the embedded model, and the fallback alike: each clip is cut there."""
    settings = Settings(device="cpu", max_seconds=45.0)
    loaded = [load_classifier(model_id, settings) for model_id in (str(tiny_hubert_dir), "baseline", "./no-such")]
    assert [reason is None for _, reason in loaded] == [True, True, False]
    for classifier, _ in loaded:
        clip = classifier.decode(EXAMPLES / "lets_go_fishin.ogg")  # 2:13
        assert classifier.max_seconds == 45.0 and len(clip.samples) == 45 * classifier.sampling_rate


@pytest.mark.parametrize(
    "error, cause",
    [
        (
            lambda: torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
            "there is not enough memory to load it (CUDA out of memory. Tried to allocate 2.00 GiB)",
        ),
        (
            lambda: RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 4000000000 bytes."),
            "there is not enough memory to load it (DefaultCPUAllocator: can't allocate memory",
        ),
        (
            lambda: ValueError("safetensors header is invalid"),
            "its files could not be read as a checkpoint (ValueError: safetensors header is invalid)",
        ),
    ],
    ids=["gpu-memory", "cpu-memory", "other"],
)
def test_a_load_failure_says_its_real_cause(tiny_hubert_dir, monkeypatch, error, cause):
    from transformers import AutoModelForAudioClassification

    def fail(*args, **kwargs):
        raise error()

    monkeypatch.setattr(AutoModelForAudioClassification, "from_pretrained", fail)
    classifier, reason = load_classifier(str(tiny_hubert_dir), Settings(device="cpu"))
    assert isinstance(classifier, BaselineClassifier)
    assert reason.startswith(f"The checkpoint {tiny_hubert_dir} could not be loaded: {cause}"), reason


class RepoNotFoundHub(BaseHTTPRequestHandler):
    """Answers like the Hub does for a repo that does not exist (or is private and no token was sent)."""

    def do_GET(self):  # noqa: N802 (http.server's naming)
        self.send_response(401)
        self.send_header("X-Error-Code", "RepoNotFound")
        self.send_header("X-Error-Message", "Repository not found")
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_HEAD = do_GET  # noqa: N815

    def log_message(self, *args):
        pass


@pytest.mark.slow
def test_an_unknown_hub_repo_is_named_as_such(tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), RepoNotFoundHub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {**os.environ, "HF_ENDPOINT": f"http://127.0.0.1:{server.server_port}", "HF_HOME": str(tmp_path)}
    env.pop("HF_HUB_OFFLINE", None)
    code = (
        "from genre_classifier.core.loading import load_classifier; print(load_classifier('nobody/no-such-model')[1])"
    )
    try:
        result = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )
    finally:
        server.shutdown()
    assert "nobody/no-such-model could not be loaded: no such repo on the Hub, or it is private" in result.stdout, (
        result.stdout + result.stderr[-2000:]
    )


def test_a_runtime_that_takes_over_mid_clip_answers_from_the_next_clip_on(tiny_hubert_dir):
    """OpenVINO takes the forward whenever its conversion is ready; a clip under way keeps the runtime it began with,
    so that no clip is answered half by one runtime, half by another."""
    classifier = load_classifier(str(tiny_hubert_dir))[0]
    clip = classifier.decode(EXAMPLES / "lets_go_fishin.ogg")  # 2:13: five 30 s windows, one at a time on a CPU
    answered = []

    def other_runtime(batch: dict) -> np.ndarray:  # the same contract as runtime.Forward: counted PyTorch
        answered.append(len(batch["input_values"]))
        return classifier._torch_forward(batch)

    steps = classifier.predictions(clip)
    next(steps)
    classifier.runtime = other_runtime  # as `_take_runtime` swaps it in, between two windows
    *_, whole = steps
    assert len(whole.window_spans) == 5 and answered == []
    classifier.classify(clip)
    assert sum(answered) == 5
