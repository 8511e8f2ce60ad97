"""The genre in a music file's own tags: read it, write it safely, and take it back (`tag --write-tags`, `--undo`).

Tags go through beets' `mediafile` (on mutagen), so the genre lands where beets and players look: ID3 `TCON` in
MP3 and in the ID3 chunk of WAV and AIFF, `GENRE` in FLAC, Ogg Vorbis and Opus, `©gen` in MP4/M4A. Besides the
genre, one custom field says what wrote it (`GENRE_CLASSIFIER`: the model and its confidence).

`--undo` leaves no trace: the output also records whether the file had a tag block at all and its size, so the
undo removes a block the write added (an MP3's ID3 header, a WAV's or AIFF's ID3 chunk) and pads the tags back to
the size they had (in an MP4, without the empty `free` atom mutagen always leaves after them): a file whose tags
are as they were is the same bytes again.

mutagen saves in place, so a kill in the middle of a save could leave a file players cannot read. Here the tags
are saved into a copy beside the file, which is synced and then renamed over the original (`os.replace`, atomic
on one file system): at every moment the file is either the old one or the new one.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..core.gate import NOT_MUSIC
from .policy import decide

FIELD = "genre_classifier"  # the MediaFile property of the custom field; its tag is GENRE_CLASSIFIER
# What the output keeps so that --undo can put genres back, and the file as it was (`Trace`).
TAG_COLUMNS = ["genre_before", "genre_written", "had_tags", "size_before"]
TMP_MARK = ".genre-classifier-tmp"  # in the hidden copy's name: `.song.mp3.genre-classifier-tmp.mp3`


class TagWriteError(Exception):
    """A file whose tags cannot be read or written; the message says why, in words."""


@dataclass(frozen=True)
class Trace:
    """A file before this command first wrote into its tags, beyond its genres: what --undo takes it back to."""

    tagged: bool  # whether it had a tag block at all (a Vorbis comment always is); if not, the undo removes it
    size: int  # its size in bytes: the undo pads the tags back to it

    @property
    def columns(self) -> dict:
        return {"had_tags": "yes" if self.tagged else "no", "size_before": self.size}

    @classmethod
    def of(cls, row: dict | None) -> Trace | None:
        """The trace a row records; None for rows of outputs written before it was (their undo puts genres back)."""
        row = row or {}
        had, size = row.get("had_tags"), str(row.get("size_before", ""))
        return cls(had == "yes", int(size)) if had in ("yes", "no") and size.isdigit() else None


def _mediafile():
    """MediaFile, with the custom field registered once (beets' plugin API registers it the same way)."""
    from mediafile import MediaFile

    if FIELD not in MediaFile.__dict__:
        MediaFile.add_field(FIELD, field())
    return MediaFile


def field():
    """The custom field saying what wrote the genre, in each format's own form (TXXX, ----:, a Vorbis comment)."""
    from mediafile import ASFStorageStyle, MediaField, MP3DescStorageStyle, MP4StorageStyle, StorageStyle

    return MediaField(
        MP3DescStorageStyle("GENRE_CLASSIFIER"),
        MP4StorageStyle("----:com.apple.iTunes:GENRE_CLASSIFIER"),
        StorageStyle("GENRE_CLASSIFIER"),
        ASFStorageStyle("GenreClassifier"),
    )


def _open(path: Path):
    from mediafile import UnreadableFileError

    try:
        return _mediafile()(str(path))
    except UnreadableFileError as err:  # FileTypeError too: a container mutagen has no tags for
        raise TagWriteError(f"its tags cannot be read ({err})") from None
    except OSError as err:
        raise TagWriteError(f"it cannot be opened ({err.strerror or err})") from None


def read_genres(path: Path) -> list[str]:
    """The genres the file's tags hold now (empty when none)."""
    return list(_open(path).genres or [])


def _read(path: Path) -> tuple[list[str], Trace]:
    """The file's genres, and its trace as it is now."""
    import mutagen

    genres = read_genres(path)
    try:  # mutagen's own answer: MediaFile gives a file with no tag block an empty one
        return genres, Trace(mutagen.File(path).tags is not None, os.path.getsize(path))
    except (mutagen.MutagenError, OSError) as err:
        raise TagWriteError(f"its tags cannot be read ({err})") from None


def provenance(model_id: str, confidence: float) -> str:
    """The custom field's value: which model wrote the genre, and how sure it was."""
    return f"{model_id}, confidence {confidence:.3f}"


def write_genres(path: Path, genres: list[str], note: str | None, back_to: Trace | None = None) -> None:
    """Set the file's genres (none: remove them) and the custom field (None: remove it), atomically.

    Only these two fields change: mutagen rewrites the tag block, never the audio, and an ID3v2.3 tag stays
    v2.3. The copy keeps the original's permission bits, owner where allowed, and extended attributes. With
    `back_to` (the undo), a tag block the file did not have goes once it is empty, and the tags are padded back
    to the file's size then.
    """
    target = Path(os.path.realpath(path))  # a symlink's target is written; the link stays a link
    try:
        info = target.stat()
    except OSError as err:
        raise TagWriteError(f"it cannot be opened ({err.strerror or err})") from None
    # Root may write anything: the permission bits say what the owner wants, so they are read too.
    if not info.st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH) or not os.access(target, os.W_OK):
        raise TagWriteError("it is read-only")
    tmp = target.with_name(f".{target.name}{TMP_MARK}{target.suffix}")  # hidden, so `tag` never lists it
    try:
        shutil.copyfile(target, tmp)
        shutil.copystat(target, tmp)  # mode and extended attributes; the time is the save's, below
        with contextlib.suppress(PermissionError):  # only root may give a file away; else it stays the writer's
            os.chown(tmp, info.st_uid, info.st_gid)
        media = _open(tmp)
        if genres:
            media.genres = genres
        else:
            del media.genres
        if note:
            setattr(media, FIELD, note)
        else:
            delattr(media, FIELD)
        _save(media, back_to)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())  # the new bytes are on disk before the name points at them
        os.replace(tmp, target)
        _fsync_folder(target.parent)
    except TagWriteError:
        tmp.unlink(missing_ok=True)
        raise
    except OSError as err:  # a full disk, a read-only folder: the original is untouched
        tmp.unlink(missing_ok=True)
        raise TagWriteError(f"it cannot be written ({err.strerror or err})") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _save(media, back_to: Trace | None = None) -> None:
    import mutagen.id3
    from mediafile import UnreadableFileError

    kwargs = {}
    tags = media.mgfile.tags
    if isinstance(tags, mutagen.id3.ID3) and tags.version[:2] == (2, 3):
        tags.update_to_v23()  # mutagen read it as v2.4 frames; it goes back as the v2.3 it was
        kwargs["v2_version"] = 3
    if back_to and not back_to.tagged and not tags:  # only the write put a block there, and it holds nothing now
        try:
            media.mgfile.delete()
        except mutagen.MutagenError as err:
            raise TagWriteError(f"its tags cannot be removed ({err})") from None
        return
    if back_to:
        # mutagen pads tags that grow by 1 kB or so: the undo takes back what the write added (never more: the owner
        # may have removed other tags since), so that the tags as they were fill the bytes they filled.
        grown = os.path.getsize(media.mgfile.filename) - back_to.size
        kwargs["padding"] = lambda info: max(0, info.padding - max(grown, 0))
    try:
        media.save(**kwargs)
    except UnreadableFileError as err:
        raise TagWriteError(f"its tags cannot be written ({err})") from None
    if back_to and os.path.getsize(media.mgfile.filename) == back_to.size + EMPTY_FREE_ATOM:
        _drop_empty_free_atom(media.mgfile)


