"""The figures behind the page's "clearly ahead" / "unsure" wording (`genre_classifier.core.answer`).

    python benchmarks/unsure.py

Two sources of probabilities from the embedded offline model, the only model here that has learned:
the out-of-fold predictions of `train/baseline.py`'s 10-fold cross-validation on the GTZAN feature table
(986 rows, the same folds and seed), and the app's own answers for the 28 real recordings in ../shared/data
(14 GTZAN clips, 14 CC recordings, speech and animals among them). For each margin between the top two genres
it reports how often the top genre is right above and below it, and how often the true genre is among the
close contenders the page names. Writes benchmarks/results/unsure.json.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import GTZAN, MUSIC  # noqa: E402
from genre_classifier import GENRES  # noqa: E402
from genre_classifier.core.answer import CLEAR_MARGIN, CONTENDER_GAP, verdict  # noqa: E402
from genre_classifier.core.model import BaselineClassifier  # noqa: E402
from train.baseline import fit, load_table, stratified_folds  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "unsure.json"
MARGINS = [0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6]
NOT_MUSIC = [
    "5703-47212-0000",
    "3436-172162-0000",
    "198-209-0000",
    "glacier-bay-humpback",
    "pibble",
    "456440__inspectorj__bird-whistling-robin-single-13",
]  # speech, a whale, a dog, a bird


def out_of_fold(k: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Every table row's probabilities from the model that did not train on it (train/baseline.py's folds)."""
    x, y = load_table()
    folds = stratified_folds(y, k, seed)
    probs = np.empty((len(y), len(GENRES)))
    for fold in range(k):
        model = fit(x[folds != fold], y[folds != fold], seed=seed)
        probs[folds == fold] = model.predict_proba(x[folds == fold])
    return probs, y


def by_margin(probs: np.ndarray, truth: np.ndarray) -> list[dict]:
    """Accuracy of the top genre for answers whose lead over the second is in each band, at least each margin,
    and below it."""
    ordered = np.sort(probs, axis=1)
    margin = ordered[:, -1] - ordered[:, -2]
    right = probs.argmax(axis=1) == truth
    rows = []
    for m, upper in zip(MARGINS, [*MARGINS[1:], 1.01], strict=True):
        above, band = margin >= m, (margin >= m) & (margin < upper)
        rows.append(
            {
                "margin": m,
                "band": f"{m:.2f}-{min(upper, 1):.2f}",
                "band_answers": int(band.sum()),
                "band_accuracy": round(float(right[band].mean()), 3),
                "share_at_least": round(float(above.mean()), 3),
                "accuracy_at_least": round(float(right[above].mean()), 3),
                "accuracy_below": round(float(right[~above].mean()), 3) if (~above).any() else None,
            }
        )
    return rows


def summary(probs: np.ndarray, truth: np.ndarray) -> dict:
    """How the chosen thresholds split these answers, and what each side is worth."""
    verdicts = [verdict(GENRES, p) for p in probs]
    clear = np.array([v.clear for v in verdicts])
    right = probs.argmax(axis=1) == truth
    named = np.array([GENRES[t] in v.contenders for v, t in zip(verdicts, truth, strict=True)])
    top_two = (np.argsort(-probs, axis=1)[:, :2] == truth[:, None]).any(axis=1)
    return {
        "answers": len(truth),
        "accuracy": round(float(right.mean()), 3),
        "clear_share": round(float(clear.mean()), 3),
        "clear_accuracy": round(float(right[clear].mean()), 3),
        "unsure_accuracy_of_top": round(float(right[~clear].mean()), 3),
        "unsure_truth_among_contenders": round(float(named[~clear].mean()), 3),
        "unsure_truth_among_top_two": round(float(top_two[~clear].mean()), 3),  # what naming only two would cover
        "unsure_mean_contenders": round(float(np.mean([len(v.contenders) for v in np.array(verdicts)[~clear]])), 2),
        "wrong_answers_said_unsure": round(float((~clear[~right]).mean()), 3),
    }


def recordings() -> list[dict]:
    """The app's answer for each of the 28 real recordings, with its verdict."""
    classifier = BaselineClassifier()
    paths = sorted(p for p in GTZAN.glob("*.wav")) + sorted(p for p in MUSIC.glob("*.ogg") if ".hq." not in p.name)
    rows = []
    for path in paths:
        prediction = classifier.classify(classifier.decode(path).samples)
        ordered = np.sort(prediction.probs)
        v = verdict(prediction.labels, prediction.probs)
        rows.append(
            {
                "file": path.name,
                "truth": path.name.split(".")[0] if path.parent == GTZAN else None,
                "top": prediction.top,
                "p_top": round(float(ordered[-1]), 3),
                "margin": round(float(ordered[-1] - ordered[-2]), 3),
                "clear": v.clear,
                "wording": v.text,
            }
        )
        print(f"  {path.name[:48]:48s} {rows[-1]['p_top']:.2f} {rows[-1]['margin']:+.2f}  {v.text}")
    return rows


def main() -> None:
    torch.set_num_threads(1)  # train/baseline.py's setting: the same floats, so the same folds' models
    probs, truth = out_of_fold()
    cross_validated = {"by_margin": by_margin(probs, truth), "thresholds": summary(probs, truth)}
    for row in cross_validated["by_margin"]:
        print(row)
    print(cross_validated["thresholds"])
    clips = recordings()
    labelled = [r for r in clips if r["truth"]]
    results = {
        "model": "embedded offline model (genre_classifier/core/baseline_model.npz)",
        "clear_margin": CLEAR_MARGIN,
        "contender_gap": CONTENDER_GAP,
        "cross_validated": cross_validated,
        "gtzan_clips": {
            "clear": sum(r["clear"] for r in labelled),
            "clear_right": sum(r["clear"] and r["top"] == r["truth"] for r in labelled),
            "unsure": sum(not r["clear"] for r in labelled),
            "unsure_right": sum(not r["clear"] and r["top"] == r["truth"] for r in labelled),
            "unsure_truth_named": sum(not r["clear"] and r["truth"] in r["wording"] for r in labelled),
        },
        "recordings": clips,
    }
    others = [r for r in clips if not r["truth"]]
    results["other_recordings"] = {
        "music_clear": sum(r["clear"] for r in others if r["file"].rsplit(".", 1)[0] not in NOT_MUSIC),
        "music": sum(r["file"].rsplit(".", 1)[0] not in NOT_MUSIC for r in others),
        "not_music_unsure": sum(not r["clear"] for r in others if r["file"].rsplit(".", 1)[0] in NOT_MUSIC),
        "not_music": len(NOT_MUSIC),
    }
    print(results["gtzan_clips"], results["other_recordings"])
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
