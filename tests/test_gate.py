"""The music gate (`genre_classifier/core/gate.py`): speech, noise and tones are "not music" whatever the model, music
stays music, and a clip of both has its windows marked apart."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from genre_classifier.core import answer, gate, voice
from genre_classifier.core.audio import load_audio, resample
from genre_classifier.core.model import BaselineClassifier, TransformerClassifier
from genre_classifier.web.page import EXAMPLES, EXAMPLES_DIR
from genre_classifier.web.summary import summary_text, timeline_rows
from train import sounds

from .helpers import ROOT


def music_probability(samples: np.ndarray) -> float:
    return float(gate.listen(samples, [(0.0, len(samples) / gate.RATE)]).music[0])


def test_the_shipped_gate_is_the_one_its_committed_results_chose():
    chosen = json.loads((ROOT / "train" / "results" / "music_gate.json").read_text())
    assert gate.gate().min_music == pytest.approx(chosen["min_music"], abs=1e-4)
    assert gate.gate().classes[0] == "music"


@pytest.mark.parametrize("name", [name for name, _ in EXAMPLES])
def test_the_examples_are_music(name):
    clip = load_audio(EXAMPLES_DIR / name, gate.RATE, 30.0)
    assert gate.is_music(music_probability(clip.samples)), name


@pytest.mark.parametrize("kind", ["speech", "speech in noise", "noise", "tone", "hum", "ringing", "applause"])
def test_sounds_of_other_kinds_are_not_music(kind):
    # Evaluation seeds: the gate was fitted on others (train/sounds.py).
    assert not gate.is_music(music_probability(sounds.make(kind, 1000 + 7, "eval", seconds=10)))


def test_speech_is_not_music_and_the_verdict_says_so(speech_wav):
    classifier = BaselineClassifier()
    prediction = classifier.classify(classifier.decode(speech_wav))
    assert not prediction.is_music and prediction.music_score < gate.gate().min_music
    said = answer.of(prediction)
    assert said.text == "not music" and said.sounds_like == "voice"
    summary = summary_text(prediction, classifier.decode(speech_wav), classifier.window_seconds)
    assert summary.startswith("## This doesn't sound like music") and "not music" in summary
    assert [row[2] for row in timeline_rows(prediction)] == ["not music"]


@pytest.mark.parametrize("name", ["speech-en-phone.ogg", "speech-fr-phone.ogg", *(f"libri{i}.ogg" for i in (1, 2, 3))])
def test_real_people_talking_are_not_music(name):
    """Telephone prompts read by voice artists and LibriSpeech readings (tests/data/ATTRIBUTION.md): the speech
    detector hears a voice in them, whatever the gate's features say (LibriSpeech 5703, libri1, passed them)."""
    clip = load_audio(ROOT / "tests" / "data" / name, gate.RATE, 30.0)
    assert voice.spoken_share(clip.samples, gate.RATE) > gate.gate().voice_share
    heard = gate.listen(clip.samples, [(0.0, clip.seconds)])
    assert not gate.is_music(heard.music[0]) and heard.sounds == ["voice"]


def test_a_sustained_sound_with_no_speech_in_it_is_not_taken_for_a_voice():
    """A didgeridoo drone leans to the features' "voice" (learned from espeak-ng), but the speech detector hears no
    speech in it and sound fills it: it is music. A robin's call, which comes and goes, keeps its "voice"."""
    model = gate.gate()
    drone = load_audio(ROOT / "tests" / "data" / "didgeridoo.ogg", gate.RATE, 30.0)
    features = model.class_probs(gate.gate_features(drone.samples))[0]
    assert not gate.is_music(features[0]) and model.classes[int(features.argmax())] == "voice"
    detected = voice.detect(drone.samples, gate.RATE)
    assert detected.share <= voice.NO_SPEECH and detected.filled >= voice.FILLED
    heard = gate.listen(drone.samples, [(0.0, drone.seconds)])
    assert gate.is_music(heard.music[0]) and heard.sounds != ["voice"]
    robin = load_audio(ROOT / "tests" / "data" / "robin.ogg", gate.RATE, 30.0)
    assert voice.detect(robin.samples, gate.RATE).filled < voice.FILLED
    heard = gate.listen(robin.samples, [(0.0, robin.seconds)])
    assert not gate.is_music(heard.music[0]) and heard.sounds == ["voice"]


