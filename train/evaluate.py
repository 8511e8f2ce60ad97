"""Score a checkpoint (or the embedded model) on GTZAN the way the app classifies: every window of every clip, heard
by the music gate, probabilities averaged per clip (over its music windows, as the app does); metrics.json names
the clips the gate heard as not music (`not_music`).

    python -m train.evaluate --model distilhubert-gtzan
    python -m train.evaluate --model you/ast-gtzan --split fault-filtered

`--model` is a Hub id, a local checkpoint folder or `baseline`; `--data` any form `train.finetune` takes, split
the same way (`--split course`: the audio course's random 90/10 split; `fault-filtered`: the artist-filtered
lists in train/splits/; undecodable clips left out first). Prints clip accuracy, window accuracy, per-genre
precision/recall/F1 and the confusion matrix, and writes metrics.json, split.json and confusion_matrix.png to
--output-dir. `--recorded` scores every clip again as a recorded-like copy (a song played in a room and recorded
by a browser: train/recorded.py) and adds its accuracy, confusion matrix and agreement with the clean answers.
Metrics come from the confusion matrix with numpy: `evaluate.load("accuracy")` fetches its code from the Hub at run
time, which offline machines cannot do. (`python train/evaluate.py ...` works the same.)
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import sys
from collections.abc import Iterable
from pathlib import Path

if not __package__:  # run as `python train/evaluate.py`: import from the repository root, as `-m train.evaluate`
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import numpy as np
from matplotlib.figure import Figure

from genre_classifier import GENRES
from genre_classifier.core.loading import BASELINE_ID, CheckpointError, load_exact
from genre_classifier.core.model import Classifier
from train.baseline import HELDOUT, TABLE
from train.cli import HelpFormatter, cannot_load, check_precision
from train.data import (
    COURSE,
    DATA_HELP,
    HUB_DATASET,
    MAX_CLIP_SECONDS,
    SPLITS,
    DataError,
    Split,
    clip_name,
    load_gtzan,
    make_split,
)
from train.recorded import EVAL_SEED, check_codec, recorded_copy

ALL = "all"
PARTS = ("test", "validation", "train")


def confusion_matrix(true: Iterable[int], predicted: Iterable[int], n: int = len(GENRES)) -> np.ndarray:
    """Counts (n, n): rows are true genres, columns predicted ones."""
    matrix = np.zeros((n, n), dtype=int)
    np.add.at(matrix, (np.asarray(list(true)), np.asarray(list(predicted))), 1)
    return matrix


def scores(matrix: np.ndarray, labels: list[str] = GENRES) -> dict:
    """Accuracy, per-genre precision/recall/F1/support and macro F1 from a confusion matrix."""
    hits = np.diag(matrix).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.nan_to_num(hits / matrix.sum(axis=0))
        recall = np.nan_to_num(hits / matrix.sum(axis=1))
        f1 = np.nan_to_num(2 * precision * recall / (precision + recall))
    per_genre = {
        label: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
        for label, p, r, f, s in zip(labels, precision, recall, f1, matrix.sum(axis=1), strict=True)
    }
    return {"accuracy": float(hits.sum() / max(matrix.sum(), 1)), "macro_f1": float(f1.mean()), "per_genre": per_genre}


def evaluate_classifier(classifier: Classifier, dataset, recorded: bool = False) -> dict:
    """Classify every clip of `dataset` (columns `audio`, `genre`) as the app does; clip and window metrics. With
    `recorded`, each clip is scored again as a recorded-like copy (`train/recorded.py`, the clip's own seed from
    EVAL_SEED), under `recorded`: its metrics and the `agreement`, the share of clips whose top genre is unchanged."""
    genre_of = {label: GENRES.index(label) for label in classifier.labels}  # checkpoint label order -> GENRES
    if sorted(genre_of) != sorted(GENRES):
        raise ValueError(f"the checkpoint's labels {classifier.labels} are not the ten GTZAN genres")
    runs = {"clean": Tally(), **({"recorded": Tally()} if recorded else {})}
    rate = classifier.sampling_rate
    for i, example in enumerate(dataset):
        # Decoded as an upload is (`Classifier.decode`): the clip keeps its full band for the music gate, and its
        # answer is the app's, from its music windows (`Prediction.probs`).
        audio = example["audio"]
        clip = classifier.decode(audio["bytes"] if audio.get("bytes") else audio["path"], MAX_CLIP_SECONDS)
        name = clip_name(audio, i)
        runs["clean"].add(name, example["genre"], classifier.classify(clip), genre_of)
        if recorded:  # a recording reaches the app at its own rate; this one at the model's, as the copy is made
            copy = recorded_copy(clip.samples, rate, seed=(EVAL_SEED, i))
            runs["recorded"].add(name, example["genre"], classifier.classify(classifier.decode((rate, copy))), genre_of)
    metrics = runs["clean"].metrics()
    metrics["music_gate"] = (
        "as the app: each clip's windows went through the music gate, a music clip's genre is "
        "the mean of its music windows, and `not_music` names the clips the app would call not "
        "music (their top genre is still scored)"
    )
    if recorded:
        same = [runs["recorded"].predictions[name] == top for name, top in metrics["predictions"].items()]
        metrics["recorded"] = {**runs["recorded"].metrics(), "agreement": float(np.mean(same)), "seed": EVAL_SEED}
    return metrics


class Tally:
    """The answers of one pass over the clips, and their metrics."""

    def __init__(self) -> None:
        self.clip_true, self.clip_pred, self.window_true, self.window_pred = [], [], [], []
        self.predictions: dict[str, str] = {}
        self.not_music: list[str] = []  # the clips the music gate heard as something else

    def add(self, name: str, genre: int, prediction, genre_of: dict[str, int]) -> None:
        self.clip_true.append(genre)
        self.clip_pred.append(genre_of[prediction.top])
        self.window_pred += [genre_of[prediction.labels[j]] for j in prediction.window_probs.argmax(axis=1)]
        self.window_true += [genre] * len(prediction.window_probs)
        self.predictions[name] = prediction.top
        if not prediction.is_music:
            self.not_music.append(name)

    def metrics(self) -> dict:
        clips = confusion_matrix(self.clip_true, self.clip_pred)
        windows = confusion_matrix(self.window_true, self.window_pred)
        return {
            **scores(clips),
            "window_accuracy": float(np.trace(windows) / windows.sum()),
            "clips": len(self.clip_true),
            "windows": len(self.window_true),
            "confusion_matrix": clips.tolist(),
            "predictions": self.predictions,
            "not_music": self.not_music,
        }


def save_confusion_matrix(matrix: np.ndarray, path: Path, title: str) -> None:
    fig = Figure(figsize=(6.5, 5.5), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(GENRES)), GENRES, rotation=45, ha="right")
    ax.set_yticks(range(len(GENRES)), GENRES)
    ax.set(xlabel="Predicted genre", ylabel="True genre", title=title)
    for (row, col), count in np.ndenumerate(matrix):
        if count:
            colour = "white" if count > matrix.max() / 2 else "black"
            ax.text(col, row, str(count), ha="center", va="center", color=colour, fontsize=8)
    fig.colorbar(image, ax=ax, label="clips")
    fig.savefig(path, dpi=120)


def report(metrics: dict) -> str:
    lines = [
        f"clip accuracy:   {metrics['accuracy']:.4f} ({metrics['clips']} clips)",
        f"window accuracy: {metrics['window_accuracy']:.4f} ({metrics['windows']} windows)",
        f"macro F1:        {metrics['macro_f1']:.4f}",
        "",
        f"{'genre':10s} {'precision':>9s} {'recall':>7s} {'f1':>6s} {'n':>4s}",
    ]
    for genre, s in metrics["per_genre"].items():
        lines.append(f"{genre:10s} {s['precision']:9.3f} {s['recall']:7.3f} {s['f1']:6.3f} {s['support']:4d}")
    lines += ["", "confusion matrix (rows true, columns predicted, in the order above):"]
    lines += [" ".join(f"{c:3d}" for c in row) for row in metrics["confusion_matrix"]]
    if "recorded" in metrics:
        recorded = metrics["recorded"]
        lines += [
            "",
            f"recorded-like copies (train/recorded.py, seed {recorded['seed']}):",
            f"accuracy:        {recorded['accuracy']:.4f} (clips)",
            f"agreement:       {recorded['agreement']:.4f} (clips whose top genre is unchanged)",
            "confusion matrix:",
        ]
        lines += [" ".join(f"{c:3d}" for c in row) for row in recorded["confusion_matrix"]]
    return "\n".join(lines)


def write_results(metrics: dict, output_dir: Path, title: str) -> None:
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    save_confusion_matrix(np.array(metrics["confusion_matrix"]), output_dir / "confusion_matrix.png", title)
    if "recorded" in metrics:
        save_confusion_matrix(
            np.array(metrics["recorded"]["confusion_matrix"]),
            output_dir / "confusion_matrix_recorded.png",
            f"{title}, recorded-like",
        )


def write_split(chosen: Split, output_dir: Path) -> None:
    """split.json: the clip names of every part and of every clip left out, as the run used them."""
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "split.json").write_text(json.dumps(chosen.record(), indent=2) + "\n")


def seen_in_training(model: str) -> set[str] | None:
    """Clip stems (`blues.00012`) a model learnt from, where known: the embedded model's feature-table rows, or
    the training and validation parts in a checkpoint folder's split.json (written by train/finetune.py)."""
    if model == BASELINE_ID:
        with open(TABLE, newline="") as f:
            return {row["filename"].rsplit(".", 1)[0] for row in csv.DictReader(f)} - set(HELDOUT)
    record = Path(model) / "split.json"
    if record.is_file():
        parts = json.loads(record.read_text())["parts"]
        return {Path(name).stem for part in ("train", "validation") for name in parts.get(part, [])}
    return None


