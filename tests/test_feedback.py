"""Visitors' corrections on disk (core/feedback.py): the layout datasets loads, withdrawal, and every bound."""

from __future__ import annotations

import importlib.util
import sys
import time
import types
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import soundfile as sf
from datasets import Audio, load_dataset

from genre_classifier.core import feedback
from genre_classifier.core.feedback import Answered, Feedback, FeedbackRefused

RATE = 16000


def answered(seed: int = 0, seconds: float = 40.0, level: float = 0.3) -> Answered:
    """A different sound for every seed (noise-like music stand-in), as the server would remember it."""
    samples = level * np.random.default_rng(seed).uniform(-1, 1, int(seconds * RATE)).astype(np.float32)
    return Answered(samples, RATE, answer="unsure: blues or rock", genre="blues", confidence=0.41, model_id="tiny")


def load(folder):
    """The folder as `datasets` loads it, its clips undecoded (decoding needs torchcodec, which the app does without).

    datasets 5 imports torchcodec's encoder before storing even a clip's path, only to fail early where it is
    missing (`Audio.encode_example`); a path needs nothing of it, so an empty stand-in is enough here. With
    `pip install torchcodec` (datasets' audio extra) the same call loads and decodes the clips."""
    with pytest.MonkeyPatch.context() as patch:
        if importlib.util.find_spec("torchcodec") is None:
            patch.setitem(sys.modules, "torchcodec", types.ModuleType("torchcodec"))
            patch.setitem(sys.modules, "torchcodec.encoders", types.SimpleNamespace(AudioEncoder=None))
        dataset = load_dataset("audiofolder", data_dir=str(folder), split="train")
    return dataset.cast_column("audio", Audio(decode=False))


def test_a_correction_is_a_flac_and_its_row_that_datasets_loads_as_they_are(tmp_path):
    store = Feedback(tmp_path)
    first = store.share(answered(1), "jazz", consent=True, visitor="a")
    second = store.share(answered(2), feedback.NOT_MUSIC, consent=True, visitor="b")
    rows = {row["receipt"]: row for row in load(tmp_path)}
    assert set(rows) == {first, second}
    assert rows[first]["label"] == "jazz" and rows[second]["label"] == "not music"
    row = rows[first]
    assert row["model_answer"] == "unsure: blues or rock" and row["model_genre"] == "blues"
    assert row["model_confidence"] == pytest.approx(0.41) and row["model_id"] == "tiny"
    assert row["consent_version"] == feedback.CONSENT_VERSION and abs(row["unix_time"] - time.time()) < 60
    assert row["audio"]["path"].endswith(f"clips/{first}/{first}.flac")
    samples, rate = sf.read(tmp_path / "clips" / first / f"{first}.flac")
    assert rate == RATE and samples.ndim == 1 and len(samples) == 30 * RATE  # mono, cut to 30 s
    assert row["audio_sha256"] == feedback.audio_hash(answered(1).samples[: 30 * RATE])
    card = (tmp_path / "README.md").read_text()
    assert feedback.CONSENT in card and "not music" in card and "withdraw" in card


def test_withdrawing_deletes_the_clip_and_records_the_receipt(tmp_path):
    store = Feedback(tmp_path)
    kept, gone = (store.share(answered(i), "rock", consent=True, visitor=str(i)) for i in range(2))
    store.withdraw(gone.upper())  # as a person may type it
    assert [row["receipt"] for row in load(tmp_path)] == [kept]
    assert feedback.withdrawn(tmp_path) == {gone}
    with pytest.raises(FeedbackRefused, match="No correction"):
        store.withdraw(gone)
    with pytest.raises(FeedbackRefused, match="12 characters"):
        store.withdraw("../../etc")
    assert store.share(answered(1), "rock", consent=True, visitor="z")  # withdrawn audio may be shared again


def test_nothing_is_stored_without_consent_nor_for_silence_short_clips_or_unknown_labels(tmp_path):
    store = Feedback(tmp_path)
    refusals = [
        (dict(answered=answered(1), label="jazz", consent=False), "tick the box"),
        (dict(answered=answered(2, level=1e-4), label="jazz", consent=True), "silent"),
        (dict(answered=answered(3, seconds=2.5), label="jazz", consent=True), "shorter than 3 s"),
        (dict(answered=answered(4), label="polka", consent=True), "Choose what the sound is"),
    ]
    for kwargs, message in refusals:
        with pytest.raises(FeedbackRefused, match=message):
            store.share(visitor="a", **kwargs)
    assert not any((tmp_path / "clips").iterdir())


