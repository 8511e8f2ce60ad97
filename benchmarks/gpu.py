"""The GPU check in one command: what a GPU does with this app's models, in under 8 minutes.

    python benchmarks/gpu.py [--runs 5] [--output benchmarks/results/gpu.json]

On a CUDA GPU, with the true-size DistilHuBERT and AST (random weights, ten genres):

- the forward per window at batch 1 and 16, in fp32, bf16 and fp16 (autocast, as the app runs it);
- the app's `/classify` handler with `DEVICE=cuda` on a 30 s clip and ten minutes (`benchmarks/outside.py`'s
  measurement, each yield through Gradio's processing): the request, the forward, and the time outside it;
- `tag` on the real recordings of `../shared/data`, in files per minute;
- fine-tuning steps per second for both models at `train/finetune.py`'s batch size and precision (a training loop on
  random batches of the clips' shapes: forward, backward, AdamW step);
- the training data loader with its default augmentation in 4 workers, against the clips per second the GPU trains;
- the peak GPU memory of each part.

It needs only torch, transformers and numpy; the parts that need the app's other packages (gradio, soundfile, soxr,
spaces) or its data say so in a sentence and are skipped. Without a GPU it refuses in one sentence and records that
nothing was run. Each part's result is written as soon as it is done, so a run cut short keeps what it measured.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "benchmarks" / "results" / "gpu.json"
DISTILHUBERT_CONFIG = ROOT / "tests" / "data" / "distilhubert"  # ntu-spml/distilhubert's architecture
NO_GPU = "No CUDA GPU here (torch.cuda.is_available() is False), so the GPU benchmark was not run."
APP_PACKAGES = ("gradio", "soundfile", "soxr", "spaces")
GENRES = ["blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock"]
FINETUNE_BATCH = 8  # train/finetune.py's presets for both models


def machine() -> dict:
    """`benchmarks/common.py`'s machine record, and the GPU's; the former needs the app's packages."""
    import torch

    try:
        from benchmarks.common import machine as app_machine

        out = app_machine()
    except ImportError as err:  # a GPU machine without soundfile: the essentials, without the helper
        out = {
            "cpu": platform.processor(),
            "cores": os.cpu_count(),
            "torch": torch.__version__,
            "load_average_at_start": os.getloadavg(),
            "note": f"latency.machine() unavailable: {err}",
        }
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        out |= {
            "gpu": props.name,
            "gpu_memory_gb": round(props.total_memory / 2**30, 1),
            "compute_capability": f"{props.major}.{props.minor}",
            "cuda": torch.version.cuda,
            "bf16_supported": torch.cuda.is_bf16_supported(),
        }
    return out


def models() -> dict:
    """Each model's config and one window's inputs (random: the timing does not depend on the values)."""
    import torch
    from transformers import ASTConfig, AutoConfig

    labels = {"id2label": dict(enumerate(GENRES)), "label2id": {g: i for i, g in enumerate(GENRES)}}
    hubert = AutoConfig.from_pretrained(DISTILHUBERT_CONFIG, num_labels=len(GENRES), **labels)
    ast = ASTConfig(num_labels=len(GENRES), **labels)
    return {
        "distilhubert": (hubert, lambda n: {"input_values": torch.randn(n, 30 * 16000)}),
        "ast": (ast, lambda n: {"input_values": torch.randn(n, ast.max_length, ast.num_mel_bins)}),
    }


def cuda_seconds(fn, runs: int) -> float:
    """Median seconds of `runs` calls after two warm-up calls, the GPU's queue drained around each."""
    import torch

    for _ in range(2):
        fn()
    times = []
    for _ in range(runs):
        torch.cuda.synchronize()
        started = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def forward(runs: int) -> dict:
    import torch

    out = {}
    for name, (config, inputs) in models().items():
        out |= forward_of(name, config, inputs, runs)
        torch.cuda.empty_cache()
    return out


