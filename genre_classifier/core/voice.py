"""Whether a person's voice fills a window: Silero VAD, a speech detector trained on real speech, beside the gate.

The music gate's features learned speech from espeak-ng and from telephone prompts; a voice it has never heard (a
room, a phone line, another language) can still look like music in them. Silero VAD (MIT, its weights inside the
`silero-vad` package) was trained on thousands of hours of real speech in many languages. Its batched "sequence"
model runs on OpenVINO, a dependency already, in about 0.01 s for 30 s of audio on one thread. What it reports is the
share of a window's sounding frames (those within `LOUD_DB` of its loudest) that it hears as speech: silence between
words does not dilute it, and a song's instruments do. Measured in docs/music-gate.md: nine real speech clips in
ten above 0.54, songs with vocals at most about 0.4, instrumental music about 0. A voice singing alone sounds like
speech to it too (0.9-1.0), so where it hears a voice, the voice's pitch decides: a singer holds notes and sustains
vowels, a speaker's pitch glides between consonants. Where it hears no speech in a window that sound fills
(`Detected.no_voice`), no one speaks or calls there, whatever the gate's features say.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.fft

from .audio import resample

log = logging.getLogger(__name__)

RATE = 16000  # the model's rate
FRAME, CONTEXT = 512, 64  # 32 ms frames, each with the last 64 samples of the one before (the model's own framing)
SPEECH = 0.5  # a frame is speech when the model's probability is at least this (Silero's own default)
LOUD_DB = 20.0  # frames within this many dB of the window's loud frames (its 95th percentile) are the sounding ones
SUNG = 0.4  # a voice whose pitch holds in at least this share of its voiced frames sings (`held_pitch`)
VOICED = 0.77  # ... and so does one voiced in this share of its frames (`voiced_share`): above all real speech fitted
# A window holds no voice where the detector hears at most NO_SPEECH of its sounding frames as speech and sound fills
# at least FILLED of it: instrumental music measures 0-0.01 and fills 0.8-1; a bark or a bird's call comes and goes
# (0.25-0.5 filled), and so do a speaker's words.
NO_SPEECH, FILLED = 0.05, 0.75
PITCH_FRAME, PITCH_HOP, HOLD = 1024, 256, 4  # 64 ms frames, 16 ms apart; a held note stays 64 ms (4 hops) later
PITCH_FFT = 1280  # at least PITCH_FRAME + the longest lag (RATE // 70), and fast (2^8 * 5)
MODEL_FILE = "silero_vad_16k_sequence.onnx"
_lock = threading.Lock()


def _model_path() -> Path | None:
    """The ONNX file inside the installed `silero-vad` package, found without importing it (its import sets
    torch's thread count to 1 for the whole process)."""
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / MODEL_FILE
    return path if path.is_file() else None


@functools.cache
def _compiled():
    """The model compiled for the CPU on one thread, once; None when silero-vad or OpenVINO is missing."""
    path = _model_path()
    try:
        import openvino as ov
    except ImportError:
        path = None
    if path is None:
        log.warning("silero-vad or OpenVINO is not installed: voices are told from music by the gate's features alone")
        return None
    return ov.Core().compile_model(str(path), "CPU", {"INFERENCE_NUM_THREADS": 1})


def available() -> bool:
    with _lock:
        return _compiled() is not None


def speech_probabilities(samples: np.ndarray) -> np.ndarray:
    """Silero VAD's speech probability for each 32 ms frame of mono `samples` at 16 kHz, in one call."""
    frames = _frames(samples)
    context = np.zeros((len(frames), CONTEXT), np.float32)
    context[1:] = frames[:-1, -CONTEXT:]
    state = np.zeros((1, 1, 128), np.float32)
    # One call at a time: two threads' infer requests on the model at once hung in OpenVINO 2026.4 (both waiting in
    # the copy of their input), and a call takes about 0.01 s
    with _lock:
        compiled = _compiled()
        request = compiled.create_infer_request()
        request.infer({"input": np.concatenate([context, frames], axis=1), "h": state, "c": state})
        return request.get_tensor(compiled.output("speech_probs")).data.reshape(-1)[: len(frames)].copy()


def _frames(samples: np.ndarray) -> np.ndarray:
    """The samples in rows of FRAME, the last one padded with zeros."""
    frames = np.zeros((max(1, -(-len(samples) // FRAME)), FRAME), np.float32)
    frames.reshape(-1)[: len(samples)] = samples
    return frames


@functools.cache
def _hann() -> np.ndarray:
    return np.hanning(PITCH_FRAME).astype(np.float32)


def _pitch(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each 64 ms frame's pitch period (samples at 16 kHz) and whether it is voiced. Pitch by autocorrelation,
    70-1000 Hz; voiced where it peaks above 0.6 of the frame's energy, in frames no quieter than a tenth of the loud
    ones (only theirs is computed)."""
    frames = np.lib.stride_tricks.sliding_window_view(samples, PITCH_FRAME)[::PITCH_HOP]
    frames = frames - frames.mean(axis=1, keepdims=True)
    rms = np.sqrt(np.mean(frames**2, axis=1))
    loud = rms > np.quantile(rms, 0.95) * 0.1
    shortest, longest = RATE // 1000, RATE // 70
    # float32 (scipy's FFT keeps it, 3x faster than float64), padded just enough that no lag up to `longest` wraps
    spectrum = scipy.fft.rfft(frames[loud] * _hann(), PITCH_FFT, axis=1)
    autocorrelation = scipy.fft.irfft(spectrum.real**2 + spectrum.imag**2, PITCH_FFT, axis=1)[:, :longest]
    autocorrelation /= autocorrelation[:, :1] + 1e-9
    lag = np.ones(len(frames), int)  # any lag: a quiet frame is not voiced
    lag[loud] = shortest + autocorrelation[:, shortest:].argmax(axis=1)
    voiced = np.zeros(len(frames), bool)
    voiced[loud] = autocorrelation[np.arange(len(autocorrelation)), lag[loud]] > 0.6
    return lag, voiced


def _held(lag: np.ndarray, voiced: np.ndarray) -> float:
    steady = np.abs(np.log2(lag[HOLD:] / lag[:-HOLD])) < 1 / 24
    both = voiced[HOLD:] & voiced[:-HOLD]
    return float(np.sum(both & steady) / max(1, np.sum(voiced[HOLD:])))


def held_pitch(samples: np.ndarray) -> float:
    """The share of the voiced frames (16 kHz) whose pitch is within a quarter tone 64 ms later: about 0.15-0.3 for
    connected speech, 0.4 and more for singing."""
    return _held(*_pitch(samples))


def voiced_share(samples: np.ndarray) -> float:
    """The share of the frames of `samples` (16 kHz) that are voiced: about 0.55 for connected speech, 0.7-0.9 for
    singing."""
    return float(np.mean(_pitch(samples)[1]))


def sings(samples: np.ndarray) -> bool:
    """Whether the voice of `samples` (16 kHz) sings: it holds its pitch (`SUNG`), or it is voiced in more of its
    frames than any real speech measured (`VOICED`), as a singer's sustained vowels are."""
    lag, voiced = _pitch(samples)
    return _held(lag, voiced) >= SUNG or float(np.mean(voiced)) >= VOICED


@dataclass(frozen=True)
class Detected:
    """What the speech detector heard in one window."""

    share: float  # of the sounding frames (within LOUD_DB of the loud ones), the share heard as speech
    filled: float  # of all the window's frames, the share that sounds
    at_16k: np.ndarray  # the window at the detector's rate, for the pitch

    @property
    def no_voice(self) -> bool:
        """No one speaks or calls here: sound fills the window and the detector hears (almost) no speech in it."""
        return self.share <= NO_SPEECH and self.filled >= FILLED

    def spoken(self, unheard: float = 0.0) -> float:
        """The share of speech, or 0 where the voice sings (`held_pitch`). A share up to `unheard` is returned as it
        is, sung or not: the caller knows that it changes nothing, and the pitch costs as much as the detector
        (benchmarks/gate_speed.py)."""
        if self.share > unheard and len(self.at_16k) > PITCH_FRAME * 2 and sings(self.at_16k):
            return 0.0
        return self.share


def detect(samples: np.ndarray, rate: int) -> Detected | None:
    """The speech detector's view of a window of mono `samples` at `rate`; None where it is not installed."""
    if len(samples) == 0 or not available():
        return None
    samples = np.asarray(samples, np.float32)
    at_16k = resample(samples, rate, RATE) if rate != RATE else samples
    speech = speech_probabilities(at_16k) >= SPEECH
    rms = np.sqrt(np.mean(_frames(at_16k) ** 2, axis=1)) + 1e-9
    sounding = rms >= np.quantile(rms, 0.95) * 10 ** (-LOUD_DB / 20)
    return Detected(float(np.sum(speech & sounding) / np.sum(sounding)), float(np.mean(sounding)), at_16k)


def spoken_share(samples: np.ndarray, rate: int) -> float:
    """The share of a window's sounding frames that are speech, or 0 where the voice sings or the detector is not
    installed."""
    detected = detect(samples, rate)
    return 0.0 if detected is None else detected.spoken()
