"""train/: the fine-tuning loop learns, its output is what the app serves (by folder and by Hub id), and
multi-process runs work. Commands a user types run as subprocesses; the rest run in this process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from genre_classifier import GENRES
from genre_classifier.core.loading import load_classifier
from genre_classifier.core.model import TransformerClassifier
from train import card, evaluate, finetune

from .helpers import CLIPS, DISTILHUBERT_CONFIG, GTZAN, ROOT, ServedApp, classify_file, needs_gtzan, plant_in_hub_cache

pytestmark = pytest.mark.slow  # fine-tunes models, starts apps and torchrun


def run(*args: str, launcher: tuple[str, ...] = (sys.executable, "-m"), env: dict | None = None):
    result = subprocess.run(
        [*launcher, *args], cwd=ROOT, capture_output=True, text=True, timeout=600, env={**os.environ, **(env or {})}
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return result


def run_here(script, monkeypatch, *args: str) -> None:
    """`python -m train.<script> ARGS` in this process (argument parsing and messages included)."""
    monkeypatch.setattr(sys, "argv", [script.__name__, *args])
    script.main()


def gtzan_folder(root: Path, seconds: int | None = None, clips: Path = CLIPS) -> Path:
    """A local GTZAN-layout folder root/<genre>/*.wav of the 14 real clips (the stand-ins, or GTZAN's own): links
    to them, or copies cut to their first `seconds`."""
    import soundfile as sf

    for clip in clips.glob("*.wav"):
        genre = root / clip.name.split(".")[0]
        genre.mkdir(exist_ok=True)
        if seconds is None:
            (genre / clip.name).symlink_to(clip)
        else:
            audio, sr = sf.read(clip, dtype="float32")
            sf.write(genre / clip.name, audio[: seconds * sr], sr)
    return root


@pytest.fixture(scope="module")
def real_clips(tmp_path_factory):
    return gtzan_folder(tmp_path_factory.mktemp("gtzan14"))


def test_tiny_model_learns_a_synthetic_ten_class_audio_task(learned):
    metrics = json.loads((learned / "metrics.json").read_text())
    assert metrics["clips"] == 20 and metrics["accuracy"] >= 0.9, metrics
    classifier, reason = load_classifier(str(learned))
    assert reason is None and isinstance(classifier, TransformerClassifier) and classifier.labels == GENRES


def test_a_pushed_checkpoint_served_by_its_hub_id_answers_as_evaluate_and_the_pipeline(learned, real_clips, tmp_path):
    """`MODEL_ID=you/model` after a push: the Hub-id code path, from a hub cache as `hf download` leaves it. Its
    answers are evaluate.py's, clip by clip, and the pipeline's the model card promises."""
    import soundfile as sf
    from transformers import pipeline

    fp32 = {"PRECISION": "fp32"}  # as the pipeline computes (bf16's agreement is tests/test_precision.py's)
    stdout = run(
        "train/evaluate.py",
        "--model",
        str(learned),
        "--data",
        str(real_clips),
        "--output-dir",
        str(tmp_path / "eval"),
        launcher=(sys.executable,),
        env=fp32,
    ).stdout
    assert "clip accuracy:" in stdout and "confusion matrix" in stdout  # the test part of the 90/10 split
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["clips"] == 2 and (tmp_path / "eval" / "confusion_matrix.png").stat().st_size > 10_000

    # A real clip of exactly 30 s at the model's rate: one window, the same samples for both decoders (the
    # pipeline resamples with FFmpeg, the app with soxr; that alone moves probabilities by about 1e-3).
    clip = tmp_path / "disco-30s-16k.wav"
    sf.write(clip, load_classifier(str(learned))[0].decode(CLIPS / "disco.00000.wav").samples[: 30 * 16000], 16000)
    plant_in_hub_cache(tmp_path / "hf_home", "you/genre-model", {p.name: p for p in learned.iterdir() if p.is_file()})
    env = {"MODEL_ID": "you/genre-model", "HF_HOME": str(tmp_path / "hf_home"), "HF_HUB_OFFLINE": "1", **fp32}
    app = ServedApp(env, tmp_path / "app.log")
    try:
        client = app.client()
        texts = " ".join(str(c.get("props", {}).get("value", "")) for c in client.config["components"])
        assert "Model: you/genre-model (hubert, 30 s windows, cpu, fp32)" in texts
        assert "could not be loaded" not in texts
        for name, predicted in metrics["predictions"].items():
            assert classify_file(client, CLIPS / name)[0]["label"] == predicted, name
        label = classify_file(client, clip)[0]
    finally:
        app.stop()
    served = {c["label"]: c["confidence"] for c in label["confidences"]}
    piped = {r["label"]: r["score"] for r in pipeline("audio-classification", model=str(learned))(str(clip), top_k=10)}
    assert max(served.values()) > 0.2  # a learned model: not a flat answer that any two codes would share
    np.testing.assert_allclose([piped[g] for g in GENRES], [served[g] for g in GENRES], atol=1e-3)


def test_push_uploads_the_finished_folder_and_never_the_token(learned, synthetic, tmp_path, monkeypatch, capsys):
    from huggingface_hub.utils import filter_repo_objects

    out = tmp_path / "pushed"
    secret = "hf_" + "Zq9w" * 9
    monkeypatch.setenv("HF_TOKEN", secret)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)  # the real HfApi call, refused offline
    with pytest.raises(SystemExit, match="could not push to the Hub.*hf upload you/genre-model"):
        run_here(
            finetune,
            monkeypatch,
            "--model",
            str(learned),
            "--data",
            str(synthetic),
            "--output-dir",
            str(out),
            "--max-steps",
            "1",
            "--batch-size",
            "4",
            "--push-to-hub",
            "--hub-model-id",
            "you/genre-model",
        )
    local = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert any(name.startswith("checkpoint-") for name in local)
    uploaded = set(filter_repo_objects(local, ignore_patterns=card.PUSH_IGNORE))
    expected = {
        "config.json",
        "model.safetensors",
        "preprocessor_config.json",
        "README.md",
        "metrics.json",
        "confusion_matrix.png",
    }
    assert expected <= uploaded and not [name for name in uploaded if name.startswith("checkpoint-")]
    for path in out.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
    printed = capsys.readouterr()
    assert secret not in printed.out + printed.err


@pytest.fixture(scope="module")
def finetuned_distilhubert(tmp_path_factory):
    """One step of fine-tuning from the true DistilHuBERT config.json (random init) on the real clips, each cut to
    its first 5 s: the same true-size step at about a sixth of its cost on the full 30 s."""
    clips = gtzan_folder(tmp_path_factory.mktemp("gtzan14-5s"), seconds=5)
    config_only = tmp_path_factory.mktemp("distilhubert_config")
    (config_only / "config.json").write_text((DISTILHUBERT_CONFIG / "config.json").read_text())
    out = tmp_path_factory.mktemp("finetuned") / "distilhubert-gtzan"
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
            "1",
            "--batch-size",
            "1",
            "--max-eval-samples",
            "1",
        )
    return out


def test_finetune_output_is_a_complete_checkpoint_folder(finetuned_distilhubert):
    names = {p.name for p in finetuned_distilhubert.iterdir()}
    assert {"config.json", "model.safetensors", "preprocessor_config.json", "README.md"} <= names
    assert {"metrics.json", "confusion_matrix.png", "runs"} <= names  # runs: TensorBoard logs
    card = (finetuned_distilhubert / "README.md").read_text()
    assert "datasets:\n- marsyas/gtzan" in card and "model-index" in card and "MODEL_ID=" in card
    config = json.loads((finetuned_distilhubert / "config.json").read_text())
    assert config["id2label"] == {str(i): g for i, g in enumerate(GENRES)}


@needs_gtzan
def test_evaluate_works_on_the_embedded_model(tmp_path, monkeypatch, capsys):
    (tmp_path / "gtzan").mkdir()
    gtzan = gtzan_folder(tmp_path / "gtzan", clips=GTZAN)
    run_here(evaluate, monkeypatch, "--model", "baseline", "--data", str(gtzan), "--output-dir", str(tmp_path / "out"))
    assert "Offline model" in capsys.readouterr().out
    reported = json.loads((ROOT / "train" / "results" / "baseline.json").read_text())["heldout_predictions"]
    predictions = json.loads((tmp_path / "out" / "metrics.json").read_text())["predictions"]
    assert len(predictions) == 2  # the test part of the 90/10 split
    assert {clip: reported[Path(clip).stem] for clip in predictions} == predictions  # train/baseline.py's answers


def test_two_process_torchrun_trains_one_model(synthetic, tiny_config, tmp_path):
    out = tmp_path / "ddp"
    stdout = run(
        "--nproc_per_node",
        "2",
        "-m",
        "train.finetune",
        "--model",
        str(tiny_config),
        "--data",
        str(synthetic),
        "--output-dir",
        str(out),
        "--max-steps",
        "3",
        "--batch-size",
        "4",
        launcher=(sys.executable, "-m", "torch.distributed.run"),
    ).stdout
    assert stdout.count("trained on 2 process(es)") == 2  # both ranks in one gloo process group
    assert stdout.count("saved the checkpoint") == 1  # written once, by rank 0
    assert json.loads((out / "metrics.json").read_text())["clips"] == 20


def test_ast_fine_tuning_stores_input_statistics_of_the_training_split(synthetic, tmp_path, monkeypatch):
    from transformers import ASTConfig, ASTFeatureExtractor

    config_only = tmp_path / "ast_config"
    ASTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64).save_pretrained(
        config_only
    )
    out = tmp_path / "ast"
    run_here(
        finetune,
        monkeypatch,
        "--model",
        str(config_only),
        "--data",
        str(synthetic),
        "--output-dir",
        str(out),
        "--max-steps",
        "1",
        "--batch-size",
        "4",
        "--normalisation-clips",
        "20",
    )
    saved = json.loads((out / "preprocessor_config.json").read_text())
    defaults = ASTFeatureExtractor()  # AudioSet's statistics
    assert saved["do_normalize"] and (saved["mean"], saved["std"]) != (defaults.mean, defaults.std)
    classifier, reason = load_classifier(str(out))
    assert reason is None and classifier.window_seconds == pytest.approx(10.24)


def test_an_interrupted_run_resumes_where_it_stopped(synthetic, tiny_config, tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    common = [
        "--model",
        str(tiny_config),
        "--data",
        str(synthetic),
        "--output-dir",
        str(out),
        "--batch-size",
        "4",
        "--max-train-samples",
        "40",
        "--max-eval-samples",
        "8",
    ]
    run_here(finetune, monkeypatch, *common, "--max-steps", "2")
    first = capsys.readouterr().out
    assert "40 train / 8 test" in first and "4 clips per optimiser step" in first and "10 steps per epoch" in first
    assert "augment:     a recorded-like copy of 50% of crops" in first  # the default
    assert "recorded-like copies (train/recorded.py, seed 0):" in first  # the test clips scored both ways

    with pytest.raises(SystemExit, match="is not empty.*--resume-from-checkpoint"):  # a message, not a trace
        run_here(finetune, monkeypatch, *common, "--max-steps", "4")

    run_here(finetune, monkeypatch, *common, "--max-steps", "4", "--resume-from-checkpoint")
    assert f"resuming:    from {out / 'checkpoint-2'} (step 2)" in capsys.readouterr().out
    assert json.loads((out / "checkpoint-4" / "trainer_state.json").read_text())["global_step"] == 4
    assert json.loads((out / "trainer_state.json").read_text())["global_step"] == 4
    assert {"train_results.json", "test_results.json", "all_results.json"} <= {p.name for p in out.iterdir()}
    assert "eval_results.json" not in {p.name for p in out.iterdir()}  # the course split: no model selection


def test_freezing_the_feature_encoder_trains_only_the_rest(synthetic, tiny_hubert_dir, tmp_path, monkeypatch):
    from safetensors.torch import load_file

    out = tmp_path / "frozen"
    run_here(
        finetune,
        monkeypatch,
        "--model",
        str(tiny_hubert_dir),
        "--data",
        str(synthetic),
        "--output-dir",
        str(out),
        "--max-steps",
        "1",
        "--warmup",
        "0",
        "--batch-size",
        "8",
        "--learning-rate",
        "1e-2",
        "--freeze-feature-encoder",
    )
    before, after = load_file(tiny_hubert_dir / "model.safetensors"), load_file(out / "model.safetensors")
    encoder = [k for k in before if k.startswith("hubert.feature_extractor.")]
    head = [k for k in before if k.startswith("classifier.") or k.startswith("projector.")]
    assert encoder and head
    assert all(torch.equal(before[k], after[k]) for k in encoder)
    assert not all(torch.equal(before[k], after[k]) for k in head)
