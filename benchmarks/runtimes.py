"""Does a second inference runtime earn its place for the CPU forward? Torch eager against ONNX Runtime and OpenVINO.

    pip install onnxruntime onnx openvino   # neither is a dependency of the app
    python benchmarks/runtimes.py [--runs 5] [--models distilhubert ast] [--clips 28]

For the true-size DistilHuBERT (one 30 s window) and AST (one 10.24 s window), random weights
(`tests.helpers.save_distilhubert` / `save_ast`), all in fp32, it measures on this machine:

- each runtime's conversion, a one-off cost a cache on a persistent disk would pay once: ONNX Runtime is
  `torch.onnx.export` (TorchScript exporter, the window length a dynamic axis) plus creating the session with
  all graph optimisations; OpenVINO is `openvino.convert_model` of the torch module plus `compile_model` for CPU;
- its first call, then the warm median of `--runs` calls, the runtimes alternating call by call so that other
  work on the shared host slows all of them alike;
- GFLOP/s (FLOPs as `benchmarks/latency.py` counts them) as a share of the fp32 4096^2 matmul ceiling,
  measured in the same run (before and after; the higher one is used);
- agreement with torch on real audio: each of the 28 recordings (the GTZAN clips and the music recordings, not
  their .hq twins) decoded at the model's rate, its first window as the app cuts it and featurized as the app
  does, the probabilities from the app's own torch path (`predict_windows`, fp32) against each runtime's: same
  top genre on all, and the largest |difference| in probability.

Writes benchmarks/results/runtimes.json (with `benchmarks.latency.machine()` and the load averages at start and
end) and prints a table.
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

from benchmarks.latency import flops, machine, timed  # noqa: E402
from tests.helpers import GTZAN, MUSIC, save_ast, save_distilhubert  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "runtimes.json"
CLIPS = [*sorted(GTZAN.glob("*.wav")), *sorted(p for p in MUSIC.glob("*.ogg") if not p.name.endswith(".hq.ogg"))]
median = statistics.median


def fp32_ceiling(runs: int) -> float:
    """GFLOP/s of a 4096 x 4096 fp32 matmul, as `benchmarks/latency.py` measures its ceiling."""
    import torch

    n = 4096
    a, b = torch.randn(n, n), torch.randn(n, n)
    return 2 * n**3 / timed(lambda: a @ b, runs) / 1e9


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
            logits_module(model), (torch.from_numpy(example),), str(path), input_names=["input_values"],
            output_names=["logits"], dynamic_axes={"input_values": {0: "batch", 1: "time"}}, opset_version=17,
            dynamo=False,
        )  # fmt: skip
    export_s = time.perf_counter() - start
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    start = time.perf_counter()
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    session_s = time.perf_counter() - start
    notes = {"export_s": export_s, "session_s": session_s, "onnxruntime": ort.__version__,
             "model_mb": path.stat().st_size / 2**20, "intra_op_threads": options.intra_op_num_threads}  # fmt: skip
    return (lambda x: session.run(["logits"], {"input_values": x})[0]), export_s + session_s, notes


def openvino_runner(model, example: np.ndarray):
    """Convert with OpenVINO and compile for the CPU in fp32: (run(np input) -> logits, conversion seconds, notes)."""
    import openvino as ov
    import torch

    start = time.perf_counter()
    with torch.no_grad():
        converted = ov.convert_model(logits_module(model), example_input=torch.from_numpy(example))
    convert_s = time.perf_counter() - start
    start = time.perf_counter()
    compiled = ov.Core().compile_model(converted, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    compile_s = time.perf_counter() - start
    request = compiled.create_infer_request()
    notes = {"convert_s": convert_s, "compile_s": compile_s, "openvino": ov.__version__,
             "input_shape": str(converted.inputs[0].get_partial_shape())}  # fmt: skip
    return (lambda x: request.infer({0: x})[0].copy()), convert_s + compile_s, notes


def measure(name: str, folder: Path, runs: int, clips: list[Path], ceiling: float, tmp: Path) -> dict:
    import torch

    from genre_classifier.audio import split_windows
    from genre_classifier.model import featurize, load_classifier

    classifier, _ = load_classifier(str(folder))
    classifier.precision = "fp32"
    window = int(round(classifier.window_seconds * classifier.sampling_rate))
    first_windows = [split_windows(classifier.load(clip, max_seconds=classifier.window_seconds + 1).samples, window)
                     [0][0] for clip in clips]  # fmt: skip
    probe = next((w for w in first_windows if len(w) == window), first_windows[0])  # a full window, as in latency.py
    inputs = featurize(classifier.feature_extractor, [probe], classifier.sampling_rate)
    feed = inputs["input_values"].numpy()
    work = flops(classifier.model, inputs)
    out: dict = {"window_s": classifier.window_seconds, "input_shape": list(feed.shape), "gflop": work / 1e9}

    def torch_run(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return classifier.model(input_values=torch.from_numpy(x)).logits.numpy()

    start = time.perf_counter()
    torch_run(feed)
    runners = {"torch": (torch_run, 0.0, {"first_call_s": time.perf_counter() - start})}
    for runtime, make in (("onnxruntime", lambda: onnxruntime_runner(classifier.model, feed, tmp)),
                          ("openvino", lambda: openvino_runner(classifier.model, feed))):  # fmt: skip
        try:
            run, convert_s, notes = make()
        except Exception as err:  # not installed, or the export failed: say which
            out[runtime] = {"error": f"{type(err).__name__}: {err}"[:500]}
            print(f"  {name} {runtime}: {out[runtime]['error']}")
            continue
        start = time.perf_counter()
        run(feed)
        runners[runtime] = (run, convert_s, {**notes, "first_call_s": time.perf_counter() - start})

    times: dict[str, list[float]] = {runtime: [] for runtime in runners}
    for _ in range(runs):  # alternating, call by call
        for runtime, (run, _, _) in runners.items():
            start = time.perf_counter()
            run(feed)
            times[runtime].append(time.perf_counter() - start)

    reference = classifier.predict_windows(np.stack([first_windows[0]]))  # warm the app's own path
    reference = [classifier.predict_windows(w[None])[0] for w in first_windows]
    for runtime, (run, convert_s, notes) in runners.items():
        seconds = median(times[runtime])
        rate = work / seconds / 1e9
        row = {"convert_s": convert_s, **notes, "warm_s": seconds, "warm_all_s": times[runtime],
               "gflops": rate, "of_ceiling": rate / ceiling}  # fmt: skip
        if runtime != "torch":
            probs = []
            for w in first_windows:
                x = featurize(classifier.feature_extractor, [w], classifier.sampling_rate, tensors="np")
                probs.append(softmax(run(x["input_values"]))[0])
            diffs = [float(np.abs(p - r).max()) for p, r in zip(probs, reference, strict=True)]
            same = [bool(p.argmax() == r.argmax()) for p, r in zip(probs, reference, strict=True)]
            row.update(clips=len(clips), same_top=sum(same), max_abs_dp=max(diffs),
                       worst_clip=clips[int(np.argmax(diffs))].name)  # fmt: skip
        out[runtime] = row
    for runtime in runners:
        out[runtime]["speedup"] = out["torch"]["warm_s"] / out[runtime]["warm_s"]
    out["top_margin_min"] = float(min(np.sort(r)[-1] - np.sort(r)[-2] for r in reference))  # how close top-2 came
    out["short_windows"] = sum(len(w) < window for w in first_windows)  # clips shorter than one window
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--models", nargs="+", default=["distilhubert", "ast"], choices=["distilhubert", "ast"])
    parser.add_argument("--clips", type=int, default=len(CLIPS), help="the first N of the 28 real recordings")
    args = parser.parse_args()
    import torch

    results: dict = {"machine": machine(), "runs": args.runs, "command": "python benchmarks/runtimes.py " +
                     " ".join(sys.argv[1:])}  # fmt: skip
    print(json.dumps(results["machine"]))
    ceilings = [fp32_ceiling(args.runs)]
    clips = CLIPS[: args.clips]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name in args.models:
            folder = (save_distilhubert if name == "distilhubert" else save_ast)(tmp / name)
            results[name] = measure(name, folder, args.runs, clips, max(ceilings), tmp)
            ceilings.append(fp32_ceiling(args.runs))
    ceiling = max(ceilings)
    for name in args.models:  # shares against the best ceiling seen in the run
        for row in results[name].values():
            if isinstance(row, dict) and "gflops" in row:
                row["of_ceiling"] = row["gflops"] / ceiling
    results["ceiling_fp32_gflops"] = ceiling
    results["ceilings_fp32_gflops"] = ceilings
    results["torch_threads"] = torch.get_num_threads()
    results["load_average_at_end"] = os.getloadavg()
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")

    print(f"fp32 ceiling {ceiling:.0f} GFLOP/s (4096^2 matmul; {', '.join(f'{c:.0f}' for c in ceilings)}); "
          f"load average {results['machine']['load_average_at_start'][0]:.2f} at start, "
          f"{results['load_average_at_end'][0]:.2f} at end")  # fmt: skip
    print(f"{'model':13}{'runtime':13}{'convert s':>10}{'first s':>9}{'warm s':>8}{'speed-up':>9}{'ceiling':>9}"
          f"  agreement")  # fmt: skip
    for name in args.models:
        r = results[name]
        for runtime in ("torch", "onnxruntime", "openvino"):
            row = r.get(runtime, {})
            if "error" in row or not row:
                print(f"{name:13}{runtime:13}  {row.get('error', 'not run')[:80]}")
                continue
            agree = (
                f"top {row['same_top']}/{row['clips']}, max |dp| {row['max_abs_dp']:.1e}"
                if runtime != "torch"
                else f"(reference; min top-2 margin {r['top_margin_min']:.3f})"
            )
            print(f"{name:13}{runtime:13}{row['convert_s']:10.1f}{row['first_call_s']:9.2f}{row['warm_s']:8.2f}"
                  f"{row['speedup']:9.2f}{row['of_ceiling']:9.0%}  {agree}")  # fmt: skip


if __name__ == "__main__":
    main()
