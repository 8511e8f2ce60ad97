"""train/: the fault-filtered split end to end on a replica, and failures told in one sentence.

The replica is Kaggle's layout (`Data/genres_original/<genre>/`) holding excerpts of the real GTZAN clips under
names taken from the shipped lists (one per genre and list, and two more validation clips, so that 10 train /
12 validation / 10 test tell the parts apart), the corrupt `jazz.00054.wav` (on the training list) and one clip
that is on no list; the other 897 listed clips are missing, as in a partial copy.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf

from genre_classifier import GENRES
from genre_classifier.core.audio import AudioError, load_audio
from train import evaluate, finetune

from .helpers import CLIPS, ROOT

pytestmark = pytest.mark.slow  # fine-tunes and evaluates models

SPLITS = ROOT / "train" / "splits"
LISTS = {"train": "train_filtered.txt", "validation": "valid_filtered.txt", "test": "test_filtered.txt"}
SOURCE_SHA256 = {
    "test_filtered.txt": "09cafa6a89ce0a27f30ed250d56ecb4d03c22fffb5a693f96c7ae655ee02ac72",
    "train_filtered.txt": "2b04966cef1486f1a7767b74271533fa23e220388db804a1937835e1fc4fa3fa",
    "valid_filtered.txt": "f8fbee7c52397a0e0f3a91dc54fedecb2e27f5bdc9a9daeab8cb10d077e26956",
}
UNLISTED = "disco.00038.wav"  # one of the 70 GTZAN clips on no list


def listed(part: str) -> list[str]:
    return [Path(line).name for line in (SPLITS / LISTS[part]).read_text().split()]


def run_here(script, monkeypatch, *args: str) -> None:
    """`python -m train.<script> ARGS` in this process (argument parsing and messages included)."""
    monkeypatch.setattr(sys, "argv", [script.__name__, *args])
    script.main()


@pytest.fixture(scope="module")
def replica(tmp_path_factory) -> tuple[Path, dict[str, list[str]]]:
    """The replica folder, and the names it holds on each list."""
    root = tmp_path_factory.mktemp("fault_filtered") / "Data" / "genres_original"
    written = {part: [] for part in LISTS}
    for genre in GENRES:
        (root / genre).mkdir(parents=True)
        for k, part in enumerate(LISTS):  # a different 3 s of the genre's real clip for each list
            name = next(n for n in listed(part) if n.startswith(f"{genre}.") and n != "jazz.00054.wav")
            samples, sr = sf.read(CLIPS / f"{genre}.00000.wav", frames=3 * 22050, start=k * 3 * 22050, dtype="int16")
            sf.write(root / genre / name, samples, sr, subtype="PCM_16")
            written[part].append(name)
    for genre in ("blues", "classical"):  # two more validation clips, so that no two parts have the same size
        name = [n for n in listed("validation") if n.startswith(f"{genre}.")][1]
        samples, sr = sf.read(CLIPS / f"{genre}.00000.wav", frames=3 * 22050, start=9 * 22050, dtype="int16")
        sf.write(root / genre / name, samples, sr, subtype="PCM_16")
        written["validation"].append(name)
    real = (CLIPS / "jazz.00000.wav").read_bytes()
    (root / "jazz" / "jazz.00054.wav").write_bytes(bytes(44) + real[44:])  # no RIFF header, as in the corpus
    (root / "disco" / UNLISTED).write_bytes((root / "disco" / written["train"][3]).read_bytes())
    return root, written


@pytest.fixture(scope="module")
def trained(replica, tiny_config, tmp_path_factory):
    """`train.finetune --split fault-filtered` on the replica: its output folder and printed plan."""
    data, _ = replica
    out = tmp_path_factory.mktemp("ff_run") / "out"
    with pytest.MonkeyPatch.context() as monkeypatch, contextlib.redirect_stdout(io.StringIO()) as stdout:
        run_here(
            finetune,
            monkeypatch,
            "--model",
            str(tiny_config),
            "--data",
            str(data),
            "--split",
            "fault-filtered",
            "--output-dir",
            str(out),
            "--max-steps",
            "2",
            "--batch-size",
            "5",
        )
    return out, stdout.getvalue()


def test_the_shipped_lists_are_the_papers_443_197_290(replica):
    names = {part: listed(part) for part in LISTS}
    assert {part: len(n) for part, n in names.items()} == {"train": 443, "validation": 197, "test": 290}
    assert len(set().union(*names.values())) == 930 and "jazz.00054.wav" in names["train"]
    for file, digest in SOURCE_SHA256.items():  # unchanged from their source (train/splits/README.md)
        assert hashlib.sha256((SPLITS / file).read_bytes()).hexdigest() == digest, file


def test_fault_filtered_trains_on_the_training_list_selects_on_validation_and_scores_the_test_list(replica, trained):
    _, written = replica
    out, plan = trained
    missing = {part: len(listed(part)) - len(written[part]) for part in LISTS}
    missing["train"] -= 1  # jazz.00054.wav is in the data, undecodable
    assert "clips:       10 train / 12 validation / 10 test (fault-filtered:" in plan
    assert "undecodable: 1 clip(s) left out: jazz.00054.wav" in plan
    assert f"unlisted:    1 clip(s) in the data but on no list, left out: {UNLISTED}" in plan
    assert (
        f"missing:     897 listed clip(s) not in the data ({missing['train']} train, {missing['validation']} "
        f"validation, {missing['test']} test): blues." in plan
    )
    assert f"(every name: {out}/split.json)" in plan

    record = json.loads((out / "split.json").read_text())
    assert {part: sorted(names) for part, names in record["parts"].items()} == {
        part: sorted(names) for part, names in written.items()
    }
    assert record["undecodable"] == ["jazz.00054.wav"] and record["unlisted"] == [UNLISTED]
    assert {part: len(names) for part, names in record["missing"].items()} == missing

    state = json.loads((out / "trainer_state.json").read_text())
    evaluations = [entry for entry in state["log_history"] if "eval_accuracy" in entry]
    assert evaluations and all(entry["eval_clips"] == 12 for entry in evaluations)  # the validation part
    assert state["best_model_checkpoint"] == str(out / "checkpoint-2")

    metrics = json.loads((out / "metrics.json").read_text())
    assert (metrics["split"], metrics["part"], metrics["clips"]) == ("fault-filtered", "test", 10)
    assert sorted(metrics["predictions"]) == sorted(written["test"])  # scored on the test list, once
    assert metrics["selected_on_validation"] and metrics["validation"] == {
        "clips": 12,
        "accuracy": evaluations[-1]["eval_accuracy"],
        "checkpoint": "checkpoint-2",
    }
    assert plan.count("clip accuracy:") == 1
    card = (out / "README.md").read_text()
    assert "split: fault-filtered test, 10 clips" in card  # the model-index entry
    assert "10 test clips of the fault-filtered split" in card and "Model selection: checkpoint-2" in card
    assert json.loads((out / "test_results.json").read_text())["test_accuracy"] == metrics["accuracy"]


def test_evaluate_scores_the_same_test_list_with_the_same_answers(replica, trained, tmp_path, monkeypatch, capsys):
    data, written = replica
    out, _ = trained
    run_here(
        evaluate,
        monkeypatch,
        "--model",
        str(out),
        "--data",
        str(data),
        "--split",
        "fault-filtered",
        "--output-dir",
        str(tmp_path),
    )
    printed = capsys.readouterr().out
    assert "split: fault-filtered, part: test (10 clips)" in printed
    assert "note: none of these 10 clips is in the checkpoint's training or validation clips" in printed
    trained_metrics = json.loads((out / "metrics.json").read_text())
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["predictions"] == trained_metrics["predictions"]
    assert metrics["accuracy"] == trained_metrics["accuracy"] and metrics["clips_seen_in_training"] == 0
    assert json.loads((tmp_path / "split.json").read_text())["parts"]["test"] == sorted(written["test"])


def test_the_embedded_model_on_the_test_list_is_said_not_to_be_held_out(replica, tmp_path, monkeypatch, capsys):
    """The embedded model learnt from the feature table, which holds every GTZAN clip but the 14 real ones."""
    data, written = replica
    small = tmp_path / "data"  # a clip of each list, and a second test clip: one of the 14 the model never saw
    for name in [written["train"][0], written["validation"][0], written["test"][0], "hiphop.00000.wav"]:
        assert name in written["train"] + written["validation"] + written["test"]
        (small / name.split(".")[0]).mkdir(parents=True, exist_ok=True)
        (small / name.split(".")[0] / name).symlink_to(data / name.split(".")[0] / name)
    run_here(
        evaluate,
        monkeypatch,
        "--model",
        "baseline",
        "--data",
        str(small),
        "--split",
        "fault-filtered",
        "--output-dir",
        str(tmp_path / "out"),
    )
    assert "note: 1 of these 2 clips are in the embedded model's training data" in capsys.readouterr().out
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["clips_seen_in_training"] == 1


def test_a_folder_without_gtzan_names_gets_a_message(tiny_config, tmp_path, monkeypatch):
    for genre in ("rock", "pop"):
        (tmp_path / "songs" / genre).mkdir(parents=True)
        (tmp_path / "songs" / genre / f"my {genre} song.wav").symlink_to(CLIPS / f"{genre}.00000.wav")
    with pytest.raises(SystemExit, match=r"finds its clips by GTZAN's file names.*none of the 2 clips.*--split course"):
        run_here(
            finetune,
            monkeypatch,
            "--model",
            str(tiny_config),
            "--data",
            str(tmp_path / "songs"),
            "--split",
            "fault-filtered",
            "--output-dir",
            str(tmp_path / "out"),
        )


def test_a_model_that_cannot_be_loaded_is_one_sentence_without_a_traceback(tmp_path):
    """`HF_HUB_OFFLINE=1` and a Hub id not in the cache, as a user types the command (in its script form, which
    must find the repository's modules as `-m train.finetune` does): no plan, no traceback."""
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf_home"), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [
            sys.executable,
            "train/finetune.py",
            "--model",
            "you/not-in-the-cache",
            "--split",
            "fault-filtered",
            "--output-dir",
            str(tmp_path / "out"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1 and result.stdout == "", result  # nothing before it: no plan, no data
    # one line, one sentence: the app's reason (genre_classifier.core.loading.why_not_loaded) for a command line
    assert re.fullmatch(
        r"error: The model you/not-in-the-cache could not be loaded: [^\n]*HF_HUB_OFFLINE=1[^\n]*\.",
        result.stderr.strip(),
    ), result.stderr
    assert not (tmp_path / "out").exists()


def test_evaluate_says_in_one_sentence_that_the_hub_cannot_be_reached(tmp_path, monkeypatch, capsys, caplog):
    """The Hub unreachable (nothing listens at its address), the model not in the cache: one sentence, nothing else."""
    monkeypatch.setattr("huggingface_hub.constants.ENDPOINT", "http://127.0.0.1:9")  # the discard port
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(SystemExit) as stopped:
        run_here(evaluate, monkeypatch, "--model", "you/not-in-the-cache", "--output-dir", str(tmp_path / "out"))
    sentence = r"error: The model you/not-in-the-cache could not be loaded: [^\n]*could not be reached[^\n]*\."
    assert re.fullmatch(sentence, stopped.value.code), stopped.value.code
    printed = capsys.readouterr()
    assert printed.out == printed.err == "" and not caplog.records


def test_an_unreadable_wav_is_named_damaged_not_sent_to_ffmpeg(tmp_path, monkeypatch):
    clip = tmp_path / "jazz.00054.wav"
    clip.write_bytes(bytes(44) + (CLIPS / "jazz.00000.wav").read_bytes()[44:])
    monkeypatch.setenv("PATH", str(tmp_path))  # no FFmpeg
    with pytest.raises(AudioError, match=r"^The file jazz\.00054\.wav is damaged") as refused:
        load_audio(clip, 16000)
    assert "FFmpeg" not in str(refused.value)


def help_text(script, monkeypatch, capsys) -> str:
    with pytest.raises(SystemExit) as done:
        run_here(script, monkeypatch, "--help")
    assert done.value.code == 0
    return capsys.readouterr().out


def test_help_opens_with_what_the_script_does_and_spells_options_as_the_readme(monkeypatch, capsys):
    helps = {script.__name__.split(".")[-1]: help_text(script, monkeypatch, capsys) for script in (finetune, evaluate)}
    for name, text in helps.items():
        usage, what, examples, *_ = text.split("\n\n")
        assert usage.startswith(f"usage: python -m train.{name} ") and "\n" not in usage  # one short line
        assert what.startswith(("Fine-tune", "Score")), what
        commands = [line.strip() for line in examples.splitlines()]
        assert len(commands) == 2 and all(c.startswith(f"python -m train.{name} --model ") for c in commands)
        assert not re.findall(r"--\w*_[\w-]*", text), name  # no --output_dir beside --output-dir
    assert "(default: marsyas/gtzan)" in " ".join(helps["evaluate"].split())
    offered = set(re.findall(r"--[a-z][a-z-]*", helps["finetune"] + helps["evaluate"]))
    documented = set(re.findall(r"`(--[a-z][a-z-]*)", (ROOT / "train" / "README.md").read_text()))
    assert documented and documented <= offered, documented - offered
