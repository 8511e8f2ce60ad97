"""Screenshots for the README, taken in a real browser from `python app.py`.

    python docs/screenshots.py [--model baseline]

Starts the app (the embedded model by default: it has learned, so the answers mean something), opens it in
headless Debian Chromium whose fake microphone plays a real recording, clicks the Hungarian Dance example on the
Clip tab at a laptop's width (1366 px), the Vibe Ace example at a phone's (390 px, twice the pixels, as phones
draw), and listens for a while on the Live tab. Writes docs/clip-tab.png, docs/clip-tab-phone.png and
docs/live-tab.png, scaled down to keep the repository small.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import librosa
import soundfile as sf
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import chromium  # noqa: E402
from tests.helpers import ServedApp  # noqa: E402

WIDTH, PHONE_WIDTH = 900, 450  # pixels of the committed images


def shrink(source: Path, target: Path, width: int = WIDTH) -> None:
    image = Image.open(source).convert("RGB")
    image = image.resize((width, round(image.height * width / image.width)), Image.LANCZOS)
    image.quantize(colors=256).save(target, optimize=True)


def show_example(page, name: str) -> None:
    """Click an example and wait for its whole answer: the summary without "so far", and the plots."""
    page.get_by_role("button", name=name).click()
    page.locator("#waveform img").wait_for(timeout=120_000)
    page.wait_for_function("() => !document.querySelector('#details').innerText.includes('so far')")
    page.mouse.move(0, 0)  # no hover highlight on the button under the pointer
    page.wait_for_timeout(500)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="baseline")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        microphone = tmp / "microphone.wav"
        samples, _ = librosa.load(ROOT / "examples" / "hungarian_dance_5.ogg", sr=48000)
        sf.write(microphone, samples, 48000, subtype="PCM_16")
        app = ServedApp({"MODEL_ID": args.model}, tmp / "app.log")
        try:
            app.wait_ready()
            with sync_playwright() as playwright:
                browser = chromium(playwright, microphone)
                phone = browser.new_page(viewport={"width": 390, "height": 1800}, device_scale_factor=2)
                phone.goto(app.url, wait_until="load")
                show_example(phone, "Vibe Ace (jazz)")
                phone.screenshot(path=tmp / "phone.png")  # down to the genre over time
                shrink(tmp / "phone.png", ROOT / "docs" / "clip-tab-phone.png", PHONE_WIDTH)

                context = browser.new_context(viewport={"width": 1366, "height": 1000}, permissions=["microphone"])
                page = context.new_page()
                page.goto(app.url, wait_until="load")
                show_example(page, "Hungarian Dance No. 5 (stereo, 44.1 kHz)")
                page.screenshot(path=tmp / "clip.png", full_page=True)
                shrink(tmp / "clip.png", ROOT / "docs" / "clip-tab.png")

                page.get_by_role("tab", name="Live").click()
                page.locator("#live-mic").get_by_role("button", name="Record", exact=True).click()
                page.wait_for_timeout(15_000)
                page.screenshot(path=tmp / "live.png", full_page=True)
                page.locator("#live-mic").get_by_role("button", name="Stop", exact=True).click()
                shrink(tmp / "live.png", ROOT / "docs" / "live-tab.png")
                browser.close()
        finally:
            app.stop()
    print("wrote docs/clip-tab.png, docs/clip-tab-phone.png and docs/live-tab.png")


if __name__ == "__main__":
    main()
