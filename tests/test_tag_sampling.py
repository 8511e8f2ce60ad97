"""`tag` hears a long file through a few windows spread over it, decoding only those (library/sampling.py), and every
window with `--all-windows`."""

from __future__ import annotations

import io
import os
import shutil
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from genre_classifier import GENRES
from genre_classifier.core import audio
from genre_classifier.core.audio import Clip, load_audio, load_excerpts
from genre_classifier.core.settings import Settings
from genre_classifier.library import sampling, tag
from genre_classifier.library.rows import result_row

from .helpers import CLIPS, tag_killed_after_rows
from .test_formats import ffmpeg
from .test_tag import read_rows, run_here

pytestmark = pytest.mark.skipif(not shutil.which("ffmpeg"), reason="FFmpeg is not installed")
RATE = 22050


def long_song(path: Path, seconds: int) -> Path:
    """Real GTZAN clips end to end, `seconds` long, at 22050 Hz."""
    clips = [sf.read(p, dtype="float32")[0] for p in sorted(CLIPS.glob("*.wav"))]
    sf.write(path, np.tile(np.concatenate(clips), 3)[: seconds * RATE], RATE)
    return path


@pytest.fixture(scope="module")
def songs(tmp_path_factory) -> Path:
    """A folder of a 4-minute song (sampled), a 2-minute one (too short to sample) and a 20 s clip."""
    folder = tmp_path_factory.mktemp("songs")
    long_song(folder / "long.wav", 240)
    long_song(folder / "medium.wav", 120)
    sf.write(folder / "clip.wav", sf.read(CLIPS / "jazz.00000.wav", frames=20 * RATE)[0], RATE)
    return folder


def test_a_long_file_gets_five_windows_one_in_each_fifth_and_a_short_one_is_analysed_whole():
    assert sampling.window_starts(300, 30) == [15, 75, 135, 195, 255]  # 15-45 s, ..., 255-285 s: clear of the ends
    starts = sampling.window_starts(600, 30)
    assert len(starts) == 5 and starts[0] > 0 and starts[-1] + 30 < 600
    assert sampling.window_starts(180, 30) == [3, 39, 75, 111, 147]  # six windows' worth: five of them
    assert sampling.window_starts(179.9, 30) is None  # fewer: every window, as today
    assert sampling.window_starts(40, 30) is None
    assert sampling.window_starts(120, 10.24, 3) == pytest.approx([14.88, 54.88, 94.88])  # AST's 10.24 s windows


@pytest.mark.parametrize("suffix", [".wav", ".flac", ".ogg", ".mp3", ".opus", ".m4a"])
def test_seeking_gives_the_samples_of_the_whole_decode(tmp_path, suffix):
    """libsndfile (WAV, FLAC, Ogg Vorbis, MP3) and FFmpeg (M4A) seek to
    the sample: what an excerpt decodes is what the whole file's decode holds there, at the file's own rate."""
    source = long_song(tmp_path / "song.wav", 70)
    path = source if suffix == ".wav" else tmp_path / f"song{suffix}"
    if path != source:
        ffmpeg("-i", str(source), str(path))
    rate = audio._read_file(path, 1.0)[1]  # the file's own rate (Opus: 24 kHz from FFmpeg's encoder here)
    whole = load_audio(path, rate)
    for start in (0.0, 23.4, 55.0):
        (excerpt,) = load_excerpts(path, rate, [(start, 10.0)])
        expected = whole.samples[int(round(start * rate)) :][: 10 * rate]
        assert len(excerpt.samples) == len(expected) == 10 * rate
        if suffix == ".m4a":
            # FFmpeg starts decoding AAC at the packet that holds the seek point, with no packet before it: its first
            # frame (1024 samples, 46 ms) lacks its overlap with the frame before and differs; from the next one on,
            # the samples agree.
            np.testing.assert_allclose(excerpt.samples[1024:], expected[1024:], atol=1e-4, err_msg=f"at {start} s")
        elif suffix == ".mp3":
            # libmpg123 starts decoding a few frames before the seek point, but its first frame after it can lack the
            # bits of earlier frames (the bit reservoir) and the overlap they leave: it differs by up to some 1e-3.
            # After it, a few dozen samples still differ by some 1e-5; the rest are the same.
            np.testing.assert_allclose(excerpt.samples[:1152], expected[:1152], atol=5e-3)
            np.testing.assert_allclose(excerpt.samples[1152:], expected[1152:], atol=1e-4)
        else:
            np.testing.assert_allclose(excerpt.samples, expected, atol=1e-6, err_msg=f"{suffix} at {start} s")
        assert excerpt.source_seconds == pytest.approx(70, abs=0.1)


