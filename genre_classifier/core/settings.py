"""The settings of the README's Configuration, read from the environment once, at start, into one frozen object
that the server, `tag`, the beets plugin and training pass down. A value that cannot mean anything is a
ValueError with a sentence, before anything loads."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_MODEL_ID = "sanchit-gandhi/distilhubert-finetuned-gtzan"
PRECISIONS = ("auto", "fp32", "bf16", "fp16", "int8")
RUNTIMES = ("openvino", "torch")
MIN_MAX_SECONDS = 0.5  # MAX_DURATION_S below the shortest clip classified (audio.MIN_SECONDS) would refuse all


@dataclass(frozen=True)
class Settings:
    model_id: str = DEFAULT_MODEL_ID  # MODEL_ID: a Hub id, a local folder, or "baseline" for the embedded model
    device: str = ""  # DEVICE: a torch device; empty: CUDA when present, else the CPU
    precision: str = "auto"  # PRECISION: one of PRECISIONS (see `precision_on`)
    runtime: str = "openvino"  # RUNTIME: what runs a transformer's forward on a CPU, once converted
    max_seconds: float = 600.0  # MAX_DURATION_S: the longest stretch analysed per request; the rest is ignored
    upload_budget: str = "5gb"  # UPLOAD_BUDGET (a tenth of a Space's 50 GB disk), written as MAX_FILE_SIZE is
    upload_ttl: float = 300.0  # UPLOAD_TTL: seconds an unused upload is kept (the page asks at once, an API within s)
    max_file_size: str = "300mb"  # MAX_FILE_SIZE
    queue_size: int = 64  # QUEUE_SIZE: requests waiting at once, all visitors
    behind_proxy: bool = False  # SPACE_ID is set: Spaces' proxy names the visitor in X-Forwarded-For
    mcp_server: bool | None = True  # None where GRADIO_MCP_SERVER is set: Gradio reads it itself
    feedback_dir: str = ""  # FEEDBACK_DIR: where visitors' corrections are kept (core/feedback.py); empty: off

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ

        def text(name: str, default: str) -> str:
            return env.get(name, "").strip() or default

        def seconds(name: str, default: float, least: float = 0.0) -> float:
            # float() also reads "inf" and "nan", which no comparison refuses: a finite value is asked for by name.
            try:
                value = float(text(name, str(default)))
            except ValueError:
                value = math.nan
            if not (math.isfinite(value) and value >= least and value > 0):
                accepts = f"from {least:g} up" if least else "above 0"
                raise ValueError(f"{name} must be a number {accepts} (finite seconds), not {env.get(name)!r}")
            return value

        def count(name: str, default: int) -> int:
            try:
                value = int(text(name, str(default)))
            except ValueError:
                value = 0
            if value <= 0:
                raise ValueError(f"{name} must be a whole number above 0, not {env.get(name)!r}")
            return value

        precision, runtime = text("PRECISION", "auto").lower(), text("RUNTIME", "openvino").lower()
        if precision not in PRECISIONS:
            raise ValueError(f"PRECISION must be one of {', '.join(PRECISIONS)}, not {precision!r}")
        if runtime not in RUNTIMES:
            raise ValueError(f"RUNTIME must be one of {', '.join(RUNTIMES)}, not {runtime!r}")
        if precision == "int8" and runtime != "openvino":
            raise ValueError("PRECISION=int8 runs on OpenVINO only: set RUNTIME=openvino, or another PRECISION")
        device = text("DEVICE", "")
        if device and not _is_torch_device(device):
            raise ValueError(f"DEVICE must be a torch device such as cpu, cuda or cuda:1, not {device!r}")
        return cls(
            model_id=text("MODEL_ID", DEFAULT_MODEL_ID),
            device=device,
            precision=precision,
            runtime=runtime,
            max_seconds=seconds("MAX_DURATION_S", 600.0, least=MIN_MAX_SECONDS),
            upload_budget=text("UPLOAD_BUDGET", "5gb").lower(),
            upload_ttl=seconds("UPLOAD_TTL", 300.0),
            max_file_size=text("MAX_FILE_SIZE", "300mb"),
            queue_size=count("QUEUE_SIZE", 64),
            behind_proxy=bool(env.get("SPACE_ID")),
            mcp_server=None if "GRADIO_MCP_SERVER" in env else True,
            feedback_dir=text("FEEDBACK_DIR", ""),
        )

    def torch_device(self) -> str:
        """`DEVICE` if set, else CUDA when present."""
        import torch

        return self.device or ("cuda" if torch.cuda.is_available() else "cpu")

    def precision_on(self, device: str) -> str:
        """The precision the transformer starts with on `device`: fp32, bf16, fp16 or int8. `auto` starts in bf16
        where the hardware computes it natively, fp16 on other GPUs, else fp32; on a CPU, OpenVINO then takes the
        precision that measures fastest there (`runtime.choose`). int8 is OpenVINO's, on a CPU only."""
        if self.precision == "int8" and device != "cpu":
            raise ValueError(f"PRECISION=int8 runs on a CPU only (OpenVINO), not on {device}: choose auto or fp16")
        if self.precision != "auto":
            return self.precision
        if native_bf16(device):
            return "bf16"
        return "fp16" if device.startswith("cuda") else "fp32"


def native_bf16(device: str) -> bool:
    """Whether `device` has bf16 units: AVX512-BF16 or AMX on a CPU (elsewhere oneDNN emulates bf16, slower than
    fp32), Ampere or newer on a GPU (a T4 only emulates it)."""
    import torch

    if device.startswith("cuda"):  # on ZeroGPU, outside GPU calls, `spaces` reports the properties of the GPU it lends
        return torch.cuda.is_bf16_supported(including_emulation=False)
    return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()


def _is_torch_device(name: str) -> bool:
    """Whether torch reads `name` as a device ("cpu", "cuda:1", "mps"); whether this machine has it is the model
    loader's to say."""
    import torch

    try:
        torch.device(name)
    except (RuntimeError, ValueError):
        return False
    return True
