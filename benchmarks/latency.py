"""End-to-end latency of the served app against the naive recipe, plus cold start and peak memory.

    python benchmarks/latency.py [--runs 5] [--clip PATH]

Models are the true-size architectures with random weights (no Hub here): DistilHuBERT from
`../shared/models/distilhubert/config.json` and AST from `ASTConfig()`. "Naive" is the usual recipe:
`transformers.pipeline("audio-classification")` on the clip already at 16 kHz, then the waveform,
spectrogram and mel-spectrogram drawn with `librosa.display` and pyplot. "App" is the `classify` call
over HTTP with gradio_client against `python app.py` (decode, model, all outputs including the plots).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.helpers import GTZAN, ServedApp, classify_file, save_ast, save_distilhubert  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "latency.json"


def naive_seconds(model_dir: Path, clip: Path, runs: int) -> list[float]:
    import librosa
    import librosa.display
    import matplotlib
    import numpy as np

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from transformers import pipeline

    classifier = pipeline("audio-classification", model=str(model_dir))
    y, sr = librosa.load(clip, sr=16000)

    def once() -> None:
        classifier({"raw": y, "sampling_rate": sr}, top_k=10)
        fig, ax = plt.subplots(figsize=(10, 3))
        librosa.display.waveshow(y, sr=sr, ax=ax)
        fig.savefig(tempfile.TemporaryFile(), format="png")
        spec = librosa.amplitude_to_db(np.abs(librosa.stft(y)), ref=np.max)
        mel = librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=sr, n_mels=128), ref=np.max)
        for data, axis in ((spec, "hz"), (mel, "mel")):
            fig, ax = plt.subplots(figsize=(10, 3))
            image = librosa.display.specshow(data, sr=sr, x_axis="time", y_axis=axis, ax=ax)
            fig.colorbar(image, ax=ax, format="%+2.0f dB")
            fig.savefig(tempfile.TemporaryFile(), format="png")
        plt.close("all")

    once()  # warm-up
    return [timed(once) for _ in range(runs)]


def stage_seconds(model_dir: Path, clip: Path, runs: int) -> dict[str, float]:
    """Where the app's time goes, in process: decoding, the model, drawing and encoding the three plots."""
    import io

    from genre_classifier.model import load_classifier
    from genre_classifier.plots import clip_figures

    classifier, _ = load_classifier(str(model_dir))
    stages = {"decode": [], "model": [], "plots": []}
    for _ in range(runs + 1):  # the first round warms up
        start = time.perf_counter()
        samples = classifier.load(clip).samples
        decoded = time.perf_counter()
        classifier.classify(samples)
        classified = time.perf_counter()
        for figure in clip_figures(samples, classifier.sampling_rate):
            figure.savefig(io.BytesIO(), format="webp")  # as gr.Plot(format="webp") does
        stages["decode"].append(decoded - start)
        stages["model"].append(classified - decoded)
        stages["plots"].append(time.perf_counter() - classified)
    return {name: statistics.median(times[1:]) for name, times in stages.items()}


def feature_seconds(clip: Path, runs: int) -> list[float]:
    """The embedded model's 57 features for the clip at 22050 Hz (issue budget: 1.5 s for 30 s)."""
    from genre_classifier.audio import load_audio
    from genre_classifier.features import SAMPLING_RATE, extract_features

    samples = load_audio(clip, SAMPLING_RATE).samples
    extract_features(samples)  # warm-up: librosa's numba kernels compile on first use
    return [timed(lambda: extract_features(samples)) for _ in range(runs)]


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def app_seconds(model_id: str, clip: Path, runs: int, log_dir: Path) -> dict:
    """The app as a fresh install starts it: librosa's numba cache empty (NUMBA_CACHE_DIR), then ready, then
    the first answer against the warm ones."""
    name = Path(model_id).name
    env = {"MODEL_ID": model_id, "NUMBA_CACHE_DIR": str(log_dir / f"numba-{name}")}
    app = ServedApp(env, log_dir / f"{name}.log", timeout=300)
    try:
        client = app.client()
        call = lambda: classify_file(client, clip)  # noqa: E731
        first = timed(call)
        warm = [timed(call) for _ in range(runs)]
        return {"ready_s": app.startup_seconds, "first_call_s": first, "warm_s": warm, "peak_rss_mb": app.peak_rss_mb()}
    finally:
        app.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--clip", type=Path, default=GTZAN / "jazz.00000.wav")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        hubert, ast = save_distilhubert(tmp / "distilhubert"), save_ast(tmp / "ast")
        naive = naive_seconds(hubert, args.clip, args.runs)
        results = {
            "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
            "clip": args.clip.name,
            "naive_distilhubert_s": naive,
            "baseline_features_s": feature_seconds(args.clip, args.runs),
            "distilhubert_stages_s": stage_seconds(hubert, args.clip, args.runs),
            "app_distilhubert": app_seconds(str(hubert), args.clip, args.runs, tmp),
            "app_ast": app_seconds(str(ast), args.clip, args.runs, tmp),
            "app_baseline": app_seconds("baseline", args.clip, args.runs, tmp),
        }
    median = statistics.median
    naive_m = median(naive)
    print(f"clip {args.clip.name}, {args.runs} warm runs each, medians:")
    print(f"  naive recipe, DistilHuBERT:  {naive_m:.2f} s")
    print(f"  embedded model's features (in process): {median(results['baseline_features_s']):.2f} s")
    stages = ", ".join(f"{k} {v:.2f} s" for k, v in results["distilhubert_stages_s"].items())
    print(f"  app stages in process, DistilHuBERT: {stages}")
    for name in ("distilhubert", "ast", "baseline"):
        r = results[f"app_{name}"]
        print(
            f"  app over HTTP, {name:12s}: {median(r['warm_s']):.2f} s"
            + (f" ({median(r['warm_s']) / naive_m:.2f} x naive)" if name == "distilhubert" else "")
            + f"; first answer {r['first_call_s']:.2f} s; fresh start to ready {r['ready_s']:.1f} s"
            + f"; peak memory {r['peak_rss_mb']:.0f} MB"
        )
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
