"""Load test: concurrent gradio_client users on loopback, each checking it gets its own clip's answer.

    python benchmarks/load.py [--clients 16] [--requests 5]

Serves the true-size DistilHuBERT (random weights) with `python app.py`, sends every client's 30 s clip
once in turn to record the expected answer, then lets all clients send their requests at the same time.
Every answer must match the one recorded for that client's clip (nothing lost or swapped between users).
Prints p50/p95 latency and the server's peak memory; writes benchmarks/results/load.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import librosa
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import GTZAN, MUSIC, ServedApp, classify_file, save_distilhubert  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "load.json"


def distinct_clips(n: int, folder: Path) -> list[Path]:
    """n different 30 s clips: the real GTZAN clips, then 30 s excerpts of the CC-licensed recordings."""
    clips = sorted(GTZAN.glob("*.wav"))
    for source in sorted(MUSIC.glob("*.hq.ogg")):
        if len(clips) >= n:
            break
        samples, sr = librosa.load(source, sr=None, duration=30.0)
        if len(samples) >= 25 * sr:
            clips.append(folder / f"{source.name.split('.')[0]}.wav")
            sf.write(clips[-1], samples, sr)
    if len(clips) < n:
        raise ValueError(f"only {len(clips)} distinct clips available")
    return clips[:n]


def answer(client, clip: Path) -> dict[str, float]:
    label = classify_file(client, clip)[0]
    return {c["label"]: round(c["confidence"], 5) for c in label["confidences"]}


def run_load(app: ServedApp, clips: list[Path], requests: int) -> dict:
    """One client per clip, `requests` each, all at once; raises if any answer is missing or not its own."""
    reference_client = app.client()
    expected = {clip: answer(reference_client, clip) for clip in clips}
    if len({json.dumps(e, sort_keys=True) for e in expected.values()}) < len(clips):
        raise ValueError("two clips give the same answer: mix-ups between users would go unnoticed")

    def user(clip: Path) -> list[float]:
        client = app.client(visitor=f"192.0.2.{clips.index(clip) + 1}")  # each user its own session and address
        latencies = []
        for _ in range(requests):
            start = time.perf_counter()
            got = answer(client, clip)
            latencies.append(time.perf_counter() - start)
            if got != expected[clip]:
                raise AssertionError(f"{clip.name}: got another clip's answer {got}")
        return latencies

    start = time.perf_counter()
    with ThreadPoolExecutor(len(clips)) as pool:
        latencies = sorted(t for user_times in pool.map(user, clips) for t in user_times)
    wall = time.perf_counter() - start
    return {
        "clients": len(clips),
        "requests_per_client": requests,
        "answered_correctly": len(latencies),
        "p50_s": statistics.median(latencies),
        "p95_s": latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))],
        "max_s": latencies[-1],
        "throughput_per_s": len(latencies) / wall,
        "wall_s": wall,
        "server_peak_rss_mb": app.peak_rss_mb(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = save_distilhubert(tmp / "distilhubert")
        app = ServedApp({"MODEL_ID": str(model)}, tmp / "server.log")
        try:
            runtime = app.wait_runtime()
            results = {**run_load(app, distinct_clips(args.clients, tmp), args.requests), "runtime": runtime}
        finally:
            app.stop()
    print(
        f"{results['clients']} clients x {results['requests_per_client']} requests of 30 s clips, true-size "
        f"DistilHuBERT: all {results['answered_correctly']} answered with their own clip's answer; "
        f"p50 {results['p50_s']:.1f} s, p95 {results['p95_s']:.1f} s, max {results['max_s']:.1f} s; "
        f"{results['throughput_per_s']:.2f} requests/s; server peak memory {results['server_peak_rss_mb']:.0f} MB"
    )
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
