"""Render every measured table of docs/*.md and the README from benchmarks/results/*.json, so that no figure drifts
from its run.

    python docs/render.py           # rewrite the tables in place
    python docs/render.py --check   # exit 1 if a committed page differs from what this script renders

A table sits between `<!-- table: NAME -->` and `<!-- /table -->`; NAME is a key of TABLES. Each cell is a format
string over the results file (`{d[key][sub]:.2f}`); under the table, the command that reproduces it, the machine
it ran on and the date its results were committed.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
TABLE = re.compile(r"(<!-- table: (?P<name>[\w-]+) -->\n).*?(<!-- /table -->)", re.S)


def app(model: str) -> list:
    """One row of the app-over-HTTP table of latency.json: 30 s, 1, 2.5 and 5 minutes, first answer, memory."""
    k = f"d[app_{model}]"
    return [
        f"{{{k}[30s]:.2f}} s",
        f"{{{k}[1min]:.1f}} s",
        f"{{{k}[2.5min]:.1f}} s",
        f"{{{k}[5min]:.1f}} s",
        f"{{{k}[first_call_s]:.2f}} s",
        f"{{{k}[serving_s]:.0f}} s",
        f"{{{k}[peak_rss_mb]:.0f}} MB",
    ]


def tag_row(label: str, key: str) -> list:
    songs = [
        f"{{d[{key}_{kind}][files_per_min]}} files/min, {{d[{key}_{kind}][s_per_file]:.1f}} s a song"
        for kind in ("5min_songs", "5min_songs_all_windows")
    ]
    return [
        label,
        f"{{d[{key}_30s_clips][files_per_min]}} files/min, {{d[{key}_30s_clips][s_per_file]}} s a clip",
        *songs,
        f"{{d[{key}_30s_clips][peak_rss_mb]}} MB",
    ]


def track_rows() -> list[list[str]]:
    """One row per real track tag.py measured: its length, the windows heard, the two answers."""
    rows = json.loads((RESULTS / "tag.json").read_text()).get("tracks", {}).get("rows", [])
    return [
        [
            f"`{{d[tracks][rows][{i}][file]}}`",
            f"{{d[tracks][rows][{i}][seconds]:.0f}} s",
            f"{{d[tracks][rows][{i}][windows][0]}} / {{d[tracks][rows][{i}][windows][1]}}",
            f"{{d[tracks][rows][{i}][verdict][0]}}",
            f"{{d[tracks][rows][{i}][verdict][1]}}",
        ]
        for i in range(len(rows))
    ]


def runtime_rows(file: str) -> list[list[str]]:
    """The rows runtimes.py measured (bf16 ones only where the CPU has the units): conversion, speed, agreement."""
    data = json.loads((RESULTS / file).read_text())
    rows = []
    for name, model in (("DistilHuBERT, 30 s", "distilhubert"), ("AST, 10.24 s", "ast")):
        for key, row in data.get(model, {}).items():
            if not isinstance(row, dict) or "warm_s" not in row:
                continue
            d = f"d[{model}][{key}]"
            rows.append(
                [
                    f"{name}, {key}",
                    f"{{{d}[convert_s]:.1f}} s, from the cache"
                    if row.get("how") == "from the cache"
                    else f"{{{d}[convert_s]:.1f}} s"
                    if row["convert_s"]
                    else "",
                    f"{{{d}[warm_s]:.2f}} s",
                    f"{{{d}[speedup]:.2f}} ×",
                    f"{{{d}[of_ceiling]:.0%}}",
                    "the reference"
                    if key == "torch fp32"
                    else f"same top genre {{{d}[same_top]}}/{{{d}[clips]}}, max Δp {{{d}[max_abs_dp]:.0e}}",
                ]
            )
    return rows


def runtimes_table(file: str, command: str) -> tuple[str, str, list[str], list[list[str]]]:
    header = [
        "model, runtime, precision",
        "conversion",
        "warm forward",
        "speed-up",
        "share of the ceiling",
        "agreement with PyTorch fp32",
    ]
    return file, command, header, runtime_rows(file)


NO_VNNI = (
    "ONEDNN_MAX_CPU_ISA=AVX512_CORE python benchmarks/precision.py --out benchmarks/results/precision_no_vnni.json"
)


ZEN4 = "python benchmarks/precision.py --windows 100 --out benchmarks/results/precision_zen4.json"
ZEN5 = "python benchmarks/precision.py --out benchmarks/results/precision_zen5.json"


def precision_table(file: str, command: str) -> tuple[str, str, list[str], list[list[str]]]:
    """precision.py's speeds: what a checkpoint's first start makes once, each precision's warm forward of one window,
    what `auto` chose, and the app's answer against the naive recipe, in one run."""
    data = json.loads((RESULTS / file).read_text())
    header = [
        "model, one window",
        "made once: conversion, int8, timing",
        "fp32",
        "bf16",
        "int8",
        "`PRECISION=auto`",
        "the app over HTTP, a 30 s clip",
    ]
    rows = []
    for name, model in (("DistilHuBERT, 30 s", "distilhubert"), ("AST, 10.24 s", "ast")):
        if model not in data:  # a run of one model (--models)
            continue
        d = f"d[{model}]"
        rows.append(
            [
                name,
                f"{{{d}[convert_s]:.0f}} s, {{{d}[quantize_s]:.0f}} s, {{{d}[choose_s]:.0f}} s",
                *[
                    f"{{{d}[warm_s][{p}]:.2f}} s" if p in data[model]["warm_s"] else "—"
                    for p in ("fp32", "bf16", "int8")
                ],
                f"{{{d}[choice][chosen]}}",
                f"{{{d}[app][30s]:.2f}} s = {{{d}[app][x_naive]:.2f}} × the naive {{d[naive_s]:.2f}} s"
                if "app" in data[model]
                else "not measured",
            ]
        )
    return file, command, header, rows


