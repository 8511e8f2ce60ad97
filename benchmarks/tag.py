"""Speed of `python -m genre_classifier tag` on the machine it runs on: files per minute, peak memory, resuming.

    python benchmarks/tag.py [--clips 6] [--songs 5] [--tracks DIR]

Runs the command as a user does (a fresh process each time, `PRECISION=auto`), with the true-size DistilHuBERT
(random weights, the config of ntu-spml/distilhubert; no Hub here) on OpenVINO (the default: its first run
converts the model into an empty cache, which the second loads), the same on PyTorch (`RUNTIME=torch`), and the
embedded model (`MODEL_ID=baseline`):

- 30 s clips: the real GTZAN clips of `../shared/data/gtzan/`;
- 5-minute songs: MP3s (192 kbit/s) of the real recordings of `../shared/data/gtzan/` and `../shared/data/music/` end
  to end, as `tag` analyses them by default (a few windows, `sampling.py`) and with `--all-windows`;
- real full-length tracks (`--tracks DIR`, or `TAG_TRACKS`: every file of 2-8 minutes in it, kept outside the
  repository; a `SOURCES.txt` there saying where they come from and under which licence is copied into the results):
  the embedded model's answer per track by default and with `--all-windows`, whether the genre and the clear/unsure
  verdict agree, and the time each took;
- resuming a finished run of 1,000 files (hard links to one real 2 s clip): the rows of a finished run are written
  beside one row the command wrote for real (every link is the same clip, so each row is that answer), and the
  command is run again; it has to skip all 1,000 without loading the model.

For each run: files per minute once the model is loaded (the command's own summary), the whole command's wall
time (start, imports and model loading included) and its peak memory (its processes' resident memory together, sampled
every 50 ms).
Writes benchmarks/results/tag.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import GTZAN, MUSIC, machine, save_distilhubert  # noqa: E402
from genre_classifier.library.sampling import SAMPLED_WINDOWS  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "tag.json"
RATE = 22050  # GTZAN's own rate: the songs are written at it
SUMMARY = re.compile(r"Tagged (\d+) file\(s\) in \S+(?: \(([\d.]+) files/min\))?.*?; (\d+) already there were skipped")


def _status_mb(pid: int, field: str) -> float:
    """A field of a process's /proc status in MB (VmHWM: its peak resident memory so far; VmRSS: now); 0 once gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    return next((int(line.split()[1]) / 1024 for line in status.splitlines() if line.startswith(field)), 0.0)


