"""Visitors' corrections, kept as a dataset the next fine-tune learns from (issue 43; docs/feedback.md).

Each correction is a folder of its own, written once and never changed (a storage bucket mounted on a Space keeps
the last writer's copy of a file, so nothing is appended to a shared file):

    FEEDBACK_DIR/README.md                            the dataset card
    FEEDBACK_DIR/clips/<receipt>/<receipt>.flac       mono, at most 30 s: the audio the server classified
    FEEDBACK_DIR/clips/<receipt>/metadata.jsonl       one line: label, the model's answer, consent, hash...
    FEEDBACK_DIR/withdrawn/<receipt>                  an empty file: this receipt was withdrawn

`datasets.load_dataset("audiofolder", data_dir=FEEDBACK_DIR)` reads it as it is: it gathers every metadata.jsonl
below the folder, each naming its clip relative to itself. Receipts are hex, so no folder name reads as a split
("train", "test") to it. The bounds of a public Space are kept here, beside the writes they guard.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import shutil
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import soundfile as sf

from .. import GENRES

NOT_MUSIC = "not music"
OTHER_MUSIC = "other music"  # "music, but none of these": kept, but taught to neither model
LABELS = [*GENRES, NOT_MUSIC, OTHER_MUSIC]
CONSENT_VERSION = "1"
CONSENT = (
    "I agree that this clip (at most 30 s of it) and the label I chose are kept to train and evaluate this model. "
    "No name, account or address is stored. I only share sound I may share."
)
MAX_SECONDS = 30.0
MIN_SECONDS = 3.0
SILENCE_RMS = 1e-3  # about -60 dBFS: a quiet room, not music played near a microphone
PER_VISITOR_HOUR = 5  # corrections one visitor may share in an hour
WITHDRAWALS_HOUR = 20  # receipt ids one visitor may try in an hour: guessing another's receipt takes ~2**48 tries
PER_DAY = 300  # corrections all visitors together may share in 24 h
MAX_BYTES = 1_000_000_000  # the folder's size cap (a 30 s FLAC at 16 kHz is about 0.5-1 MB)
RECEIPT = re.compile(r"[0-9a-f]{12}")


class FeedbackRefused(ValueError):
    """A correction or withdrawal that is not taken, with the sentence the visitor reads."""


@dataclass(frozen=True)
class Answered:
    """What the server just classified for one visitor: the sound (its first 30 s at most) and the model's answer."""

    samples: np.ndarray  # mono float32
    sampling_rate: int
    answer: str  # the verdict in words: "jazz", "unsure: blues or rock", "not music"
    genre: str  # the top genre
    confidence: float  # the top genre's probability
    model_id: str


def audio_hash(samples: np.ndarray) -> str:
    """SHA-256 of the clip as 16-bit PCM (what the FLAC holds), so the same sound is found again whatever decoded it."""
    return hashlib.sha256(pcm16(samples).tobytes()).hexdigest()


def pcm16(samples: np.ndarray) -> np.ndarray:
    return (np.clip(samples, -1, 1) * 32767).round().astype(np.int16)


def dataset_card() -> str:
    genres = ", ".join(GENRES)
    return f"""---
pretty_name: Visitors' corrections of the music genre classifier
task_categories: [audio-classification]
tags: [music, genre, gtzan, feedback]
---

# Visitors' corrections of the music genre classifier

Clips that visitors of the genre classifier app classified, then corrected: the label is what the visitor says the
sound is, beside what the model answered. Each row was shared with this consent (version {CONSENT_VERSION}), ticked by
the visitor for that clip:

> {CONSENT}

Nothing else is stored: no name, account, address or browser detail. A visitor may withdraw a clip with the receipt
id they were given; the clip and its row are deleted, and the receipt is listed in `withdrawn/` so that no copy of
it is used again.

## Layout

`clips/<receipt>/<receipt>.flac` (mono, at most {MAX_SECONDS:g} s, at the model's sampling rate) and
`clips/<receipt>/metadata.jsonl` (one row). `datasets.load_dataset("audiofolder", data_dir=THIS_FOLDER)` loads it.

## Labels

- one of the ten GTZAN genres ({genres}): the visitor's genre for this music;
- `{NOT_MUSIC}`: the sound is not music (speech, noise, animals...): taught to the music gate, not the genre model;
- `{OTHER_MUSIC}`: music, but of none of the ten genres: kept, taught to neither model.

## Fields

`label`; `model_answer` (the verdict in words), `model_genre` and `model_confidence` (its top genre and probability);
`model_id`; `time` (UTC) and `unix_time`; `consent_version`; `receipt`; `audio_sha256` (of the 16-bit samples);
`seconds`; `sampling_rate`.
"""


