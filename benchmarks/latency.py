"""Speed on the machine it runs on: the app against the naive recipe, both precisions, and the CPU's own ceiling.

    python benchmarks/latency.py [--runs 5] [--clip PATH] [--alternatives]
    python benchmarks/latency.py --goals [--runs 3]   # only the goals' figures, into latency_goals.json

Models are the true-size architectures with random weights (no Hub here): DistilHuBERT from
`tests/data/distilhubert/config.json` and AST from `ASTConfig()`. It measures, on this machine:

- the CPU, whether it has bf16 units, and its ceiling: fp32 and bf16 matrix-multiply throughput;
- each model's forward pass alone on one window, fp32 and bf16 (autocast), its FLOPs, and the fraction of the
  ceiling it reaches; DistilHuBERT's feature encoder layer by layer; AST's windows batched or one by one;
- "naive" (the usual recipe: `transformers.pipeline("audio-classification")` on the clip already at 16 kHz,
  then waveform, spectrogram and mel-spectrogram drawn with `librosa.display` and pyplot) against the app's
  `classify` over HTTP (decode, model, every output and plot), with PRECISION=fp32 and PRECISION=auto;
- each app's start: serving, then warmed up (the first one as a fresh install starts, librosa's numba cache
  empty), its first answer against the warm ones;
- long files end to end over HTTP (1, 2.5 and 5 minutes of real GTZAN audio), and what eager example caching
  would add to start-up;
- with --goals, also the forward that answers once the app has settled (OpenVINO at the precision `auto` chose);
- with --alternatives: torch.compile of the feature encoder, and OpenVINO (when `pip install openvino` was run).

Writes benchmarks/results/latency.json.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import (  # noqa: E402
    GTZAN,
    ServedApp,
    ceiling,
    classify_file,
    flops,
    machine,
    naive_seconds,
    native_precisions,
    save_ast,
    save_distilhubert,
    timed,
)

RESULTS = ROOT / "benchmarks" / "results" / "latency.json"
GOALS = RESULTS.with_name("latency_goals.json")  # --goals: another CPU kind's answer to the goals, beside RESULTS
median = statistics.median


def forward(classifier, samples, runs: int, ceilings: dict) -> dict:
    """One window through the model alone, per precision of `ceilings`: seconds, GFLOP/s, the share of the ceiling."""
    import torch

    from genre_classifier.core.extractor import featurize

    inputs = featurize(classifier.feature_extractor, [samples], classifier.sampling_rate)
    work = flops(classifier.model, inputs)
    out = {"gflop": work / 1e9}
    for precision, dtype in (("fp32", None), ("bf16", torch.bfloat16)):
        if precision not in ceilings:
            continue
        with torch.inference_mode(), torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
            seconds = timed(lambda: classifier.model(**inputs), runs)
        rate = work / seconds / 1e9
        out[precision] = {"s": seconds, "gflops": rate, "of_ceiling": rate / ceilings[precision]}
    return out


def encoder_layers(classifier, samples, runs: int) -> list[dict]:
    """DistilHuBERT's convolutional feature encoder, layer by layer, fp32 against bf16."""
    import torch

    layers = classifier.model.hubert.feature_extractor.conv_layers
    hidden = torch.from_numpy(samples)[None, None]
    rows = []
    with torch.inference_mode():
        for i, layer in enumerate(layers):
            row = {"layer": i, "input": list(hidden.shape)}
            for precision, dtype in (("fp32", None), ("bf16", torch.bfloat16)):
                with torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
                    row[precision] = timed(lambda layer=layer, hidden=hidden: layer(hidden), runs)
            rows.append(row)
            hidden = layer(hidden)
    return rows


def ast_batching(classifier, samples, runs: int) -> dict:
    """Three AST windows in one batch against one by one (the app streams one window at a time on CPU)."""

    from genre_classifier.core.audio import split_windows

    windows, _ = split_windows(samples, int(round(classifier.window_seconds * classifier.sampling_rate)))
    out = {}
    for precision in ("fp32", "bf16"):
        classifier.precision = precision
        out[precision] = {
            "batch_of_3_s": timed(lambda: classifier.predict_windows(windows), runs),
            "one_by_one_s": timed(lambda: [classifier.predict_windows(w[None]) for w in windows], runs),
        }
    return out


def stage_seconds(model_dir: Path, clip: Path, runs: int) -> dict[str, float]:
    """Where the app's time goes, in process: decoding, the model, drawing and encoding the four plots."""
    from genre_classifier.core.loading import load_classifier
    from genre_classifier.web.plots import clip_images, genre_timeline_image

    classifier, _ = load_classifier(str(model_dir))
    stages = {"decode": [], "model": [], "plots": []}
    for _ in range(runs + 1):  # the first round warms up
        start = time.perf_counter()
        samples = classifier.decode(clip).samples
        decoded = time.perf_counter()
        p = classifier.classify(samples)
        classified = time.perf_counter()
        clip_images(samples, classifier.sampling_rate)  # the app's figures, encoded as it sends them
        genre_timeline_image(p.labels, p.window_probs, p.window_spans, len(samples) / classifier.sampling_rate)
        stages["decode"].append(decoded - start)
        stages["model"].append(classified - decoded)
        stages["plots"].append(time.perf_counter() - classified)
    return {name: median(times[1:]) for name, times in stages.items()}


