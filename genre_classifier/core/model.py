"""One `Classifier` interface for transformer checkpoints and the embedded model (loading them: `loading.py`).

Every classifier cuts a clip into its own window length, classifies the windows in batches and
averages their probabilities; the app, `train/finetune.py` and `train/evaluate.py` share this code.
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from .. import GENRES
from . import gate, runtime
from .audio import AudioInput, Clip, load_audio, split_windows
from .baseline import BaselineModel
from .errors import CheckpointError, first_line
from .extractor import featurize, window_seconds_for
from .features import SAMPLING_RATE as FEATURE_RATE
from .features import WINDOW_SECONDS as FEATURE_WINDOW
from .features import extract_features
from .settings import Settings

log = logging.getLogger(__name__)


def clip_is_music(music_windows: np.ndarray) -> bool:
    """A clip is music when at least half its windows are (a clip of no windows is)."""
    return bool(np.mean(music_windows) >= 0.5) if len(music_windows) else True


def clip_probs(window_probs: np.ndarray, music_windows: np.ndarray) -> np.ndarray:
    """A clip's answer: the mean of its music windows when it is music, else the mean of all its windows."""
    if clip_is_music(music_windows) and not music_windows.all():
        return window_probs[music_windows].mean(axis=0)
    return window_probs.mean(axis=0)


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
    music_scores: np.ndarray | None = None  # the gate's music score per window, 0 to 1 (None: not gated)
    window_sounds: tuple[str, ...] = ()  # the likeliest other sound per window ("voice", "noise", "tone")

    @classmethod
    def from_windows(
        cls,
        labels: list[str],
        window_probs: np.ndarray,
        spans: list[tuple[float, float]],
        heard: gate.Heard | None,
        total_windows: int | None = None,
    ) -> Prediction:
        """The prediction of windows classified as `window_probs`, where the gate heard `heard` (None: not gated)."""
        if heard is None:
            return cls(labels, window_probs, spans, total_windows)
        return cls(labels, window_probs, spans, total_windows, heard.music, tuple(heard.sounds))

    @property
    def complete(self) -> bool:
        return self.total_windows is None or len(self.window_spans) >= self.total_windows

    @property
    def music_windows(self) -> np.ndarray:
        """Whether each window passes the music gate (all of them when the clip was not gated)."""
        if self.music_scores is None:
            return np.ones(len(self.window_probs), dtype=bool)
        return gate.is_music(self.music_scores)

    @property
    def is_music(self) -> bool:
        return clip_is_music(self.music_windows)

    @property
    def music_score(self) -> float | None:
        """The gate's music probability for the clip: the mean of its windows' (None: not gated)."""
        return None if self.music_scores is None else float(np.mean(self.music_scores))

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
        return clip_probs(self.window_probs, self.music_windows)

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
    # Whether its work on a file is all Python and numpy on the CPU, which one process's lock keeps to about one core:
    # a library is then tagged a file a process, one a core (`batch.file_processes`)
    in_processes: bool = False
    max_seconds: float = 600.0  # the longest stretch of a clip analysed (MAX_DURATION_S); the rest is ignored

    @abstractmethod
    def predict_windows(self, windows: np.ndarray) -> np.ndarray:
        """Probabilities (n_windows, n_labels) for an array of windows (n_windows, n_samples), in batches."""

    def window_predictor(self) -> Callable[[np.ndarray], np.ndarray]:
        """`predict_windows` on the runtime of the moment, kept for a whole clip: a faster runtime that takes over
        mid-clip answers from the next clip on, so that no clip is answered half by one runtime, half by another."""
        return self.predict_windows

    def switch_runtime(self, nice: int = 0) -> threading.Thread | None:
        """Move the forward to a faster runtime in the background, where there is one (a transformer on a CPU)."""
        return None

    def decode(self, source: AudioInput, max_seconds: float | None = None) -> Clip:
        """Decode any input at this model's rate, keeping its full band for the music gate (`audio.load_audio`)."""
        max_seconds = self.max_seconds if max_seconds is None else max_seconds
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
        gated = isinstance(clip, Clip)
        heard = gate.Heard(np.empty(0), []) if gated else None
        predict = self.window_predictor()
        with ThreadPoolExecutor(1, thread_name_prefix="gate") as beside:
            for i in range(0, len(windows), step):
                # The gate hears the batch while the forward runs: hidden behind a GPU's call, where the CPU waits.
                hearing = beside.submit(gate.listen, clip.gate_audio, spans[i : i + step]) if gated else None
                probs = np.concatenate([probs, predict(windows[i : i + step])])
                if hearing is not None:
                    more = hearing.result()
                    heard = gate.Heard(np.concatenate([heard.music, more.music]), [*heard.sounds, *more.sounds])
                yield Prediction.from_windows(self.labels, probs, spans[: len(probs)], heard, len(spans))

    def classify(self, clip: Clip | np.ndarray) -> Prediction:
        """Classify every window of a clip, batched, and average them (see `predictions`)."""
        *_, prediction = self.predictions(clip)
        return prediction


