"""What a `/classify` request spends outside the model's forward, step by step, against the naive recipe.

    python benchmarks/outside.py [--runs 5]

On ZeroGPU the forward takes milliseconds on a GPU, so what a visitor waits for is the rest, on the Space's CPU:
decoding, featurizing, the figures drawn and encoded, the summary and Gradio's own processing. Measured in one run:

- the naive recipe as `benchmarks/latency.py` defines it (`pipeline("audio-classification")` in fp32 on the 30 s
  clip at 16 kHz, then three `librosa.display` plots), with the true-size DistilHuBERT (random weights);
- the app's own `classify` handler on a real 30 s GTZAN clip and on ten minutes of GTZAN clips, each yield passed
  through Gradio's `Blocks.postprocess_data` exactly as the server does (that is where `gr.Plot` encodes a
  figure), with `spaces.GPU` replaced by the tests' recorder, which times the forward (and pickles what crosses
  ZeroGPU's boundary, except as a CPU serves). "outside" is the request's time less the forward's: the handler
  draws while the forward runs in its worker thread, so this is the time no forward runs. As a CPU serves them:
  the true-size model's forward on the app's runtime, window by window. As a GPU serves them (one call a clip),
  and 30 s clips of lengths not seen before (every time axis drawn afresh): a stand-in forward returning fixed
  probabilities at once, so that nothing is drawn beside it; and as on a GPU whose call takes GPU_CALL_S (an
  assumption: ZeroGPU's own overhead cannot be measured here), the CPU idle meanwhile;
- a person talking for 30 s (a real telephone prompt, tests/data/speech-en-phone.ogg, repeated), which the music gate
  and its speech detector answer "not music": its whole request against the music clip's (`speech_x_music`);
- each step alone: decoding, featurizing, the music gate, the spectrograms, each figure drawn and encoded, and the
  genre-over-time figure of every partial answer.

Medians of `runs`; the load average is recorded (the host is shared). Writes benchmarks/results/outside.json.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import GTZAN, GPURecorder, machine, naive_seconds, save_distilhubert  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "outside.json"
CLIP = GTZAN / "jazz.00000.wav"
GPU_CALL_S = 0.25  # an assumed ZeroGPU call (its scheduling, the worker's transfer, the forward), not a measured one


def median_time(fn, runs: int) -> float:
    """Median seconds of `runs` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def talking(path: Path) -> Path:
    """30 s of a real person talking: the tests' telephone prompt, end to end."""
    voice, rate = sf.read(ROOT / "tests" / "data" / "speech-en-phone.ogg", dtype="float32")
    sf.write(path, np.tile(voice, 2)[: 30 * rate], rate)
    return path


def ten_minutes(path: Path) -> Path:
    """Ten minutes of real music (the GTZAN clips end to end), the longest stretch the app analyses."""
    audio = np.concatenate([sf.read(p, dtype="float32")[0] for p in sorted(GTZAN.glob("*.wav"))])
    sf.write(path, np.tile(audio, 3)[: 600 * 22050], 22050)
    return path


class Request:
    """The app's `classify` handler and Gradio's processing of its yields, with the forward timed."""

    def __init__(self, classifier, recorder: GPURecorder) -> None:
        from gradio.state_holder import SessionState

        from genre_classifier.web.handlers import make_classify
        from genre_classifier.web.page import build_demo

        self.classify, self.recorder = make_classify(classifier), recorder
        demo = build_demo(classifier)
        self.demo = demo
        self.block_fn = next(fn for fn in demo.fns.values() if fn.api_name == "classify")
        self.state = SessionState(demo)  # the server keeps one per visitor

    def __call__(self, path: Path) -> dict:
        """One request."""
        self.recorder.calls.clear()
        started = time.perf_counter()
        postprocess, first, yields = 0.0, None, 0
        for outputs in self.classify(str(path)):
            begun = time.perf_counter()
            first = first or begun - started
            asyncio.run(self.demo.postprocess_data(self.block_fn, list(outputs), self.state))
            postprocess += time.perf_counter() - begun
            yields += 1
        request = time.perf_counter() - started
        forward = sum(call["seconds"] for call in self.recorder.calls)
        return {
            "request_s": request,
            "forward_s": forward,
            "outside_s": request - forward,
            "gradio_s": postprocess,
            "first_answer_s": first,
            "yields": yields,
        }


