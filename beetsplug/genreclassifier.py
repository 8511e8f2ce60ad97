"""beets plugin `genreclassifier`: `beet genreclassify [QUERY]` classifies the matching items' audio.

Each item is decoded and classified exactly as `python -m genre_classifier tag` does it (the same `MODEL_ID`,
`DEVICE`, `PRECISION` and `MAX_DURATION_S`, through tag.py's own functions: five windows of a long item, `-a` every
one). The top genre goes into `genres`
(`genre` before beets 2.7) as people write it ("Hip-Hop"), unless the item has a genre already (`-f` replaces
it), the music gate does not take it for music (`-n` writes it anyway) or the answer is unsure (`-u` writes it
anyway); the confidence, the gate's music score and the ten probabilities become typed flexible attributes
(`beet ls genre_confidence:0.8..`, `beet ls genre_music_score:..0.5`). Load it with, in beets' config.yaml:

    pluginpath: [/path/to/this/repository/beetsplug]
    plugins: genreclassifier
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from beets import ui
from beets.dbcore import types
from beets.library import Item
from beets.plugins import BeetsPlugin
from beets.util import displayable_path

try:
    from genre_classifier import GENRES
    from genre_classifier.core.settings import Settings
    from genre_classifier.library import batch, policy, rows, tag
except ImportError:  # a checkout, not installed: the package sits beside this folder
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from genre_classifier import GENRES
    from genre_classifier.core.settings import Settings
    from genre_classifier.library import batch, policy, rows, tag

GENRE_FIELD = "genres" if "genres" in Item._fields else "genre"  # beets 2.7 made the genre a list
PROBABILITY = {genre: f"genre_{genre}" for genre in GENRES}  # genre_blues ... genre_rock


class GenreClassifierPlugin(BeetsPlugin):
    item_types = {  # typed, so that queries compare numbers: genre_confidence:0.8..
        "genre_confidence": types.Float(3),  # three decimals shown, as the tag command's summary gives them
        "genre_music_score": types.Float(3),  # the music gate's score: below its threshold, not music
        **dict.fromkeys(PROBABILITY.values(), types.Float(3)),
        "genre_model": types.STRING,  # the MODEL_ID that answered: items it answered are skipped next time
        "genre_written": types.STRING,  # the genre this plugin set, so a later run knows it is not the owner's
    }

    def commands(self) -> list[ui.Subcommand]:
        cmd = ui.Subcommand("genreclassify", help="classify the genre of items from their audio")
        cmd.parser.add_option(
            "-f",
            "--force",
            action="store_true",
            default=False,
            help="classify items the same model answered before, and replace genres already set",
        )
        cmd.parser.add_option(
            "-p", "--pretend", action="store_true", default=False, help="show what would change, and change nothing"
        )
        cmd.parser.add_option(
            "-u", "--unsure", action="store_true", default=False, help="set the top genre of an unsure answer too"
        )
        cmd.parser.add_option(
            "-n",
            "--not-music",
            action="store_true",
            default=False,
            help="set the top genre of an item the music gate does not take for music (speech, noise) too",
        )
        cmd.parser.add_option(
            "-w",
            "--write",
            action="store_true",
            default=None,
            help="write the genre into the files' tags (default: the import.write setting)",
        )
        cmd.parser.add_option(
            "-W", "--nowrite", action="store_false", dest="write", help="do not write the files' tags"
        )
        cmd.parser.add_option(
            "-a",
            "--all-windows",
            action="store_true",
            default=False,
            help="analyse every 30 s window of a long item, not five spread over it",
        )
        cmd.func = self.command
        return [cmd]

    def command(self, lib, opts, args: list[str]) -> None:
        try:
            settings = Settings.from_environment()
        except ValueError as err:  # a mistyped PRECISION, with the choices
            raise ui.UserError(str(err)) from None
        model_id = settings.model_id
        items = list(lib.items(args))
        todo = [item for item in items if opts.force or item.get("genre_model") != model_id]
        if skipped := len(items) - len(todo):
            ui.print_(f"{skipped} item(s) already classified by {model_id} are skipped (-f classifies them again).")
        if not todo:
            return
        try:
            classifier = tag.load_model(settings)
        except tag.TagError as err:
            raise ui.UserError(str(err)) from None
        write = ui.should_write(opts.write)
        by_path = {Path(os.fsdecode(item.path)): item for item in todo}
        workers = batch.decoding_workers(classifier)
        sample = None if opts.all_windows else batch.SAMPLED_WINDOWS
        processes = batch.file_processes(classifier, len(by_path))
        if processes > 1:
            self._log.info("classifying {} items in {} processes", len(by_path), processes)
        answers = batch.classify_files(classifier, list(by_path), workers, sample, processes)
        try:
            for done, tagged in enumerate(answers, 1):
                item = by_path[tagged.path]
                progress = f"[{done}/{len(by_path)}]"
                if tagged.error:
                    self._log.warning("{} skipped {}: {}", progress, tagged.path, tagged.error)
                    continue
                row = rows.result_row(str(tagged.path), tagged.prediction, tagged.seconds, tagged.notes)
                name = format(item) if item.title else displayable_path(item.path)  # untagged items: their file
                ui.print_(f"{progress} {name}: {self.update(item, row, model_id, opts)}")
                if opts.pretend:
                    ui.show_model_changes(item, print_obj=False)
                    continue
                item.store()
                if write:
                    item.try_write()
        except tag.TagError as err:  # its processes kept dying (`batch.MAX_DEATHS`)
            raise ui.UserError(str(err)) from None

    def update(self, item: Item, row: dict, model_id: str, opts) -> str:
        """Set the item's fields from one answer (in memory); returns what happened to its genre, in words."""
        now = _genres(item)
        ours = bool(item.get("genre_written")) and now == [item.get("genre_written")]
        decision = policy.decide(row, now, ours, opts.force, opts.unsure, opts.not_music)
        genre = decision.genre
        item["genre_confidence"] = row["confidence"]
        if row["music_score"] != "":  # "": not gated
            item["genre_music_score"] = row["music_score"]
        item["genre_model"] = model_id
        for g, name in PROBABILITY.items():
            item[name] = row[g]
        if decision.action == "same":
            return f"{genre} ({row['confidence']:.2f}), already set"
        if decision.action == "keep":
            return f"{genre} ({row['confidence']:.2f}); kept its genre {' / '.join(now)} (-f replaces it)"
        if decision.action == "not music":
            return f"not music ({row['music_score']:.2f}); genre not set (-n sets {genre})"
        if decision.action == "unsure":
            return f"{decision.said.text} ({row['confidence']:.2f}); genre not set (-u sets {genre})"
        item[GENRE_FIELD] = [genre] if GENRE_FIELD == "genres" else genre
        item["genre_written"] = genre
        return f"{genre} ({row['confidence']:.2f})"


def _genres(item: Item) -> list[str]:
    value = item.get(GENRE_FIELD)
    if not value:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]