def _tree(pid: int) -> list[int]:
    """A process and all its descendants (the embedded model tags in processes of its own)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return [pid]
    return [pid] + [p for child in children for p in _tree(int(child))]


def peak_mb(pid: int) -> float:
    """The command's memory now: its own peak so far, or all its processes' resident memory together where larger."""
    return max(_status_mb(pid, "VmHWM"), sum(_status_mb(p, "VmRSS") for p in _tree(pid)))


def tag(model_id: str, paths: list[Path], output: Path, env: dict | None = None, flags: tuple = ()) -> dict:
    """The command in a fresh process; its summary, wall time and peak memory."""
    env = {**os.environ, "MODEL_ID": model_id, **(env or {})}
    command = [sys.executable, "-m", "genre_classifier", "tag", *map(str, paths), "--output", str(output), *flags]
    peak = 0.0
    with tempfile.TemporaryFile("w+") as out:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.DEVNULL, text=True)
        while process.poll() is None:  # sampled every 50 ms: the peak, to within what 50 ms can add
            peak = max(peak, peak_mb(process.pid))
            time.sleep(0.05)
        wall = time.perf_counter() - started
        out.seek(0)
        stdout = out.read()
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{stdout}")
    match = SUMMARY.search(stdout)
    tagged, per_minute, skipped = int(match[1]), float(match[2] or 0), int(match[3])
    return {
        "files": tagged,
        "skipped": skipped,
        "files_per_min": per_minute,
        "wall_s": round(wall, 2),
        "s_per_file": round(60 / per_minute, 2) if per_minute else None,
        "files_per_min_wall": round(tagged / wall * 60, 1),
        "peak_rss_mb": round(peak),
    }


def clips(folder: Path, count: int) -> list[Path]:
    folder.mkdir()
    paths = sorted(GTZAN.glob("*.wav"))[:count]
    for path in paths:
        os.link(path, folder / path.name)
    return [folder / path.name for path in paths]


def songs(folder: Path, count: int) -> list[Path]:
    """5-minute MP3 songs of real music: every recording end to end, each song starting at another one."""
    import librosa

    folder.mkdir()
    recordings = [sf.read(p, dtype="float32")[0] for p in sorted(GTZAN.glob("*.wav"))]
    for path in sorted(MUSIC.glob("*.hq.ogg")):
        samples, _ = librosa.load(path, sr=RATE)  # mono, at GTZAN's rate
        recordings.append(samples)
    paths = []
    for i in range(count):
        order = recordings[i * 3 :] + recordings[: i * 3]
        wav = folder / f"song {i + 1}.wav"
        sf.write(wav, np.concatenate(order)[: 300 * RATE], RATE)
        paths.append(wav.with_suffix(".mp3"))
        subprocess.run(["ffmpeg", "-v", "error", "-i", str(wav), "-b:a", "192k", str(paths[-1])], check=True)
        wav.unlink()
    return paths


def verdict(row: dict) -> str:
    """A row's answer in words: the genre when clear, "unsure" (the top genre in brackets), "not music"."""
    said = row["note"].split(";")[0]
    if said.startswith("not music"):
        return "not music"
    return f"unsure ({row['genre']})" if said.startswith("unsure") else row["genre"]


def tracks(folder: Path, out: Path) -> dict:
    """The embedded model on real tracks of 2-8 minutes: the default's answers against --all-windows'."""
    from genre_classifier.core.audio import file_seconds

    found = {p: file_seconds(p) for p in sorted(folder.iterdir()) if p.is_file() and p.name != "SOURCES.txt"}
    chosen = [p for p, seconds in found.items() if seconds and 120 <= seconds <= 480]
    runs, answers = {}, {}
    fewer = {f"{n}_windows": ("--windows", str(n)) for n in (1, 3) if n != SAMPLED_WINDOWS}
    for name, flags in (("sampled", ()), ("all_windows", ("--all-windows",)), *fewer.items()):
        output = out / f"tracks-{name}.csv"
        runs[name] = tag("baseline", chosen, output, flags=flags)
        with open(output, newline="") as f:
            answers[name] = {row["path"]: row for row in csv.DictReader(f)}
    rows = []
    for path in chosen:
        some, every = answers["sampled"][str(path)], answers["all_windows"][str(path)]
        rows.append(
            {
                "file": path.name,
                "source": str(path.resolve()),
                "seconds": float(every["seconds"]),
                "windows": [int(some["windows"]), int(every["windows"])],
                "genre": [some["genre"], every["genre"]],
                "verdict": [verdict(some), verdict(every)],
            }
        )
    same_genre = sum(r["genre"][0] == r["genre"][1] for r in rows)
    every = answers["all_windows"]
    counts = {
        name: {
            "files_per_min": runs[name]["files_per_min"],  # fewer windows than the default, for the choice
            "same_genre": sum(answers[name][str(p)]["genre"] == every[str(p)]["genre"] for p in chosen),
            "same_verdict": sum(verdict(answers[name][str(p)]) == verdict(every[str(p)]) for p in chosen),
        }
        for name in fewer
    }
    unsure = [r for r in rows if r["verdict"][1].startswith("unsure")]
    sources = folder / "SOURCES.txt"
    return {
        "folder": str(folder),
        "sources": sources.read_text() if sources.exists() else "not given",
        "tracks": len(rows),
        "same_genre": same_genre,
        "same_genre_share": round(same_genre / len(rows), 3),
        "same_verdict": sum(r["verdict"][0] == r["verdict"][1] for r in rows),
        "unsure_all_windows": len(unsure),
        "unsure_kept_unsure": sum(r["verdict"][0].startswith("unsure") for r in unsure),
        "clear_all_windows": len(rows) - len(unsure),
        "windows_per_track": [round(sum(r["windows"][i] for r in rows) / len(rows), 2) for i in (0, 1)],
        "sampled": runs["sampled"],
        "all_windows": runs["all_windows"],
        "fewer_windows": counts,
        "rows": rows,
    }


