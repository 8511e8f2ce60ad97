"""What the page's four figures cost: drawn and encoded as the app sends them (its kept figures, webp).

    python benchmarks/figures.py [--runs 5]

For a real 30 s GTZAN clip and ten minutes of it repeated, at 22050 Hz (the embedded model's rate): the
median over `runs` of the wall time and the process CPU time (less noisy on a shared machine) from the samples to
the four encoded images. Writes benchmarks/results/figures.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from statistics import median

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import GTZAN  # noqa: E402
from genre_classifier import GENRES  # noqa: E402
from genre_classifier.core.audio import window_starts  # noqa: E402
from genre_classifier.web.plots import clip_images, genre_timeline_image  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "figures.json"


def draw(samples: np.ndarray, sr: int) -> int:
    """The four figures of one answer, encoded; returns the bytes sent."""
    window = 30 * sr
    spans = [(s / sr, min(s + window, len(samples)) / sr) for s in window_starts(len(samples), window)]
    probs = np.random.default_rng(0).dirichlet(np.ones(len(GENRES)), len(spans))
    images = [*clip_images(samples, sr), genre_timeline_image(GENRES, probs, spans, len(samples) / sr)]
    return sum(len(image) for image in images)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    clip, sr = sf.read(GTZAN / "jazz.00000.wav", dtype="float32")
    results = {}
    for name, samples in [("30 s", clip), ("10 min", np.tile(clip, 20))]:
        sent = draw(samples, sr)  # warm-up: fonts, colour maps, the webp encoder, the kept frames
        wall, cpu = [], []
        for _ in range(args.runs):
            started, cpu_started = time.perf_counter(), time.process_time()
            draw(samples, sr)
            wall.append(time.perf_counter() - started)
            cpu.append(time.process_time() - cpu_started)
        results[name] = {"wall_s": round(median(wall), 3), "cpu_s": round(median(cpu), 3), "bytes": sent}
        print(f"{name}: {results[name]}")
    RESULTS.write_text(json.dumps({"runs": args.runs, **results}, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
