"""Evaluate any checkpoint the app can load on GTZAN, with the app's own inference code.

    python -m train.evaluate --model M [--data D] [--split test] [--output-dir OUT]

(`python train/evaluate.py ...` works the same.) M is a Hub id, a local checkpoint folder or `baseline`;
D is any `--data` form `train/finetune.py` takes, split the same way (bad clips left out first).
Prints clip accuracy (windows averaged per clip, as the app answers), window accuracy, per-genre
precision/recall/F1 and the confusion matrix; writes `metrics.json` and `confusion_matrix.png` to OUT.

Metrics are computed from the confusion matrix with numpy: `evaluate.load("accuracy")` fetches its
metric code from the Hub at run time, which offline machines cannot do.
"""

from __future__ import annotations

import argparse
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
from genre_classifier.model import Classifier, load_classifier
from train.data import HUB_DATASET, DataError, clip_name, decode, drop_undecodable, load_gtzan, split


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


def evaluate_classifier(classifier: Classifier, dataset) -> dict:
    """Classify every clip of `dataset` (columns `audio`, `genre`) as the app does; clip and window metrics."""
    genre_of = {label: GENRES.index(label) for label in classifier.labels}  # checkpoint label order -> GENRES
    if sorted(genre_of) != sorted(GENRES):
        raise ValueError(f"the checkpoint's labels {classifier.labels} are not the ten GTZAN genres")
    clip_true, clip_pred, window_true, window_pred, predictions = [], [], [], [], {}
    for i, example in enumerate(dataset):
        prediction = classifier.classify(decode(example["audio"], classifier.sampling_rate))
        clip_true.append(example["genre"])
        clip_pred.append(genre_of[prediction.top])
        window_pred += [genre_of[classifier.labels[j]] for j in prediction.window_probs.argmax(axis=1)]
        window_true += [example["genre"]] * len(prediction.window_probs)
        predictions[clip_name(example["audio"], i)] = prediction.top
    clips = confusion_matrix(clip_true, clip_pred)
    windows = confusion_matrix(window_true, window_pred)
    return {
        **scores(clips),
        "window_accuracy": float(np.trace(windows) / windows.sum()),
        "clips": len(clip_true),
        "windows": len(window_true),
        "confusion_matrix": clips.tolist(),
        "predictions": predictions,
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
    return "\n".join(lines)


def write_results(metrics: dict, output_dir: Path, title: str) -> None:
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    save_confusion_matrix(np.array(metrics["confusion_matrix"]), output_dir / "confusion_matrix.png", title)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="Hub id, local checkpoint folder, or 'baseline'")
    parser.add_argument("--data", default=HUB_DATASET, help="any --data form of train/finetune.py")
    parser.add_argument("--audio-column", default="audio", help="audio column of a datasets dataset")
    parser.add_argument("--label-column", help="genre column of a datasets dataset (default: 'genre', else 'label')")
    parser.add_argument("--split", choices=["test", "train", "all"], default="test")
    parser.add_argument("--test-size", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--output-dir", type=Path, default=Path("eval_results"))
    args = parser.parse_args()

    classifier, fallback = load_classifier(args.model)
    if fallback:
        sys.exit(f"error: {fallback}")
    try:
        dataset = load_gtzan(args.data, args.audio_column, args.label_column)
        dataset = drop_undecodable(dataset, classifier.sampling_rate)
        if args.split != "all":
            dataset = split(dataset, args.test_size, args.seed)[args.split]
    except DataError as err:
        sys.exit(f"error: {err}")
    print(f"{classifier.description}\ndata: {args.data}, split: {args.split} ({len(dataset)} clips)\n")
    metrics = evaluate_classifier(classifier, dataset)
    metrics |= {"model": args.model, "data": args.data, "split": args.split, "seed": args.seed}
    print(report(metrics))
    write_results(metrics, args.output_dir, f"{Path(args.model).name} on {Path(args.data).name} ({args.split})")
    print(f"\nwrote {args.output_dir / 'metrics.json'} and {args.output_dir / 'confusion_matrix.png'}")


if __name__ == "__main__":
    main()
