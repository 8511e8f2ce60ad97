"""Does a second inference runtime earn its place for the CPU forward? PyTorch against ONNX Runtime and OpenVINO.

    pip install onnxruntime onnx   # not a dependency of the app (OpenVINO is)
    python benchmarks/runtimes.py [--runs 5] [--models distilhubert ast] [--clips 28]

For the true-size DistilHuBERT (one 30 s window) and AST (one 10.24 s window), random weights
(`benchmarks.common.save_distilhubert` / `save_ast`), in fp32 and, where the CPU has bf16 units, in bf16 (as
`PRECISION=auto` serves), it measures on this machine:

- each runtime's conversion, a one-off cost a cache on a persistent disk pays once: ONNX Runtime is
  `torch.onnx.export` (TorchScript exporter) plus creating the session with all graph optimisations; OpenVINO is
  the app's own path (`genre_classifier.core.runtime.load`: converted in a child process into an empty cache, then
  compiled at the precision; its bf16 row loads the fp32 row's conversion from the cache);
- its first call, then the warm median of `--runs` calls, the runtimes alternating call by call so that other
  work on the shared host slows all of them alike; the speed-up is against PyTorch at the same precision;
- GFLOP/s (FLOPs as `benchmarks/latency.py` counts them) as a share of the 4096^2 matmul ceiling of the same
  precision, measured in the same run (before and after each model; the highest is used);
- agreement with the app's PyTorch path in fp32 on real audio: each of the 28 recordings (the GTZAN clips and
  the music recordings, not their .hq twins) decoded at the model's rate, its first window as the app cuts it
  and featurized as the app does: same top genre on all, and the largest |difference| in probability.

Writes benchmarks/results/runtimes.json, or the file `--out` names (with `benchmarks.common.machine()` and the
load averages at start and end), and prints a table.
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

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import GTZAN, MUSIC, ceiling, flops, machine, native_precisions, save_ast, save_distilhubert  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "runtimes.json"
CLIPS = [*sorted(GTZAN.glob("*.wav")), *sorted(p for p in MUSIC.glob("*.ogg") if not p.name.endswith(".hq.ogg"))]
median = statistics.median


def logits_module(model):
    """The classifier as a module from `input_values` to logits, the one tensor both exporters need."""
    import torch

    class Logits(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_values):
            return self.model(input_values=input_values).logits

    return Logits().eval()


def softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def onnxruntime_runner(model, example: np.ndarray, folder: Path):
    """Export to ONNX and open an ONNX Runtime session: (run(np input) -> logits, conversion seconds, notes)."""
    import onnxruntime as ort
    import torch

    path = folder / "model.onnx"
    start = time.perf_counter()
    with torch.no_grad():
        torch.onnx.export(
            logits_module(model),
            (torch.from_numpy(example),),
            str(path),
            input_names=["input_values"],
            output_names=["logits"],
            dynamic_axes={"input_values": {0: "batch", 1: "time"}},
            opset_version=17,
            dynamo=False,
        )
    export_s = time.perf_counter() - start
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    start = time.perf_counter()
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    session_s = time.perf_counter() - start
    notes = {
        "export_s": export_s,
        "session_s": session_s,
        "onnxruntime": ort.__version__,
        "model_mb": path.stat().st_size / 2**20,
        "intra_op_threads": options.intra_op_num_threads,
    }
    return (lambda x: session.run(["logits"], {"input_values": x})[0]), export_s + session_s, notes


def openvino_runner(classifier, example: dict[str, np.ndarray], precision: str):
    """The app's own OpenVINO path (`genre_classifier.core.runtime.load`: converted in a child process into a cache,
    then compiled at `precision`): (run(inputs) -> probabilities, conversion or cache-load seconds, notes)."""
    import openvino as ov

    from genre_classifier.core import runtime

    classifier.precision = precision
    start = time.perf_counter()
    forward = runtime.load(classifier, example)
    notes = {"how": forward.how, "openvino": ov.__version__}
    return forward, time.perf_counter() - start, notes


def measure(name: str, folder: Path, runs: int, clips: list[Path], ceilings: dict[str, float], tmp: Path) -> dict:
    from genre_classifier.core.audio import split_windows
    from genre_classifier.core.extractor import featurize
    from genre_classifier.core.loading import load_classifier

    classifier, _ = load_classifier(str(folder))
    window = int(round(classifier.window_seconds * classifier.sampling_rate))
    first_windows = [
        split_windows(classifier.decode(clip, max_seconds=classifier.window_seconds + 1).samples, window)[0][0]
        for clip in clips
    ]
    probe = next((w for w in first_windows if len(w) == window), first_windows[0])  # a full window, as in latency.py
    inputs = featurize(classifier.feature_extractor, [probe], classifier.sampling_rate)
    feed = dict(featurize(classifier.feature_extractor, [probe], classifier.sampling_rate, tensors="np"))
    work = flops(classifier.model, inputs)
    out: dict = {
        "window_s": classifier.window_seconds,
        "input_shape": list(feed["input_values"].shape),
        "gflop": work / 1e9,
    }

    def torch_at(precision: str):
        def run(batch: dict[str, np.ndarray]) -> np.ndarray:
            classifier.precision = precision
            return classifier._torch_forward(batch)

        return run

    def onnxruntime_at(_precision: str):
        run, convert_s, notes = onnxruntime_runner(classifier.model, feed["input_values"], tmp)
        return (lambda batch: softmax(run(batch["input_values"]))), convert_s, notes

    runners = {}
    for precision in native_precisions():
        makers = {
            "torch": lambda p: (torch_at(p), 0.0, {}),
            "onnxruntime": onnxruntime_at,
            "openvino": lambda p: openvino_runner(classifier, feed, p),
        }
        if precision != "fp32":
            del makers["onnxruntime"]  # its CPU provider has no bf16 inference precision to set
        for runtime, make in makers.items():
            key = f"{runtime} {precision}"
            try:
                run, convert_s, notes = make(precision)
            except Exception as err:  # not installed, or the export failed: say which
                out[key] = {"error": f"{type(err).__name__}: {err}"[:500]}
                print(f"  {name} {key}: {out[key]['error']}")
                continue
            start = time.perf_counter()
            run(feed)
            runners[key] = (run, convert_s, {**notes, "first_call_s": time.perf_counter() - start})

    times: dict[str, list[float]] = {key: [] for key in runners}
    for _ in range(runs):  # alternating, call by call
        for key, (run, _, _) in runners.items():
            start = time.perf_counter()
            run(feed)
            times[key].append(time.perf_counter() - start)

    batches = [
        dict(featurize(classifier.feature_extractor, [w], classifier.sampling_rate, tensors="np"))
        for w in first_windows
    ]
    reference = [torch_at("fp32")(batch)[0] for batch in batches]  # the app's PyTorch path in fp32
    for key, (run, convert_s, notes) in runners.items():
        seconds = median(times[key])
        rate = work / seconds / 1e9
        row = {
            "convert_s": convert_s,
            **notes,
            "warm_s": seconds,
            "warm_all_s": times[key],
            "gflops": rate,
            "of_ceiling": rate / ceilings[key.split()[1]],
        }
        probs = reference if key == "torch fp32" else [run(batch)[0] for batch in batches]
        diffs = [float(np.abs(p - r).max()) for p, r in zip(probs, reference, strict=True)]
        same = [bool(p.argmax() == r.argmax()) for p, r in zip(probs, reference, strict=True)]
        row.update(
            clips=len(clips), same_top=sum(same), max_abs_dp=max(diffs), worst_clip=clips[int(np.argmax(diffs))].name
        )
        out[key] = row
    for key in runners:  # against PyTorch at the same precision
        out[key]["speedup"] = out[f"torch {key.split()[1]}"]["warm_s"] / out[key]["warm_s"]
    out["top_margin_min"] = float(min(np.sort(r)[-1] - np.sort(r)[-2] for r in reference))  # how close top-2 came
    out["short_windows"] = sum(len(w) < window for w in first_windows)  # clips shorter than one window
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--models", nargs="+", default=["distilhubert", "ast"], choices=["distilhubert", "ast"])
    parser.add_argument("--clips", type=int, default=len(CLIPS), help="the first N of the 28 real recordings")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"where the results go (default {RESULTS.name})")
    args = parser.parse_args()
    import torch

    results: dict = {
        "machine": machine(),
        "runs": args.runs,
        "command": "python benchmarks/runtimes.py " + " ".join(sys.argv[1:]),
    }
    print(json.dumps(results["machine"]))
    ceilings = [ceiling(args.runs, native_precisions())]  # before and after each model; the best one seen is used
    clips = CLIPS[: args.clips]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.environ["OPENVINO_CACHE"] = str(tmp / "openvino")  # empty: converted afresh, as a new checkpoint is
        for name in args.models:
            folder = (save_distilhubert if name == "distilhubert" else save_ast)(tmp / name)
            best = {p: max(c[p] for c in ceilings) for p in ceilings[0]}
            results[name] = measure(name, folder, args.runs, clips, best, tmp)
            ceilings.append(ceiling(args.runs, native_precisions()))
    best = {p: max(c[p] for c in ceilings) for p in ceilings[0]}
    for name in args.models:  # shares against the best ceiling seen in the run
        for key, row in results[name].items():
            if isinstance(row, dict) and "gflops" in row:
                row["of_ceiling"] = row["gflops"] / best[key.split()[1]]
    results["ceiling_gflops"] = best
    results["ceilings_gflops"] = ceilings
    results["torch_threads"] = torch.get_num_threads()
    results["load_average_at_end"] = os.getloadavg()
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")

    print(
        f"ceilings {', '.join(f'{p} {c:.0f}' for p, c in best.items())} GFLOP/s (4096^2 matmul); "
        f"load average {results['machine']['load_average_at_start'][0]:.2f} at start, "
        f"{results['load_average_at_end'][0]:.2f} at end"
    )
    print(
        f"{'model':13}{'runtime':17}{'convert s':>10}{'first s':>9}{'warm s':>8}{'speed-up':>9}{'ceiling':>9}"
        f"  agreement"
    )
    for name in args.models:
        r = results[name]
        for runtime, row in r.items():
            if not isinstance(row, dict):
                continue
            if "error" in row:
                print(f"{name:13}{runtime:17}  {row['error'][:80]}")
                continue
            agree = (
                f"top {row['same_top']}/{row['clips']}, max |dp| {row['max_abs_dp']:.1e}"
                if runtime != "torch fp32"
                else f"(reference; min top-2 margin {r['top_margin_min']:.3f})"
            )
            print(
                f"{name:13}{runtime:17}{row['convert_s']:10.1f}{row['first_call_s']:9.2f}{row['warm_s']:8.2f}"
                f"{row['speedup']:9.2f}{row['of_ceiling']:9.0%}  {agree}"
            )


if __name__ == "__main__":
    main()
