"""Clean against recorded-like: a model scored on the real genre-labelled recordings as they are and as recorded-like
copies (a room, a microphone's band, noise, level and Opus: train/recorded.py), with `train.evaluate --recorded`.

    python benchmarks/recorded.py [--model baseline] [--output FILE]

The recordings: GTZAN's 14 clips (GTZAN_DIR, default ../shared/data/gtzan; left out of the embedded model's
training) and the examples whose genre is plain (Vibe Ace: jazz; Sugar Plum Fairy, Hungarian Dance No. 5:
classical), laid out as <genre>/<file> for `--data`. Writes the accuracy of both passes, the agreement, and each
clip's two answers to benchmarks/results/recorded.json (docs/recorded.md).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import GTZAN, machine  # noqa: E402
from genre_classifier import GENRES, examples_dir  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "recorded.json"
EXAMPLES = {"jazz": ["vibe_ace.ogg"], "classical": ["sugar_plum_fairy.ogg", "hungarian_dance_5.ogg"]}


def labelled_folder(folder: Path) -> int:
    """<genre>/<file> links to every labelled recording; how many."""
    sources = [(path.name.split(".")[0], path) for path in sorted(GTZAN.glob("*.wav"))]
    sources += [(genre, examples_dir() / name) for genre, names in EXAMPLES.items() for name in names]
    for genre, path in sources:
        if genre not in GENRES or not path.is_file():
            sys.exit(f"not a labelled recording: {path} (GTZAN_DIR={GTZAN})")
        (folder / genre).mkdir(exist_ok=True)
        (folder / genre / path.name).symlink_to(path)
    return len(sources)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="baseline", help="as train.evaluate's --model")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="recorded-") as tmp:
        data, out = Path(tmp) / "data", Path(tmp) / "out"
        data.mkdir()
        count = labelled_folder(data)
        command = [
            sys.executable,
            "-m",
            "train.evaluate",
            "--model",
            args.model,
            "--data",
            str(data),
            "--split",
            "all",
            "--recorded",
            "--output-dir",
            str(out),
        ]
        subprocess.run(command, cwd=ROOT, check=True)
        metrics = json.loads((out / "metrics.json").read_text())
    recorded = metrics["recorded"]
    results = {
        "model": args.model,
        "clips": count,
        "clean_accuracy": round(metrics["accuracy"], 4),
        "recorded_accuracy": round(recorded["accuracy"], 4),
        "agreement": round(recorded["agreement"], 4),
        "same": sum(recorded["predictions"][name] == top for name, top in metrics["predictions"].items()),
        "seed": recorded["seed"],
        "answers": {name: [top, recorded["predictions"][name]] for name, top in metrics["predictions"].items()},
        "machine": machine(),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps({k: v for k, v in results.items() if k != "machine"}, indent=2))


if __name__ == "__main__":
    main()
