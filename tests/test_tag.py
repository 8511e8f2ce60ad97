"""Tagging many files: `python -m genre_classifier tag` and the page's Many files tab (`/tag`).

A small music library of real clips in several formats (made with FFmpeg, as in test_formats.py), with a damaged
file and a file that is not audio, tagged by the tiny HuBERT: the command's rows must be `/classify`'s answers.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from genre_classifier import GENRES
from genre_classifier.core import gate
from genre_classifier.core.model import BaselineClassifier, Prediction
from genre_classifier.core.settings import Settings
from genre_classifier.library import batch, scan, tag
from genre_classifier.library.rows import COLUMNS, RESUME_COLUMNS, result_row

from .helpers import CLIPS, DATA, EXAMPLES, ROOT, classify_file, tag_killed_after_rows
from .test_formats import ffmpeg

pytestmark = pytest.mark.skipif(not shutil.which("ffmpeg"), reason="FFmpeg is not installed")
BAD = {"Rock/cut short.m4a": "is incomplete or damaged", "cover.mp3": "not an audio or video format"}


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> dict[str, Path]:
    """name -> path: a folder tree of real clips, one more file named on its own, and bad files among them."""
    root = tmp_path_factory.mktemp("library")
    lib = root / "Music"
    for folder in ("Blues", "Brass", "Jazz", "Rock", "Videos"):
        (lib / folder).mkdir(parents=True)
    files = {"Blues/blues.00000.wav": lib / "Blues" / "blues.00000.wav"}
    shutil.copy(CLIPS / "blues.00000.wav", files["Blues/blues.00000.wav"])
    files["Brass/solo trumpet.ogg"] = lib / "Brass" / "solo trumpet.ogg"  # stereo 44.1 kHz Vorbis, 5 s
    shutil.copy(EXAMPLES / "trumpet_loop.ogg", files["Brass/solo trumpet.ogg"])
    m4a = files["Jazz/vibe ace.m4a"] = lib / "Jazz" / "vibe ace.m4a"  # 40 s of AAC: two windows
    ffmpeg("-i", str(DATA / "vibe_ace.hq.ogg"), "-vn", "-t", "40", "-c:a", "aac", str(m4a))
    video = files["Videos/phone video.mp4"] = lib / "Videos" / "phone video.mp4"
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=320x240:rate=10:duration=6",
        "-i",
        str(CLIPS / "country.00000.wav"),
        "-shortest",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-c:a",
        "aac",
        str(video),
    )
    files["hiphop.flac"] = root / "hiphop.flac"  # named on the command line, outside the folder
    samples, sr = sf.read(CLIPS / "hiphop.00000.wav", frames=8 * 22050)
    sf.write(files["hiphop.flac"], samples, sr)
    (lib / "Rock" / "cut short.m4a").write_bytes(files["Jazz/vibe ace.m4a"].read_bytes()[:20_000])
    (lib / "cover.mp3").write_text("This is not a song.\n" * 40)
    (lib / "notes.txt").write_text("not audio, and not named like audio: ignored")
    (lib / "._blues.00000.wav").write_bytes(b"\0\5\26\7" * 100)  # macOS metadata beside a copied song: ignored
    return files


def command(library: dict[str, Path], output: Path, *more: str) -> list[str]:
    """The command's arguments: the library folder, the file outside it, a path that does not exist."""
    folder = library["Blues/blues.00000.wav"].parents[1]
    return [
        str(folder),
        str(library["hiphop.flac"]),
        str(folder.parent / "no such folder"),
        "--output",
        str(output),
        *more,
    ]


def run_here(model_dir: Path, args: list[str]) -> tuple[int, str]:
    """The command in this process (its model loads in a second); returns its status and what it printed."""
    printed = io.StringIO()
    handler = logging.StreamHandler(printed)
    logging.getLogger("genre_classifier.library.tag").addHandler(handler)
    try:
        with pytest.MonkeyPatch.context() as env, contextlib.redirect_stdout(printed):
            env.setenv("MODEL_ID", str(model_dir))
            status = tag.main(args)
    finally:
        logging.getLogger("genre_classifier.library.tag").removeHandler(handler)
    return status, printed.getvalue()


