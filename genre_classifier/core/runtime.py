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

A CPU flag says what a CPU can do, not what is fast on it (an Intel Xeon with AVX512-BF16 but no AMX runs OpenVINO's
bf16 slower than its fp32). So `PRECISION=auto` times the precisions this CPU can run (fp32, bf16 where it has the
units, int8 where NNCF is installed and the int8 model gives fp32's answers on the shipped music: `int8.py`) on the
model's own forward, in the same child process, and takes the fastest (`choose`); the choice is kept beside the
converted model, one file per CPU kind.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import softmax

from . import int8
from .extractor import window_seconds_for
from .settings import native_bf16

log = logging.getLogger(__name__)

KEEP = 3  # converted checkpoints kept in the cache (AST's is 330 MB, DistilHuBERT's 90 MB)
# ours -> OpenVINO's inference precision (int8: the quantized model, its float parts in f32); fp16 stays on PyTorch
PRECISIONS = {"fp32": "f32", "bf16": "bf16", "int8": "f32"}
BY_FIDELITY = ("fp32", "bf16", "int8")  # the most faithful first
MARGIN = 0.05  # a less faithful precision is taken only when it is this much faster
# int8, even where faithful, moves some toss-ups (DistilHuBERT without VNNI: 98.3 % of 300 windows kept their top
# genre, benchmarks/precision.py): it is taken only where it pays, this much faster than the fastest float precision
INT8_MARGIN = 0.2
MEASURE_CALLS = 2  # timed calls of each precision, after a first one: a few seconds in all
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

    def __init__(self, compiled, names: list[str], how: str, precision: str = "fp32", why: str = "") -> None:
        self.compiled, self.names, self.how, self.precision, self.why = compiled, names, how, precision, why

    def logits(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        return self.compiled.create_infer_request().infer([batch[name] for name in self.names])[0]

    def __call__(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        return softmax(np.asarray(self.logits(batch), dtype=np.float64), axis=-1).astype(np.float32)


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


def cpu_kind() -> str:
    """What a precision's speed depends on besides the model: the CPU's name and instruction sets, its cores, and
    a limit on oneDNN's instructions (`ONEDNN_MAX_CPU_ISA`), as a short digest that names the choice's file."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        info = [line for line in lines if line.startswith(("model name", "flags"))]
    except OSError:  # not Linux
        import platform

        info = [platform.processor(), platform.machine()]
    facts = [*sorted(set(info)), str(os.cpu_count()), os.environ.get("ONEDNN_MAX_CPU_ISA", "")]
    return hashlib.blake2b("\n".join(facts).encode(), digest_size=6).hexdigest()


def candidates(setting: str) -> list[str]:
    """The precisions the setting (`PRECISION`) may be served in on this CPU, the most faithful first."""
    if setting != "auto":
        return [setting]
    return ["fp32", *(["bf16"] if native_bf16("cpu") else []), *(["int8"] if int8.available() else [])]


def _choice_file(folder: Path) -> Path:
    return folder / f"precision-{cpu_kind()}.json"


def _model_file(folder: Path, precision: str) -> Path:
    return folder / int8.folder_name() / "model.xml" if precision == "int8" else folder / "model.xml"


def measure(
    forwards: dict[str, Callable[[dict], Any]], example: dict[str, np.ndarray], calls: int = MEASURE_CALLS
) -> dict[str, float]:
    """Seconds of each forward on `example`: the best of `calls` after a first call, taking turns call by call, so
    that other work on the machine slows each alike."""
    for forward in forwards.values():
        forward(example)  # prepares its kernels for the shape
    best = dict.fromkeys(forwards, math.inf)
    for _ in range(calls):
        for name, forward in forwards.items():
            started = time.perf_counter()
            forward(example)
            best[name] = min(best[name], time.perf_counter() - started)
    return best


def choose(seconds: dict[str, float], fidelity: dict[str, float] | None = None) -> tuple[str, str]:
    """The precision to serve, and why in words: the fastest measured, int8 only where it kept fp32's answers
    (`fidelity`) and is `INT8_MARGIN` faster; a less faithful one only when it is more than `MARGIN` faster."""
    usable = {p: s for p, s in seconds.items() if p != "int8" or (fidelity is not None and int8.faithful(fidelity))}
    floats = min(s for p, s in usable.items() if p != "int8")
    if usable.get("int8", math.inf) > floats * (1 - INT8_MARGIN):
        usable.pop("int8", None)
    fastest = min(usable.values())
    chosen = next(p for p in BY_FIDELITY if p in usable and usable[p] <= fastest * (1 + MARGIN))
    times = ", ".join(f"{p} {s:.2f} s" for p, s in sorted(seconds.items(), key=lambda item: item[1]))
    why = f"measured fastest on this CPU (one window: {times})"
    if "int8" in seconds and "int8" not in usable and fidelity is not None:
        why += (
            f"; int8 left out: on {fidelity['windows']} windows of the shipped music its probabilities moved by up "
            f"to {fidelity['max_dp']:.3f}, its logits' cosine to fp32's {fidelity['cosine_min']:.3f}"
        )
    return chosen, why


def _shipped_windows(model_id: str) -> list[dict[str, np.ndarray]]:
    from transformers import AutoFeatureExtractor

    extractor = AutoFeatureExtractor.from_pretrained(model_id, local_files_only=True)
    return int8.windows(extractor, extractor.sampling_rate, window_seconds_for(extractor))


def quantize(model_id: str, folder: Path, names: list[str]) -> None:
    """The int8 model beside the fp32 conversion in `folder`, calibrated on every other shipped window, with how
    faithful it is to fp32 on the other windows (`fidelity.json`)."""
    import openvino as ov
    from transformers import AutoConfig

    core, shipped = ov.Core(), _shipped_windows(model_id)
    model_type = AutoConfig.from_pretrained(model_id, local_files_only=True).model_type
    quantized = int8.quantize(core.read_model(folder / "model.xml"), model_type, names, shipped[::2])
    target = _model_file(folder, "int8").parent
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    ov.save_model(quantized, partial / "model.xml", compress_to_fp16=False)
    forwards = {p: _compiled(folder, p, names, model=model) for p, model in (("fp32", None), ("int8", partial))}
    check = shipped[1::2]  # the windows it was not calibrated on
    (partial / "fidelity.json").write_text(
        json.dumps(int8.fidelity(*([f.logits(w) for w in check] for f in forwards.values())))
    )
    try:
        partial.rename(target)
    except OSError:  # another process got there first
        shutil.rmtree(partial, ignore_errors=True)


def _compiled(
    folder: Path, precision: str, names: list[str], how: str = "", why: str = "", model: Path | None = None
) -> Forward:
    import openvino as ov

    core = ov.Core()
    config = {"INFERENCE_PRECISION_HINT": PRECISIONS[precision], "PERFORMANCE_HINT": "LATENCY"}
    path = model / "model.xml" if model else _model_file(folder, precision)
    return Forward(core.compile_model(core.read_model(path), "CPU", config), names, how, precision, why)


def measure_and_choose(folder: Path, example: dict[str, np.ndarray], wanted: list[str]) -> dict:
    """Time each precision in `wanted` on this CPU and keep the choice beside the conversion, for this CPU kind
    (int8 only where `quantize` found it faithful)."""
    seconds = measure({p: _compiled(folder, p, list(example)).logits for p in wanted}, example)
    fidelity_file = _model_file(folder, "int8").parent / "fidelity.json"
    fidelity = json.loads(fidelity_file.read_text()) if "int8" in wanted else None
    chosen, why = choose(seconds, fidelity)
    choice = {"chosen": chosen, "why": why, "seconds": seconds, "int8": fidelity, "cpu_kind": cpu_kind()}
    partial = _choice_file(folder).with_suffix(f".{os.getpid()}.partial")
    partial.write_text(json.dumps(choice, indent=1))
    partial.replace(_choice_file(folder))  # whole, at once
    return choice


def _todo(folder: Path, setting: str) -> list[str]:
    """What `prepare` has left to do for `setting` in `folder`."""
    wanted = candidates(setting)
    steps = [] if (folder / "model.xml").is_file() else ["converted"]
    if "int8" in wanted and not _model_file(folder, "int8").is_file():
        steps.append("quantized")
    if setting == "auto" and not _choice_file(folder).is_file():
        steps.append("timed")
    return steps


def prepare(model_id: str, folder: Path, example: dict[str, np.ndarray], setting: str) -> None:
    """Everything the forward at `setting` needs in the cache: the conversion, the int8 model, the choice."""
    steps = _todo(folder, setting)
    if "converted" in steps:
        convert(model_id, folder, example)
    if "quantized" in steps:
        if not int8.available():
            raise RuntimeError("PRECISION=int8 needs NNCF (pip install nncf)")
        quantize(model_id, folder, list(example))
    if "timed" in steps:
        measure_and_choose(folder, example, candidates(setting))


def _prepare_aside(model_id: str, folder: Path, example: dict[str, np.ndarray], nice: int, setting: str) -> None:
    """`prepare` in a child process at niceness `nice`: the server's visitors keep the CPU while it runs (the
    tracing, OpenVINO's passes, the calibration and the timing use every core; a thread's priority cannot cover
    them). Its timings are measured at that priority too: on a busy server they are slower, but alike."""
    shapes = {name: [list(value.shape), value.dtype.str] for name, value in example.items()}
    command = [sys.executable, "-m", __name__, model_id, str(folder), json.dumps(shapes), str(nice), setting]
    done = subprocess.run(command, capture_output=True, text=True, timeout=CONVERT_TIMEOUT_S)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or [f"exit status {done.returncode}"]
        raise RuntimeError(f"the conversion failed: {lines[-1]}")  # or the int8 quantization, or the timing


def load(classifier: Any, example: dict[str, np.ndarray], nice: int = 0) -> Forward:
    """`classifier`'s model compiled for this CPU at its precision (`auto`: the one measured fastest here), from the
    cache, else converted (quantized, timed) and cached."""
    import openvino as ov

    setting = "auto" if classifier.auto_precision else classifier.precision
    folder = cache_root() / fingerprint(classifier.model, list(example))
    started = time.perf_counter()
    how = "from the cache"
    for attempt in range(2):
        if steps := _todo(folder, setting):
            _prepare_aside(classifier.model_id, folder, example, nice, setting)
            how = f"{', '.join(steps)} in {time.perf_counter() - started:.1f} s"
        try:
            ov.Core().read_model(folder / "model.xml")
            break
        except RuntimeError as err:  # a damaged entry: converted afresh, once
            if attempt:
                raise
            log.warning("The cached OpenVINO model in %s is unreadable (%s); converting again", folder, err)
            shutil.rmtree(folder, ignore_errors=True)
    os.utime(folder)  # recently used: kept by `_prune`
    if setting == "auto":
        choice = json.loads(_choice_file(folder).read_text())
        precision, why = choice["chosen"], choice["why"]
    else:
        precision, why = setting, "as PRECISION says"
    return _compiled(folder, precision, list(example), how, why)


def start(
    classifier: Any, example: dict[str, np.ndarray], take: Callable[[Forward], None], nice: int = 0
) -> threading.Thread:
    """Load or convert `classifier`'s model in the background; once its answer to `example` is in, it is handed to
    `take` (the classifier's own switch). A failure leaves the classifier on PyTorch, saying why in the log."""

    def run() -> None:
        try:
            forward = load(classifier, example, nice)
            forward(example)  # its first call prepares kernels for the shape: not a visitor's wait
        except Exception as err:
            log.warning("OpenVINO could not take the forward (%s: %s); staying on PyTorch", type(err).__name__, err)
            return
        take(forward)
        log.info("Forward on OpenVINO (%s, %s): %s", forward.precision, forward.how, forward.why)

    thread = threading.Thread(target=run, name="openvino", daemon=True)
    thread.start()
    return thread


if __name__ == "__main__":  # the child process of `_prepare_aside`
    model_id, folder, shapes, nice, setting = sys.argv[1:]
    os.nice(int(nice))
    example = {name: np.zeros(*spec) for name, spec in json.loads(shapes).items()}
    prepare(model_id, Path(folder), example, setting)
