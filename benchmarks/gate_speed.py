"""What the music gate costs: one 30 s window, ten minutes, and its parts.

    python benchmarks/gate_speed.py [--runs 5]

The clips are those `benchmarks/outside.py` times the gate on: GTZAN's jazz.00000 and ten minutes of the GTZAN clips end
to end (20 windows). One window is heard on one core (on a CPU, in a thread beside the forward, `model.py`); several
at once, as on a GPU, a core each (`gate.listen`). The parts, on one 30 s window: the gate's features, the speech
detector (Silero VAD on OpenVINO, the 16 kHz resampling included) and the voice's pitch, which the gate asks for only
where it could change the answer. Medians of `runs`; the load average is
recorded (the host is shared). Writes benchmarks/results/gate_speed.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import machine  # noqa: E402
from benchmarks.outside import CLIP, ten_minutes  # noqa: E402
from genre_classifier.core import gate, voice  # noqa: E402
from genre_classifier.core.audio import resample  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "gate_speed.json"


def median_time(fn, runs: int) -> float:
    """Median seconds of `runs` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return round(statistics.median(times), 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    results: dict = {"machine": machine(), "runs": args.runs, "clip": CLIP.name}
    window = sf.read(CLIP, dtype="float32")[0][: 30 * gate.RATE]
    with tempfile.TemporaryDirectory() as tmp:
        long = sf.read(ten_minutes(Path(tmp) / "ten-minutes.wav"), dtype="float32")[0]
    clips = {"30 s": (window, [(0.0, 30.0)]), "10 min": (long, [(i * 30.0, i * 30.0 + 30.0) for i in range(20)])}
    for name, clip in clips.items():
        results[name] = {"seconds": median_time(lambda clip=clip: gate.listen(*clip), args.runs)}
        results[name]["per_window_s"] = round(results[name]["seconds"] / len(clip[1]), 4)
        print(name, results[name], flush=True)
    at_16k = resample(window, gate.RATE, voice.RATE)
    results["parts_30s"] = {
        "features_s": median_time(lambda: gate.gate_features(window), args.runs),
        "speech_detector_s": median_time(lambda: voice.detect(window, gate.RATE), args.runs),
        "pitch_s": median_time(lambda: voice.held_pitch(at_16k), args.runs),
    }
    print(results["parts_30s"])
    results["load_average_at_end"] = list(os.getloadavg())
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
