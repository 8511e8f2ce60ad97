"""The embedded offline model: the 57 GTZAN table features, standardised, into a small MLP.

Its weights live in `baseline_model.npz` beside this file (written by `train/baseline.py`), and
inference is plain numpy so the app answers with no network and no checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.special import softmax

from .features import FEATURE_NAMES

WEIGHTS_PATH = Path(__file__).with_name("baseline_model.npz")
LOG_SCALED = np.array([name.endswith("_var") for name in FEATURE_NAMES])  # variances are heavy-tailed


def prepare(features: np.ndarray, log_scaled: np.ndarray = LOG_SCALED) -> np.ndarray:
    """Log-scale the variance columns (`log_scaled`) of raw table features (rows of `FEATURE_NAMES`, or of the music
    gate's subset of them)."""
    features = np.array(features, dtype=np.float64, ndmin=2)
    features[:, log_scaled] = np.log(np.maximum(features[:, log_scaled], 0) + 1e-12)
    return features


@dataclass(frozen=True)
class BaselineModel:
    """Standardiser + one-hidden-layer MLP, with the metadata the app shows."""

    mean: np.ndarray
    scale: np.ndarray
    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray
    labels: list[str]
    cv_accuracy: float

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """Genre probabilities (n, n_labels) for raw feature rows (n, 57)."""
        x = (prepare(features) - self.mean) / self.scale
        return softmax(np.maximum(x @ self.w1 + self.b1, 0) @ self.w2 + self.b2, axis=1)

    def save(self, path: Path = WEIGHTS_PATH) -> None:
        np.savez(
            path,
            mean=self.mean,
            scale=self.scale,
            w1=self.w1,
            b1=self.b1,
            w2=self.w2,
            b2=self.b2,
            labels=np.array(self.labels),
            feature_names=np.array(FEATURE_NAMES),
            cv_accuracy=self.cv_accuracy,
        )

    @classmethod
    def load(cls, path: Path = WEIGHTS_PATH) -> BaselineModel:
        with np.load(path) as data:
            if list(data["feature_names"]) != FEATURE_NAMES:
                raise ValueError(f"{path} was trained on other features than genre_classifier.core.features computes")
            arrays = {k: data[k].astype(np.float64) for k in ("mean", "scale", "w1", "b1", "w2", "b2")}
            return cls(
                **arrays, labels=[str(label) for label in data["labels"]], cv_accuracy=float(data["cv_accuracy"])
            )
