"""A reduced form of benchmarks/load.py: concurrent users each get their own clip's answer."""

from benchmarks.load import run_load

from .helpers import CLIPS


def test_concurrent_users_get_their_own_answers(served_tiny):
    results = run_load(served_tiny, sorted(CLIPS.glob("*.wav"))[:4], requests=2)
    assert results["answered_correctly"] == 8  # run_load raises on any missing or swapped answer
    assert results["p95_s"] < 60
