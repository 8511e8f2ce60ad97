"""Visitors teach it (issue 43), in headless Chromium: correct an answer, share it with consent, withdraw it."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest
import soundfile as sf

from benchmarks.common import chromium
from genre_classifier.core import feedback
from genre_classifier.core.audio import load_audio
from genre_classifier.core.features import SAMPLING_RATE as FEATURE_RATE
from genre_classifier.web.page import EXAMPLES_DIR

from .helpers import ROOT, ServedApp
from .test_feedback import load

sync_api = pytest.importorskip("playwright.sync_api")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not shutil.which("chromium"), reason="Debian's chromium is not installed"),
]
TIMEOUT_MS = 90_000


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The offline model (fast) with corrections kept in a folder of the test's."""
    folder = tmp_path_factory.mktemp("feedback")
    app = ServedApp({"MODEL_ID": "baseline", "FEEDBACK_DIR": str(folder)}, tmp_path_factory.mktemp("logs") / "fb.log")
    yield app, folder
    app.stop()


@pytest.fixture
def page(served):
    with sync_api.sync_playwright() as playwright:
        browser = chromium(playwright)
        page = browser.new_page(viewport={"width": 1280, "height": 1400})
        page.goto(served[0].url, wait_until="load")
        page.locator("#model-info").wait_for()
        yield page
        browser.close()


def stored(folder) -> list:
    return sorted(p.name for p in (folder / "clips").iterdir())


def test_a_correction_shared_with_consent_is_kept_loads_with_datasets_and_is_withdrawn(page, served):
    app, folder = served
    assert "Corrections are on" in page.locator("#feedback-on").inner_text()
    assert not page.locator("#share").is_visible()  # no "Not right?" before an answer
    page.get_by_role("button", name="Trumpet loop (5 s)").click()
    page.locator("#share").wait_for(timeout=TIMEOUT_MS)
    page.locator("#details h2").wait_for(timeout=TIMEOUT_MS)
    page.wait_for_function("() => !document.querySelector('#details').innerText.includes('so far')")

    consent = page.locator("#consent input[type=checkbox]")
    assert not consent.is_checked()  # unticked until the visitor ticks it
    page.get_by_role("radio", name="jazz").check()
    page.locator("#share").click()
    page.get_by_text("Nothing was stored: tick the box").wait_for(timeout=TIMEOUT_MS)
    assert stored(folder) == []  # without the tick, nothing

    consent.check()
    page.locator("#share").click()
    page.get_by_text("Your receipt").wait_for(timeout=TIMEOUT_MS)
    receipt = re.search(r"Your receipt: ([0-9a-f]{12})", page.locator("#feedback-receipt").inner_text())[1]
    assert not consent.is_checked()  # the tick was for that clip alone
    assert stored(folder) == [receipt]
    (ROOT / "artifacts").mkdir(exist_ok=True)
    page.screenshot(path=ROOT / "artifacts" / "browser-feedback-receipt.png", full_page=True)

    rows = load(folder)
    assert len(rows) == 1 and rows[0]["label"] == "jazz" and rows[0]["receipt"] == receipt
    # Exactly the sound the server classified: the example, decoded at the offline model's rate.
    classified = load_audio(EXAMPLES_DIR / "trumpet_loop.ogg", FEATURE_RATE).samples
    kept, rate = sf.read(rows[0]["audio"]["path"], dtype="float32")
    assert rate == FEATURE_RATE and len(kept) == len(classified)
    assert np.abs(kept - classified).max() < 1e-4  # 16-bit
    assert rows[0]["audio_sha256"] == feedback.audio_hash(classified)

    page.get_by_text("Withdraw a clip you shared").click()
    page.locator("#withdraw-id textarea, #withdraw-id input").first.fill(receipt)
    page.locator("#withdraw").click()
    page.get_by_text(f"Withdrawn: the clip of receipt {receipt}").wait_for(timeout=TIMEOUT_MS)
    assert stored(folder) == [] and feedback.withdrawn(folder) == {receipt}
    assert "Traceback" not in app.log
