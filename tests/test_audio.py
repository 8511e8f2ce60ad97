"""Decoding, validation, resampling and windowing: the preprocessing every model shares."""

import os
import re
import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf

from genre_classifier.core.audio import AudioError, load_audio, split_windows, window_starts

from .helpers import CLIPS, DATA, write_tone


def dominant_hz(samples: np.ndarray, sr: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples))
    return float(np.fft.rfftfreq(len(samples), 1 / sr)[spectrum.argmax()])


def test_real_gtzan_clip_is_decoded_and_resampled():
    clip = load_audio(CLIPS / "jazz.00000.wav", 16000)
    assert clip.sampling_rate == 16000 and clip.samples.dtype == np.float32 and clip.samples.ndim == 1
    assert clip.seconds == pytest.approx(30.0, abs=0.05) and clip.notes == ()
    assert 0.01 < np.abs(clip.samples).max() <= 1.0


def test_stereo_44k_ogg_is_mixed_to_mono():
    clip = load_audio(DATA / "vibe_ace.hq.ogg", 22050)
    reference = sf.info(DATA / "vibe_ace.hq.ogg")
    assert reference.channels == 2 and reference.samplerate == 44100
    assert clip.samples.ndim == 1 and clip.seconds == pytest.approx(reference.duration, abs=0.01)


@pytest.mark.parametrize(
    "sr, subtype, channels, fmt",
    [
        (8000, "PCM_16", 1, "WAV"),
        (96000, "PCM_24", 1, "WAV"),
        (11025, "PCM_U8", 1, "WAV"),
        (22050, "FLOAT", 2, "WAV"),
        (44100, "DOUBLE", 6, "WAV"),
        (48000, "PCM_16", 2, "FLAC"),
        (44100, "VORBIS", 2, "OGG"),
        (44100, "MPEG_LAYER_III", 2, "MP3"),
    ],
)
def test_unusual_but_valid_files_are_decoded(tmp_path, sr, subtype, channels, fmt):
    path = write_tone(tmp_path / f"tone.{fmt.lower()}", sr=sr, channels=channels, subtype=subtype, format=fmt)
    clip = load_audio(path, 16000)
    assert clip.seconds == pytest.approx(3.0, abs=0.1)
    assert dominant_hz(clip.samples, 16000) == pytest.approx(220, abs=3)  # resampling kept the pitch


@pytest.mark.parametrize(
    "data",
    [
        (np.sin(np.linspace(0, 2000, 16000)) * 20000).astype(np.int16),
        (np.sin(np.linspace(0, 2000, 16000)) * 2e9).astype(np.int32),
        np.sin(np.linspace(0, 2000, 16000)).astype(np.float64),
        np.stack([np.sin(np.linspace(0, 2000, 16000))] * 2, axis=1).astype(np.float32),  # (samples, channels)
        np.stack([np.sin(np.linspace(0, 2000, 16000))] * 2, axis=0).astype(np.float32),  # (channels, samples)
    ],
)
def test_microphone_arrays_of_any_dtype_become_float_in_range(data):
    clip = load_audio((16000, data), 16000)
    assert clip.samples.dtype == np.float32 and clip.samples.shape == (16000,)
    assert 0.5 < np.abs(clip.samples).max() <= 1.0


def test_clipped_loud_float_audio_is_scaled_into_range():
    clip = load_audio((16000, np.sin(np.linspace(0, 2000, 16000)) * 3.0), 16000)
    assert np.abs(clip.samples).max() == pytest.approx(1.0, abs=1e-3)


def test_one_second_clip_is_accepted(tmp_path):
    assert load_audio(write_tone(tmp_path / "one.wav", seconds=1.0), 16000).seconds == pytest.approx(1.0)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p.write_bytes(b""), "is empty (0 bytes)"),
        (lambda p: p.write_bytes(b"This is a text file, not audio.\n" * 10), "not an audio or video format"),
        (lambda p: p.write_bytes((CLIPS / "blues.00000.wav").read_bytes()[:44]), "has no audio: it is 0 seconds"),
        (lambda p: p.write_bytes((CLIPS / "blues.00000.wav").read_bytes()[:30]), "not an audio or video format"),
        (lambda p: sf.write(p, np.zeros(22050 * 3), 22050), "silent"),
        (lambda p: write_tone(p, seconds=0.1), "only 100 ms long"),
        (lambda p: sf.write(p, np.full(22050, np.nan), 22050, subtype="FLOAT"), "NaN or infinity"),
        (lambda p: sf.write(p, np.full(22050, np.inf), 22050, subtype="FLOAT"), "NaN or infinity"),
    ],
    ids=["empty", "text", "header-only", "cut-in-header", "silence", "100ms", "nan", "inf"],
)
def test_bad_files_get_a_message_a_person_can_act_on(tmp_path, make, message):
    path = tmp_path / "bad.wav"
    make(path)
    with pytest.raises(AudioError, match=re.escape(message)):
        load_audio(path, 16000)


