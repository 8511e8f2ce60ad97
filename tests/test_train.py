"""train/: the fine-tuning loop learns, its output is what the app serves, and multi-process runs work."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from genre_classifier import GENRES
from genre_classifier.model import TransformerClassifier, load_classifier

from .helpers import DISTILHUBERT_CONFIG, GTZAN, ROOT, ServedApp, classify_file, tiny_hubert_config
from .synthetic import write_dataset


def run(*args: str, launcher: tuple[str, ...] = (sys.executable,)) -> str:
    result = subprocess.run([*launcher, *args], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return result.stdout


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    return write_dataset(tmp_path_factory.mktemp("synthetic"), per_genre=20)


@pytest.fixture(scope="module")
def tiny_config(tmp_path_factory):
    """A config-only folder (finetune.py initialises it randomly) of the tiny HuBERT."""
    out = tmp_path_factory.mktemp("tiny_config")
    tiny_hubert_config().save_pretrained(out)
    return out


def test_tiny_model_learns_a_synthetic_ten_class_audio_task(synthetic, tiny_config, tmp_path):
    out = tmp_path / "tiny"
    stdout = run(
        "train/finetune.py", "--model", str(tiny_config), "--data", str(synthetic), "--output-dir", str(out),
        "--epochs", "8", "--batch-size", "16", "--learning-rate", "3e-3",
    )  # fmt: skip
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["clips"] == 20 and metrics["accuracy"] >= 0.9, stdout[-2000:]
    classifier, reason = load_classifier(str(out))
    assert reason is None and isinstance(classifier, TransformerClassifier) and classifier.labels == GENRES


@pytest.fixture(scope="module")
def real_clips(tmp_path_factory):
    """A local GTZAN-layout folder D/<genre>/*.wav of the 14 real clips."""
    root = tmp_path_factory.mktemp("gtzan14")
    for clip in GTZAN.glob("*.wav"):
        (root / clip.name.split(".")[0]).mkdir(exist_ok=True)
        (root / clip.name.split(".")[0] / clip.name).symlink_to(clip)
    return root


@pytest.fixture(scope="module")
def finetuned_distilhubert(real_clips, tmp_path_factory):
    """Two steps of fine-tuning from the true DistilHuBERT config.json (random init) on the real clips."""
    config_only = tmp_path_factory.mktemp("distilhubert_config")
    (config_only / "config.json").write_text((DISTILHUBERT_CONFIG / "config.json").read_text())
    out = tmp_path_factory.mktemp("finetuned") / "distilhubert-gtzan"
    run(
        "train/finetune.py", "--model", str(config_only), "--data", str(real_clips), "--output-dir", str(out),
        "--max-steps", "2", "--batch-size", "1",
    )  # fmt: skip
    return out


def test_finetune_output_is_a_complete_checkpoint_folder(finetuned_distilhubert):
    names = {p.name for p in finetuned_distilhubert.iterdir()}
    assert {"config.json", "model.safetensors", "preprocessor_config.json", "README.md"} <= names
    assert {"metrics.json", "confusion_matrix.png", "runs"} <= names  # runs: TensorBoard logs
    card = (finetuned_distilhubert / "README.md").read_text()
    assert "datasets:\n- marsyas/gtzan" in card and "model-index" in card and "MODEL_ID=" in card
    config = json.loads((finetuned_distilhubert / "config.json").read_text())
    assert config["id2label"] == {str(i): g for i, g in enumerate(GENRES)}


def test_evaluate_prints_accuracy_and_matches_the_served_app(finetuned_distilhubert, real_clips, tmp_path):
    stdout = run(
        "train/evaluate.py",
        "--model",
        str(finetuned_distilhubert),
        "--data",
        str(real_clips),
        "--output-dir",
        str(tmp_path),
    )  # fmt: skip  (the default: the test part of the 90/10 split, seed 42)
    assert "clip accuracy:" in stdout and "confusion matrix" in stdout
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["clips"] == 2 and (tmp_path / "confusion_matrix.png").stat().st_size > 10_000

    app = ServedApp({"MODEL_ID": str(finetuned_distilhubert)}, tmp_path / "app.log")
    try:
        client = app.client()
        for clip, predicted in metrics["predictions"].items():
            label = classify_file(client, GTZAN / clip)[0]
            assert label["label"] == predicted
    finally:
        app.stop()


def test_evaluate_works_on_the_embedded_model(real_clips, tmp_path):
    stdout = run("train/evaluate.py", "--model", "baseline", "--data", str(real_clips), "--split", "all",
                 "--output-dir", str(tmp_path))  # fmt: skip
    results = json.loads((ROOT / "train" / "results" / "baseline.json").read_text())
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["accuracy"] == pytest.approx(results["heldout_correct"] / 14)
    assert "Offline model" in stdout


def test_two_process_torchrun_trains_one_model(synthetic, tiny_config, tmp_path):
    out = tmp_path / "ddp"
    stdout = run(
        "--nproc_per_node", "2", "train/finetune.py", "--model", str(tiny_config), "--data", str(synthetic),
        "--output-dir", str(out), "--max-steps", "3", "--batch-size", "4",
        launcher=(sys.executable, "-m", "torch.distributed.run"),
    )  # fmt: skip
    assert stdout.count("trained on 2 process(es)") == 2  # both ranks in one gloo process group
    assert stdout.count("saved the checkpoint") == 1  # written once, by rank 0
    assert json.loads((out / "metrics.json").read_text())["clips"] == 20


def test_ast_fine_tuning_stores_input_statistics_of_the_training_split(synthetic, tmp_path):
    from transformers import ASTConfig, ASTFeatureExtractor

    config_only = tmp_path / "ast_config"
    ASTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64).save_pretrained(
        config_only
    )
    out = tmp_path / "ast"
    run(
        "train/finetune.py", "--model", str(config_only), "--data", str(synthetic), "--output-dir", str(out),
        "--max-steps", "1", "--batch-size", "4", "--normalisation-clips", "20",
    )  # fmt: skip
    saved = json.loads((out / "preprocessor_config.json").read_text())
    defaults = ASTFeatureExtractor()  # AudioSet's statistics
    assert saved["do_normalize"] and (saved["mean"], saved["std"]) != (defaults.mean, defaults.std)
    classifier, reason = load_classifier(str(out))
    assert reason is None and classifier.window_seconds == pytest.approx(10.24)
