"""int8 for OpenVINO's CPU forward: post-training quantization with NNCF, calibrated on the shipped music.

The calibration windows are the app's own examples (CC clips that ship in the package): every other window
calibrates, the rest check how faithful the int8 model is to fp32 (`fidelity`), on this CPU, before `auto` may
take it (`runtime.choose`). The head stays in float, and so does the convolutional front end of wav2vec2-style
models (HuBERT, DistilHuBERT): quantizing it wrecks their accuracy (wav2vec2 in the field: 1-WER 0.947 -> 0.50).
CPUs without VNNI multiply int8 through 16-bit sums that can saturate: NNCF's overflow fix keeps the weights within
7 bits there.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .. import examples_dir
from .audio import load_audio, split_windows
from .extractor import featurize

# Faithful: on every check window, probabilities within 0.005 of fp32's and logits pointing the same way. The top
# genre then changes only where fp32's own lead is under 0.01, a toss-up either way (counting such flips would judge a
# random-weight model, whose leads are a few thousandths, by noise). Half the 0.01 the tests ask of bf16, because
# the shipped check windows are few: on 300 windows of other music the largest difference came out 1.6 x theirs for
# AST (0.011 against 0.007; benchmarks/precision.py).
FAITHFUL_DP = 0.005
FAITHFUL_COSINE = 0.99  # the int8 logits' least cosine similarity to fp32's
# Kept in float: every model's head (its classifier and projector: little compute, and its small logits are what
# int8 would round away; quantized, a random-weight tiny HuBERT kept the top genre of none of the check windows), and
# wav2vec2-style models' convolutional front end, its positional convolution and the projection out of it.
HEAD = [r".*classifier.*", r".*projector.*"]
FRONT_END = [r".*feature_extractor.*", r".*pos_conv_embed.*", r".*feature_projection.*"]
FLOAT_SCOPES = {"hubert": HEAD + FRONT_END, "wav2vec2": HEAD + FRONT_END}


def available() -> bool:
    try:
        import nncf  # noqa: F401
    except ImportError:
        return False
    return True


def vnni() -> bool:
    """Whether the CPU sums int8 products without saturating (VNNI, or AMX's int8 tiles), as far as oneDNN may use
    them (`ONEDNN_MAX_CPU_ISA=AVX512_CORE` stands for a CPU without)."""
    limit = os.environ.get("ONEDNN_MAX_CPU_ISA", "").upper()
    if limit and not any(isa in limit for isa in ("VNNI", "AMX", "BF16", "FP16")):
        return False
    try:
        flags = next(line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags"))
    except (OSError, StopIteration):  # not Linux: assume the older, saturating instructions
        return False
    return bool(set(flags.split()) & {"avx512_vnni", "avx_vnni", "amx_int8"})


def folder_name() -> str:
    """The int8 model's folder beside the conversion: calibrated with the overflow fix or without, per CPU."""
    return "int8-vnni" if vnni() else "int8-overflow-fix"


def windows(feature_extractor: Any, sampling_rate: int, window_seconds: float) -> list[dict[str, np.ndarray]]:
    """The shipped examples cut into the model's windows as the app cuts a clip, each featurized alone."""
    size, out = int(round(window_seconds * sampling_rate)), []
    for path in sorted(examples_dir().glob("*.ogg")):
        cut, _ = split_windows(load_audio(path, sampling_rate).samples, size)
        out += [dict(featurize(feature_extractor, [w], sampling_rate, tensors="np")) for w in cut]
    return out


def quantize(model: Any, model_type: str, names: list[str], calibration: list[dict[str, np.ndarray]]) -> Any:
    """The OpenVINO model with its matmuls (and the convolutions allowed) in int8, calibrated on `calibration`."""
    import nncf

    scope = nncf.IgnoredScope(patterns=FLOAT_SCOPES.get(model_type, HEAD), validate=False)
    overflow = nncf.OverflowFix.DISABLE if vnni() else nncf.OverflowFix.ENABLE
    return nncf.quantize(
        model,
        nncf.Dataset(calibration, lambda inputs: [inputs[name] for name in names]),
        model_type=nncf.ModelType.TRANSFORMER,
        subset_size=len(calibration),
        ignored_scope=scope,
        advanced_parameters=nncf.AdvancedQuantizationParameters(overflow_fix=overflow),
    )


def fidelity(fp32: list[np.ndarray], int8: list[np.ndarray]) -> dict[str, float]:
    """How close int8's logits are to fp32's, window by window: the share with the same top genre, the least cosine
    similarity, the largest probability difference."""

    def softmax(x: np.ndarray) -> np.ndarray:
        e = np.exp(x - x.max())
        return e / e.sum()

    flat = [np.asarray(x, np.float64).ravel() for x in (*fp32, *int8)]
    pairs = list(zip(flat[: len(fp32)], flat[len(fp32) :], strict=True))
    return {
        "windows": len(pairs),
        "same_top": float(np.mean([a.argmax() == b.argmax() for a, b in pairs])),
        "cosine_min": float(min(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)) for a, b in pairs)),
        "max_dp": float(max(np.abs(softmax(a) - softmax(b)).max() for a, b in pairs)),
    }


def faithful(measured: dict[str, float]) -> bool:
    return measured["max_dp"] <= FAITHFUL_DP and measured["cosine_min"] >= FAITHFUL_COSINE
