"""Answers computed ahead: a classification's partial answers, made in a worker thread while the last one is drawn."""

from __future__ import annotations

import contextvars
import queue
import threading
from collections.abc import Iterator

from ..core.model import Prediction


class Ahead:
    """The answers of `partials`, computed in a worker thread: the handler draws and sends one answer while the
    next is computed (on a GPU the CPU would idle meanwhile; a CPU's forward leaves some of it free). An error of
    the forward is raised where the answers are iterated; leaving the `with` block stops the forwards."""

    def __init__(self, partials: Iterator[Prediction]) -> None:
        self._answers: queue.SimpleQueue = queue.SimpleQueue()
        self._left = False
        # In this request's context: on ZeroGPU the forward's GPU call is this visitor's.
        run = contextvars.copy_context().run
        threading.Thread(target=run, args=(self._compute, partials), name="classify", daemon=True).start()

    def _compute(self, partials: Iterator[Prediction]) -> None:
        try:
            for p in partials:
                self._answers.put(p)
                if self._left:  # the visitor left, or the request failed: no more forwards for it
                    break
        except BaseException as err:  # noqa: BLE001 (raised in the request's thread)
            self._answers.put(err)
        self._answers.put(None)

    def __enter__(self) -> Ahead:
        return self

    def __exit__(self, *_) -> None:
        self._left = True

    def __iter__(self) -> Iterator[Prediction]:
        while (p := self._answers.get()) is not None:
            if isinstance(p, BaseException):
                raise p
            yield p
