"""What an agent gets over MCP: the `classify` and `tag` tools answer in JSON (the ten probabilities, the verdict,
the windows, the model and its precision), with no figure, and a refused input reads as its reason.

They are API endpoints of their own, `/classify_json` and `/tag_json` (for any HTTP client that wants JSON too); the
page's events, whose outputs are a person's figures and tables, are kept out of the MCP tools
(`gradio_internals.keep_out_of_mcp`). A recording comes as a base64 `data:` URL or an http(s) URL, which Gradio's
own SSRF-protected download fetches (a private or loopback address is refused before any request goes out).
"""

from __future__ import annotations

import json
import logging
import tempfile

import gradio as gr
from gradio import processing_utils

from ..core import answer as verdicts
from ..core.audio import ACCEPTED, AudioError
from ..core.model import Classifier, Prediction
from ..library.rows import error_row, result_row
from . import gradio_internals
from .many_files import MAX_FILES

log = logging.getLogger(__name__)

NOT_PUBLIC = "{url} is not a public address: give the URL of a file anyone on the internet can fetch, or the bytes"
NOT_A_RECORDING = "Give the recording as a data: URL (data:audio/wav;base64,...) or an http(s) URL, not {value!r}"


def clip_answer(prediction: Prediction, seconds: float, notes: list[str], classifier: Classifier) -> dict:
    """A clip's answer as data: the verdict in words ("jazz", "unsure: blues or rock", "not music"), the ten
    probabilities, the music gate's score, and each window's genre (or "not music")."""
    said = verdicts.of(prediction)
    windows = [
        {"start": round(start, 2), "end": round(end, 2), "music": bool(music),
         "genre": prediction.labels[int(p.argmax())] if music else verdicts.NOT_MUSIC,
         "confidence": round(float(p.max()), 4)}
        for (start, end), p, music in zip(prediction.window_spans, prediction.window_probs,
                                          prediction.music_windows, strict=True)
    ]  # fmt: skip
    return {
        "verdict": said.text,
        "music": said.music,
        "sounds_like": said.sounds_like,
        "music_score": None if prediction.music_score is None else round(prediction.music_score, 3),
        "probabilities": {label: round(p, 4) for label, p in prediction.confidences().items()},
        "seconds": round(seconds, 2),
        "windows": windows,
        "notes": notes,
        "model": classifier.description,
        "precision": getattr(classifier, "precision", "fp32"),
    }


def fetch(value: str, folder: str) -> str:
    """The recording named by `value` (a data: URL or an http(s) URL), saved under `folder`; gr.Error saying why
    not."""
    value = (value or "").strip()
    try:
        if value.startswith("data:"):
            return processing_utils.save_base64_to_cache(value, folder)
        if value.startswith(("http://", "https://")):
            return processing_utils.ssrf_protected_download(value, folder)
    except ValueError as err:  # safehttpx: "Hostname 127.0.0.1 failed validation"; a host that does not resolve
        reason = NOT_PUBLIC.format(url=value[:200]) if "failed validation" in str(err) else str(err)
        log.info("Refused an agent's recording: %s", reason)
        raise gr.Error(reason, print_exception=False) from None
    except Exception as err:  # a download that failed (status, connection): the agent reads why
        log.info("Could not fetch an agent's recording: %s", err)
        raise gr.Error(f"Could not fetch {value[:200]}: {err}", print_exception=False) from None
    raise gr.Error(NOT_A_RECORDING.format(value=value[:60]), print_exception=False)


def make_classify(classifier: Classifier):
    def classify(audio: str) -> str:
        with tempfile.TemporaryDirectory(prefix="genre-agent-") as folder:
            try:
                clip = classifier.load(fetch(audio, folder))
            except AudioError as err:
                log.info("Refused an agent's recording: %s", err)
                raise gr.Error(str(err), print_exception=False) from None
        prediction = classifier.classify(clip)
        log.info("Classified %.1f s of audio for an agent: %s", clip.seconds, verdicts.of(prediction).text)
        return json.dumps(clip_answer(prediction, clip.seconds, clip.notes, classifier))

    classify.__doc__ = CLASSIFY_DOC.format(accepted=ACCEPTED, limit=classifier.max_seconds / 60)
    return classify


def make_tag(classifier: Classifier):
    def tag(files: list[str]) -> str:
        if not files:
            raise gr.Error("Give one or more recordings.", print_exception=False)
        if len(files) > MAX_FILES:
            raise gr.Error(f"{len(files)} recordings were given; up to {MAX_FILES} at a time.", print_exception=False)
        rows = []
        for i, value in enumerate(files):
            name = value if not value.startswith("data:") else f"recording {i + 1}"
            with tempfile.TemporaryDirectory(prefix="genre-agent-") as folder:
                try:
                    clip = classifier.load(fetch(value, folder))
                    rows.append(result_row(name[:200], classifier.classify(clip), clip.seconds, clip.notes))
                except (AudioError, gr.Error) as err:  # one bad recording must not cost the others their answers
                    rows.append(error_row(name[:200], str(err)))
        return json.dumps({"files": rows, "model": classifier.description})

    tag.__doc__ = TAG_DOC.format(accepted=ACCEPTED, most=MAX_FILES)
    return tag


def add_tools(classifier: Classifier) -> None:
    """The two agent endpoints, inside the page's Blocks and before its events, so that the tools take the plain
    names; each shares its concurrency group with the page's event (one forward of each kind at a time)."""
    gr.api(make_classify(classifier), api_name="classify_json", concurrency_id="classify")
    gr.api(make_tag(classifier), api_name="tag_json", concurrency_id="tag")


def keep_page_out_of_mcp(demo: gr.Blocks) -> None:
    """The page's `/classify` and `/tag` stay on the API (figures and tables for a person) but are not MCP tools."""
    gradio_internals.keep_out_of_mcp(demo, {"classify", "tag"})


# What an agent reads of each tool: Gradio reads one line per parameter and per returned value.
CLASSIFY_DOC = "\n".join([
    "Music genre of a recording: the probability of each of the ten GTZAN genres (blues, classical, country, disco, "
    "hiphop, jazz, metal, pop, reggae, rock), and a verdict in words.",
    "",
    "Args:",
    "    audio: the recording, an audio or video file ({accepted}), as a base64 data: URL "
    "(data:audio/wav;base64,...) or an http(s) URL of a public address (private and loopback addresses are "
    "refused). Only its first {limit:g} min are analysed; up to 64 MB inline.",
    "",
    "Returns:",
    "    JSON: verdict (the genre, \"unsure: blues or rock\" naming the close contenders, or \"not music\" for speech, "
    "noise or tones), music (true/false), sounds_like, probabilities (the ten genres), windows (start, end, genre or "
    "\"not music\", confidence), seconds, notes, model and precision.",
])  # fmt: skip

TAG_DOC = "\n".join([
    "The music genre of several recordings at once (up to {most}), one row each, as the tag command writes them.",
    "",
    "Args:",
    "    files: the recordings ({accepted}), each a base64 data: URL or an http(s) URL of a public address.",
    "",
    "Returns:",
    "    JSON: files (per recording: path, genre, confidence, music, music_score, the ten probabilities, seconds, "
    "windows, note; a recording that could not be read has no genre and says why in its note) and model.",
])  # fmt: skip
