"""Load a checkpoint (a Hub id, a local folder, or the embedded model), saying in words why one cannot serve.

The Hub is checked up front: its client retries for about a minute before it gives up.
"""

from __future__ import annotations

import logging
import re
import socket
from pathlib import Path
from urllib.parse import urlparse

from .errors import CheckpointError, first_line
from .model import BaselineClassifier, Classifier, TransformerClassifier
from .settings import Settings

log = logging.getLogger(__name__)

BASELINE_ID = "baseline"


def hub_reachable(timeout: float = 3.0) -> bool:
    """False when offline mode is on or the Hub cannot be reached within `timeout` seconds.

    Checked up front because the Hub client retries for about a minute before it gives up.
    """
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    url = urlparse(constants.ENDPOINT)
    try:
        socket.create_connection((url.hostname, url.port or 443), timeout=timeout).close()
    except OSError:
        return False
    return True


def local_only(model_id: str) -> bool:
    """Whether `model_id` is read from disk alone: a folder, or a Hub id while the Hub cannot be reached (its cache
    then answers at once, instead of after a minute of retries)."""
    return Path(model_id).is_dir() or not hub_reachable()


HUB_ID = re.compile(r"^([\w.-]+/)?[\w.-]+$")  # owner/name (or a legacy bare name), as the Hub spells repo ids
# How PyTorch words an allocation that failed where it raises a plain RuntimeError (its CPU allocator)
OUT_OF_MEMORY = re.compile(r"out of memory|can't allocate memory|not enough memory", re.IGNORECASE)


def out_of_memory(err: BaseException) -> bool:
    """Whether `err` is an allocation that failed: a GPU's or the CPU's memory is too small for the checkpoint."""
    import torch

    return isinstance(err, (MemoryError, torch.OutOfMemoryError)) or bool(OUT_OF_MEMORY.search(str(err)))


def why_not_loaded(model_id: str, err: Exception) -> str:
    """The cause of a failed load that a person can act on, from the error chain and local facts."""
    from huggingface_hub import constants
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    chain = [err]
    while chain[-1].__cause__ or chain[-1].__context__:
        chain.append(chain[-1].__cause__ or chain[-1].__context__)
    folder = Path(model_id).expanduser()
    if isinstance(err, CheckpointError):
        return str(err)
    if memory := next((e for e in chain if out_of_memory(e)), None):
        return f"there is not enough memory to load it ({first_line(memory)})"
    # The error's own words where no better cause is known: an operator can act on them (the traceback is logged)
    words = f"{type(err).__name__}: {first_line(err)}"
    if folder.is_dir():
        if not (folder / "config.json").is_file():
            return "the folder holds no config.json, so it is not a checkpoint (train/finetune.py writes one)"
        return f"its files could not be read as a checkpoint ({words})"
    if not HUB_ID.match(model_id) or model_id.startswith((".", "~")):
        return f"the folder {model_id} does not exist"
    if "/" not in model_id:
        return f"there is no folder {model_id} here (a Hub id has the form owner/name)"
    if any(isinstance(e, GatedRepoError) for e in chain):
        return "it is a gated repo on the Hub: accept its terms on its page and log in (hf auth login or HF_TOKEN)"
    if any(isinstance(e, RepositoryNotFoundError) for e in chain):
        return "no such repo on the Hub, or it is private: check the id, or log in (hf auth login or HF_TOKEN)"
    if constants.HF_HUB_OFFLINE:
        return "the Hub is switched off (HF_HUB_OFFLINE=1) and it is not in the local cache"
    if not hub_reachable():
        return "the Hugging Face Hub could not be reached (no network?) and it is not in the local cache"
    return f"it could not be loaded from the Hub ({words})"


def load_exact(model_id: str, settings: Settings | None = None, batch_size: int | None = None) -> Classifier:
    """The classifier for `model_id` and no other, for what must not answer with another model than the one asked
    for (`tag`, `train.evaluate`): `CheckpointError` says in words why it cannot be loaded. A mistyped setting
    (PRECISION) is a setting to fix (`ValueError`, from reading the environment), not a checkpoint problem.
    `batch_size`: windows per forward pass, where not the model's default (`tag --batch-size`)."""
    settings = settings or Settings.from_environment()
    if model_id == BASELINE_ID:
        return BaselineClassifier(max_seconds=settings.max_seconds, batch_size=batch_size)
    try:
        return TransformerClassifier.from_pretrained(
            model_id, settings=settings, local_only=local_only(model_id), batch_size=batch_size
        )
    except Exception as err:  # no network, unknown id, not an audio classifier...
        raise CheckpointError(why_not_loaded(model_id, err)) from err


def load_classifier(model_id: str | None = None, settings: Settings | None = None) -> tuple[Classifier, str | None]:
    """The classifier for `model_id` (default: the settings' `MODEL_ID`), or the embedded model if it cannot load.

    Returns the classifier and, after a fallback, a sentence saying why.
    """
    settings = settings or Settings.from_environment()
    model_id = model_id or settings.model_id
    try:
        return load_exact(model_id, settings), None
    except CheckpointError as cause:
        # With the traceback, at the level an operator reads: the sentence names the cause, the traceback its place
        log.warning("Could not load %s: %s; serving the embedded offline model", model_id, cause, exc_info=True)
        reason = f"The checkpoint {model_id} could not be loaded: {cause}. The offline model answers instead."
        return BaselineClassifier(max_seconds=settings.max_seconds), reason