def app_seconds(model_id: str, clips: dict[str, Path], runs: int, log_dir: Path, precision: str = "auto") -> dict:
    """The app started, ready (warmed up), its first answer and warm answers. All apps share one numba cache
    folder, empty for the first: that one starts as a fresh install does, with librosa compiling its kernels."""
    name = f"{Path(model_id).name}-{precision}"
    fresh = not (log_dir / "numba").exists()
    env = {
        "MODEL_ID": model_id,
        "PRECISION": precision,
        "NUMBA_CACHE_DIR": str(log_dir / "numba"),
        "OPENVINO_CACHE": str(log_dir / "openvino"),
    }
    app = ServedApp(env, log_dir / f"{name}.log", timeout=300)
    try:
        app.wait_ready()
        ready = time.monotonic() - app.started
        client = app.client()
        first_clip, *_ = clips.values()
        start = time.perf_counter()
        classify_file(client, first_clip)
        first = time.perf_counter() - start
        result = {"fresh_install": fresh, "serving_s": app.startup_seconds, "ready_s": ready, "first_call_s": first}
        result["runtime"] = app.wait_runtime()  # the warm answers are the ones visitors get once it is settled
        for label, clip in clips.items():
            result[label] = timed(lambda clip=clip: classify_file(client, clip), runs if label == "30s" else 1)
        result["peak_rss_mb"] = app.peak_rss_mb()
        result["served"] = next(line for line in app.log.splitlines() if "Serving" in line).split("Serving ", 1)[1]
        return result
    finally:
        app.stop()


def long_clips(folder: Path) -> dict[str, Path]:
    """1, 2.5 and 5 minutes of real music: the GTZAN clips end to end, at their 22050 Hz."""
    audio = np.concatenate([sf.read(p, dtype="float32")[0] for p in sorted(GTZAN.glob("*.wav"))])
    out = {}
    for label, seconds in (("1min", 60), ("2.5min", 150), ("5min", 300)):
        out[label] = folder / f"gtzan-{label}.wav"
        sf.write(out[label], audio[: seconds * 22050], 22050)
    return out


def examples_eager_seconds(model_dir: Path) -> float:
    """What `cache_examples=True` (eager) would add to start-up: every example classified once."""
    from genre_classifier.core.loading import load_classifier
    from genre_classifier.web.page import EXAMPLES, EXAMPLES_DIR

    classifier, _ = load_classifier(str(model_dir))
    classifier.classify(classifier.decode(EXAMPLES_DIR / EXAMPLES[-1][0]).samples)  # warm-up
    start = time.perf_counter()
    for name, _ in EXAMPLES:
        classifier.classify(classifier.decode(EXAMPLES_DIR / name).samples)
    return time.perf_counter() - start


def alternatives(classifier, samples, runs: int) -> dict:
    """What else was tried on the bf16 forward pass, measured here: torch.compile of the feature encoder (OpenVINO,
    which the app uses, is measured by benchmarks/runtimes.py)."""
    import torch

    from genre_classifier.core.extractor import featurize

    inputs = featurize(classifier.feature_extractor, [samples], classifier.sampling_rate)
    out = {}
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out["eager_bf16_s"] = timed(lambda: classifier.model(**inputs), runs)
        model = copy.deepcopy(classifier.model)
        model.hubert.feature_extractor = torch.compile(model.hubert.feature_extractor)
        start = time.perf_counter()
        model(**inputs)
        out["compile_feature_encoder"] = {
            "compile_s": time.perf_counter() - start,
            "s": timed(lambda: model(**inputs), runs),
        }
    return out


def answering_forward(classifier, window: np.ndarray, runs: int) -> dict:
    """One window through the forward that answers on this CPU once the app has settled: OpenVINO at the precision
    `PRECISION` gives (`auto`: the one measured fastest here), prepared into the run's cache as the app prepares it."""
    from genre_classifier.core.extractor import featurize

    switching = classifier.switch_runtime()
    if switching is not None:
        switching.join()
    forward = classifier.runtime
    if forward is None:
        return {"runtime": "PyTorch", "precision": classifier.precision}
    feed = dict(featurize(classifier.feature_extractor, [window], classifier.sampling_rate, tensors="np"))
    return {
        "runtime": "OpenVINO",
        "precision": forward.precision,
        "why": forward.why,
        "s": timed(lambda: forward(feed), runs),
    }


