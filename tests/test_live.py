"""Live mode's session: raw microphone chunks in, a bounded buffer, answers every second or two, silence heard."""

from __future__ import annotations

import time
from itertools import islice

import librosa
import numpy as np
import pytest
import soundfile as sf

from genre_classifier import GENRES
from genre_classifier.core.loading import load_classifier
from genre_classifier.core.model import Classifier
from genre_classifier.web.live import (
    HISTORY_SECONDS,
    LISTENING,
    LIVE_SECONDS,
    MIN_INTERVAL,
    SLOWDOWN,
    LiveSession,
    listen_step,
)

from .helpers import CLIPS


def browser_chunks(seconds: float, silent: bool = False):
    """One-second int16 chunks at 48 kHz, as Chromium's microphone stream delivers them."""
    samples, _ = librosa.load(CLIPS / "reggae.00000.wav", sr=48000)
    samples = np.tile(samples, int(seconds // 30) + 1)[: int(seconds * 48000)]  # longer sessions: it repeats
    pcm = np.zeros_like(samples, dtype=np.int16) if silent else (samples * 32767).astype(np.int16)
    for i in range(0, len(pcm), 48000):
        yield 48000, pcm[i : i + 48000]


def run_session(classifier, chunks, session: LiveSession | None = None, lost=()) -> tuple[LiveSession, list]:
    """Feed chunks at real-time pace on a simulated clock; the chunks of the seconds in `lost` never arrive, as
    Gradio drops the chunks that come while an answer is being computed."""
    session, answers = session or LiveSession(), []
    for second, chunk in enumerate(chunks, start=1):
        if second in lost:
            continue
        session.add(*chunk, now=1000.0 + second)
        if session.due():
            answers.append(listen_step(classifier, session))
    return session, answers


def test_music_gets_a_genre_every_second_and_the_session_stays_bounded(tiny_hubert_dir):
    classifier, _ = load_classifier(str(tiny_hubert_dir))
    session, answers = run_session(classifier, browser_chunks(25))
    assert len(answers) >= 10  # about one per second of audio on a fast model
    value, strip = answers[-1]
    assert sorted(value) == sorted(GENRES) and strip[:4] == b"RIFF" and strip[8:12] == b"WEBP"  # drawn, encoded
    assert session.answered_at >= 24
    assert len(session.buffer) == LIVE_SECONDS * 48000  # only the last ten seconds are kept
    assert session.history[-1][1] == session.answered_at
    assert session.status().startswith("Listening for 25 s; an answer every ")


def test_the_strip_counts_seconds_of_listening_even_when_chunks_are_lost(tiny_hubert_dir):
    classifier, _ = load_classifier(str(tiny_hubert_dir))
    session, answers = run_session(classifier, islice(browser_chunks(30), 30), lost=range(2, 31, 3))
    assert session.heard == 20 and session.listened == 30  # a third of the audio lost, not a third of the time
    assert answers[-1][1] is not None and session.history[-1][1] == session.answered_at >= 29


class SteadyGPUModel(Classifier):
    """A model whose every call takes the same time (as a GPU call does, whatever it carries): the budget's
    arithmetic is then exact, not at the mercy of this shared CPU."""

    labels, sampling_rate, window_seconds, on_gpu = GENRES, 16000, 30.0, True
    call_seconds = 0.2

    def __init__(self):
        self.batches = []

    def predict_windows(self, windows):
        self.batches.append(len(windows))
        time.sleep(self.call_seconds)
        return np.full((len(windows), len(GENRES)), 0.1)


def test_on_zerogpu_a_session_spends_at_most_its_gpu_budget_in_batched_answers():
    model, budget = SteadyGPUModel(), 2.0  # GPU seconds per minute: 10 calls of 0.2 s
    session = LiveSession(gpu_budget=budget)
    for second, chunk in enumerate(browser_chunks(90), start=1):
        session.add(*chunk, now=1000.0 + second)
        if session.due():
            listen_step(model, session)
    calls = len(model.batches)
    assert calls <= 16  # the first minute's 10 at once, then one every 6 s of listening (90 without a budget)
    assert session.gpu_allowance() == budget * 1.5  # 90 s of listening
    assert session.gpu_used <= session.gpu_allowance() + SteadyGPUModel.call_seconds  # only the last call overruns
    assert max(model.batches[-4:]) >= 5  # answers 6 s apart each classify a window per second since the last
    assert all(end - start <= 1.3 for start, end, *_ in session.history[-20:])  # so the strip keeps its seconds
    assert "GPU budget" in session.status()


def test_the_stream_handler_returns_at_once_while_an_answer_is_computed_beside_it():
    """Gradio drops the chunks (one every 0.1 s) that arrive while the handler is busy, so it must never wait for
    an answer: it stores the chunk, starts an answer when one is due, and hands it over once ready."""
    from genre_classifier.web.handlers import make_listen

    model = SteadyGPUModel()
    model.on_gpu, model.call_seconds = False, 0.5  # an answer much slower than a chunk's interval
    listen, session, slowest, answers = make_listen(model), None, 0.0, []
    pcm = next(browser_chunks(1))[1]
    for tenth in range(40):  # 4 s of 0.1 s chunks at real-time pace
        started = time.perf_counter()
        value, *_, session = listen((48000, pcm[(tenth % 10) * 4800 : (tenth % 10 + 1) * 4800]), session)
        slowest = max(slowest, time.perf_counter() - started)
        answers += [value] if isinstance(value, dict) else []
        time.sleep(0.1)
    assert slowest < 0.25, slowest  # well under one answer's 0.5 s
    assert answers and session.heard == pytest.approx(4.0)  # answers came, and every chunk was taken in
    assert "dropped" not in session.status()


def test_the_rolling_strip_keeps_one_minute():
    classifier, _ = load_classifier("baseline")
    session = LiveSession(interval=5.0)
    session.history = [(t - 1.0, float(t), np.full(10, 0.1), True) for t in range(1, 90)]
    session.add(*next(browser_chunks(1)))
    session.listened = 90.0
    listen_step(classifier, session)
    assert session.history[0][1] > 90.0 - HISTORY_SECONDS and session.history[-1][1] == 90.0


def test_silence_shows_listening_not_a_genre(tiny_hubert_dir):
    classifier, _ = load_classifier(str(tiny_hubert_dir))
    session, answers = run_session(classifier, browser_chunks(5, silent=True))
    assert answers and all(value == LISTENING and strip is None for value, strip in answers)
    assert session.history == []


class SlowModel:
    """The embedded model behind a forward that takes at least `seconds`, as a large checkpoint's on a slow CPU."""

    def __init__(self, seconds: float) -> None:
        self.model, _ = load_classifier("baseline")
        self.seconds = seconds

    def __getattr__(self, name):
        return getattr(self.model, name)

    def predict_windows(self, windows):
        time.sleep(self.seconds)
        return self.model.predict_windows(windows)


def test_a_slow_model_is_asked_less_often():
    """An answer comes at most once a second, and never sooner than 1.5 x the last one's compute time."""
    fast, answers_fast = run_session(load_classifier("baseline")[0], islice(browser_chunks(12), 12))
    slow, answers_slow = run_session(SlowModel(2.0), islice(browser_chunks(12), 12))
    for session in (fast, slow):
        assert session.interval == pytest.approx(max(MIN_INTERVAL, SLOWDOWN * session.last_call))
    assert slow.last_call >= 2.0 and slow.interval >= SLOWDOWN * 2.0
    # On the simulated clock (a chunk a second) the slow model's answers are 3 s of listening apart at least
    answered = [end for _, end, _, _ in slow.history]
    assert len(answered) == len(answers_slow) >= 3 and min(np.diff(answered)) >= SLOWDOWN * 2.0
    assert len(answers_slow) < len(answers_fast)


def test_a_new_format_mid_session_starts_the_buffer_afresh():
    session = LiveSession()
    session.add(48000, np.zeros(48000, dtype=np.int16))
    session.add(48000, np.zeros((48000, 2), dtype=np.int16))  # the person switched to a stereo device
    assert session.buffer.shape == (48000, 2)
    session.add(48000, np.zeros((48000, 2), dtype=np.float32))
    assert session.buffer.dtype == np.float32 and len(session.buffer) == 48000


def test_talking_gets_not_music_and_music_gets_its_genre_back(tiny_hubert_dir, speech_wav):
    """Someone talks into the microphone, then music plays: "not music" while they talk, a genre once it plays."""
    from genre_classifier.web.page import EXAMPLES_DIR

    classifier, _ = load_classifier(str(tiny_hubert_dir))
    voice, rate = sf.read(speech_wav, dtype="float32")
    song, _ = librosa.load(EXAMPLES_DIR / "lets_go_fishin.ogg", sr=rate, duration=15)
    pcm = (np.concatenate([voice[: 12 * rate], song]) * 32767).astype(np.int16)
    chunks = [(rate, pcm[i : i + rate]) for i in range(0, len(pcm) - rate + 1, rate)]
    session, answers = run_session(classifier, chunks[:12])
    assert answers[-1][0] == "not music"
    session, answers = run_session(classifier, chunks[12:], session)
    assert sorted(answers[-1][0]) == sorted(GENRES)
    assert [h[3] for h in session.history][:3] == [False] * 3  # the strip marks the talk apart


def test_an_answer_works_on_its_own_copy_and_the_stream_keeps_what_arrived_meanwhile():
    """Only the stream handler changes a session: an answer computed beside it works on a snapshot, whose
    bookkeeping the handler takes with the next chunk (handlers.make_listen)."""
    classifier, _ = load_classifier("baseline")
    chunks = browser_chunks(6)
    session = LiveSession()
    for _ in range(3):
        session.add(*next(chunks))
    answered = session.snapshot()
    label, strip = listen_step(classifier, answered)  # as in live.ANSWERS' thread...
    for _ in range(3):
        session.add(*next(chunks))  # ...while the stream goes on
    assert session.history == [] and session.answered_at == 0.0  # the answer touched only its copy
    session.take(answered)
    assert session.history == answered.history and len(session.history) == 1
    assert session.answered_at == answered.answered_at and session.heard == pytest.approx(6.0)
    assert len(session.buffer) > len(answered.buffer)  # the chunks that came meanwhile are the session's
