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
`genre_classifier.core.audio.load_audio`, so training, evaluation and serving share one preprocessing path.

`make_split` then divides the usable clips: `course` (the audio course's random 90/10 split, seed 42) or
`fault-filtered` (Kereliuk, Sturm and Larsen's artist-filtered train/validation/test lists in `train/splits/`,
matched by GTZAN's file names).
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass, field
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
from genre_classifier.core.audio import AUDIO_SUFFIXES, AudioError, load_audio
from genre_classifier.core.loading import hub_reachable

log = logging.getLogger(__name__)

HUB_DATASET = "marsyas/gtzan"
HUB_ARCHIVE = "data/genres.tar.gz"
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".zip")
MAX_CLIP_SECONDS = 60.0  # GTZAN clips are 30 s; this only bounds memory on other collections
MAX_BAD_FRACTION = 0.05  # more undecodable clips than this means the wrong data, not one bad file

COURSE, FAULT_FILTERED = "course", "fault-filtered"
SPLITS = (COURSE, FAULT_FILTERED)
SPLITS_DIR = Path(__file__).resolve().parent / "splits"
LISTS = {"train": "train_filtered.txt", "validation": "valid_filtered.txt", "test": "test_filtered.txt"}
GTZAN_NAME = re.compile(rf"(?:{'|'.join(GENRES)})\.\d{{5}}")  # a file stem of the original corpus: blues.00012
NAMED = 12  # names a run plan shows per kind of left-out clip; the run's split.json holds them all


DATA_HELP = (
    f"{HUB_DATASET} (its archive, via the Hub cache), an archive (.tar.gz/.tgz/.tar/.zip), a folder with <genre>/ "
    "folders anywhere below it, or a script-free datasets id or folder (parquet, arrow)"
)


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
            offline = not hub_reachable()  # then the cache only, at once, instead of a minute of retries
            source = hf_hub_download(HUB_DATASET, HUB_ARCHIVE, repo_type="dataset", local_files_only=offline)
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


def undecodable_rows(dataset: Dataset, sampling_rate: int) -> list[int]:
    """Rows the app's decoder refuses, one warning line each; fail if more than 5 % are bad."""
    bad, names = [], []
    for i, example in enumerate(dataset):
        try:
            decode(example["audio"], sampling_rate)
        except AudioError as err:
            names.append(clip_name(example["audio"], i))
            log.warning("skipped %s: %s", names[-1], err)
            bad.append(i)
    if len(bad) > MAX_BAD_FRACTION * len(dataset):
        # libsndfile reads WAV itself, so undecodable .wav files are damaged; other formats may need FFmpeg
        fix = "install FFmpeg if they are in a format libsndfile does not read"
        if all(n.lower().endswith(".wav") for n in names):
            fix = "these WAV files are damaged"
        raise DataError(
            f"{len(bad)} of {len(dataset)} clips could not be decoded (more than {MAX_BAD_FRACTION:.0%}): "
            f"check the data ({fix})."
        )
    return bad


def split(dataset: Dataset, test_size: float = 0.1, seed: int = 42) -> DatasetDict:
    """The audio course's split (90/10, seed 42, shuffled), so accuracies compare with its 83 %."""
    if len(dataset) < 2:
        raise DataError(f"{len(dataset)} usable clip(s): a train/test split needs at least two.")
    splits = dataset.train_test_split(test_size=test_size, seed=seed, shuffle=True)
    for name, part in splits.items():
        if len(part) == 0:
            raise DataError(f"The {name} split is empty; change --test-size.")
    return splits


def fault_filtered_lists() -> dict[str, list[str]]:
    """Part (train, validation, test) -> file names (`blues.00012.wav`) of the lists in train/splits/."""
    return {part: [Path(line).name for line in (SPLITS_DIR / file).read_text().split()] for part, file in LISTS.items()}


def _stem(name: str) -> str:
    return Path(name).stem.lower()


def named(names: list[str], limit: int = NAMED) -> str:
    """A few names for a plan line: `a.wav, b.wav, ... and 12 more`."""
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


@dataclass
class Split:
    """The parts a `--split` makes of the usable clips, and the clips it left out (for the run plan and records)."""

    name: str
    description: str
    parts: DatasetDict  # train and test; the fault-filtered split also validation
    undecodable: list[str]  # in the data, refused by the app's decoder
    unlisted: list[str] = field(default_factory=list)  # in the data, on no fault-filtered list
    missing: dict[str, list[str]] = field(default_factory=dict)  # on a list, not in the data

    def clips(self, part: str) -> list[str]:
        return [clip_name(audio, i) for i, audio in enumerate(self.parts[part]["audio"])]

    def limit(self, train: int | None, evaluation: int | None) -> None:
        """The first N clips of the training part, and of each evaluation part (quick trials)."""
        for part, dataset in self.parts.items():
            n = train if part == "train" else evaluation
            if n is not None:
                self.parts[part] = dataset.select(range(min(n, len(dataset))))

    def counts(self) -> str:
        return " / ".join(f"{len(dataset)} {part}" for part, dataset in self.parts.items())

    def left_out(self, record: str) -> list[str]:
        """Plan lines counting and naming the clips left out; `record` is where all their names are written."""
        lines = [f"undecodable: {len(self.undecodable)} clip(s) left out" + _names(self.undecodable)]
        if self.name == FAULT_FILTERED:
            unlisted = f"unlisted:    {len(self.unlisted)} clip(s) in the data but on no list, left out"
            lines.append(unlisted + _names(self.unlisted))
            missing = [name for names in self.missing.values() for name in names]
            per_part = ", ".join(f"{len(names)} {part}" for part, names in self.missing.items())
            lines.append(f"missing:     {len(missing)} listed clip(s) not in the data ({per_part})" + _names(missing))
        if any(len(names) > NAMED for names in [self.undecodable, self.unlisted, *self.missing.values()]):
            lines.append(f"             (every name: {record})")
        return lines

    def record(self) -> dict:
        """The clip names of every part and every left-out clip, as the run used them."""
        return {
            "split": self.name,
            "description": self.description,
            "parts": {part: self.clips(part) for part in self.parts},
            "undecodable": self.undecodable,
            "unlisted": self.unlisted,
            "missing": self.missing,
        }


def _names(names: list[str]) -> str:
    return f": {named(names)}" if names else ""


def make_split(dataset: Dataset, name: str, sampling_rate: int, test_size: float = 0.1, seed: int = 42) -> Split:
    """Leave out undecodable clips, then split the rest: `course`, `fault-filtered`, or `all` (one part)."""
    if name == FAULT_FILTERED:
        names = [clip_name(example["audio"], i) for i, example in enumerate(dataset)]
        _check_gtzan_names(names)  # before decoding: a wrong data set is told at once
    bad = undecodable_rows(dataset, sampling_rate)
    undecodable = [clip_name(dataset[i]["audio"], i) for i in bad]
    usable = sorted(set(range(len(dataset))) - set(bad))
    if name == "all":
        return Split(name, "every usable clip", DatasetDict(all=dataset.select(usable)), undecodable)
    if name == COURSE:
        parts = split(dataset.select(usable), test_size, seed)
        description = f"the audio course's random split, train_test_split(test_size={test_size}, seed={seed})"
        return Split(name, description, parts, undecodable)
    if name != FAULT_FILTERED:
        raise DataError(f"Unknown split {name!r}: use {' or '.join(SPLITS)}.")

    lists = fault_filtered_lists()
    part_of = {_stem(clip): part for part, clips in lists.items() for clip in clips}
    rows: dict[str, list[int]] = {part: [] for part in lists}
    unlisted = []
    for i in usable:
        part = part_of.get(_stem(names[i]))
        if part is None:
            unlisted.append(names[i])
        else:
            rows[part].append(i)
    present = {_stem(n) for n in names}
    missing = {part: [clip for clip in clips if _stem(clip) not in present] for part, clips in lists.items()}
    for part, selected in rows.items():
        if not selected:
            raise DataError(
                f"No usable clip of the data is on the fault-filtered {part} list (train/splits/{LISTS[part]}): "
                "the split needs clips of all three lists."
            )
    description = "Kereliuk, Sturm & Larsen's artist-filtered lists in train/splits/"
    parts = DatasetDict({part: dataset.select(selected) for part, selected in rows.items()})
    return Split(name, description, parts, undecodable, unlisted, missing)


def _check_gtzan_names(names: list[str]) -> None:
    stems = [_stem(n) for n in names]
    if not any(GTZAN_NAME.fullmatch(s) for s in stems):
        raise DataError(
            f"--split fault-filtered finds its clips by GTZAN's file names (blues.00012.wav), and none of the "
            f"{len(names)} clips here has one (e.g. {names[0] if names else 'none'}): pass GTZAN as distributed "
            "(marsyas/gtzan, its genres.tar.gz, Kaggle's Data/genres_original), or use --split course."
        )
    twice = sorted(s for s, n in Counter(stems).items() if n > 1 and GTZAN_NAME.fullmatch(s))
    if twice:
        raise DataError(
            f"{len(twice)} GTZAN clip(s) are in the data more than once ({named(twice)}): "
            "pass a folder holding one copy of GTZAN."
        )