def test_only_the_chosen_windows_are_decoded(songs, monkeypatch, tiny_hubert_dir):
    classifier = tag.load_model(replace(Settings.from_environment(), model_id=str(tiny_hubert_dir)))
    read = []
    original = audio._read_file
    monkeypatch.setattr(
        audio,
        "_read_file",
        lambda path, seconds, start=0.0: read.append((start, seconds)) or original(path, seconds, start),
    )
    some = sampling.excerpts(classifier, songs / "long.wav")
    assert read == [(start, 30.0) for start in (9, 57, 105, 153, 201)]  # 150 s of the 240 s
    assert some.spans == [(start, start + 30.0) for start in (9, 57, 105, 153, 201)] and some.seconds == 240
    assert some.windows.shape == (5, 30 * classifier.sampling_rate)
    assert sampling.excerpts(classifier, songs / "medium.wav") is None  # decoded whole instead


def test_the_default_answers_from_five_windows_and_all_windows_from_every_one(songs, tiny_hubert_dir, tmp_path):
    sampled, every = tmp_path / "sampled.csv", tmp_path / "every.csv"
    assert run_here(tiny_hubert_dir, [str(songs), "--output", str(sampled)])[0] == 0
    assert run_here(tiny_hubert_dir, [str(songs), "--output", str(every), "--all-windows"])[0] == 0
    some, all_ = read_rows(sampled), read_rows(every)
    name = {Path(p).name: p for p in some}
    long, medium, clip = name["long.wav"], name["medium.wav"], name["clip.wav"]
    assert (some[long]["windows"], all_[long]["windows"]) == ("5", "8")
    assert some[long]["seconds"] == all_[long]["seconds"] == "240.0"  # the file's length, however many were heard
    for path in (medium, clip):  # too short to sample: the same answer either way
        assert some[path] == all_[path]
    assert all_[medium]["windows"] == "4" and all_[clip]["windows"] == "1"
    three = [str(songs / "long.wav"), "--output", str(tmp_path / "3.jsonl"), "--windows", "3"]  # JSON lines too
    assert run_here(tiny_hubert_dir, three)[0] == 0
    assert '"windows": 3' in (tmp_path / "3.jsonl").read_text()

    # The sampled answer is the answer `Classifier.classify` gives those five windows, music gate included.
    classifier = tag.load_model(replace(Settings.from_environment(), model_id=str(tiny_hubert_dir)))
    whole = classifier.decode(long)
    rate, starts = classifier.sampling_rate, sampling.window_starts(240, 30)
    five = np.concatenate([whole.samples[int(s * rate) :][: 30 * rate] for s in starts])
    full_band = np.concatenate([whole.gate_audio[int(s * audio.GATE_RATE) :][: 30 * audio.GATE_RATE] for s in starts])
    alone = result_row(long, classifier.classify(Clip(five, rate, 150, (), full_band)), 240)
    assert [float(some[long][g]) for g in GENRES] == pytest.approx([alone[g] for g in GENRES], abs=1e-4)
    assert float(some[long]["music_score"]) == pytest.approx(alone["music_score"], abs=2e-3)


def test_the_progress_bar_counts_files_and_its_time_left_when_windows_are_sampled(
    songs, tiny_hubert_dir, tmp_path, monkeypatch
):
    """The bar counts files, not windows (its time left is the files left at the pace of the files so far): it moves
    one file at a time and ends at 3/3 with no time left."""
    from tqdm import tqdm

    shown = []
    original = tqdm.update

    def update(bar, n=1):
        result = original(bar, n)
        shown.append((bar.n, bar.total))
        return result

    monkeypatch.setattr(tqdm, "update", update)
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert run_here(tiny_hubert_dir, [str(songs), "--output", str(tmp_path / "genres.csv")])[0] == 0
    assert shown == [(1, 3), (2, 3), (3, 3)]
    bar = sys.stderr.getvalue().replace("\r", "\n").strip().splitlines()[-1]
    assert "100%" in bar and "3/3 files" in bar and "<00:00" in bar


@pytest.mark.slow
def test_a_sampled_run_killed_midway_resumes_without_repeating_rows(tiny_hubert_dir, tmp_path):
    folder = tmp_path / "songs"
    folder.mkdir()
    long_song(tmp_path / "song.wav", 200)
    for i in range(8):  # hard links: eight long files, one song's bytes
        os.link(tmp_path / "song.wav", folder / f"song {i}.wav")
    output = tmp_path / "genres.csv"
    before = tag_killed_after_rows(tiny_hubert_dir, folder, output)
    kept = before.count("\n") - 1
    assert 2 <= kept < 8, before

    status, printed = run_here(tiny_hubert_dir, [str(folder), "--output", str(output)])
    assert status == 0, printed
    assert f"Tagged {8 - kept} file(s)" in printed and f"{kept} already there were skipped" in printed
    assert output.read_text().startswith(before)
    rows = read_rows(output)
    assert sorted(rows) == sorted(str(folder / f"song {i}.wav") for i in range(8))
    assert {row["windows"] for row in rows.values()} == {"5"} and {row["seconds"] for row in rows.values()} == {"200.0"}
