"""The Many files tab in a real browser (headless Debian Chromium driven by Playwright): drop files, watch the
table fill in, download the CSV. A screenshot of the finished tab goes to artifacts/ (ignored by git)."""

from __future__ import annotations

import csv
import shutil

import pytest

from benchmarks.common import chromium
from genre_classifier import GENRES

from .helpers import CLIPS, EXAMPLES, ROOT

sync_api = pytest.importorskip("playwright.sync_api")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not shutil.which("chromium"), reason="Debian's chromium is not installed"),
]
ARTIFACTS = ROOT / "artifacts"


@pytest.fixture(scope="module")
def page(served_tiny):
    with sync_api.sync_playwright() as playwright:
        browser = chromium(playwright)
        page = browser.new_page(viewport={"width": 1280, "height": 1200})
        page.goto(served_tiny.url, wait_until="load")
        page.locator("#model-info").wait_for()
        yield page
        browser.close()


def test_dropping_files_fills_the_table_file_by_file_and_the_csv_downloads(page, tmp_path):
    trumpet = tmp_path / "solo trumpet.ogg"
    shutil.copy(EXAMPLES / "trumpet_loop.ogg", trumpet)
    bad = tmp_path / "holiday-notes.wav"
    bad.write_text("Not audio at all.\n" * 50)
    page.get_by_role("tab", name="Many files").click()
    page.get_by_text("Drop up to 20 files").wait_for()  # the limit is shown
    # Record the table's row counts as they change, to see it fill in rather than appear whole.
    page.evaluate("""() => { window.rowCounts = [];
        setInterval(() => { const n = document.querySelectorAll('#tag-table [role=row][data-index]').length;
                            if (window.rowCounts.at(-1) !== n) window.rowCounts.push(n); }, 20); }""")
    page.locator("#tag-files input[type=file]").set_input_files([str(bad), str(trumpet), str(CLIPS / "pop.00000.wav")])
    link = page.locator("#tag-csv a").first
    link.wait_for(timeout=90_000)  # the CSV comes once the last file is done

    counts = page.evaluate("window.rowCounts")
    assert counts[-1] == 3 and {1, 2} & set(counts), counts  # one row, then two, then three
    rows = page.locator("#tag-table [role=row][data-index]")  # the data rows of Gradio's virtual table
    text = [rows.nth(i).inner_text() for i in range(3)]
    assert "holiday-notes.wav" in text[0] and "Could not read holiday-notes.wav as audio" in text[0]
    assert text[1].startswith("solo trumpet.ogg") and any(genre in text[1] for genre in GENRES)
    assert text[2].startswith("pop.00000.wav") and any(genre in text[2] for genre in GENRES)

    with page.expect_download() as download:
        link.click()
    saved = tmp_path / "downloaded.csv"
    download.value.save_as(saved)
    with open(saved, newline="") as f:
        downloaded = list(csv.DictReader(f))
    assert [row["path"] for row in downloaded] == ["holiday-notes.wav", "solo trumpet.ogg", "pop.00000.wav"]
    assert downloaded[0]["genre"] == "" and downloaded[2]["genre"] in GENRES and downloaded[2]["seconds"] == "30.0"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "browser-many-files.png", full_page=True)
