"""The one place a GPU is borrowed. On a ZeroGPU Space `spaces.GPU` lends one for each call of a transformer's
forward, in a worker process that receives the arguments and returns the result pickled: numpy arrays in and
out, nothing else (no file, no plot, no message). Elsewhere `spaces.GPU` returns the function unchanged."""

from __future__ import annotations

import math

import numpy as np
import spaces

from ..core.model import Classifier, TransformerClassifier

GPU_STARTUP_SECONDS = 5  # asked of ZeroGPU per call on top of the windows: its worker starts and takes the weights
GPU_SECONDS_PER_WINDOW = 0.2  # generous: one window's forward takes milliseconds on a data-centre GPU


def zero_gpu() -> bool:
    """Whether this is a ZeroGPU Space, as the `spaces` package decides (`SPACES_ZERO_GPU`)."""
    from spaces.config import Config

    return Config.zero_gpu


def gpu_seconds(inputs: dict[str, np.ndarray]) -> int:
    """The GPU time one forward call asks ZeroGPU for, from the number of windows it carries.

    Shorter requests queue sooner, and a visitor's quota must hold the whole request, so it follows the clip.
    """
    windows = len(next(iter(inputs.values())))
    return math.ceil(GPU_STARTUP_SECONDS + GPU_SECONDS_PER_WINDOW * windows)


def borrow(classifier: Classifier) -> Classifier:
    """Have `classifier`'s forward borrow the GPU for each call (at start-up: ZeroGPU counts the functions then)."""
    if isinstance(classifier, TransformerClassifier):
        classifier.lend_forward(spaces.GPU(duration=gpu_seconds))
    elif zero_gpu():
        # ZeroGPU refuses to start a Space that declares no GPU function; the embedded model needs none.
        spaces.GPU(lambda: None)
    return classifier