def read_rows(path: Path) -> dict[str, dict]:
    with open(path, encoding="utf-8", errors="surrogateescape", newline="") as f:  # a path is its name's bytes
        rows = list(csv.DictReader(f))
    assert len({row["path"] for row in rows}) == len(rows), "a file has two rows"
    return {row["path"]: row for row in rows}


def same_answers(a: dict, b: dict) -> None:
    """Two rows agree: same genre unless the top two are too close to call, probabilities within 1e-4 (processes with
    other thread counts sum in another order)."""
    assert [float(a[g]) for g in GENRES] == pytest.approx([float(b[g]) for g in GENRES], abs=1e-4)
    top_two = sorted(float(a[g]) for g in GENRES)[-2:]
    assert a["genre"] == b["genre"] or top_two[1] - top_two[0] < 2e-4
    assert (str(a["seconds"]), str(a["windows"])) == (str(b["seconds"]), str(b["windows"]))


@pytest.fixture(scope="module")
def single_run(library, tiny_hubert_dir, tmp_path_factory) -> tuple[Path, str]:
    output = tmp_path_factory.mktemp("single") / "genres.csv"
    status, printed = run_here(tiny_hubert_dir, command(library, output))
    assert status == 0, printed
    return output, printed


def test_every_file_gets_the_answer_of_classify_and_the_bad_ones_are_named(single_run, library, served_tiny):
    output, printed = single_run
    rows = read_rows(output)
    good = {name: path for name, path in library.items() if name not in BAD}
    assert sorted(rows) == sorted(str(path) for path in good.values())  # no row for bad, hidden or text files
    client = served_tiny.client()
    for name, path in good.items():
        row = rows[str(path)]
        label = classify_file(client, path)[0]
        confidences = {c["label"]: c["confidence"] for c in label["confidences"]}
        assert [float(row[g]) for g in GENRES] == pytest.approx([confidences[g] for g in GENRES], abs=1e-5), name
        assert row["genre"] == label["label"] and float(row["confidence"]) == pytest.approx(
            max(confidences.values()), abs=1e-6
        )
        assert int(row["size"]) == path.stat().st_size and float(row["mtime"]) == path.stat().st_mtime
    assert rows[str(good["Jazz/vibe ace.m4a"])]["windows"] == "2"
    assert float(rows[str(good["Brass/solo trumpet.ogg"])]["seconds"]) == pytest.approx(5.33, abs=0.01)
    folder = good["Blues/blues.00000.wav"].parents[1]
    for name, message in BAD.items():
        assert f"Skipped {folder / name}: " in printed and message in printed
    assert f"Skipped {folder.parent / 'no such folder'}: no such file or folder" in printed
    assert "Tagged 5 file(s)" in printed and "3 could not be read:" in printed
    assert "notes.txt" not in printed and "._blues" not in printed and "Traceback" not in printed


def test_windows_of_several_files_share_a_batch_and_answer_as_each_file_alone(single_run, library, tiny_hubert_dir):
    """What a GPU does (batches of windows from consecutive files), here on the CPU: the answers of the command's
    one-window-at-a-time run. The 30 s windows of two files share a batch; the shorter ones go alone."""
    settings = replace(Settings.from_environment(), model_id=str(tiny_hubert_dir))
    classifier = tag.load_model(settings, batch_size=3)  # as `--batch-size 3` asks; a GPU's default is 16
    assert classifier.batch_size == 3
    paths = [library[name] for name in ("Jazz/vibe ace.m4a", "Brass/solo trumpet.ogg", "Blues/blues.00000.wav")]
    batched = list(batch.classify_files(classifier, paths, workers=2))
    assert [t.path for t in batched] == [paths[1], paths[0], paths[2]]  # each as soon as its windows are done
    alone = read_rows(single_run[0])
    for tagged in batched:
        assert not tagged.error
        same_answers(result_row(str(tagged.path), tagged.prediction, tagged.seconds), alone[str(tagged.path)])


