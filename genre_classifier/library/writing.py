"""`tag --write-tags` and `--undo`: each genre into the file's own tags after its row (`filetags` plans and
makes the change), the files already classified written from their rows with no model loaded, and the genres put
back."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from . import filetags
from .rows import Rows, merge

log = logging.getLogger(__name__)


def tag_record(row: dict | None) -> dict:
    """The tag columns of a file's earlier row: a file tagged again keeps the record of what --write-tags changed."""
    return {column: row.get(column, "") for column in filetags.TAG_COLUMNS} if row else {}


class TagWriter:
    """The hook after each row with --write-tags: plans the file's change, makes it (or prints it in a dry run), and
    returns the row to record."""

    def __init__(self, args: argparse.Namespace, done: dict[str, dict]) -> None:
        self.args, self.done = args, done
        self.changes: list[filetags.Change] = []
        self.rewritten = False  # rows of earlier runs were superseded: the output is merged at the end

    def __call__(self, path: Path, row: dict) -> dict:
        from tqdm import tqdm

        previous = self.done.get(str(path))
        row = {**row, **tag_record(previous)}
        change = filetags.plan(
            path,
            row,
            previous,
            self.args.overwrite,
            self.args.write_unsure,
            getattr(self.args, "write_not_music", False),
        )
        self.changes.append(change)
        if self.args.dry_run:
            if change.action != "same":
                tqdm.write(change.line)
            return row
        row = filetags.apply(change, row)
        if change.action == "error":
            log.warning("Did not write the genre of %s: %s", path, change.note)
        return row


def tags_from_rows(mine: Rows, tags: TagWriter, paths: list[Path], done: dict[str, dict]) -> None:
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


def undo(output: Rows, files: list[Path], done: dict[str, dict], dry_run: bool) -> int:
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
        merge(output, files)
    print("\n".join(filetags.summary(changes, dry_run, undo=True)))
    return 0
