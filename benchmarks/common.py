"""What the benchmarks share, and the tests with them: where the real recordings are, models of the true
architectures with random weights, the app served as a user starts it, the naive recipe, and the machine's facts.

The benchmarks measure on the real recordings of `GTZAN_DIR` (GTZAN's clips) and `MUSIC_DIR` (librosa's CC
example recordings, speech and animals among them); by default the folders of `../shared/data` beside a checkout.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from genre_classifier import GENRES

ROOT = Path(__file__).resolve().parents[1]
GTZAN = Path(os.environ.get("GTZAN_DIR") or ROOT.parent / "shared" / "data" / "gtzan")
MUSIC = Path(os.environ.get("MUSIC_DIR") or ROOT.parent / "shared" / "data" / "music")
DISTILHUBERT_CONFIG = ROOT / "tests" / "data" / "distilhubert"  # ntu-spml/distilhubert's architecture, no weights
median = statistics.median

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"  # Debian's: Playwright's own download cannot work here


def chromium(playwright, microphone: Path | str | None = None):
    """Headless Chromium, quiet on the network; with `microphone` (a WAV), its fake microphone plays that file in a
    loop and asks no permission."""
    fake = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"] if microphone else []
    if microphone:
        fake.append(f"--use-file-for-fake-audio-capture={microphone}")
    return playwright.chromium.launch(
        executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", *fake]
    )


LABELS = {"id2label": dict(enumerate(GENRES)), "label2id": {g: i for i, g in enumerate(GENRES)}}


# A HuBERT of the same classes, small enough to train on a CPU in seconds (its windows are still 30 s).
TINY_HUBERT = {
    "hidden_size": 64,
    "num_attention_heads": 4,
    "intermediate_size": 128,
    "num_hidden_layers": 1,
    "conv_dim": [64] * 7,
    "num_conv_pos_embeddings": 16,
    "num_conv_pos_embedding_groups": 4,
    "classifier_proj_size": 64,
}


def tiny_hubert_config():
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(DISTILHUBERT_CONFIG, num_labels=len(GENRES), **TINY_HUBERT, **LABELS)


def save_random_model(config, out: Path, feature_extractor) -> Path:
    """Save a randomly initialised audio classifier of `config`'s architecture as a checkpoint folder."""
    import torch
    from transformers import AutoModelForAudioClassification

    torch.manual_seed(0)
    AutoModelForAudioClassification.from_config(config).save_pretrained(out)
    feature_extractor.save_pretrained(out)
    return out


def hubert_extractor():
    from transformers import Wav2Vec2FeatureExtractor

    return Wav2Vec2FeatureExtractor(sampling_rate=16000, do_normalize=True, return_attention_mask=False)


