"""Which precision answers fastest on this CPU, what int8 costs to make, and how faithful it is to fp32.

    python benchmarks/precision.py [--windows 300] [--runs 5] [--out benchmarks/results/precision.json]
    ONEDNN_MAX_CPU_ISA=AVX512_CORE python benchmarks/precision.py --out benchmarks/results/precision_no_vnni.json

The second line stands in for a CPU without VNNI, AMX or bf16 units: oneDNN (PyTorch's and OpenVINO's) then sums
int8 products through saturating 16-bit pairs, as on AVX2, and the int8 model is calibrated with NNCF's overflow
fix. `ONEDNN_MAX_CPU_ISA=AVX2` itself makes OpenVINO 2026.4 crash (a segmentation fault compiling even the fp32
model; with a bf16 hint: "Supported primitive descriptors list is empty for node: Softmax").

For the true-size DistilHuBERT and AST with random weights (`benchmarks.common`), through the app's own path
(`genre_classifier.core.runtime.prepare` with `PRECISION=auto`, into an empty cache), it measures on this machine:

- the one-off costs a checkpoint's first start pays in its background child: the conversion, the int8 quantization
  (NNCF, calibrated on every other window of the shipped examples, checked against fp32 on the others) and the
  timing that chooses the precision, and the choice;
- the warm forward of one full window (a real one) in each precision this CPU can run, the precisions taking turns
  call by call, median of `--runs`; which oneDNN kernels OpenVINO picked for the matmuls (`ONEDNN_MAX_CPU_ISA` is
  honoured when they change);
- int8 against fp32 on `--windows` real music windows (GTZAN_DIR's clips and MUSIC_DIR's music, none shipped: 565 s;
  10 s windows 1.25 s apart, for both models: 300 of DistilHuBERT's 30 s would need 2.5 hours): the share with the
  same top genre, the largest probability difference, and the cosine similarity of the logits and of the
  classifier's input (the pooled hidden state, made a second output of the same graphs).

- the app over HTTP (`python app.py`, `PRECISION=auto`, its cache the one above, so that it settles at once) on a
  30 s GTZAN clip, warm, against the naive recipe (`benchmarks.common.naive_seconds`) in the same run.

Random weights compute as much as trained ones, so the speeds hold; their answers are near-uniform (the top two
genres within a few thousandths), so the same-top-genre share is a harsh proxy for a trained model's, while the
hidden state's cosine says how much of the representation int8 keeps.

Writes benchmarks/results/precision.json, or the file `--out` names, and prints a summary.
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

from benchmarks.common import (  # noqa: E402
    GTZAN,
    MUSIC,
    ServedApp,
    classify_file,
    machine,
    naive_seconds,
    save_ast,
    save_distilhubert,
    timed,
)

RESULTS = ROOT / "benchmarks" / "results" / "precision.json"
# Held-out music only: not the speech, birds, whale and dog of MUSIC_DIR (their .txt says what each is), nor the
# recordings the shipped examples were cut from (they calibrate int8)
NOT_MUSIC = ("198-209", "3436-172162", "5703-47212", "456440", "glacier-bay", "pibble")
SHIPPED = ("Hungarian_Dance", "Lets_Go_Fishin", "Sugar_Plum_Fairy", "Vibe_Ace", "solo-trumpet")
CLIPS = [
    *sorted(GTZAN.glob("*.wav")),
    *sorted(
        p
        for p in MUSIC.glob("*.ogg")
        if not p.name.endswith(".hq.ogg") and not any(part in p.name for part in NOT_MUSIC + SHIPPED)
    ),
]
CLIP = GTZAN / "jazz.00000.wav"  # the 30 s clip latency.py's goals use
HOP_S = 1.25  # 300 windows of 10 s from the 565 s of held-out music


def music_windows(classifier, count: int, seconds: float = 10.0, hop: float = HOP_S) -> list[np.ndarray]:
    """`count` windows of real music at the model's rate, `hop` seconds apart, clip after clip, round-robin."""
    size, step = int(seconds * classifier.sampling_rate), int(hop * classifier.sampling_rate)
    per_clip = []
    for clip in CLIPS:
        samples = classifier.decode(clip).samples
        per_clip.append([samples[i : i + size] for i in range(0, len(samples) - size + 1, step)])
    out = []
    while len(out) < count and any(per_clip):
        for windows in per_clip:
            if windows and len(out) < count:
                out.append(windows.pop(0))
    return out


def with_pooled_output(model):
    """The OpenVINO model with the classifier's input (the pooled hidden state) as a second output."""
    heads = [
        op
        for op in model.get_ordered_ops()
        if op.get_type_name() == "MatMul" and "classifier" in op.get_friendly_name()
    ]
    source = heads[-1].input_value(0).get_node()
    while source.get_type_name() in ("FakeQuantize", "Convert", "Multiply", "Subtract"):  # int8: behind its quantizer
        source = source.input_value(0).get_node()
    model.add_outputs([source.output(0)])
    return model


