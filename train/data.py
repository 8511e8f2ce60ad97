"""GTZAN as a `datasets.Dataset`: from the Hub (`marsyas/gtzan`) or a local folder `D/<genre>/*.wav`.

Audio stays undecoded in the dataset (`Audio(decode=False)`): clips are decoded by the app's own
`genre_classifier.audio.load_audio`, so training, evaluation and serving share one preprocessing path
(and no FFmpeg/torchcodec is needed).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from datasets import Audio, ClassLabel, Dataset, DatasetDict, Features, Value, load_dataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from genre_classifier import GENRES  # noqa: E402
from genre_classifier.audio import load_audio  # noqa: E402

HUB_DATASET = "marsyas/gtzan"
AUDIO_EXTENSIONS = {".wav", ".au", ".mp3", ".flac", ".ogg"}
MAX_CLIP_SECONDS = 60.0  # GTZAN clips are 30 s; this only bounds memory on other folders


def load_gtzan(data: str = HUB_DATASET, sampling_rate: int = 16000) -> Dataset:
    """All clips, with columns `audio` (undecoded, tagged with `sampling_rate`) and `genre` (ClassLabel)."""
    if Path(data).is_dir():
        files = sorted(p for p in Path(data).glob("*/*") if p.suffix.lower() in AUDIO_EXTENSIONS)
        files = [p for p in files if p.parent.name in GENRES]
        if not files:
            raise ValueError(f"no audio files in {data}/<genre>/ for the genres {', '.join(GENRES)}")
        # Paths go in as strings and are cast to Audio below: Audio's encoder needs torchcodec, casting does not.
        features = Features({"audio": Value("string"), "genre": ClassLabel(names=GENRES)})
        dataset = Dataset.from_dict(
            {"audio": [str(p) for p in files], "genre": [p.parent.name for p in files]}, features=features
        )
    else:
        dataset = load_dataset(data, "all", split="train")
        if dataset.features["genre"].names != GENRES:
            raise ValueError(f"{data}'s genres {dataset.features['genre'].names} are not GTZAN's ten")
    return dataset.cast_column("audio", Audio(sampling_rate=sampling_rate, decode=False))


def split(dataset: Dataset, test_size: float = 0.1, seed: int = 42) -> DatasetDict:
    """The audio course's split (90/10, seed 42, shuffled), so accuracies compare with its 83 %."""
    return dataset.train_test_split(test_size=test_size, seed=seed, shuffle=True)


def decode(audio: dict, sampling_rate: int) -> np.ndarray:
    """One undecoded `audio` cell -> mono float32 at `sampling_rate`, through the app's decoder."""
    source = audio["bytes"] if audio.get("bytes") else audio["path"]
    return load_audio(source, sampling_rate, MAX_CLIP_SECONDS).samples
