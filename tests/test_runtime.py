"""OpenVINO takes a transformer's CPU forward with PyTorch's answers, and nobody waits for it (runtime.py).

The rest of the suite runs on PyTorch (`RUNTIME=torch`, conftest.py): a conversion takes 10-20 s on 2 cores, so the
models here are tiny HuBERTs, each converted once into a cache of this module's own. A model that has learned gives
PyTorch fp32's answers on the first window of each of the 24 real clips, at the precision `PRECISION=auto` measures
fastest here, and in int8. The true-size DistilHuBERT and AST, whose conversions and forwards take minutes here, are
compared on 28 by `benchmarks/runtimes.py`, and in int8 on 300 windows by `benchmarks/precision.py`.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from genre_classifier.core import runtime
from genre_classifier.core.extractor import featurize
from genre_classifier.core.loading import load_classifier
from genre_classifier.core.model import TransformerClassifier
from genre_classifier.core.settings import Settings

from .helpers import CLIPS as STAND_INS
from .helpers import ROOT, ServedApp, classify_file
from .test_precision import CLIPS, check

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not runtime.available(), reason="OpenVINO is not installed")]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("openvino")


@pytest.fixture
def openvino(monkeypatch, cache):
    monkeypatch.setenv("RUNTIME", "openvino")
    monkeypatch.setenv("OPENVINO_CACHE", str(cache))
    return cache


def switched(model_dir) -> TransformerClassifier:
    classifier = load_classifier(str(model_dir))[0]
    classifier.switch_runtime().join()
    assert classifier.runtime is not None, "OpenVINO did not take the forward"
    return classifier


def agreement(classifier: TransformerClassifier) -> list[tuple[str, float, bool]]:
    """(clip, largest probability difference, same top genre): OpenVINO at the classifier's precision against
    PyTorch in fp32, on each clip's first window."""
    windows = [classifier.decode(clip, max_seconds=classifier.window_seconds).samples for clip in CLIPS]
    openvino = [classifier.predict_windows(w[None])[0] for w in windows]
    classifier.runtime, classifier.precision = None, "fp32"
    torch = [classifier.predict_windows(w[None])[0] for w in windows]
    return [
        (clip.name, float(np.abs(a - b).max()), a.argmax() == b.argmax())
        for clip, a, b in zip(CLIPS, openvino, torch, strict=True)
    ]


def test_a_model_that_has_learned_agrees_with_torch(openvino, learned):
    rows = agreement(switched(learned))
    check(rows)
    assert max(diff for _, diff, _ in rows) > 0, "the two runtimes gave bit-identical answers: OpenVINO did not run"


def test_int8_of_a_model_that_has_learned_keeps_its_answers(openvino, monkeypatch, learned):
    monkeypatch.setenv("PRECISION", "int8")
    classifier = switched(learned)
    assert classifier.runtime.precision == "int8" and "int8 on OpenVINO, as PRECISION says" in classifier.description
    rows = agreement(classifier)
    check(rows)
    assert max(diff for _, diff, _ in rows) > 0, "int8 gave fp32's answers to the bit: it did not run"


def test_the_app_answers_at_once_and_switches_when_converted(openvino, tiny_hubert_dir, tmp_path):
    env = {"MODEL_ID": str(tiny_hubert_dir), "RUNTIME": "openvino", "OPENVINO_CACHE": str(openvino / "app")}
    app = ServedApp(env, tmp_path / "first.log")
    try:
        first = classify_file(app.client(), STAND_INS / "jazz.00000.wav")[0]
        assert "Forward on OpenVINO" not in app.log, "the first answer waited for the conversion"
        deadline = time.monotonic() + 180
        while "Forward on OpenVINO" not in app.log:
            assert time.monotonic() < deadline and "staying on PyTorch" not in app.log, app.log[-2000:]
            time.sleep(0.5)
        assert "Forward on OpenVINO" in app.log and "converted" in app.log
        second = classify_file(app.client(), STAND_INS / "jazz.00000.wav")[0]
    finally:
        app.stop()
    assert first["label"] == second["label"]
    probs = [{c["label"]: c["confidence"] for c in answer["confidences"]} for answer in (first, second)]
    assert max(abs(probs[0][genre] - probs[1][genre]) for genre in probs[0]) <= 0.01


def test_a_restart_loads_the_conversion_and_a_damaged_one_is_redone(
    openvino, monkeypatch, tiny_hubert_dir, caplog, tmp_path
):
    # The app's cache, where its test left the tiny model's conversion: a restart (of a Space with persistent
    # storage) loads it instead of converting again.
    monkeypatch.setenv("OPENVINO_CACHE", str(openvino / "app"))
    # One precision for both: `auto` would time them again for the redone conversion, and on a CPU where the tiny
    # model's fp32 and bf16 take about as long (a Zen 5), it may choose the other one
    monkeypatch.setenv("PRECISION", "fp32")
    switched(tiny_hubert_dir)
    first = switched(tiny_hubert_dir)
    assert first.runtime.how == "from the cache"
    (entry,) = (openvino / "app").iterdir()
    (entry / "model.xml").write_text("<net>cut short")
    home = tmp_path / "home"  # the converting process's HOME: nobody has told OpenVINO whether to send usage data
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    second = switched(tiny_hubert_dir)
    assert "unreadable" in caplog.text and second.runtime.how.startswith("converted")
    assert (home / "intel" / "openvino_telemetry").read_text() == "0", "the conversion did not decline telemetry"
    window = first.decode(STAND_INS / "blues.00000.wav").samples[None]
    assert np.allclose(first.predict_windows(window), second.predict_windows(window), atol=1e-6)


