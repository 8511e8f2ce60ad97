"""`benchmarks/gpu.py`, the GPU check in one command, on a machine without a GPU: it refuses in one sentence and
records that nothing was run; on a GPU machine without the app's packages, their parts are skipped in a sentence."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest
import torch

from benchmarks import common, gpu

from .helpers import CLIPS, ROOT


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is here: the benchmark would run")
def test_without_a_gpu_it_refuses_in_one_sentence_and_records_that_nothing_ran(tmp_path):
    output = tmp_path / "gpu.json"
    result = subprocess.run(
        [sys.executable, "benchmarks/gpu.py", "--output", str(output)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == gpu.NO_GPU  # one sentence, nothing else
    results = json.loads(output.read_text())
    assert results["not_run"] == gpu.NO_GPU
    assert results["machine"]["cpu"] and "load_average_at_start" in results["machine"]
    assert not {"forward", "classify", "tag", "finetune"} & results.keys()


def test_the_parts_that_need_the_apps_packages_say_which_are_missing(monkeypatch):
    monkeypatch.setattr(common, "GTZAN", CLIPS)  # real recordings in GTZAN's layout
    assert gpu.missing_app_packages() is None  # here the packages are installed, with the recordings
    monkeypatch.setattr(common, "GTZAN", CLIPS / "absent")
    assert gpu.missing_app_packages() == f"Not run: the real recordings ({CLIPS / 'absent'}) are not here."
    found = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name in ("gradio", "soxr") else found(name))
    assert gpu.missing_app_packages() == "Not run: the app's packages gradio, soxr are not installed here."


def test_both_models_have_their_true_size_and_one_windows_inputs():
    models = gpu.models()
    hubert, inputs = models["distilhubert"]
    assert hubert.num_hidden_layers == 2 and hubert.hidden_size == 768 and hubert.num_labels == 10
    assert inputs(2)["input_values"].shape == (2, 480000)
    ast, inputs = models["ast"]
    assert inputs(1)["input_values"].shape == (1, ast.max_length, ast.num_mel_bins) == (1, 1024, 128)