def overlap_note(model: str, names: list[str]) -> tuple[int | None, str]:
    """How many scored clips the model learnt from, and a sentence saying what that means for the score."""
    seen = seen_in_training(model)
    if seen is None:
        return None, ""
    count = sum(Path(name).stem in seen for name in names)
    if model == BASELINE_ID:
        where = "the embedded model's training data (the GTZAN feature table)"
    else:
        where = "the checkpoint's training or validation clips (its split.json)"
    if count == 0:
        return 0, f"note: none of these {len(names)} clips is in {where}."
    return count, f"note: {count} of these {len(names)} clips are in {where}, so this is not a held-out score."


def load_for_evaluation(model: str) -> Classifier:
    """The app's classifier for `model`; one sentence (`DataError`) when it cannot be loaded, never a fallback."""
    check_precision()
    try:
        return load_exact(model)
    except CheckpointError as err:  # offline, unknown or private id, not a ten-genre audio classifier...
        raise cannot_load(model, err.__cause__, str(err)) from None  # the diagnosis once: it may probe the Hub


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    parser = argparse.ArgumentParser(
        "python -m train.evaluate", "%(prog)s --model M [options]", __doc__, formatter_class=HelpFormatter
    )
    parser.add_argument("--model", required=True, help="Hub id, local checkpoint folder, or 'baseline' (embedded)")
    parser.add_argument("--data", default=HUB_DATASET, help=DATA_HELP)
    parser.add_argument("--audio-column", default="audio", help="audio column of a datasets dataset")
    parser.add_argument("--label-column", help="genre column of a datasets dataset; unset: 'genre', else 'label'")
    parser.add_argument(
        "--split",
        choices=[*SPLITS, ALL],
        default=COURSE,
        help="course: the audio course's random 90/10 split (--test-size, --seed); fault-filtered: the "
        "artist-filtered lists in train/splits/; all: every usable clip",
    )
    parser.add_argument("--part", choices=PARTS, default="test", help="which part of the split to score")
    parser.add_argument("--test-size", type=float, default=0.1, help="course split: held-out fraction")
    parser.add_argument("--seed", type=int, default=42, help="course split: its shuffle seed")
    parser.add_argument("--output-dir", type=Path, default=Path("eval_results"), help="where the results go")
    parser.add_argument(
        "--recorded",
        action="store_true",
        help="score every clip a second time as a recorded-like copy (a room, a microphone's band, noise, level and "
        "Opus: train/recorded.py, a fixed seed), written under `recorded` in metrics.json with the agreement",
    )
    args = parser.parse_args()
    try:
        evaluate(args)
    except DataError as err:
        sys.exit(f"error: {err}")


