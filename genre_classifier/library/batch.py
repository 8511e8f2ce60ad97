"""Many files through one classifier: decoded and gated ahead in threads, their windows classified in shared
batches, one `Tagged` answer per file as soon as its last window is done; or, for a model whose work is all on the
CPU in Python (the embedded model), whole files in processes, one a core."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..core import gate
from ..core.audio import AudioError
from .rows import TagError
from .sampling import SAMPLED_WINDOWS, excerpts

if TYPE_CHECKING:
    from ..core.model import Classifier, Prediction

log = logging.getLogger(__name__)


@dataclass
class Tagged:
    """One file's outcome: its prediction and what decoding said, or why it could not be read."""

    path: Path
    prediction: Prediction | None = None
    seconds: float = 0.0
    notes: tuple[str, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class _Gated:
    """A decoded file cut into the model's windows, with what the music gate heard in each: all a file's entry
    keeps until its windows are classified (the clip's full-band audio goes once the gate has heard it)."""

    windows: np.ndarray  # (n_windows, samples) at the model's rate
    spans: list[tuple[float, float]]
    seconds: float
    notes: tuple[str, ...]
    heard: gate.Heard


def _decode(path: Path, classifier: Classifier, sample: int | None) -> _Gated:
    """One file decoded, windowed and gated: `sample` windows of a long file (only they are decoded, `sampling.py`),
    or every window (`sample` None, or a file too short to sample). `AudioError` says why a file cannot be."""
    try:
        if sample and (some := excerpts(classifier, path, sample)) is not None:
            windows, spans, seconds, notes = some.windows, some.spans, some.seconds, some.notes
            full_band, heard_spans = some.gate_audio, some.gate_spans  # the gate hears the decoded windows only
        else:
            clip = classifier.decode(path)
            windows, spans = classifier.spans(clip.samples)
            seconds, notes, full_band, heard_spans = clip.seconds, clip.notes, clip.gate_audio, spans
    except AudioError:
        raise  # it says why in words already
    except Exception as err:  # one odd file must not end a night-long run; the log keeps the traceback
        log.debug("Decoding %s failed", path, exc_info=True)
        raise AudioError(f"it could not be decoded ({type(err).__name__}: {err})") from err
    try:
        heard = gate.listen(full_band, heard_spans)  # here, in the decoding thread: on the CPU, beside the model
    except Exception as err:
        log.debug("The music gate failed on %s", path, exc_info=True)
        raise AudioError(f"the music gate could not hear it ({type(err).__name__}: {err})") from err
    return _Gated(windows, spans, seconds, notes, heard)


def _ahead(pool: Executor, workers: int, paths: list[Path], work: Callable, *args) -> Iterator[tuple[Path, Future]]:
    """`work(path, *args)` of each path in `pool`, a few files ahead of the one awaited: (path, its future), in order.
    The pool goes when the caller stops, its waiting work cancelled."""
    ahead: deque[tuple[Path, Future]] = deque()
    try:
        for path in paths:
            ahead.append((path, pool.submit(work, path, *args)))
            if len(ahead) > 2 * workers:
                yield ahead.popleft()
        while ahead:
            yield ahead.popleft()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _decoded(
    classifier: Classifier, paths: list[Path], workers: int, sample: int | None
) -> Iterator[tuple[Path, Future[_Gated]]]:
    """(path, its windows to come), in order; a few files are decoded and gated ahead in threads, so reading,
    FFmpeg and the gate overlap the model (numpy, soxr and the FFmpeg pipe release the GIL)."""
    yield from _ahead(
        ThreadPoolExecutor(workers, thread_name_prefix="decode"), workers, paths, _decode, classifier, sample
    )


def decoding_workers(classifier: Classifier) -> int:
    """How many files to decode at once: a GPU outruns one decoding thread, a CPU's forward does not."""
    return min(8, os.cpu_count() or 1) if classifier.on_gpu else 1


MAX_PROCESSES = 8  # each holds its own imports and model, about 0.6 GB with the embedded model
# A process's start (imports, model, numba's cache: 4-7 s on 2 cores) costs about what it saves on this many files
FILES_A_PROCESS = 8


def file_processes(classifier: Classifier, files: int) -> int:
    """How many processes classify `files` whole files at once: one a core (shared with the other processes of a
    `torchrun` on this machine) for a model whose work is all on the CPU in Python (`Classifier.in_processes`) and
    enough files to earn the processes' start; else one."""
    if not classifier.in_processes or classifier.on_gpu:
        return 1
    cores = (os.cpu_count() or 1) // int(os.environ.get("LOCAL_WORLD_SIZE", 1))
    processes = max(1, min(cores, MAX_PROCESSES))
    return processes if files >= FILES_A_PROCESS * processes else 1


_worker: Classifier | None = None  # the classifier of a process of `_in_processes`


def _start_worker(classifier: Classifier) -> None:
    global _worker
    import torch

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the command's: it stops the processes
    torch.set_num_threads(1)  # a process a core: more threads (the features' inverse STFT) would only contend
    _worker = classifier


def _classify_alone(path: Path, sample: int | None) -> Tagged:
    return next(classify_files(_worker, [path], 1, sample))


def _pool(classifier: Classifier, processes: int) -> ProcessPoolExecutor:
    """`processes` processes started afresh (no threads forked), each with its own copy of `classifier`."""
    spawn = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(processes, mp_context=spawn, initializer=_start_worker, initargs=(classifier,))


def _alone_in_a_process(classifier: Classifier, path: Path, sample: int | None) -> Tagged | None:
    """A file classified in a process of its own; None where that process dies too."""
    with _pool(classifier, 1) as pool:
        try:
            return pool.submit(_classify_alone, path, sample).result()
        except BrokenProcessPool:
            return None


MAX_DEATHS = 3  # processes dead in a row with no file answered between them: not a file's fault; the run ends


def _in_processes(classifier: Classifier, paths: list[Path], processes: int, sample: int | None) -> Iterator[Tagged]:
    """Each file classified whole in one of `processes` processes, answered in order; a few files ahead of the one
    awaited, as decoding is. A process that dies (the kernel's out-of-memory killer, a decoder's crash) takes the
    files it held with it: the first unanswered one is classified again in a process of its own (skipped where that
    one dies too), and the rest in new processes."""
    deaths = 0
    while paths:
        answered = 0
        try:
            with contextlib.closing(
                _ahead(_pool(classifier, processes), processes, paths, _classify_alone, sample)
            ) as answers:
                for _, answer in answers:  # a failure here shuts the pool down at once, as stopping early does
                    tagged = answer.result()
                    answered, deaths = answered + 1, 0
                    yield tagged
            return
        except BrokenProcessPool as err:
            if (deaths := deaths + 1) > MAX_DEATHS:
                raise TagError(
                    "its processes keep dying (out of memory?); every row written so far is kept, and the same "
                    "command resumes."
                ) from err
        suspect, paths = paths[answered], paths[answered + 1 :]
        log.warning("A process died (out of memory, or a crash): %s is classified again alone", suspect)
        if (tagged := _alone_in_a_process(classifier, suspect, sample)) is None:
            deaths += 1
            tagged = Tagged(suspect, error="its process died twice while classifying it (a crash, or out of memory)")
        else:
            deaths = 0
        yield tagged


def classify_files(
    classifier: Classifier,
    paths: list[Path],
    workers: int = 1,
    sample: int | None = SAMPLED_WINDOWS,
    processes: int = 1,
) -> Iterator[Tagged]:
    """Classify every file, yielding each one as soon as all its windows are done: `sample` windows spread over a
    long file (`sampling.py`), or every window of every file with `sample` None. With `processes` above 1 (and more
    files than one), each file is classified whole in one of that many processes, in order (`file_processes`).

    Full-length windows of consecutive files share batches of the classifier's `batch_size`. The one shorter window
    of a clip shorter than the model's window goes alone, at once: padding it to its batch-mates' length would
    change its answer. With `sample` None, each file gets what `Classifier.classify` would give its `Clip` alone,
    music gate included.
    """
    from ..core.model import Prediction

    if processes > 1 and len(paths) > 1:
        yield from _in_processes(classifier, paths, processes, sample)
        return
    batch_size = classifier.batch_size
    window = int(round(classifier.window_seconds * classifier.sampling_rate))
    queue: list[tuple[dict, int, np.ndarray]] = []  # (file's entry, window index, samples), all of `window` length

    def run(batch: list[tuple[dict, int, np.ndarray]]) -> Iterator[Tagged]:
        answers = classifier.predict_windows(np.stack([samples for *_, samples in batch]))
        for (entry, index, _), probs in zip(batch, answers, strict=True):
            entry["probs"][index] = probs
            entry["left"] -= 1
            if entry["left"] == 0:
                prediction = Prediction.from_windows(classifier.labels, entry["probs"], entry["spans"], entry["heard"])
                yield Tagged(entry["path"], prediction, entry["seconds"], entry["notes"])

    for path, decoding in _decoded(classifier, paths, workers, sample):
        try:
            gated = decoding.result()
        except AudioError as err:  # a file that cannot be read is skipped, with the reason
            yield Tagged(path, error=str(err))
            continue
        windows = gated.windows
        # The entry keeps the clip's length, notes and gate's answers only: its samples go with its last window.
        entry = {
            "path": path,
            "seconds": gated.seconds,
            "notes": gated.notes,
            "spans": gated.spans,
            "heard": gated.heard,
            "left": len(windows),
            "probs": np.empty((len(windows), len(classifier.labels))),
        }
        if windows.shape[1] < window:
            yield from run([(entry, 0, windows[0])])
            continue
        queue += [(entry, i, w) for i, w in enumerate(windows)]
        while len(queue) >= batch_size:
            batch, queue = queue[:batch_size], queue[batch_size:]
            yield from run(batch)
    while queue:
        batch, queue = queue[:batch_size], queue[batch_size:]
        yield from run(batch)