def requests(classifier, recorder, clips: dict[str, Path], runs: int) -> dict:
    request = Request(classifier, recorder)
    out = {}
    for name, path in clips.items():
        request(path)  # first-call costs out of the way
        rows = [request(path) for _ in range(runs)]
        out[name] = {key: round(statistics.median(row[key] for row in rows), 3) for key in rows[0]}
    return out


def new_lengths(classifier, recorder, folder: Path, runs: int) -> dict:
    """30 s clips each cut to a length not seen before: the time axis of every figure is drawn afresh."""
    request = Request(classifier, recorder)
    clip, rate = sf.read(CLIP, dtype="float32")
    paths = [folder / f"cut-{i}.wav" for i in range(runs + 1)]
    for i, path in enumerate(paths):
        sf.write(path, clip[: len(clip) - (i + 1) * rate // 3], rate)
    rows = [request(path) for path in paths][1:]  # the first pays first-call costs
    return {key: round(statistics.median(row[key] for row in rows), 3) for key in rows[0]}


def steps(classifier, path: Path, runs: int) -> dict:
    """Each step of the request alone, as the handler runs it."""

    from genre_classifier.core import gate
    from genre_classifier.core.audio import split_windows
    from genre_classifier.core.extractor import featurize
    from genre_classifier.web import figure, plots

    sr = classifier.sampling_rate
    clip = classifier.decode(path)
    samples = clip.samples
    duration = len(samples) / sr
    windows, starts = split_windows(samples, int(round(classifier.window_seconds * sr)))
    spans = [(s / sr, (s + windows.shape[1]) / sr) for s in starts]
    probs = np.random.default_rng(0).dirichlet(np.ones(len(classifier.labels)), len(spans))
    stft_db, mel_db = plots.spectrograms(samples, sr)

    def fresh_timeline(*args, **kwargs) -> None:  # a new figure, drawn whole (a kept one draws a part)
        figure._KEPT.clear()
        plots.genre_timeline_image(*args, **kwargs)

    def timelines(draw) -> None:  # the genre-over-time figure of every partial answer and of the whole
        for n in range(1, len(spans) + 1):
            draw(classifier.labels, probs[:n], spans[:n], duration, pending=n < len(spans))

    out = {
        "decode": lambda: classifier.decode(path),
        "featurize": lambda: [featurize(classifier.feature_extractor, w[None], sr, tensors="np") for w in windows],
        "music_gate": lambda: gate.listen(clip.gate_audio, spans),  # on the CPU, in a thread beside the forward
        "spectrograms": lambda: plots.spectrograms(samples, sr),
        # what the app draws: the kept figures, encoded
        "clip_images": lambda: plots.clip_images(samples, sr),
        "genre_over_time_image": lambda: plots.genre_timeline_image(classifier.labels, probs, spans, duration),
        f"genre_over_time_image_x{len(spans)}": lambda: timelines(plots.genre_timeline_image),
        # the same figures each drawn whole, as a new figure (what keeping them saves)
        "fresh_waveform": lambda: plots._Waveform().update(samples, sr).webp(),
        "fresh_spectrogram": lambda: plots._Spectrogram(sr, *plots._range(stft_db)).update(stft_db, duration).webp(),
        "fresh_mel": lambda: plots._Spectrogram(sr, *plots._range(mel_db), True).update(mel_db, duration).webp(),
        "fresh_genre_over_time": lambda: fresh_timeline(classifier.labels, probs, spans, duration),
        f"fresh_genre_over_time_x{len(spans)}": lambda: timelines(fresh_timeline),
    }
    return {name: round(median_time(fn, runs), 4) for name, fn in out.items()}


FIGURES = ["waveform", "spectrogram", "mel", "genre_over_time"]


def answer_figures(classifier, path: Path) -> list:
    """The four figures of the clip's whole answer, as the handler's last yield carries them."""
    from genre_classifier.web.handlers import make_classify

    *_, outputs = make_classify(classifier)(str(path))
    waveform, spectrogram, mel, _, genre_over_time = outputs[2:]
    return [waveform, spectrogram, mel, genre_over_time]


def webp_bytes(classifier, path: Path) -> dict:
    """The size of each encoded figure, as sent to the page."""
    from gradio.components import Plot

    figures = zip(FIGURES, answer_figures(classifier, path), strict=True)
    return {name: len(Plot(format="webp").postprocess(figure).plot) * 3 // 4 for name, figure in figures}


def save_png(classifier, path: Path, folder: Path) -> None:
    """The four figures as PNG, to look at before and after a change."""
    import base64

    from gradio.components import Plot
    from PIL import Image

    for name, figure in zip(FIGURES, answer_figures(classifier, path), strict=True):
        data = Plot(format="webp").postprocess(figure).plot.split(",", 1)[1]
        Image.open(io.BytesIO(base64.b64decode(data))).save(folder / f"{name}.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--png", type=Path, help="also write the 30 s clip's four figures as PNG into this folder")
    args = parser.parse_args()
    import spaces

    from genre_classifier.core.model import GPU_BATCH, TransformerClassifier
    from genre_classifier.web import gpu

    results: dict = {"machine": machine(), "runs": args.runs, "clip": CLIP.name}
    print(json.dumps(results["machine"]), flush=True)
    recorder = GPURecorder()
    spaces.GPU = recorder  # before the model's forward borrows it
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model_dir = save_distilhubert(tmp / "distilhubert")
        naive = results["naive_s"] = round(naive_seconds(model_dir, CLIP, args.runs), 3)
        print(f"naive recipe (30 s clip): {naive:.2f} s", flush=True)
        long = ten_minutes(tmp / "ten-minutes.wav")
        classifier = gpu.borrow(TransformerClassifier.from_pretrained(str(model_dir), device="cpu"))
        switching = classifier.switch_runtime()  # the app's forward on a CPU (OpenVINO, where it applies)
        if switching is not None:
            switching.join()
        results["served"] = classifier.description
        if classifier.runtime is not None:  # OpenVINO answers on a CPU, not `classifier.forward`: time it there
            classifier.runtime = recorder(classifier.runtime)
        clips = {"30 s": CLIP, "30 s speech": talking(tmp / "talking.wav"), "10 min": long}
        # As a CPU serves: the true forward, window by window, each answer drawn while the next window is classified.
        recorder.crossing = False  # a CPU Space calls its forward directly
        results["cpu_streaming"] = requests(classifier, recorder, clips, args.runs)
        recorder.crossing = True
        # A stand-in forward: fixed probabilities at once, still featurized and pickled across the recorder's
        # boundary; as on a GPU, whose forward takes milliseconds, nothing is drawn beside it.
        fixed = np.random.default_rng(0).dirichlet(np.ones(len(classifier.labels)))

        def stand_in(inputs: dict[str, np.ndarray]) -> np.ndarray:
            return np.tile(fixed, (len(next(iter(inputs.values()))), 1))

        classifier.forward = recorder(stand_in, duration=lambda inputs: 0)
        classifier.runtime = None  # as on a GPU: the (stand-in) forward answers, not OpenVINO
        results["new_lengths"] = {"30 s": new_lengths(classifier, recorder, tmp, args.runs)}
        classifier.batch_size, classifier.step_windows = GPU_BATCH, 4 * GPU_BATCH  # as on a GPU: one call a clip
        results["gpu_layout"] = requests(classifier, recorder, clips, args.runs)

        def waiting(inputs: dict[str, np.ndarray]) -> np.ndarray:  # the CPU idle while a GPU computes
            time.sleep(GPU_CALL_S)
            return stand_in(inputs)

        classifier.forward = recorder(waiting, duration=lambda inputs: 0)
        results["gpu_layout_waiting"] = requests(classifier, recorder, clips, args.runs)
        results["gpu_call_s"] = GPU_CALL_S
        classifier.batch_size, classifier.step_windows = 1, 1
        music = {name: path for name, path in clips.items() if "speech" not in name}
        results["steps"] = {name: steps(classifier, path, args.runs) for name, path in music.items()}
        results["webp_bytes_30s"] = webp_bytes(classifier, CLIP)
        if args.png:
            args.png.mkdir(parents=True, exist_ok=True)
            save_png(classifier, CLIP, args.png)
    for mode in ("cpu_streaming", "new_lengths", "gpu_layout", "gpu_layout_waiting"):
        for name, row in results[mode].items():
            row["outside_x_naive"] = round(row["outside_s"] / naive, 3)
            print(f"{mode} {name}: {row}")
        if "30 s speech" in results[mode]:  # a talking clip's whole answer against a music clip's
            ratio = results[mode]["30 s speech"]["request_s"] / results[mode]["30 s"]["request_s"]
            results.setdefault("speech_x_music", {})[mode] = round(ratio, 3)
    print(f"speech / music: {results.get('speech_x_music')}")
    results["music_gate_x_naive"] = round(results["steps"]["30 s"]["music_gate"] / naive, 4)
    for name, row in results["steps"].items():
        print(f"steps {name}: {row}")
    print(f"webp bytes: {results['webp_bytes_30s']}")
    results["load_average_at_end"] = list(os.getloadavg())
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
