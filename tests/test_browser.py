"""The app in a real browser (headless Debian Chromium driven by Playwright), microphone included.

Chromium's fake capture device plays a real GTZAN clip into the microphone, so recording is tested for
real. A screenshot of the finished page is saved to artifacts/ (ignored by git).
"""

from __future__ import annotations

import shutil
import subprocess

import librosa
import pytest
import soundfile as sf

from genre_classifier import GENRES

from .helpers import GTZAN, ROOT, coloured_fraction

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
sync_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not shutil.which("chromium"), reason="Debian's chromium is not installed")
ARTIFACTS = ROOT / "artifacts"
RESULT_TIMEOUT_MS = 90_000


@pytest.fixture(scope="module")
def microphone_clip(tmp_path_factory):
    """A real clip as 48 kHz 16-bit WAV, the format Chromium's fake capture device reads."""
    samples, _ = librosa.load(GTZAN / "jazz.00000.wav", sr=48000)
    path = tmp_path_factory.mktemp("mic") / "jazz-48k.wav"
    sf.write(path, samples, 48000, subtype="PCM_16")
    return path


@pytest.fixture(scope="module")
def browser(microphone_clip):
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-audio-capture={microphone_clip}",
            ],
        )  # fmt: skip
        yield browser
        browser.close()


@pytest.fixture
def page(browser, served_distilhubert):
    context = browser.new_context(viewport={"width": 1280, "height": 1400}, permissions=["microphone"])
    page = context.new_page()
    page.goto(served_distilhubert.url, wait_until="networkidle")
    yield page
    context.close()


def wait_for_result(page) -> dict[str, str]:
    """Wait until the label and the three plots are shown; return the genre -> percentage text."""
    page.locator("[data-testid=matplotlib] img[src^='data:image/webp']").nth(2).wait_for(timeout=RESULT_TIMEOUT_MS)
    page.locator("[data-testid=label-output-value]").wait_for(timeout=RESULT_TIMEOUT_MS)
    rows = page.locator("[data-testid$=-confidence-set]")
    assert rows.count() == len(GENRES)
    shown = {}
    for i in range(rows.count()):
        genre, percent = rows.nth(i).inner_text().split()
        shown[genre] = percent
    assert sorted(shown) == sorted(GENRES)
    for img in page.locator("[data-testid=matplotlib] img").all():
        assert coloured_fraction(img.get_attribute("src")) > 0.005  # drawn data; empty grey axes score 0
        assert img.evaluate("el => el.naturalWidth > 0 && el.getBoundingClientRect().height > 100")
    return shown


def test_page_loads_and_names_the_model(page):
    assert page.title() == "Music genre classifier"
    info = page.locator("#model-info").inner_text()
    assert info.startswith("Model: ") and "(hubert, 30 s windows, cpu)" in info
    assert page.get_by_role("button", name="Classify").is_visible()


def test_uploading_a_real_clip_shows_genres_and_plots(page):
    page.locator("input[type=file]").first.set_input_files(str(GTZAN / "pop.00000.wav"))
    wait_for_result(page)
    assert "from 30.0 s of audio, 1 window" in page.locator("#details").inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "browser-upload-result.png", full_page=True)


def test_clicking_an_example_classifies_it(page):
    page.get_by_role("button", name="Trumpet loop (5 s)").click()
    wait_for_result(page)
    assert "from 5.3 s of audio" in page.locator("#details").inner_text()


def test_recording_from_the_microphone(page):
    page.get_by_label("Record audio").click()
    page.get_by_role("button", name="Record", exact=True).click()
    page.wait_for_timeout(3000)
    page.get_by_role("button", name="Stop", exact=True).first.click()
    wait_for_result(page)  # stopping the recording classifies it
    details = page.locator("#details").inner_text()
    seconds = float(details.split(" from ")[1].split(" s of audio")[0])
    assert 2.0 < seconds < 8.0, details
    page.screenshot(path=ARTIFACTS / "browser-microphone-result.png", full_page=True)


def test_a_bad_file_shows_the_message_on_the_page(page, tmp_path):
    bad = tmp_path / "holiday-notes.wav"
    bad.write_text("Not audio at all.\n" * 50)
    page.locator("input[type=file]").first.set_input_files(str(bad))
    toast = page.locator(".toast-body").first
    toast.wait_for(timeout=RESULT_TIMEOUT_MS)
    assert "Could not read holiday-notes.wav as audio" in toast.inner_text()


@pytest.mark.skipif(not shutil.which("ffmpeg"), reason="FFmpeg is not installed")
def test_uploading_a_phone_recording_m4a(page, tmp_path):
    memo = tmp_path / "Voice Memo.m4a"  # what an iPhone shares: AAC in an MP4 container
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(GTZAN / "rock.00000.wav"), "-c:a", "aac", str(memo)], check=True)
    page.locator("input[type=file]").first.set_input_files(str(memo))
    wait_for_result(page)
    assert "from 30.0 s of audio, 1 window" in page.locator("#details").inner_text()
    page.screenshot(path=ARTIFACTS / "browser-m4a-result.png", full_page=True)