def fidelity_table(file: str, command: str) -> tuple[str, str, list[str], list[list[str]]]:
    """precision.py's int8 against fp32 on real music (random weights: see docs/performance.md)."""
    header = [
        "int8 against fp32",
        "windows of real music",
        "same top genre",
        "largest Δp",
        "cosine of the logits (least)",
        "cosine of the pooled hidden state (least / mean)",
        "fp32's lead of its top genre (median)",
    ]
    data, rows = json.loads((RESULTS / file).read_text()), []
    for name, model in (("DistilHuBERT", "distilhubert"), ("AST", "ast")):
        if model not in data:
            continue
        d = f"d[{model}][int8_fidelity]"
        rows.append(
            [
                name,
                f"{{{d}[windows]}} × {{{d}[window_s]:g}} s",
                f"{{{d}[same_top]:.1%}}",
                f"{{{d}[max_dp]:.1e}}",
                f"{{{d}[cosine_min]:.4f}}",
                f"{{{d}[pooled_cosine_min]:.4f}} / {{{d}[pooled_cosine_mean]:.4f}}",
                f"{{{d}[fp32_top2_margin_median]:.4f}}",
            ]
        )
    return file, command, header, rows


def gate_rows() -> list[list[str]]:
    """One row per clip music_gate.py measured: what each model's page said, and the gate's music probability."""
    clips = json.loads((RESULTS / "music_gate.json").read_text())["clips"]
    rows = []
    for i, clip in enumerate(clips):
        if clip["group"] == "real speech, held out":  # by source in their own table (real_speech_rows)
            continue
        d = f"d[clips][{i}]"
        rows.append(
            [
                clip["group"],
                clip["name"].replace("_", " ").replace("|", "/"),
                "music" if clip["music"] else "not music",
                f"{{{d}[embedded][verdict]}}",
                f"{{{d}[distilhubert_random][verdict]}}",
                f"{{{d}[embedded][music_score]:.3f}}",
                f"{{{d}[embedded][windows_not_music]}} of {{{d}[embedded][windows]}}",
            ]
        )
    return rows


def real_speech_rows() -> list[list[str]]:
    """One row per source, language and band of the held-out real speech: how many clips each model said "not
    music" of."""
    sources = json.loads((RESULTS / "music_gate.json").read_text())["real_speech_by_source"]
    return [
        [
            name,
            f"{{d[real_speech_by_source][{name}][embedded]}} of {{d[real_speech_by_source][{name}][clips]}}",
            f"{{d[real_speech_by_source][{name}][distilhubert_random]}}",
        ]
        for name in sources
    ]


