"""What a request would spend inside `@spaces.GPU` on a ZeroGPU Space, measured on this machine.

    python benchmarks/gpu_share.py [--runs 3]

ZeroGPU lends the GPU only inside the decorated function, and a visitor's daily quota pays for the time spent
there. Here `spaces.GPU` is replaced by the tests' recorder (a pickle round trip of what crosses, as ZeroGPU's
worker process does, and a timer), and the app's own `classify` handler answers a 30 s clip and a 5-minute
song with the true-size DistilHuBERT and AST (random weights). Reported: the seconds of the whole request,
the seconds inside decorated calls, and their share. Where CUDA is available (`DEVICE=cuda`) the same runs
on the GPU, which gives the GPU latency per 30 s and per 10 minutes of audio. Writes
benchmarks/results/gpu_share.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import GTZAN, GPURecorder, machine, save_ast, save_distilhubert  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "gpu_share.json"


def song(path: Path, minutes: float) -> Path:
    """Real GTZAN clips of several genres one after another, `minutes` long."""
    clips = [sf.read(GTZAN / f"{g}.00000.wav", dtype="float32")[0] for g in ("jazz", "rock", "pop", "disco")]
    samples = np.tile(np.concatenate(clips), 5)[: int(minutes * 60 * 22050)]
    sf.write(path, samples, 22050)
    return path


def measure(checkpoint: Path, clips: dict[str, Path], runs: int) -> dict:
    import spaces

    from genre_classifier.core.model import TransformerClassifier
    from genre_classifier.web import gpu
    from genre_classifier.web.handlers import make_classify

    recorder = GPURecorder()
    spaces.GPU = recorder  # before the model's forward borrows it
    classifier = gpu.borrow(TransformerClassifier.from_pretrained(str(checkpoint)))
    classify = make_classify(classifier)
    list(classify(str(clips["30 s"])))  # first-call costs out of the way
    out = {"served": classifier.description}
    for name, path in clips.items():
        requests, inside = [], []
        for _ in range(runs):
            recorder.calls.clear()
            started = time.perf_counter()
            list(classify(str(path)))
            requests.append(time.perf_counter() - started)
            inside.append(sum(call["seconds"] for call in recorder.calls))
        request, gpu = statistics.median(requests), statistics.median(inside)
        out[name] = {
            "request_s": round(request, 3),
            "inside_gpu_s": round(gpu, 3),
            "share": round(gpu / request, 3),
            "gpu_calls": len(recorder.calls),
            "duration_asked_s": [call["duration"] for call in recorder.calls],
        }
        print(name, out[name], flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    import torch

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        clips = {"30 s": GTZAN / "jazz.00000.wav", "5 min": song(tmp / "song.wav", 5)}
        if torch.cuda.is_available():  # the GPU's latency for the longest upload the app takes
            clips["10 min"] = song(tmp / "long.wav", 10)
        results = {"machine": machine()}
        for name, save in (("distilhubert", save_distilhubert), ("ast", save_ast)):
            results[name] = measure(save(tmp / name), clips, args.runs)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