def test_a_window_full_of_talk_falls_below_the_threshold_and_one_without_keeps_its_score():
    model = gate.gate()
    assert gate.voice_ceiling(0.0, model) == pytest.approx(1.0)
    assert gate.voice_ceiling(model.voice_share, model) == pytest.approx(model.min_music)  # a tie: still music
    assert not gate.is_music(gate.voice_ceiling(model.voice_share + 0.05, model))
    assert gate.voice_ceiling(1.0, model) == 0.0  # talk alone


def test_a_held_note_sings_and_a_gliding_voice_speaks(speech_wav):
    """A sung note holds its pitch; speech glides (voice.held_pitch). A voice holding its notes is not counted as
    talk, so singing alone stays music as far as the speech detector goes."""
    notes = np.repeat([220.0, 247.0, 262.0, 294.0, 330.0, 294.0], voice.RATE)  # a tune, one note a second
    sung = sum(np.sin(2 * np.pi * k * np.cumsum(notes) / voice.RATE) / k for k in range(1, 6)) * 0.3
    assert voice.held_pitch(sung.astype(np.float32)) >= voice.SUNG
    spoken = load_audio(speech_wav, voice.RATE, 30.0).samples
    assert voice.held_pitch(spoken) < voice.SUNG


def test_a_voice_sustaining_its_vowels_sings_though_its_short_phrases_glide():
    """A sung phrase of Scratch's: the detector hears it as speech and its pitch holds less than `voice.SUNG`, but
    it is voiced in more of its frames than any real speech measured (`voice.VOICED`): music, not talk."""
    sung = load_audio(ROOT / "tests" / "data" / "sing-me-a-song.ogg", gate.RATE, 30.0)
    at_16k = resample(sung.samples, gate.RATE, voice.RATE)
    assert voice.detect(sung.samples, gate.RATE).share > gate.gate().voice_share
    assert voice.held_pitch(at_16k) < voice.SUNG and voice.sings(at_16k)
    assert gate.is_music(gate.listen(sung.samples, [(0.0, sung.seconds)]).music[0])
    for name in ("speech-en-phone.ogg", "speech-fr-phone.ogg", "libri1.ogg"):
        spoken = load_audio(ROOT / "tests" / "data" / name, voice.RATE, 30.0).samples
        assert not voice.sings(spoken)


@pytest.mark.parametrize("bed", ["sugar_plum_fairy.ogg", "vibe_ace.ogg", "lets_go_fishin.ogg", "hungarian_dance_5.ogg"])
def test_talk_over_a_quiet_bed_of_music_is_talk(bed):
    """A podcast host over music 12 dB below the voice: the bed adds voiced frames, but not as many as a singer's."""
    music = load_audio(EXAMPLES_DIR / bed, gate.RATE, 30.0).samples
    for name in ("libri1.ogg", "libri2.ogg", "libri3.ogg", "speech-en-phone.ogg", "speech-fr-phone.ogg"):
        talk = load_audio(ROOT / "tests" / "data" / name, gate.RATE, 30.0).samples
        under = np.resize(music, len(talk))
        under *= np.sqrt(np.mean(talk**2) / np.mean(under**2)) * 10 ** (-12 / 20)
        mix = (talk + under).astype(np.float32)
        assert voice.voiced_share(resample(mix, gate.RATE, voice.RATE)) < voice.VOICED
        assert not gate.is_music(gate.listen(mix, [(0.0, len(mix) / gate.RATE)]).music[0]), name


