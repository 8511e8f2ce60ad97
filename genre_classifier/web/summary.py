"""The answer in words on the page: the summary headed by the verdict, the table of windows, the faded bars of
a sound that is not music."""

from __future__ import annotations

import gradio as gr

from ..core import answer as verdicts
from ..core import gate
from ..core.answer import clock
from ..core.audio import Clip
from ..core.model import Prediction

NOT_MUSIC_HEADLINE = "This doesn't sound like music"


def timeline_rows(prediction: Prediction) -> list[list]:
    """One row per window; a window that is not music says so in place of its genre; one that overlaps the one
    before it (the clip's last) says by how much."""
    rows, previous_end = [], 0.0
    for (start, end), p, music in zip(
        prediction.window_spans, prediction.window_probs, prediction.music_windows, strict=True
    ):
        overlap = previous_end - start
        note = f"overlaps the previous window by {overlap:.1f} s (covers the clip's end)" if overlap > 0 else ""
        genre = prediction.labels[int(p.argmax())] if music else verdicts.NOT_MUSIC
        rows.append([clock(start, tenths=True), clock(end, tenths=True), genre, round(float(p.max()), 3), note])
        previous_end = end
    return rows


def summary_text(prediction: Prediction, clip: Clip, window_seconds: float) -> str:
    """The answer in words, headed by the verdict: the genre when it is clearly ahead, else the close contenders; a
    sound the music gate does not take for music is headed so, its genres named as an afterthought."""
    answer = verdicts.of(prediction)
    share = dict(zip(prediction.labels, prediction.probs, strict=True))
    top = answer.contenders[0]
    music = prediction.music_windows
    if not answer.music:
        headline = NOT_MUSIC_HEADLINE
        sounds = f"It sounds like {gate.DESCRIBED[answer.sounds_like]}." if answer.sounds_like else ""
        why = f"The verdict: not music. {sounds} The genres below are only what the model would say if it were: "
        why += f"{top} at {share[top]:.0%}, which means little here."
    elif answer.clear:
        runner_up = max((g for g in prediction.labels if g != top), key=share.get)
        headline, why = top, f"Clearly ahead: {share[top]:.0%}, the next is {runner_up} at {share[runner_up]:.0%}."
    else:
        close = ", ".join(f"{genre} {share[genre]:.0%}" for genre in answer.contenders)
        headline, why = answer.text[0].upper() + answer.text[1:], f"No genre is clearly ahead: {close}."
    if answer.music and not music.all():  # a podcast's music intro: the genre is the music's
        why += f" {(~music).sum()} of {len(music)} windows are not music; the genres are those of the others."
    done = len(prediction.window_spans)
    if not prediction.complete:  # an answer so far, refined as the other windows finish
        heard = prediction.window_spans[-1][1]
        return (
            f"## {headline} (so far)\n\n{why} After {clock(heard, tenths=True)} of {clock(clip.seconds, tenths=True)} "
            f"(window {done} of {prediction.total_windows})…"
        )
    lines = [
        f"## {headline}",
        f"{why} Classified from {clip.seconds:.1f} s of audio, {done} window{'s' if done > 1 else ''} of up to "
        f"{window_seconds:g} s.",
        *clip.notes,
    ]
    return "\n\n".join(lines)


def fade(summary: str | None) -> dict:
    """The bars' look for a summary: faded when it says the sound is not music (a page-only event, after the
    summary changes, so that the API's outputs stay the label and its confidences)."""
    return gr.update(elem_classes=["not-music"] if (summary or "").startswith(f"## {NOT_MUSIC_HEADLINE}") else [])
