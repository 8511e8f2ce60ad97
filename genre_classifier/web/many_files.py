"""The "Many files" tab: drop several files, watch a table fill in file by file, download the answers as CSV.

Each file goes through the same path as the Clip tab's `/classify`, one after the other: `Classifier.decode`, then
`classify`, whose model forward alone runs under `@spaces.GPU` on a ZeroGPU Space. A file that cannot be read gets
its row with the reason and the others go on. For a whole library, `python -m genre_classifier tag`
(genre_classifier/library/tag.py) writes the same columns.
"""

from __future__ import annotations

import csv
import logging
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import gradio as gr

from ..core.audio import AudioError
from ..core.model import Classifier
from ..library.rows import COLUMNS, error_row, result_row
from . import limits
from .api_docs import TAG_DOC

log = logging.getLogger(__name__)

MAX_FILES = 20  # per request: one request holds its queue slot until every file is done
HEADERS = ["File", "Genre", "Confidence", "Seconds", "Windows", "Note"]


def table_rows(rows: list[dict]) -> list[list]:
    """The page's table: the CSV's rows without the ten probabilities, the confidence in per cent as the Clip tab
    says it (the CSV keeps the number)."""
    return [
        [r["path"], r["genre"], f"{r['confidence']:.0%}" if r["genre"] else "", r["seconds"], r["windows"], r["note"]]
        for r in rows
    ]


def file_row(classifier: Classifier, name: str, source: AbstractContextManager[str]) -> dict:
    """One file's row (the Many files tab's and the agents' `tag`): its answer, or why it could not be read. `source`
    gives the file's path while it is open; a gr.Error from it (an agent's URL refused) is that file's reason. One odd
    file must not cost the others their answers; the Space's own refusals (GPU quota...) end the request."""
    try:
        try:
            with source as path:
                clip = classifier.decode(path)
        except gr.Error as err:
            raise AudioError(err.message) from err
        # The model's forward borrows the GPU on a ZeroGPU Space (inside the classifier), as for /classify.
        return result_row(name, classifier.classify(clip), clip.seconds, clip.notes)
    except AudioError as err:
        return error_row(name, str(err))
    except gr.Error:
        raise
    except Exception:
        log.exception("Tagging %s failed", name)
        return error_row(name, "It could not be classified (the server log says why).")


@contextmanager
def _uploaded(path: str) -> Iterator[str]:
    """An upload's path, while the limits have not removed it."""
    if limits.gone(path):
        raise AudioError(limits.EXPIRED)
    yield path


def make_tag(classifier: Classifier):
    """The tab's event handler: a generator that yields the table after each file, and the CSV at the end."""

    def tag(files: list[str] | None, progress: gr.Progress = gr.Progress()):  # noqa: B008 (Gradio's idiom)
        if not files:
            raise gr.Error("Drop one or more audio or video files first.", print_exception=False)
        if len(files) > MAX_FILES:
            raise gr.Error(
                f"{len(files)} files were dropped; up to {MAX_FILES} are tagged at a time. For a whole library, "
                "run `python -m genre_classifier tag` (see the README).",
                print_exception=False,
            )
        rows: list[dict] = []
        for i, path in enumerate(files):
            name = Path(path).name  # the name it was uploaded with, not the server's copy
            progress(i / len(files), desc=f"File {i + 1} of {len(files)}")
            rows.append(file_row(classifier, name, _uploaded(path)))
            yield table_rows(rows), None  # the CSV comes at the end (None, not gr.skip(): see ui.make_classify)
        log.info("Tagged %d files, %d unreadable", len(rows), sum(not r["genre"] for r in rows))
        # Gradio copies the file into its own cache as the value goes out, before the generator resumes and the
        # folder is removed.
        with tempfile.TemporaryDirectory(prefix="genres-") as folder:
            csv_path = Path(folder) / "genres.csv"
            with open(csv_path, "w", newline="", encoding="utf-8") as out:
                writer = csv.DictWriter(out, COLUMNS)
                writer.writeheader()
                writer.writerows(rows)
            yield table_rows(rows), str(csv_path)

    tag.__doc__ = TAG_DOC.format(most=MAX_FILES)
    return tag


def many_files_tab(classifier: Classifier) -> None:
    """The tab, created inside the current `gr.Blocks`; its event is the API's `/tag`."""
    with gr.Tab("Many files"):
        gr.Markdown(
            f"Drop up to **{MAX_FILES} files** at once: the table fills in as each one is classified, and the CSV "
            "holds all ten genre probabilities of every file. A file that cannot be read gets its row with the "
            "reason. For a whole music library, use the command line: `python -m genre_classifier tag`."
        )
        files = gr.File(
            file_count="multiple",
            type="filepath",
            label=f"Audio or video files (up to {MAX_FILES})",
            elem_id="tag-files",
        )
        button = gr.Button("Tag files", variant="primary")
        # Long names and notes wrap, and the file and its genre take most of a phone's width.
        table = gr.Dataframe(
            headers=HEADERS,
            label="Genre per file",
            interactive=False,
            elem_id="tag-table",
            wrap=True,
            column_widths=["28%", "24%", "14%", "12%", "10%", "12%"],
        )
        csv_file = gr.File(label="CSV", elem_id="tag-csv")
        gr.on(
            [button.click, files.upload],
            make_tag(classifier),
            inputs=files,
            outputs=[table, csv_file],
            api_name="tag",
            show_progress="minimal",
            concurrency_id="tag",
        )
