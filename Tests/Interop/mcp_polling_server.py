#!/usr/bin/env python3
"""An MCP server built on the OFFICIAL `mcp` SDK (PyPI mcp 2.3.0, `MCPServer` over streamable HTTP) that uses the
2025-11-25 transport's polling: every `forecast` call closes its event stream right after the priming event
(`ctx.close_sse_stream()`, event ids from an in-memory `EventStore`, `retry` 100 ms), works on, then answers; a client
gets the answer only by resuming with `GET` and `Last-Event-ID`.

    python Tests/Interop/mcp_polling_server.py PORT

Tools: `forecast(city)` (as sample-mcp's: {"city", "forecast": "sunny", "high_c": 21}) and `fail` (a tool error).
`GET /stats`: {"executions": {tool: runs}, "resumptions": GETs that carried Last-Event-ID}.
"""

from __future__ import annotations

import sys
from collections import Counter
from typing import Any

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.streamable_http import EventCallback, EventMessage, EventStore
from starlette.requests import Request
from starlette.responses import JSONResponse

executions: Counter[str] = Counter()
resumptions = 0


class MemoryEventStore(EventStore):
    """Every event of every stream, in order; replays a stream's events after a given id."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, Any]] = []   # (stream id, event id, message or None for a priming event)

    async def store_event(self, stream_id: str, message: Any) -> str:
        event_id = str(len(self.events) + 1)
        self.events.append((stream_id, event_id, message))
        return event_id

    async def replay_events_after(self, last_event_id: str, send_callback: EventCallback) -> str | None:
        global resumptions
        resumptions += 1
        index = next((i for i, event in enumerate(self.events) if event[1] == last_event_id), None)
        if index is None:
            return None
        stream_id = self.events[index][0]
        for stream, event_id, message in self.events[index + 1:]:
            if stream == stream_id and message is not None:
                await send_callback(EventMessage(message, event_id))
        return stream_id


server = MCPServer("polling-forecast")


@server.tool()
async def forecast(city: str, ctx: Context) -> dict[str, Any]:
    """Tomorrow's forecast for a city (answered after the event stream was closed once)."""
    executions["forecast"] += 1
    await ctx.close_sse_stream()
    await anyio.sleep(0.5)
    return {"city": city, "forecast": "sunny", "high_c": 21}


@server.tool()
async def fail() -> dict[str, Any]:
    """Always a tool error."""
    executions["fail"] += 1
    raise ValueError("the forecast service is down")


@server.custom_route("/stats", methods=["GET"])
async def stats(_: Request) -> JSONResponse:
    return JSONResponse({"executions": dict(executions), "resumptions": resumptions})


if __name__ == "__main__":
    anyio.run(lambda: server.run_streamable_http_async(port=int(sys.argv[1]), event_store=MemoryEventStore(),
                                                       retry_interval=100))
