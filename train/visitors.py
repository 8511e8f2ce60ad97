"""Visitors' corrections (genre_classifier/core/feedback.py) as training data: `train.finetune --extra-data DIR`.

Only rows labelled with one of the ten genres teach the genre model; "not music" rows go to the music gate
(`train/music_gate.py --extra-data DIR`); "other music" rows to neither. A withdrawn receipt is never used, whatever
copy of its clip remains. A correction whose sound is one of GTZAN's test clips (a visitor uploaded it as it is) is
left out, so that the test clips never enter training through it. A share of the corrections is held out, to
report how the model does on what visitors really send (`visitors.accuracy`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from datasets import Audio, ClassLabel, Dataset, Features, Value, load_dataset

from genre_classifier import GENRES
from genre_classifier.core.audio import GATE_RATE, AudioError, load_audio
from genre_classifier.core.feedback import MAX_SECONDS, NOT_MUSIC, RECEIPT, audio_hash, withdrawn
from train.data import DataError, decode

log = logging.getLogger(__name__)

HELD_OUT = 0.2  # of the genre corrections: scored, never trained on


def corrections_folder(source: str) -> Path:
    """A local corrections folder, or a Hub dataset repo's snapshot (fetched with huggingface_hub; untested here, the
    Hub cannot be reached from where this was written)."""
    path = Path(source).expanduser()
    if path.is_dir():
        if not (path / "clips").is_dir():
            raise DataError(f"--extra-data {source}: no clips/ folder in it; pass a corrections folder (FEEDBACK_DIR).")
        return path
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(source, repo_type="dataset"))
    except Exception as err:  # offline, no such repo, no rights
        raise DataError(
            f"--extra-data {source}: not a folder, and not a dataset repo that could be downloaded "
            f"({type(err).__name__})."
        ) from None


def rows(folder: Path) -> list[dict]:
    """The corrections' metadata, each with the path of its clip; withdrawn receipts left out."""
    files = sorted(str(p) for p in folder.glob("clips/*/metadata.jsonl"))
    if not files:
        return []
    gone = withdrawn(folder)
    # A row names its own folder (`receipt`) and clip; a copy from elsewhere (the Hub) is not trusted with other paths.
    return [
        {**row, "path": str(folder / "clips" / row["receipt"] / Path(row["file_name"]).name)}
        for row in load_dataset("json", data_files=files, split="train")
        if RECEIPT.fullmatch(row["receipt"]) and row["receipt"] not in gone
    ]


@dataclass
class Corrections:
    """The genre corrections, split into a part to train on and a held-out part; what was left out and why."""

    train: Dataset
    held_out: Dataset
    not_music: int  # rows for the music gate, not the genre model
    other_music: int
    withdrawn: int
    gtzan_test: list[str] = field(default_factory=list)  # receipts whose sound is a GTZAN test clip

    def describe(self) -> str:
        text = (
            f"{len(self.train)} train / {len(self.held_out)} held out (genre corrections); "
            f"{self.not_music} not music (the gate's), {self.other_music} other music and {self.withdrawn} "
            f"withdrawn not used"
        )
        if self.gtzan_test:
            text += f"; {len(self.gtzan_test)} left out as copies of GTZAN test clips ({', '.join(self.gtzan_test)})"
        return text


def test_clip_hashes(test_part: Dataset, rates: set[int]) -> set[str]:
    """The hashes a correction of each GTZAN test clip would carry: decoded as the app decodes an upload, at the rate
    of the model that served it, its first 30 s."""
    hashes = set()
    for audio in test_part["audio"]:
        for rate in rates:
            samples = decode(audio, rate)
            hashes.add(audio_hash(samples[: int(MAX_SECONDS * rate)]))
    return hashes


def load_corrections(source: str, test_part: Dataset, seed: int = 42) -> Corrections:
    """The genre corrections of `source`, with none that is a GTZAN test clip, held out as HELD_OUT of them."""
    folder = corrections_folder(source)
    found = rows(folder)
    genre_rows = [r for r in found if r["label"] in GENRES]
    test_hashes = test_clip_hashes(test_part, {int(r["sampling_rate"]) for r in genre_rows})
    leaked = [r["receipt"] for r in genre_rows if r["audio_sha256"] in test_hashes]
    usable = [r for r in genre_rows if r["receipt"] not in leaked]
    features = Features({"audio": Value("string"), "genre": ClassLabel(names=GENRES)})
    data = Dataset.from_dict(
        {"audio": [r["path"] for r in usable], "genre": [r["label"] for r in usable]}, features=features
    ).cast_column("audio", Audio(decode=False))
    if len(data) >= 2:
        parts = data.train_test_split(test_size=max(1, round(HELD_OUT * len(data))), seed=seed, shuffle=True)
        train, held_out = parts["train"], parts["test"]
    else:  # too few to hold any out: nothing to score, nothing gained by training on one
        log.warning("--extra-data: %d genre correction(s), too few to hold some out: none used", len(data))
        train, held_out = data.select([]), data.select([])
    return Corrections(
        train,
        held_out,
        sum(r["label"] == NOT_MUSIC for r in found),
        sum(r["label"] not in GENRES and r["label"] != NOT_MUSIC for r in found),
        len(withdrawn(folder)),
        leaked,
    )


def not_music_sounds(source: str) -> list[np.ndarray]:
    """The "not music" corrections at the music gate's rate, for its training (`train/music_gate.py`)."""
    sounds = []
    for row in rows(corrections_folder(source)):
        if row["label"] == NOT_MUSIC:
            try:
                sounds.append(load_audio(row["path"], GATE_RATE, MAX_SECONDS).samples)
            except AudioError as err:
                log.warning("skipped correction %s: %s", row["receipt"], err)
    return sounds