def forward_of(name: str, config, inputs, runs: int) -> dict:
    """One model's forward per window, at batch 1 and 16, in each precision."""
    import torch
    from transformers import AutoModelForAudioClassification

    torch.manual_seed(0)
    model = AutoModelForAudioClassification.from_config(config).cuda().eval()
    out = {}
    for batch in (1, 16):
        feed = {k: v.cuda() for k, v in inputs(batch).items()}
        for precision, dtype in (("fp32", None), ("bf16", torch.bfloat16), ("fp16", torch.float16)):

            def once(feed=feed, dtype=dtype) -> None:
                with torch.inference_mode(), torch.autocast("cuda", dtype=dtype, enabled=dtype is not None):
                    model(**feed).logits.float().softmax(-1).cpu()

            seconds = cuda_seconds(once, runs)
            out[f"{name} batch {batch} {precision}"] = {
                "s": round(seconds, 4),
                "per_window_s": round(seconds / batch, 5),
            }
            print(f"forward {name} batch {batch} {precision}: {seconds / batch * 1000:.1f} ms a window", flush=True)
    return out


def missing_app_packages() -> str | None:
    missing = [name for name in APP_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        return f"Not run: the app's packages {', '.join(missing)} are not installed here."
    from benchmarks.common import GTZAN

    if not GTZAN.is_dir():
        return f"Not run: the real recordings ({GTZAN}) are not here."
    return None


def classify(runs: int, tmp: Path) -> dict:
    """The app's handler with DEVICE=cuda, as `benchmarks/outside.py` measures it: outside the forward."""
    import spaces

    from benchmarks.common import GPURecorder, save_ast, save_distilhubert
    from benchmarks.outside import CLIP, requests, ten_minutes
    from genre_classifier.core.model import TransformerClassifier
    from genre_classifier.web import gpu

    recorder = GPURecorder()
    spaces.GPU = recorder  # before the model's forward borrows it
    clips = {"30 s": CLIP, "10 min": ten_minutes(tmp / "ten-minutes.wav")}
    out = {}
    for name, save in (("distilhubert", save_distilhubert), ("ast", save_ast)):
        classifier = gpu.borrow(TransformerClassifier.from_pretrained(str(save(tmp / name)), device="cuda"))
        out[name] = {"served": classifier.description, **requests(classifier, recorder, clips, runs)}
        print(f"classify {name}: {json.dumps(out[name])}", flush=True)
    return out


def tag(tmp: Path) -> dict:
    """`tag` (in process, as the command runs it) on every real recording, with DistilHuBERT on the GPU."""
    from benchmarks.common import GTZAN, MUSIC, save_distilhubert
    from genre_classifier.core.model import TransformerClassifier
    from genre_classifier.library.batch import tag as tag_files
    from genre_classifier.library.scan import find_audio

    classifier = TransformerClassifier.from_pretrained(str(save_distilhubert(tmp / "tag-model")), device="cuda")
    paths, _ = find_audio([GTZAN, MUSIC])
    list(tag_files(classifier, paths[:2]))  # first-call costs out of the way
    started = time.perf_counter()
    rows = list(tag_files(classifier, paths))
    seconds = time.perf_counter() - started
    out = {"files": len(rows), "s": round(seconds, 2), "files_per_minute": round(60 * len(rows) / seconds, 1)}
    print(f"tag: {json.dumps(out)}", flush=True)
    return out


def finetune(runs: int) -> dict:
    """Training steps per second at the fine-tuning batch size, in the precision train/finetune.py picks."""
    import torch

    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    out: dict = {"batch": FINETUNE_BATCH, "precision": "bf16" if dtype == torch.bfloat16 else "fp16"}
    for name, (config, inputs) in models().items():
        seconds = train_step_seconds(config, inputs, dtype, runs)
        out[name] = {"per_step_s": round(seconds, 4), "steps_per_s": round(1 / seconds, 2)}
        print(f"fine-tuning {name}: {out[name]['steps_per_s']} steps/s of {FINETUNE_BATCH} clips", flush=True)
        torch.cuda.empty_cache()
    return out


def loader(finetuned: dict, workers: int = 4) -> dict:
    """train/finetune.py's data loader with its default augmentation (recorded-like copies, Opus through FFmpeg) in
    `workers` processes, as it runs beside a GPU: clips per second, against the clips per second the GPU trains
    DistilHuBERT at (`finetune`'s figure). Below it, the GPU waits for data."""
    from torch.utils.data import DataLoader, Dataset

    from genre_classifier.core import ffmpeg
    from train.recorded import Augment
    from train.windows import random_crops

    if not ffmpeg.available():
        return {"not_run": "FFmpeg is not installed here, and the augmentation's codec needs it."}
    clips = sorted((ROOT / "examples").glob("*.ogg"))
    transform = random_crops(30 * 16000, 16000, Augment())

    class Crops(Dataset):
        def __len__(self) -> int:
            return 16 * workers

        def __getitem__(self, i: int):
            return transform({"audio": [{"path": str(clips[i % len(clips)]), "bytes": None}], "genre": [0]})

    started = time.perf_counter()
    for _ in DataLoader(Crops(), batch_size=FINETUNE_BATCH, num_workers=workers, collate_fn=list):
        pass
    clips_per_s = 16 * workers / (time.perf_counter() - started)  # worker start-up included, as in an epoch
    gpu = finetuned.get("distilhubert", {}).get("steps_per_s", 0) * FINETUNE_BATCH
    out = {
        "workers": workers,
        "clips_per_s": round(clips_per_s, 1),
        "gpu_trains_clips_per_s": round(gpu, 1),
        "cpu_cores": os.cpu_count(),
        "gpu_waits": bool(gpu and clips_per_s < gpu),
    }
    print(f"data loader with augmentation: {out}", flush=True)
    return out


def train_step_seconds(config, inputs, dtype, runs: int) -> float:
    """One optimiser step of a batch: forward under autocast, backward, AdamW (fp16 with a gradient scaler)."""
    import torch
    from transformers import AutoModelForAudioClassification

    torch.manual_seed(0)
    model = AutoModelForAudioClassification.from_config(config).cuda().train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5)
    scaler = torch.amp.GradScaler(enabled=dtype == torch.float16)
    feed = {k: v.cuda() for k, v in inputs(FINETUNE_BATCH).items()}
    labels = torch.randint(0, len(GENRES), (FINETUNE_BATCH,), device="cuda")

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=dtype):
            loss = model(**feed, labels=labels).loss
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    return cuda_seconds(step, runs)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    import torch

    results: dict = {"machine": machine(), "runs": args.runs}
    args.output.parent.mkdir(parents=True, exist_ok=True)

    def write() -> None:
        args.output.write_text(json.dumps(results, indent=2) + "\n")

    if not torch.cuda.is_available():
        print(NO_GPU)
        results["not_run"] = NO_GPU
        write()
        return results
    with tempfile.TemporaryDirectory() as tmp:
        app_missing = missing_app_packages()
        parts = {
            "forward": lambda: forward(args.runs),
            "classify": (lambda: classify(min(args.runs, 3), Path(tmp))) if not app_missing else app_missing,
            "tag": (lambda: tag(Path(tmp))) if not app_missing else app_missing,
            "finetune": lambda: finetune(args.runs),
            "loader": (lambda: loader(results.get("finetune", {}))) if not app_missing else app_missing,
        }
        for name, part in parts.items():
            started = time.perf_counter()
            if isinstance(part, str):  # a sentence: why it cannot run here
                print(f"{name}: {part}")
                results[name] = {"not_run": part}
            else:
                torch.cuda.reset_peak_memory_stats()
                results[name] = part()
                results[name]["peak_gpu_memory_mb"] = round(torch.cuda.max_memory_allocated() / 2**20)
            results[name]["wall_s"] = round(time.perf_counter() - started, 1)
            write()
    print(f"wrote {args.output}")
    return results


if __name__ == "__main__":
    main()
