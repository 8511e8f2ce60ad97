"""Whether the top genre is clearly ahead, and if not, which genres are close: one rule for the page and `tag`.
A clip the music gate does not take for music (`gate.py`) is "not music", whatever its probabilities.

The thresholds come from the embedded model's out-of-fold probabilities in 10-fold cross-validation on the GTZAN
feature table and from its answers on the 28 real recordings in ../shared/data (`benchmarks/unsure.py`; results
and reasoning in the README): a lead of 0.3 over the second genre is the smallest at which the answers that
have it are right nine times in ten.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .gate import NOT_MUSIC

CLEAR_MARGIN = 0.3  # the top genre is clearly ahead when it leads the second by at least this
CONTENDER_GAP = 0.2  # otherwise the genres within this of the top are named: the top two, and a third this close
MAX_CONTENDERS = 3


@dataclass(frozen=True)
class Verdict:
    """An answer in words: the top genre when it is clearly ahead, else the close contenders (top first)."""

    clear: bool
    contenders: list[str]
    music: bool = True
    sounds_like: str | None = None  # for a clip that is not music, what it sounds like if the gate can tell

    @property
    def text(self) -> str:
        """The genre ("jazz"), the contenders ("unsure: blues or rock", "unsure: blues, rock or jazz"), or "not
        music"."""
        if not self.music:
            return NOT_MUSIC
        if self.clear:
            return self.contenders[0]
        *first, last = self.contenders
        return f"unsure: {', '.join(first)} or {last}"


def verdict(
    labels: Sequence[str], probs: Sequence[float] | np.ndarray, music: bool = True, sounds_like: str | None = None
) -> Verdict:
    """Clear when the top probability leads the second by `CLEAR_MARGIN`; else unsure between the top two, with
    a third genre named when it is within `CONTENDER_GAP` of the top. Not music when the gate said so (`music`)."""
    probs = np.asarray(probs, dtype=float)
    if not music:
        order = np.argsort(-probs, kind="stable")
        return Verdict(False, [str(labels[i]) for i in order[:MAX_CONTENDERS]], False, sounds_like)
    order = np.argsort(-probs, kind="stable")
    top = probs[order[0]]
    if len(probs) < 2 or top - probs[order[1]] >= CLEAR_MARGIN - 1e-9:  # 0.6 - 0.3 is 0.2999… in floats
        return Verdict(True, [str(labels[order[0]])])
    close = [i for i in order[2:MAX_CONTENDERS] if probs[i] >= top - CONTENDER_GAP]
    return Verdict(False, [str(labels[i]) for i in [*order[:2], *close]])


def of(prediction) -> Verdict:
    """The verdict on a `model.Prediction`: its probabilities and what the music gate heard."""
    return verdict(prediction.labels, prediction.probs, prediction.is_music, prediction.sounds_like)


def clock(seconds: float, tenths: bool = False) -> str:
    """A time as the page and `tag` write it: m:ss (h:mm:ss from an hour on), or m:ss.s with `tenths`."""
    minutes, sec = divmod(round(seconds, 1) if tenths else round(seconds), 60)
    hours, minutes = divmod(int(minutes), 60)
    shown = f"{sec:04.1f}" if tenths else f"{sec:02d}"
    return f"{hours}:{minutes:02d}:{shown}" if hours else f"{minutes}:{shown}"