def test_the_embedded_model_tags_a_file_a_process_with_the_answers_of_one_process(library, tiny_hubert_dir):
    """The embedded model's work is all Python on the CPU: a library's files go to processes, one a core, answered in
    their order with one process's answers, a file that cannot be read skipped with the same reason. A transformer's
    forward uses every core already: its files stay in one process, as a handful of files do."""
    classifier, library_size = BaselineClassifier(), 10_000
    assert batch.file_processes(classifier, library_size) == min(os.cpu_count(), batch.MAX_PROCESSES)
    assert batch.file_processes(classifier, 5) == 1  # too few files to earn the processes' start
    transformer = tag.load_model(replace(Settings.from_environment(), model_id=str(tiny_hubert_dir)))
    assert batch.file_processes(transformer, library_size) == 1
    names = ("Jazz/vibe ace.m4a", "Brass/solo trumpet.ogg", "hiphop.flac", "Videos/phone video.mp4")
    paths = [library[name] for name in names]
    paths.insert(2, library["Jazz/vibe ace.m4a"].parents[1] / "Rock" / "cut short.m4a")
    alone = list(batch.classify_files(classifier, paths))
    apart = list(batch.classify_files(classifier, paths, processes=2))
    assert [t.path for t in apart] == paths
    assert [t.error for t in apart] == [t.error for t in alone] and alone[2].error
    for one, other in zip(alone, apart, strict=True):
        if not one.error:
            np.testing.assert_allclose(other.prediction.window_probs, one.prediction.window_probs, atol=1e-6)
            assert (other.seconds, other.notes) == (one.seconds, one.notes)


def _workers() -> set[int]:
    """This process's multiprocessing children that classify files (not its resource tracker)."""
    import psutil

    workers = set()
    for child in psutil.Process().children():
        with contextlib.suppress(psutil.Error):  # one that died meanwhile
            if "spawn_main" in " ".join(child.cmdline()):
                workers.add(child.pid)
    return workers


def _under_way(pid: int) -> bool:
    """Whether a worker is in its imports (past 0.3 s of CPU; torch's alone take longer), so has read what it was sent:
    a spawned child killed before that leaves its parent waiting on the pipe for good (CPython's spawn)."""
    import psutil

    with contextlib.suppress(psutil.Error):
        return psutil.Process(pid).cpu_times().user > 0.3
    return False


@pytest.mark.slow
def test_a_process_that_dies_costs_only_its_file(library):
    """A process killed in the middle of a run (the out-of-memory killer, a decoder's crash) takes the file it held:
    that file is classified again in a process of its own, and skipped with the reason when that one dies too; every
    other file gets one process's answer, in order. Here a worker is killed once the first answer is in, then the
    lone process while it starts (`_under_way`)."""
    import signal
    import threading

    classifier = BaselineClassifier()
    names = ("Jazz/vibe ace.m4a", "Brass/solo trumpet.ogg", "hiphop.flac", "Videos/phone video.mp4")
    paths = [library[name] for name in names] * 2
    alone = {t.path: t for t in batch.classify_files(classifier, paths[:4])}
    first_answer, killed = threading.Event(), []

    def killer() -> None:
        first_answer.wait(120)
        before = _workers()
        os.kill(min(before), signal.SIGKILL)
        killed.append(min(before))
        for _ in range(1200):  # then the next new process, the lone one
            if (new := _workers() - before) and _under_way(min(new)):
                os.kill(min(new), signal.SIGKILL)
                killed.append(min(new))
                return
            time.sleep(0.05)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    answers = []
    for tagged in batch.classify_files(classifier, paths, processes=2):
        answers.append(tagged)
        first_answer.set()
    thread.join(5)
    assert len(killed) == 2 and [t.path for t in answers] == paths
    (lost,) = [i for i, t in enumerate(answers) if t.error]
    assert lost > 0 and "its process died twice" in answers[lost].error
    for tagged in answers[:lost] + answers[lost + 1 :]:
        np.testing.assert_allclose(
            tagged.prediction.window_probs, alone[tagged.path].prediction.window_probs, atol=1e-6
        )