EMPTY_FREE_ATOM = 8  # bytes: an MP4 atom's header, with nothing in it


def _drop_empty_free_atom(song) -> None:
    """mutagen ends an MP4's `ilst` with a `free` atom, always, an empty one (8 bytes) where it pads nothing; where
    the file had none (FFmpeg writes none), the undo takes it out, so that the file is its bytes again. The bytes
    move with mutagen's own means (resizing, the parents' sizes, the chunk offsets), which it keeps private: where
    they are gone in another version, the file keeps the 8 bytes, as it would without this."""
    import mutagen.mp4
    from mutagen._util import resize_bytes
    from mutagen.mp4._atom import Atoms

    if not isinstance(song, mutagen.mp4.MP4):
        return
    tags = mutagen.mp4.MP4Tags()
    update_parents = getattr(tags, "_MP4Tags__update_parents", None)
    update_offsets = getattr(tags, "_MP4Tags__update_offsets", None)
    if not (update_parents and update_offsets):
        return
    with open(song.filename, "rb+") as f:
        try:
            atoms = Atoms(f)
            path = atoms.path(b"moov", b"udta", b"meta", b"ilst")
        except (KeyError, mutagen.MutagenError):  # no tags where mutagen just saved them: nothing to take out
            return
        meta, ilst = path[-2:]
        after = meta.children[meta.children.index(ilst) + 1 :]
        if not after or after[0].name != b"free" or after[0].length != EMPTY_FREE_ATOM:
            return
        offset = after[0].offset
        resize_bytes(f, EMPTY_FREE_ATOM, 0, offset)
        update_parents(f, path[:-1], -EMPTY_FREE_ATOM)  # meta, udta and moov lose the 8 bytes
        update_offsets(f, atoms, -EMPTY_FREE_ATOM, offset)  # the audio after them moves back by 8 bytes


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)  # the rename itself survives a power cut
    except OSError:
        pass
    finally:
        os.close(fd)