def test_a_checkpoint_with_nothing_of_its_own_is_gated_the_same(speech_wav, tiny_hubert_dir):
    """The gate needs nothing from the model: random weights, a 16 kHz model, still "not music" for speech (the gate
    hears the file's full band at 22050 Hz, not the model's 16 kHz)."""
    classifier = TransformerClassifier.from_pretrained(str(tiny_hubert_dir), device="cpu")
    clip = classifier.decode(speech_wav)
    assert clip.sampling_rate == 16000 and clip.gate_samples is not None
    assert answer.of(classifier.classify(clip)).text == "not music"
    music = classifier.decode(EXAMPLES_DIR / "lets_go_fishin.ogg", max_seconds=30)
    assert classifier.classify(music).is_music


def test_music_then_speech_has_its_windows_marked_apart(speech_wav, tmp_path):
    song = load_audio(EXAMPLES_DIR / "lets_go_fishin.ogg", gate.RATE, 30.0).samples
    voice, _ = sf.read(speech_wav, dtype="float32")
    voice = np.tile(voice, 3)[: len(song)]
    both = tmp_path / "intro-then-talk.wav"
    sf.write(both, np.concatenate([song, voice]), gate.RATE)
    classifier = BaselineClassifier()
    clip = classifier.decode(both)
    prediction = classifier.classify(clip)
    assert list(prediction.music_windows) == [True, False]
    rows = timeline_rows(prediction)
    assert rows[0][2] != "not music" and rows[1][2] == "not music"
    # The clip is half music: its genre is the music's alone, and the summary says the rest is not.
    np.testing.assert_allclose(prediction.probs, prediction.window_probs[0])
    assert answer.of(prediction).music
    assert "1 of 2 windows are not music" in summary_text(prediction, clip, classifier.window_seconds)


def test_windows_heard_together_are_heard_as_each_alone(speech_wav):
    """Several windows are heard in threads (on a GPU the gate hears a batch at once): music, talk and a sung phrase
    get the answers each gets alone, in their order."""
    song = load_audio(EXAMPLES_DIR / "lets_go_fishin.ogg", gate.RATE, 20.0).samples
    talk, _ = sf.read(speech_wav, dtype="float32")
    sung = load_audio(ROOT / "tests" / "data" / "sing-me-a-song.ogg", gate.RATE, 20.0).samples
    clip = np.concatenate([song, np.tile(talk, 4)[: 10 * gate.RATE], sung, song[: 5 * gate.RATE]])
    cuts = np.cumsum([0, len(song), 10 * gate.RATE, len(sung), 5 * gate.RATE]) / gate.RATE
    spans = list(zip(cuts[:-1], cuts[1:], strict=True))
    together = gate.listen(clip, spans)
    alone = [gate.listen(clip, [span]) for span in spans]
    # To the last bit or so: OpenBLAS may sum a product of four rows in another order than one of one row (a Zen 5)
    np.testing.assert_allclose(together.music, [heard.music[0] for heard in alone], rtol=0, atol=1e-12)
    assert together.sounds == [heard.sounds[0] for heard in alone]
    assert gate.is_music(together.music).tolist() == [True, False, True, True]


def test_near_silence_keeps_its_own_message():
    from genre_classifier.core.audio import AudioError

    with pytest.raises(AudioError, match="silent"):
        BaselineClassifier().decode((22050, np.full(22050, 1e-6, np.float32)))


def librosa_gate_features(y: np.ndarray) -> np.ndarray:
    """The gate's 52 features as `features.extract_features` computes them, with librosa's own functions (chroma
    untuned, as the gate's is): what `gate.gate_features` promises to give without compiling librosa's kernels."""
    import librosa

    sr = gate.RATE
    mag = np.abs(librosa.stft(y, pad_mode="reflect"))
    power = mag**2
    mel_db = librosa.power_to_db(librosa.feature.melspectrogram(S=power, sr=sr))
    series = [
        librosa.feature.chroma_stft(S=power, sr=sr, tuning=0.0),
        librosa.feature.rms(y=y, pad_mode="reflect"),
        librosa.feature.spectral_centroid(S=mag, sr=sr),
        librosa.feature.spectral_bandwidth(S=mag, sr=sr),
        librosa.feature.spectral_rolloff(S=mag, sr=sr),
        librosa.feature.zero_crossing_rate(y),
    ]
    values = [stat(s) for s in series for stat in (np.mean, np.var)]
    values += [stat(row) for row in librosa.feature.mfcc(S=mel_db, n_mfcc=20) for stat in (np.mean, np.var)]
    return np.asarray(values, dtype=np.float64)


