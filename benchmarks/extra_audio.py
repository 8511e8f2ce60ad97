"""The recordings that `benchmarks/music_gate.py --extra DIR` measures, built from Debian and PyPI packages.

    python benchmarks/extra_audio.py DIR      (needs apt-get, dpkg-deb, pip and FFmpeg, as Debian has them)

DIR/speech (17 files: game voices, channel names, Mandarin syllables, dialogue), DIR/vocal_music (22: a cappella,
Lieder, opera, beatbox, game singing) and DIR/music (33: game soundtracks, music on hold, world music). Files are
copied byte for byte where they can be; short ones are joined (no gaps, 22050 Hz mono 16-bit WAV unless said),
Schubert Lieder cut into 30 s clips, and Frets on Fire's backing and guitar tracks mixed at half level each.
DIR/SOURCES.txt gives each file's package and version, path inside and licence. The downloads (420 MB; 1 GB with
them unpacked) are kept in EXTRA_AUDIO_CACHE (default `~/.cache/genre-classifier/extra-audio`).

Licences in short: Hedgewars voices GFDL-1.3, its music GPL-2; Extreme Tux Racer GPL-2+; Scratch's sounds and
Asterisk's music on hold CC BY-SA 3.0; Frets on Fire songs CC BY-SA 3.0 (Muldjord) and MIT-style (Sectoid); ALSA
GPL-2; gcin voices GPL-3/LGPL-3 (*/3.ogg) and CC BY 3.0 (*/5.ogg); GCompris' world music public domain, CC0 or
CC BY 3.0 (its README); silero-vad and pyannote.audio MIT (VoxConverse CC BY 4.0); Vocadito CC BY 4.0; the
AudioLabs data (Schubert Winterreise Dataset, Dagstuhl ChoirSet) come with those datasets' own terms.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import tarfile
import urllib.request
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf

RATE = 22050
PLACES = {  # {NAME} in FILES
    "HW": "usr/share/games/hedgewars/Data",
    "SCRATCH": "usr/share/scratch/Media/Sounds",
    "FOF": "usr/share/games/fretsonfire/data/songs",
    "RCC": "usr/share/gcompris-qt/rcc/explore_world_music.rcc:/gcompris/src/activities/explore_world_music/resource",
    "GFDL": "GFDL-1.3 (debian/copyright Files: share/hedgewars/Data/Sounds/*)",
    "CC": "CC-BY-SA-3.0, (c) 2011 MIT",
    "SWD": "Schubert Winterreise Dataset (zenodo.org/record/4122060), not the package's MIT",
    "MOH": "usr/share/asterisk/moh",
}
# [deb|sdist|wheel package version] (Debian bookworm, PyPI), then its files: folder/file | how | path inside | licence.
# A name with %s makes one file per item of the path's {a,b,..} (lower case, "-" and " " as "_"). How: copy (byte
# copy); wav (FFmpeg's WAV); cat (join a folder's audio in sorted() order of path, or the {a,b,..} listed, in that
# order; catN: until N s; cat@RATE: at RATE, else 22050 Hz); split (join, then halves); mix (song.ogg + guitar.ogg);
# rcc (a file in a Qt resource file); clipA,B,..: 30 s clips A, B, .. s after the start of measure 7.
FILES = """
[wheel pyannote.audio 4.0.7]
speech/pyannote_sample_dialogue.wav | copy | pyannote/audio/sample/sample.wav | MIT (CNRS)
[sdist silero-vad 6.2.3]
speech/silero_test.wav | copy | tests/data/test.wav | MIT (Silero Team)
speech/silero_voxconverse_aepyx.wav | copy | examples/c++/aepyx.wav | CC-BY-4.0 (VoxConverse)
[deb hedgewars-data 1.0.2-6]
speech/hedgewars_%s_concat.wav | cat | {HW}/Sounds/voices/{Default_es,Default_pl,Default_uk} | {GFDL}
speech/hedgewars_voice_%s_concat.wav | cat25 | {HW}/Sounds/voices/{British,Classic,Default,Default_ru,HillBilly,\
Mobster,Pirate,Russian,Surfer} | {GFDL}
vocal_music/hedgewars_singer_part%d.wav | split | {HW}/Sounds/voices/Singer | {GFDL}
music/hedgewars_music_%s.ogg | copy | {HW}/Music/{City,EarthRise,main_theme,Nature,oriental,Rock,sdmusic,snow}.ogg \
| GPL-2 (authors in Data/Music/credits.txt)
[deb gcin-voice 0~20170223-3]
speech/gcin_mandarin_syllables_concat.wav | cat30 | usr/share/gcin-voice/ogg | */3.ogg Edward Der-Hua Liu, GPL-3 or \
LGPL-3; */5.ogg ChionMeilin (vocal source Chu Lo), CC-BY-3.0
[deb alsa-utils 1.2.8-1]
speech/alsa_utils_channel_names_concat.wav | cat | usr/share/sounds/alsa/{Front_Center,Front_Left,Front_Right,\
Rear_Center,Rear_Left,Rear_Right,Side_Left,Side_Right}.wav | GPL-2
[sdist basic-pitch 0.4.0]
vocal_music/vocadito_%s.wav | copy | tests/resources/vocadito_{10,14}.wav | CC-BY-4.0 (Vocadito dataset)
[deb scratch 1.4.0.6~dfsg1-6.1]
vocal_music/scratch_%s.wav | wav | {SCRATCH}/Vocals/{Oooo-badada,Sing-me-a-song}.mp3 | {CC}
vocal_music/scratch_vocals_sung_phrases_concat.wav | cat@44100 | {SCRATCH}/Vocals/{Come-and-play.mp3,\
Doy-doy-doy.mp3,Got-inspiration.mp3,Hey-yay-hey.mp3,Join-us.mp3,Singer1.wav,Singer2.wav} | {CC}
vocal_music/scratch_human_beatbox_concat.wav | cat@44100 | {SCRATCH}/{Music Loops/HumanBeatbox1.mp3,\
Music Loops/HumanBeatbox2.mp3,Vocals/BeatBox1.wav,Vocals/BeatBox2.wav} | {CC}
[deb gcompris-qt-data 3.1-2]
vocal_music/caruso_ombra_mai_fu_gcompris_italy.ogg | rcc | {RCC}/music/italy.ogg | Public Domain (Adam Cuerden; \
music/README in the rcc)
vocal_music/safiye_ayla_katibim_gcompris_middleeast.ogg | rcc | {RCC}/music/middleeast.ogg | Public Domain (Safiye \
Ayla; music/README in the rcc)
music/gcompris_worldmusic_america.ogg | rcc | {RCC}/music/america.ogg | CC-BY-3.0, Karel Schmiedberger
music/gcompris_worldmusic_australia.ogg | rcc | {RCC}/music/australia.ogg | Public Domain, Jouke Kooistra and Rob Tol
music/gcompris_worldmusic_beethoven.ogg | rcc | {RCC}/music/beethoven.ogg | CC0-1.0, Drummyfish
music/gcompris_worldmusic_ireland.ogg | rcc | {RCC}/music/ireland.ogg | CC-BY-3.0, peakfiddler
music/gcompris_worldmusic_japan.ogg | rcc | {RCC}/music/japan.ogg | CC0-1.0, Scott Harding
music/gcompris_worldmusic_mexico.ogg | rcc | {RCC}/music/mexico.ogg | Public Domain, Mex-Django
[sdist libsoni 1.1.0]
vocal_music/libsoni_dcs_locus_iste_quartetA_take04.wav | copy | \
data_audio/demo_f0/DCS_LI_QuartetA_Take04_StereoReverb_STM.wav | Dagstuhl ChoirSet, CC-BY-4.0 as far as known
vocal_music/libsoni_schubert_d911_11_sc06.wav | copy | \
data_audio/demo_chroma/FMP_B_Sonify_Pitch_Schubert_D911-11_SC06.wav | {SWD}
[sdist synctoolbox 1.4.2]
vocal_music/synctoolbox_schubert_d911_01_hu33_clip%d.wav | clip0,60,120 | Schubert_D911-01_HU33 | {SWD}
vocal_music/synctoolbox_schubert_d911_01_sc06_clip%d.wav | clip0,60,120 | Schubert_D911-01_SC06 | {SWD}
vocal_music/synctoolbox_schubert_d911_03_hu33_clip%d.wav | clip0,45 | Schubert_D911-03_HU33 | {SWD}
vocal_music/synctoolbox_schubert_d911_03_sc06_clip%d.wav | clip0,45 | Schubert_D911-03_SC06 | {SWD}
[deb asterisk-moh-opsound-wav 2.03-1.1]
music/asterisk_moh_%s.wav | copy | {MOH}/{macroform-cold_day,macroform-robot_dity,macroform-the_simplicity}.wav | \
CC-BY-SA-3.0, Paul Shuler (Macroform)
music/asterisk_moh_%s.wav | copy | {MOH}/{manolo_camp-morning_coffee}.wav | CC-BY-SA-3.0, Manolo Camp
music/asterisk_moh_%s.wav | copy | {MOH}/{reno_project-system}.wav | CC-BY-SA-3.0, Reno Project
[deb extremetuxracer-data 0.8.2-1]
music/etr_%s.ogg | copy | usr/share/games/etr/music/{calmrace-ks,credits1-cp,freezingpoint,race1-jt,spunkyrace-ks,\
start1-jt}.ogg | GPL-2+ (composers in music/readme)
[deb fretsonfire-songs-muldjord 2.dfsg-2.1]
music/fretsonfire_muldjord_%s_mix.flac | mix | {FOF}/muldjord/{armygeddon,chaos_god,internal_degeneration,\
mutilated_mime} | CC-BY-SA-3.0, (c) 2009 El Senator
[deb fretsonfire-songs-sectoid 1.dfsg-3.1]
music/fretsonfire_sectoid_%s_mix.flac | mix | {FOF}/sectoid/{Escape from chaosland,Feelings,Metal madness,\
War of freedom} | MIT-style permission, (c) 2006/2007 Carlos Viola Iborra
"""


def cache() -> Path:
    return Path(os.environ.get("EXTRA_AUDIO_CACHE") or Path.home() / ".cache" / "genre-classifier" / "extra-audio")


def download_sdist(package: str, version: str, folder: Path) -> None:
    """The release's sdist from PyPI's index (its JSON form, PEP 691), checked against the sha256 it lists. `pip
    download --no-binary` would build the sdist's metadata first, and for one whose version is read at build time
    (libsoni's flit) that means building numpy and scipy from source."""
    from packaging.utils import canonicalize_name, parse_sdist_filename
    from packaging.version import Version

    index = urllib.request.Request(
        f"https://pypi.org/simple/{canonicalize_name(package)}/",
        headers={"Accept": "application/vnd.pypi.simple.v1+json"},
    )
    with urllib.request.urlopen(index, timeout=60) as answer:
        files = json.load(answer)["files"]
    wanted = (canonicalize_name(package), Version(version))
    (sdist,) = [f for f in files if f["filename"].endswith(".tar.gz") and parse_sdist_filename(f["filename"]) == wanted]
    with urllib.request.urlopen(sdist["url"], timeout=300) as answer:
        data = answer.read()
    if hashlib.sha256(data).hexdigest() != sdist["hashes"]["sha256"]:
        raise RuntimeError(f"{sdist['filename']} does not match the sha256 PyPI lists for it")
    (folder / sdist["filename"]).write_bytes(data)


def unpacked(kind: str, package: str, version: str) -> Path:
    """The package's files, downloaded and unpacked once (apt-get download and pip download need no root)."""
    root, got = cache() / "unpacked" / f"{package}-{version}", cache() / kind / f"{package}-{version}"
    if (root / ".done").exists():
        return root
    if not got.is_dir() or not any(got.iterdir()):
        got.mkdir(parents=True, exist_ok=True)
        if kind == "deb":  # pinned versions, so that a rebuild gives the same files
            subprocess.run(["apt-get", "download", f"{package}={version}"], cwd=got, check=True)
        elif kind == "wheel":  # pyannote.audio has its sample in the wheel only
            pip = ["pip", "download", "-q", "--no-deps", "--only-binary", ":all:", "-d", str(got)]
            subprocess.run([sys.executable, "-m", *pip, f"{package}=={version}"], check=True)
        else:  # sdists keep the tests and data that wheels leave out
            download_sdist(package, version, got)
    archive = next(got.iterdir())
    shutil.rmtree(root, ignore_errors=True)
    if kind == "deb":
        subprocess.run(["dpkg-deb", "-x", str(archive), str(root)], check=True)
    elif kind == "wheel":
        zipfile.ZipFile(archive).extractall(root)
    else:  # an sdist's files sit in a folder named after it: paths are taken inside that folder
        with tarfile.open(archive) as tar:
            members = [m for m in tar.getmembers() if "/" in m.name]
            for member in members:
                member.name = member.name.split("/", 1)[1]
            tar.extractall(root, members, filter="data")
    (root / ".done").touch()
    return root


def decode(path: Path, rate: int = RATE) -> np.ndarray:
    """Mono float32 at `rate` through FFmpeg, as the files were first made (its resampler, its downmix)."""
    cmd = ["ffmpeg", "-v", "error", "-i", str(path), "-ac", "1", "-ar", str(rate), "-f", "f32le", "-"]
    return np.frombuffer(subprocess.run(cmd, capture_output=True, check=True).stdout, np.float32)


def joined(root: Path, paths: list[str], rate: int, seconds: float | None) -> tuple[np.ndarray, list[str]]:
    """Recordings one after another with no gaps (until `seconds` are reached, when given); also the paths used."""
    parts, used = [], []
    for path in paths:
        parts.append(decode(root / path, rate))
        used.append(path)
        if seconds and sum(map(len, parts)) >= seconds * rate:
            break
    return np.concatenate(parts), used


def listed(root: Path, what: str) -> list[str]:
    """The paths to join: the {a,b,..} listed, or a folder's audio files in sorted() order of their path inside it."""
    if "{" in what:
        return expanded(what)
    audio = [
        p.relative_to(root / what) for p in (root / what).rglob("*") if p.suffix.lower() in (".ogg", ".wav", ".mp3")
    ]
    return [f"{what}/{p}" for p in sorted(map(str, audio))]


def expanded(text: str) -> list[str]:
    """head{a,b}tail -> [head a tail, head b tail], as the shell expands braces."""
    head, rest = text.split("{", 1)
    items, tail = rest.split("}", 1)
    return [head + item + tail for item in items.split(",")]


def rows() -> Iterator[tuple[str, str, str, str, str, str, str]]:
    """FILES as (kind, package, version, file, how, path inside, licence), a row with %s in its name spread out."""
    for line in FILES.strip().splitlines():  # a backslash at a line's end has joined it with the next
        if line.startswith("["):
            kind, package, version = line.strip("[]").split()
            continue
        fields = [field.strip() for field in line.split(" | ")]
        for key, value in PLACES.items():
            fields = [field.replace("{" + key + "}", value) for field in fields]
        file, how, what, licence = fields
        if "%s" not in file:
            yield kind, package, version, file, how, what, licence
            continue
        items = what.split("{", 1)[1].split("}", 1)[0].split(",")
        for item, path in zip(items, expanded(what), strict=True):
            name = file % item.lower().replace("-", "_").replace(" ", "_")
            yield kind, package, version, name, how, path, licence


def rcc_files(path: Path) -> dict[str, bytes]:
    """Every resource in a Qt .rcc file by its path: GCompris keeps its sounds there (format of Qt's rcc.cpp)."""
    b = path.read_bytes()
    assert b[:4] == b"qres", path
    version, tree, data, names = struct.unpack(">IIII", b[4:20])
    size = 22 if version >= 2 else 14  # version 2 added a last-modified time to each tree entry
    out: dict[str, bytes] = {}

    def walk(i: int, prefix: str) -> None:
        name_at, flags = struct.unpack(">IH", b[tree + i * size : tree + i * size + 6])
        if i:
            n = struct.unpack(">H", b[names + name_at : names + name_at + 2])[0]
            prefix += "/" + b[names + name_at + 6 : names + name_at + 6 + 2 * n].decode("utf-16-be")
        count_or_locale, first_or_offset = struct.unpack(">II", b[tree + i * size + 6 : tree + i * size + 14])
        if flags & 2:  # a directory: its children are entries first .. first+count-1
            for child in range(first_or_offset, first_or_offset + count_or_locale):
                walk(child, prefix)
            return
        at = data + first_or_offset
        raw = b[at + 4 : at + 4 + struct.unpack(">I", b[at : at + 4])[0]]
        out[prefix] = zlib.decompress(raw[4:]) if flags & 1 else raw  # zlib data follow their 4-byte length

    walk(0, "")
    return out


def build(out: Path) -> None:
    """Every file of FILES into out/<folder>/, and out/SOURCES.txt."""
    sources = []
    for kind, package, version, file, how, what, licence in rows():
        folder, name = file.split("/")
        root, dest = unpacked(kind, package, version), out / folder
        dest.mkdir(parents=True, exist_ok=True)
        made: list[tuple[str, str]] = []  # (file, how it was made)
        if how == "copy":
            shutil.copyfile(root / what, dest / name)
            made.append((name, f"{what} (byte copy)"))
        elif how == "wav":  # FFmpeg's own WAV writer, rate and channels kept
            subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(root / what), str(dest / name)], check=True)
            made.append((name, f"{what} converted to WAV with FFmpeg"))
        elif how.startswith(("cat", "split")):
            rate = int(how.split("@")[1]) if "@" in how else RATE
            seconds = float(how[3:]) if how[3:].isdigit() else None
            samples, used = joined(root, listed(root, what), rate, seconds)
            common = os.path.commonpath(used)
            names = ",".join(os.path.relpath(path, common) for path in used)
            note = f"{common}/{{{names}}} joined in that order ({len(used)} files, no gaps), {rate} Hz mono 16-bit"
            if how == "split":  # one long run of short sung phrases: two halves at the sample midpoint
                half = len(samples) // 2
                for part, piece in enumerate((samples[:half], samples[half:]), 1):
                    sf.write(dest / (name % part), piece, rate, subtype="PCM_16")
                    made.append((name % part, f"half {part} of 2 (cut at the middle sample) of {note}"))
            else:
                sf.write(dest / name, samples, rate, subtype="PCM_16")
                made.append((name, note))
        elif how == "mix":  # FFmpeg's amix scales each of its two inputs by 1/2, so the sum never clips
            cmd = ["ffmpeg", "-v", "error", "-y", "-i", str(root / what / "song.ogg"), "-i"]
            cmd += [str(root / what / "guitar.ogg"), "-filter_complex", "amix=inputs=2", "-c:a", "flac"]
            subprocess.run([*cmd, "-sample_fmt", "s32", str(dest / name)], check=True)
            made.append((name, f"{what}/song.ogg + guitar.ogg mixed at half level each (amix), FLAC 24-bit"))
        elif how == "rcc":
            rcc, inside = what.split(":")
            (dest / name).write_bytes(rcc_files(root / rcc)[inside])
            made.append((name, f"{rcc}, resource {inside} (byte copy)"))
        elif how.startswith("clip"):  # 30 s clips from the annotated start of measure 7 (about where the voice enters)
            samples, rate = sf.read(root / "data_music" / f"{what}.wav", dtype="int16")
            bars = [line.split(";") for line in (root / "data_csv" / f"{what}.csv").read_text().splitlines()[1:]]
            start = next(float(at) for at, measure in bars if measure == "7")
            for k, later in enumerate(map(int, how[4:].split(",")), 1):  # clips this many seconds after the first
                first = int(start * rate) + later * rate
                sf.write(dest / (name % k), samples[first : first + 30 * rate], rate, subtype="PCM_16")
                made.append((name % k, f"data_music/{what}.wav, samples {first}-{first + 30 * rate} at {rate} Hz"))
        for file, note in made:
            sources.append(f"{folder}/{file} | {kind} {package} {version} | {note} | {licence}")
            print(f"{folder}/{file}", flush=True)
    (out / "SOURCES.txt").write_text("\n".join(sources) + "\n", encoding="utf-8")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path, help="the folder to build: speech/, vocal_music/, music/, SOURCES.txt")
    build(parser.parse_args().out)