def evaluate(args: argparse.Namespace) -> None:
    if args.recorded:  # its Opus copies need FFmpeg: said before the model and the data are loaded
        check_codec(["the recorded-like copies (--recorded)"], "leave out --recorded")
    classifier = load_for_evaluation(args.model)  # before the data: a model that cannot load is told at once
    chosen = make_split(
        load_gtzan(args.data, args.audio_column, args.label_column),
        args.split,
        classifier.sampling_rate,
        args.test_size,
        args.seed,
    )
    part = ALL if args.split == ALL else args.part
    if part not in chosen.parts:
        raise DataError(f"The {args.split} split has no {part} part; its parts: {', '.join(chosen.parts)}.")
    dataset = chosen.parts[part]
    names = chosen.clips(part)
    seen, note = overlap_note(args.model, names)
    lines = [classifier.description, f"data: {args.data}, split: {args.split}, part: {part} ({len(dataset)} clips)"]
    lines += chosen.left_out(str(args.output_dir / "split.json")) + ([note] if note else [])
    print("\n".join(lines) + "\n")
    metrics = evaluate_classifier(classifier, dataset, recorded=args.recorded)
    metrics |= {
        "model": args.model,
        "data": args.data,
        "split": args.split,
        "split_description": chosen.description,
        "part": part,
        "seed": args.seed,
        "clips_seen_in_training": seen,
        "selected_on_validation": None,  # chosen however the checkpoint was trained: see its own card and metrics.json
    }
    print(report(metrics))
    write_results(metrics, args.output_dir, f"{Path(args.model).name} on {args.split} {part} clips")
    write_split(chosen, args.output_dir)
    print(f"\nwrote {args.output_dir / 'metrics.json'}, split.json and confusion_matrix.png")


if __name__ == "__main__":
    main()
