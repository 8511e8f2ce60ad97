"""What one live microphone session costs on this machine, and what it does to an upload meanwhile.

    python benchmarks/live.py [--seconds 40]

The Live tab's own handler (`genre_classifier.web.handlers.make_listen`) gets 0.1 s 48 kHz int16 chunks of a real
clip at real-time pace, as Gradio 6's microphone stream sends them, in a thread of this process as Gradio runs
it. Measured: the CPU it takes (process CPU seconds per second, 2.0 = both cores), how often it answers and
how long an answer takes, and a 30 s upload's classification time alone and while the session runs. True-size
DistilHuBERT (random weights) with PRECISION=auto, and the embedded model. Writes benchmarks/results/live.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

import librosa
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import GTZAN, machine, save_distilhubert  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "live.json"


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


CHUNK_SECONDS = 0.1  # what Gradio 6's microphone stream sends, whatever the event's stream_every


def live_session(listen, seconds: float, answers: list[float]) -> None:
    """Feed `seconds` of real music in 0.1 s chunks at real-time pace; record each answer's compute time."""
    samples, _ = librosa.load(GTZAN / "disco.00000.wav", sr=48000)
    pcm = (np.tile(samples, 3) * 32767).astype(np.int16)
    step = int(CHUNK_SECONDS * 48000)
    session, start, shown = None, time.monotonic(), None
    for i in range(int(seconds / CHUNK_SECONDS)):
        label, _, _, session = listen((48000, pcm[i * step : (i + 1) * step]), session)
        if isinstance(label, dict) and label is not shown:  # a new answer handed over (the last one repeats)
            answers.append(session.last_call)
        shown = label
        time.sleep(max(0.0, start + (i + 1) * CHUNK_SECONDS - time.monotonic()))


def measure(model_id: str, seconds: float) -> dict:
    from genre_classifier.core.loading import load_classifier
    from genre_classifier.web.handlers import make_listen

    classifier, _ = load_classifier(model_id)
    listen = make_listen(classifier)
    upload = classifier.decode(GTZAN / "jazz.00000.wav").samples
    classifier.classify(upload)  # warm-up
    alone = min(_timed(lambda: classifier.classify(upload)) for _ in range(3))

    answers: list[float] = []
    cpu, wall = cpu_seconds(), time.monotonic()
    live_session(listen, seconds / 2, answers)  # the session alone
    cpu_share = (cpu_seconds() - cpu) / (time.monotonic() - wall)

    thread = threading.Thread(target=live_session, args=(listen, seconds / 2, []))
    thread.start()
    time.sleep(2)
    during = _timed(lambda: classifier.classify(upload))
    thread.join()
    return {
        "served": classifier.description,
        "cores_used": cpu_share,
        "answers_per_s": len(answers) / (seconds / 2),
        "answer_s": float(np.median(answers)) if answers else None,
        "upload_30s_alone_s": alone,
        "upload_30s_during_live_s": during,
    }


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=40)
    args = parser.parse_args()
    results = {"machine": machine()}
    with tempfile.TemporaryDirectory() as tmp:
        for name, model_id in (("distilhubert", str(save_distilhubert(Path(tmp) / "h"))), ("baseline", "baseline")):
            r = results[name] = measure(model_id, args.seconds)
            cores = results["machine"]["cores"]
            print(
                f"{r['served']}: one live session uses {r['cores_used']:.2f} of {cores} cores, "
                f"{r['answers_per_s']:.2f} answers/s of {r['answer_s']:.2f} s each; a 30 s upload takes "
                f"{r['upload_30s_alone_s']:.2f} s alone, "
                f"{r['upload_30s_during_live_s']:.2f} s during it"
            )
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
