"""Session fixtures: random-weight models of the true architectures, and the app served for real."""

from __future__ import annotations

from pathlib import Path

import pytest

from genre_classifier import GENRES

from .helpers import DISTILHUBERT_CONFIG, LABELS, ServedApp, hubert_extractor, save_distilhubert, save_random_model


@pytest.fixture(scope="session")
def distilhubert_dir(tmp_path_factory) -> Path:
    return save_distilhubert(tmp_path_factory.mktemp("distilhubert"))


@pytest.fixture(scope="session")
def tiny_hubert_dir(tmp_path_factory) -> Path:
    """A HuBERT of the same classes with a tiny config, for fast tests (windows of 30 s)."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(
        DISTILHUBERT_CONFIG, num_labels=len(GENRES), hidden_size=32, num_attention_heads=2, intermediate_size=64,
        num_hidden_layers=1, conv_dim=[32] * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4,
        classifier_proj_size=16, **LABELS,
    )  # fmt: skip
    return save_random_model(config, tmp_path_factory.mktemp("tiny_hubert"), hubert_extractor())


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
