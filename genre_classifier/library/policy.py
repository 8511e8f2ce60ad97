"""When a genre goes into a music file's tags: one policy for `tag --write-tags` and the beets plugin. The owner's
genre is kept, an unsure answer and a file that is not music get none, unless the person asked for it."""

from __future__ import annotations

from dataclasses import dataclass

from .. import GENRES
from ..core.answer import Verdict, verdict

DISPLAY_NAMES = {
    "blues": "Blues",
    "classical": "Classical",
    "country": "Country",
    "disco": "Disco",
    "hiphop": "Hip-Hop",
    "jazz": "Jazz",
    "metal": "Metal",
    "pop": "Pop",
    "reggae": "Reggae",
    "rock": "Rock",
}


def display_name(genre: str) -> str:
    """The genre as people write it in tags: "Hip-Hop", not "hiphop"."""
    return DISPLAY_NAMES.get(genre, genre.title())


@dataclass(frozen=True)
class Decision:
    action: str  # "write"; or "same" (holds it already), "keep" (the owner's genre), "not music", "unsure"
    genre: str  # the answer's top genre, as tags write it
    said: Verdict  # the answer in words


def decide(row: dict, now: list[str], ours: bool, overwrite: bool, unsure: bool, not_music: bool) -> Decision:
    """What to do with `row`'s answer (a `tag` row) for a file holding the genres `now` (`ours`: written by us, not
    the owner). The flags are the person's: replace the owner's genre, write an unsure answer or a sound that is
    not music. A row of an output written before the music gate (`music` "") is taken for music."""
    genre = display_name(row["genre"])
    said = verdict(GENRES, [float(row[g]) for g in GENRES])
    if now == [genre]:
        action = "same"
    elif now and not ours and not overwrite:
        action = "keep"
    elif row.get("music") == "no" and not not_music:
        action = "not music"
    elif not said.clear and not unsure:
        action = "unsure"
    else:
        action = "write"
    return Decision(action, genre, said)
