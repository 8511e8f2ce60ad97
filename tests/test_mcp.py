"""The app as an MCP server (on by default): its tools described for an agent, called with the `mcp` package's own
client over streamable HTTP, text coming back, and a URL of a loopback address refused without being fetched."""

from __future__ import annotations

import asyncio
import base64
import http.server
import threading

import httpx
import soundfile as sf

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


def test_the_tools_are_described_for_an_agent(served_tiny):
    schema = httpx.get(f"{served_tiny.url}gradio_api/mcp/schema", timeout=30).json()
    tools = {tool["name"]: tool for tool in schema}
    assert sorted(tools) == ["classify", "tag"]  # the Live tab's and the page's private events are not tools
    classify = tools["classify"]
    assert "ten GTZAN genres" in classify["description"] and "Unsure: blues or rock" in classify["description"]
    parameter = classify["inputSchema"]["properties"]["audio_path"]["description"]
    assert "http(s) URL" in parameter and "10:00 min" in parameter and "loopback addresses are refused" in parameter
    assert "up to 20" in tools["tag"]["inputSchema"]["properties"]["files"]["description"]


def test_an_agent_classifies_a_recording_and_reads_text(served_tiny, tmp_path):
    clip = tmp_path / "rock-4s.wav"
    samples, sr = sf.read(CLIPS / "rock.00000.wav", frames=4 * 22050)
    sf.write(clip, samples, sr)
    data = "data:audio/wav;base64," + base64.b64encode(clip.read_bytes()).decode()
    tools, result = call(served_tiny.url, "classify", {"audio_path": data})
    assert tools == ["classify", "tag"] and not result.isError
    text = " ".join(c.text for c in result.content if c.type == "text")
    assert "'confidences'" in text and ("Clearly ahead" in text or "No genre is clearly ahead" in text)
    assert "0:00.0" in text  # the windows
    assert "data:image" not in text and len(text) < 5000  # no figure drawn for an agent


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
        _, result = call(served_tiny.url, "classify", {"audio_path": f"http://127.0.0.1:{decoy.server_port}/a.wav"})
    finally:
        decoy.shutdown()
    assert result.isError and not fetched


def test_an_agent_hears_that_speech_is_not_music(served_tiny, speech_wav):
    data = "data:audio/wav;base64," + base64.b64encode(speech_wav.read_bytes()).decode()
    _, result = call(served_tiny.url, "classify", {"audio_path": data})
    text = " ".join(c.text for c in result.content if c.type == "text")
    assert not result.isError and "This doesn't sound like music" in text and "'not music'" in text
