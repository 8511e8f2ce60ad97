"""Load a checkpoint (Hub id, local folder, or the embedded model) behind one `Classifier` interface.

Every classifier cuts a clip into its own window length, classifies the windows in batches and
averages their probabilities; the app, `train/finetune.py` and `train/evaluate.py` share this code.
"""

from __future__ import annotations

import logging
import math
import re
import socket
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

from .. import GENRES
from . import config, gate
from .audio import AudioInput, Clip, load_audio, split_windows
from .baseline import BaselineModel
from .features import SAMPLING_RATE as FEATURE_RATE
from .features import WINDOW_SECONDS as FEATURE_WINDOW
from .features import extract_features

log = logging.getLogger(__name__)

BASELINE_ID = "baseline"
DEFAULT_WINDOW_SECONDS = 30.0  # HuBERT / wav2vec2-style models: the GTZAN recipe's clip length
AST_FRAME_SECONDS = 0.01  # AST's filterbank hop: max_length frames of 10 ms


@dataclass(frozen=True)
class Prediction:
    """Per-window probabilities of one clip, and what the music gate heard in each window (`gate.py`).

    The clip is music when at least half its windows are; its answer is then the mean of its music windows (a
    podcast's music intro is classified without the talk after it), else the mean of all windows.
    """

    labels: list[str]
    window_probs: np.ndarray  # (n_windows, n_labels)
    window_spans: list[tuple[float, float]]  # (start, end) in seconds
    total_windows: int | None = None  # windows of the whole clip, while an answer is still partial
    window_music: np.ndarray | None = None  # the gate's music probability per window (None: not gated)
    window_sounds: tuple[str, ...] = ()  # the likeliest other sound per window ("voice", "noise", "tone")

    @property
    def complete(self) -> bool:
        return self.total_windows is None or len(self.window_spans) >= self.total_windows

    @property
    def music_windows(self) -> np.ndarray:
        """Whether each window passes the music gate (all of them when the clip was not gated)."""
        if self.window_music is None:
            return np.ones(len(self.window_probs), dtype=bool)
        return gate.is_music(self.window_music)

    @property
    def is_music(self) -> bool:
        return bool(self.music_windows.mean() >= 0.5) if len(self.window_probs) else True

    @property
    def music_score(self) -> float | None:
        """The gate's music probability for the clip: the mean of its windows' (None: not gated)."""
        return None if self.window_music is None else float(np.mean(self.window_music))

    @property
    def sounds_like(self) -> str | None:
        """What the windows that are not music sound like, when most of them agree; else None."""
        other = [s for s, music in zip(self.window_sounds, self.music_windows, strict=False) if not music]
        if not other:
            return None
        sound = max(set(other), key=other.count)
        return sound if other.count(sound) > len(other) / 2 else None

    @property
    def probs(self) -> np.ndarray:
        music = self.music_windows
        if self.is_music and not music.all():
            return self.window_probs[music].mean(axis=0)
        return self.window_probs.mean(axis=0)

    @property
    def top(self) -> str:
        return self.labels[int(self.probs.argmax())]

    def confidences(self) -> dict[str, float]:
        return {label: float(p) for label, p in zip(self.labels, self.probs, strict=True)}


class Classifier(ABC):
    """A model that gives genre probabilities for fixed-length windows of mono audio."""

    description: str  # one line telling a person which model answered
    labels: list[str]
    sampling_rate: int
    window_seconds: float
    batch_size: int = 4  # windows per forward pass: bounds memory on long clips
    step_windows: int | None = None  # windows per partial answer (None: one batch)
    on_gpu: bool = False
    compiles_on_first_use: bool = False  # numba kernels to compile before the first answer (app.py warms them up)

    @abstractmethod
    def predict_windows(self, windows: np.ndarray) -> np.ndarray:
        """Probabilities (n_windows, n_labels) for an array of windows (n_windows, n_samples), in batches."""

    def switch_runtime(self, nice: int = 0) -> threading.Thread | None:
        """Move the forward to a faster runtime in the background, where there is one (a transformer on a CPU)."""
        return None

    def load(self, source: AudioInput, max_seconds: float | None = None) -> Clip:
        """Decode any input at this model's rate, keeping its full band for the music gate (`audio.load_audio`)."""
        max_seconds = config.max_seconds() if max_seconds is None else max_seconds
        return load_audio(source, self.sampling_rate, max_seconds, gate=True)

    def spans(self, samples: np.ndarray) -> tuple[np.ndarray, list[tuple[float, float]]]:
        """The clip's windows (at `sampling_rate`) and their (start, end) in seconds."""
        windows, starts = split_windows(samples, int(round(self.window_seconds * self.sampling_rate)))
        return windows, [(s / self.sampling_rate, (s + windows.shape[1]) / self.sampling_rate) for s in starts]

    def predictions(self, clip: Clip | np.ndarray) -> Iterator[Prediction]:
        """The answer so far after each batch of windows; the last one is the clip's. A `Clip` goes through the
        music gate too (on the CPU, beside the forward); bare samples (at `sampling_rate`) are not gated."""
        samples = clip.samples if isinstance(clip, Clip) else clip
        windows, spans = self.spans(samples)
        probs, step = np.empty((0, len(self.labels))), self.step_windows or self.batch_size
        music, sounds = (np.empty(0), ()) if isinstance(clip, Clip) else (None, ())
        full_band = clip.gate_audio if music is not None else None
        for i in range(0, len(windows), step):
            probs = np.concatenate([probs, self.predict_windows(windows[i : i + step])])
            if music is not None:
                heard = gate.listen(full_band, spans[i : i + step])
                music, sounds = np.concatenate([music, heard.music]), (*sounds, *heard.sounds)
            yield Prediction(self.labels, probs, spans[: len(probs)], len(spans), music, sounds)

    def classify(self, clip: Clip | np.ndarray) -> Prediction:
        """Classify every window of a clip, batched, and average them (see `predictions`)."""
        *_, prediction = self.predictions(clip)
        return prediction


