"""Train the embedded offline model from the GTZAN feature table, reproducibly.

    python -m train.baseline        (or python train/baseline.py)

Prints the 10-fold stratified cross-validation accuracy (held-out clips excluded) and the
predictions on the 14 held-out real clips, writes `genre_classifier/core/baseline_model.npz` and
`train/results/baseline.json`.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from pathlib import Path

if not __package__:  # run as `python train/baseline.py`: import from the repository root, as `-m train.baseline`
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import numpy as np
import torch

from genre_classifier import GENRES
from genre_classifier.core.baseline import WEIGHTS_PATH, BaselineModel, prepare
from genre_classifier.core.features import FEATURE_NAMES
from genre_classifier.core.model import BaselineClassifier

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "train" / "data" / "features_30_sec.csv"
HELDOUT_DIR = Path(os.environ.get("GTZAN_DIR") or ROOT / "GTZAN_DIR-is-not-set")  # a folder of GTZAN's clips
# The 14 real clips the project has: never trained on, so they stay an honest test.
HELDOUT = [f"{g}.00000" for g in GENRES] + ["blues.00001", "blues.00002", "classical.00001", "classical.00002"]
RESULTS = ROOT / "train" / "results" / "baseline.json"

HIDDEN, DROPOUT, WEIGHT_DECAY, EPOCHS, LR, BATCH = 128, 0.5, 1e-2, 200, 3e-3, 64


def load_table(path: Path = TABLE) -> tuple[np.ndarray, np.ndarray]:
    """Features (n, 57) and genre indices (n,) of every row except the held-out clips."""
    with open(path, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["filename"].rsplit(".", 1)[0] not in HELDOUT]
    x = np.array([[float(r[name]) for name in FEATURE_NAMES] for r in rows])
    return x, np.array([GENRES.index(r["label"]) for r in rows])


def stratified_folds(y: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Fold index per row, each genre spread evenly over the k folds."""
    rng = np.random.default_rng(seed)
    folds = np.empty(len(y), dtype=int)
    for c in np.unique(y):
        rows = rng.permutation(np.flatnonzero(y == c))
        folds[rows] = np.arange(len(rows)) % k
    return folds


def fit(x: np.ndarray, y: np.ndarray, cv_accuracy: float = float("nan"), seed: int = 0) -> BaselineModel:
    """Standardise, then train the MLP with AdamW, dropout and label smoothing."""
    torch.manual_seed(seed)
    feats = prepare(x)
    mean, scale = feats.mean(axis=0), feats.std(axis=0)
    xt = torch.tensor((feats - mean) / scale, dtype=torch.float32)
    yt = torch.tensor(y)
    hidden, out = torch.nn.Linear(len(FEATURE_NAMES), HIDDEN), torch.nn.Linear(HIDDEN, len(GENRES))
    net = torch.nn.Sequential(torch.nn.Dropout(DROPOUT / 2), hidden, torch.nn.ReLU(), torch.nn.Dropout(DROPOUT), out)
    opt = torch.optim.AdamW(net.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    for _ in range(EPOCHS):
        for batch in torch.randperm(len(yt)).split(BATCH):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(xt[batch]), yt[batch], label_smoothing=0.1).backward()
            opt.step()
    weights = {k: v.detach().double().numpy() for k, v in net.state_dict().items()}
    return BaselineModel(
        mean=mean,
        scale=scale,
        w1=weights["1.weight"].T,
        b1=weights["1.bias"],
        w2=weights["4.weight"].T,
        b2=weights["4.bias"],
        labels=list(GENRES),
        cv_accuracy=cv_accuracy,
    )


def cross_validate(x: np.ndarray, y: np.ndarray, k: int = 10, seed: int = 0) -> list[float]:
    folds = stratified_folds(y, k, seed)
    scores = []
    for fold in range(k):
        model = fit(x[folds != fold], y[folds != fold], seed=seed)
        scores.append(float((model.predict_proba(x[folds == fold]).argmax(axis=1) == y[folds == fold]).mean()))
    return scores


def predict_heldout(model: BaselineModel, clip_dir: Path) -> dict[str, str]:
    """Top genre per held-out clip, through the app's own decoding, windowing and features."""
    classifier = BaselineClassifier(model)
    return {name: classifier.classify(classifier.decode(clip_dir / f"{name}.wav").samples).top for name in HELDOUT}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--heldout-dir", type=Path, default=HELDOUT_DIR)
    args = parser.parse_args()
    torch.set_num_threads(1)  # same float results whatever the core count

    x, y = load_table()
    scores = cross_validate(x, y, seed=args.seed)
    cv = float(np.mean(scores))
    print(f"{len(y)} training rows (14 held-out clips excluded)")
    print(f"10-fold stratified CV accuracy: {cv:.4f} (folds: {' '.join(f'{s:.2f}' for s in scores)})")

    model = fit(x, y, cv_accuracy=cv, seed=args.seed)
    model.save(WEIGHTS_PATH)
    print(f"wrote {WEIGHTS_PATH.relative_to(ROOT)} ({WEIGHTS_PATH.stat().st_size / 1024:.0f} KiB)")

    results = {"cv_accuracy": cv, "cv_folds": scores, "train_rows": len(y), "seed": args.seed}
    if args.heldout_dir.is_dir():
        predictions = predict_heldout(model, args.heldout_dir)
        correct = sum(name.split(".")[0] == genre for name, genre in predictions.items())
        for name, genre in predictions.items():
            print(f"  {name:16s} -> {genre:10s} {'ok' if name.split('.')[0] == genre else 'WRONG'}")
        print(f"held-out clips: {correct}/{len(predictions)} correct")
        results |= {"heldout_predictions": predictions, "heldout_correct": correct}
    else:
        print(f"no held-out clips at {args.heldout_dir}; skipped that test")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