def save_distilhubert(out: Path) -> Path:
    """True-size DistilHuBERT (the config of ntu-spml/distilhubert), random weights, ten genres."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(DISTILHUBERT_CONFIG, num_labels=len(GENRES), **LABELS)
    return save_random_model(config, out, hubert_extractor())


def save_ast(out: Path) -> Path:
    """True-size AST (`ASTConfig()` is MIT/ast-finetuned-audioset-10-10-0.4593's shape), random weights."""
    from transformers import ASTConfig, ASTFeatureExtractor

    return save_random_model(ASTConfig(num_labels=len(GENRES), **LABELS), out, ASTFeatureExtractor())


def plant_in_hub_cache(hf_home: Path, repo_id: str, files: dict[str, Path], repo_type: str = "model") -> Path:
    """Put files into `hf_home` in the layout `hf download` leaves (blobs, a snapshot of links, refs/main).

    With `HF_HOME=hf_home HF_HUB_OFFLINE=1`, the real `hf_hub_download` / `from_pretrained` code then finds them.
    Returns the snapshot folder.
    """
    repo = hf_home / "hub" / f"{repo_type}s--{repo_id.replace('/', '--')}"
    commit = hashlib.sha1(repo_id.encode()).hexdigest()  # any 40-hex commit id
    snapshot = repo / "snapshots" / commit
    (repo / "blobs").mkdir(parents=True, exist_ok=True)
    for name, source in files.items():
        data = source.read_bytes()
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        link = snapshot / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(commit)
    return snapshot


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServedApp:
    """`python app.py` in a subprocess, as a user starts it."""

    def __init__(self, env: dict[str, str], log_path: Path, timeout: float = 120) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log_path = log_path
        # SPACE_ID: as behind Spaces' proxy, the app trusts X-Forwarded-For, so one machine's clients can be different
        # visitors (`client(visitor=...)`), each with its own share of the limits (genre_classifier/web/limits.py).
        full_env = {
            **os.environ,
            "GRADIO_SERVER_PORT": str(self.port),
            "GRADIO_ANALYTICS_ENABLED": "False",
            "SPACE_ID": "tests/genre-classifier",
            **env,
        }
        self.env = full_env
        self.started = time.monotonic()
        self.log_file = open(log_path, "w")  # closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "app.py"], cwd=ROOT, env=full_env, stdout=self.log_file, stderr=subprocess.STDOUT
        )
        while time.monotonic() - self.started < timeout:
            if self.process.poll() is not None:
                raise RuntimeError(f"app exited early:\n{self.log}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        else:
            self.stop()
            raise TimeoutError(f"app did not start within {timeout} s:\n{self.log}")
        self.startup_seconds = time.monotonic() - self.started

    @property
    def log(self) -> str:
        return self.log_path.read_text()

    def wait_ready(self, timeout: float = 240) -> None:
        """Wait for the warm-up's "ready" line (the app logs it before its port opens, unless the warm-up takes
        longer than server.WARM_UP_WAIT, as when librosa compiles on a fresh install)."""
        deadline = time.monotonic() + timeout
        while "; ready" not in self.log:
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise TimeoutError(f"the app did not finish its warm-up:\n{self.log[-3000:]}")
            time.sleep(0.5)

    def wait_runtime(self, timeout: float = 600) -> str:
        """Wait until the app has settled on its forward's runtime (on a CPU, OpenVINO converts in the background at
        the lowest priority); returns the log line's words that say which. Benchmarks measure what follows."""
        markers = ("Forward on OpenVINO", "staying on PyTorch", "OpenVINO is not installed")
        deadline = time.monotonic() + timeout
        while not (lines := [line for line in self.log.splitlines() if any(m in line for m in markers)]):
            if self.env.get("RUNTIME") == "torch" or "Serving Offline model" in self.log:  # nothing to switch
                return "PyTorch"
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise TimeoutError(f"the app did not settle on a runtime:\n{self.log[-3000:]}")
            time.sleep(0.5)
        return lines[0].split(": ", 1)[-1]

    def reset_peak_rss(self) -> None:
        """Start the peak-memory count afresh, so `peak_rss_mb` measures what comes next (Linux clear_refs)."""
        Path(f"/proc/{self.process.pid}/clear_refs").write_text("5")

    def peak_rss_mb(self) -> float:
        """The server's peak resident memory since start or the last `reset_peak_rss` (Linux VmHWM)."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM"))) / 1024

    def client(self, visitor: str | None = None):
        """A gradio_client session; `visitor` is the address Spaces' proxy would forward (default: this machine)."""
        from gradio_client import Client

        return Client(self.url, verbose=False, headers={"X-Forwarded-For": visitor} if visitor else None)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log_file.close()


def classify_file(client, path: Path) -> tuple:
    """The app's `classify` call over HTTP for one audio file, as a gradio_client user makes it."""
    from gradio_client import handle_file

    return client.predict(handle_file(str(path)), api_name="/classify")


def classify_event(http) -> int:
    """The id of the `classify` event, which a raw queue join names (an httpx client on the app's address)."""
    return next(d["id"] for d in http.get("config").json()["dependencies"] if d.get("api_name") == "classify")


def join_classify(http, event: int, stored: str, session: str, headers: dict | None = None):
    """Ask the queue to classify an uploaded file, as the page does; the answer streams to `session`'s
    /gradio_api/queue/data, which the caller may read or ignore."""
    data = [{"path": stored, "meta": {"_type": "gradio.FileData"}}]
    return http.post(
        "gradio_api/queue/join", json={"data": data, "fn_index": event, "session_hash": session}, headers=headers
    )


@dataclass
class GPURecorder:
    """Stands in for `spaces.GPU(duration=...)` (monkeypatch it in before `web.gpu.borrow`): pickles what crosses
    the boundary, as ZeroGPU's worker process does, and times what runs inside. With `crossing` off it only times,
    as on a CPU Space, where `spaces.GPU` is the function itself."""

    calls: list[dict] = field(default_factory=list)
    registered: list = field(default_factory=list)  # the functions decorated, as ZeroGPU counts them at start-up
    crossing: bool = True

    def __call__(self, task=None, *, duration=None, size=None):
        if task is None:
            return lambda fn: self.wrap(fn, duration)
        return self.wrap(task, duration)

    def wrap(self, fn, duration):
        self.registered.append(fn)

        def worker(*args, **kwargs):
            asked = duration(*args, **kwargs) if callable(duration) else duration
            cross = (lambda value: pickle.loads(pickle.dumps(value))) if self.crossing else (lambda value: value)
            args, kwargs = cross((args, kwargs))  # what the forked worker receives
            started = time.perf_counter()
            result = fn(*args, **kwargs)
            seconds = time.perf_counter() - started
            self.calls.append({"args": args, "kwargs": kwargs, "duration": asked, "seconds": seconds})
            return cross(result)  # what comes back

        return worker


def timed(fn, runs: int = 1) -> float:
    """Median seconds of `runs` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return median(times)


def machine() -> dict:
    """What every figure depends on: the CPU, its bf16 units, torch, and how busy the (shared) host was."""
    import torch

    from genre_classifier.core.settings import native_bf16

    cpu: dict[str, str] = {}  # the first processor's fields
    for line in open("/proc/cpuinfo").read().splitlines():
        key, _, value = line.partition(":")
        cpu.setdefault(key.strip(), value.strip())
    flags = cpu.get("flags", "").split()
    return {
        "cpu": cpu.get("model name") or platform.processor(),
        # One model name can cover several generations ("AMD EPYC": Zen 4 is family 25, Zen 5 family 26)
        "cpu_family_model": [cpu.get("cpu family"), cpu.get("model")],
        "cores": os.cpu_count(),
        "avx512_bf16": "avx512_bf16" in flags,
        "amx_bf16": "amx_bf16" in flags,
        "native_bf16": native_bf16("cpu"),  # what PRECISION=auto goes by
        "torch_threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "torch": torch.__version__,
        "load_average_at_start": os.getloadavg(),  # other work on the host slows every figure
    }


def native_precisions() -> tuple[str, ...]:
    """fp32, and bf16 where the CPU computes it: elsewhere oneDNN emulates bf16 (a 4096² matmul takes minutes) and
    `PRECISION=auto` stays in fp32."""
    from genre_classifier.core.settings import native_bf16

    return ("fp32", "bf16") if native_bf16("cpu") else ("fp32",)


def ceiling(runs: int, precisions: tuple[str, ...] = ("fp32", "bf16")) -> dict:
    """The machine's own matmul throughput (GFLOP/s) for 4096 x 4096 matrices, in fp32 and bf16."""
    import torch

    n = 4096
    out = {}
    for name in precisions:
        dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[name]
        a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
        out[name] = 2 * n**3 / timed(lambda a=a, b=b: a @ b, runs) / 1e9
    return out


def flops(model, inputs) -> float:
    """FLOPs of one forward pass, as torch counts them."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:  # no_grad: the counter and inference_mode clash
        model(**inputs)
    return float(counter.get_total_flops())


def naive_seconds(model_dir: Path, clip: Path, runs: int) -> float:
    import librosa
    import librosa.display
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from transformers import pipeline

    classifier = pipeline("audio-classification", model=str(model_dir))
    y, sr = librosa.load(clip, sr=16000)

    def once() -> None:
        classifier({"raw": y, "sampling_rate": sr}, top_k=10)
        fig, ax = plt.subplots(figsize=(10, 3))
        librosa.display.waveshow(y, sr=sr, ax=ax)
        fig.savefig(tempfile.TemporaryFile(), format="png")
        spec = librosa.amplitude_to_db(np.abs(librosa.stft(y)), ref=np.max)
        mel = librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=sr, n_mels=128), ref=np.max)
        for data, axis in ((spec, "hz"), (mel, "mel")):
            fig, ax = plt.subplots(figsize=(10, 3))
            image = librosa.display.specshow(data, sr=sr, x_axis="time", y_axis=axis, ax=ax)
            fig.colorbar(image, ax=ax, format="%+2.0f dB")
            fig.savefig(tempfile.TemporaryFile(), format="png")
        plt.close("all")

    return timed(once, runs)