@pytest.mark.parametrize(
    "data, message",
    [
        (np.zeros(0, dtype=np.int16), "0 seconds long"),
        (np.zeros(16000, dtype=np.int16), "silent"),
        (np.full(16000, np.nan), "NaN or infinity"),
        (np.ones(100, dtype=np.int16) * 1000, "only 6 ms long"),
    ],
)
def test_bad_microphone_arrays(data, message):
    with pytest.raises(AudioError, match=re.escape(message)):
        load_audio((16000, data), 16000)


def test_truncated_file_is_analysed_as_far_as_it_goes_and_says_so(tmp_path):
    path = tmp_path / "cut.wav"
    path.write_bytes((CLIPS / "blues.00000.wav").read_bytes()[:300_000])
    clip = load_audio(path, 16000)
    assert clip.seconds == pytest.approx(6.8, abs=0.05)
    assert any("truncated" in note for note in clip.notes)


def test_only_the_first_max_seconds_are_decoded(tmp_path):
    path = write_tone(tmp_path / "long.flac", seconds=40.0, sr=8000, format="FLAC")
    clip = load_audio(path, 16000, max_seconds=12)
    assert clip.seconds == pytest.approx(12.0) and clip.source_seconds == pytest.approx(40.0)
    assert clip.notes == ("The clip is 40 s long: only the first 12 s were analysed.",)


@pytest.mark.parametrize(
    "n, window, expected",
    [
        (30, 50, [0]),  # shorter than a window: one short window
        (100, 50, [0, 50]),  # exactly two windows
        (110, 50, [0, 50]),  # a tail under a quarter window is ignored
        (115, 50, [0, 50, 65]),  # a longer tail gets a window aligned to the clip's end
    ],
)
def test_window_starts(n, window, expected):
    assert window_starts(n, window) == expected


def test_split_windows_returns_equal_windows_from_the_clip():
    samples = np.arange(115, dtype=np.float32)
    windows, starts = split_windows(samples, 50)
    assert windows.shape == (3, 50)
    assert windows[2, -1] == 114 and windows[1, 0] == 50
    short, _ = split_windows(samples[:30], 50)
    assert short.shape == (1, 30)


def test_streaming_wav_with_placeholder_size_is_not_called_truncated(tmp_path):
    path = write_tone(tmp_path / "stream.wav", seconds=2.0)
    data = bytearray(path.read_bytes())
    data[40:44] = (0xFFFFFFFF).to_bytes(4, "little")  # the data chunk's size, as streaming encoders leave it
    path.write_bytes(bytes(data))
    clip = load_audio(path, 16000)
    assert clip.seconds == pytest.approx(2.0) and clip.notes == ()


def ffmpeg_convert(source, target, *options: str):
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(source), *options, str(target)], check=True)
    return target


needs_ffmpeg = pytest.mark.skipif(not shutil.which("ffmpeg"), reason="FFmpeg is not installed")


@needs_ffmpeg
@pytest.mark.parametrize(
    "name, options",
    [
        ("memo.m4a", ["-c:a", "aac"]),
        ("rec.webm", ["-c:a", "libopus", "-ar", "48000"]),
        ("old.wma", ["-c:a", "wmav2"]),
        ("clip.mov", ["-c:a", "aac"]),
    ],
)
def test_formats_libsndfile_cannot_read_are_decoded_by_ffmpeg(tmp_path, name, options):
    source = write_tone(tmp_path / "tone.wav", seconds=3.0, sr=44100, channels=2)
    clip = load_audio(ffmpeg_convert(source, tmp_path / name, *options), 16000)
    assert clip.seconds == pytest.approx(3.0, abs=0.1) and clip.notes == ()
    assert dominant_hz(clip.samples, 16000) == pytest.approx(220, abs=3)  # mixed and resampled like any file


