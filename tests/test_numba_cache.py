"""Processes that compile librosa's numba kernels at once leave a cache that every later process can use.

Without genre_classifier/core/numba_cache.py, four processes started together on an empty cache left kernels and gufunc
wrappers written by different processes, and the next process (or `python app.py`) died with a segmentation fault on
its first feature (numba issue #10128).
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys

import numpy as np
import pytest

from genre_classifier.core.numba_cache import LOCK_NAME

from .helpers import ROOT, ServedApp

pytestmark = pytest.mark.slow  # starts processes and apps

# The full features of 3 s of a tone, saved to argv[3]; argv[1] seconds after start, in dtype argv[2] (the app's
# float32 and the training table's float64 compile different signatures).
WORKER = """
import sys, time
import numpy as np
time.sleep(float(sys.argv[1]))
from genre_classifier.core.features import extract_features
t = np.arange(3 * 22050) / 22050
np.save(sys.argv[3], extract_features((0.5 * np.sin(2 * np.pi * 440 * t)).astype(sys.argv[2])))
"""


def _worker(delay: float, dtype: str, out, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, str(delay), dtype, str(out)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_processes_compiling_at_once_leave_a_cache_the_next_process_and_the_app_can_use(tmp_path):
    cache = tmp_path / "numba"  # empty, as in a fresh virtual environment or after a Space's restart
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache)}
    # Staggered starts: some processes find a few kernels already written by another and compile the rest.
    runs = [(0.0, "float32"), (1.5, "float64"), (3.0, "float32"), (4.5, "float64")]
    workers = [_worker(delay, dtype, tmp_path / f"{i}.npy", env) for i, (delay, dtype) in enumerate(runs)]
    for worker in workers:
        output, _ = worker.communicate(timeout=300)
        assert worker.returncode == 0, output[-3000:]
    assert (cache / LOCK_NAME).exists()
    first = [np.load(tmp_path / f"{i}.npy") for i in range(len(runs))]
    np.testing.assert_array_equal(first[0], first[2])

    # A later process loads everything from that cache (the crash came here), and computes the same features.
    later = _worker(0.0, "float32", tmp_path / "later.npy", env)
    output, _ = later.communicate(timeout=300)
    assert later.returncode == 0, f"exit {later.returncode}:\n{output[-3000:]}"
    np.testing.assert_array_equal(np.load(tmp_path / "later.npy"), first[0])

    # And so does the app, whose warm-up runs the music gate and the embedded model on that cache.
    app = ServedApp({"MODEL_ID": "baseline", "NUMBA_CACHE_DIR": str(cache)}, tmp_path / "app.log")
    try:
        app.wait_ready(timeout=180)
        assert app.process.poll() is None, app.log[-3000:]
    finally:
        app.stop()


PROBE = """
import os, sys
import genre_classifier
from numba.core import config
from numba.core.compiler_lock import global_compiler_lock
print(os.environ["NUMBA_CACHE_DIR"], config.CACHE_DIR, flush=True)
with global_compiler_lock:  # as numba holds it for the whole of a compilation
    print("compiling", flush=True)
    sys.stdin.readline()
print("done", flush=True)
"""


@pytest.mark.parametrize("numba_first", [False, True])
def test_a_compilation_holds_a_lock_that_other_processes_wait_for(tmp_path, numba_first):
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"} | {"XDG_CACHE_HOME": str(tmp_path)}
    probe = PROBE.replace("import genre_classifier", "import numba\nimport genre_classifier") if numba_first else PROBE
    child = subprocess.Popen(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, text=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        folder = str(tmp_path / "genre-classifier" / "numba")  # the project's own cache, by default
        assert child.stdout.readline().split() == [folder, folder]
        assert child.stdout.readline().strip() == "compiling"
        with open(os.path.join(folder, LOCK_NAME)) as lock:
            with pytest.raises(BlockingIOError):  # another process's compilation (or cache write) would wait here
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            child.stdin.write("\n")
            child.stdin.flush()
            assert child.stdout.readline().strip() == "done"
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # let go with the compiler lock
    finally:
        child.stdin.close()
        assert child.wait(timeout=60) == 0