class BaselineClassifier(Classifier):
    """The embedded feature model: works offline, needs no checkpoint."""

    sampling_rate = FEATURE_RATE
    window_seconds = FEATURE_WINDOW
    batch_size = 1
    in_processes = True

    def __init__(
        self, model: BaselineModel | None = None, max_seconds: float = 600.0, batch_size: int | None = None
    ) -> None:
        self.model = model or BaselineModel.load()
        self.max_seconds = max_seconds
        self.batch_size = batch_size or self.batch_size
        self.labels = self.model.labels
        self.description = (
            "Offline model: the embedded feature model (librosa features + small MLP), "
            f"{self.model.cv_accuracy:.1%} 10-fold cross-validated accuracy on GTZAN"
        )

    def predict_windows(self, windows: np.ndarray) -> np.ndarray:
        return self.model.predict_proba(np.stack([extract_features(w) for w in windows]))


GPU_BATCH = 16  # windows per forward pass on a GPU (8 min of DistilHuBERT windows): bounds its memory


class TransformerClassifier(Classifier):
    """Any `AutoModelForAudioClassification` checkpoint with its feature extractor.

    What varies is given to it, never patched in from outside: the longest stretch analysed and the windows per
    forward pass at construction (`from_pretrained` takes them from the settings and the caller), a GPU lender for
    its forward through `lend_forward`, and OpenVINO through `switch_runtime`, which swaps its own `runtime`.
    """

    def __init__(
        self,
        model,
        feature_extractor,
        model_id: str,
        device: str = "cpu",
        precision: str = "fp32",
        runtime: str = "openvino",
        max_seconds: float = 600.0,
        batch_size: int | None = None,
        auto_precision: bool = False,
    ) -> None:
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
        self.runtime_wanted = runtime  # RUNTIME: "torch" keeps PyTorch
        self.max_seconds = max_seconds
        fits = GPU_BATCH if self.on_gpu else 3 if self.window_seconds < 15 else 1
        self.batch_size = batch_size or fits  # `tag --batch-size` asks for another
        self.step_windows = 4 * GPU_BATCH if self.on_gpu else fits
        self.auto_precision = auto_precision  # PRECISION=auto: on a CPU, OpenVINO takes the one measured fastest there
        self.describe()
        # PyTorch's forward over featurized windows: numpy arrays in and out, nothing else, so that a ZeroGPU Space
        # can borrow a GPU for each call (`lend_forward`).
        self.forward = self._forward

    def describe(self, runtime: str = "") -> None:
        """The line that tells a person which model answers, and how (`runtime`: its runtime and why)."""
        how = f"{self.precision} {runtime}" if runtime else self.precision
        self.description = (
            f"Model: {self.model_id} ({self.model.config.model_type}, {self.window_seconds:g} s "
            f"windows, {self.device}, {how})"
        )

    def lend_forward(self, lender: Callable[[Callable], Callable]) -> None:
        """Have every call of PyTorch's forward go through `lender(forward)`: on a ZeroGPU Space, `spaces.GPU`, which
        lends a GPU for each call (`web/gpu.py`; at start-up, when ZeroGPU counts its functions)."""
        self.forward = lender(self._forward)

    @classmethod
    def from_pretrained(
        cls,
        model_id: str,
        device: str | None = None,
        settings: Settings | None = None,
        local_only: bool = False,
        batch_size: int | None = None,
    ) -> TransformerClassifier:
        """Load a Hub id or folder (with `local_only`, from the Hub cache alone: `loading.py` decides);
        `CheckpointError` says in words what makes a checkpoint unusable here. `batch_size`: windows per forward
        pass, where not the device's default."""
        import torch
        from transformers import AutoConfig, AutoFeatureExtractor, AutoModelForAudioClassification
        from transformers.models.auto.modeling_auto import MODEL_FOR_AUDIO_CLASSIFICATION_MAPPING

        settings = settings or Settings.from_environment()
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
        device = device or settings.torch_device()
        try:
            precision = settings.precision_on(device)
        except ValueError as err:  # PRECISION=int8 on a GPU
            raise CheckpointError(str(err)) from err
        try:
            return cls(
                model,
                feature_extractor,
                model_id,
                device,
                precision,
                settings.runtime,
                settings.max_seconds,
                batch_size,
                settings.precision == "auto",
            )
        except torch.OutOfMemoryError:
            raise  # the device is there, the checkpoint does not fit: `why_not_loaded` says so
        except (RuntimeError, AssertionError) as err:  # "Torch not compiled with CUDA enabled", "invalid device"
            raise CheckpointError(f"it cannot be placed on the device {device} (DEVICE): {first_line(err)}") from err

    def predict_windows(self, windows: np.ndarray) -> np.ndarray:
        return self.window_predictor()(windows)

    def window_predictor(self) -> Callable[[np.ndarray], np.ndarray]:
        runtime = self.runtime  # OpenVINO once it is ready (CPU only), else PyTorch (`self.forward`)

        def predict(windows: np.ndarray) -> np.ndarray:
            inputs = dict(featurize(self.feature_extractor, windows, self.sampling_rate, tensors="np"))
            return self.forward(inputs) if runtime is None else self._batched(runtime, inputs)

        return predict

    def _forward(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """PyTorch's forward over featurized windows, in batches: probabilities (n_windows, n_labels)."""
        return self._batched(self._torch_forward, inputs)

    def _batched(self, forward: Callable[[dict], np.ndarray], inputs: dict[str, np.ndarray]) -> np.ndarray:
        n = len(next(iter(inputs.values())))
        return np.concatenate(
            [forward({k: v[i : i + self.batch_size] for k, v in inputs.items()}) for i in range(0, n, self.batch_size)]
        )

    def _torch_forward(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        import torch

        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.precision)  # int8: fp32 until OpenVINO
        device_type = "cuda" if self.device.startswith("cuda") else "cpu"
        with torch.inference_mode(), torch.autocast(device_type, dtype=dtype, enabled=dtype is not None):
            tensors = {k: torch.from_numpy(v).to(self.device) for k, v in batch.items()}
            return self.model(**tensors).logits.float().softmax(dim=-1).cpu().numpy()

    def switch_runtime(self, nice: int = 0) -> threading.Thread | None:
        """On a CPU, move the forward to OpenVINO in the background (`runtime.py`); the conversion, if the cache has
        none, runs at niceness `nice`. Returns the thread that does it, or None where PyTorch stays."""
        if self.on_gpu or self.precision not in runtime.PRECISIONS or self.runtime_wanted != "openvino":
            return None
        if not runtime.available():
            log.info("OpenVINO is not installed: the forward stays on PyTorch")
            return None
        window = np.zeros(int(round(self.window_seconds * self.sampling_rate)), np.float32)
        example = dict(featurize(self.feature_extractor, [window], self.sampling_rate, tensors="np"))
        return runtime.start(self, example, self._take_runtime, nice)

    def _take_runtime(self, forward: runtime.Forward) -> None:
        """OpenVINO's forward, once ready, answers from the next clip on (`window_predictor` reads `runtime` once a
        clip), at the precision it was given, which the description then names."""
        self.precision = forward.precision
        self.runtime = forward
        self.describe(f"on OpenVINO, {forward.why}")