class Feedback:
    """The corrections folder and its bounds. Thread-safe: Gradio runs handlers in several threads."""

    def __init__(
        self,
        folder: str | Path,
        per_visitor_hour: int = PER_VISITOR_HOUR,
        per_day: int = PER_DAY,
        max_bytes: int = MAX_BYTES,
    ) -> None:
        self.folder = Path(folder)
        self.clips, self.withdrawn = self.folder / "clips", self.folder / "withdrawn"
        self.per_visitor_hour, self.per_day, self.max_bytes = per_visitor_hour, per_day, max_bytes
        self.lock = threading.Lock()
        self.shared: dict[str, deque[float]] = defaultdict(deque)  # visitor -> times of their corrections
        self.tried: dict[str, deque[float]] = defaultdict(deque)  # visitor -> times of their withdrawals
        self.clips.mkdir(parents=True, exist_ok=True)
        if not (self.folder / "README.md").exists():
            (self.folder / "README.md").write_text(dataset_card())
        # What survives a restart is read back: the day's count, the hashes (the same audio once), the bytes held.
        self.recent: deque[float] = deque(
            sorted(r["unix_time"] for r in self.rows() if time.time() - r["unix_time"] < 86400)
        )
        self.hashes = {r["audio_sha256"]: r["receipt"] for r in self.rows()}
        self.bytes = sum(p.stat().st_size for p in self.clips.rglob("*") if p.is_file())

    def rows(self) -> list[dict]:
        """Every stored correction's metadata."""
        rows = []
        for path in self.clips.glob("*/metadata.jsonl"):
            try:
                rows.append(json.loads(path.read_text()))
            except (OSError, ValueError):  # withdrawn meanwhile, or half-copied: not a row
                continue
        return rows

    def share(self, answered: Answered, label: str, consent: bool, visitor: str) -> str:
        """Store one correction; returns its receipt id, or raises FeedbackRefused saying why not."""
        if not consent:
            raise FeedbackRefused("Nothing was stored: tick the box to agree to share this clip.")
        if label not in LABELS:
            raise FeedbackRefused("Choose what the sound is: one of the ten genres, not music, or none of these.")
        samples = np.asarray(answered.samples, np.float32)[: int(MAX_SECONDS * answered.sampling_rate)]
        if len(samples) < MIN_SECONDS * answered.sampling_rate:
            raise FeedbackRefused(f"This clip is shorter than {MIN_SECONDS:g} s: too short to learn from.")
        if float(np.sqrt(np.mean(np.square(samples)))) < SILENCE_RMS:
            raise FeedbackRefused("This clip is silent: there is nothing to learn from it.")
        digest = audio_hash(samples)
        now = time.time()
        with self.lock:
            self.shared = _within_the_hour(self.shared, now)  # an address is kept for an hour at most
            mine = self.shared[visitor]
            _since(self.recent, now - 86400)
            if digest in self.hashes and (self.clips / self.hashes[digest]).is_dir():  # the owner may have deleted it
                raise FeedbackRefused("This clip has been shared already: thank you.")
            if len(mine) >= self.per_visitor_hour:
                raise FeedbackRefused(
                    f"You have shared {self.per_visitor_hour} corrections this hour, the most one "
                    "visitor may: thank you; try again later."
                )
            if len(self.recent) >= self.per_day:
                raise FeedbackRefused("Today's corrections are all in: thank you; try again tomorrow.")
            if self.bytes >= self.max_bytes:
                raise FeedbackRefused(
                    "The corrections folder is full: the owner has to make room before more are taken."
                )
            receipt = secrets.token_hex(6)
            mine.append(now), self.recent.append(now)
            self.hashes[digest] = receipt
        try:
            size = self._write(receipt, samples, answered, label, digest, now)
        except OSError as err:
            with self.lock:
                self.hashes.pop(digest, None)
            shutil.rmtree(self.clips / receipt, ignore_errors=True)
            raise FeedbackRefused("The correction could not be stored (the server's disk): nothing was kept.") from err
        with self.lock:
            self.bytes += size
        return receipt

    def _write(self, receipt: str, samples: np.ndarray, answered: Answered, label: str, digest: str, now: float) -> int:
        """The clip, then its row: a row only ever names a clip that is complete. Returns the bytes written."""
        folder = self.clips / receipt
        folder.mkdir()
        audio = folder / f"{receipt}.flac"
        sf.write(audio, pcm16(samples), answered.sampling_rate, format="FLAC", subtype="PCM_16")
        row = {
            "file_name": audio.name,
            "label": label,
            "model_answer": answered.answer,
            "model_genre": answered.genre,
            "model_confidence": round(float(answered.confidence), 4),
            "model_id": answered.model_id,
            "time": datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds"),
            "unix_time": now,
            "consent_version": CONSENT_VERSION,
            "receipt": receipt,
            "audio_sha256": digest,
            "seconds": round(len(samples) / answered.sampling_rate, 3),
            "sampling_rate": int(answered.sampling_rate),
        }
        metadata = folder / "metadata.jsonl"
        metadata.write_text(json.dumps(row) + "\n")
        return audio.stat().st_size + metadata.stat().st_size

    def withdraw(self, receipt: str, visitor: str | None = None) -> None:
        """Delete the correction with this receipt and record the withdrawal; `visitor` None: the owner (unbounded).
        Raises FeedbackRefused when there is none."""
        receipt = receipt.strip().lower()
        if visitor is not None:
            with self.lock:
                self.tried = _within_the_hour(self.tried, time.time())
                tries = self.tried[visitor]
                if len(tries) >= WITHDRAWALS_HOUR:
                    raise FeedbackRefused("Too many withdrawals tried this hour: try again later.")
                tries.append(time.time())
        if not RECEIPT.fullmatch(receipt):
            raise FeedbackRefused("A receipt id is 12 characters, 0-9 and a-f, as the page showed it.")
        folder = self.clips / receipt
        if not folder.is_dir():
            raise FeedbackRefused(
                f"No correction with receipt {receipt} is stored: withdrawn already, or never shared here."
            )
        self.withdrawn.mkdir(exist_ok=True)
        (self.withdrawn / receipt).touch()  # first: should the deletion fail half way, training still skips it
        size = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
        shutil.rmtree(folder)
        with self.lock:
            self.bytes -= size
            self.hashes = {h: r for h, r in self.hashes.items() if r != receipt}


def withdrawn(folder: str | Path) -> set[str]:
    """The receipts withdrawn from a corrections folder: never to be used, whatever copy of them remains."""
    marks = Path(folder) / "withdrawn"
    return {p.name for p in marks.iterdir()} if marks.is_dir() else set()


def _within_the_hour(times: dict[str, deque[float]], now: float) -> defaultdict[str, deque[float]]:
    """The visitors who did something in the last hour, and when."""
    return defaultdict(deque, {v: t for v, t in times.items() if _since(t, now - 3600)})


def _since(times: deque[float], start: float) -> deque[float]:
    while times and times[0] < start:
        times.popleft()
    return times
