"""A real MCP client (the official Python SDK, `mcp` on PyPI) driving `sidekey mcp` over stdio, or the
daemon's `/mcp` over Streamable HTTP.

Used by crates/sidekey/tests/it/mcp.rs and by the round-trip bench (docs/mcp.md, "MCP: sidekey as typed
tools"). It starts `SIDEKEY mcp` as the SDK's stdio transport does (a child process, JSON-RPC on
its stdin/stdout), with the SIDEKEY_* variables of this process passed on explicitly (the SDK
passes on only a short safe list by default), and prints one JSON document on stdout:

    SERVER is the sidekey binary (stdio: `SIDEKEY mcp` as a child process), or the daemon's MCP
    endpoint, `http://HOST:PORT/mcp` or `unix:///PATH/TO/SOCKET` (Streamable HTTP, the SDK's
    `mcp.client.streamable_http` on an httpx2 client, over the socket with httpx2's `uds`
    transport), with `Authorization: Bearer <the key in $SIDEKEY_API_KEY_FILE>` on every request
    and `Origin: $MCP_ORIGIN` when that is set (a web page's request, for the refusal tests).

    client.py SERVER calls CALLS_JSON
        {"server": {...initialize result...}, "tools": [...tools/list, wire form...],
         "calls": [{"name", "arguments", "result": {...tools/call result, wire form...}}]}

    client.py - parse < LINES
        Each line a server wrote, read as the SDK's stdio client reads it
        (`mcp_types.jsonrpc_message_adapter`, what `mcp.client.stdio` parses with): one JSON
        document, [{"kind": "JSONRPCError" | "JSONRPCResponse" | …, "message": wire form} or
        {"kind": "unparsable", "error": "…"}, …]

    client.py SERVER bench N TOOL ARGS_JSON
        N tools/call requests of TOOL over one session, one after the other:
        {"n", "median_ms", "p99_ms", "min_ms", "max_ms", "errors", "times_ms": [sorted]}
"""

import json
import os
import statistics
import sys
import time

import contextlib

import anyio
import httpx2
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client


def wire(model):
    return model.model_dump(by_alias=True, mode="json", exclude_none=True)


def params(binary):
    env = {k: v for k, v in os.environ.items() if k.startswith("SIDEKEY_") or k in ("HOME", "NO_COLOR")}
    return StdioServerParameters(command=binary, args=["mcp"], env=env)


@contextlib.asynccontextmanager
async def connect(server):
    """(read, write) streams to SERVER: stdio for a binary, Streamable HTTP for a URL."""
    if not (server.startswith("http://") or server.startswith("unix://")):
        async with stdio_client(params(server)) as (read, write):
            yield read, write
        return
    with open(os.environ["SIDEKEY_API_KEY_FILE"]) as f:
        headers = {"Authorization": f"Bearer {f.read().strip()}"}
    if os.environ.get("MCP_ORIGIN"):
        headers["Origin"] = os.environ["MCP_ORIGIN"]
    transport, url = None, server
    if server.startswith("unix://"):
        # The socket carries plain HTTP; the URL's host is what the Host header says.
        transport = httpx2.AsyncHTTPTransport(uds=server[len("unix://") :])
        url = "http://sidekey/mcp"
    timeout = httpx2.Timeout(30, read=300)
    async with httpx2.AsyncClient(headers=headers, transport=transport, timeout=timeout) as http:
        async with streamable_http_client(url, http_client=http) as (read, write):
            yield read, write


async def calls(binary, todo):
    async with connect(binary) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            listed = await session.list_tools()
            out = {
                "server": wire(init),
                "tools": [wire(t) for t in listed.tools],
                "calls": [],
            }
            for call in todo:
                result = await session.call_tool(call["name"], call.get("arguments") or {})
                out["calls"].append(
                    {"name": call["name"], "arguments": call.get("arguments"), "result": wire(result)}
                )
            return out


async def bench(binary, n, tool, arguments):
    async with connect(binary) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            # One untimed call first: the session and the fake are warm.
            await session.call_tool(tool, arguments)
            times, errors = [], 0
            for _ in range(n):
                start = time.perf_counter()
                result = await session.call_tool(tool, arguments)
                times.append((time.perf_counter() - start) * 1000)
                errors += bool(result.is_error)
            times.sort()
            p99 = times[min(len(times) - 1, max(0, int(round(0.99 * len(times))) - 1))]
            return {
                "tool": tool,
                "n": n,
                "median_ms": round(statistics.median(times), 3),
                "p99_ms": round(p99, 3),
                "min_ms": round(times[0], 3),
                "max_ms": round(times[-1], 3),
                "errors": errors,
                "times_ms": [round(t, 4) for t in times],
            }


def parse(lines):
    import mcp_types

    out = []
    for line in lines:
        if not line.strip():
            continue
        try:
            msg = mcp_types.jsonrpc_message_adapter.validate_json(line, by_name=False)
        except ValueError as e:
            out.append({"kind": "unparsable", "error": str(e)[:300]})
            continue
        out.append({"kind": type(msg).__name__, "message": wire(msg)})
    return out


def main(argv):
    binary, mode = argv[1], argv[2]
    if mode == "parse":
        out = parse(sys.stdin.read().splitlines())
    elif mode == "calls":
        out = anyio.run(calls, binary, json.loads(argv[3]))
    elif mode == "bench":
        out = anyio.run(bench, binary, int(argv[3]), argv[4], json.loads(argv[5]))
    else:
        raise SystemExit(f"unknown mode {mode}")
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv)
