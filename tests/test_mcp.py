"""The app as an MCP server (on by default): its tools described for an agent, called with the `mcp` package's own
client over streamable HTTP, JSON coming back, and a URL of a loopback address refused without being fetched."""

from __future__ import annotations

import asyncio
import base64
import http.server
import json
import threading

import httpx

from genre_classifier import GENRES
from genre_classifier.core import answer as answers

from .helpers import CLIPS


def call(url: str, tool: str, arguments: dict):
    from mcp import ClientSession
    from mcp.client.streamable_http import streamablehttp_client

    async def run():
        async with streamablehttp_client(f"{url}gradio_api/mcp/") as (read, write, _):
            async with ClientSession(read, write) as session:
                await session.initialize()
                return [t.name for t in (await session.list_tools()).tools], await session.call_tool(tool, arguments)

    return asyncio.run(run())


def text_of(result) -> str:
    return " ".join(c.text for c in result.content if c.type == "text")


def data_url(path) -> str:
    return "data:audio/wav;base64," + base64.b64encode(path.read_bytes()).decode()


def test_the_tools_are_described_for_an_agent(served_tiny):
    schema = httpx.get(f"{served_tiny.url}gradio_api/mcp/schema", timeout=30).json()
    # The page's own /classify and /tag (figures and tables for a person) are listed there, marked as no tools.
    tools = {tool["name"]: tool for tool in schema if tool["meta"]["mcp_type"] == "tool"}
    assert sorted(tools) == ["classify", "tag"]  # the Live tab's and the page's private events are not tools
    assert {tools[name]["meta"]["endpoint_name"] for name in tools} == {"classify_json", "tag_json"}
    classify = tools["classify"]
    assert "ten GTZAN genres" in classify["description"] and "unsure: blues or rock" in classify["description"]
    assert "JSON" in classify["description"]
    parameter = classify["inputSchema"]["properties"]["audio"]["description"]
    assert "data: URL" in parameter and "http(s) URL" in parameter and "10 min" in parameter
    assert "loopback addresses are" in parameter
    assert "up to 20" in tools["tag"]["description"]


def test_an_agent_classifies_a_recording_and_reads_json(served_tiny):
    """30 s inline: a body larger than any other request may have (1 MB), which the MCP call and Gradio's own queue
    request for it both carry."""
    clip = CLIPS / "rock.00000.wav"
    assert len(data_url(clip)) > 1_000_000
    tools, result = call(served_tiny.url, "classify", {"audio": data_url(clip)})
    assert tools == ["classify", "tag"] and not result.isError, text_of(result)
    answer = json.loads(text_of(result))
    assert sorted(answer["probabilities"]) == sorted(GENRES) and abs(sum(answer["probabilities"].values()) - 1) < 0.01
    probabilities = answer["probabilities"]
    assert answer["verdict"] == answers.verdict(list(probabilities), list(probabilities.values())).text
    assert answer["model"].startswith("Model: ") and answer["precision"] in ("fp32", "bf16")
    assert [(w["start"], w["end"]) for w in answer["windows"]] == [(0.0, 30.0)] and answer["seconds"] == 30.0


def test_an_agent_tags_several_recordings_and_reads_why_one_failed(served_tiny, tmp_path):
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF not really a wave file")
    _, result = call(served_tiny.url, "tag", {"files": [data_url(CLIPS / "jazz.00000.wav"), data_url(broken)]})
    assert not result.isError, text_of(result)
    rows = json.loads(text_of(result))["files"]
    assert [row["path"] for row in rows] == ["recording 1", "recording 2"]
    assert rows[0]["genre"] in GENRES and rows[0]["music"] == "yes"
    assert rows[1]["genre"] == "" and rows[1]["note"]


def test_a_url_of_a_loopback_address_is_refused_and_never_fetched(served_tiny):
    fetched = []

    class Decoy(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the standard library's name)
            fetched.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write((CLIPS / "rock.00000.wav").read_bytes())

        def log_message(self, *args):
            pass

    decoy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Decoy)
    threading.Thread(target=decoy.serve_forever, daemon=True).start()
    try:
        _, result = call(served_tiny.url, "classify", {"audio": f"http://127.0.0.1:{decoy.server_port}/a.wav"})
    finally:
        decoy.shutdown()
    assert result.isError and not fetched
    assert "is not a public address" in text_of(result)  # the agent reads why; the log says it in one line
    assert served_tiny.log.count("is not a public address") == 1 and "Traceback" not in served_tiny.log


def test_an_agent_hears_that_speech_is_not_music(served_tiny, speech_wav):
    _, result = call(served_tiny.url, "classify", {"audio": data_url(speech_wav)})
    assert not result.isError
    answer = json.loads(text_of(result))
    assert answer["verdict"] == "not music" and answer["music"] is False
    assert all(w["genre"] == "not music" for w in answer["windows"])