@pytest.mark.slow
def test_a_run_whose_processes_keep_dying_stops_with_one_sentence(library, tmp_path, capsys):
    """Processes that die one after another with no file answered between them (more than `batch.MAX_DEATHS`: too
    little memory for them, say) are no file's fault: the run stops, in one sentence and with no traceback."""
    import signal
    import threading

    folder = tmp_path / "library"
    folder.mkdir()
    count = batch.FILES_A_PROCESS * min(os.cpu_count(), batch.MAX_PROCESSES)  # enough for processes
    for i in range(count):
        os.link(library["hiphop.flac"], folder / f"{i:02d}.flac")
    stop, killed = threading.Event(), set()

    def killer() -> None:  # every worker, once under way
        while not stop.is_set():
            for pid in _workers() - killed:
                if _under_way(pid):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                    killed.add(pid)
            time.sleep(0.05)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    try:
        status, printed = run_here(Path("baseline"), [str(folder), "--output", str(tmp_path / "genres.csv")])
    finally:
        stop.set()
    err = capsys.readouterr().err
    assert status == 1 and "Cannot tag: its processes keep dying (out of memory?)" in err, printed + err
    assert "Traceback" not in printed + err and len(killed) > batch.MAX_DEATHS


def test_a_file_the_gate_cannot_hear_is_skipped_with_the_reason_and_the_next_one_is_tagged(
    library, tiny_hubert_dir, monkeypatch
):
    classifier = tag.load_model(replace(Settings.from_environment(), model_id=str(tiny_hubert_dir)))
    listen, calls = gate.listen, []

    def failing_once(samples, spans):
        calls.append(spans)
        if len(calls) == 1:
            raise RuntimeError("out of memory")
        return listen(samples, spans)

    monkeypatch.setattr(gate, "listen", failing_once)
    paths = [library["Brass/solo trumpet.ogg"], library["hiphop.flac"]]
    first, second = batch.classify_files(classifier, paths)
    assert first.path == paths[0] and first.prediction is None
    assert first.error == "the music gate could not hear it (RuntimeError: out of memory)"
    assert second.path == paths[1] and second.error is None and second.prediction.music_scores is not None


@pytest.mark.slow
def test_an_interrupted_run_resumes_without_repeating_rows(tiny_hubert_dir, tmp_path):
    songs = tmp_path / "songs"
    songs.mkdir()
    sf.write(tmp_path / "clip.wav", sf.read(CLIPS / "disco.00000.wav", frames=2 * 22050)[0], 22050)
    for i in range(12):  # hard links: twelve files, one clip's bytes
        os.link(tmp_path / "clip.wav", songs / f"song {i:02d}.wav")
    output = tmp_path / "genres.csv"
    before = tag_killed_after_rows(tiny_hubert_dir, songs, output)  # after two rows and the header
    kept = before.count("\n") - 1
    assert 2 <= kept < 12, before
    with open(output, "a") as f:  # as if the kill had come in the middle of writing a row
        f.write(f"{songs / 'song 11.wav'},disco,0.1")

    status, printed = run_here(tiny_hubert_dir, [str(songs), "--output", str(output)])
    assert status == 0, printed
    assert f"Tagged {12 - kept} file(s)" in printed and f"{kept} already there were skipped" in printed
    after = output.read_text()
    assert after.startswith(before)  # the rows of the first run are kept as they were, none repeated
    assert sorted(read_rows(output)) == sorted(str(songs / f"song {i:02d}.wav") for i in range(12))


def test_jsonl_rerun_retags_only_a_changed_file_and_replaces_its_row(library, tiny_hubert_dir, tmp_path):
    songs = tmp_path / "songs"
    songs.mkdir()
    for name in ("Brass/solo trumpet.ogg", "Videos/phone video.mp4"):
        shutil.copy(library[name], songs)
    output = tmp_path / "genres.jsonl"
    status, printed = run_here(tiny_hubert_dir, [str(songs), "--output", str(output)])
    assert status == 0 and "Tagged 2 file(s)" in printed, printed
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert [list(row) for row in rows] == [COLUMNS + RESUME_COLUMNS] * 2
    assert isinstance(rows[0]["confidence"], float) and rows[0]["model"] == str(tiny_hubert_dir)

    changed = songs / "solo trumpet.ogg"
    os.utime(changed, (changed.stat().st_atime, changed.stat().st_mtime + 60))  # as a tag editor leaves it
    status, printed = run_here(tiny_hubert_dir, [str(songs), "--output", str(output)])
    assert status == 0 and "Tagged 1 file(s)" in printed and "1 already there were skipped" in printed, printed
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert sorted(row["path"] for row in rows) == sorted(str(p) for p in songs.iterdir())  # one row each
    assert next(r for r in rows if r["path"] == str(changed))["mtime"] == changed.stat().st_mtime


