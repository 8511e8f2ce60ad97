"""Every realistic way of holding GTZAN, as one `datasets.Dataset` of undecoded clips and genre labels.

`--data` is recognised in this order:

1. `marsyas/gtzan` (the default): the dataset repo's `data/genres.tar.gz`, fetched with `hf_hub_download`
   (cached, resumable, token-aware, works under `HF_HUB_OFFLINE=1` once cached), then read as 2. The
   repo's loading script is never run: `datasets` >= 4 no longer runs scripts.
2. A local archive (`.tar.gz`, `.tgz`, `.tar`, `.zip`): extracted once by `datasets`' own extractor into
   its cache (as the retired script did), then read as 3. Extracting beats streaming members because
   training reads clips in a new random order every epoch, which a gzip stream cannot seek to.
3. A local folder: audio files whose parent folder is one of the ten genres, anywhere below it
   (`genres/<genre>/`, Kaggle's `Data/genres_original/<genre>/`, `D/<genre>/`).
4. Anything else `datasets.load_dataset` reads without a script: a Hub id or a local parquet, arrow or
   audiofolder dataset, with an audio column and a genre label column.

Audio stays undecoded (`Audio(decode=False)`): clips are decoded by the app's own
`genre_classifier.audio.load_audio`, so training, evaluation and serving share one preprocessing path.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from datasets import (
    Audio,
    ClassLabel,
    Dataset,
    DatasetDict,
    DownloadManager,
    Features,
    Value,
    concatenate_datasets,
    load_dataset,
)

from genre_classifier import GENRES
from genre_classifier.audio import AUDIO_SUFFIXES, AudioError, load_audio

log = logging.getLogger(__name__)

HUB_DATASET = "marsyas/gtzan"
HUB_ARCHIVE = "data/genres.tar.gz"
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".zip")
MAX_CLIP_SECONDS = 60.0  # GTZAN clips are 30 s; this only bounds memory on other collections
MAX_BAD_FRACTION = 0.05  # more undecodable clips than this means the wrong data, not one bad file


class DataError(ValueError):
    """The data cannot be used, with a message saying what to pass instead."""


def load_gtzan(data: str = HUB_DATASET, audio_column: str = "audio", label_column: str | None = None) -> Dataset:
    """All clips of `data`: columns `audio` (undecoded `{"bytes", "path"}`) and `genre` (ClassLabel of GENRES)."""
    source = data
    if data == HUB_DATASET:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import LocalEntryNotFoundError

        local_copy = "or pass a local copy: --data genres.tar.gz, or a folder of <genre>/ folders"
        try:
            source = hf_hub_download(HUB_DATASET, HUB_ARCHIVE, repo_type="dataset")
        except LocalEntryNotFoundError:  # not in the cache yet, and offline or the Hub did not answer
            raise DataError(
                f"{HUB_DATASET}'s {HUB_ARCHIVE} is not in the Hub cache and the Hub cannot be reached (no network, "
                f"HF_HUB_OFFLINE=1, or the Hub did not answer). Download it once where there is network "
                f"(hf download {HUB_DATASET} {HUB_ARCHIVE} --repo-type dataset), {local_copy}."
            ) from None
        except Exception as err:  # HTTP or proxy errors, a connection lost mid-download, a full disk...
            first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise DataError(f"Could not download {HUB_DATASET}'s {HUB_ARCHIVE} ({first_line}); {local_copy}.") from None
        log.info("data: %s's %s, from the Hub cache (%s)", HUB_DATASET, HUB_ARCHIVE, source)
    path = Path(source).expanduser()
    if path.is_file() and path.name.lower().endswith(ARCHIVE_SUFFIXES):
        path = Path(DownloadManager().extract(str(path)))
        log.info("data: archive %s, extracted once to %s", source, path)
    if path.is_dir() and (files := genre_files(path)):
        log.info("data: %d audio files in genre folders under %s", len(files), path)
        return _from_files(files)
    dataset = _from_datasets(str(path) if path.exists() else data, audio_column, label_column)
    log.info("data: %s read by datasets, %d rows", data, len(dataset))
    return dataset


def genre_files(root: Path) -> list[Path]:
    """Audio files whose parent folder is named after a genre, sorted by file name (deterministic splits)."""
    files = [
        p
        for p in root.rglob("*")
        if p.suffix.lower() in AUDIO_SUFFIXES
        and p.parent.name.lower() in GENRES
        and not p.name.startswith(".")  # macOS "._name" resource forks in zips
        and "__MACOSX" not in p.parts
        and p.is_file()
    ]
    return sorted(files, key=lambda p: (p.name, str(p)))


def _from_files(files: list[Path]) -> Dataset:
    # Paths go in as strings and are cast to Audio: Audio's encoder needs torchcodec, casting does not.
    features = Features({"audio": Value("string"), "genre": ClassLabel(names=GENRES)})
    rows = {"audio": [str(p) for p in files], "genre": [p.parent.name.lower() for p in files]}
    return Dataset.from_dict(rows, features=features).cast_column("audio", Audio(decode=False))


def _from_datasets(data: str, audio_column: str, label_column: str | None) -> Dataset:
    try:
        loaded = load_dataset(data)
    except RuntimeError as err:
        if "Dataset scripts are no longer supported" not in str(err):
            raise
        raise DataError(
            f"{data} holds only a loading script, which datasets >= 4 no longer runs. Pass its audio instead: "
            "an archive (--data genres.tar.gz), a folder of <genre>/ folders, or a parquet mirror of it."
        ) from None
    except (FileNotFoundError, ConnectionError, ValueError) as err:  # DatasetNotFoundError is a FileNotFoundError
        raise DataError(
            f"Could not load {data}: it is not {HUB_DATASET}, an archive, a folder with genre folders below it, "
            f"or a dataset `datasets` can read ({err})."
        ) from None
    dataset = concatenate_datasets(list(loaded.values())) if isinstance(loaded, DatasetDict) else loaded
    if label_column is None:
        label_column = "genre" if "genre" in dataset.column_names else "label"
    for column in (audio_column, label_column):
        if column not in dataset.column_names:
            raise DataError(
                f"{data} has no column {column!r} (its columns: {', '.join(dataset.column_names)}); "
                "choose them with --audio-column and --label-column."
            )
    labels = dataset[label_column]
    feature = dataset.features[label_column]
    if isinstance(feature, ClassLabel):
        labels = feature.int2str(labels)
    labels = [str(label).strip().lower() for label in labels]
    unknown = sorted(set(labels) - set(GENRES))
    if unknown:
        raise DataError(
            f"The labels of {data}'s column {label_column!r} must be the ten GTZAN genres "
            f"({', '.join(GENRES)}); found {', '.join(unknown[:5])}."
        )
    dataset = dataset.select_columns([audio_column]).cast_column(audio_column, Audio(decode=False))
    if audio_column != "audio":
        dataset = dataset.rename_column(audio_column, "audio")
    return dataset.add_column("genre", [GENRES.index(label) for label in labels], feature=ClassLabel(names=GENRES))


def clip_name(audio: dict, index: int) -> str:
    return Path(audio["path"]).name if audio.get("path") else f"row {index}"


def decode(audio: dict, sampling_rate: int) -> np.ndarray:
    """One undecoded `audio` cell -> mono float32 at `sampling_rate`, through the app's decoder."""
    source = audio["bytes"] if audio.get("bytes") else audio["path"]
    return load_audio(source, sampling_rate, MAX_CLIP_SECONDS).samples


