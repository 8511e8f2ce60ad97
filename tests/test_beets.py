"""The beets plugin, end to end: a real library in a temporary BEETSDIR, the plugin loaded from this checkout by
`pluginpath`, and `beet` run from the repository's root as a user runs it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from genre_classifier.library import batch, filetags

from .helpers import ROOT
from .test_formats import ffmpeg
from .test_tagwrite import SOURCE, mutagen_genre

pytestmark = [
    pytest.mark.slow,  # runs beet, which loads the model
    pytest.mark.skipif(not shutil.which("ffmpeg"), reason="FFmpeg is not installed: the test files are made with it"),
]
BEET = shutil.which("beet", path=str(Path(sys.executable).parent)) or "beet"  # this environment's beets first


@pytest.fixture
def beets(tmp_path):
    """beet(*args) in a fresh library that imported three copied files (one with its owner's genre)."""
    music = tmp_path / "music"
    music.mkdir()
    ffmpeg("-t", "4", "-i", str(SOURCE), "-metadata", "title=Clear", str(music / "clear.flac"))
    ffmpeg(
        "-t",
        "4",
        "-i",
        str(SOURCE),
        "-metadata",
        "title=Owned",
        "-metadata",
        "genre=Chamber Music",
        "-c:a",
        "libmp3lame",
        str(music / "owned.mp3"),
    )
    ffmpeg("-t", "4", "-i", str(SOURCE), "-metadata", "title=Third", "-c:a", "libvorbis", str(music / "third.ogg"))
    return beets_library(tmp_path, music), music


def beets_library(tmp_path: Path, music: Path) -> Callable[..., str]:
    """beet(*args) in a fresh library in `tmp_path` that imported the files of `music` as they are."""
    home = tmp_path / "beets"
    home.mkdir()
    (home / "config.yaml").write_text(
        f"directory: {tmp_path / 'library'}\nlibrary: {home / 'library.db'}\n"
        f"pluginpath: [{ROOT / 'beetsplug'}]\nplugins: genreclassifier\n"
        "import:\n  copy: no\n  write: no\n  quiet: yes\n"
    )
    env = {**os.environ, "BEETSDIR": str(home), "MODEL_ID": "baseline"}

    def beet(*args: str, logged: bool = False) -> str:
        """What `beet *args` prints (and, `logged`, what it logs: onto stderr)."""
        result = subprocess.run([BEET, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
        return result.stdout + result.stderr if logged else result.stdout

    beet("import", "-A", str(music))
    return beet


def test_beet_genreclassify_sets_genres_keeps_the_owners_and_writes_when_asked(beets):
    """Two classifying runs (each loads the model in a fresh `beet`): a forced preview, then the real one."""
    beet, music = beets
    assert sorted(beet("ls", "-f", "$title|$genres").splitlines()) == ["Clear|", "Owned|Chamber Music", "Third|"]
    before = {path: path.read_bytes() for path in music.iterdir()}

    pretend = beet("genreclassify", "-p", "-f")
    assert "[3/3]" in pretend and pretend.count(": Classical (") == 3, pretend  # progress, item by item
    assert "Chamber Music" in pretend.split("Owned")[1]  # the change -f would make: genres Chamber Music → Classical
    assert beet("ls", "genre_confidence:0..") == ""  # nothing stored
    assert {path: path.read_bytes() for path in music.iterdir()} == before

    done = beet("genreclassify", "-w")
    assert "kept its genre Chamber Music (-f replaces it)" in done, done
    listing = "$title|$genres|$genre_confidence|$genre_model"
    rows = sorted(line.split("|") for line in beet("ls", "-f", listing).splitlines())
    assert [(title, genres, model) for title, genres, _, model in rows] == [
        ("Clear", "Classical", "baseline"),
        ("Owned", "Chamber Music", "baseline"),
        ("Third", "Classical", "baseline"),
    ]
    assert all(0.8 < float(confidence) <= 1 for _, _, confidence, _ in rows), rows
    # Typed attributes: numeric range queries (both must hold), which string attributes would not answer.
    assert len(beet("ls", "genre_confidence:0.8..", "genre_classical:0.8..").splitlines()) == 3
    assert mutagen_genre(music / "clear.flac") == ["Classical"] == filetags.read_genres(music / "third.ogg")
    assert mutagen_genre(music / "owned.mp3") == ["Chamber Music"]

    again = beet("genreclassify")  # the same model answered them all: nothing to do, no model loaded
    assert "3 item(s) already classified by baseline are skipped (-f classifies them again)." in again


def test_beet_genreclassify_sets_no_genre_on_speech_unless_asked(speech_wav, tmp_path):
    music = tmp_path / "music"
    music.mkdir()
    ffmpeg("-i", str(speech_wav), "-metadata", "title=Voice memo", "-c:a", "libmp3lame", str(music / "memo.mp3"))
    beet = beets_library(tmp_path, music)

    done = beet("genreclassify")
    assert "Voice memo: not music (0." in done and "; genre not set (-n sets " in done, done
    genre = done.split("-n sets ")[1].split(")")[0]
    title, genres, score = beet("ls", "-f", "$title|$genres|$genre_music_score").strip().split("|")
    assert (title, genres) == ("Voice memo", "") and float(score) < 0.5
    # Typed: a numeric range query finds the item below 0.5 and not above it.
    assert beet("ls", "genre_music_score:..0.5").strip() and beet("ls", "genre_music_score:0.5..") == ""

    # -u too: the top genre of speech may well be unsure, which is not what is tested here.
    assert f"Voice memo: {genre} (" in beet("genreclassify", "-f", "-n", "-u")
    assert beet("ls", "-f", "$genres").strip() == genre


def test_beet_genreclassify_classifies_a_library_in_processes(tmp_path):
    """A library big enough for the embedded model's processes (`batch.file_processes`), under `beet` itself: its
    processes start `beet`'s own main module afresh (spawn), and every item gets its genre."""
    processes = min(os.cpu_count() or 1, batch.MAX_PROCESSES)
    if processes < 2:
        pytest.skip("one core: one process")
    music = tmp_path / "music"
    music.mkdir()
    ffmpeg("-t", "2", "-i", str(SOURCE), str(tmp_path / "clip.flac"))
    count = batch.FILES_A_PROCESS * processes
    for i in range(count):  # hard links: one clip's bytes
        os.link(tmp_path / "clip.flac", music / f"clip {i:02d}.flac")
    beet = beets_library(tmp_path, music)

    done = beet("-v", "genreclassify", logged=True)
    assert f"classifying {count} items in {processes} processes" in done, done
    assert done.count(": Classical (") == count and f"[{count}/{count}]" in done, done
    assert beet("ls", "-f", "$genres").split() == ["Classical"] * count
