"""train/: the fine-tuning loop learns, its output is what the app serves (by folder and by Hub id), and
multi-process runs work."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from genre_classifier import GENRES
from genre_classifier.model import TransformerClassifier, load_classifier

from .helpers import (
    DISTILHUBERT_CONFIG,
    GTZAN,
    ROOT,
    ServedApp,
    classify_file,
    plant_in_hub_cache,
    tiny_hubert_config,
)
from .synthetic import write_dataset


def run(*args: str, launcher: tuple[str, ...] = (sys.executable, "-m"), env: dict | None = None, check=True):
    result = subprocess.run(
        [*launcher, *args], cwd=ROOT, capture_output=True, text=True, timeout=600, env={**os.environ, **(env or {})}
    )
    if check:
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return result


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    return write_dataset(tmp_path_factory.mktemp("synthetic"), per_genre=20)


@pytest.fixture(scope="module")
def tiny_config(tmp_path_factory):
    """A config-only folder (finetune.py initialises it randomly) of the tiny HuBERT."""
    out = tmp_path_factory.mktemp("tiny_config")
    tiny_hubert_config().save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def learned(synthetic, tiny_config, tmp_path_factory):
    """The tiny HuBERT fine-tuned on the synthetic task: a model that has learned something."""
    out = tmp_path_factory.mktemp("learned") / "tiny"
    run(
        "train.finetune", "--model", str(tiny_config), "--data", str(synthetic), "--output-dir", str(out),
        "--epochs", "8", "--batch-size", "16", "--learning-rate", "3e-3",
    )  # fmt: skip
    return out


def test_tiny_model_learns_a_synthetic_ten_class_audio_task(learned):
    metrics = json.loads((learned / "metrics.json").read_text())
    assert metrics["clips"] == 20 and metrics["accuracy"] >= 0.9, metrics
    classifier, reason = load_classifier(str(learned))
    assert reason is None and isinstance(classifier, TransformerClassifier) and classifier.labels == GENRES


def test_pushed_checkpoint_is_served_by_its_hub_id_and_matches_the_pipeline(learned, tmp_path):
    """`MODEL_ID=you/model` after a push: the Hub-id code path, from a hub cache as `hf download` leaves it."""
    import soundfile as sf
    from transformers import pipeline

    # A real clip of exactly 30 s at the model's rate: one window, the same samples for both decoders (the
    # pipeline resamples with FFmpeg, the app with soxr; that alone moves probabilities by about 1e-3).
    clip = tmp_path / "disco-30s-16k.wav"
    sf.write(clip, load_classifier(str(learned))[0].load(GTZAN / "disco.00000.wav").samples[: 30 * 16000], 16000)
    files = {p.name: p for p in learned.iterdir() if p.is_file()}
    plant_in_hub_cache(tmp_path / "hf_home", "you/genre-model", files)
    env = {"MODEL_ID": "you/genre-model", "HF_HOME": str(tmp_path / "hf_home"), "HF_HUB_OFFLINE": "1"}
    app = ServedApp(env, tmp_path / "app.log")
    try:
        page = app.client().config
        texts = " ".join(str(c.get("props", {}).get("value", "")) for c in page["components"])
        assert "Model: you/genre-model (hubert" in texts and "could not be loaded" not in texts
        label = classify_file(app.client(), clip)[0]
    finally:
        app.stop()
    served = {c["label"]: c["confidence"] for c in label["confidences"]}
    # The model card's promise: the pipeline on the same file gives the app's probabilities.
    piped = {r["label"]: r["score"] for r in pipeline("audio-classification", model=str(learned))(str(clip), top_k=10)}
    assert max(served.values()) > 0.2  # a learned model: not a flat answer that any two codes would share
    np.testing.assert_allclose([piped[g] for g in GENRES], [served[g] for g in GENRES], atol=1e-3)


def test_push_uploads_the_finished_folder_and_never_the_token(learned, synthetic, tmp_path):
    from huggingface_hub.utils import filter_repo_objects

    from train.finetune import PUSH_IGNORE

    out = tmp_path / "pushed"
    secret = "hf_" + "Zq9w" * 9
    result = run(
        "train.finetune", "--model", str(learned), "--data", str(synthetic),
        "--output-dir", str(out), "--max-steps", "1", "--batch-size", "4", "--push-to-hub",
        "--hub-model-id", "you/genre-model", env={"HF_TOKEN": secret, "HF_HUB_OFFLINE": "1"}, check=False,
    )  # fmt: skip
    assert result.returncode != 0 and "could not push to the Hub" in result.stderr  # offline: a message, not a trace
    assert "Traceback" not in result.stderr and "hf upload you/genre-model" in result.stderr
    local = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert any(name.startswith("checkpoint-") for name in local)
    uploaded = set(filter_repo_objects(local, ignore_patterns=PUSH_IGNORE))
    expected = {"config.json", "model.safetensors", "preprocessor_config.json", "README.md", "metrics.json",
                "confusion_matrix.png"}  # fmt: skip
    assert expected <= uploaded and not [name for name in uploaded if name.startswith("checkpoint-")]
    for path in out.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
    assert secret not in result.stdout + result.stderr


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
        "train/finetune.py",
        "--model",
        str(config_only),
        "--data",
        str(real_clips),
        "--output-dir",
        str(out),
        "--max-steps",
        "2",
        "--batch-size",
        "1",
        launcher=(sys.executable,),
    )  # fmt: skip  (the script form of the command, which must work as `-m train.finetune` does)
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
        launcher=(sys.executable,),
    ).stdout  # fmt: skip  (the default: the test part of the 90/10 split, seed 42)
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
    stdout = run("train.evaluate", "--model", "baseline", "--data", str(real_clips), "--split", "all",
                 "--output-dir", str(tmp_path)).stdout  # fmt: skip
    results = json.loads((ROOT / "train" / "results" / "baseline.json").read_text())
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["accuracy"] == pytest.approx(results["heldout_correct"] / 14)
    assert "Offline model" in stdout


def test_two_process_torchrun_trains_one_model(synthetic, tiny_config, tmp_path):
    out = tmp_path / "ddp"
    stdout = run(
        "--nproc_per_node", "2", "-m", "train.finetune", "--model", str(tiny_config), "--data", str(synthetic),
        "--output-dir", str(out), "--max-steps", "3", "--batch-size", "4",
        launcher=(sys.executable, "-m", "torch.distributed.run"),
    ).stdout  # fmt: skip
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
        "train.finetune", "--model", str(config_only), "--data", str(synthetic), "--output-dir", str(out),
        "--max-steps", "1", "--batch-size", "4", "--normalisation-clips", "20",
    )  # fmt: skip
    saved = json.loads((out / "preprocessor_config.json").read_text())
    defaults = ASTFeatureExtractor()  # AudioSet's statistics
    assert saved["do_normalize"] and (saved["mean"], saved["std"]) != (defaults.mean, defaults.std)
    classifier, reason = load_classifier(str(out))
    assert reason is None and classifier.window_seconds == pytest.approx(10.24)


def test_an_interrupted_run_resumes_where_it_stopped(synthetic, tiny_config, tmp_path):
    out = tmp_path / "run"
    common = ["--model", str(tiny_config), "--data", str(synthetic), "--output-dir", str(out), "--batch-size", "4",
              "--max-train-samples", "40", "--max-eval-samples", "8"]  # fmt: skip
    first = run("train.finetune", *common, "--max-steps", "2").stdout
    assert "40 train / 8 test" in first and "4 clips per optimiser step" in first and "10 steps per epoch" in first

    again = run("train.finetune", *common, "--max-steps", "4", check=False)
    assert again.returncode != 0 and "Traceback" not in again.stderr
    assert "is not empty" in again.stderr and "--resume-from-checkpoint" in again.stderr

    resumed = run("train.finetune", *common, "--max-steps", "4", "--resume-from-checkpoint").stdout
    assert f"resuming:    from {out / 'checkpoint-2'} (step 2)" in resumed
    assert json.loads((out / "checkpoint-4" / "trainer_state.json").read_text())["global_step"] == 4
    assert json.loads((out / "trainer_state.json").read_text())["global_step"] == 4
    assert {"train_results.json", "eval_results.json", "all_results.json"} <= {p.name for p in out.iterdir()}


def test_freezing_the_feature_encoder_trains_only_the_rest(synthetic, tiny_hubert_dir, tmp_path):
    from safetensors.torch import load_file

    out = tmp_path / "frozen"
    run(
        "train.finetune", "--model", str(tiny_hubert_dir), "--data", str(synthetic), "--output-dir", str(out),
        "--max-steps", "1", "--warmup", "0", "--batch-size", "8", "--learning-rate", "1e-2", "--freeze-feature-encoder",
    )  # fmt: skip
    before, after = load_file(tiny_hubert_dir / "model.safetensors"), load_file(out / "model.safetensors")
    encoder = [k for k in before if k.startswith("hubert.feature_extractor.")]
    head = [k for k in before if k.startswith("classifier.") or k.startswith("projector.")]
    assert encoder and head
    assert all(torch.equal(before[k], after[k]) for k in encoder)
    assert not all(torch.equal(before[k], after[k]) for k in head)
