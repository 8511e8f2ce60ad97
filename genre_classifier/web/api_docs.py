"""What the API page and the MCP tools say of each endpoint: what to pass, what comes back, the limits. Gradio reads
one line per parameter and per returned value."""

from __future__ import annotations

# The page's `/classify` (handlers.make_classify)
CLASSIFY_DOC = "\n".join(
    [
        "Music genre of a recording: the probability of each of the ten GTZAN genres (blues, classical, country, "
        "disco, "
        "hiphop, jazz, metal, pop, reggae, rock), and whether one of them is clearly ahead.",
        "",
        "Args:",
        "    audio_path: the recording, an audio or video file ({accepted}), as an http(s) URL of a public address "
        "or an "
        "uploaded file. Only its first {limit} min are analysed. Files over the size limit (300 MB unless the server "
        "says "
        "otherwise) and URLs of private or loopback addresses are refused.",
        "",
        "Returns:",
        "    the ten genre probabilities (a label and its confidences)",
        "    the answer in words, headed by the verdict (the genre when it leads the second by {margin:g} or more, "
        "else "
        '"Unsure: blues or rock" naming the close contenders, or "This doesn\'t sound like music" for speech, noise '
        "or tones, whose probabilities then mean little), with the seconds and windows classified",
        "    three figures: waveform, spectrogram and mel spectrogram",
        '    the genre of each window (start, end, top genre or "not music", confidence)',
        "    a figure of the genre over time",
    ]
)

# The Many files tab's `/tag` (many_files.make_tag)
TAG_DOC = "\n".join(
    [
        "Music genre of several recordings at once: one row per file with its top genre.",
        "",
        "Args:",
        "    files: up to {most} audio or video files, each an http(s) URL of a public address or an uploaded "
        "file, with the formats and limits of `classify`. A file that cannot be read gets a row with the reason.",
        "",
        "Returns:",
        '    a table, a row per file: file, top genre, confidence, seconds analysed, windows and a note ("unsure: '
        'blues or rock", "not music" for speech or noise, or why the file could not be read)',
        "    a CSV file with the ten genre probabilities of every file",
    ]
)

# What an agent reads of the MCP tools `classify` and `tag` (agents.py)
AGENT_CLASSIFY_DOC = "\n".join(
    [
        "Music genre of a recording: the probability of each of the ten GTZAN genres (blues, classical, country, "
        "disco, "
        "hiphop, jazz, metal, pop, reggae, rock), and a verdict in words.",
        "",
        "Args:",
        "    audio: the recording, an audio or video file ({accepted}), as a base64 data: URL "
        "(data:audio/wav;base64,...) or an http(s) URL of a public address (private and loopback addresses are "
        "refused). Only its first {limit:g} min are analysed; up to 64 MB inline.",
        "",
        "Returns:",
        '    JSON: verdict (the genre, "unsure: blues or rock" naming the close contenders, or "not music" for speech, '
        "noise or tones), music (true/false), sounds_like, probabilities (the ten genres), windows (start, end, "
        "genre or "
        '"not music", confidence), seconds, notes, model and precision.',
    ]
)

AGENT_TAG_DOC = "\n".join(
    [
        "The music genre of several recordings at once (up to {most}), one row each, as the tag command writes them.",
        "",
        "Args:",
        "    files: the recordings ({accepted}), each a base64 data: URL or an http(s) URL of a public address.",
        "",
        "Returns:",
        "    JSON: files (per recording: path, genre, confidence, music, music_score, the ten probabilities, seconds, "
        "windows, note; a recording that could not be read has no genre and says why in its note) and model.",
    ]
)
