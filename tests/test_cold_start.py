"""A fresh start answers at once: nothing on a transformer checkpoint's request path compiles on first use.

librosa's numba kernels compile when first used (13 s with librosa 0.11 on this project's CPU, and a Space
starts from a fresh container after every restart), so decoding, resampling and the figures must not need them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from .helpers import DATA, ROOT

# Runs one request through the app's own handler in a fresh process and lists every numba compilation.
PROBE = """
import json, sys
from numba.core import event

compiled = []
class Recorder(event.Listener):
    def on_start(self, e): pass
    def on_end(self, e): compiled.append(str(e.data.get("dispatcher", "?")))
event.register("numba:compile", Recorder())

from genre_classifier.core.model import TransformerClassifier
from genre_classifier.web.handlers import make_classify

classifier = TransformerClassifier.from_pretrained(sys.argv[1], device="cpu")
*_, outputs = make_classify(classifier)(sys.argv[2])
print(json.dumps({"compiled": compiled, "top": outputs[0] and max(outputs[0], key=outputs[0].get),
                  "librosa_util": "librosa.util.utils" in sys.modules}))
"""


@pytest.mark.slow
def test_a_request_for_a_transformer_checkpoint_compiles_nothing(tiny_hubert_dir, tmp_path):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}  # an empty cache, as after a Space's restart
    clip = DATA / "vibe_ace.hq.ogg"  # 44.1 kHz stereo: decoded, mixed, resampled, 2 windows
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(tiny_hubert_dir), str(clip)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["compiled"] == [] and not report["librosa_util"], report
    assert report["top"]