def test_another_models_output_or_a_foreign_file_is_refused_with_a_sentence(single_run, library, tmp_path, capsys):
    output, _ = single_run
    status, printed = run_here("baseline", command(library, output))
    assert status == 1
    assert "holds answers of" in capsys.readouterr().err and output.read_text()  # untouched
    foreign = tmp_path / "mine.csv"
    foreign.write_text("artist,title\nSomeone,Something\n")
    assert run_here("baseline", [str(library["hiphop.flac"]), "--output", str(foreign)])[0] == 1
    assert "was not written by this command" in capsys.readouterr().err
    assert foreign.read_text() == "artist,title\nSomeone,Something\n"


@pytest.mark.slow
def test_two_processes_under_torchrun_split_the_files_and_merge_to_the_single_process_output(
    single_run, library, tiny_hubert_dir, tmp_path
):
    single, _ = single_run
    output = tmp_path / "genres.csv"
    # One row already in its process's part, as an interrupted two-process run leaves it: resumed, not redone.
    # (Which process a file falls to is a hash of its path, and the library's folder differs from run to run.)
    (path, first), *_ = read_rows(single).items()
    resumed = scan.share(Path(path), 2)
    with open(tmp_path / f"genres.csv.part-{resumed}-of-2", "w", newline="") as part:
        writer = csv.DictWriter(part, COLUMNS + RESUME_COLUMNS)
        writer.writeheader()
        writer.writerow(first)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            "2",
            "-m",
            "genre_classifier",
            "tag",
            *command(library, output),
        ],
        cwd=ROOT,
        env={**os.environ, "MODEL_ID": str(tiny_hubert_dir)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    # Each process wrote its own part (one may have had nothing left but the resumed row), and the merged output
    # holds every file's answer.
    for rank in (0, 1):
        skipped = int(rank == resumed)
        assert f"into {output}.part-{rank}-of-2; {skipped} already there were skipped" in result.stdout, result.stdout
    assert "Merged " in result.stdout and not list(tmp_path.glob("*.part-*"))  # the parts merged, then removed
    merged, expected = read_rows(output), read_rows(single)
    assert sorted(merged) == sorted(expected)
    for path, row in merged.items():
        same_answers(row, expected[path])


def test_a_row_says_unsure_and_names_the_contenders_when_the_top_genre_is_not_clearly_ahead():
    def row(**probs: float) -> dict:
        window = np.array([[probs.get(genre, 0.0) for genre in GENRES]])
        return result_row("song.mp3", Prediction(GENRES, window, [(0.0, 30.0)]), 30.0, ["truncated"])

    assert row(blues=0.40, rock=0.35, jazz=0.25)["note"] == "unsure: blues, rock or jazz; truncated"
    assert row(blues=0.60, rock=0.30, jazz=0.10)["note"] == "truncated"
    assert (row(blues=1.0)["music"], row(blues=1.0)["music_score"]) == ("", "")  # not gated: nothing to say


def test_a_row_says_not_music_where_the_gate_hears_something_else_whatever_the_genres():
    def row(music: float) -> dict:
        window = np.array([[0.9 if genre == "blues" else 0.1 / 9 for genre in GENRES]])
        heard = Prediction(GENRES, window, [(0.0, 30.0)], music_scores=np.array([music]), window_sounds=("voice",))
        return result_row("memo.mp3", heard, 30.0, ["truncated"])

    speech = row(0.1234)
    assert (speech["genre"], speech["music"], speech["music_score"]) == ("blues", "no", 0.123)
    assert speech["note"] == "not music: sounds like a voice, speaking or calling; truncated"
    assert list(speech) == COLUMNS and COLUMNS[2:5] == ["confidence", "music", "music_score"]
    music = row(0.9876)
    assert (music["music"], music["music_score"], music["note"]) == ("yes", 0.988, "truncated")


def test_speech_is_not_music_in_the_output_and_the_packages_example_music_is(speech_wav, tmp_path):
    trumpet = ROOT / "examples" / "trumpet_loop.ogg"  # CC BY 3.0, shipped with the package
    output = tmp_path / "genres.csv"
    status, printed = run_here("baseline", [str(speech_wav), str(trumpet), "--output", str(output)])
    assert status == 0, printed
    rows = read_rows(output)
    speech, music = rows[str(speech_wav)], rows[str(trumpet)]
    assert speech["music"] == "no" and float(speech["music_score"]) < gate.gate().min_music, speech
    assert "not music" in speech["note"] and "unsure" not in speech["note"]
    assert music["music"] == "yes" and float(music["music_score"]) >= gate.gate().min_music, music
    assert "not music" not in music["note"]


def test_many_files_tab_over_http_fills_in_file_by_file_and_gives_a_csv(served_tiny, single_run, library):
    from gradio_client import handle_file

    names = ["Brass/solo trumpet.ogg", "cover.mp3", "Videos/phone video.mp4"]
    folder = library["Blues/blues.00000.wav"].parents[1]
    paths = [library.get(name, folder / name) for name in names]
    client = served_tiny.client()
    api = client.view_api(print_info=False, return_format="dict")["named_endpoints"]["/tag"]
    assert [p["component"] for p in api["parameters"]] == ["File"]  # files in, as for /classify: no model choice
    job = client.submit([handle_file(str(p)) for p in paths], api_name="/tag")
    table, csv_path = job.result()
    sizes = [len(update[0]["data"]) for update in job.outputs()]
    assert sizes[:3] == [1, 2, 3], sizes  # one more row after each file
    assert [row[0] for row in table["data"]] == [p.name for p in paths]
    assert table["data"][1][1] == "" and BAD["cover.mp3"] in table["data"][1][5]
    downloaded = read_rows(Path(csv_path))
    assert list(downloaded) == [p.name for p in paths]
    expected = read_rows(single_run[0])
    for path in (paths[0], paths[2]):
        same_answers(downloaded[path.name], expected[str(path)])
        assert downloaded[path.name]["genre"] == expected[str(path)]["genre"]


def test_many_files_tab_refuses_more_files_than_its_limit_before_reading_any():
    import gradio as gr

    from genre_classifier.core.model import BaselineClassifier
    from genre_classifier.web.many_files import MAX_FILES, make_tag

    handler = make_tag(BaselineClassifier())
    with pytest.raises(gr.Error, match=f"{MAX_FILES + 1} files were dropped; up to {MAX_FILES} are tagged at a time"):
        next(handler([f"song {i}.mp3" for i in range(MAX_FILES + 1)]))  # none of them exists: none was opened
    with pytest.raises(gr.Error, match="Drop one or more audio or video files first"):
        next(handler([]))


@pytest.mark.skipif(os.name != "posix", reason="a POSIX file name is bytes; Windows names are Unicode")
def test_a_file_named_in_latin_1_is_tagged_not_skipped(tiny_hubert_dir, tmp_path):
    """An old library's names were written in Latin-1: b"caf\xe9" is not UTF-8. The command reads the file, writes
    its row and its tags, and prints its name as its bytes even where the terminal's encoding is strict UTF-8."""
    folder = tmp_path / "Chansons"
    folder.mkdir()
    latin_1 = folder / os.fsdecode(b"Caf\xe9 \xe0 l'\xe9t\xe9.flac")
    samples, sr = sf.read(CLIPS / "jazz.00000.wav", frames=8 * 22050)
    sf.write(folder / "plain.flac", samples, sr)
    (folder / "plain.flac").rename(latin_1)
    output = tmp_path / "genres.csv"
    env = {**os.environ, "MODEL_ID": str(tiny_hubert_dir), "PYTHONIOENCODING": "utf-8:strict"}
    for more in (["--dry-run"], ["--write-unsure"]):  # the preview prints each file; then the genre is written
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "genre_classifier",
                "tag",
                str(folder),
                "--output",
                str(output),
                "--write-tags",
                *more,
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            timeout=300,
        )
        assert done.returncode == 0 and b"Traceback" not in done.stderr and b"Skipped" not in done.stderr, done.stderr
        if more == ["--dry-run"]:
            assert os.fsencode(latin_1) in done.stdout  # the name as it is on disk
    rows = read_rows(output)
    assert list(rows) == [str(latin_1)] and rows[str(latin_1)]["genre"] in GENRES
    from mediafile import MediaFile

    assert MediaFile(latin_1).genre  # written into the file itself
