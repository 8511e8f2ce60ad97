"""train/: every realistic way of holding GTZAN, tested offline with faithful replicas built from the real clips.

The replicas hold the 14 real GTZAN clips, a 10 s excerpt of each as a further clip, and the corrupt
`jazz.00054.wav` that the Hub's and Kaggle's copies carry (it does not start with a RIFF header):
- the Hub's `marsyas/gtzan` archive `data/genres.tar.gz`, planted in a temporary `HF_HOME` hub cache as
  `hf_hub_download` leaves it, so the default `--data` runs the real Hub code under `HF_HUB_OFFLINE=1`;
- the same archive as a local file;
- Kaggle's folder (`Data/genres_original/<genre>/`, with `features_30_sec.csv` and spectrogram images beside it);
- a parquet dataset in the Hub's layout, written with pyarrow (datasets needs torchcodec to encode audio).
"""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import soundfile as sf
from datasets import Audio, ClassLabel, Features, Value

from genre_classifier import GENRES
from train.data import DataError, load_gtzan, make_split

from .helpers import CLIPS, ROOT, plant_in_hub_cache

pytestmark = pytest.mark.slow  # fine-tunes models

GOOD_CLIPS = 28  # 14 real clips and an excerpt of each
TEST_CLIPS = 3  # ceil(0.1 * 28)


def clip_files() -> dict[str, bytes]:
    """`<genre>/<name>` -> WAV bytes: the real clips, an excerpt of each, and the corrupt jazz.00054.wav."""
    files = {}
    for path in sorted(CLIPS.glob("*.wav")):
        genre, number, _ = path.name.split(".")
        files[f"{genre}/{path.name}"] = path.read_bytes()
        samples, sr = sf.read(path, frames=10 * 22050, start=10 * 22050, dtype="int16")
        excerpt = io.BytesIO()
        sf.write(excerpt, samples, sr, format="WAV", subtype="PCM_16")
        files[f"{genre}/{genre}.{int(number) + 50:05d}.wav"] = excerpt.getvalue()
    real = (CLIPS / "jazz.00000.wav").read_bytes()
    files["jazz/jazz.00054.wav"] = bytes(44) + real[44:]  # "file does not start with RIFF id"
    return files