# -- what a run changes -------------------------------------------------------------------------------------------


def encode(genres: Iterable[str]) -> str:
    """Genres in one output column: one genre as it is, several as a JSON list (tags may hold several)."""
    genres = list(genres)
    return (
        ""
        if not genres
        else genres[0]
        if len(genres) == 1 and not genres[0].startswith('["')
        else json.dumps(genres, ensure_ascii=False)
    )


def decode(text: str | None) -> list[str]:
    if not text:
        return []
    return list(json.loads(text)) if text.startswith('["') else [text]


@dataclass
class Change:
    """What `--write-tags` or `--undo` does to one file, and what its row records afterwards."""

    path: Path
    action: str  # "write", "same" (holds it already), "keep" (the owner's genre), "not music", "unsure", "error"
    now: list[str]  # the genres the file holds before this step
    new: list[str]  # what it holds after (`now` unless written)
    before: list[str]  # the owner's genres, before this command first wrote: what --undo puts back
    ours: bool  # whether `new` is this command's genre (then the row records it, for --undo)
    note: str = ""  # the custom field's value, or what happened, in words
    held: bool = False  # whether `now` was this command's genre (so a failed write leaves the row's record as it was)
    trace: Trace | None = None  # the file before this command first wrote: recorded with `before`
    undo: bool = False  # the change takes the file back to `trace`

    @property
    def line(self) -> str:
        """One line for the dry run and the summary: old → new, or why nothing changes."""
        old = " / ".join(self.now) or "(no genre)"
        if self.action == "write":
            return f"{self.path}: {old} → {' / '.join(self.new) or '(no genre)'}"
        return f"{self.path}: {old}, {self.note}"

    def recorded(self, row: dict) -> dict:
        """`row` with the tag columns of the file as it is after this step."""
        ours = self.ours and self.new != self.before
        trace = self.trace.columns if ours and self.trace else {"had_tags": "", "size_before": ""}
        return {
            **row,
            "genre_before": encode(self.before) if ours else "",
            "genre_written": encode(self.new) if ours else "",
            **trace,
        }


