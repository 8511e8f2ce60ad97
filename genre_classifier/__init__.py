"""Music genre classification shared by the Gradio app and the training scripts."""

from pathlib import Path

from .core import numba_cache

# Before anything imports numba: processes compiling librosa's kernels at once must not break the shared cache.
numba_cache.install()

GENRES = ["blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock"]


def examples_dir() -> Path:
    """The example clips: the copy inside an installed package (`genre-classifier serve`), else the repository's
    top-level examples/ (a clone, a Space)."""
    here = Path(__file__).resolve().parent
    return here / "examples" if (here / "examples").is_dir() else here.parent / "examples"
