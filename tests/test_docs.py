"""The docs say what the measurements say: every table in docs/ and the README is what docs/render.py writes from
benchmarks/results, and the README stays a page for people, with its Spaces header and its two commands."""

from __future__ import annotations

import shutil
import sys

import pytest

from .helpers import ROOT

sys.path.insert(0, str(ROOT / "docs"))
import render  # noqa: E402


@pytest.mark.skipif(not shutil.which("git") or not (ROOT / ".git").exists(), reason="dates come from git")
def test_every_table_is_rendered_from_its_results():
    for page in render.PAGES:
        text = page.read_text()
        assert render.render(text) == text, f"{page.name}: run python docs/render.py"
    names = {m["name"] for page in render.PAGES for m in render.TABLE.finditer(page.read_text())}
    assert names == set(render.TABLES)  # every table is on a page, and every marker names a table


def test_the_readme_is_short_and_keeps_the_spaces_header_and_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 250
    header = readme.split("---")[1]
    assert "sdk: gradio" in header and "python_version:" in header and "app_file: app.py" in header
    assert "pip install -r requirements.txt && python app.py" in readme
    assert "pip install -r requirements-dev.txt && ruff check . && ruff format --check . && python -m pytest" in readme
    cpu_torch = readme.index("pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu")
    assert cpu_torch < readme.index("pip install -r requirements.txt && python app.py")  # a copier reads it first
    assert "this session" not in readme.lower() and "last run" not in readme.lower()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "pip install -q -r requirements-dev.txt && ruff check . && ruff format --check . && python -m pytest" in ci


def test_the_gradio_requirement_is_the_release_line_the_space_header_names():
    """`pip install -r requirements.txt` next year gets the Gradio the Space runs and the tests ran."""
    header = (ROOT / "README.md").read_text().split("---")[1]
    sdk = next(line.split(":", 1)[1].strip() for line in header.splitlines() if line.startswith("sdk_version:"))
    major, minor, _ = sdk.split(".")
    pins = [
        line.split("#")[0].strip()
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.startswith("gradio")
    ]
    assert pins == [f"gradio[mcp]~={major}.{minor}.0"], pins
