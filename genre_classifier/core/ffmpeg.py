"""Decode what libsndfile cannot (phone, browser and video formats) with the FFmpeg command-line tools.

ffprobe finds the first audio stream; ffmpeg decodes only the first `max_seconds` of it to float32 at its
own rate and channel count, streamed from the pipe block by block, so the caller mixes and resamples it
exactly like a libsndfile file (one preprocessing path) and memory stays bounded. No shell: the file's
absolute path is one argument. Only local files and common media containers are opened, so an uploaded
playlist cannot make the server fetch URLs or read its other files.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

TIMEOUT_S = 60.0  # decoding ten minutes of AAC takes about a second; a file that needs a minute is broken
FORMATS = (
    "mov,matroska,webm,ogg,mp3,aac,wav,w64,flac,asf,aiff,au,caf,amr,avi,mpegts,mpeg,flv,ac3,eac3,dts,wv,ape,"
    "tta,mpc,mpc8,loas,m4v,3gp,rm,voc,sox,dsf"
)  # demuxers only: no playlists (hls), no concat, no image or device inputs
SAFE_INPUT = ["-protocol_whitelist", "file", "-format_whitelist", FORMATS]


class FFmpegError(Exception):
    """FFmpeg could not decode the file; the message is meant for the person who sent it."""


def available() -> bool:
    return shutil.which("ffmpeg") is not None and shutil.which("ffprobe") is not None


def probe(path: Path) -> tuple[int, int, float | None]:
    """Sample rate, channels and duration (None when the container does not say) of the first audio stream."""
    entries = "stream=codec_type,sample_rate,channels:format=duration"
    command = ["ffprobe", "-v", "error", *SAFE_INPUT, "-show_entries", entries, "-of", "json", str(path.resolve())]
    try:
        result = subprocess.run(command, capture_output=True, timeout=TIMEOUT_S, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise FFmpegError(f"Reading {path.name} took longer than {TIMEOUT_S:.0f} s; the file may be damaged.") from None
    reason = result.stderr.decode(errors="replace").strip()
    if result.returncode != 0:
        log.info("ffprobe refused %s: %s", path.name, reason[-300:])
        if "moov atom not found" in reason:
            raise FFmpegError(
                f"The file {path.name} is incomplete or damaged: its index is missing, as when a recording or "
                "download is cut short."
            )
        raise FFmpegError(
            f"Could not read {path.name} as audio: it is not an audio or video format this app knows, or it is damaged."
        )
    info = json.loads(result.stdout or b"{}")
    streams = info.get("streams", [])
    audio = [s for s in streams if s.get("codec_type") == "audio"]
    if not audio:
        if any(s.get("codec_type") == "video" for s in streams):
            raise FFmpegError(f"This file has no audio track: {path.name} is a video without sound.")
        raise FFmpegError(f"Could not read {path.name} as audio: it holds no audio.")
    sr, channels = int(audio[0].get("sample_rate") or 0), int(audio[0].get("channels") or 0)
    if sr <= 0 or channels <= 0:
        raise FFmpegError(f"Could not read the audio of {path.name}: its sample rate or channel count is missing.")
    duration = info.get("format", {}).get("duration")
    return sr, channels, float(duration) if duration else None


def decode(
    path: Path, max_seconds: float, mix: Callable[[np.ndarray], np.ndarray], block_seconds: float, start: float = 0.0
) -> tuple[list[np.ndarray], int, float, bool]:
    """Blocks of mono samples (each mixed by `mix`), the rate, the file's length and whether decoding broke off.

    The length is what was decoded when decoding broke off, and infinite when the container does not say and
    the file goes on past `max_seconds`. With `start`, the stretch from there (`-ss` before `-i`: FFmpeg seeks in the
    container and decodes from the packet before it, dropping what precedes `start`).
    """
    sr, channels, duration = probe(path)
    # Where the container does not give its length (a browser's WebM recording), one more second tells whether
    # the stream goes on past the cut; it is dropped below.
    seconds = max_seconds + (1 if duration is None else 0)
    seek = ["-ss", f"{start:.6f}"] if start else []
    command = [
        "ffmpeg",
        "-nostdin",
        "-v",
        "error",
        *SAFE_INPUT,
        *seek,
        "-t",
        f"{seconds:.3f}",
        "-i",
        str(path.resolve()),
        "-map",
        "0:a:0",
        "-ac",
        str(channels),
        "-ar",
        str(sr),
        "-f",
        "f32le",
        "-",
    ]
    block_bytes = int(block_seconds * sr) * channels * 4
    with tempfile.TemporaryFile() as errors:  # a file, not a pipe: a flood of decode errors cannot stall ffmpeg
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, stdin=subprocess.DEVNULL)
        timed_out = threading.Event()
        timer = threading.Timer(TIMEOUT_S, lambda: (timed_out.set(), process.kill()))
        timer.start()
        try:
            blocks = [mix(block) for block in _blocks(process.stdout.read, block_bytes, channels)]
            returncode = process.wait()
        finally:  # whatever happened (even an exception in `mix`), no ffmpeg is left running
            timer.cancel()
            process.kill()
            process.wait()
            process.stdout.close()
        errors.seek(0)
        reason = errors.read().decode(errors="replace").strip()
    if timed_out.is_set():
        raise FFmpegError(f"Decoding {path.name} took longer than {TIMEOUT_S:.0f} s; the file may be damaged.")
    if reason or returncode:
        log.info("ffmpeg on %s (exit %d): %s", path.name, returncode, reason[-300:])
    if not blocks:
        raise FFmpegError(f"Could not decode the audio of {path.name}: the file is damaged.")
    decoded = sum(len(b) for b in blocks) / sr
    expected = min(duration - start if duration else decoded, max_seconds)
    broke_off = (bool(reason) or returncode != 0) and decoded < expected - 0.5
    if broke_off:
        return blocks, sr, decoded, True
    if duration is None and decoded > max_seconds:
        return _first(blocks, int(max_seconds * sr)), sr, math.inf, False
    return blocks, sr, duration or decoded, False


def _first(blocks: list[np.ndarray], frames: int) -> list[np.ndarray]:
    """The blocks cut to their first `frames` samples."""
    kept, left = [], frames
    for block in blocks:
        if left <= 0:
            break
        kept.append(block[:left])
        left -= len(kept[-1])
    return kept


def _blocks(read: Callable[[int], bytes], block_bytes: int, channels: int) -> Iterator[np.ndarray]:
    while chunk := read(block_bytes):
        frames = len(chunk) // (4 * channels)
        if frames:
            yield np.frombuffer(chunk[: frames * 4 * channels], dtype="<f4").reshape(frames, channels)