class BaselineClassifier(Classifier):
    """The embedded feature model: works offline, needs no checkpoint."""

    sampling_rate = FEATURE_RATE
    window_seconds = FEATURE_WINDOW
    batch_size = 1
    compiles_on_first_use = True  # librosa's features

    def __init__(self, model: BaselineModel | None = None) -> None:
        self.model = model or BaselineModel.load()
        self.labels = self.model.labels
        self.description = (
            "Offline model: the embedded feature model (librosa features + small MLP), "
            f"{self.model.cv_accuracy:.1%} 10-fold cross-validated accuracy on GTZAN"
        )

    def predict_windows(self, windows: np.ndarray) -> np.ndarray:
        return self.model.predict_proba(np.stack([extract_features(w) for w in windows]))


def window_seconds_for(feature_extractor) -> float:
    """The model's natural window: AST's `max_length` frames, Whisper's chunk, else 30 s."""
    if hasattr(feature_extractor, "max_length") and hasattr(feature_extractor, "num_mel_bins"):
        return feature_extractor.max_length * AST_FRAME_SECONDS
    return float(getattr(feature_extractor, "chunk_length", DEFAULT_WINDOW_SECONDS))


def featurize(feature_extractor, windows: list[np.ndarray] | np.ndarray, sampling_rate: int, tensors: str = "pt"):
    """The feature-extractor call, shared by serving and training (same padding; torch or numpy arrays)."""
    return feature_extractor(list(windows), sampling_rate=sampling_rate, padding=True, return_tensors=tensors)


GPU_BATCH = 16  # windows per forward pass on a GPU (8 min of DistilHuBERT windows): bounds its memory
GPU_STARTUP_SECONDS = 5  # asked of ZeroGPU per call on top of the windows: its worker starts and takes the weights
GPU_SECONDS_PER_WINDOW = 0.2  # generous: one window's forward takes milliseconds on a data-centre GPU


def gpu_seconds(inputs: dict[str, np.ndarray]) -> int:
    """The GPU time one forward call asks ZeroGPU for, from the number of windows it carries.

    Shorter requests queue sooner, and a visitor's quota must hold the whole request, so it follows the clip.
    """
    windows = len(next(iter(inputs.values())))
    return math.ceil(GPU_STARTUP_SECONDS + GPU_SECONDS_PER_WINDOW * windows)


