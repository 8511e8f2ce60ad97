"""A reduced form of benchmarks/load.py: concurrent users each get their own clip's answer."""

from benchmarks.load import distinct_clips, run_load


def test_concurrent_users_get_their_own_answers(served_tiny, tmp_path):
    results = run_load(served_tiny, distinct_clips(4, tmp_path), requests=2)
    assert results["answered_correctly"] == 8  # run_load raises on any missing or swapped answer
    assert results["p95_s"] < 60
