"""Session fixtures: random-weight models of the true architectures, and the app served for real."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from .helpers import ROOT, ServedApp, hubert_extractor, save_distilhubert, save_random_model, tiny_hubert_config
from .synthetic import write_dataset

# PyTorch's forward everywhere but in test_runtime.py: a switch to OpenVINO converts the model (10-20 s) beside the
# test, in this process or an app's (which inherit this environment).
os.environ.setdefault("RUNTIME", "torch")

# Fixtures that start an app or train a model: a test that uses one is slow (`python -m pytest -m "not slow"` runs
# the unit tests alone). Tests that start a browser, pip, torchrun or an app themselves say so with the mark.
SLOW_FIXTURES = {"served_distilhubert", "served_baseline", "served_tiny", "served_small_server", "learned"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def distilhubert_dir(tmp_path_factory) -> Path:
    return save_distilhubert(tmp_path_factory.mktemp("distilhubert"))


@pytest.fixture(scope="session")
def tiny_hubert_dir(tmp_path_factory) -> Path:
    """A tiny HuBERT of the same classes with random weights, for fast tests (windows of 30 s)."""
    return save_random_model(tiny_hubert_config(), tmp_path_factory.mktemp("tiny_hubert"), hubert_extractor())


@pytest.fixture(scope="session")
def served_distilhubert(distilhubert_dir, tmp_path_factory):
    app = ServedApp({"MODEL_ID": str(distilhubert_dir)}, tmp_path_factory.mktemp("logs") / "distilhubert.log")
    yield app
    app.stop()


@pytest.fixture(scope="session")
def served_baseline(tmp_path_factory):
    app = ServedApp({"MODEL_ID": "baseline"}, tmp_path_factory.mktemp("logs") / "baseline.log")
    yield app
    app.stop()


@pytest.fixture(scope="session")
def served_tiny(tiny_hubert_dir, tmp_path_factory):
    """A fast model of the true classes, for tests about the app's limits rather than the model's speed."""
    app = ServedApp({"MODEL_ID": str(tiny_hubert_dir)}, tmp_path_factory.mktemp("logs") / "tiny.log")
    yield app
    app.stop()


@pytest.fixture(scope="session")
def served_small_server(tiny_hubert_dir, tmp_path_factory):
    """A constrained machine: uploads limited to 1 MB, and no FFmpeg on the PATH."""
    empty = tmp_path_factory.mktemp("no-ffmpeg")
    env = {"MODEL_ID": str(tiny_hubert_dir), "MAX_FILE_SIZE": "1mb", "PATH": str(empty)}
    app = ServedApp(env, tmp_path_factory.mktemp("logs") / "small.log")
    yield app
    app.stop()


@pytest.fixture(scope="session")
def synthetic(tmp_path_factory) -> Path:
    """The synthetic ten-class task, 20 clips per genre."""
    return write_dataset(tmp_path_factory.mktemp("synthetic"), per_genre=20)


@pytest.fixture(scope="session")
def tiny_config(tmp_path_factory) -> Path:
    """A config-only folder (finetune.py initialises it randomly) of the tiny HuBERT."""
    out = tmp_path_factory.mktemp("tiny_config")
    tiny_hubert_config().save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def learned(synthetic, tiny_config, tmp_path_factory) -> Path:
    """The tiny HuBERT fine-tuned on the synthetic task by train/finetune.py: a model that has learned something."""
    from train import finetune

    out = tmp_path_factory.mktemp("learned") / "tiny"
    # In this process (the command's fresh-process forms have tests of their own); tones and clicks, not
    # recordings, so no recorded-like augmentation (test_recorded.py and test_whisper.py train with it).
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(
            sys,
            "argv",
            [
                "finetune",
                "--model",
                str(tiny_config),
                "--data",
                str(synthetic),
                "--output-dir",
                str(out),
                "--epochs",
                "6",
                "--batch-size",
                "16",
                "--learning-rate",
                "3e-3",
                "--augment",
                "none",
            ],
        )
        finetune.main()
    return out


@pytest.fixture(scope="session")
def speech_wav() -> Path:
    """22 s of a real person talking: a telephone prompt read by a voice artist (tests/data/ATTRIBUTION.md)."""
    return ROOT / "tests" / "data" / "speech-en-phone.ogg"
