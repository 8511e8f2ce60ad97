"""Tag many files: `python -m genre_classifier tag PATH... --output genres.csv`.

Every audio or video file under the given files and folders is decoded as the app decodes an upload (`audio`; a
long file only in the few windows `sampling.py` picks, unless `--all-windows`), classified by the same `MODEL_ID`,
`DEVICE` and `PRECISION`, and gets one row, written
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
import io
import logging
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ..core.answer import clock
from ..core.audio import c_stderr_logged
from ..core.settings import Settings
from . import filetags
from .batch import classify_files, decoding_workers, file_processes
from .distributed import join_process_group
from .rows import COLUMNS, RESUME_COLUMNS, Rows, TagError, merge, part_paths, result_row, rows_so_far
from .sampling import SAMPLED_WINDOWS
from .scan import find_audio, share, stat_of, unchanged
from .writing import TagWriter, tag_record, tags_from_rows, undo

if TYPE_CHECKING:
    from ..core.model import Classifier

log = logging.getLogger(__name__)

# -- the command --------------------------------------------------------------------------------------------------


def load_model(settings: Settings, batch_size: int | None = None) -> Classifier:
    """The classifier for the settings' `MODEL_ID`, batching `batch_size` windows per forward pass where given (else
    its own default). Unlike the app, no fallback to the embedded model: a library tagged by another model than the
    one asked for would be worse than no tags."""
    from ..core.loading import BASELINE_ID, CheckpointError, load_exact

    model_id = settings.model_id
    try:
        return load_exact(model_id, settings, batch_size)
    except CheckpointError as err:
        raise TagError(
            f"The checkpoint {model_id} could not be loaded: {err}. MODEL_ID={BASELINE_ID} tags with the embedded "
            "offline model."
        ) from err


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
    parser.add_argument(
        "--windows",
        type=_positive,
        default=SAMPLED_WINDOWS,
        help=f"windows heard in a long file, spread over it (default {SAMPLED_WINDOWS}; docs/tagging.md)",
    )
    parser.add_argument(
        "--all-windows",
        action="store_true",
        help="analyse every window of a long file (slower; the answer the page gives)",
    )
    parser.add_argument(
        "--batch-size",
        type=_positive,
        help="windows per forward pass, from consecutive files "
        "(default: the model's own, as in the app: 1 or 3 on a CPU, 16 on a GPU)",
    )
    tags = parser.add_argument_group("the files' own tags")
    tags.add_argument(
        "--write-tags",
        action="store_true",
        help="write each genre into the file's genre tag too (a genre already there is kept)",
    )
    tags.add_argument(
        "--dry-run",
        action="store_true",
        help="with --write-tags or --undo: print what would change, file by file, and change no music file",
    )
    tags.add_argument("--overwrite", action="store_true", help="with --write-tags: replace a genre already there")
    tags.add_argument(
        "--write-unsure", action="store_true", help="with --write-tags: write the top genre of an unsure answer too"
    )
    tags.add_argument(
        "--write-not-music",
        action="store_true",
        help="with --write-tags: write the top genre of a "
        "file the music gate does not take for music (speech, noise) too",
    )
    tags.add_argument(
        "--undo",
        action="store_true",
        help="put back the genres --write-tags replaced, from the same "
        "--output, where the files still hold what it wrote",
    )


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
    mine = (
        output
        if world == 1
        else Rows(args.output.with_name(f"{args.output.name}.part-{rank}-of-{world}"), fmt, output.columns)
    )
    group = join_process_group() if world > 1 else None  # first, so that a broken launch fails at once
    if not args.output.resolve().parent.is_dir():  # said now, not after loading the model
        raise TagError(f"The folder of --output {args.output} does not exist.")

    files, problems = find_audio(args.paths)
    for path, reason in problems:
        log.warning("Skipped %s: %s", path, reason)
    if not files:
        raise TagError(f"No audio or video files found under {', '.join(map(str, args.paths))}.")
    try:
        settings = Settings.from_environment()  # read once, here
    except ValueError as err:  # a mistyped PRECISION, with the choices
        raise TagError(str(err)) from None
    model_id = settings.model_id
    done = rows_so_far(output)
    if getattr(args, "undo", False):
        return undo(output, files, done, args.dry_run)
    if others := {row["model"] for row in done.values()} - {model_id}:
        raise TagError(
            f"{args.output} holds answers of {', '.join(sorted(others))}, and this run's MODEL_ID is {model_id}: "
            "choose another --output, or set MODEL_ID to the model it was written with."
        )
    stats = {path: stat_of(path) for path in files if share(path, world) == rank}
    todo = [path for path, stat in stats.items() if not unchanged(done.get(str(path)), stat)]

    tags = TagWriter(args, done) if getattr(args, "write_tags", False) else None
    if tags:
        again = set(todo)  # a set: a library has tens of thousands of files
        tags_from_rows(mine, tags, [path for path in stats if path not in again], done)
    hook = tags or (lambda path, row: {**row, **tag_record(done.get(str(path)))})
    sample = None if getattr(args, "all_windows", False) else getattr(args, "windows", SAMPLED_WINDOWS)
    failed, seconds = (
        _tag_into(mine, todo, stats, settings, args.batch_size, rank, world, hook, sample) if todo else ([], 0.0)
    )
    count = len(todo) - len(failed)
    rate = f" ({_per_minute(count, seconds)})" if count else ""
    print(
        f"Tagged {count} file(s) in {clock(seconds)}{rate} into {mine.path}; "
        f"{len(stats) - len(todo)} already there were skipped."
    )
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
        merge(output, files)
    return 0


def _tag_into(
    rows: Rows,
    todo: list[Path],
    stats: dict,
    settings: Settings,
    batch_size: int | None,
    rank: int,
    world: int,
    hook=None,
    sample: int | None = SAMPLED_WINDOWS,
) -> tuple[list[tuple[Path, str]], float]:
    """Tag `todo` into `rows` with a progress bar; returns the files that could not be read (with why) and the
    seconds it took once the model was loaded. `hook(path, row)` returns the row to write (--write-tags)."""
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    classifier, model_id = load_model(settings, batch_size), settings.model_id
    # On a CPU, OpenVINO for the whole run (every row from one runtime): from the cache within a second, or converted
    # first, once for a checkpoint (10-20 s), which a library of any size soon earns back.
    if switching := classifier.switch_runtime():
        switching.join()
    processes = file_processes(classifier, len(todo))
    log.info(
        "Tagging %d files with %s%s%s",
        len(todo),
        classifier.description,
        f", part {rank + 1} of {world}" if world > 1 else "",
        f", in {processes} processes" if processes > 1 else "",
    )
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
            for tagged in classify_files(classifier, todo, decoding_workers(classifier), sample, processes):
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
    if isinstance(sys.stdout, io.TextIOWrapper):
        # The files' names as their bytes, as `ls` prints them: a POSIX name need not be UTF-8 (Latin-1 "café" is
        # b"caf\xe9"), and a terminal whose encoding is strict UTF-8 would stop the run at its first such name.
        sys.stdout.reconfigure(errors="surrogateescape")
    with c_stderr_logged():
        return _run_logged(args)


def _run_logged(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    for name in (__name__, "genre_classifier.core.runtime"):  # this command's progress, and which runtime answers
        logging.getLogger(name).setLevel(logging.INFO)  # (the decoders' details stay at debug level)
    try:
        return run(args)
    except (TagError, OSError) as err:  # OSError: an output that cannot be written (a full disk, no permission)
        print(f"Cannot tag: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nInterrupted: every row written so far is kept, and the same command resumes.", file=sys.stderr)
        return 130
