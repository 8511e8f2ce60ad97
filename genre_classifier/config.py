"""Settings read from environment variables (documented in the README)."""

import os

DEFAULT_MODEL_ID = "sanchit-gandhi/distilhubert-finetuned-gtzan"


def model_id() -> str:
    """Checkpoint to serve: a Hub id, a local folder, or "baseline" for the embedded model."""
    return os.environ.get("MODEL_ID", DEFAULT_MODEL_ID).strip() or DEFAULT_MODEL_ID


def max_seconds() -> float:
    """Longest stretch of audio analysed per request; the rest of a longer upload is ignored."""
    return float(os.environ.get("MAX_DURATION_S", 600))


def device() -> str:
    """Torch device for the transformer: `DEVICE` if set, else CUDA when present."""
    import torch

    return os.environ.get("DEVICE") or ("cuda" if torch.cuda.is_available() else "cpu")
