"""Music genre classification shared by the Gradio app and the training scripts."""

from . import numba_cache

# Before anything imports numba: processes compiling librosa's kernels at once must not break the shared cache.
numba_cache.install()

GENRES = ["blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock"]
