"""The files to tag: audio and video under folders, which process of a distributed run takes each, and whether
a file is as an earlier row saw it."""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterable
from pathlib import Path

from ..core.audio import AUDIO_SUFFIXES


def find_audio(paths: Iterable[Path]) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Audio and video files under `paths` (folders recursively, by suffix; a file named explicitly is always tried,
    since the content decides), in a stable order; and the paths that could not be looked at, with why."""
    found: list[Path] = []
    problems: list[tuple[Path, str]] = []
    for path in paths:
        if path.is_file():
            found.append(path)
        elif path.is_dir():
            for root, dirs, names in os.walk(path, onerror=lambda err: problems.append((Path(err.filename), str(err)))):
                # Hidden entries are skipped, as taggers do: macOS leaves "._song.mp3" beside every song it copies.
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                found += [
                    Path(root, n)
                    for n in sorted(names)
                    if not n.startswith(".") and Path(n).suffix.lower() in AUDIO_SUFFIXES
                ]
        else:
            problems.append((path, "no such file or folder"))
    return list(dict.fromkeys(found)), problems


def share(path: Path, world: int) -> int:
    """The process (rank) that tags `path`: a hash of the path, the same in every process and every run."""
    return zlib.crc32(os.fsencode(path)) % world  # the name's bytes: the same as UTF-8 where it is UTF-8


def unchanged(row: dict | None, stat: os.stat_result | None) -> bool:
    """Whether a row stands for the file as it is now (same size and modification time)."""
    if row is None or stat is None:
        return False
    try:
        return int(row["size"]) == stat.st_size and float(row["mtime"]) == stat.st_mtime
    except (TypeError, ValueError):
        return False


def stat_of(path: Path) -> os.stat_result | None:
    try:
        return path.stat()
    except OSError:
        return None  # gone or unreadable since it was listed: decoding will say why
