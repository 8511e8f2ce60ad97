"""Clear or unsure: the rule the page, its summary and `tag` share, at and around its thresholds."""

from __future__ import annotations

import numpy as np

from genre_classifier import GENRES
from genre_classifier.core.answer import CLEAR_MARGIN, verdict


def answer(**probs: float) -> np.ndarray:
    """Probabilities over the ten genres: the named ones, the rest shared evenly."""
    rest = (1 - sum(probs.values())) / (len(GENRES) - len(probs))
    return np.array([probs.get(genre, rest) for genre in GENRES])


def test_a_top_genre_clearly_ahead_is_named_alone():
    clear = verdict(GENRES, answer(classical=0.65, country=0.09))
    assert clear.clear and clear.contenders == ["classical"] and clear.text == "classical"
    at_the_threshold = verdict(GENRES, answer(rock=0.6, metal=0.6 - CLEAR_MARGIN))  # 0.6 - 0.3 is 0.2999… in floats
    assert at_the_threshold.clear


def test_close_genres_are_named_when_no_genre_is_clearly_ahead():
    # The jazz example's answer with the embedded model (benchmarks/results/unsure.json): blues 30 %, rock 28 %.
    vibe_ace = verdict(GENRES, answer(blues=0.304, rock=0.277, jazz=0.13, reggae=0.11))
    assert not vibe_ace.clear and vibe_ace.text == "unsure: blues, rock or jazz"
    two = verdict(GENRES, answer(classical=0.56, jazz=0.28, rock=0.07))  # jazz.00000: a lead of 0.28 < 0.3
    assert not two.clear and two.contenders == ["classical", "jazz"] and two.text == "unsure: classical or jazz"
    far_second = verdict(GENRES, answer(disco=0.44, country=0.15, reggae=0.15))  # the top two, even 0.29 apart
    assert far_second.contenders == ["disco", "country"]
    flat = verdict(GENRES, np.full(len(GENRES), 0.1))  # a model that knows nothing: three of them, never more
    assert not flat.clear and len(flat.contenders) == 3


def test_the_contenders_use_the_models_own_label_order():
    labels = list(reversed(GENRES))
    probs = answer(blues=0.4, rock=0.35)[::-1]
    assert verdict(labels, probs).text == "unsure: blues or rock"