@pytest.mark.parametrize("fastest", ["fp32", "int8"])
def test_auto_serves_the_precision_measured_fastest_and_says_why(openvino, monkeypatch, tiny_hubert_dir, fastest):
    # The choice as the background child makes it, here in this process so that its timer can be faked: each
    # precision measured at what the fake says, and the classifier switches to the fastest, naming it and why.
    monkeypatch.setenv("OPENVINO_CACHE", str(openvino / "faked"))
    classifier = load_classifier(str(tiny_hubert_dir))[0]
    window = np.zeros(int(classifier.window_seconds * classifier.sampling_rate), np.float32)
    example = dict(featurize(classifier.feature_extractor, [window], classifier.sampling_rate, tensors="np"))
    folder = runtime.cache_root() / runtime.fingerprint(classifier.model, list(example))
    runtime.prepare(classifier.model_id, folder, example, "int8")  # converted and quantized; not yet timed
    faked = {"fp32": 0.5, "bf16": 0.9, "int8": 0.7} if fastest == "fp32" else {"fp32": 0.9, "bf16": 0.8, "int8": 0.3}
    monkeypatch.setattr(runtime, "measure", lambda forwards, example: {p: faked[p] for p in forwards})
    monkeypatch.setattr(runtime.int8, "faithful", lambda fidelity: True)  # this random model's int8 is not at issue
    runtime.measure_and_choose(folder, example, runtime.candidates("auto"))
    switched = load_classifier(str(tiny_hubert_dir))[0]
    switched.switch_runtime().join()
    assert switched.runtime.how == "from the cache"
    assert switched.precision == switched.runtime.precision == fastest
    assert f"{fastest} on OpenVINO, measured fastest on this CPU (one window: {fastest} {faked[fastest]:.2f} s" in (
        switched.description
    )


def test_tag_runs_wholly_on_openvino(openvino, tiny_hubert_dir, tmp_path):
    # Every row from one runtime: `tag` takes OpenVINO before its first file (the app's test converted the model).
    output = tmp_path / "genres.csv"
    clips = [str(STAND_INS / "blues.00000.wav"), str(STAND_INS / "jazz.00000.wav")]
    env = {**os.environ, "MODEL_ID": str(tiny_hubert_dir), "OPENVINO_CACHE": str(openvino / "app")}
    result = subprocess.run(
        [sys.executable, "-m", "genre_classifier", "tag", *clips, "--output", str(output)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    log = result.stderr
    assert log.index("Forward on OpenVINO") < log.index("Tagging 2 files"), log[-3000:]
    with open(output) as rows:
        assert len(list(csv.DictReader(rows))) == 2


def _conversion(folder):
    """A folder as `convert` leaves one: named by a fingerprint, holding the model."""
    folder.mkdir()
    (folder / "model.xml").write_text("<net/>")
    return folder


def test_the_cache_keeps_the_most_recent_entries(tmp_path):
    names = [digit * 32 for digit in "abcde"]  # as `fingerprint` names them: 32 hex digits
    for age, name in enumerate(names):
        os.utime(_conversion(tmp_path / name), (1e9 - age, 1e9 - age))  # the first is the most recent
    runtime._prune(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == names[: runtime.KEEP]


def test_the_cache_removes_what_a_conversion_killed_halfway_left_but_not_one_under_way(tmp_path):
    killed, running = tmp_path / f"{'f0' * 16}.123.partial", tmp_path / f"{'f0' * 16}.456.partial"
    for folder in (killed, running):
        _conversion(folder)
    stale = time.time() - runtime.CONVERT_TIMEOUT_S - 60
    os.utime(killed, (stale, stale))
    runtime._prune(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [running.name]


def test_a_shared_cache_folder_keeps_every_folder_the_app_did_not_write(tmp_path, monkeypatch):
    """OPENVINO_CACHE=/data or ~/.cache: the folders beside the conversions are someone else's."""
    monkeypatch.setenv("OPENVINO_CACHE", str(tmp_path))
    stale = time.time() - runtime.CONVERT_TIMEOUT_S - 60
    strangers = ["photos", "huggingface", "0123456789abcdef0123456789abcdef", "notes.partial", "a.1.partial"]
    for name in strangers:
        (tmp_path / name).mkdir()
        (tmp_path / name / "keep.txt").write_text("mine")
        os.utime(tmp_path / name, (stale, stale))  # older than any conversion
    ours = [_conversion(tmp_path / (digit * 32)) for digit in "abcde"]
    for age, folder in enumerate(ours):
        os.utime(folder, (1e9 - age, 1e9 - age))  # the first is the most recent
    runtime._prune(runtime.cache_root())
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(strangers + [p.name for p in ours[: runtime.KEEP]])
    assert all((tmp_path / name / "keep.txt").read_text() == "mine" for name in strangers)


def test_pytorch_stays_where_openvino_does_not_apply(openvino, monkeypatch, tiny_hubert_dir):
    classifier = load_classifier(str(tiny_hubert_dir))[0]
    classifier.precision = "fp16"  # OpenVINO's CPU plugin has no fp16 to offer on most CPUs
    assert classifier.switch_runtime() is None
    monkeypatch.setenv("RUNTIME", "torch")
    assert load_classifier(str(tiny_hubert_dir))[0].switch_runtime() is None
    with pytest.raises(ValueError, match="RUNTIME must be one of openvino, torch"):
        Settings.from_environment({"RUNTIME": "onnx"})