def write_parquet(folder: Path, files: dict[str, bytes]) -> Path:
    """A Hub-layout parquet dataset: an `audio` struct of bytes and path, a `label` ClassLabel."""
    features = Features({"file": Value("string"), "audio": Audio(), "label": ClassLabel(names=GENRES)})
    rows = {"file": [], "audio": [], "label": []}
    for name, data in files.items():
        rows["file"].append(name)
        rows["audio"].append({"bytes": data, "path": Path(name).name})
        rows["label"].append(GENRES.index(name.split("/")[0]))
    schema = pa.schema(
        [
            ("file", pa.string()),
            ("audio", pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
            ("label", pa.int64()),
        ],
        metadata={"huggingface": json.dumps({"info": {"features": features.to_dict()}})},
    )
    (folder / "data").mkdir(parents=True)
    pq.write_table(pa.table(rows, schema=schema), folder / "data" / "train-00000-of-00001.parquet")
    return folder


@pytest.fixture(scope="module")
def replicas(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("replicas")
    files = clip_files()
    archive = root / "genres.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"genres/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    hf_home = root / "hf_home"
    plant_in_hub_cache(hf_home, "marsyas/gtzan", {"data/genres.tar.gz": archive}, repo_type="dataset")
    kaggle = root / "kaggle" / "Data"
    for name, data in files.items():
        (kaggle / "genres_original" / name).parent.mkdir(parents=True, exist_ok=True)
        (kaggle / "genres_original" / name).write_bytes(data)
        image = kaggle / "images_original" / name.replace(".wav", ".png")
        image.parent.mkdir(parents=True, exist_ok=True)
        image.write_bytes(b"\x89PNG not audio")
    (kaggle / "features_30_sec.csv").write_text((ROOT / "train" / "data" / "features_30_sec.csv").read_text())
    kaggle_zip = root / "archive.zip"  # what Kaggle's download button gives
    with zipfile.ZipFile(kaggle_zip, "w") as z:
        for path in sorted((root / "kaggle").rglob("*")):
            z.write(path, path.relative_to(root / "kaggle"))
    return {
        "hf_home": hf_home,
        "archive": archive,
        "kaggle": root / "kaggle",
        "kaggle_zip": kaggle_zip,
        "parquet": write_parquet(root / "parquet", files),
    }


@pytest.fixture
def offline_hub(replicas, monkeypatch):
    """This process sees the replica hub cache, offline, as a user's machine would after `hf download`."""
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(replicas["hf_home"] / "hub"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    monkeypatch.setattr("datasets.config.EXTRACTED_DATASETS_PATH", replicas["hf_home"] / "datasets" / "extracted")


@pytest.mark.parametrize("form", ["hub", "archive", "kaggle", "kaggle_zip", "parquet"])
def test_each_form_gives_the_same_sorted_clips_and_skips_the_corrupt_one(form, replicas, offline_hub, caplog):
    data = "marsyas/gtzan" if form == "hub" else str(replicas[form])
    dataset = load_gtzan(data)
    names = [Path(a["path"]).name for a in dataset["audio"]]
    assert len(names) == GOOD_CLIPS + 1 and "jazz.00054.wav" in names
    if form != "parquet":  # files are sorted by name; a dataset keeps its own order
        assert names == sorted(names)
    assert [GENRES[g] for g in dataset["genre"]] == [n.split(".")[0] for n in names]
    with caplog.at_level(logging.WARNING):
        course = make_split(dataset, "course", 16000)
    assert course.undecodable == ["jazz.00054.wav"]
    assert [r.getMessage() for r in caplog.records if "jazz.00054.wav" in r.getMessage()]
    assert (len(course.parts["train"]), len(course.parts["test"])) == (GOOD_CLIPS - TEST_CLIPS, TEST_CLIPS)


def test_the_split_is_the_same_for_every_form(replicas, offline_hub):
    def test_names(data: str) -> list[str]:
        test = make_split(load_gtzan(data), "course", 16000).parts["test"]
        return sorted(Path(a["path"]).name for a in test["audio"])

    assert test_names("marsyas/gtzan") == test_names(str(replicas["kaggle"])) == test_names(str(replicas["archive"]))


def test_the_fault_filtered_split_finds_the_same_clips_in_each_form_named_as_gtzan(replicas, offline_hub):
    """The Hub's archive, a local archive and Kaggle's folder all carry GTZAN's file names; the lists pick by them."""
    lists = {
        part: (ROOT / "train" / "splits" / f"{prefix}_filtered.txt").read_text().split()
        for part, prefix in [("train", "train"), ("validation", "valid"), ("test", "test")]
    }
    held = {name.split("/")[1] for name in clip_files()}
    expected = {part: sorted(held & {line.split("/")[1] for line in lines}) for part, lines in lists.items()}
    expected["train"].remove("jazz.00054.wav")  # undecodable
    records = []
    for data in ["marsyas/gtzan", str(replicas["archive"]), str(replicas["kaggle"])]:
        record = make_split(load_gtzan(data), "fault-filtered", 16000).record()
        assert {part: sorted(names) for part, names in record["parts"].items()} == expected, data
        records.append(record)
    assert records[0] == records[1] == records[2]
    assert records[0]["undecodable"] == ["jazz.00054.wav"]
    assert records[0]["unlisted"] == ["disco.00050.wav", "hiphop.00050.wav"]  # GTZAN clips on no list
    listed_here = GOOD_CLIPS - 2 + 1  # the good clips on a list, and jazz.00054.wav
    assert sum(map(len, records[0]["missing"].values())) == 930 - listed_here


def test_string_labels_in_other_columns(tmp_path):
    rows = {
        "song": [{"bytes": (CLIPS / f"{g}.00000.wav").read_bytes(), "path": f"{g}.wav"} for g in GENRES],
        "style": [g.capitalize() for g in GENRES],
    }
    (tmp_path / "data").mkdir()
    pq.write_table(pa.table(rows), tmp_path / "data" / "train-00000-of-00001.parquet")
    dataset = load_gtzan(str(tmp_path), audio_column="song", label_column="style")
    assert dataset.column_names == ["audio", "genre"] and [GENRES[g] for g in dataset["genre"]] == GENRES
    with pytest.raises(DataError, match="no column 'label'"):
        load_gtzan(str(tmp_path), audio_column="song")


def test_class_labels_in_another_order_are_mapped_by_name(tmp_path):
    reversed_names = GENRES[::-1]
    features = Features({"audio": Audio(), "label": ClassLabel(names=reversed_names)})
    rows = {
        "audio": [{"bytes": (CLIPS / "pop.00000.wav").read_bytes(), "path": "pop.00000.wav"}],
        "label": [reversed_names.index("pop")],
    }
    schema = pa.schema(
        [("audio", pa.struct([("bytes", pa.binary()), ("path", pa.string())])), ("label", pa.int64())],
        metadata={"huggingface": json.dumps({"info": {"features": features.to_dict()}})},
    )
    (tmp_path / "data").mkdir()
    pq.write_table(pa.table(rows, schema=schema), tmp_path / "data" / "train-00000-of-00001.parquet")
    assert GENRES[load_gtzan(str(tmp_path))["genre"][0]] == "pop"


def test_labels_that_are_not_the_genres_are_refused(tmp_path):
    (tmp_path / "data").mkdir()
    table = pa.table({"audio": [{"bytes": b"x", "path": "a.wav"}], "label": ["speech"]})
    pq.write_table(table, tmp_path / "data" / "train-00000-of-00001.parquet")
    with pytest.raises(DataError, match="must be the ten GTZAN genres.*found speech"):
        load_gtzan(str(tmp_path))


def test_a_script_only_dataset_gets_a_message_not_a_traceback(tmp_path):
    repo = tmp_path / "gtzan"
    repo.mkdir()
    (repo / "gtzan.py").write_text("import datasets  # a loading script, as marsyas/gtzan holds\n")
    with pytest.raises(DataError, match="holds only a loading script.*--data genres.tar.gz"):
        load_gtzan(str(repo))


def test_the_default_hub_data_offline_and_not_cached_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    with pytest.raises(DataError, match=r"not in the Hub cache.*hf download marsyas/gtzan.*--data genres.tar.gz"):
        load_gtzan()


def test_a_parquet_folder_under_home_is_found_with_a_tilde(replicas, monkeypatch):
    monkeypatch.setenv("HOME", str(replicas["parquet"].parent))
    assert len(load_gtzan(f"~/{replicas['parquet'].name}")) == GOOD_CLIPS + 1


def test_too_many_bad_clips_stop_the_run(tmp_path):
    for i in range(3):
        (tmp_path / "rock").mkdir(exist_ok=True)
        (tmp_path / "rock" / f"rock.{i:05d}.wav").write_bytes(b"not audio" * 100)
    (tmp_path / "pop").mkdir()
    (tmp_path / "pop" / "pop.00000.wav").write_bytes((CLIPS / "pop.00000.wav").read_bytes())
    with pytest.raises(DataError, match="3 of 4 clips could not be decoded"):
        make_split(load_gtzan(str(tmp_path)), "all", 16000)


def run_module(module: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **(env or {})},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return result


def test_finetune_and_evaluate_on_the_default_hub_data_as_a_user_runs_them(
    replicas, tiny_config, tmp_path, offline_hub, monkeypatch, capsys, caplog
):
    """No --data: marsyas/gtzan's archive from the Hub cache, offline; fine-tuning in a fresh process as a user
    types it, evaluation in this one (the same data path, with the cache the fresh process extracted)."""
    from train import evaluate

    env = {"HF_HOME": str(replicas["hf_home"]), "HF_HUB_OFFLINE": "1"}
    out = tmp_path / "out"
    trained = run_module(
        "train.finetune",
        "--model",
        str(tiny_config),
        "--output-dir",
        str(out),
        "--max-steps",
        "2",
        "--batch-size",
        "2",
        env=env,
    )
    assert trained.stderr.count("skipped jazz.00054.wav") == 1  # named in one warning line
    assert f"{GOOD_CLIPS - TEST_CLIPS} train / {TEST_CLIPS} test" in trained.stdout
    assert json.loads((out / "metrics.json").read_text())["clips"] == TEST_CLIPS
    monkeypatch.setattr(sys, "argv", ["evaluate", "--model", str(out), "--output-dir", str(tmp_path)])
    with caplog.at_level(logging.WARNING):
        evaluate.main()
    assert f"({TEST_CLIPS} clips)" in capsys.readouterr().out
    assert any("skipped jazz.00054.wav" in r.getMessage() for r in caplog.records)
    assert json.loads((tmp_path / "metrics.json").read_text())["clips"] == TEST_CLIPS


@pytest.mark.parametrize("form", ["archive", "kaggle", "parquet"])
def test_finetune_and_evaluate_run_on_each_local_form(
    form, replicas, tiny_config, tmp_path, offline_hub, monkeypatch, capsys, caplog
):
    """The same commands on the other forms, in this process (their code paths need no fresh interpreter)."""
    from train import evaluate, finetune

    out = tmp_path / "out"
    data = ["--data", str(replicas[form])]
    monkeypatch.setattr(
        sys,
        "argv",
        [
            "finetune",
            "--model",
            str(tiny_config),
            *data,
            "--output-dir",
            str(out),
            "--max-steps",
            "2",
            "--batch-size",
            "2",
        ],
    )
    with caplog.at_level(logging.WARNING):
        finetune.main()
    assert f"{GOOD_CLIPS - TEST_CLIPS} train / {TEST_CLIPS} test" in capsys.readouterr().out
    assert json.loads((out / "metrics.json").read_text())["clips"] == TEST_CLIPS
    monkeypatch.setattr(sys, "argv", ["evaluate", "--model", str(out), *data, "--output-dir", str(tmp_path)])
    evaluate.main()
    assert f"({TEST_CLIPS} clips)" in capsys.readouterr().out
    assert json.loads((tmp_path / "metrics.json").read_text())["clips"] == TEST_CLIPS
    assert len([r for r in caplog.records if "skipped jazz.00054.wav" in r.getMessage()]) == 2  # once per command