def first_seconds_of(clip: str) -> np.ndarray:
    from .helpers import CLIPS  # imported here: these tests were added at the end of the file

    return load_audio(CLIPS / f"{clip}.wav", gate.RATE, 10.0).samples


GATE_SOUNDS = {
    **{clip: lambda clip=clip: first_seconds_of(clip) for clip in ("rock.00000", "classical.00000", "hiphop.00000")},
    "example music": lambda: load_audio(EXAMPLES_DIR / EXAMPLES[0][0], gate.RATE, 10.0).samples,
    **{
        kind: lambda kind=kind: sounds.make(kind, 1000 + 7, "eval", seconds=5)
        for kind in ("speech", "speech in noise", "noise", "applause", "hum", "tone", "ringing")
    },
}
# The gate's STFT is scipy's float32 FFT, librosa's is numpy's: their magnitudes agree to 2e-7 of the peak, but round
# differently. A pure tone's or a ring's spectrum far from the tone holds only that rounding, which moves their spectral
# bandwidth by up to 1 % and some MFCCs by up to 1e-4; a frame's rolloff is the bin where the running sum crosses 85 %,
# which rounding can move by one bin (10.8 Hz) where it is that close. Every other feature of every sound: 1e-5.
PURE = {"tone", "ringing"}


def rounding_bound(name: str, feature: str) -> float:
    if name in PURE:
        return 1e-2 if feature.startswith("spectral_bandwidth") else 1e-4
    return 1e-4 if feature.startswith("rolloff") else 1e-5


@pytest.mark.parametrize("name", list(GATE_SOUNDS))
def test_the_gates_features_are_librosas(name):
    y = GATE_SOUNDS[name]()
    ours, librosas = gate.gate_features(y), librosa_gate_features(y)
    assert ours.shape == librosas.shape == (len(gate.GATE_FEATURE_NAMES),)
    for feature, mine, theirs in zip(gate.GATE_FEATURE_NAMES, ours, librosas, strict=True):
        assert mine == pytest.approx(theirs, rel=rounding_bound(name, feature), abs=1e-9), feature


@pytest.mark.parametrize("path", ["country.00000", "jazz.00000", "speech-en-phone.ogg"])
def test_the_pitch_is_left_unheard_only_where_it_changes_nothing(path):
    """The gate asks for the voice's pitch only where the speech share could lower the score: its answer is the one
    the detector gives with the pitch always heard (a song's voice, heard as speech in a third of country.00000's
    frames, sings: its score stays the features')."""
    from .helpers import CLIPS

    source = ROOT / "tests" / "data" / path if path.endswith(".ogg") else CLIPS / f"{path}.wav"
    samples = load_audio(source, gate.RATE, 30.0).samples
    model = gate.gate()
    probs = model.class_probs(gate.gate_features(samples))[0]
    spoken = model.classes.index("voice")
    if probs[1:].argmax() + 1 == spoken and voice.detect(samples, gate.RATE).no_voice:  # the features' voice set aside
        probs[spoken] = 0.0
        probs /= probs.sum()
    ceiling = gate.voice_ceiling(voice.spoken_share(samples, gate.RATE), model)
    heard = gate.listen(samples, [(0.0, len(samples) / gate.RATE)])
    assert heard.music[0] == pytest.approx(min(probs[0], ceiling))
    assert heard.sounds == ["voice" if ceiling < probs[0] else model.classes[int(probs[1:].argmax()) + 1]]
