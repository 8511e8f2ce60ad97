"""OpenVINO for a transformer's forward on a CPU: the same checkpoint converted once and cached on disk.

In bf16 on a CPU with AVX512-BF16 its forward runs about 1.5 x faster than PyTorch's (AST's attention most of all),
in fp32 about a quarter faster (`benchmarks/runtimes.py`), with the same answers (`tests/test_runtime.py`). The app
never waits for it: it serves on PyTorch from the start while `start` loads the cached conversion (a second) or
converts (10-20 s on 2 cores, the first time for a checkpoint) in the background, and the classifier switches once the
converted model has answered a first window. The conversion runs in a child process, whose priority the server
sets to the lowest (niceness 19), so that it takes only the CPU that visitors leave.

The cache lives under the Hugging Face cache (`HF_HOME`; on a Space with persistent storage, set to /data/.huggingface)
or in `OPENVINO_CACHE`; each entry is named by a digest of the weights, the config and the OpenVINO version, so a new
checkpoint or release converts afresh, and only the last few entries are kept.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import softmax

log = logging.getLogger(__name__)

KEEP = 3  # converted checkpoints kept in the cache (AST's is 330 MB, DistilHuBERT's 90 MB)
PRECISIONS = {"fp32": "f32", "bf16": "bf16"}  # ours -> OpenVINO's inference precision; fp16 stays on PyTorch
CONVERT_TIMEOUT_S = 900  # a conversion takes 10-20 s on 2 cores; at idle priority it may wait out busy minutes


def cache_root() -> Path:
    """Where converted models are kept: `OPENVINO_CACHE`, else `<HF_HOME>/genre-classifier/openvino`."""
    from huggingface_hub import constants

    return Path(os.environ.get("OPENVINO_CACHE") or Path(constants.HF_HOME) / "genre-classifier" / "openvino")


def available() -> bool:
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


def _logits(model, names: list[str]):
    """The classifier from its inputs, by position, to its logits: what the converter traces. (PyTorch is imported
    here, not with the module: the app starts without it when it serves the embedded model.)"""
    import torch

    class Logits(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *inputs):
            return self.model(**dict(zip(names, inputs, strict=True))).logits

    return Logits()


def fingerprint(model, names: list[str]) -> str:
    """A digest of everything the converted model depends on: weights, config, input names, OpenVINO's version."""
    import openvino
    import torch

    digest = hashlib.blake2b(digest_size=16)  # 32 hex digits: what `_prune` knows the app's folders by
    for text in (openvino.get_version(), model.config.to_json_string(), *names):
        digest.update(text.encode())
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


