"""Decode any audio input into mono float32 at a target rate, and cut it into model windows.

This is the one preprocessing path: the app, `train/finetune.py` and `train/evaluate.py` all call it.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from . import ffmpeg

log = logging.getLogger(__name__)

MIN_SECONDS = 0.5
GATE_RATE = 22050  # the music gate's rate (`gate.py`): the GTZAN table's features are defined at it
SILENCE_PEAK = 1e-4  # -80 dBFS: below this there is nothing to hear, let alone classify
MIN_RATE, MAX_RATE = 1_000, 384_000
BLOCK_SECONDS = 10  # decode in blocks so only the analysed part (mixed to mono) is ever held
# What people send: libsndfile reads the first group, FFmpeg (when installed) the rest. The suffixes only pick
# files when a training folder is scanned; decoding goes by content, so an AAC file named .mp3 is read.
ACCEPTED = "WAV, FLAC, OGG/Opus, MP3, AIFF; M4A/AAC (iPhone), WebM (browser recordings), WMA; MP4, MOV, MKV video"
AUDIO_SUFFIXES = {
    ".wav",
    ".au",
    ".flac",
    ".ogg",
    ".oga",
    ".opus",
    ".mp3",
    ".aif",
    ".aiff",
    ".m4a",
    ".aac",
    ".mp4",
    ".m4v",
    ".mov",
    ".webm",
    ".mkv",
    ".wma",
    ".caf",
    ".3gp",
    ".amr",
}

AudioInput = str | os.PathLike | bytes | tuple[int, np.ndarray]


class AudioError(ValueError):
    """Bad input, with a short message meant for the person who sent it."""


@dataclass(frozen=True)
class Clip:
    """Decoded audio plus what a person should be told about how it was read."""

    samples: np.ndarray  # mono float32 in [-1, 1]
    sampling_rate: int
    source_seconds: float  # length of what was given (inf: unknown, past the cut), or what decoded if cut short
    notes: tuple[str, ...] = ()
    gate_samples: np.ndarray | None = None  # the same audio at GATE_RATE, where `samples` are at another rate

    @property
    def gate_audio(self) -> np.ndarray:
        """The clip at GATE_RATE, for the music gate: its full band where it was decoded with `gate=True`."""
        if self.gate_samples is not None:
            return self.gate_samples
        if self.sampling_rate == GATE_RATE:
            return self.samples
        return resample(self.samples, self.sampling_rate, GATE_RATE)

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.sampling_rate


def _fmt(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.0f} s"
    minutes, sec = divmod(round(seconds), 60)
    return f"{minutes}:{sec:02d} min"


def _to_float(data: np.ndarray) -> np.ndarray:
    """Integer PCM (signed, or unsigned 8-bit style) to float32 in [-1, 1]."""
    if data.dtype.kind == "u":
        half = 2 ** (8 * data.dtype.itemsize - 1)
        return ((data.astype(np.float64) - half) / half).astype(np.float32)
    if data.dtype.kind == "i":
        return (data / float(2 ** (8 * data.dtype.itemsize - 1))).astype(np.float32)
    if data.dtype.kind == "f":
        return data.astype(np.float32, copy=False)
    raise AudioError(f"Unsupported sample type {data.dtype}; send integer or float samples.")


def _mono(data: np.ndarray) -> np.ndarray:
    """Mix a (samples, channels) block to mono."""
    return data[:, 0] if data.shape[1] == 1 else data.mean(axis=1)


def _read_array(sr: int, data: np.ndarray, max_seconds: float) -> tuple[np.ndarray, float]:
    data = np.asarray(data)
    if data.size == 0:
        raise AudioError("This recording has no audio: it is 0 seconds long.")
    if data.ndim == 1:
        data = data[:, None]
    elif data.ndim != 2:
        raise AudioError(f"Expected mono or multichannel samples, got an array of shape {data.shape}.")
    elif data.shape[1] > data.shape[0]:  # librosa's (channels, samples) layout
        data = data.T
    return _mono(_to_float(data[: int(max_seconds * sr)])), data.shape[0] / sr


def _header_promises_more(sndfile_log: str) -> bool:
    """True when a WAV/AIFF header announces more audio bytes than the file holds (a cut-off file).

    libsndfile logs "data : <header size> (should be <real size>)"; streaming writers put a placeholder
    size (0 or 0xFFFFFFFF) in the header, which is no sign of truncation.
    """
    match = re.search(r"data\s*:\s*(\d+)\s*\(should be (\d+)\)", sndfile_log)
    return bool(match) and int(match[2]) < int(match[1]) < 0xFFFFFFFF


def _read_file(
    source: str | os.PathLike | bytes, max_seconds: float, start: float = 0.0
) -> tuple[np.ndarray, int, float, bool]:
    """libsndfile first (fast, in process); what it cannot read goes to FFmpeg. The content decides, not the name.
    With `start` (seconds, a path only), both seek there and decode nothing before it."""
    if isinstance(source, bytes):
        if not source:
            raise AudioError("The file is empty (0 bytes); please choose an audio file.")
        try:
            return _read_with_libsndfile(io.BytesIO(source), "this file", max_seconds)
        except RuntimeError:  # sf.LibsndfileError
            with tempfile.NamedTemporaryFile() as tmp:  # FFmpeg seeks (MP4 keeps its index last)
                tmp.write(source)
                tmp.flush()
                return _read_with_ffmpeg(Path(tmp.name), "this file", max_seconds)
    path = Path(source)
    if not path.is_file():
        raise AudioError(f"Could not find the file {path.name}.")
    if path.stat().st_size == 0:
        raise AudioError(f"The file {path.name} is empty (0 bytes); please choose an audio file.")
    try:
        return _read_with_libsndfile(_native_name(path), path.name, max_seconds, start)
    except RuntimeError as err:  # sf.LibsndfileError: "Format not recognised", ...; FFmpeg may know better
        log.debug("libsndfile cannot read %s (%s); trying FFmpeg", path.name, err)
        return _read_with_ffmpeg(path, path.name, max_seconds, start)


def _native_name(path: Path) -> str | bytes:
    """The name libsndfile opens. On POSIX a name is bytes, and an old library's may not be UTF-8 (Latin-1 "café" is
    b"caf\xe9", "caf\udce9" to Python): soundfile would encode such a str strictly and fail before any reading, so it
    gets the bytes themselves. Windows names are Unicode, and soundfile opens them as such."""
    return str(path) if os.name == "nt" else os.fsencode(path)


def _read_with_libsndfile(
    handle, name: str, max_seconds: float, start: float = 0.0
) -> tuple[np.ndarray, int, float, bool]:
    with sf.SoundFile(handle) as f:
        sr, total = f.samplerate, f.frames
        truncated = _header_promises_more(f.extra_info)
        first = min(int(round(start * sr)), total)
        if first:
            f.seek(first)  # libsndfile seeks to the sample in WAV, FLAC, Ogg and MP3 (a RuntimeError: FFmpeg's turn)
        samples = np.empty(min(total - first, int(max_seconds * sr)), dtype=np.float32)  # filled in place
        done, block = 0, int(BLOCK_SECONDS * sr)
        while done < len(samples):
            data = f.read(min(block, len(samples) - done), dtype="float32", always_2d=True)
            if len(data) == 0:
                break
            samples[done : done + len(data)] = _mono(data)
            done += len(data)
    if done == 0:
        raise AudioError(f"The file {name} has no audio: it is 0 seconds long.")
    return samples[:done], sr, total / sr, truncated


def _read_with_ffmpeg(
    path: Path, name: str, max_seconds: float, start: float = 0.0
) -> tuple[np.ndarray, int, float, bool]:
    if not ffmpeg.available():
        if path.suffix.lower() == ".wav":  # libsndfile reads WAV itself: FFmpeg would not help, the file is bad
            raise AudioError(f"The file {name} is damaged: it is named .wav, but libsndfile cannot read it as WAV.")
        raise AudioError(
            f"Could not read {name} with libsndfile (WAV, FLAC, OGG, MP3, AIFF). Reading other formats such as "
            f"{path.suffix or '.m4a'} needs FFmpeg, which is not installed on this server: install ffmpeg."
        )
    try:
        blocks, sr, total, broke_off = ffmpeg.decode(path, max_seconds, _mono, BLOCK_SECONDS, start)
    except ffmpeg.FFmpegError as err:
        raise AudioError(str(err).replace(path.name, name)) from None
    return np.concatenate(blocks), sr, total, broke_off


def load_audio(source: AudioInput, sampling_rate: int, max_seconds: float = 600.0, gate: bool = False) -> Clip:
    """Decode a path, raw bytes or a `(rate, samples)` pair into a checked mono clip at `sampling_rate`.

    Only the first `max_seconds` are decoded; raises `AudioError` for input nobody could classify. With `gate`, the
    clip also keeps its full band at GATE_RATE for the music gate, when `sampling_rate` is another rate.
    """
    notes: list[str] = []
    if isinstance(source, tuple):
        sr, data = source
        if not isinstance(sr, (int, np.integer)) or sr <= 0:
            raise AudioError(f"Invalid sample rate {sr!r}.")
        sr = int(sr)
        samples, total = _read_array(sr, data, max_seconds)
    else:
        samples, sr, total, truncated = _read_file(source, max_seconds)
        if truncated:
            notes.append(f"The file looks truncated: only the {_fmt(total)} that could be decoded were analysed.")
    if not MIN_RATE <= sr <= MAX_RATE:
        raise AudioError(f"Unsupported sample rate {sr} Hz; use audio between 1 kHz and 384 kHz.")
    # A NaN or infinity anywhere makes the sum non-finite; unlike isfinite() or abs(), no clip-sized temporary.
    if not np.isfinite(samples.sum(dtype=np.float64)):
        raise AudioError("The audio contains invalid samples (NaN or infinity); please send a valid recording.")
    peak = max(float(samples.max(initial=0.0)), -float(samples.min(initial=0.0)))
    if peak > 1.0:  # float audio beyond full scale (or integer-valued floats): bring it back into [-1, 1]
        samples = samples / peak
    if len(samples) < MIN_SECONDS * sr:
        raise AudioError(
            f"This clip is only {_fmt(len(samples) / sr)} long; please give at least {MIN_SECONDS} s of audio."
        )
    if peak < SILENCE_PEAK:
        raise AudioError("This clip is silent: there is no sound to classify.")
    notes += length_notes(total, max_seconds)
    gate_samples = None
    if gate and sampling_rate != GATE_RATE:
        gate_samples = samples if sr == GATE_RATE else resample(samples, sr, GATE_RATE)
    if sr != sampling_rate:
        samples = resample(samples, sr, sampling_rate)
    return Clip(np.ascontiguousarray(samples, dtype=np.float32), sampling_rate, total, tuple(notes), gate_samples)


def length_notes(total: float, max_seconds: float) -> list[str]:
    """What a person is told about a file longer than the stretch analysed (total: inf where the file does not say)."""
    if total == math.inf:  # a stream whose container does not give its length
        return [f"The clip is longer than {_fmt(max_seconds)}: only the first {_fmt(max_seconds)} were analysed."]
    if total > max_seconds:
        return [f"The clip is {_fmt(total)} long: only the first {_fmt(max_seconds)} were analysed."]
    return []


def file_seconds(path: str | os.PathLike) -> float | None:
    """A file's length as its header gives it (libsndfile, else ffprobe), decoding nothing; None where it does not say
    or cannot be read (decoding the whole file then says why)."""
    path = Path(path)
    try:
        info = sf.info(_native_name(path))
        return info.frames / info.samplerate if info.frames > 0 else None
    except (RuntimeError, OSError):  # not libsndfile's: FFmpeg's container may say
        pass
    if not ffmpeg.available():
        return None
    try:
        return ffmpeg.probe(path)[2]
    except ffmpeg.FFmpegError:
        return None


def load_excerpts(
    path: str | os.PathLike, sampling_rate: int, excerpts: list[tuple[float, float]], gate: bool = False
) -> list[Clip]:
    """The stretches (start, seconds) of a file, each decoded on its own after seeking to its start (libsndfile, else
    FFmpeg's `-ss` before `-i`), mixed and resampled as `load_audio` does a whole file: a few windows of a long song
    cost what they hold, not the song. Each clip's `source_seconds` is the file's length. No silence or length checks:
    the caller decides what too little sound means for its excerpts."""
    clips = []
    for start, seconds in excerpts:
        samples, sr, total, _ = _read_file(path, seconds, start)
        if not MIN_RATE <= sr <= MAX_RATE:
            raise AudioError(f"Unsupported sample rate {sr} Hz; use audio between 1 kHz and 384 kHz.")
        if not np.isfinite(samples.sum(dtype=np.float64)):
            raise AudioError("The audio contains invalid samples (NaN or infinity); please send a valid recording.")
        peak = max(float(samples.max(initial=0.0)), -float(samples.min(initial=0.0)))
        if peak > 1.0:  # as in load_audio, though by this excerpt's peak, not the file's
            samples = samples / peak
        gate_samples = None
        if gate and sampling_rate != GATE_RATE:
            gate_samples = samples if sr == GATE_RATE else resample(samples, sr, GATE_RATE)
        if sr != sampling_rate:
            samples = resample(samples, sr, sampling_rate)
        clips.append(Clip(np.ascontiguousarray(samples, dtype=np.float32), sampling_rate, total, (), gate_samples))
    return clips


@contextlib.contextmanager
def c_stderr_logged() -> Iterator[None]:
    """While it runs, what C code prints onto fd 2 goes to this log (debug), not onto the terminal.

    libsndfile's MP3 decoder, libmpg123, reports a damaged stream from C ("[src/libmpg123/parse.c:...] error: ...",
    "Note: Trying to resync..."), onto fd 2 whatever Python's `sys.stderr` is. Here fd 2 becomes a temporary file,
    logged line by line at the end, and Python's own stderr (progress bar, warnings, errors) writes to a copy of the
    terminal: one redirection for the whole run, so decoding threads need no lock and nothing of Python's is caught
    with the noise. Enter it before logging is set up, so that the log's handler writes to the terminal too.
    """
    python_stderr = sys.stderr
    try:
        python_stderr.flush()
        terminal = os.dup(2)
    except (AttributeError, OSError, ValueError):  # no stderr at all: nothing to keep off it
        yield
        return
    with tempfile.TemporaryFile() as printed:  # a file, not a pipe: a flood of notes cannot stall a decoder
        os.dup2(printed.fileno(), 2)
        try:
            if _fd(python_stderr) == 2:  # not when it is captured elsewhere (pytest)
                sys.stderr = open(
                    terminal,
                    "w",
                    buffering=1,
                    encoding=python_stderr.encoding,
                    errors=python_stderr.errors,
                    closefd=False,
                )
            yield
        finally:
            copy, sys.stderr = sys.stderr, python_stderr
            if copy is not python_stderr:
                copy.flush()
                for handler in logging.getLogger().handlers:  # set up meanwhile: back to the stderr that lives on
                    if isinstance(handler, logging.StreamHandler) and handler.stream is copy:
                        handler.setStream(python_stderr)
            os.dup2(terminal, 2)
            os.close(terminal)
            printed.seek(0)
            for line in printed:
                if text := line.decode(errors="replace").rstrip():
                    log.debug("printed by a decoder: %s", text)


def _fd(stream) -> int | None:
    try:
        return stream.fileno()
    except (AttributeError, OSError, ValueError):
        return None


def resample(samples: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """`librosa.resample(res_type="soxr_hq")`, called through soxr directly: the same samples, without importing
    librosa's numba kernels, which compile for seconds on a fresh start (see docs/space.md, cold starts)."""
    resampled = soxr.resample(samples, orig_sr, target_sr, quality="HQ")
    length = math.ceil(len(samples) * target_sr / orig_sr)  # librosa's fix_length
    return np.pad(resampled[:length], (0, max(0, length - len(resampled))))


def window_starts(n_samples: int, window: int) -> list[int]:
    """Start offsets of fixed-length windows covering a clip.

    Windows tile the clip; a tail of at least a quarter window gets one more window aligned to the
    clip's end (overlapping its neighbour), a shorter tail is ignored. A clip shorter than one
    window is a single (short) window.
    """
    if n_samples <= window:
        return [0]
    starts = list(range(0, n_samples - window + 1, window))
    if n_samples - (starts[-1] + window) >= window // 4:
        starts.append(n_samples - window)
    return starts


def split_windows(samples: np.ndarray, window: int) -> tuple[np.ndarray, list[int]]:
    """Cut a clip into an array of windows (n_windows, length) and their start offsets."""
    starts = window_starts(len(samples), window)
    length = min(window, len(samples))
    return np.stack([samples[s : s + length] for s in starts]), starts
