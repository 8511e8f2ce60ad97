"""`pip install .` gives the `genre-classifier` command, with the embedded model, the examples and the beets plugin."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import soundfile as sf

from .helpers import CLIPS, ROOT


@pytest.mark.slow
def test_the_installed_command_tags_from_any_folder(tmp_path):
    target = tmp_path / "site"  # the package alone; its dependencies are this environment's
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    assert (target / "genre_classifier" / "core" / "baseline_model.npz").is_file()
    assert (target / "genre_classifier" / "examples" / "ATTRIBUTION.md").is_file()
    assert (target / "beetsplug" / "genreclassifier.py").is_file()
    elsewhere = tmp_path / "music"
    elsewhere.mkdir()
    samples, sr = sf.read(CLIPS / "jazz.00000.wav", frames=3 * 22050)
    sf.write(elsewhere / "jazz.wav", samples, sr)
    env = {**os.environ, "PYTHONPATH": str(target), "MODEL_ID": "baseline"}
    command = [sys.executable, str(target / "bin" / "genre-classifier")]
    for args, expected in ((["--help"], "serve"), (["tag", "--help"], "--write-tags")):
        shown = subprocess.run([*command, *args], cwd=elsewhere, env=env, capture_output=True, text=True)
        assert shown.returncode == 0 and expected in shown.stdout
    done = subprocess.run(
        [*command, "tag", ".", "--output", "genres.csv"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "jazz.wav" in (elsewhere / "genres.csv").read_text()


def test_the_space_installs_requirements_without_the_checkout():
    """The Space builder runs `pip install -r requirements.txt` on its own: no line may name this folder."""
    lines = [line.split("#")[0].strip() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    assert not [line for line in lines if line in (".", "-e .") or line.startswith(("-e", "file:", "./"))]
