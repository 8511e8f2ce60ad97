"""bf16 gives fp32's answers on real clips: a model that has learned on all 24 (the 14 30 s stand-ins and 10 CC
recordings), the true-size DistilHuBERT on every second of them (12), the true-size AST on every seventh (4: its fp32
forward is the suite's slowest, 1.6 s a window; `benchmarks/runtimes.py` compares the 28 real recordings of
GTZAN_DIR and MUSIC_DIR).

Runs on any CPU: where there are no bf16 units, PyTorch emulates bf16 (same numerics, about twenty times slower
than fp32, and `PRECISION=auto` never picks it there), so such a CPU compares every seventh clip (4), on 1 s of
DistilHuBERT and on the learned model's 30 s windows, and leaves AST, whose fixed 10 s windows would take minutes,
to CPUs that have the units. Each clip's first window is compared (DistilHuBERT: its first 5 s, which run the same
layers as 30 s at a sixth of the cost); the 22 kHz copies of the music recordings stand for their 44.1 kHz twins.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from genre_classifier.core import runtime, settings
from genre_classifier.core.loading import load_classifier
from genre_classifier.core.model import TransformerClassifier
from genre_classifier.core.settings import Settings

from .helpers import CLIPS as STAND_INS
from .helpers import RECORDINGS, save_ast

CLIPS = [*sorted(STAND_INS.glob("*.wav")), *RECORDINGS]
TOLERANCE = 0.01
NATIVE = settings.native_bf16("cpu")


def agreement(
    classifier: TransformerClassifier, seconds: float | None = None, clips: list[Path] = CLIPS
) -> list[tuple[str, float, bool]]:
    """(clip, largest probability difference, same top genre) for fp32 against bf16 on each clip's first window,
    in batches as the app forms them (AST: three windows at a time on a CPU)."""
    seconds = seconds or classifier.window_seconds
    windows = [
        classifier.decode(clip, max_seconds=seconds).samples[: int(seconds * classifier.sampling_rate)]
        for clip in clips
    ]
    rows = []
    for i in range(0, len(windows), classifier.batch_size):
        batch = windows[i : i + classifier.batch_size]
        classifier.precision = "fp32"
        fp32 = classifier.predict_windows(batch)
        classifier.precision = "bf16"
        bf16 = classifier.predict_windows(batch)
        for clip, a, b in zip(clips[i : i + len(batch)], fp32, bf16, strict=True):
            rows.append((clip.name, float(np.abs(a - b).max()), a.argmax() == b.argmax()))
    return rows


def check(rows, clips: int | None = None) -> None:
    assert len(rows) == (len(CLIPS) if clips is None else clips)
    worst = max(rows, key=lambda row: row[1])
    assert worst[1] <= TOLERANCE, worst
    assert all(same for _, _, same in rows), [name for name, _, same in rows if not same]


@pytest.mark.slow
def test_true_size_distilhubert(distilhubert_dir):
    clips = CLIPS[::2] if NATIVE else CLIPS[::7]
    check(agreement(load_classifier(str(distilhubert_dir))[0], seconds=5 if NATIVE else 1, clips=clips), len(clips))


@pytest.mark.slow
@pytest.mark.skipif(not NATIVE, reason="bf16 is emulated on this CPU (no AVX512-BF16 or AMX): AST would take minutes")
def test_true_size_ast(tmp_path):
    check(agreement(load_classifier(str(save_ast(tmp_path / "ast")))[0], clips=CLIPS[::7]), clips=4)


def test_a_model_that_has_learned(learned):
    clips = CLIPS if NATIVE else CLIPS[::7]
    rows = agreement(load_classifier(str(learned))[0], clips=clips)
    check(rows, len(clips))
    assert max(diff for _, diff, _ in rows) > 0, "bf16 did not run"


@pytest.mark.parametrize("native", [True, False])
def test_the_precision_setting(monkeypatch, native):
    monkeypatch.setattr(settings, "native_bf16", lambda device: native)
    auto = Settings.from_environment({"PRECISION": ""})  # bf16 where the hardware has it, else fp16 on a GPU, fp32
    assert (auto.precision_on("cpu"), auto.precision_on("cuda")) == (("bf16", "bf16") if native else ("fp32", "fp16"))
    for setting, expected in (("fp32", "fp32"), ("BF16", "bf16"), (" fp16 ", "fp16")):
        chosen = Settings.from_environment({"PRECISION": setting})
        assert chosen.precision_on("cpu") == chosen.precision_on("cuda") == expected
    with pytest.raises(ValueError, match="PRECISION must be one of auto, fp32, bf16, fp16, int8"):
        Settings.from_environment({"PRECISION": "int4"})


def test_int8_is_openvino_on_a_cpu():
    assert Settings.from_environment({"PRECISION": "int8"}).precision_on("cpu") == "int8"
    with pytest.raises(ValueError, match="PRECISION=int8 runs on OpenVINO only"):
        Settings.from_environment({"PRECISION": "int8", "RUNTIME": "torch"})
    with pytest.raises(ValueError, match="PRECISION=int8 runs on a CPU only"):
        Settings.from_environment({"PRECISION": "int8"}).precision_on("cuda")


FAITHFUL = {"windows": 7, "same_top": 1.0, "cosine_min": 0.999, "max_dp": 0.001}


@pytest.mark.parametrize(
    ("costs", "fastest"),
    [
        ({"fp32": 1.31, "bf16": 1.73}, "fp32"),  # the Intel Xeon with AVX512-BF16 but no AMX (DistilHuBERT)
        ({"fp32": 1.73, "bf16": 0.70}, "bf16"),  # AMD Zen 4
        ({"fp32": 2.20, "int8": 1.10}, "int8"),  # AVX2 alone, where int8 pays
        ({"fp32": 1.80, "bf16": 0.70, "int8": 0.90}, "bf16"),
    ],
)
def test_auto_takes_the_precision_measured_fastest(monkeypatch, costs, fastest):
    # The forwards cost what the clock says they cost (a fake clock): what `measure` times is all `choose` sees.
    clock = [0.0]
    monkeypatch.setattr(runtime.time, "perf_counter", lambda: clock[0])
    forwards = {p: (lambda example, cost=cost: clock.__setitem__(0, clock[0] + cost)) for p, cost in costs.items()}
    seconds = runtime.measure(forwards, example={})
    assert seconds == pytest.approx(costs)
    chosen, why = runtime.choose(seconds, FAITHFUL)
    assert chosen == fastest
    assert why.startswith("measured fastest on this CPU") and f"{fastest} {costs[fastest]:.2f} s" in why


def test_auto_takes_int8_only_where_it_keeps_the_answers():
    seconds = {"fp32": 2.2, "int8": 1.1}
    for unfaithful in ({**FAITHFUL, "max_dp": 0.007}, {**FAITHFUL, "cosine_min": 0.97}):
        chosen, why = runtime.choose(seconds, unfaithful)
        assert chosen == "fp32" and "int8 left out: on 7 windows of the shipped music its probabilities moved" in why
    # A top genre fp32 itself holds by a few thousandths may change: the probabilities are what is judged.
    assert runtime.choose(seconds, {**FAITHFUL, "same_top": 0.86, "max_dp": 0.002})[0] == "int8"
    assert runtime.choose(seconds, None)[0] == "fp32"  # never checked: never taken
    # Barely faster is not worth less precision: within 5 % the more faithful one stays, and int8 must pay 20 %.
    assert runtime.choose({"fp32": 1.0, "bf16": 0.97}, None)[0] == "fp32"
    assert runtime.choose({"fp32": 0.85, "int8": 0.80}, FAITHFUL)[0] == "fp32"


@pytest.mark.skipif(not Path("/proc/cpuinfo").exists(), reason="reads the CPU's flags from Linux")
def test_auto_takes_bf16_only_where_the_cpu_computes_it():
    # The kernel's own list of CPU features: oneDNN runs bf16 on any AVX-512 CPU, but only AVX512-BF16 or AMX
    # units make it faster than fp32.
    flags = set(Path("/proc/cpuinfo").read_text().split())
    assert settings.native_bf16("cpu") is bool(flags & {"avx512_bf16", "amx_bf16"})