def resume(folder: Path, count: int = 1000) -> dict:
    """A re-run over a finished run of `count` files: only stats and the output are read."""
    folder.mkdir()
    clip = folder / "clip.wav"
    sf.write(clip, sf.read(GTZAN / "rock.00000.wav", frames=2 * RATE)[0], RATE)
    links = folder / "library"
    links.mkdir()
    output = folder / "genres.csv"
    os.link(clip, links / "song 0000.wav")
    first = tag("baseline", [links], output)  # one row written by the command itself
    assert first["files"] == 1, first
    with open(output, newline="") as f:
        reader = csv.DictReader(f)
        columns, (row,) = reader.fieldnames, list(reader)
    with open(output, "a", newline="") as f:
        writer = csv.DictWriter(f, columns)
        for i in range(1, count):
            os.link(clip, links / f"song {i:04d}.wav")  # same clip, same size and time: the same row but its path
            writer.writerow({**row, "path": str(links / f"song {i:04d}.wav")})
    again = tag("baseline", [links], output)
    assert again["files"] == 0 and again["skipped"] == count, again
    return again


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=6, help="30 s clips per model (default 6)")
    parser.add_argument("--songs", type=int, default=5, help="5-minute songs per model (default 5)")
    parser.add_argument(
        "--tracks",
        type=Path,
        default=os.environ.get("TAG_TRACKS"),
        help="real full-length tracks (default: $TAG_TRACKS; none: not measured)",
    )
    args = parser.parse_args()

    results: dict = {"machine": machine(), "sampled_windows": SAMPLED_WINDOWS}
    print(json.dumps(results["machine"]))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        inputs = {
            "30s_clips": ([], clips(tmp / "clips", args.clips)),
            "5min_songs": ([], songs(tmp / "songs", args.songs)),
        }
        inputs["5min_songs_all_windows"] = (["--all-windows"], inputs["5min_songs"][1])
        os.environ["OPENVINO_CACHE"] = str(tmp / "openvino")  # empty: the first run converts, the next load it
        distilhubert = str(save_distilhubert(tmp / "distilhubert"))
        models = {
            "distilhubert": (distilhubert, {}),
            "distilhubert_torch": (distilhubert, {"RUNTIME": "torch"}),
            "baseline": ("baseline", {}),
        }
        for name, (model_id, env) in models.items():
            for kind, (flags, paths) in inputs.items():
                r = results[f"{name}_{kind}"] = tag(model_id, paths, tmp / f"{name}-{kind}.csv", env, tuple(flags))
                print(
                    f"{name}, {len(paths)} {kind}: {r['files_per_min']:.1f} files/min once loaded, "
                    f"{r['files_per_min_wall']:.1f} files/min with start-up ({r['wall_s']:.1f} s), "
                    f"peak memory {r['peak_rss_mb']} MB"
                )
        r = results["resume_1000_files"] = resume(tmp / "resume")
        print(f"resuming a finished run of 1000 files: {r['wall_s']:.2f} s, peak memory {r['peak_rss_mb']} MB")
        if args.tracks:
            r = results["tracks"] = tracks(Path(args.tracks), tmp)
            print(
                f"{r['tracks']} real tracks, embedded model: the same genre for {r['same_genre']}, the same "
                f"verdict for {r['same_verdict']}, {r['unsure_kept_unsure']} of {r['unsure_all_windows']} unsure "
                "kept unsure; "
                f"{r['sampled']['files_per_min']} against {r['all_windows']['files_per_min']} files/min"
            )
    results["load_average_at_end"] = os.getloadavg()
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