def drop_undecodable(dataset: Dataset, sampling_rate: int) -> Dataset:
    """Leave out clips the app's decoder refuses, one warning line each; fail if more than 5 % are bad."""
    bad = []
    for i, example in enumerate(dataset):
        try:
            decode(example["audio"], sampling_rate)
        except AudioError as err:
            log.warning("skipped %s: %s", clip_name(example["audio"], i), err)
            bad.append(i)
    if len(bad) > MAX_BAD_FRACTION * len(dataset):
        raise DataError(
            f"{len(bad)} of {len(dataset)} clips could not be decoded (more than {MAX_BAD_FRACTION:.0%}): "
            "check the data, or install FFmpeg if they are in a format libsndfile does not read."
        )
    return dataset.select(sorted(set(range(len(dataset))) - set(bad))) if bad else dataset


def split(dataset: Dataset, test_size: float = 0.1, seed: int = 42) -> DatasetDict:
    """The audio course's split (90/10, seed 42, shuffled), so accuracies compare with its 83 %."""
    if len(dataset) < 2:
        raise DataError(f"{len(dataset)} usable clip(s): a train/test split needs at least two.")
    splits = dataset.train_test_split(test_size=test_size, seed=seed, shuffle=True)
    for name, part in splits.items():
        if len(part) == 0:
            raise DataError(f"The {name} split is empty; change --test-size.")
    return splits