def goals(args) -> None:
    """The CPU goals alone: the ceiling, each model's forward on PyTorch, the naive recipe, and the app's warm
    answer to the 30 s clip over HTTP at `PRECISION=auto` (on its runtime once settled)."""
    from genre_classifier.core.loading import load_classifier

    results: dict = {"machine": machine(), "clip": args.clip.name, "runs": args.runs}
    print(json.dumps(results["machine"]), flush=True)
    ceilings = results["ceiling_gflops"] = ceiling(args.runs, native_precisions())
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.environ["OPENVINO_CACHE"] = str(tmp / "openvino")  # the apps' too: they load what was prepared here
        models = {"distilhubert": save_distilhubert(tmp / "distilhubert"), "ast": save_ast(tmp / "ast")}
        naive = results["naive_distilhubert_s"] = naive_seconds(models["distilhubert"], args.clip, args.runs)
        for name, folder in models.items():
            classifier, _ = load_classifier(str(folder))
            samples = classifier.decode(args.clip).samples
            window = samples[: int(round(classifier.window_seconds * classifier.sampling_rate))]
            results[f"forward_{name}"] = forward(classifier, window, args.runs, ceilings)
            results[f"answering_{name}"] = answering_forward(classifier, window, args.runs)
            app = results[f"app_{name}_auto"] = app_seconds(str(folder), {"30s": args.clip}, args.runs, tmp)
            app["x_naive"] = app["30s"] / naive
            print(f"{name}: forward {json.dumps(results[f'forward_{name}'])}; app {json.dumps(app)}", flush=True)
    GOALS.write_text(json.dumps(results, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--clip", type=Path, default=GTZAN / "jazz.00000.wav")
    parser.add_argument("--alternatives", action="store_true", help="also measure torch.compile and OpenVINO")
    parser.add_argument(
        "--goals", action="store_true", help=f"only what the CPU goals compare, in a few minutes, into {GOALS.name}"
    )
    args = parser.parse_args()
    if args.goals:
        return goals(args)

    from genre_classifier.core.loading import load_classifier

    results: dict = {"machine": machine(), "clip": args.clip.name, "runs": args.runs}
    print(json.dumps(results["machine"]))
    ceilings = results["ceiling_gflops"] = ceiling(args.runs)
    print(f"ceiling: fp32 {ceilings['fp32']:.0f} GFLOP/s, bf16 {ceilings['bf16']:.0f} GFLOP/s (4096^2 matmul)")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        hubert, ast = save_distilhubert(tmp / "distilhubert"), save_ast(tmp / "ast")
        models = {"distilhubert": hubert, "ast": ast}
        for name, folder in models.items():
            classifier, _ = load_classifier(str(folder))
            samples = classifier.decode(args.clip).samples
            window = samples[: int(round(classifier.window_seconds * classifier.sampling_rate))]
            results[f"forward_{name}"] = forward(classifier, window, args.runs, ceilings)
            r = results[f"forward_{name}"]
            print(
                f"forward {name} ({r['gflop']:.0f} GFLOP/window): "
                + ", ".join(
                    f"{p} {r[p]['s']:.2f} s = {r[p]['gflops']:.0f} GFLOP/s = {r[p]['of_ceiling']:.0%} of ceiling"
                    for p in ("fp32", "bf16")
                )
            )
            if name == "distilhubert":
                results["encoder_layers"] = encoder_layers(classifier, window, args.runs)
                for row in results["encoder_layers"]:
                    layer, shape = row["layer"], row["input"]
                    print(f"  conv layer {layer} {shape}: fp32 {row['fp32']:.3f}, bf16 {row['bf16']:.3f} s")
                if args.alternatives:
                    results["alternatives"] = alternatives(classifier, window, args.runs)
                    print(f"  alternatives: {json.dumps(results['alternatives'])}")
            else:
                results["ast_batching"] = ast_batching(classifier, samples, args.runs)
                print(f"  AST 3 windows: {json.dumps(results['ast_batching'])}")

        naive = results["naive_distilhubert_s"] = naive_seconds(hubert, args.clip, args.runs)
        print(f"naive recipe, DistilHuBERT fp32: {naive:.2f} s")
        results["distilhubert_stages_s"] = stage_seconds(hubert, args.clip, args.runs)
        print(
            "app stages in process, DistilHuBERT: "
            + ", ".join(f"{k} {v:.2f} s" for k, v in results["distilhubert_stages_s"].items())
        )
        results["examples_eager_cache_s"] = examples_eager_seconds(hubert)
        print(f"eager example caching would add {results['examples_eager_cache_s']:.1f} s to start-up")

        clips = {"30s": args.clip, **long_clips(tmp)}
        runs = [
            ("distilhubert", "fp32"),
            ("distilhubert", "auto"),
            ("ast", "fp32"),
            ("ast", "auto"),
            ("baseline", "auto"),
        ]
        for name, precision in runs:
            model_id = str(models.get(name, name))
            r = results[f"app_{name}_{precision}"] = app_seconds(model_id, clips, args.runs, tmp, precision)
            ratio = f" = {r['30s'] / naive:.2f} x naive" if name == "distilhubert" else ""
            print(
                f"app over HTTP, {r['served']}: 30 s clip {r['30s']:.2f} s{ratio}; "
                f"1 / 2.5 / 5 min: {r['1min']:.1f} / {r['2.5min']:.1f} / {r['5min']:.1f} s; "
                f"serving after {r['serving_s']:.1f} s, warmed up after {r['ready_s']:.1f} s"
                f"{' (fresh install)' if r['fresh_install'] else ''}, first answer {r['first_call_s']:.2f} s; "
                f"peak memory {r['peak_rss_mb']:.0f} MB"
            )
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
