"""`train.finetune --extra-data`: visitors' corrections join the training part only, a share of them held out and
scored as visitors.accuracy; withdrawn, not-music and GTZAN-test copies never train the genre model."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from genre_classifier.core.audio import load_audio
from genre_classifier.core.feedback import NOT_MUSIC, OTHER_MUSIC, Answered, Feedback
from train import finetune, visitors
from train.data import load_gtzan, make_split

from .synthetic import RATE, write_dataset

pytestmark = pytest.mark.slow  # trains a model


def _answered(samples: np.ndarray) -> Answered:
    return Answered(samples.astype(np.float32), RATE, "blues", "blues", 0.3, "tiny")


@pytest.fixture(scope="module")
def gtzan_like(tmp_path_factory):
    """Four-second synthetic clips (a correction is 3 s at least) in genre folders, and the course split's test
    part as finetune will make it."""
    data = write_dataset(tmp_path_factory.mktemp("gtzan-like"), per_genre=4, seconds=4.0)
    test = make_split(load_gtzan(str(data)), "course", RATE).parts["test"]
    return data, test


@pytest.fixture(scope="module")
def corrections(gtzan_like, tmp_path_factory):
    """Made-up corrections: eight genre ones, a withdrawn one, a not-music and an other-music one, and one that is
    a GTZAN test clip uploaded as it is."""
    _, test = gtzan_like
    folder = tmp_path_factory.mktemp("corrections")
    store = Feedback(folder)
    rng = np.random.default_rng(7)
    t = np.arange(5 * RATE) / RATE
    receipts = {}
    for i, genre in enumerate(["blues", "jazz", "rock", "pop", "metal", "disco", "reggae", "country", "blues"]):
        tone = 0.3 * np.sin(2 * np.pi * (200 + 50 * i) * t) + 0.01 * rng.standard_normal(len(t))
        receipts[f"{genre}-{i}"] = store.share(_answered(tone), genre, consent=True, visitor=str(i))
    receipts["not-music"] = store.share(_answered(0.2 * rng.standard_normal(len(t))), NOT_MUSIC, True, "n")
    receipts["other"] = store.share(_answered(0.2 * np.sin(2 * np.pi * 90 * t)), OTHER_MUSIC, True, "o")
    leaked = load_audio(test[0]["audio"]["path"], RATE).samples  # the server's decoding of that upload
    receipts["gtzan-test"] = store.share(_answered(leaked), "classical", True, "g")
    store.withdraw(receipts["blues-8"])
    return folder, receipts


def test_corrections_train_the_genre_model_are_scored_and_never_bring_a_test_clip_in(
    gtzan_like, corrections, tiny_config, tmp_path, monkeypatch, capsys
):
    data, test = gtzan_like
    folder, receipts = corrections
    out = tmp_path / "run"
    monkeypatch.setattr(
        sys,
        "argv",
        [
            "finetune",
            "--model",
            str(tiny_config),
            "--data",
            str(data),
            "--output-dir",
            str(out),
            "--extra-data",
            str(folder),
            "--max-steps",
            "2",
            "--batch-size",
            "8",
            "--augment",
            "none",
        ],
    )
    finetune.main()
    printed = capsys.readouterr().out
    assert "visitors:" in printed and "1 left out as copies of GTZAN test clips" in printed

    metrics = json.loads((out / "metrics.json").read_text())
    seen = metrics["visitors"]
    assert 0.0 <= seen["accuracy"] <= 1.0 and seen["clips"] == 2 and seen["train_clips"] == 6  # 8 genre ones: 2 + 6
    assert seen["left_out_as_gtzan_test_clips"] == [receipts["gtzan-test"]]
    assert seen["not_music_for_the_gate"] == 1 and seen["withdrawn_unused"] == 1
    assert "held-out corrections from the app's visitors" in (out / "README.md").read_text()

    split = json.loads((out / "split.json").read_text())["parts"]
    trained = set(split["train"])
    used = {name.removesuffix(".flac") for name in trained if name.endswith(".flac")}
    assert len(used) == 6
    for kept_out in ("gtzan-test", "blues-8", "not-music", "other"):  # a test clip, withdrawn, not a genre
        assert receipts[kept_out] not in used
    assert split["test"] == [row["audio"]["path"].rsplit("/", 1)[1] for row in test]  # GTZAN's alone, as before
    assert not trained & set(split["test"])


def test_not_music_corrections_are_the_music_gates_and_withdrawn_ones_no_ones(corrections):
    folder, receipts = corrections
    sounds = visitors.not_music_sounds(str(folder))
    assert len(sounds) == 1 and len(sounds[0]) == 5 * 22050  # at the gate's rate
    assert receipts["blues-8"] not in {row["receipt"] for row in visitors.rows(folder)}


def test_the_music_gate_learns_visitors_not_music_as_noise(corrections, monkeypatch):
    from train import music_gate, sounds

    tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(5 * 22050) / 22050)
    monkeypatch.setattr(sounds, "corpus", lambda split, per_kind: iter([("tone", 0, tone)]))  # no espeak-ng needed
    x, y, kinds = music_gate.training_set(visitors.not_music_sounds(str(corrections[0])))
    assert kinds[-2:] == ["tone", music_gate.VISITORS] and len(x) == len(y) == len(kinds)
    assert music_gate.CLASSES[y[-1]] == "noise"
