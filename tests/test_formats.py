"""Every file people really have, through the served app: phone, browser and video formats decoded by FFmpeg.

The files are made here with FFmpeg from a real GTZAN clip, as phones, browsers and editors write them.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from .helpers import CLIPS, classify_file
from .test_app import check_answer

pytestmark = pytest.mark.skipif(not shutil.which("ffmpeg"), reason="FFmpeg is not installed")
SOURCE = CLIPS / "country.00000.wav"

# name -> ffmpeg output options: what an iPhone, a browser's MediaRecorder, an editor or a camera leaves
FORMATS = {
    "voice-memo.m4a": ["-c:a", "aac", "-b:a", "96k"],
    "raw.aac": ["-c:a", "aac", "-f", "adts"],
    "browser-recording.webm": ["-c:a", "libopus", "-ar", "48000"],
    "old-library.wma": ["-c:a", "wmav2"],
    "studio.aiff": ["-c:a", "pcm_s16be"],
    "aac-named.mp3": ["-c:a", "aac", "-f", "mp4"],  # the content decides, not the name
}


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True)


@pytest.fixture(scope="module")
def real_world_files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("formats")
    files = {}
    for name, options in FORMATS.items():
        files[name] = folder / name
        ffmpeg("-i", str(SOURCE), *options, str(files[name]))
    files["phone-video.mp4"] = folder / "phone-video.mp4"  # a video with sound, 1280x720 like a phone's
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=1280x720:rate=30:duration=12",
        "-i",
        str(SOURCE),
        "-shortest",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-c:a",
        "aac",
        str(files["phone-video.mp4"]),
    )
    return files


@pytest.mark.parametrize("name", [*FORMATS, "phone-video.mp4"])
def test_real_world_formats_are_classified(served_tiny, real_world_files, name):
    check_answer(classify_file(served_tiny.client(), real_world_files[name]), expected_windows=1)


def test_broken_inputs_get_their_message_and_the_server_keeps_serving(served_tiny, real_world_files, tmp_path):
    silent_video = tmp_path / "silent-video.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=320x240:rate=10:duration=3", "-c:v", "libx264", str(silent_video))
    cut = tmp_path / "cut-short.m4a"  # a recording stopped before the phone wrote its index
    cut.write_bytes(real_world_files["voice-memo.m4a"].read_bytes()[:200_000])
    client = served_tiny.client()
    cases = {silent_video: "This file has no audio track", cut: "is incomplete or damaged"}
    for path, message in cases.items():
        with pytest.raises(Exception, match=re.escape(message)) as raised:
            classify_file(client, path)
        assert "ffmpeg" not in str(raised.value).lower()  # no command line, no stderr dump
    check_answer(classify_file(client, real_world_files["voice-memo.m4a"]))
    assert "Traceback" not in served_tiny.log


def test_without_ffmpeg_the_app_says_what_to_install(served_small_server, real_world_files, tmp_path):
    client = served_small_server.client()
    with pytest.raises(Exception, match=r"\.m4a needs FFmpeg, which is not installed on this server: install"):
        classify_file(client, real_world_files["voice-memo.m4a"])
    wav = tmp_path / "short.wav"  # under the small server's 1 MB upload limit
    ffmpeg("-i", str(SOURCE), "-t", "10", str(wav))
    check_answer(classify_file(client, wav))  # libsndfile still reads WAV
