"""A checkpoint's feature extractor as serving, training and the OpenVINO conversion call it: its natural window
and the call itself, in one place so that they cannot drift apart."""

from __future__ import annotations

import numpy as np

DEFAULT_WINDOW_SECONDS = 30.0  # HuBERT / wav2vec2-style models: the GTZAN recipe's clip length
AST_FRAME_SECONDS = 0.01  # AST's filterbank hop: max_length frames of 10 ms


def window_seconds_for(feature_extractor) -> float:
    """The model's natural window: AST's `max_length` frames, Whisper's chunk, else 30 s."""
    if hasattr(feature_extractor, "max_length") and hasattr(feature_extractor, "num_mel_bins"):
        return feature_extractor.max_length * AST_FRAME_SECONDS
    return float(getattr(feature_extractor, "chunk_length", DEFAULT_WINDOW_SECONDS))


def featurize(feature_extractor, windows: list[np.ndarray] | np.ndarray, sampling_rate: int, tensors: str = "pt"):
    """The feature-extractor call, shared by serving and training (same padding; torch or numpy arrays). Whisper's
    encoder takes only its full 30 s of frames: a shorter window is padded to them."""
    padding = "max_length" if hasattr(feature_extractor, "nb_max_frames") else True
    return feature_extractor(list(windows), sampling_rate=sampling_rate, padding=padding, return_tensors=tensors)
