"""Real people speaking, from Debian's packages, in clips of 10-30 s: the music gate is measured on them.

    python -m train.real_speech        (lists the clips; needs apt-get, dpkg-deb and FFmpeg, as Debian has them)

- Asterisk's telephone prompts (`asterisk-core-sounds-*`), read by voice artists: US English and Mexican Spanish
  (Allison Smith), Canadian French (June Wallack), Italian (Carlo Flora), Russian (Maxim Topal); CC BY-SA 3.0 (Russian
  CC BY 3.0). Each prompt comes twice: telephone band (8 kHz WAV) and wideband (16 kHz G.722).
- KLettres' letters and syllables read aloud (`klettres-data`, GPL-2+), one after another, in 20 languages.

Prompts follow each other with a pause of 0.25-0.8 s, as a phone menu plays them; a prompt longer than 30 s makes
clips of its own. What is fitted and what is measured never share a recording: a prompt is held out ("held") by its
name, in every language and band at once (a third of them), and KLettres is held out by language (Czech, Danish,
Dutch, French, Italian). The packages are downloaded once into `REAL_SPEECH_DIR` (default
`~/.cache/genre-classifier/real-speech`), about 250 MB.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

if not __package__:  # run as `python train/real_speech.py`
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import numpy as np

from genre_classifier.core.audio import AudioError, load_audio
from genre_classifier.core.ffmpeg import TIMEOUT_S

RATE = 22050
ASTERISK = {
    "en_US_f_Allison": "en",
    "es_MX_f_Allison": "es",
    "fr_CA_f_June": "fr",
    "it_IT_m_Carlo": "it",
    "ru_RU_f_IvrvoiceRU": "ru",
}
PACKAGES = [f"asterisk-core-sounds-{lang}-{kind}" for lang in ASTERISK.values() for kind in ("wav", "g722")]
PACKAGES.append("klettres-data")
HELD_LANGUAGES = {"cs", "da", "nl", "fr", "it"}  # KLettres' languages kept for measuring
PROMPTS = {"fit": 150, "held": 60}  # prompts of each language per split (in a fixed shuffled order)
LETTERS = 120  # KLettres recordings per language


@dataclass(frozen=True)
class Speech:
    name: str  # source-language-band-number
    source: str  # "asterisk" or "klettres"
    language: str
    band: str  # "phone 8 kHz", "wideband 16 kHz", "wideband"
    samples: np.ndarray  # mono at RATE


def cache() -> Path:
    return Path(os.environ.get("REAL_SPEECH_DIR") or Path.home() / ".cache" / "genre-classifier" / "real-speech")


def fetch() -> Path:
    """Download and unpack the packages once (apt-get download needs no root); the folder they unpack into."""
    root, debs = cache() / "root", cache() / "debs"
    if (root / "done").exists():
        return root
    debs.mkdir(parents=True, exist_ok=True)
    subprocess.run(["apt-get", "download", *PACKAGES], cwd=debs, check=True, stdout=subprocess.DEVNULL)
    for deb in sorted(debs.glob("*.deb")):
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    (root / "done").touch()
    return root


def _decode(path: Path) -> np.ndarray:
    """A recording at RATE; G.722 files are raw, so FFmpeg is told their format."""
    if path.suffix != ".g722":
        try:
            return load_audio(str(path), RATE, 600).samples
        except AudioError:  # a prompt of a beep, or too short to classify on its own
            return np.zeros(0, np.float32)
    cmd = ["ffmpeg", "-v", "error", "-f", "g722", "-i", str(path), "-f", "f32le", "-ac", "1", "-ar", str(RATE), "-"]
    return np.frombuffer(subprocess.run(cmd, capture_output=True, check=True, timeout=TIMEOUT_S).stdout, np.float32)


def _held(name: str) -> bool:
    return int(hashlib.sha1(name.encode()).hexdigest(), 16) % 3 == 0


def _clips(recordings: list[np.ndarray], rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Recordings one after another with short pauses, in clips of 12-28 s; a long one alone, in 30 s clips."""
    parts, seconds = [], 0.0
    for y in recordings:
        if len(y) > 30 * RATE:
            yield from (y[i : i + 30 * RATE] for i in range(0, len(y) - 10 * RATE, 30 * RATE))
            continue
        parts += [y, np.zeros(int(rng.uniform(0.25, 0.8) * RATE), np.float32)]
        seconds += len(parts[-1]) / RATE + len(y) / RATE
        if seconds >= rng.uniform(12, 28):
            yield np.concatenate(parts)[: 30 * RATE]
            parts, seconds = [], 0.0
    if seconds >= 10:
        yield np.concatenate(parts)[: 30 * RATE]


def corpus(split: str) -> Iterator[Speech]:
    """The clips of one split ("fit" or "held"), the same on every run."""
    root, rng = fetch() / "usr" / "share", np.random.default_rng(0)
    for folder, language in ASTERISK.items():
        prompts = sorted((root / "asterisk" / "sounds" / folder).glob("*.wav"))
        rng.shuffle(prompts)
        chosen = [p for p in prompts if _held(p.stem) == (split == "held")][: PROMPTS[split]]
        for band, suffix in (("phone 8 kHz", ".wav"), ("wideband 16 kHz", ".g722")):
            for n, y in enumerate(_clips([_decode(p.with_suffix(suffix)) for p in chosen], rng)):
                yield Speech(f"asterisk-{language}-{band.split()[0]}-{n}", "asterisk", language, band, y)
    for folder in sorted((root / "klettres").iterdir()):
        recordings = sorted(folder.glob("*/*.ogg"))
        if not recordings or (folder.name in HELD_LANGUAGES) != (split == "held"):
            continue
        rng.shuffle(recordings)
        for n, y in enumerate(_clips([_decode(p) for p in recordings[:LETTERS]], rng)):
            yield Speech(f"klettres-{folder.name}-{n}", "klettres", folder.name, "wideband", y)


if __name__ == "__main__":
    for split in ("fit", "held"):
        for clip in corpus(split):
            print(split, clip.name, f"{len(clip.samples) / RATE:.1f} s")