def test_a_flood_from_several_visitors_is_refused_past_every_bound_while_others_are_served(tmp_path):
    store = Feedback(tmp_path, per_visitor_hour=3, per_day=10, max_bytes=10**9)

    def attempt(visitor_and_seed):
        visitor, seed = visitor_and_seed
        try:
            return visitor, store.share(answered(seed), "disco", consent=True, visitor=visitor)
        except FeedbackRefused as err:
            return visitor, str(err)

    flood = [(f"flooder-{v}", 100 * v + i) for v in range(3) for i in range(8)]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(attempt, flood))
    taken = [v for v, r in results if feedback.RECEIPT.fullmatch(r)]
    assert sorted(taken) == sorted(f"flooder-{v}" for v in range(3) for _ in range(3))  # 3 each, the rest refused
    assert all("this hour" in r for v, r in results if not feedback.RECEIPT.fullmatch(r))
    # Others are still served, up to the day's cap for everyone...
    assert feedback.RECEIPT.fullmatch(attempt(("quiet", 1000))[1])
    assert "already" in attempt(("another", 1000))[1]  # the same audio once, whoever sends it
    assert "Today's corrections are all in" in attempt(("late", 2000))[1]
    assert len(load(tmp_path)) == 10
    # ...and the day's count, the hashes and the bytes survive a restart.
    again = Feedback(tmp_path, per_visitor_hour=3, per_day=10)
    assert "Today's" in str(pytest.raises(FeedbackRefused, again.share, answered(3000), "pop", True, "new").value)
    full = Feedback(tmp_path, per_day=100, max_bytes=again.bytes)
    assert "full" in str(pytest.raises(FeedbackRefused, full.share, answered(4000), "pop", True, "new").value)
    assert "already" in str(pytest.raises(FeedbackRefused, full.share, answered(1000), "pop", True, "new").value)


def test_guessing_receipts_is_bounded_per_visitor(tmp_path):
    store = Feedback(tmp_path)
    for _ in range(feedback.WITHDRAWALS_HOUR):
        with pytest.raises(FeedbackRefused, match="No correction"):
            store.withdraw("0123456789ab", visitor="guesser")
    with pytest.raises(FeedbackRefused, match="Too many"):
        store.withdraw("0123456789ab", visitor="guesser")
    receipt = store.share(answered(5), "metal", consent=True, visitor="owner-of-it")
    store.withdraw(receipt, visitor="someone")  # another visitor still withdraws their own


def test_the_owner_deletes_a_correction_from_the_command_line(tmp_path, capsys, monkeypatch):
    from genre_classifier.cli import main

    receipt = Feedback(tmp_path).share(answered(6), "pop", consent=True, visitor="a")
    monkeypatch.setenv("FEEDBACK_DIR", str(tmp_path))
    assert main(["feedback", "delete", receipt]) == 0
    assert f"Deleted correction {receipt}" in capsys.readouterr().out
    assert feedback.withdrawn(tmp_path) == {receipt} and not any((tmp_path / "clips").iterdir())
    assert main(["feedback", "delete", receipt, "--dir", str(tmp_path)]) == 1
    assert "No correction" in capsys.readouterr().err
    assert main(["feedback", "delete", receipt, "--dir", str(tmp_path / "nowhere")]) == 2


def test_a_clip_the_owner_deleted_meanwhile_may_be_shared_again_to_the_running_app(tmp_path):
    from genre_classifier.cli import main

    serving = Feedback(tmp_path)
    receipt = serving.share(answered(8), "pop", consent=True, visitor="a")
    assert main(["feedback", "delete", receipt, "--dir", str(tmp_path)]) == 0  # another process: the owner's
    assert serving.share(answered(8), "pop", consent=True, visitor="b")


def test_a_feedback_dir_that_cannot_hold_corrections_stops_the_app_with_a_sentence(tmp_path, monkeypatch):
    import runpy

    from .helpers import ROOT

    taken = tmp_path / "a-file"
    taken.write_text("not a folder")
    monkeypatch.setenv("FEEDBACK_DIR", str(taken))
    monkeypatch.setenv("MODEL_ID", "baseline")
    with pytest.raises(SystemExit) as stopped:  # app.py's start in this process, before any model loads
        runpy.run_path(str(ROOT / "app.py"), run_name="app")
    assert stopped.value.code.startswith(f"Cannot start: FEEDBACK_DIR={taken} cannot hold corrections (")


def test_the_page_remembers_each_sessions_last_complete_answer_and_only_the_latest_sessions():
    from types import SimpleNamespace

    from genre_classifier import GENRES
    from genre_classifier.core.audio import Clip
    from genre_classifier.core.model import Prediction
    from genre_classifier.web.corrections import Remembered

    remembered = Remembered(SimpleNamespace(model_id="me/model"), size=2)
    clip = Clip(answered(1, seconds=70).samples, RATE, source_seconds=70.0)
    probs = np.full((1, 10), 0.02)
    probs[0, GENRES.index("jazz")] = 0.82
    done, so_far = Prediction(GENRES, probs, [(0, 30)]), Prediction(GENRES, probs, [(0, 30)], total_windows=3)
    remembered.note("a", clip, done)
    kept = remembered.get("a")
    assert (kept.genre, kept.answer, kept.model_id) == ("jazz", "jazz", "me/model")
    assert kept.confidence == pytest.approx(0.82) and len(kept.samples) == 30 * RATE  # 30 s of the 70 kept
    remembered.note("a", clip, so_far)  # a new clip on its way: nothing to correct until its answer is complete
    assert remembered.get("a") is None and remembered.get(None) is None
    for session in "bcd":
        remembered.note(session, clip, done)
    assert [remembered.get(s) is not None for s in "bcd"] == [False, True, True]  # the oldest went first
