"""The core: audio, features, models and their runtime, the music gate, answers and settings.

It knows neither Gradio nor Spaces."""

import numpy  # noqa: F401  (before the limit below, which applies to the BLAS libraries already loaded)
from threadpoolctl import threadpool_limits

# numpy's BLAS on one thread: its products here are small (the features' mel and chroma banks), and a second
# OpenBLAS thread doubled their CPU time for no speed, time taken from the model's forward or the decoding beside them.
threadpool_limits(1, user_api="blas")