# name: (results file, command, header, rows); a row is its cells.
TABLES: dict[str, tuple[str, str, list[str], list[list[str]]]] = {
    "forward": (
        "latency.json",
        "python benchmarks/latency.py --alternatives --runs 3",
        ["", "fp32", "bf16"],
        [
            [
                "the machine's ceiling: a 4096² matmul",
                "{d[ceiling_gflops][fp32]:.0f} GFLOP/s",
                "{d[ceiling_gflops][bf16]:.0f} GFLOP/s",
            ],
            [
                "DistilHuBERT forward, one 30 s window",
                "{d[forward_distilhubert][fp32][s]:.2f} s = "
                "{d[forward_distilhubert][fp32][of_ceiling]:.0%} of the ceiling",
                "{d[forward_distilhubert][bf16][s]:.2f} s = {d[forward_distilhubert][bf16][of_ceiling]:.0%}",
            ],
            [
                "AST forward, one 10.24 s window",
                "{d[forward_ast][fp32][s]:.2f} s = {d[forward_ast][fp32][of_ceiling]:.0%}",
                "{d[forward_ast][bf16][s]:.2f} s = {d[forward_ast][bf16][of_ceiling]:.0%}",
            ],
            [
                "AST, three windows in one batch / one by one",
                "{d[ast_batching][fp32][batch_of_3_s]:.2f} s / {d[ast_batching][fp32][one_by_one_s]:.2f} s",
                "{d[ast_batching][bf16][batch_of_3_s]:.2f} s / {d[ast_batching][bf16][one_by_one_s]:.2f} s",
            ],
            [
                'the naive recipe, `pipeline("audio-classification")` and three `librosa.display` plots',
                "{d[naive_distilhubert_s]:.2f} s",
                "",
            ],
        ],
    ),
    "goals": (
        "latency_goals.json",
        "python benchmarks/latency.py --goals --runs 3",
        ["a 30 s clip", "DistilHuBERT", "AST"],
        [
            [
                "the app over HTTP, warm, `PRECISION=auto`",
                "{d[app_distilhubert_auto][30s]:.2f} s = {d[app_distilhubert_auto][x_naive]:.2f} × the naive time",
                "{d[app_ast_auto][30s]:.2f} s = {d[app_ast_auto][x_naive]:.2f} ×",
            ],
            ["its forward", "{d[app_distilhubert_auto][runtime]}", "{d[app_ast_auto][runtime]}"],
            [
                "PyTorch's fp32 forward of one window, of a {d[ceiling_gflops][fp32]:.0f} GFLOP/s ceiling",
                "{d[forward_distilhubert][fp32][s]:.2f} s = {d[forward_distilhubert][fp32][of_ceiling]:.0%}",
                "{d[forward_ast][fp32][s]:.2f} s = {d[forward_ast][fp32][of_ceiling]:.0%}",
            ],
            ["the naive recipe", "{d[naive_distilhubert_s]:.2f} s", ""],
        ],
    ),
    "app": (
        "latency.json",
        "python benchmarks/latency.py --alternatives --runs 3",
        [
            "the app over HTTP",
            "30 s",
            "1 min",
            "2.5 min",
            "5 min",
            "first answer after a start",
            "server up after",
            "peak memory",
        ],
        [
            ["DistilHuBERT, fp32", *app("distilhubert_fp32")],
            ["DistilHuBERT, `PRECISION=auto`", *app("distilhubert_auto")],
            ["AST, fp32", *app("ast_fp32")],
            ["AST, `PRECISION=auto`", *app("ast_auto")],
            ["the embedded model", *app("baseline_auto")],
        ],
    ),
    "outside": (
        "outside.json",
        "python benchmarks/outside.py",
        ["time outside the model's forward", "30 s clip", "10 minutes"],
        [
            [
                "window by window, as on a CPU (the true forward on the app's runtime)",
                "{d[cpu_streaming][30 s][outside_s]:.2f} s (the forward {d[cpu_streaming][30 s][forward_s]:.1f} s)",
                "{d[cpu_streaming][10 min][outside_s]:.2f} s (the forward {d[cpu_streaming][10 min][forward_s]:.1f} s, "
                "{d[cpu_streaming][10 min][yields]} updates)",
            ],
            [
                "the first answer, as on a CPU (the first window's forward included)",
                "{d[cpu_streaming][30 s][first_answer_s]:.2f} s",
                "{d[cpu_streaming][10 min][first_answer_s]:.2f} s",
            ],
            [
                "one call per clip, as on a GPU: an instant forward",
                "{d[gpu_layout][30 s][outside_s]:.2f} s",
                "{d[gpu_layout][10 min][outside_s]:.2f} s",
            ],
            [
                "one call per clip, the GPU call taking {d[gpu_call_s]} s",
                "{d[gpu_layout_waiting][30 s][outside_s]:.2f} s",
                "{d[gpu_layout_waiting][10 min][outside_s]:.2f} s",
            ],
            [
                "a length not seen before (every time axis drawn afresh), an instant forward",
                "{d[new_lengths][30 s][outside_s]:.2f} s",
                "",
            ],
            [
                "Gradio's own processing, as on a CPU",
                "{d[cpu_streaming][30 s][gradio_s]:.3f} s",
                "{d[cpu_streaming][10 min][gradio_s]:.3f} s",
            ],
            ["decoding", "{d[steps][30 s][decode]:.3f} s", "{d[steps][10 min][decode]:.3f} s"],
            [
                "the music gate (its features and its speech detector)",
                "{d[steps][30 s][music_gate]:.3f} s = {d[music_gate_x_naive]:.3f} × the naive time",
                "{d[steps][10 min][music_gate]:.3f} s",
            ],
            [
                "30 s of a person talking, the whole request against the music clip's: as on a CPU / as on a GPU",
                "{d[speech_x_music][cpu_streaming]:.2f} × / {d[speech_x_music][gpu_layout]:.2f} ×",
                "",
            ],
            [
                "the three clip figures (drawn afresh: waveform + spectrogram + mel)",
                "{d[steps][30 s][clip_images]:.2f} s "
                "({d[steps][30 s][fresh_waveform]:.2f} + {d[steps][30 s][fresh_spectrogram]:.2f} + "
                "{d[steps][30 s][fresh_mel]:.2f} s)",
                "{d[steps][10 min][clip_images]:.2f} s",
            ],
            [
                "the genre-over-time figure of every update (drawn afresh)",
                "{d[steps][30 s][genre_over_time_image]:.2f} s ({d[steps][30 s][fresh_genre_over_time]:.2f} s)",
                "{d[steps][10 min][genre_over_time_image_x20]:.2f} s "
                "({d[steps][10 min][fresh_genre_over_time_x20]:.2f} s)",
            ],
            ["the naive recipe, whole (for scale)", "{d[naive_s]:.2f} s", ""],
        ],
    ),
    "live": (
        "live.json",
        "python benchmarks/live.py",
        ["one live session", "cores used", "answers a second", "compute per answer", "a 30 s upload alone / meanwhile"],
        [
            [
                f"{name}",
                f"{{d[{key}][cores_used]:.2f}} of 2",
                f"{{d[{key}][answers_per_s]:.2f}}",
                f"{{d[{key}][answer_s]:.2f}} s",
                f"{{d[{key}][upload_30s_alone_s]:.2f}} s / {{d[{key}][upload_30s_during_live_s]:.2f}} s",
            ]
            for name, key in (("DistilHuBERT", "distilhubert"), ("the embedded model", "baseline"))
        ],
    ),
    "load": (
        "load.json",
        "python benchmarks/load.py",
        [
            "concurrent users",
            "requests",
            "answered with their own clip's answer",
            "p50",
            "p95",
            "throughput",
            "server peak memory",
        ],
        [
            [
                "{d[clients]}",
                "{d[requests_per_client]} each",
                "{d[answered_correctly]}",
                "{d[p50_s]:.1f} s",
                "{d[p95_s]:.1f} s",
                "{d[throughput_per_s]:.2f} requests/s",
                "{d[server_peak_rss_mb]:.0f} MB",
            ],
        ],
    ),
    "soak": (
        "soak.json",
        "python benchmarks/soak.py",
        ["", "quiet", "under attack", "goal"],
        [
            [
                "the visitor's mix: p50 / p95",
                "{d[quiet][p50_s]:.2f} s / {d[quiet][p95_s]:.2f} s",
                "{d[under_attack][p50_s]:.2f} s / {d[under_attack][p95_s]:.2f} s",
                "p95 ≤ 2 × quiet: {d[p95_ratio]} ×",
            ],
            ["its failed requests", "", "{d[failures]!s:.80}", "none"],
            ["the temp folder's peak", "", "{d[temp_folder_peak_bytes]:,} bytes", "≤ {d[budget_bytes]:,}"],
            [
                "1,000 ordinary requests: RSS before → after",
                "",
                "{d[ordinary][rss_start_mb]:.0f} → {d[ordinary][rss_end_mb]:.0f} MB ({d[ordinary][rss_growth]:+.1%})",
                "≤ +5 %",
            ],
            [
                "{d[stalled_uploads][addresses]} addresses' uploads gone silent: the visitor's upload accepted after",
                "",
                "{d[stalled_uploads][accepted_after_s]} s",
                "≤ 90 s",
            ],
        ],
    ),
    "tag": (
        "tag.json",
        "python benchmarks/tag.py --tracks DIR",
        [
            "model",
            "30 s clips",
            "5-minute MP3 songs: five windows each (the default)",
            "every window (`--all-windows`)",
            "peak memory",
        ],
        [
            tag_row("DistilHuBERT (OpenVINO)", "distilhubert"),
            tag_row("DistilHuBERT, `RUNTIME=torch`", "distilhubert_torch"),
            tag_row("the embedded model", "baseline"),
        ],
    ),
    "tag-tracks": (
        "tag.json",
        "python benchmarks/tag.py --tracks DIR",
        [
            "the embedded model on real tracks of 2-8 minutes",
            "five windows (the default)",
            "every window (`--all-windows`)",
        ],
        [
            ["tracks", "{d[tracks][tracks]}", "{d[tracks][tracks]}"],
            ["windows analysed, per track", "{d[tracks][windows_per_track][0]}", "{d[tracks][windows_per_track][1]}"],
            [
                "speed",
                "{d[tracks][sampled][files_per_min]} files/min",
                "{d[tracks][all_windows][files_per_min]} files/min",
            ],
            [
                "the same top genre as every window's",
                "{d[tracks][same_genre]} of {d[tracks][tracks]} ({d[tracks][same_genre_share]:.0%})",
                "",
            ],
            [
                "the same verdict (the same clear genre, or unsure)",
                "{d[tracks][same_verdict]} of {d[tracks][tracks]}",
                "",
            ],
            [
                "unsure answers that stay unsure",
                "{d[tracks][unsure_kept_unsure]} of {d[tracks][unsure_all_windows]}",
                "",
            ],
        ],
    ),
    "tag-windows": (
        "tag.json",
        "python benchmarks/tag.py --tracks DIR",
        [
            "windows heard in a long track (the embedded model, real tracks)",
            "the same top genre as every window's",
            "the same verdict",
            "speed",
        ],
        [
            *[
                [
                    f"{n} (`--windows {n}`)",
                    f"{{d[tracks][fewer_windows][{n}_windows][same_genre]}} of {{d[tracks][tracks]}}",
                    f"{{d[tracks][fewer_windows][{n}_windows][same_verdict]}} of {{d[tracks][tracks]}}",
                    f"{{d[tracks][fewer_windows][{n}_windows][files_per_min]}} files/min",
                ]
                for n in (1, 3)
            ],
            [
                "{d[sampled_windows]} (the default)",
                "{d[tracks][same_genre]} of {d[tracks][tracks]}",
                "{d[tracks][same_verdict]} of {d[tracks][tracks]}",
                "{d[tracks][sampled][files_per_min]} files/min",
            ],
            ["every window (`--all-windows`)", "", "", "{d[tracks][all_windows][files_per_min]} files/min"],
        ],
    ),
    "tag-tracks-each": (
        "tag.json",
        "python benchmarks/tag.py --tracks DIR",
        ["track", "length", "windows: default / all", "default says", "`--all-windows` says"],
        track_rows(),
    ),
    "replica": (
        "space_replica.json",
        "python benchmarks/space_replica.py",
        ["", "server up", "first answer", "warm answer", "goal for the first"],
        [
            *[
                [
                    f"DistilHuBERT (default `MODEL_ID`), start {i + 1}",
                    f"{{d[default_model][{i}][server_up_s]}} s",
                    f"{{d[default_model][{i}][first_answer_s]}} s",
                    f"{{d[default_model][{i}][warm_answer_s]}} s",
                    f"≤ {{d[default_model][{i}][goal_s]}} s",
                ]
                for i in range(2)
            ],
            [
                "the embedded model",
                "{d[embedded_model][0][server_up_s]} s",
                "{d[embedded_model][0][first_answer_s]} s",
                "{d[embedded_model][0][warm_answer_s]} s",
                "≤ {d[embedded_model][0][goal_s]} s",
            ],
        ],
    ),
    "gpu-share": (
        "gpu_share.json",
        "python benchmarks/gpu_share.py",
        ["model, clip", "request", "inside `@spaces.GPU`", "GPU calls"],
        [
            [
                f"{name}, {clip}",
                f"{{d[{key}][{clip}][request_s]:.2f}} s",
                f"{{d[{key}][{clip}][inside_gpu_s]:.2f}} s ({{d[{key}][{clip}][share]:.0%}})",
                f"{{d[{key}][{clip}][gpu_calls]}}",
            ]
            for name, key in (("DistilHuBERT", "distilhubert"), ("AST", "ast"))
            for clip in ("30 s", "5 min")
        ],
    ),
    "runtimes": runtimes_table("runtimes.json", "python benchmarks/runtimes.py --runs 5"),
    "precision": precision_table("precision.json", "python benchmarks/precision.py"),
    "precision-fidelity": fidelity_table("precision.json", "python benchmarks/precision.py"),
    "precision-no-vnni": precision_table("precision_no_vnni.json", NO_VNNI),
    "precision-fidelity-no-vnni": fidelity_table("precision_no_vnni.json", NO_VNNI),
    "precision-zen4": precision_table("precision_zen4.json", ZEN4),
    "precision-fidelity-zen4": fidelity_table("precision_zen4.json", ZEN4),
    "precision-zen5": precision_table("precision_zen5.json", ZEN5),
    "precision-fidelity-zen5": fidelity_table("precision_zen5.json", ZEN5),
    "music-gate-summary": (
        "music_gate.json",
        "python benchmarks/music_gate.py",
        ["", "embedded model", "DistilHuBERT, random weights"],
        [
            [label, f"{{d[embedded][{key}]}}", f"{{d[distilhubert_random][{key}]}}"]
            for label, key in (
                ('not music answered "not music" (real and made)', "not_music_caught"),
                (
                    "of which real recordings (LibriSpeech, animals, and the speech measured with --extra)",
                    "real_not_music_caught",
                ),
                ('held-out real speech (train/real_speech.py) answered "not music"', "real_speech_caught"),
                ('GTZAN clips called "not music"', "gtzan_called_not_music"),
                (
                    'other real music called "not music" (CC recordings, examples, songs with vocals, more music)',
                    "other_music_called_not_music",
                ),
            )
        ]
        + [
            [
                "the gate on one 30 s window / the naive recipe for 30 s",
                "{d[gate_30s_window_s]:.3f} s / {d[naive_s]:.2f} s = {d[gate_x_naive]:.3f} ×",
                "the same gate",
            ]
        ],
    ),
    "music-gate": (
        "music_gate.json",
        "python benchmarks/music_gate.py",
        [
            "group",
            "clip",
            "is",
            "embedded model says",
            "DistilHuBERT (random) says",
            "music probability",
            "windows not music",
        ],
        gate_rows(),
    ),
    "music-gate-real-speech": (
        "music_gate.json",
        "python benchmarks/music_gate.py",
        ["held-out real speech: source, language, band", 'embedded model: "not music"', "DistilHuBERT, random weights"],
        real_speech_rows(),
    ),
    "music-gate-speed": (
        "gate_speed.json",
        "python benchmarks/gate_speed.py",
        ["the music gate", "seconds", "a 30 s window"],
        [
            ["one 30 s window ({d[clip]})", "{d[30 s][seconds]:.3f} s", "{d[30 s][per_window_s]:.3f} s"],
            [
                "ten minutes (20 windows at once, a thread a core)",
                "{d[10 min][seconds]:.3f} s",
                "{d[10 min][per_window_s]:.3f} s",
            ],
            ["of one 30 s window: its features", "", "{d[parts_30s][features_s]:.3f} s"],
            [
                "of one 30 s window: the speech detector (resampling to 16 kHz included)",
                "",
                "{d[parts_30s][speech_detector_s]:.3f} s",
            ],
            [
                "of one 30 s window: the voice's pitch, where it could change the answer",
                "",
                "{d[parts_30s][pitch_s]:.3f} s",
            ],
        ],
    ),
    "recorded": (
        "recorded.json",
        "python benchmarks/recorded.py",
        ["the embedded model", "clean", "recorded-like"],
        [
            ["clip accuracy", "{d[clean_accuracy]:.1%}", "{d[recorded_accuracy]:.1%}"],
            ["clips whose top genre is unchanged", "", "{d[agreement]:.1%} ({d[same]} of {d[clips]})"],
        ],
    ),
    "browser-codec": (
        "browser_codec.json",
        "python benchmarks/browser_codec.py",
        ["copy of a clip's first 10 s", "distortion (SDR)", "99 % of the energy under", "embedded model says"],
        [
            [
                label,
                f"{{d[{key}][sdr_db]}} dB" if key != "clip_itself" else "",
                f"{{d[{key}][energy_99_hz]}} Hz",
                f"{{d[{key}][embedded_top]}}",
            ]
            for label, key in (
                ("the clip ({d[clip]})", "clip_itself"),
                ("Chromium's MediaRecorder ({d[browser_bitrate]} bit/s)", "browser"),
                ("this module's Opus, 32 kbit/s", "opus_32k"),
                ("this module's Opus, 24 kbit/s", "opus_24k"),
            )
        ],
    ),
    "augment": (
        "augment.json",
        "python benchmarks/augment.py",
        ["clips per second, one loader worker", "DistilHuBERT (30 s crops)", "AST (10.24 s crops)"],
        [
            [label, f"{{d[distilhubert_30s][{key}]}}", f"{{d[ast_10s][{key}]}}"]
            for label, key in (
                ("no augmentation", "none"),
                ("the default (`--augment recorded`)", "default"),
                ("every crop copied, with the codec (worst case)", "every_crop"),
            )
        ],
    ),
    "runtimes-avx2": runtimes_table(
        "runtimes_avx2.json", "python benchmarks/runtimes.py --runs 5 --out benchmarks/results/runtimes_avx2.json"
    ),
}


