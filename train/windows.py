"""What the Trainer is fed: random crops of the training clips, every window of the validation clips, the
app's feature-extractor call, and the clip accuracy the app would give."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from transformers import EvalPrediction

from genre_classifier import GENRES
from genre_classifier.core.audio import window_starts
from genre_classifier.core.extractor import featurize
from genre_classifier.core.model import Prediction
from train.data import decode
from train.recorded import Augment


def set_ast_normalisation(feature_extractor, dataset, clips: int, window: int, seed: int) -> None:
    """Mean and std of AST's filterbank inputs over training crops, as the AST authors recommend."""
    rng = np.random.default_rng(seed)
    feature_extractor.do_normalize = False
    frames = []
    for i in rng.permutation(len(dataset))[:clips]:
        samples = decode(dataset[int(i)]["audio"], feature_extractor.sampling_rate)
        start = rng.integers(0, max(1, len(samples) - window + 1))
        fbank = feature_extractor(samples[start : start + window], sampling_rate=feature_extractor.sampling_rate)
        # frames of 25 ms every 10 ms (400 and 160 samples at 16 kHz) that hold audio, not padding
        n_frames = min(feature_extractor.max_length, (min(window, len(samples)) - 400) // 160 + 1)
        frames.append(np.asarray(fbank["input_values"][0])[:n_frames])  # padding frames left out
    values = np.concatenate(frames)
    feature_extractor.mean, feature_extractor.std = float(values.mean()), float(values.std())
    feature_extractor.do_normalize = True


def random_crops(window: int, sampling_rate: int, augment: Augment | None = None):
    """Training transform: decode each clip and keep a random window of it (a time shift), then `augment` it."""

    def transform(batch: dict) -> dict:
        crops = []
        for audio in batch["audio"]:
            samples = decode(audio, sampling_rate)
            start = int(torch.randint(0, max(1, len(samples) - window + 1), ()))  # torch RNG: seeded per worker
            crop = samples[start : start + window]
            if augment is not None:  # numpy's draws seeded from torch's, so a run's augmentation is reproducible
                crop = augment(crop, sampling_rate, np.random.default_rng(int(torch.randint(0, 2**31, ()))))
            crops.append(crop)
        return {"window": crops, "labels": batch["genre"]}

    return transform


def explode_windows(dataset, window: int, sampling_rate: int):
    """One row per evaluation window (the app's windowing), remembering its clip."""

    def explode(batch: dict, indices: list[int]) -> dict:
        out = {"audio": [], "genre": [], "clip": [], "start": []}
        for audio, genre, clip in zip(batch["audio"], batch["genre"], indices, strict=True):
            for start in window_starts(len(decode(audio, sampling_rate)), window):
                out["audio"].append(audio), out["genre"].append(genre), out["clip"].append(clip)
                out["start"].append(start)
        return out

    return dataset.map(explode, batched=True, with_indices=True, remove_columns=dataset.column_names)


def window_slices(window: int, sampling_rate: int):
    def transform(batch: dict) -> dict:
        crops = [decode(a, sampling_rate)[s : s + window] for a, s in zip(batch["audio"], batch["start"], strict=True)]
        return {"window": crops, "labels": batch["genre"]}

    return transform


@dataclass
class Collator:
    """Batches windows through the app's feature-extractor call."""

    feature_extractor: object

    def __call__(self, examples: list[dict]) -> dict:
        batch = featurize(self.feature_extractor, [e["window"] for e in examples], self.feature_extractor.sampling_rate)
        batch["labels"] = torch.tensor([e["labels"] for e in examples])
        return batch


def clip_metrics(clip_of_row: np.ndarray):
    """compute_metrics: window accuracy, and clip accuracy with the app's averaging of window probabilities."""

    def compute(prediction: EvalPrediction) -> dict:
        probs = torch.tensor(prediction.predictions).softmax(dim=-1).numpy()
        labels = np.asarray(prediction.label_ids)
        correct = []
        for clip in np.unique(clip_of_row):
            rows = clip_of_row == clip
            clip_probs = Prediction(GENRES, probs[rows], []).probs
            correct.append(clip_probs.argmax() == labels[rows][0])
        window_accuracy = float((probs.argmax(-1) == labels).mean())
        return {"accuracy": float(np.mean(correct)), "window_accuracy": window_accuracy, "clips": len(correct)}

    return compute