def plan(
    path: Path, row: dict, previous: dict | None, overwrite: bool, write_unsure: bool, write_not_music: bool = False
) -> Change:
    """What writing `row`'s answer into `path` would do. `previous` is the row of an earlier run for the same file:
    when the file still holds the genre that run wrote, the genre is this command's, not the owner's. A file the
    music gate took for something else gets no genre unless `write_not_music` (rows of an output written before the
    gate have `music` "": music)."""
    written = decode((previous or {}).get("genre_written"))
    previous_before, previous_trace = decode((previous or {}).get("genre_before")), Trace.of(previous)
    try:
        now, trace = _read(path)
    except TagWriteError as err:
        return Change(path, "error", [], written, previous_before, bool(written), str(err), trace=previous_trace)
    ours = bool(written) and now == written
    before, trace = (previous_before, previous_trace) if ours else (now, trace)
    decision = decide(row, now, ours, overwrite, write_unsure, write_not_music)
    genre = decision.genre
    if decision.action == "write":
        written_by = provenance(row["model"], float(row["confidence"]))
        return Change(path, "write", now, [genre], before, True, written_by, ours, trace)
    if decision.action == "keep":
        return Change(path, "keep", now, now, now, False, f"kept: the owner's genre (--overwrite writes {genre})")
    note = {
        "same": "already holds it",
        "not music": f"not written: {NOT_MUSIC} (--write-not-music writes {genre})",
        "unsure": f"not written: {decision.said.text} (--write-unsure writes {genre})",
    }[decision.action]
    return Change(path, decision.action, now, now, before, ours, note, trace=trace)


def plan_undo(path: Path, row: dict) -> Change | None:
    """What `--undo` does to one file: put back the owner's genre where the file still holds what this command
    wrote (none where it had none), and the file as it was where the row records it; None where the row records no
    write."""
    written = decode(row.get("genre_written"))
    if not written:
        return None
    before = decode(row.get("genre_before"))
    try:
        now = read_genres(path)
    except TagWriteError as err:
        return Change(path, "error", [], written, before, True, str(err), trace=Trace.of(row))
    if now != written:
        return Change(path, "keep", now, now, before, False, "kept: its genre was changed since it was written")
    return Change(path, "write", now, before, before, False, held=True, trace=Trace.of(row), undo=True)


def apply(change: Change, row: dict) -> dict:
    """Make the change in the file; returns the row to record: its tag columns, and the file's new size and time
    (a later run must not take the file for a changed one). A failed write turns the change into an error."""
    if change.action == "write":
        try:
            write_genres(change.path, change.new, change.note or None, change.trace if change.undo else None)
        except TagWriteError as err:
            change.action, change.note = "error", str(err)
            change.new, change.ours = change.now, change.held
            return change.recorded(row)
        info = change.path.stat()
        row = {**row, "size": info.st_size, "mtime": info.st_mtime}
    return change.recorded(row)


def summary(changes: list[Change], dry_run: bool, undo: bool = False) -> list[str]:
    """The end of a run in lines: how many files changed, and the files kept, not music, unsure or not writable,
    by name."""
    count = Counter(change.action for change in changes)
    if undo:
        lines = [
            f"Genres {'to put back' if dry_run else 'put back'}: {count['write']}; kept because changed since: "
            f"{count['keep']}; could not be read or written: {count['error']}."
        ]
        groups = {"keep": "Kept, changed since this command wrote them:"}
    else:
        lines = [
            f"Genres {'to write' if dry_run else 'written'}: {count['write']}; already there: {count['same']}; "
            f"the owner's kept: {count['keep']}; not music, not written: {count['not music']}; unsure, not "
            f"written: {count['unsure']}; could not be read or written: {count['error']}."
        ]
        groups = {
            "keep": "Kept the owner's genre (--overwrite replaces it):",
            "not music": "Not music, not written (--write-not-music writes the top genre):",
            "unsure": "Unsure, not written (--write-unsure writes the top genre):",
        }
    groups["error"] = "Could not read or write the tags of:"
    for action, title in groups.items():
        if named := [change for change in changes if change.action == action]:
            lines += [
                title,
                *(
                    f"  {change.path}: {' / '.join(change.now) or change.note}"
                    if action == "keep"
                    else f"  {change.path}: {change.note}"
                    for change in named
                ),
            ]
    return lines
