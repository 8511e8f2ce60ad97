"""Tag many files: `python -m genre_classifier tag PATH... --output genres.csv`.

Every audio or video file under the given files and folders is decoded exactly as the app decodes an upload
(`audio.load_audio`), classified by the same `MODEL_ID`, `DEVICE` and `PRECISION`, and gets one row, written
and flushed as soon as it is known: an interrupted run leaves a valid file, and the same command run again skips
the files already there (same size and modification time) and appends the rest. A file that cannot be read is
skipped with a warning, and listed at the end.

Under `torchrun` or `accelerate launch` (which set `WORLD_SIZE` and `RANK`) each process takes the files whose
path hashes to its rank, writes its own part (`genres.csv.part-0-of-2`, ...), and process 0 merges the parts
into the output once every process has finished (a gloo barrier). The inputs and the output must be on storage
every process sees at the same paths, as they must be for the files to be read at all.

Each file also goes through the music gate (`gate.py`): the `music` column says whether it sounds like music,
and the note says "not music" where it does not. With `--write-tags` each genre also goes into the file's own tags
(`filetags`: the owner's genre is kept, a file that is not music gets none, the write is atomic, `--dry-run`
previews it), and the output records what was there before, for `--undo`.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import os
import sys
import time
import zlib
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import GENRES, answer, config, filetags, gate
from .audio import AUDIO_SUFFIXES, AudioError, c_stderr_logged

if TYPE_CHECKING:
    from .model import Classifier, Prediction

log = logging.getLogger(__name__)

COLUMNS = ["path", "genre", "confidence", "music", "music_score", *GENRES, "seconds", "windows", "note"]
# What later runs need: the file's size and time (to skip it), which model answered, and what --write-tags
# changed (for --undo). Outputs of earlier versions (before the tag columns; before the music columns; before the
# trace of a file's tags) still resume: they are read, then upgraded, their rows' new columns empty (`music` "":
# taken for music; no trace: --undo puts the genres back, as it did).
RESUME_COLUMNS = ["size", "mtime", "model", *filetags.TAG_COLUMNS]
_BEFORE_GATE = [column for column in COLUMNS if column not in ("music", "music_score")]
_BEFORE_TRACE = ["size", "mtime", "model", "genre_before", "genre_written"]
OLDER_COLUMNS = [_BEFORE_GATE + ["size", "mtime", "model"], _BEFORE_GATE + _BEFORE_TRACE, COLUMNS + _BEFORE_TRACE]
BARRIER_TIMEOUT = timedelta(days=7)  # a process that finishes its share early waits this long for the others


def result_row(name: str, prediction: Prediction, seconds: float, notes: Iterable[str] = ()) -> dict:
    """One file's answer as a row of `COLUMNS`: the genres in GTZAN order, whatever the model's label order."""
    probs = {label.lower(): float(p) for label, p in zip(prediction.labels, prediction.probs, strict=True)}
    top = max(probs, key=probs.get)
    said = answer.of(prediction)
    text = f"{said.text}: sounds like {gate.DESCRIBED[said.sounds_like]}" if said.sounds_like else said.text
    note = [] if said.clear else [text]  # "unsure: blues or rock", "not music: sounds like noise", as the page
    score = prediction.music_score
    return {
        "path": name, "genre": top, "confidence": round(probs[top], 6),
        "music": "" if score is None else "yes" if said.music else "no",
        "music_score": "" if score is None else round(score, 3),
        **{genre: round(probs[genre], 6) for genre in GENRES},
        "seconds": round(seconds, 2), "windows": len(prediction.window_spans), "note": "; ".join([*note, *notes]),
    }  # fmt: skip


def error_row(name: str, reason: str) -> dict:
    """A row for a file that could not be classified: no genre, the reason in the note."""
    return {**dict.fromkeys(COLUMNS, ""), "path": name, "note": reason}


# -- finding the files --------------------------------------------------------------------------------------------


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
                found += [Path(root, n) for n in sorted(names) if not n.startswith(".")
                          and Path(n).suffix.lower() in AUDIO_SUFFIXES]  # fmt: skip
        else:
            problems.append((path, "no such file or folder"))
    return list(dict.fromkeys(found)), problems


def share(path: Path, world: int) -> int:
    """The process (rank) that tags `path`: a hash of the path, the same in every process and every run."""
    return zlib.crc32(str(path).encode()) % world


# -- tagging ------------------------------------------------------------------------------------------------------


@dataclass
class Tagged:
    """One file's outcome: its prediction and what decoding said, or why it could not be read."""

    path: Path
    prediction: Prediction | None = None
    seconds: float = 0.0
    notes: tuple[str, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class _Gated:
    """A decoded file cut into the model's windows, with what the music gate heard in each: all a file's entry
    keeps until its windows are classified (the clip's full-band audio goes once the gate has heard it)."""

    windows: np.ndarray  # (n_windows, samples) at the model's rate
    spans: list[tuple[float, float]]
    seconds: float
    notes: tuple[str, ...]
    heard: gate.Heard


def _decode(classifier: Classifier, path: Path) -> _Gated | str:
    """One file decoded, windowed and gated, or the reason it cannot be."""
    try:
        clip = classifier.load(path)
    except AudioError as err:
        return str(err)
    except Exception as err:  # one odd file must not end a night-long run; the log keeps the traceback
        log.debug("Decoding %s failed", path, exc_info=True)
        return f"it could not be decoded ({type(err).__name__}: {err})"
    windows, spans = classifier.spans(clip.samples)
    try:
        heard = gate.listen(clip.gate_audio, spans)  # here, in the decoding thread: on the CPU, beside the model
    except Exception as err:
        log.debug("The music gate failed on %s", path, exc_info=True)
        return f"the music gate could not hear it ({type(err).__name__}: {err})"
    return _Gated(windows, spans, clip.seconds, clip.notes, heard)


def _decoded(classifier: Classifier, paths: list[Path], workers: int) -> Iterator[tuple[Path, _Gated | str]]:
    """(path, its windows or the reason it cannot be read), in order; a few files are decoded and gated ahead in
    threads, so reading, FFmpeg and the gate overlap the model (numpy, soxr and the FFmpeg pipe release the GIL)."""
    pool = ThreadPoolExecutor(workers, thread_name_prefix="decode")
    ahead: deque = deque()
    try:
        for path in paths:
            ahead.append((path, pool.submit(_decode, classifier, path)))
            if len(ahead) > 2 * workers:
                path, future = ahead.popleft()
                yield path, future.result()
        while ahead:
            path, future = ahead.popleft()
            yield path, future.result()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def tag(classifier: Classifier, paths: list[Path], workers: int = 1) -> Iterator[Tagged]:
    """Classify every file, yielding each one as soon as all its windows are done.

    Full-length windows of consecutive files share batches of the classifier's `batch_size`. The one shorter window
    of a clip shorter than the model's window goes alone, at once: padding it to its batch-mates' length would
    change its answer. Each file gets what `Classifier.classify` would give its `Clip` alone, music gate included.
    """
    from .model import Prediction

    batch_size = classifier.batch_size
    window = int(round(classifier.window_seconds * classifier.sampling_rate))
    queue: list[tuple[dict, int, np.ndarray]] = []  # (file's entry, window index, samples), all of `window` length

    def run(batch: list[tuple[dict, int, np.ndarray]]) -> Iterator[Tagged]:
        answers = classifier.predict_windows(np.stack([samples for *_, samples in batch]))
        for (entry, index, _), probs in zip(batch, answers, strict=True):
            entry["probs"][index] = probs
            entry["left"] -= 1
            if entry["left"] == 0:
                heard = entry["heard"]
                prediction = Prediction(classifier.labels, entry["probs"], entry["spans"], window_music=heard.music,
                                        window_sounds=tuple(heard.sounds))  # fmt: skip
                yield Tagged(entry["path"], prediction, entry["seconds"], entry["notes"])

    for path, gated in _decoded(classifier, paths, workers):
        if isinstance(gated, str):
            yield Tagged(path, error=gated)
            continue
        windows = gated.windows
        # The entry keeps the clip's length, notes and gate's answers only: its samples go with its last window.
        entry = {"path": path, "seconds": gated.seconds, "notes": gated.notes, "spans": gated.spans,
                 "heard": gated.heard, "left": len(windows),
                 "probs": np.empty((len(windows), len(classifier.labels)))}  # fmt: skip
        if windows.shape[1] < window:
            yield from run([(entry, 0, windows[0])])
            continue
        queue += [(entry, i, w) for i, w in enumerate(windows)]
        while len(queue) >= batch_size:
            batch, queue = queue[:batch_size], queue[batch_size:]
            yield from run(batch)
    while queue:
        batch, queue = queue[:batch_size], queue[batch_size:]
        yield from run(batch)


# -- the output ---------------------------------------------------------------------------------------------------


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
            with open(self.path, encoding="utf-8", newline="") as f:  # newline="": the bytes as they are, "\r\n" too
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
        not_ours = TagError(f"{self.path} was not written by this command as {self.fmt.upper()} (or by another "
                            "version of it); choose another --output, or the --format it was written in")  # fmt: skip
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
        keep = len(self._complete().encode())
        self.file = open(self.path, "a+", encoding="utf-8", newline="")
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
        with open(tmp, "w", encoding="utf-8", newline="") as out:
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


def unchanged(row: dict | None, stat: os.stat_result | None) -> bool:
    """Whether a row stands for the file as it is now (same size and modification time)."""
    if row is None or stat is None:
        return False
    try:
        return int(row["size"]) == stat.st_size and float(row["mtime"]) == stat.st_mtime
    except (TypeError, ValueError):
        return False


def _stat(path: Path) -> os.stat_result | None:
    try:
        return path.stat()
    except OSError:
        return None  # gone or unreadable since it was listed: decoding will say why


# -- the command --------------------------------------------------------------------------------------------------


def load_model(model_id: str) -> Classifier:
    """The classifier for `model_id`. Unlike the app, no fallback to the embedded model: a library tagged by
    another model than the one asked for would be worse than no tags."""
    from .model import BASELINE_ID, CheckpointError, load_exact

    try:
        return load_exact(model_id)
    except CheckpointError as err:
        raise TagError(
            f"The checkpoint {model_id} could not be loaded: {err}. MODEL_ID={BASELINE_ID} tags with the embedded "
            "offline model."
        ) from err
    except ValueError as err:  # a mistyped PRECISION, with the choices
        raise TagError(str(err)) from None


def _clock(seconds: float) -> str:
    minutes, sec = divmod(round(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{sec:02d}" if minutes >= 60 else f"{minutes}:{sec:02d}"


def _per_minute(count: int, seconds: float) -> str:
    rate = count / max(seconds, 1e-9) * 60
    return f"{rate:.3g} files/min" if rate < 100 else f"{rate:.0f} files/min"  # 0.683, 11.7, 143


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of windows, 1 or more, not {text!r}")
    return int(text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="audio or video files, or folders")
    parser.add_argument("-o", "--output", type=Path, default=Path("genres.csv"), help="default: genres.csv")
    parser.add_argument("--format", choices=["csv", "jsonl"], help="default: jsonl for a .jsonl output, else csv")
    parser.add_argument("--batch-size", type=_positive, help="windows per forward pass, from consecutive files "
                        "(default: the model's own, as in the app: 1 or 3 on a CPU, 16 on a GPU)")  # fmt: skip
    tags = parser.add_argument_group("the files' own tags")
    tags.add_argument("--write-tags", action="store_true", help="write each genre into the file's genre tag too "
                      "(a genre already there is kept)")  # fmt: skip
    tags.add_argument("--dry-run", action="store_true", help="with --write-tags or --undo: print what would change, "
                      "file by file, and change no music file")  # fmt: skip
    tags.add_argument("--overwrite", action="store_true", help="with --write-tags: replace a genre already there")
    tags.add_argument("--write-unsure", action="store_true", help="with --write-tags: write the top genre of an "
                      "unsure answer too")  # fmt: skip
    tags.add_argument("--write-not-music", action="store_true", help="with --write-tags: write the top genre of a "
                      "file the music gate does not take for music (speech, noise) too")  # fmt: skip
    tags.add_argument("--undo", action="store_true", help="put back the genres --write-tags replaced, from the same "
                      "--output, where the files still hold what it wrote")  # fmt: skip


def _check_tag_flags(args: argparse.Namespace, world: int) -> None:
    """The tag flags' combinations, refused in one sentence before any work."""
    write, undo = getattr(args, "write_tags", False), getattr(args, "undo", False)
    if write and undo:
        raise TagError("--write-tags and --undo go one at a time.")
    if getattr(args, "dry_run", False) and not (write or undo):
        raise TagError("--dry-run previews --write-tags or --undo: add one of them.")
    for flag in ("overwrite", "write_unsure", "write_not_music"):
        if getattr(args, flag, False) and not write:
            raise TagError(f"--{flag.replace('_', '-')} goes with --write-tags.")
    if undo and world > 1:
        raise TagError("--undo runs in one process: run it without torchrun or accelerate.")
    if write or undo:
        try:
            import mediafile  # noqa: F401
        except ImportError:
            raise TagError("Writing tags needs beets' mediafile library: pip install mediafile") from None


def run(args: argparse.Namespace) -> int:
    """The `tag` command; returns the exit status."""
    world, rank = int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("RANK", 0))
    _check_tag_flags(args, world)
    fmt = args.format or ("jsonl" if args.output.suffix.lower() in (".jsonl", ".ndjson") else "csv")
    output = Rows(args.output, fmt, COLUMNS + RESUME_COLUMNS)
    mine = output if world == 1 else Rows(args.output.with_name(f"{args.output.name}.part-{rank}-of-{world}"), fmt,
                                          output.columns)  # fmt: skip
    group = _join_process_group() if world > 1 else None  # first, so that a broken launch fails at once
    if not args.output.resolve().parent.is_dir():  # said now, not after loading the model
        raise TagError(f"The folder of --output {args.output} does not exist.")

    files, problems = find_audio(args.paths)
    for path, reason in problems:
        log.warning("Skipped %s: %s", path, reason)
    if not files:
        raise TagError(f"No audio or video files found under {', '.join(map(str, args.paths))}.")
    model_id = config.model_id()
    done = _rows_so_far(output)
    if getattr(args, "undo", False):
        return _undo(output, files, done, args.dry_run)
    if others := {row["model"] for row in done.values()} - {model_id}:
        raise TagError(
            f"{args.output} holds answers of {', '.join(sorted(others))}, and this run's MODEL_ID is {model_id}: "
            "choose another --output, or set MODEL_ID to the model it was written with."
        )
    stats = {path: _stat(path) for path in files if share(path, world) == rank}
    todo = [path for path, stat in stats.items() if not unchanged(done.get(str(path)), stat)]

    tags = _TagWriter(args, done) if getattr(args, "write_tags", False) else None
    if tags:
        again = set(todo)  # a set: a library has tens of thousands of files
        _tags_from_rows(mine, tags, [path for path in stats if path not in again], done)
    hook = tags or (lambda path, row: {**row, **_tag_record(done.get(str(path)))})
    failed, seconds = _tag_into(mine, todo, stats, model_id, args.batch_size, rank, world, hook) if todo else ([], 0.0)
    count = len(todo) - len(failed)
    rate = f" ({_per_minute(count, seconds)})" if count else ""
    print(f"Tagged {count} file(s) in {_clock(seconds)}{rate} into {mine.path}; "
          f"{len(stats) - len(todo)} already there were skipped.")  # fmt: skip
    if unreadable := problems + failed:
        print(f"{len(unreadable)} could not be read:")
        for path, reason in unreadable:
            print(f"  {path}: {reason}")
    if tags:
        print("\n".join(filetags.summary(tags.changes, args.dry_run)))

    if group:
        group.barrier()  # every process has finished, its part complete and closed
        group.destroy_process_group()
    # A file that changed was tagged again: its new row replaces the old one. Parts are merged into the output.
    if rank == 0 and (part_paths(args.output) or any(str(path) in done for path in todo) or (tags and tags.rewritten)):
        _merge(output, files)
    return 0


def _tag_record(row: dict | None) -> dict:
    """The tag columns of a file's earlier row: a file tagged again keeps the record of what --write-tags changed."""
    return {column: row.get(column, "") for column in filetags.TAG_COLUMNS} if row else {}


class _TagWriter:
    """The hook after each row with --write-tags: plans the file's change, makes it (or prints it in a dry run), and
    returns the row to record."""

    def __init__(self, args: argparse.Namespace, done: dict[str, dict]) -> None:
        self.args, self.done = args, done
        self.changes: list[filetags.Change] = []
        self.rewritten = False  # rows of earlier runs were superseded: the output is merged at the end

    def __call__(self, path: Path, row: dict) -> dict:
        from tqdm import tqdm

        previous = self.done.get(str(path))
        row = {**row, **_tag_record(previous)}
        change = filetags.plan(path, row, previous, self.args.overwrite, self.args.write_unsure,
                               getattr(self.args, "write_not_music", False))  # fmt: skip
        self.changes.append(change)
        if self.args.dry_run:
            if change.action != "same":
                tqdm.write(change.line)
            return row
        row = filetags.apply(change, row)
        if change.action == "error":
            log.warning("Did not write the genre of %s: %s", path, change.note)
        return row


def _tags_from_rows(mine: Rows, tags: _TagWriter, paths: list[Path], done: dict[str, dict]) -> None:
    """--write-tags for files already classified: their rows' answers, no model loaded. Each file's new row (its
    new size and time, what was written) is flushed right after its write, as after a classification."""
    opened = False
    try:
        for path in paths:
            row = done[str(path)]
            if (new := tags(path, row)) != row:
                if not opened:
                    mine.open()
                    opened = True
                mine.write(new)
                tags.rewritten = True
    finally:
        if opened:
            mine.close()


def _undo(output: Rows, files: list[Path], done: dict[str, dict], dry_run: bool) -> int:
    """`--undo`: put back the genres this command wrote, where the files still hold them; the rows record it."""
    changes, updated = [], []
    for path in files:
        row = done.get(str(path))
        if row is None or (change := filetags.plan_undo(path, row)) is None:
            continue
        changes.append(change)
        if dry_run:
            print(change.line)
        elif (new := filetags.apply(change, row)) != row:
            updated.append(new)
        if change.action == "error":
            log.warning("Did not put back the genre of %s: %s", path, change.note)
    if updated:
        output.open()
        try:
            for row in updated:
                output.write(row)
        finally:
            output.close()
        _merge(output, files)
    print("\n".join(filetags.summary(changes, dry_run, undo=True)))
    return 0


def _join_process_group():
    import atexit

    import torch
    import torch.distributed as dist

    dist.init_process_group("gloo", timeout=BARRIER_TIMEOUT)  # gloo: the one barrier runs on CPUs and GPUs alike
    # `run` leaves the group after its barrier; on any other way out (an error) it is left here, before the
    # interpreter tears down: a process that exits still in its gloo group can abort ("terminate called without an
    # active exception") and make torchrun report a failure.
    atexit.register(lambda: dist.is_initialized() and dist.destroy_process_group())
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))  # "cuda" is then this process's own GPU
    return dist