def machine(data: dict) -> str:
    m = data.get("machine")
    if not m:
        return "machine not recorded"
    units = [m.get("cpu_capability")] + ["AVX512-BF16"] * bool(m.get("avx512_bf16")) + ["AMX"] * bool(m.get("amx_bf16"))
    family, model = m.get("cpu_family_model") or (None, None)
    kind = f" family {family} model {model}" if family else ""
    text = f"{m['cores']}-core {m['cpu']}{kind} ({', '.join(filter(None, units))}), torch {m['torch']}"
    if load := m.get("load_average_at_start"):
        text += f", load average {load[0]:.1f} at the start"
    return text


def committed(path: Path) -> str:
    """The date the results file was last committed (what a reader can check out), or that it is not yet."""
    out = subprocess.run(
        ["git", "log", "-1", "--format=%cs", "--", str(path)], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    return f"committed {out}" if out else "not yet committed"


def table(name: str) -> str:
    file, command, header, rows = TABLES[name]
    path = RESULTS / file
    data = json.loads(path.read_text())
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(cell.format(d=data) for cell in row) + " |" for row in rows]
    lines.append(f"\n`{command}` (`benchmarks/results/{file}`, {committed(path)}): {machine(data)}.\n")
    return "\n".join(lines)


def render(text: str) -> str:
    return TABLE.sub(lambda m: m[1] + table(m["name"]) + "\n" + m[3], text)


def main() -> int:
    stale = []
    for page in PAGES:
        text = page.read_text()
        if (new := render(text)) != text:
            stale.append(page.name)
            if "--check" not in sys.argv:
                page.write_text(new)
    if stale and "--check" in sys.argv:
        print(f"Tables differ from benchmarks/results in {', '.join(stale)}: run python docs/render.py")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
