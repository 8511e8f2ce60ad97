"""The Whisper-encoder presets end to end, from a config-only folder of whisper-base's true architecture (random
weights): fine-tuned two steps with the default augmentation, served, a real clip classified through the app's
windowing (30 s at 16 kHz) on PyTorch and on OpenVINO, and a clip shorter than a window padded to Whisper's frames."""

from __future__ import annotations

import json

import numpy as np
import pytest
from transformers import WhisperConfig

from genre_classifier.core.audio import load_audio
from genre_classifier.core.model import TransformerClassifier
from train import finetune, options

from .helpers import CLIPS, ServedApp, classify_file
from .test_train import gtzan_folder, run_here

pytestmark = pytest.mark.slow  # trains, converts and serves

# openai/whisper-base's encoder: 80 mel bins, 6 layers of width 512, 8 heads (its decoder is not used).
WHISPER_BASE = dict(
    num_mel_bins=80,
    d_model=512,
    encoder_layers=6,
    encoder_attention_heads=8,
    encoder_ffn_dim=2048,
    decoder_layers=6,
    decoder_attention_heads=8,
    decoder_ffn_dim=2048,
)


@pytest.fixture(scope="module")
def finetuned_whisper(tmp_path_factory):
    config_only = tmp_path_factory.mktemp("whisper_base_config")
    WhisperConfig(**WHISPER_BASE).save_pretrained(config_only)
    clips = gtzan_folder(tmp_path_factory.mktemp("gtzan14-5s"), seconds=5)
    out = tmp_path_factory.mktemp("finetuned") / "whisper-gtzan"
    with pytest.MonkeyPatch.context() as monkeypatch:
        run_here(
            finetune,
            monkeypatch,
            "--model",
            str(config_only),
            "--data",
            str(clips),
            "--output-dir",
            str(out),
            "--max-steps",
            "2",
            "--batch-size",
            "1",
            "--max-eval-samples",
            "1",
        )
    return out


def test_the_presets_name_whisper_small_and_base():
    assert options.PRESETS["whisper-small"].checkpoint == "openai/whisper-small"
    assert options.PRESETS["whisper-base"].checkpoint == "openai/whisper-base"


def test_whisper_fine_tunes_with_augmentation_and_serves_on_pytorch_and_openvino(
    finetuned_whisper, tmp_path, monkeypatch
):
    metrics = json.loads((finetuned_whisper / "metrics.json").read_text())
    assert "recorded" in metrics and 0 <= metrics["recorded"]["agreement"] <= 1
    card = (finetuned_whisper / "README.md").read_text()
    assert "recorded-like copies" in card and "augmentation" in card

    monkeypatch.setenv("RUNTIME", "openvino")  # the app's default (the rest of the suite stays on PyTorch)
    monkeypatch.setenv("OPENVINO_CACHE", str(tmp_path / "openvino"))
    classifier = TransformerClassifier.from_pretrained(str(finetuned_whisper), device="cpu")
    assert classifier.window_seconds == 30 and classifier.sampling_rate == 16000
    song = load_audio(CLIPS / "jazz.00000.wav", 16000).samples
    on_torch = classifier.classify(song)
    short = classifier.classify(song[: 5 * 16000])  # padded to Whisper's 3000 frames, as a 5 s upload is
    assert len(short.window_spans) == 1 and np.isclose(short.probs.sum(), 1)
    classifier.switch_runtime().join()
    assert classifier.runtime is not None
    on_openvino = classifier.classify(song)
    assert on_openvino.top == on_torch.top and np.abs(on_openvino.probs - on_torch.probs).max() < 0.01

    app = ServedApp({"MODEL_ID": str(finetuned_whisper)}, tmp_path / "app.log")
    try:
        label, summary, *_ = classify_file(app.client(), CLIPS / "jazz.00000.wav")
        assert "whisper, 30 s windows" in app.log and len(label["confidences"]) == 10 and summary
    finally:
        app.stop()
