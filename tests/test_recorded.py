"""Recorded-like copies (train/recorded.py): what each step does to real audio, the same copy for the same seed,
`train.evaluate --recorded`, and the augmentation `train.finetune` applies by default."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from genre_classifier.core.audio import load_audio
from train.recorded import Augment, Recording, opus, recorded_copy

from .helpers import CLIPS
from .test_train import gtzan_folder, run_here

RATE = 22050


@pytest.fixture(scope="module")
def song() -> np.ndarray:
    return load_audio(CLIPS / "rock.00000.wav", RATE).samples[: 10 * RATE]


def band_energy(samples: np.ndarray, low: float, high: float) -> float:
    spectrum = np.abs(np.fft.rfft(samples)) ** 2
    freqs = np.fft.rfftfreq(len(samples), 1 / RATE)
    return float(spectrum[(freqs >= low) & (freqs < high)].sum() / spectrum.sum())


def test_a_copy_is_the_same_for_a_seed_and_keeps_the_clip_s_length_and_level(song):
    first, again, other = recorded_copy(song, RATE, 1), recorded_copy(song, RATE, 1), recorded_copy(song, RATE, 2)
    assert first.dtype == np.float32 and len(first) == len(song)
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)
    assert np.abs(first).max() <= 1.0 and np.sqrt(np.mean(first**2)) > 0.01


def test_the_microphone_band_the_noise_the_clipping_and_the_room_each_do_what_they_say(song):
    dry = dict(rt60=0.3, wet=0.0, low_hz=20, high_hz=10_000, snr_db=None, gain_db=0.0, kbps=None)
    rng = lambda: np.random.default_rng(0)  # noqa: E731
    narrow = Recording(**{**dry, "low_hz": 200, "high_hz": 4000}).apply(song, RATE, rng())
    assert band_energy(narrow, 6000, 11025) < 0.2 * band_energy(song, 6000, 11025)
    assert band_energy(narrow, 0, 80) < 0.2 * band_energy(song, 0, 80)
    noisy = Recording(**{**dry, "snr_db": 10.0}).apply(song, RATE, rng())
    clean = Recording(**dry).apply(song, RATE, rng())
    snr = 10 * np.log10(np.mean(clean**2) / np.mean((noisy - clean) ** 2))
    assert 7 < snr < 13  # the level is set after the noise: about 10 dB, not exactly
    hot = Recording(**{**dry, "gain_db": 20.0}).apply(song, RATE, rng())
    assert np.mean(np.abs(hot) >= 0.999) > 0.01  # clipped at full scale
    roomy = Recording(**{**dry, "wet": 0.5, "rt60": 1.0}).apply(song, RATE, rng())
    assert np.corrcoef(roomy, clean)[0, 1] < 0.99  # the room's tail smears it


def test_opus_at_browser_bit_rates_is_lossy_but_keeps_the_song(song):
    for kbps in (24, 32):
        coded = opus(song, RATE, kbps)
        assert len(coded) == len(song) and not np.allclose(coded, song, atol=1e-3)
        # Opus delays the signal by a few ms: compare the envelopes of 50 ms frames.
        frames = lambda x: np.sqrt(np.mean(x[: len(x) // 1102 * 1102].reshape(-1, 1102) ** 2, axis=1))  # noqa: E731
        assert np.corrcoef(frames(coded), frames(song))[0, 1] > 0.9


def test_training_augmentation_changes_crops_reproducibly_from_torch_s_seed(song):
    from train.windows import random_crops

    audio = [{"path": str(CLIPS / "rock.00000.wav"), "bytes": None}]
    plain = random_crops(5 * 16000, 16000)
    augmented = random_crops(5 * 16000, 16000, Augment(p=1.0))
    torch.manual_seed(0)
    crop = plain({"audio": audio, "genre": [9]})["window"][0]
    torch.manual_seed(0)
    first = augmented({"audio": audio, "genre": [9]})["window"][0]
    torch.manual_seed(0)
    again = augmented({"audio": audio, "genre": [9]})["window"][0]
    np.testing.assert_array_equal(first, again)
    assert len(first) == len(crop) and not np.allclose(first, crop, atol=1e-3)
    assert "recorded-like copy of 100% of crops" in Augment(p=1.0).describe()


def test_evaluate_recorded_scores_each_clip_twice_and_writes_both(tmp_path, monkeypatch, capsys):
    from train import evaluate

    clips, data = tmp_path / "clips", tmp_path / "data"
    clips.mkdir(), data.mkdir()
    for name in ("rock.00000.wav", "classical.00000.wav", "disco.00000.wav"):
        (clips / name).symlink_to(CLIPS / name)
    gtzan_folder(data, seconds=10, clips=clips)
    out = tmp_path / "out"
    run_here(
        evaluate,
        monkeypatch,
        "--model",
        "baseline",
        "--data",
        str(data),
        "--split",
        "all",
        "--recorded",
        "--output-dir",
        str(out),
    )
    metrics = json.loads((out / "metrics.json").read_text())
    recorded = metrics["recorded"]
    assert recorded["clips"] == metrics["clips"] == len(list(clips.glob("*.wav")))
    assert 0 <= recorded["accuracy"] <= 1 and 0 <= recorded["agreement"] <= 1 and recorded["seed"] == 0
    same = np.mean([recorded["predictions"][n] == top for n, top in metrics["predictions"].items()])
    assert recorded["agreement"] == pytest.approx(same)
    assert np.array(recorded["confusion_matrix"]).sum() == metrics["clips"]
    assert (out / "confusion_matrix.png").is_file() and (out / "confusion_matrix_recorded.png").is_file()
    printed = capsys.readouterr().out
    assert "recorded-like copies" in printed and "agreement:" in printed


def ffmpeg_without_libopus(folder):
    """A PATH holding an FFmpeg built without libopus, as some distributions ship it: it refuses the encoder."""
    folder.mkdir()
    for name in ("ffmpeg", "ffprobe"):
        (folder / name).write_text("#!/bin/sh\necho \"Unknown encoder 'libopus'\" >&2\nexit 1\n")
        (folder / name).chmod(0o755)
    return folder


@pytest.mark.parametrize(
    "path, missing",
    [
        (lambda tmp: tmp, "FFmpeg is not installed"),
        (lambda tmp: ffmpeg_without_libopus(tmp / "bin"), "FFmpeg here cannot encode Opus (no libopus)"),
    ],
    ids=["no-ffmpeg", "no-libopus"],
)
def test_finetune_says_at_once_what_to_install_or_which_flags_skip_the_recorded_copies(
    tmp_path, monkeypatch, path, missing
):
    from train import finetune

    monkeypatch.setenv("PATH", str(path(tmp_path)))
    monkeypatch.setattr(finetune, "load_model", lambda *args: pytest.fail("went on to load the model"))
    with pytest.raises(SystemExit) as stopped:
        run_here(finetune, monkeypatch, "--model", "nobody/nothing", "--output-dir", str(tmp_path / "out"))
    assert stopped.value.code == (
        f"error: {missing}; FFmpeg with libopus is needed for the recorded-like augmentation (--augment recorded) and "
        "the recorded-like test score (--recorded-score): install it (apt install ffmpeg), or skip them with "
        "--augment none --recorded-score false."
    )
    # Only what is asked for is named, and the flag that skips it
    with pytest.raises(
        SystemExit,
        match=r"needed for the recorded-like test score \(--recorded-score\): .*, or skip "
        r"it with --recorded-score false\.$",
    ):
        run_here(finetune, monkeypatch, "--model", "nobody/nothing", "--augment", "none")


@pytest.mark.slow  # trains a model
def test_without_the_recorded_copies_finetune_needs_no_ffmpeg(synthetic, tiny_config, tmp_path, monkeypatch):
    from train import finetune

    monkeypatch.setenv("PATH", str(tmp_path))  # no FFmpeg
    out = tmp_path / "out"
    run_here(
        finetune,
        monkeypatch,
        "--model",
        str(tiny_config),
        "--data",
        str(synthetic),
        "--output-dir",
        str(out),
        "--max-steps",
        "1",
        "--batch-size",
        "4",
        "--max-train-samples",
        "8",
        "--max-eval-samples",
        "4",
        "--augment",
        "none",
        "--recorded-score",
        "false",
    )
    assert "recorded" not in json.loads((out / "metrics.json").read_text())
    assert "not scored on recorded-like copies (`--recorded-score false`)" in (out / "README.md").read_text()


def test_evaluate_recorded_says_at_once_what_to_install(tmp_path, monkeypatch):
    from train import evaluate

    monkeypatch.setenv("PATH", str(tmp_path))  # no FFmpeg
    with pytest.raises(
        SystemExit,
        match=r"^error: FFmpeg is not installed; FFmpeg with libopus is needed for the "
        r"recorded-like copies \(--recorded\): install it \(apt install ffmpeg\), or leave out "
        r"--recorded\.$",
    ):
        run_here(evaluate, monkeypatch, "--model", "baseline", "--recorded", "--output-dir", str(tmp_path / "out"))


def test_evaluate_scores_as_the_app_does_with_the_music_gate(speech_wav):
    """The app hears every window through the music gate: evaluation does too, and names the clips it heard as not
    music (their top genre still counts, as the genre bars show it)."""
    from genre_classifier import GENRES
    from genre_classifier.core.loading import load_exact
    from train.evaluate import evaluate_classifier

    classifier = load_exact("baseline")
    dataset = [
        {"audio": {"path": str(CLIPS / "rock.00000.wav"), "bytes": None}, "genre": GENRES.index("rock")},
        {"audio": {"path": str(speech_wav), "bytes": None}, "genre": GENRES.index("blues")},
    ]
    metrics = evaluate_classifier(classifier, dataset)
    app = classifier.classify(classifier.decode(speech_wav))  # what the page answers for the speech
    assert metrics["predictions"][speech_wav.name] == app.top
    assert metrics["not_music"] == [speech_wav.name] and metrics["music_gate"].startswith("as the app:")
