"""The recorded-like copy's codec against a real browser's: a clip fed to Chromium as its microphone (a fake capture
device reading a WAV), recorded by MediaRecorder as the Space's page records (WebM/Opus), decoded by the app's
decoder, and compared with `train.recorded.opus` of the same clip at 24 and 32 kbit/s.

    python benchmarks/browser_codec.py [--clip PATH] [--output FILE]

For each copy: the signal-to-distortion ratio against the clip (after aligning the recording, which starts
anywhere in the fake device's loop), the frequency under which 99 % of its energy lies, and the embedded model's
top genre. Needs Debian's chromium and Playwright. Results: benchmarks/results/browser_codec.json (docs/recorded.md).
"""

from __future__ import annotations

import argparse
import base64
import http.server
import json
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

from benchmarks.common import GTZAN, chromium, machine  # noqa: E402
from genre_classifier.core.audio import load_audio  # noqa: E402
from genre_classifier.core.model import BaselineClassifier  # noqa: E402
from train.recorded import opus  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "browser_codec.json"
RATE = 22050
SECONDS = 10
# The page records its microphone as the app's gr.Audio does: plain audio (no echo cancelling, noise suppression
# or gain control, which are for calls), MediaRecorder's default codec for audio/webm: Opus.
PAGE = b"""<!doctype html><script>
async function record(ms) {
  const stream = await navigator.mediaDevices.getUserMedia({audio: {echoCancellation: false,
      noiseSuppression: false, autoGainControl: false}});
  const recorder = new MediaRecorder(stream, {mimeType: 'audio/webm;codecs=opus'});
  const chunks = [];
  recorder.ondataavailable = (e) => chunks.push(e.data);
  const done = new Promise((resolve) => recorder.onstop = resolve);
  recorder.start();
  await new Promise((resolve) => setTimeout(resolve, ms));
  recorder.stop();
  await done;
  const bytes = new Uint8Array(await new Blob(chunks).arrayBuffer());
  let text = ''; for (const b of bytes) text += String.fromCharCode(b);
  return {b64: btoa(text), bitrate: recorder.audioBitsPerSecond};
}
</script>"""


def browser_recording(clip: np.ndarray, folder: Path, seconds: float) -> tuple[bytes, int]:
    """What Chromium's MediaRecorder makes of `clip` played as its microphone: WebM bytes and its bit rate."""
    from playwright.sync_api import sync_playwright

    wav = folder / "microphone.wav"
    sf.write(wav, clip, RATE, subtype="PCM_16")

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the standard library's name)
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(PAGE)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)  # getUserMedia needs a secure origin: localhost
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with sync_playwright() as playwright:
            browser = chromium(playwright, wav)
            page = browser.new_context(permissions=["microphone"]).new_page()
            page.goto(f"http://127.0.0.1:{server.server_port}/")
            result = page.evaluate(f"record({int(seconds * 1000)})")
            browser.close()
    finally:
        server.shutdown()
    return base64.b64decode(result["b64"]), int(result["bitrate"])


def aligned(copy: np.ndarray, clip: np.ndarray) -> np.ndarray:
    """`copy` shifted to match `clip` (the fake device loops the file; a recording starts anywhere in it, and Opus
    adds a few ms of delay), the same length, by the peak of their circular cross-correlation."""
    n = len(clip)
    copy = np.resize(copy, n) if len(copy) < n else copy[:n]
    lag = int(np.argmax(np.fft.irfft(np.fft.rfft(clip) * np.conj(np.fft.rfft(copy)), n)))
    return np.roll(copy, lag)


def describe(copy: np.ndarray, clip: np.ndarray, classifier) -> dict:
    gain = float(np.dot(copy, clip) / np.dot(copy, copy))  # the level that best matches the clip
    residual = clip - gain * copy
    spectrum = np.abs(np.fft.rfft(copy)) ** 2
    edge = np.fft.rfftfreq(len(copy), 1 / RATE)[np.searchsorted(np.cumsum(spectrum) / spectrum.sum(), 0.99)]
    noise = float(np.sum(residual**2))
    sdr = round(float(10 * np.log10(np.sum(clip**2) / noise)), 1) if noise > 0 else None  # None: the clip itself
    return {"sdr_db": sdr, "energy_99_hz": int(edge), "embedded_top": classifier.classify(copy).top}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clip", type=Path, default=GTZAN / "rock.00000.wav")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    clip = load_audio(args.clip, RATE).samples[: SECONDS * RATE]
    classifier = BaselineClassifier()
    with tempfile.TemporaryDirectory(prefix="browser-codec-") as tmp:
        webm, bitrate = browser_recording(clip, Path(tmp), SECONDS + 1)
    recorded = load_audio(webm, RATE).samples
    results = {
        "clip": args.clip.name,
        "seconds": SECONDS,
        "browser_bitrate": bitrate,
        "clip_itself": describe(clip, clip, classifier),
        "browser": describe(aligned(recorded, clip), clip, classifier),
        **{f"opus_{kbps}k": describe(aligned(opus(clip, RATE, kbps), clip), clip, classifier) for kbps in (24, 32)},
        "machine": machine(),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps({k: v for k, v in results.items() if k != "machine"}, indent=2))


if __name__ == "__main__":
    main()
