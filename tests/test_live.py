"""Live mode's session: raw microphone chunks in, a bounded buffer, answers every second or two, silence heard."""

from __future__ import annotations

import librosa
import numpy as np

from genre_classifier import GENRES
from genre_classifier.live import HISTORY_SECONDS, LISTENING, LIVE_SECONDS, LiveSession, listen_step
from genre_classifier.model import load_classifier

from .helpers import GTZAN


def browser_chunks(seconds: float, silent: bool = False):
    """One-second int16 chunks at 48 kHz, as Chromium's microphone stream delivers them."""
    samples, _ = librosa.load(GTZAN / "reggae.00000.wav", sr=48000, duration=seconds)
    pcm = np.zeros_like(samples, dtype=np.int16) if silent else (samples * 32767).astype(np.int16)
    for i in range(0, len(pcm), 48000):
        yield 48000, pcm[i : i + 48000]


def run_session(classifier, chunks) -> tuple[LiveSession, list]:
    session, answers = LiveSession(), []
    for chunk in chunks:
        session.add(*chunk)
        if session.due():
            answers.append(listen_step(classifier, session))
    return session, answers


def test_music_gets_a_genre_every_second_and_the_session_stays_bounded(tiny_hubert_dir):
    classifier, _ = load_classifier(str(tiny_hubert_dir))
    session, answers = run_session(classifier, browser_chunks(25))
    assert len(answers) >= 10  # about one per second of audio on a fast model
    value, figure = answers[-1]
    assert sorted(value) == sorted(GENRES) and figure is not None
    assert figure.axes[0].get_xlim() == (0.0, session.heard)
    assert len(session.buffer) == LIVE_SECONDS * 48000  # only the last ten seconds are kept
    assert session.history[-1][1] == session.heard


def test_the_rolling_strip_keeps_one_minute():
    classifier, _ = load_classifier("baseline")
    session = LiveSession(interval=5.0)
    session.history = [(t - 1.0, float(t), np.full(10, 0.1)) for t in range(1, 90)]
    session.add(*next(browser_chunks(1)))
    session.heard = 90.0
    listen_step(classifier, session)
    assert session.history[0][1] > 90.0 - HISTORY_SECONDS and session.history[-1][1] == 90.0


def test_silence_shows_listening_not_a_genre(tiny_hubert_dir):
    classifier, _ = load_classifier(str(tiny_hubert_dir))
    session, answers = run_session(classifier, browser_chunks(5, silent=True))
    assert answers and all(value == LISTENING and figure is None for value, figure in answers)
    assert session.history == []


def test_a_slow_model_is_asked_less_often():
    session = LiveSession()
    classifier, _ = load_classifier("baseline")
    session.add(*next(browser_chunks(3)))
    listen_step(classifier, session)
    assert session.interval >= 1.0 and session.interval == max(1.0, session.interval)


def test_a_new_format_mid_session_starts_the_buffer_afresh():
    session = LiveSession()
    session.add(48000, np.zeros(48000, dtype=np.int16))
    session.add(48000, np.zeros((48000, 2), dtype=np.int16))  # the person switched to a stereo device
    assert session.buffer.shape == (48000, 2)
    session.add(48000, np.zeros((48000, 2), dtype=np.float32))
    assert session.buffer.dtype == np.float32 and len(session.buffer) == 48000
