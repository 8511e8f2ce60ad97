"""The page's own CSS and JavaScript."""

from __future__ import annotations

PLOTS = ("genre-over-time", "mel", "waveform", "spectrogram", "live-strip")  # their elem_ids
CSS = (
    "#genre-label.not-music { opacity: 0.45; }"  # the genres of a sound that is not music: shown, but faded
    # A figure with nothing drawn yet is not shown at all: no empty, untitled frames before the first answer.
    + ",".join(f"#{plot}:not(:has(img))" for plot in PLOTS)
    + " { display: none; }"
)
# On a phone the answer arrives below the fold (under the player, the button and the examples): it is brought on
# screen when its first words come (measured once they are drawn, a moment after the change). Where it is in view
# already (a laptop), nothing moves.
SHOW_ANSWER = """() => setTimeout(() => {
    const answer = document.querySelector('#details');
    if (answer && answer.getBoundingClientRect().top > 0.6 * window.innerHeight) {
        answer.scrollIntoView({behavior: 'smooth', block: 'start'});
    }
}, 100)"""
