"""The tests' data (shipped in the repository, GTZAN's own clips only where GTZAN_DIR names them) and helpers;
the app served, the random-weight models and the GPU stand-in come from benchmarks/common.py, shared with the
benchmarks."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from benchmarks.common import (  # noqa: F401  (the tests import them from here)
    DISTILHUBERT_CONFIG,
    LABELS,
    TINY_HUBERT,
    GPURecorder,
    ServedApp,
    classify_event,
    classify_file,
    free_port,
    hubert_extractor,
    join_classify,
    plant_in_hub_cache,
    save_ast,
    save_distilhubert,
    save_random_model,
    tiny_hubert_config,
)

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"  # the app's CC music clips
DATA = ROOT / "tests" / "data"  # CC recordings (speech, a whale, a bird, a 44.1 kHz stereo song): ATTRIBUTION.md
RECORDINGS = [*sorted(EXAMPLES.glob("*.ogg")), *sorted(p for p in DATA.glob("*.ogg") if ".hq." not in p.name)]

# GTZAN's own clips are not ours to publish: the few tests that need them (the embedded model's held-out answers,
# the features against GTZAN's table) read them from GTZAN_DIR, a folder of `<genre>.000NN.wav`, and skip without it.
GTZAN = Path(os.environ.get("GTZAN_DIR") or ROOT / "GTZAN_DIR-is-not-set")
needs_gtzan = pytest.mark.skipif(
    not GTZAN.is_dir(), reason="needs GTZAN's clips: set GTZAN_DIR to a folder of them (README, Tests)"
)

# Every other test reads 30 s clips in GTZAN's format (22050 Hz, mono, 16-bit WAV) and under the file names of the
# 14 GTZAN clips the training tests' lists know, cut from the examples: (source, start in seconds). Not their genres.
STAND_INS = {
    "blues.00000": ("vibe_ace", 31),
    "blues.00001": ("hungarian_dance_5", 0),
    "blues.00002": ("sugar_plum_fairy", 10),
    "classical.00000": ("hungarian_dance_5", 15),
    "classical.00001": ("sugar_plum_fairy", 40),
    "classical.00002": ("sugar_plum_fairy", 70),
    "country.00000": ("lets_go_fishin", 0),
    "disco.00000": ("lets_go_fishin", 90),
    "hiphop.00000": ("lets_go_fishin", 60),
    "jazz.00000": ("vibe_ace", 0),
    "metal.00000": ("sugar_plum_fairy", 89),
    "pop.00000": ("lets_go_fishin", 30),
    "reggae.00000": ("lets_go_fishin", 102),
    "rock.00000": ("vibe_ace", 15),
}


def _stand_ins() -> Path:
    """The 30 s clips of STAND_INS, written once per machine (a folder named by their recipe, made atomically)."""
    recipe = hashlib.sha1(repr(sorted(STAND_INS.items())).encode()).hexdigest()[:10]
    folder = Path(tempfile.gettempdir()) / f"genre-classifier-test-clips-{recipe}"
    if folder.is_dir():
        return folder
    import soxr

    made = Path(tempfile.mkdtemp(prefix=folder.name + "-", dir=folder.parent))
    for name, (source, start) in STAND_INS.items():
        samples, rate = sf.read(EXAMPLES / f"{source}.ogg", dtype="float32", always_2d=True)
        samples = soxr.resample(samples.mean(axis=1), rate, 22050)
        sf.write(made / f"{name}.wav", samples[start * 22050 : (start + 30) * 22050], 22050, subtype="PCM_16")
    try:
        made.rename(folder)
    except OSError:  # another process made it first
        shutil.rmtree(made)
    return folder


CLIPS = _stand_ins()


def write_tone(path: Path, seconds: float = 3.0, sr: int = 22050, channels: int = 1, **kwargs) -> Path:
    """A short audio-like test signal (two tones plus a little noise) in any format soundfile writes."""
    t = np.arange(int(seconds * sr)) / sr
    rng = np.random.default_rng(0)
    mono = 0.4 * np.sin(2 * np.pi * 220 * t) + 0.2 * np.sin(2 * np.pi * 660 * t) + 0.02 * rng.standard_normal(len(t))
    data = np.stack([mono * (1 - 0.2 * c) for c in range(channels)], axis=1) if channels > 1 else mono
    sf.write(path, data, sr, **kwargs)
    return path


def coloured_fraction(data_uri: str) -> float:
    """Share of coloured pixels in a plot image sent as a data URI: empty axes are grey, drawn data is not."""
    import base64
    import io

    from PIL import Image

    rgb = np.asarray(Image.open(io.BytesIO(base64.b64decode(data_uri.split(",", 1)[1]))).convert("RGB"), dtype=int)
    return float(((rgb.max(axis=2) - rgb.min(axis=2)) > 40).mean())


def tag_killed_after_rows(model_dir: Path, folder: Path, output: Path, rows: int = 2) -> str:
    """`genre-classifier tag folder` in a process of its own, killed (SIGKILL: no chance to tidy up) once `rows` rows
    and the header are in `output`; what the output then holds."""
    env = {**os.environ, "MODEL_ID": str(model_dir), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "genre_classifier", "tag", str(folder), "--output", str(output)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while (not output.exists() or output.read_text().count("\n") < rows + 1) and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    return output.read_text()