class Forward:
    """A compiled OpenVINO model with `TransformerClassifier._forward`'s contract for one batch: numpy inputs by
    name in, probabilities (n_windows, n_labels) out. Safe to call from several threads (a request each)."""

    def __init__(self, compiled, names: list[str], how: str) -> None:
        self.compiled, self.names, self.how = compiled, names, how

    def __call__(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        logits = self.compiled.create_infer_request().infer([batch[name] for name in self.names])[0]
        return softmax(np.asarray(logits, dtype=np.float64), axis=-1).astype(np.float32)


def _decline_telemetry() -> None:
    """OpenVINO's converter sends usage data to Intel unless the machine's user opted out; where nobody has
    decided, record "no", as `opt_in_out --opt_out` would (without its own network call)."""
    try:
        from openvino_telemetry.utils.opt_in_checker import ConsentCheckResult, OptInChecker
    except ImportError:  # no telemetry package, nothing is sent
        return
    checker = OptInChecker()
    if checker.check(enable_opt_in_dialog=False) == ConsentCheckResult.NO_FILE:
        checker.update_result(ConsentCheckResult.DECLINED)


# What `convert` writes, and nothing else: OPENVINO_CACHE may be a folder shared with other programs (/data,
# ~/.cache), whose folders are not the app's to delete. A conversion is named by its `fingerprint` (32 hex digits)
# and holds model.xml; one under way is `<fingerprint>.<pid>.partial`.
_CONVERSION = re.compile(r"[0-9a-f]{32}")
_PARTIAL = re.compile(r"[0-9a-f]{32}\.\d+\.partial")


def _prune(root: Path, keep: int = KEEP) -> None:
    """Keep the `keep` most recently used conversions, and remove what a conversion killed halfway left behind
    (a `.partial` folder older than any conversion is let run). Only the app's own folders are touched."""
    entries = []
    for entry in root.iterdir():
        if not entry.is_dir() or entry.is_symlink():
            continue
        if _PARTIAL.fullmatch(entry.name) and time.time() - entry.stat().st_mtime > CONVERT_TIMEOUT_S:
            shutil.rmtree(entry, ignore_errors=True)
        elif _CONVERSION.fullmatch(entry.name) and (entry / "model.xml").is_file():
            entries.append(entry)
    entries.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    for old in entries[keep:]:
        shutil.rmtree(old, ignore_errors=True)


def convert(model_id: str, folder: Path, example: dict[str, np.ndarray]) -> None:
    """Convert the checkpoint into `folder` (OpenVINO's IR, fp32 weights), whole or not at all. Refuses when the
    weights read from `model_id` are not those `folder` is named after (the checkpoint changed meanwhile)."""
    import openvino as ov
    import torch
    from transformers import AutoModelForAudioClassification

    model = AutoModelForAudioClassification.from_pretrained(model_id, local_files_only=True).eval()
    if fingerprint(model, list(example)) != folder.name:
        raise RuntimeError(f"{model_id} is not the checkpoint the app loaded")
    _decline_telemetry()
    with torch.inference_mode():
        inputs = tuple(torch.from_numpy(value) for value in example.values())
        converted = ov.convert_model(_logits(model, list(example)), example_input=inputs)
    folder.parent.mkdir(parents=True, exist_ok=True)
    partial = folder.with_name(f"{folder.name}.{os.getpid()}.partial")
    ov.save_model(converted, partial / "model.xml", compress_to_fp16=False)  # the weights exactly
    try:
        partial.rename(folder)  # whole, at once: another process may read the entry at any time
    except OSError:  # another process (a second rank of `tag`) got there first, with the same conversion
        shutil.rmtree(partial, ignore_errors=True)
    _prune(folder.parent)


def _convert_aside(model_id: str, folder: Path, example: dict[str, np.ndarray], nice: int) -> None:
    """`convert` in a child process at niceness `nice`: the server's visitors keep the CPU while it runs (the
    tracing and OpenVINO's passes use every core; a thread's priority cannot cover them)."""
    shapes = {name: [list(value.shape), value.dtype.str] for name, value in example.items()}
    command = [sys.executable, "-m", __name__, model_id, str(folder), json.dumps(shapes), str(nice)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=CONVERT_TIMEOUT_S)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or [f"exit status {done.returncode}"]
        raise RuntimeError(f"the conversion failed: {lines[-1]}")


def load(classifier: Any, example: dict[str, np.ndarray], nice: int = 0) -> Forward:
    """`classifier`'s model compiled for this CPU at its precision, from the cache, else converted and cached."""
    import openvino as ov

    folder = cache_root() / fingerprint(classifier.model, list(example))
    started = time.perf_counter()
    how = "from the cache"
    for attempt in range(2):
        if not (folder / "model.xml").exists():
            _convert_aside(classifier.model_id, folder, example, nice)
            how = f"converted in {time.perf_counter() - started:.1f} s"
        try:
            converted = ov.Core().read_model(folder / "model.xml")
            break
        except RuntimeError as err:  # a damaged entry: converted afresh, once
            if attempt:
                raise
            log.warning("The cached OpenVINO model in %s is unreadable (%s); converting again", folder, err)
            shutil.rmtree(folder, ignore_errors=True)
    os.utime(folder)  # recently used: kept by `_prune`
    config = {"INFERENCE_PRECISION_HINT": PRECISIONS[classifier.precision], "PERFORMANCE_HINT": "LATENCY"}
    return Forward(ov.Core().compile_model(converted, "CPU", config), list(example), how)


def start(classifier: Any, example: dict[str, np.ndarray], nice: int = 0) -> threading.Thread:
    """Load or convert `classifier`'s model in the background; once its answer to `example` is in, the classifier
    forwards through it (`classifier.runtime`). A failure leaves it on PyTorch, saying why in the log."""

    def run() -> None:
        try:
            forward = load(classifier, example, nice)
            forward(example)  # its first call prepares kernels for the shape: not a visitor's wait
        except Exception as err:
            log.warning("OpenVINO could not take the forward (%s: %s); staying on PyTorch", type(err).__name__, err)
            return
        classifier.runtime = forward
        log.info("Forward on OpenVINO (%s, %s)", classifier.precision, forward.how)

    thread = threading.Thread(target=run, name="openvino", daemon=True)
    thread.start()
    return thread


if __name__ == "__main__":  # the child process of `_convert_aside`
    model_id, folder, shapes, nice = sys.argv[1:]
    os.nice(int(nice))
    convert(model_id, Path(folder), {name: np.zeros(*spec) for name, spec in json.loads(shapes).items()})