def _rows_so_far(output: Rows) -> dict[str, dict]:
    """Path -> row, from the output and every part beside it; the last row of a path wins."""
    rows: dict[str, dict] = {}
    for source in [output, *(Rows(p, output.fmt, output.columns) for p in part_paths(output.path))]:
        rows.update((row["path"], row) for row in source.read())
    return rows


def _merge(output: Rows, files: list[Path]) -> None:
    """One row per path in the output, in the order of `files` (rows of paths from other runs first); the parts go."""
    parts = part_paths(output.path)
    order = {str(path): i for i, path in enumerate(files)}
    rows = sorted(_rows_so_far(output).values(), key=lambda row: order.get(row["path"], -1))
    output.replace_with(rows)
    for part in parts:
        part.unlink()
    if parts:
        print(f"Merged {len(parts)} part(s) into {output.path}: {len(rows)} rows.")


def _tag_into(rows: Rows, todo: list[Path], stats: dict, model_id: str, batch_size: int | None, rank: int,
              world: int, hook=None) -> tuple[list[tuple[Path, str]], float]:  # fmt: skip
    """Tag `todo` into `rows` with a progress bar; returns the files that could not be read (with why) and the
    seconds it took once the model was loaded. `hook(path, row)` returns the row to write (--write-tags)."""
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    classifier = load_model(model_id)
    classifier.batch_size = batch_size or classifier.batch_size  # the model batches its forward passes by it too
    # On a CPU, OpenVINO for the whole run (every row from one runtime): from the cache within a second, or converted
    # first, once for a checkpoint (10-20 s), which a library of any size soon earns back.
    if switching := classifier.switch_runtime():
        switching.join()
    workers = min(8, os.cpu_count() or 1) if classifier.on_gpu else 1  # a GPU outruns one decoding thread
    log.info("Tagging %d files with %s%s", len(todo), classifier.description,
             f", part {rank + 1} of {world}" if world > 1 else "")  # fmt: skip
    failed, started = [], time.monotonic()
    rows.open()
    bar = tqdm(
        total=len(todo),
        unit="file",
        position=rank,
        desc=f"part {rank + 1}/{world}" if world > 1 else None,
        bar_format="{desc}{percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} files [{elapsed}<{remaining}{postfix}]",
    )
    try:
        with logging_redirect_tqdm():
            for tagged in tag(classifier, todo, workers=workers):
                if tagged.error:
                    log.warning("Skipped %s: %s", tagged.path, tagged.error)
                    failed.append((tagged.path, tagged.error))
                else:
                    row = result_row(str(tagged.path), tagged.prediction, tagged.seconds, tagged.notes)
                    stat = stats[tagged.path]
                    row = {**row, "size": stat.st_size, "mtime": stat.st_mtime, "model": model_id}
                    rows.write(hook(tagged.path, row) if hook else row)
                bar.update()
                bar.set_postfix_str(_per_minute(bar.n, time.monotonic() - started), refresh=False)
    finally:
        bar.close()
        rows.close()
    return failed, time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m genre_classifier tag", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    return run_logged(parser.parse_args(argv))


def run_logged(args: argparse.Namespace) -> int:
    """`run` with the log on stderr and the command's own errors as one sentence, no traceback. What decoders print
    from C (libmpg123's notes on a damaged MP3) goes to the log, at debug level, not onto the terminal."""
    with c_stderr_logged():
        return _run_logged(args)


def _run_logged(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    for name in (__name__, "genre_classifier.runtime"):  # this command's progress, and which runtime answers
        logging.getLogger(name).setLevel(logging.INFO)  # (the decoders' details stay at debug level)
    try:
        return run(args)
    except (TagError, OSError) as err:  # OSError: an output that cannot be written (a full disk, no permission)
        print(f"Cannot tag: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nInterrupted: every row written so far is kept, and the same command resumes.", file=sys.stderr)
        return 130
