"""The private parts of Gradio that the public limits need, in one place, checked when the server starts.

Gradio's public settings cover part of the limits (`max_file_size`, `concurrency_limit`, `max_size`, and
`delete_cache`, which deletes files by age alone), but not a visitor's share: counting one visitor's requests and
letting visitors take turns needs the queue's waiting and running events, deleting an upload once it has been
answered needs Gradio's record of uploads, and `UPLOAD_BUDGET` is read as Gradio reads `MAX_FILE_SIZE`. These are
read here and nowhere else; requirements.txt pins Gradio's release line, and `check` stops a start on a Gradio whose
internals moved with a sentence that says so, rather than failing at a visitor's request.
"""

from __future__ import annotations

from collections.abc import Iterator

import gradio as gr

TESTED = "6.31"  # the release line of requirements.txt and the README header's sdk_version


class GradioMismatch(RuntimeError):
    pass


def parse_size(text: str) -> int:
    """Bytes of a size written as Gradio's `max_file_size` is ("200mb", "5gb"); ValueError if it is not one."""
    from gradio.utils import _parse_file_size

    return _parse_file_size(text)


def events(demo: gr.Blocks) -> list:
    """Gradio's queued and running events: its queue keeps each one there until it has been answered."""
    return list(demo._queue.event_ids_to_events.values())


def running(demo: gr.Blocks) -> Iterator:
    """The events being answered now."""
    return (event for job in demo._queue.active_jobs if job for event in job)


def waiting_lines(demo: gr.Blocks) -> list[list]:
    """The waiting events of each concurrency group, in the order the queue takes them (first first); reordering a
    list in place reorders the queue."""
    return [group.queue for group in demo._queue.event_queue_per_concurrency_id.values()]


def forget_upload(demo: gr.Blocks, path: str) -> None:
    """Drop Gradio's record of an upload that is being deleted."""
    demo.upload_file_set.discard(path)


def keep_out_of_mcp(demo: gr.Blocks, api_names: set[str]) -> None:
    """Keep the events of `api_names` on the API but out of the MCP tools: Gradio's MCP server lists as tools only
    the functions whose `_mcp_type` (set by `gr.mcp.tool`) is missing or "tool"."""
    for block_fn in demo.fns.values():
        if block_fn.api_name in api_names:
            block_fn.fn._mcp_type = "page"


def check(demo: gr.Blocks) -> None:
    """Raise GradioMismatch, naming what is missing, unless this Gradio has every internal used above (after
    `demo.queue()`)."""
    missing = []
    try:
        from gradio.utils import _parse_file_size

        if _parse_file_size("2kb") != 2048:
            missing.append("gradio.utils._parse_file_size's units")
    except ImportError:
        missing.append("gradio.utils._parse_file_size")
    queue = getattr(demo, "_queue", None)
    for name in ("event_ids_to_events", "active_jobs", "event_queue_per_concurrency_id"):
        if not hasattr(queue, name):
            missing.append(f"Blocks._queue.{name}")
    if getattr(gr.mcp.tool()(lambda: None), "_mcp_type", None) != "tool":
        missing.append("gr.mcp.tool's _mcp_type")
    if not isinstance(getattr(demo, "upload_file_set", None), set):
        missing.append("Blocks.upload_file_set")
    if missing:
        raise GradioMismatch(
            f"This app's public limits rely on Gradio {TESTED}'s internals, and Gradio {gr.__version__} lacks "
            f"{', '.join(missing)}: install the Gradio of requirements.txt (pip install -r requirements.txt)."
        )
