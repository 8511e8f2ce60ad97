"""`tag`'s output: one row per file in CSV or JSON lines, written and flushed a row at a time, resumed, upgraded
from older versions' columns, and merged from the parts of a distributed run."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from .. import GENRES
from ..core import answer, gate
from . import filetags

if TYPE_CHECKING:
    from ..core.model import Prediction

# A POSIX file name is bytes, not always UTF-8 (an old library's Latin-1 "café" is b"caf\xe9", "caf\udce9" to
# Python): the path column holds the name's own bytes, so that it names the file exactly and a resumed run finds it.
NAMES = "surrogateescape"
COLUMNS = ["path", "genre", "confidence", "music", "music_score", *GENRES, "seconds", "windows", "note"]
# What later runs need: the file's size and time (to skip it), which model answered, and what --write-tags
# changed (for --undo). Outputs of earlier versions (before the tag columns; before the music columns; before the
# trace of a file's tags) still resume: they are read, then upgraded, their rows' new columns empty (`music` "":
# taken for music; no trace: --undo puts the genres back, as it did).
RESUME_COLUMNS = ["size", "mtime", "model", *filetags.TAG_COLUMNS]
_BEFORE_GATE = [column for column in COLUMNS if column not in ("music", "music_score")]
_BEFORE_TRACE = ["size", "mtime", "model", "genre_before", "genre_written"]
OLDER_COLUMNS = [_BEFORE_GATE + ["size", "mtime", "model"], _BEFORE_GATE + _BEFORE_TRACE, COLUMNS + _BEFORE_TRACE]


def result_row(name: str, prediction: Prediction, seconds: float, notes: Iterable[str] = ()) -> dict:
    """One file's answer as a row of `COLUMNS`: the genres in GTZAN order, whatever the model's label order."""
    probs = {label.lower(): float(p) for label, p in zip(prediction.labels, prediction.probs, strict=True)}
    top = max(probs, key=probs.get)
    said = answer.of(prediction)
    text = f"{said.text}: sounds like {gate.DESCRIBED[said.sounds_like]}" if said.sounds_like else said.text
    note = [] if said.clear else [text]  # "unsure: blues or rock", "not music: sounds like noise", as the page
    score = prediction.music_score
    return {
        "path": name,
        "genre": top,
        "confidence": round(probs[top], 6),
        "music": "" if score is None else "yes" if said.music else "no",
        "music_score": "" if score is None else round(score, 3),
        **{genre: round(probs[genre], 6) for genre in GENRES},
        "seconds": round(seconds, 2),
        "windows": len(prediction.window_spans),
        "note": "; ".join([*note, *notes]),
    }


def error_row(name: str, reason: str) -> dict:
    """A row for a file that could not be classified: no genre, the reason in the note."""
    return {**dict.fromkeys(COLUMNS, ""), "path": name, "note": reason}


class TagError(Exception):
    """Something about the command's settings or output that the person running it must fix."""


class Rows:
    """A CSV or JSON-lines file of rows, appended one flushed row at a time, so it stays valid however it stops."""

    def __init__(self, path: Path, fmt: str, columns: list[str], older: list[list[str]] = OLDER_COLUMNS) -> None:
        self.path, self.fmt, self.columns, self.older = path, fmt, columns, older  # older: read, then upgraded
        self.file: io.TextIOBase | None = None

    def _complete(self) -> str:
        """The file up to its last newline: anything after it is a row a killed run was writing."""
        try:
            with open(self.path, encoding="utf-8", errors=NAMES, newline="") as f:  # newline="": "\r\n" kept too
                text = f.read()
        except FileNotFoundError:
            return ""
        except (OSError, UnicodeDecodeError) as err:
            raise TagError(f"Cannot read {self.path}: {err}") from None
        return text[: text.rfind("\n") + 1]

    def read(self) -> list[dict]:
        text = self._complete()
        if not text:
            return []
        not_ours = TagError(
            f"{self.path} was not written by this command as {self.fmt.upper()} (or by another "
            "version of it); choose another --output, or the --format it was written in"
        )
        known = [self.columns, *self.older]
        if self.fmt == "csv":
            reader = csv.DictReader(io.StringIO(text, newline=""))
            rows = list(reader)
            if reader.fieldnames not in known or any(None in row or None in row.values() for row in rows):
                raise not_ours
        else:
            try:
                rows = [json.loads(line) for line in text.split("\n") if line.strip()]
            except json.JSONDecodeError:
                raise not_ours from None
            if any(not isinstance(row, dict) or list(row) not in known for row in rows):
                raise not_ours
        return [{column: row.get(column, "") for column in self.columns} for row in rows]

    def _written_by_older_version(self) -> bool:
        text = self._complete()
        first = text[: text.find("\n")]
        if not first:
            return False
        if self.fmt == "csv":
            return next(csv.reader([first])) != self.columns
        try:
            return list(json.loads(first)) != self.columns
        except (json.JSONDecodeError, TypeError):
            return False  # not an output of this command: `read` says so

    def open(self) -> None:
        """Open for appending: cut a half-written last row, and start a new file with the CSV header."""
        if self._written_by_older_version():  # its rows get the new columns, empty, in one atomic rewrite
            self.replace_with(self.read())
        keep = len(self._complete().encode(errors=NAMES))
        self.file = open(self.path, "a+", encoding="utf-8", errors=NAMES, newline="")
        self.file.truncate(keep)
        self.file.seek(keep)
        if keep == 0 and self.fmt == "csv":
            csv.writer(self.file).writerow(self.columns)

    def write(self, row: dict) -> None:
        row = {column: row.get(column, "") for column in self.columns}  # the columns in order, every one there
        if self.fmt == "csv":
            csv.DictWriter(self.file, self.columns).writerow(row)
        else:
            self.file.write(json.dumps(row, ensure_ascii=False) + "\n")
        self.file.flush()  # on disk now: a run killed after this row still has it

    def close(self) -> None:
        if self.file:
            self.file.close()

    def replace_with(self, rows: list[dict]) -> None:
        """Write all `rows` anew, atomically: readers see the old file or the new one, never half of one."""
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8", errors=NAMES, newline="") as out:
            if self.fmt == "csv":
                writer = csv.DictWriter(out, self.columns)
                writer.writeheader()
                writer.writerows(rows)
            else:
                out.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        os.replace(tmp, self.path)


def part_paths(output: Path) -> list[Path]:
    """Parts that processes of this or an earlier distributed run left beside `output`."""
    return sorted(output.parent.glob(f"{output.name}.part-*-of-*"))


def rows_so_far(output: Rows) -> dict[str, dict]:
    """Path -> row, from the output and every part beside it; the last row of a path wins."""
    rows: dict[str, dict] = {}
    for source in [output, *(Rows(p, output.fmt, output.columns) for p in part_paths(output.path))]:
        rows.update((row["path"], row) for row in source.read())
    return rows


def merge(output: Rows, files: list[Path]) -> None:
    """One row per path in the output, in the order of `files` (rows of paths from other runs first); the parts go."""
    parts = part_paths(output.path)
    order = {str(path): i for i, path in enumerate(files)}
    rows = sorted(rows_so_far(output).values(), key=lambda row: order.get(row["path"], -1))
    output.replace_with(rows)
    for part in parts:
        part.unlink()
    if parts:
        print(f"Merged {len(parts)} part(s) into {output.path}: {len(rows)} rows.")
