"""Session fixtures: random-weight models of the true architectures, and the app served for real."""

from __future__ import annotations

from pathlib import Path

import pytest

from .helpers import ServedApp, hubert_extractor, save_distilhubert, save_random_model, tiny_hubert_config


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
