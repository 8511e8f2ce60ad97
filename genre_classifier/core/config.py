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


def zero_gpu() -> bool:
    """Whether this is a ZeroGPU Space, as the `spaces` package decides (`SPACES_ZERO_GPU`)."""
    from spaces.config import Config

    return Config.zero_gpu


PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def precision_setting() -> str:
    """`PRECISION` as set: one of `PRECISIONS`; `ValueError` for anything else."""
    wanted = os.environ.get("PRECISION", "auto").strip().lower() or "auto"
    if wanted not in PRECISIONS:
        raise ValueError(f"PRECISION must be one of {', '.join(PRECISIONS)}, not {wanted!r}")
    return wanted


def precision(device: str) -> str:
    """The transformer's precision on `device`: fp32, bf16 or fp16. `auto` (the default) takes bf16 where the
    hardware computes it natively, fp16 on other GPUs, else fp32."""
    wanted = precision_setting()
    if wanted != "auto":
        return wanted
    if native_bf16(device):
        return "bf16"
    return "fp16" if device.startswith("cuda") else "fp32"


RUNTIMES = ("openvino", "torch")


def runtime() -> str:
    """`RUNTIME`: what runs a transformer's forward on a CPU. `openvino` (the default) switches to OpenVINO once the
    converted model is ready, where it is installed; `torch` stays on PyTorch. `ValueError` for anything else."""
    wanted = os.environ.get("RUNTIME", "openvino").strip().lower() or "openvino"
    if wanted not in RUNTIMES:
        raise ValueError(f"RUNTIME must be one of {', '.join(RUNTIMES)}, not {wanted!r}")
    return wanted


def native_bf16(device: str) -> bool:
    """Whether `device` has bf16 units: AVX512-BF16 or AMX on a CPU (elsewhere oneDNN emulates bf16, slower than
    fp32), Ampere or newer on a GPU (a T4 only emulates it)."""
    import torch

    if device.startswith("cuda"):  # on ZeroGPU, outside GPU calls, `spaces` reports the properties of the GPU it lends
        return torch.cuda.is_bf16_supported(including_emulation=False)
    return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
