"""Why a checkpoint cannot serve, in words: the error `model.py` raises and `loading.py` explains."""

from __future__ import annotations


class CheckpointError(Exception):
    """A checkpoint that loads but cannot serve this app, with the reason in words."""


def first_line(err: BaseException, limit: int = 200) -> str:
    """The first line of an error's message, or its type's name where it has none."""
    text = str(err).strip()
    return (text.splitlines()[0][:limit] if text else "") or type(err).__name__