def kernels(compiled) -> dict[str, int]:
    """How many of the compiled model's matmul-like nodes run on each oneDNN implementation."""
    counts: dict[str, int] = {}  # (known once it has run)
    for op in compiled.get_runtime_model().get_ordered_ops():
        info = op.get_rt_info()
        if info["layerType"].astype(str) in ("FullyConnected", "MatMul", "Convolution"):
            kind = info["primitiveType"].astype(str)
            counts[kind] = counts.get(kind, 0) + 1
    return counts


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def measure(name: str, folder: Path, windows: int, runs: int) -> dict:
    import openvino as ov

    from genre_classifier.core import int8, runtime
    from genre_classifier.core.extractor import featurize
    from genre_classifier.core.loading import load_classifier

    classifier, _ = load_classifier(str(folder))
    feed = lambda w: dict(featurize(classifier.feature_extractor, [w], classifier.sampling_rate, tensors="np"))  # noqa: E731
    full = int(round(classifier.window_seconds * classifier.sampling_rate))
    probe = feed(classifier.decode(GTZAN / "jazz.00000.wav").samples[:full])
    names = list(probe)
    cache = runtime.cache_root() / runtime.fingerprint(classifier.model, names)
    out: dict = {"window_s": classifier.window_seconds, "vnni": int8.vnni(), "int8_folder": int8.folder_name()}
    steps = (
        ("convert_s", lambda: runtime.convert(str(folder), cache, probe)),
        ("quantize_s", lambda: runtime.quantize(str(folder), cache, names)),
        ("choose_s", lambda: runtime.measure_and_choose(cache, probe, runtime.candidates("auto"))),
    )
    for step, do in steps:
        started = time.perf_counter()
        do()
        out[step] = time.perf_counter() - started
    out["choice"] = json.loads(runtime._choice_file(cache).read_text())
    print(
        f"{name}: converted in {out['convert_s']:.1f} s, quantized in {out['quantize_s']:.1f} s, timed in "
        f"{out['choose_s']:.1f} s: {out['choice']['chosen']}, {out['choice']['why']}",
        flush=True,
    )

    forwards = {p: runtime._compiled(cache, p, names) for p in runtime.candidates("auto")}
    times: dict[str, list[float]] = {p: [] for p in forwards}
    for forward in forwards.values():
        forward.logits(probe)
    out["kernels"] = {p: kernels(f.compiled) for p, f in forwards.items()}
    for _ in range(runs):
        for p, forward in forwards.items():
            started = time.perf_counter()
            forward.logits(probe)
            times[p].append(time.perf_counter() - started)
    out["warm_s"] = {p: statistics.median(t) for p, t in times.items()}
    print(
        f"{name}: warm forward of one {classifier.window_seconds:g} s window: "
        + ", ".join(f"{p} {s:.3f} s" for p, s in out["warm_s"].items())
        + f"; kernels {out['kernels']}",
        flush=True,
    )

    core = ov.Core()
    config = {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY"}
    graphs = {
        p: core.compile_model(with_pooled_output(core.read_model(runtime._model_file(cache, p))), "CPU", config)
        for p in ("fp32", "int8")
    }
    rows = []
    for w in music_windows(classifier, windows):
        inputs = [feed(w)[n] for n in names]
        (logits32, pooled32), (logits8, pooled8) = (
            graphs[p].create_infer_request().infer(inputs).values() for p in ("fp32", "int8")
        )
        rows.append((logits32[0], logits8[0], cosine(pooled32, pooled8)))
    fidelity = int8.fidelity([a for a, _, _ in rows], [b for _, b, _ in rows])
    pooled = [c for _, _, c in rows]
    margins = [float(np.diff(np.sort(np.exp(a) / np.exp(a).sum())[-2:])[0]) for a, _, _ in rows]
    out["int8_fidelity"] = {
        **fidelity,
        "pooled_cosine_min": min(pooled),
        "pooled_cosine_mean": float(np.mean(pooled)),
        "fp32_top2_margin_median": float(np.median(margins)),
        "window_s": 10.0,
    }
    print(f"{name}: int8 against fp32 on {len(rows)} music windows: {json.dumps(out['int8_fidelity'])}", flush=True)
    return out


def app_seconds(folder: Path, tmp: Path, runs: int, naive: float) -> dict:
    """The app's warm answer to the 30 s clip over HTTP once it has settled on its forward, against the naive time."""
    env = {"MODEL_ID": str(folder), "PRECISION": "auto", "RUNTIME": "openvino"}  # OPENVINO_CACHE: the run's
    app = ServedApp(env, tmp / f"{folder.name}.log", timeout=300)
    try:
        app.wait_ready()
        runtime = app.wait_runtime()
        client = app.client()
        seconds = timed(lambda: classify_file(client, CLIP), runs)
    finally:
        app.stop()
    return {"runtime": runtime, "30s": seconds, "x_naive": seconds / naive}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--windows", type=int, default=300)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--models", nargs="+", default=["distilhubert", "ast"], choices=["distilhubert", "ast"])
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    import nncf
    import openvino as ov

    results: dict = {
        "machine": machine(),
        "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA", ""),
        "openvino": ov.__version__,
        "nncf": nncf.__version__,
        "runs": args.runs,
        "command": " ".join(["python benchmarks/precision.py", *sys.argv[1:]]),
    }
    print(json.dumps(results), flush=True)
    args.out.parent.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["OPENVINO_CACHE"] = str(Path(tmp) / "openvino")  # empty: converted afresh, as a new checkpoint is
        for name in args.models:
            folder = (save_distilhubert if name == "distilhubert" else save_ast)(Path(tmp) / name)
            results[name] = measure(name, folder, args.windows, args.runs)
            args.out.write_text(json.dumps(results, indent=2) + "\n")  # kept, whatever follows
        results["naive_s"] = naive_seconds(Path(tmp) / args.models[0], CLIP, args.runs)  # latency.py: DistilHuBERT
        for name in args.models:
            results[name]["app"] = app_seconds(Path(tmp) / name, Path(tmp), args.runs, results["naive_s"])
            print(f"{name}: the app over HTTP, {json.dumps(results[name]['app'])}", flush=True)
    results["load_average_at_end"] = os.getloadavg()
    args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