@needs_ffmpeg
def test_ffmpeg_decodes_only_the_first_max_seconds(tmp_path):
    source = write_tone(tmp_path / "long.flac", seconds=40.0, sr=8000, format="FLAC")
    clip = load_audio(ffmpeg_convert(source, tmp_path / "long.m4a", "-c:a", "aac"), 16000, max_seconds=12)
    assert clip.seconds == pytest.approx(12.0, abs=0.05) and clip.source_seconds == pytest.approx(40.0, abs=0.1)
    assert clip.notes == ("The clip is 40 s long: only the first 12 s were analysed.",)


@needs_ffmpeg
def test_a_cut_short_recording_is_analysed_as_far_as_it_decodes(tmp_path):
    whole = ffmpeg_convert(write_tone(tmp_path / "tone.wav", seconds=30.0), tmp_path / "whole.webm", "-c:a", "libopus")
    cut = tmp_path / "cut.webm"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])  # the header still says 30 s
    clip = load_audio(cut, 16000)
    assert 10 < clip.seconds < 20 and clip.source_seconds == pytest.approx(clip.seconds)
    analysed = f"only the {clip.seconds:.0f} s that could be decoded were analysed."
    assert clip.notes == (f"The file looks truncated: {analysed}",)


@needs_ffmpeg
def test_a_stream_of_unknown_length_longer_than_max_seconds_says_so(tmp_path):
    # A browser's MediaRecorder writes WebM as it records: the container never learns its duration.
    source = write_tone(tmp_path / "tone.wav", seconds=20.0)
    webm = tmp_path / "recording.webm"
    with webm.open("wb") as out:
        command = ["ffmpeg", "-v", "error", "-i", str(source), "-c:a", "libopus", "-f", "webm", "-"]
        subprocess.run(command, stdout=out, check=True)
    clip = load_audio(webm, 16000, max_seconds=12)
    assert clip.seconds == pytest.approx(12.0, abs=0.05)
    assert clip.notes == ("The clip is longer than 12 s: only the first 12 s were analysed.",)


@needs_ffmpeg
def test_bytes_in_a_format_libsndfile_cannot_read(tmp_path):
    path = ffmpeg_convert(write_tone(tmp_path / "tone.wav"), tmp_path / "tone.m4a", "-c:a", "aac")
    assert load_audio(path.read_bytes(), 16000).seconds == pytest.approx(3.0, abs=0.1)


@needs_ffmpeg
def test_an_uploaded_playlist_cannot_make_the_server_read_its_files(tmp_path):
    secret = write_tone(tmp_path / "server-side.wav")
    playlist = tmp_path / "upload.m3u8"
    playlist.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:3,\n{secret}\n#EXT-X-ENDLIST\n")
    with pytest.raises(AudioError, match="not an audio or video format"):
        load_audio(playlist, 16000)


def test_without_ffmpeg_the_message_says_what_to_install(tmp_path, monkeypatch):
    path = tmp_path / "memo.m4a"
    path.write_bytes(b"\x00\x00\x00\x20ftypM4A " + bytes(2000))
    monkeypatch.setenv("PATH", str(tmp_path))  # no ffmpeg on it
    with pytest.raises(AudioError, match=r"Reading other formats such as \.m4a needs FFmpeg.*install ffmpeg"):
        load_audio(path, 16000)


@pytest.mark.skipif(os.name != "posix", reason="a POSIX file name is bytes; Windows names are Unicode")
@pytest.mark.parametrize("suffix, options", [(".wav", None), (".flac", None), (".m4a", ["-c:a", "aac"])])
def test_a_file_name_in_latin_1_is_read(tmp_path, suffix, options):
    """An old library's names were written in Latin-1: b"caf\xe9" is not UTF-8, and Python names it "caf\udce9"."""
    if options and not shutil.which("ffmpeg"):
        pytest.skip("FFmpeg is not installed")
    source = write_tone(tmp_path / "tone.wav", seconds=3.0, sr=44100, channels=2)
    name = os.fsdecode(b"Caf\xe9 del Mar \xe0 l'\xe9t\xe9" + suffix.encode())
    plain = tmp_path / f"plain{suffix}"
    if options:
        ffmpeg_convert(source, plain, *options)
    else:
        sf.write(plain, sf.read(source)[0], 44100)
    plain.rename(tmp_path / name)
    assert os.fsencode(name) in os.listdir(os.fsencode(tmp_path))  # the raw Latin-1 bytes are on disk
    clip = load_audio(tmp_path / name, 16000)
    assert clip.seconds == pytest.approx(3.0, abs=0.1) and clip.notes == ()
