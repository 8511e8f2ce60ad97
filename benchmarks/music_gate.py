"""The music gate measured: which real and made sounds the app calls "not music", and what the gate costs.

    python benchmarks/music_gate.py        (needs ../shared/data, Debian's espeak-ng, apt-get and FFmpeg)

Every clip goes through the app's own path (`Classifier.decode` then `Classifier.classify`, gate included) with two
models: the embedded offline model, and a true-size DistilHuBERT with random weights (a checkpoint with nothing of
its own to say about music). Not music: the six real recordings of ../shared/data/music (three LibriSpeech
readings, a humpback whale, a robin, a dog) and sounds made by `train/sounds.py` from its evaluation seeds and
voices, none of which the gate was fitted on, and real people speaking: the held-out half of `train/real_speech.py`
(telephone prompts in five languages, in telephone band and wideband, and letters read aloud in five languages),
reported by source, language and band. With `--extra DIR`, the recordings in DIR/speech (not music),
DIR/vocal_music (songs with vocals, a cappella singing) and DIR/music (other music) are measured too;
docs/music-gate.md lists the ones measured and the packages they come from. Music: the 14 GTZAN clips, the eight
CC recordings of ../shared/data/music and the five examples. The cost: the gate on one 30 s window against the
naive recipe's time for a 30 s clip (`benchmarks/latency.py`), in the same run.
Writes benchmarks/results/music_gate.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import GTZAN, MUSIC, machine, naive_seconds, save_distilhubert  # noqa: E402
from genre_classifier.core import answer, gate  # noqa: E402
from genre_classifier.core.model import BaselineClassifier, TransformerClassifier  # noqa: E402
from genre_classifier.web.page import EXAMPLES, EXAMPLES_DIR  # noqa: E402
from train import real_speech, sounds  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "music_gate.json"
NOT_MUSIC = {
    "5703-47212-0000": "speech (LibriSpeech 5703)",
    "3436-172162-0000": "speech (LibriSpeech 3436)",
    "198-209-0000": "speech (LibriSpeech 198)",
    "glacier-bay-humpback": "humpback whale",
    "456440__inspectorj__bird-whistling-robin-single-13": "robin",
    "pibble": "dog",
}
PER_KIND = 4  # made sounds of each kind


def clips(made: Path, extra: Path | None = None) -> list[tuple[str, str, bool, Path]]:
    """(group, name, is music, path) of every clip measured."""
    rows = []
    if extra:
        rows += [("real, not music", path.stem, False, path) for path in sorted((extra / "speech").glob("*.*"))]
        rows += [("songs with vocals", path.stem, True, path) for path in sorted((extra / "vocal_music").glob("*.*"))]
        rows += [("more real music", path.stem, True, path) for path in sorted((extra / "music").glob("*.*"))]
    rows += [("real, not music", what, False, MUSIC / f"{stem}.ogg") for stem, what in NOT_MUSIC.items()]
    for kind, seed, samples in sounds.corpus("eval", PER_KIND):
        path = made / f"{kind.replace(' ', '_')}-{seed}.wav"
        sf.write(path, samples, sounds.RATE)
        rows.append(("made, not music", f"{kind} #{seed}", False, path))
    for clip in real_speech.corpus("held"):
        path = made / f"{clip.name}.wav"
        sf.write(path, clip.samples, real_speech.RATE)
        rows.append(("real speech, held out", f"{clip.source}, {clip.language}, {clip.band}", False, path))
    rows += [("GTZAN", path.stem, True, path) for path in sorted(GTZAN.glob("*.wav"))]
    cc = [p for p in sorted(MUSIC.glob("*.ogg")) if ".hq." not in p.name and p.stem not in NOT_MUSIC]
    rows += [("CC music", path.stem, True, path) for path in cc]
    rows += [("examples", text, True, EXAMPLES_DIR / name) for name, text in EXAMPLES]
    return rows


def gate_cost(runs: int = 7) -> float:
    """Median seconds of the gate on one 30 s window of a real clip, at 22050 Hz."""
    clip = BaselineClassifier().decode(GTZAN / "jazz.00000.wav")
    gate.listen(clip.gate_audio, [(0.0, 30.0)])
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        gate.listen(clip.gate_audio, [(0.0, 30.0)])
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--extra", type=Path, help="a folder with speech/, vocal_music/ and music/ to measure")
    args = parser.parse_args()
    results: dict = {
        "machine": machine(),
        "command": "python benchmarks/music_gate.py",
        "min_music": round(gate.gate().min_music, 4),
        "clips": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        hubert_dir = save_distilhubert(tmp / "distilhubert")
        models = {
            "embedded": BaselineClassifier(),
            "distilhubert_random": TransformerClassifier.from_pretrained(str(hubert_dir), device="cpu"),
        }
        (tmp / "made").mkdir()
        for group, name, music, path in clips(tmp / "made", args.extra):
            row = {"group": group, "name": name, "music": music}
            for key, classifier in models.items():
                prediction = classifier.classify(classifier.decode(path))
                said = answer.of(prediction)
                row[key] = {
                    "verdict": said.text,
                    "music_score": round(prediction.music_score, 3),
                    "windows_not_music": int((~prediction.music_windows).sum()),
                    "windows": len(prediction.window_spans),
                    "sounds_like": said.sounds_like,
                }
            results["clips"].append(row)
            print(group, name, {k: row[k]["verdict"] for k in models}, row["embedded"]["music_score"], flush=True)
        results["gate_30s_window_s"] = round(gate_cost(), 4)
        results["naive_s"] = round(naive_seconds(hubert_dir, GTZAN / "jazz.00000.wav", runs=3), 3)
    results["gate_x_naive"] = round(results["gate_30s_window_s"] / results["naive_s"], 4)
    for key in ("embedded", "distilhubert_random"):
        said = {
            group: [row[key]["verdict"] == "not music" for row in results["clips"] if row["group"] == group]
            for group in dict.fromkeys(row["group"] for row in results["clips"])
        }
        not_music = said["real, not music"] + said["made, not music"]
        real_speech_caught = said["real speech, held out"]
        other_music = [
            *said["CC music"],
            *said["examples"],
            *said.get("songs with vocals", []),
            *said.get("more real music", []),
        ]
        results[key] = {
            "not_music_caught": f"{sum(not_music)}/{len(not_music)}",
            "real_not_music_caught": f"{sum(said['real, not music'])}/{len(said['real, not music'])}",
            "real_speech_caught": f"{sum(real_speech_caught)}/{len(real_speech_caught)}",
            "gtzan_called_not_music": f"{sum(said['GTZAN'])}/{len(said['GTZAN'])}",
            "other_music_called_not_music": f"{sum(other_music)}/{len(other_music)}",
        }
    by_source: dict[str, dict] = {}
    for row in results["clips"]:
        if row["group"] == "real speech, held out":
            entry = by_source.setdefault(row["name"], {"clips": 0, "embedded": 0, "distilhubert_random": 0})
            entry["clips"] += 1
            for key in ("embedded", "distilhubert_random"):
                entry[key] += row[key]["verdict"] == "not music"
    results["real_speech_by_source"] = by_source
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps({k: v for k, v in results.items() if k != "clips"}, indent=1))


if __name__ == "__main__":
    main()
