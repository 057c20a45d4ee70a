"""`refute lsp --tcp HOST:PORT` serves the same server over a socket."""

import asyncio
import json
import socket
import sys

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _send(writer, message: dict) -> None:
    body = json.dumps(message).encode()
    writer.write(f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    await writer.drain()


async def _receive(reader) -> dict:
    length = 0
    while (line := await reader.readline()).strip():
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    return json.loads(await reader.readexactly(length))


async def test_tcp_initialize_and_shutdown(tmp_path):
    port = _free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "refute.server.cli", "lsp", "--tcp", f"127.0.0.1:{port}", "--log-level", "WARNING")
    try:
        for _ in range(100):
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                break
            except OSError:
                await asyncio.sleep(0.05)
        else:
            pytest.fail("the TCP server did not start listening")
        await _send(writer, {"jsonrpc": "2.0", "id": 1, "method": "initialize",
                             "params": {"processId": None, "rootUri": tmp_path.as_uri(), "capabilities": {}}})
        reply = await asyncio.wait_for(_receive(reader), 20)
        assert reply["result"]["serverInfo"]["name"] == "refute"
        assert "refute.run" in reply["result"]["capabilities"]["executeCommandProvider"]["commands"]
        await _send(writer, {"jsonrpc": "2.0", "id": 2, "method": "shutdown"})
        while (await asyncio.wait_for(_receive(reader), 20)).get("id") != 2:
            pass
        writer.close()
    finally:
        if proc.returncode is None:
            proc.terminate()
        await proc.wait()


def test_tcp_address_is_validated():
    import subprocess

    result = subprocess.run([sys.executable, "-m", "refute.server.cli", "lsp", "--tcp", "nope"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "expected HOST:PORT" in result.stderr
