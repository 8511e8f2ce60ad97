"""The training data loader's speed, with and without the recorded-like augmentation: clips per second of one
loader worker (`train.windows.random_crops`: decode, crop, augment) at DistilHuBERT's and AST's windows, and with
every crop copied (`p=1`, the codec in every copy) as a worst case.

    python benchmarks/augment.py [--runs 3]

One worker is one process on one core; a GPU needs as many workers as its training clips per second divided by
these figures (train/README.md). Results: benchmarks/results/augment.json (docs/recorded.md).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from benchmarks.common import GTZAN, machine  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "augment.json"


def clips_per_second(transform, audio: list[dict], runs: int) -> float:
    rates = []
    for run in range(runs):
        torch.manual_seed(run)
        started = time.perf_counter()
        for cell in audio:
            transform({"audio": [cell], "genre": [0]})
        rates.append(len(audio) / (time.perf_counter() - started))
    return round(statistics.median(rates), 2)


def main() -> None:
    from train.recorded import Augment
    from train.windows import random_crops

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(1)  # as one loader worker
    audio = [{"path": str(path), "bytes": None} for path in sorted(GTZAN.glob("*.wav"))]
    results = {"clips": len(audio), "machine": machine()}
    for name, seconds in (("distilhubert_30s", 30.0), ("ast_10s", 10.24)):
        window = int(seconds * 16000)
        results[name] = {
            label: clips_per_second(random_crops(window, 16000, augment), audio, args.runs)
            for label, augment in (("none", None), ("default", Augment()), ("every_crop", Augment(p=1.0, codec_p=1.0)))
        }
        print(name, results[name], flush=True)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