class TransformerClassifier(Classifier):
    """Any `AutoModelForAudioClassification` checkpoint with its feature extractor."""

    def __init__(self, model, feature_extractor, model_id: str, device: str = "cpu", precision: str = "fp32") -> None:
        self.model = model.to(device).eval()
        self.feature_extractor = feature_extractor
        self.device = device
        self.precision = precision  # fp32, or bf16/fp16 autocast: weights stay fp32, matmuls and convs run lower
        self.labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
        self.sampling_rate = feature_extractor.sampling_rate
        self.window_seconds = window_seconds_for(feature_extractor)
        # On a GPU a whole clip (up to 10 min) is one call, in batches of GPU_BATCH, and its answer comes in one
        # step. On a CPU, AST's 10 s windows run about 1.4x faster three at a time (benchmarks/latency.py) and
        # still stream every few seconds; a 30 s window goes alone, so each answer reaches the page at once.
        self.on_gpu = device.startswith("cuda")
        self.model_id = model_id
        self.runtime = None  # an OpenVINO forward (`runtime.Forward`) once `switch_runtime` has one ready
        self.batch_size = GPU_BATCH if self.on_gpu else 3 if self.window_seconds < 15 else 1
        self.step_windows = 4 * GPU_BATCH if self.on_gpu else self.batch_size
        self.description = f"Model: {model_id} ({model.config.model_type}, {self.window_seconds:g} s windows, {device}"
        self.description += f", {precision})"
        # The one place a GPU is needed. On a ZeroGPU Space `spaces.GPU` borrows one for each call, in a worker
        # process that receives the arguments and returns the result pickled: numpy arrays in and out, nothing
        # else (no file, no plot, no message). Elsewhere it returns the function unchanged.
        import spaces

        self.forward = spaces.GPU(duration=gpu_seconds)(self._forward)

    @classmethod
    def from_pretrained(cls, model_id: str, device: str | None = None) -> TransformerClassifier:
        """Load a Hub id or folder; `CheckpointError` says in words what makes a checkpoint unusable here."""
        from transformers import AutoConfig, AutoFeatureExtractor, AutoModelForAudioClassification
        from transformers.models.auto.modeling_auto import MODEL_FOR_AUDIO_CLASSIFICATION_MAPPING

        local_only = Path(model_id).is_dir() or not hub_reachable()
        model_config = AutoConfig.from_pretrained(model_id, local_files_only=local_only)
        if type(model_config) not in MODEL_FOR_AUDIO_CLASSIFICATION_MAPPING:
            raise CheckpointError(f"it is a {model_config.model_type} model, not an audio classifier")
        labels = [str(model_config.id2label[i]) for i in range(model_config.num_labels)]
        if sorted(label.lower() for label in labels) != GENRES:
            shown = ", ".join(labels[:10]) + (", …" if len(labels) > 10 else "")
            raise CheckpointError(f"its labels ({shown}) are not the ten GTZAN genres")
        try:
            feature_extractor = AutoFeatureExtractor.from_pretrained(model_id, local_files_only=local_only)
        except OSError as err:
            raise CheckpointError("it has no feature extractor (preprocessor_config.json)") from err
        model = AutoModelForAudioClassification.from_pretrained(model_id, local_files_only=local_only)
        device = device or config.device()
        return cls(model, feature_extractor, model_id, device, config.precision(device))

    def predict_windows(self, windows: np.ndarray) -> np.ndarray:
        return self.forward(dict(featurize(self.feature_extractor, windows, self.sampling_rate, tensors="np")))

    def _forward(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """The model's forward over featurized windows, in batches: probabilities (n_windows, n_labels)."""
        n = len(next(iter(inputs.values())))
        forward = self.runtime or self._torch_forward  # OpenVINO once it is ready (CPU only), else PyTorch
        return np.concatenate(
            [forward({k: v[i : i + self.batch_size] for k, v in inputs.items()}) for i in range(0, n, self.batch_size)]
        )

    def _torch_forward(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        import torch

        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.precision)
        device_type = "cuda" if self.device.startswith("cuda") else "cpu"
        with torch.inference_mode(), torch.autocast(device_type, dtype=dtype, enabled=dtype is not None):
            tensors = {k: torch.from_numpy(v).to(self.device) for k, v in batch.items()}
            return self.model(**tensors).logits.float().softmax(dim=-1).cpu().numpy()

    def switch_runtime(self, nice: int = 0) -> threading.Thread | None:
        """On a CPU, move the forward to OpenVINO in the background (`runtime.py`); the conversion, if the cache has
        none, runs at niceness `nice`. Returns the thread that does it, or None where PyTorch stays."""
        from . import runtime

        if self.on_gpu or self.precision not in runtime.PRECISIONS or config.runtime() != "openvino":
            return None
        if not runtime.available():
            log.info("OpenVINO is not installed: the forward stays on PyTorch")
            return None
        window = np.zeros(int(round(self.window_seconds * self.sampling_rate)), np.float32)
        example = dict(featurize(self.feature_extractor, [window], self.sampling_rate, tensors="np"))
        return runtime.start(self, example, nice)


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


class CheckpointError(Exception):
    """A checkpoint that loads but cannot serve this app, with the reason in words."""


HUB_ID = re.compile(r"^([\w.-]+/)?[\w.-]+$")  # owner/name (or a legacy bare name), as the Hub spells repo ids


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
    if folder.is_dir():
        if not (folder / "config.json").is_file():
            return "the folder holds no config.json, so it is not a checkpoint (train/finetune.py writes one)"
        return "its files could not be read as a checkpoint (see the server log)"
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
    return "it could not be loaded from the Hub (see the server log)"


def load_exact(model_id: str) -> Classifier:
    """The classifier for `model_id` and no other, for what must not answer with another model than the one asked
    for (`tag`, `train.evaluate`): `CheckpointError` says in words why it cannot be loaded. A mistyped
    PRECISION is a setting to fix (`ValueError`), not a checkpoint problem."""
    config.precision_setting()
    config.runtime()
    if model_id == BASELINE_ID:
        return BaselineClassifier()
    try:
        return TransformerClassifier.from_pretrained(model_id)
    except Exception as err:  # no network, unknown id, not an audio classifier...
        raise CheckpointError(why_not_loaded(model_id, err)) from err


def load_classifier(model_id: str | None = None) -> tuple[Classifier, str | None]:
    """The classifier for `model_id` (default: `MODEL_ID`), or the embedded model if it cannot load.

    Returns the classifier and, after a fallback, a sentence saying why.
    """
    model_id = model_id or config.model_id()
    try:
        return load_exact(model_id), None
    except CheckpointError as cause:
        log.warning("Could not load %s: %s; serving the embedded offline model", model_id, cause)
        log.debug("Loading %s failed", model_id, exc_info=True)
        reason = f"The checkpoint {model_id} could not be loaded: {cause}. The offline model answers instead."
        return BaselineClassifier(), reason
