#!/usr/bin/env python3
"""The MCP gateway (`tollgate mcp`) against the OFFICIAL SDKs: the `mcp` client (PyPI mcp 2.3.0, streamable HTTP,
both protocol eras) and the x402 SDK (PyPI x402==2.25.0) signing the payments, offline.

    TOLLGATE_BIN=.build/debug/tollgate python -m pytest Tests/Interop/test_mcp.py -v -s
    (or scripts/interop.sh -k mcp)

What runs, all on free 127.0.0.1 ports (configurations derived from examples/mcp-quickstart/tollgate.yaml, `limits`
off so replays and concurrent copies meet the payment checks, not the rate limiter):
  * the development facilitator   `$TOLLGATE_BIN facilitator --dev` (its own ledger in the workdir), behind a
                                  recording proxy run by this process (counts /verify and /settle)
  * the sample MCP server         `$TOLLGATE_BIN sample-mcp` (tools echo, forecast, fail; GET /stats counts how often
                                  each tool body ran), behind a recording proxy (what the gateway forwards)
  * gateway "main"                `$TOLLGATE_BIN mcp`: forecast and fail priced ($0.01, anonymous), echo free
  * gateway "scoped"              the same with forecast needing `scope: tools:premium` and two API-key clients
                                  (started by the scope scenario only)
  * gateway "stdio"               the same prices in front of `$TOLLGATE_BIN sample-mcp --stdio`, started by the
                                  gateway itself (started by the stdio scenarios only)
The payer is a fresh account per test; the x402 SDK signs (`x402Client` + `register_exact_evm_client` +
`EthAccountSigner`) and `x402.mcp.utils.attach_payment_to_meta` puts the payload in `params._meta["x402/payment"]`.
Tool calls go through the mcp session's `send_request` so each result is the raw wire dict (`_meta` included).

Scenarios (in file order; [legacy] = mode "legacy", protocol 2025-11-25; [auto] = the default mode, which
negotiates 2026-07-28 with `server/discover`):
  1 tools/list carries the prices of forecast and fail, none on echo          [legacy] [auto]
  2 the free tool echo works without payment                                  [legacy] [auto]
  3 an unpaid forecast call gets the PaymentRequired tool result              [legacy] [auto]
  4 the paid retry gets the tool's result and its receipt, the tool runs once [legacy] [auto]
  5 the replay of (4)'s payment is refused as a used nonce, the tool does not run
                                                                              [legacy] [auto]
  6 the x402 SDK's own x402MCPClient pays forecast (through a small adapter)   [legacy] [auto]
  7 a paid call of the failing tool is passed back unsettled, and the same authorization still reaches the tool
  8 scopes: no key / a key without the scope get a JSON-RPC error and no terms; the scoped key gets terms, pays
  9 ten concurrent copies of one paid call: one delivery, nine used-nonce refusals, one settlement
 10 both eras: 3-5 above in each mode, here the pinned modern mode (mode="2026-07-28", no probe at all)
 11 a stdio upstream: prices, unpaid, paid, replay; auto mode falls back to the handshake [legacy] [auto]
 12 bad input: non-JSON, batches, bodies two parsers read two ways (repeated members, NaN), Mcp-Method / Mcp-Name
    naming another call, numbers beyond what the gateway can write again, garbage / tampered / misbound payments: clear
    answers, never a 5xx, never forwarded, still serving
 13 an upstream on the official `mcp` server SDK that closes each call's event stream after its priming event (polling,
    mcp_polling_server.py): the gateway resumes with GET + Last-Event-ID, delivers and settles once      [legacy]

Environment:
  TOLLGATE_BIN               the gateway binary (default <repo>/.build/debug/tollgate)
  TOLLGATE_INTEROP_KEEP=1    keep the temp dir (configs, sqlite, logs) after the run
  TOLLGATE_INTEROP_PIDFILE   append the pid of every process started here (scripts/interop.sh)
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import secrets
import subprocess
import sys
import threading
import time
from collections import Counter
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import SimpleNamespace
from typing import Any, AsyncIterator

import httpx
import httpx2
import mcp.types as mcp_types
import pytest
from eth_account import Account
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
import pydantic_core
from pydantic import TypeAdapter

from x402.mcp import MCP_PAYMENT_META_KEY, MCP_PAYMENT_RESPONSE_META_KEY, x402MCPClient
from x402.mcp.utils import attach_payment_to_meta
from x402.schemas import parse_payment_required

from harness import (  # shared helpers (harness.py is not a test module)
    NETWORK, NO_LIMITS_YAML, PRICE_ATOMIC, R_IN_PROGRESS, R_NONCE_USED, R_RESOURCE, R_SIGNATURE, ROOT,
    TOLLGATE_BIN, USDC_BASE_SEPOLIA, Checks, LocalServer, Proc, child_env, drop_top_level, finish, free_port,
    http_status, new_workdir, reply, require_file, sdk_client, start, startup_failed, wait_until,
)

MCP_QUICKSTART = ROOT / "examples" / "mcp-quickstart" / "tollgate.yaml"
MODES = {"legacy": "2025-11-25", "auto": "2026-07-28"}    # Client(mode=...) -> the version it must negotiate
MODERN = "2026-07-28"
PREMIUM_SCOPE = "tools:premium"
FAIL_OUTPUT = {"error": "the forecast service is down"}   # what sample-mcp's `fail` answers
RAW_RESULT = TypeAdapter(dict[str, Any])
ACCEPT = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
TX_HASH = re.compile(r"^0x[0-9a-fA-F]{64}$")
REASON_CODE = re.compile(r"^[a-z0-9_]+$")


def forecast_output(city: str) -> dict[str, Any]:
    """What sample-mcp's `forecast` answers (its structuredContent)."""
    return {"city": city, "forecast": "sunny", "tempC": 21, "source": "tollgate-sample-mcp"}


# ----------------------------------------------------------------------------------------------
# Configuration: the MCP quickstart with ports, upstream, facilitator and store replaced
# ----------------------------------------------------------------------------------------------


def mcp_config(template: str, *, port: int, facilitator_url: str, sqlite: Path,
               upstream_url: str | None = None, command: list[str] | None = None) -> str:
    """The MCP quickstart with listen / mcp.upstream.url (or a `command` instead) / facilitators[0].url /
    storage.sqlite replaced and `limits` off; prices, tools, assets and pay_to kept verbatim."""
    out: list[str] = []
    done: Counter[str] = Counter()
    section = None
    for line in template.splitlines():
        top = re.match(r"^([A-Za-z_][A-Za-z0-9_]*):", line)
        if top:
            section = top.group(1)
        indent = line[:len(line) - len(line.lstrip())]
        if re.match(r"^listen:\s", line):
            line = f"listen: 127.0.0.1:{port}"
            done["listen"] += 1
        elif section == "mcp" and re.match(r"^\s+url:\s", line):
            line = indent + (f"url: {upstream_url}" if command is None else f"command: {json.dumps(command)}")
            done["mcp.upstream.url"] += 1
        elif section == "facilitators" and re.match(r"^\s+(- )?url:\s", line) and not done["facilitators.url"]:
            line = re.sub(r"url:.*$", f"url: {facilitator_url}", line)
            done["facilitators.url"] += 1
        elif section == "storage" and re.match(r"^\s+sqlite:\s", line):
            line = re.sub(r"sqlite:.*$", f"sqlite: {sqlite}", line)
            done["storage.sqlite"] += 1
        out.append(line)
    missing = [k for k in ("listen", "mcp.upstream.url", "facilitators.url", "storage.sqlite") if done[k] != 1]
    if missing:
        raise RuntimeError(f"{MCP_QUICKSTART} no longer has the expected keys: {missing}")
    return drop_top_level("\n".join(out) + "\n", "limits") + NO_LIMITS_YAML


def scope_tool(text: str, tool: str, scope: str) -> str:
    """The tool `tool` of mcp.tools made non-anonymous and scoped (its `anonymous: true` becomes `scope:`)."""
    out, inside, done = [], False, 0
    for line in text.splitlines():
        m = re.match(r"^\s+- name:\s*(\S+)", line)
        if m:
            inside = m.group(1) == tool
        if inside and re.match(r"^\s+anonymous:\s*true\s*$", line):
            line = re.sub(r"anonymous:.*$", f"scope: {scope}", line)
            done += 1
        out.append(line)
    if done != 1:
        raise RuntimeError(f"mcp.tools `{tool}` with `anonymous: true` not found in the MCP quickstart")
    return "\n".join(out) + "\n"


def template_pay_to(template: str) -> str:
    m = re.search(r'^pay_to:\s*"?(0x[0-9a-fA-F]{40})"?', template, re.M)
    if not m:
        raise RuntimeError(f"{MCP_QUICKSTART} has no top-level pay_to")
    return m.group(1)


# ----------------------------------------------------------------------------------------------
# A recording proxy (in front of the dev facilitator, and in front of the sample MCP server)
# ----------------------------------------------------------------------------------------------


class RecordingProxy(LocalServer):
    """Forwards every request to `target` as it came and records it: `counts[path]` per POST path, and
    `records` ({method, path, body (parsed JSON or None), status}). In front of the facilitator it tells how
    often the gateway asked to verify and to settle; in front of the MCP server, what the gateway forwarded."""

    DROP_REQUEST = {"host", "content-length", "connection", "accept-encoding", "transfer-encoding", "keep-alive"}
    KEEP_RESPONSE = {"content-type", "mcp-session-id", "allow", "cache-control"}

    def __init__(self, target: str) -> None:
        self.target = target
        self.lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.records: list[dict[str, Any]] = []
        self.http = httpx.Client(timeout=60)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _relay(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                headers = {k: v for k, v in self.headers.items() if k.lower() not in proxy.DROP_REQUEST}
                try:
                    r = proxy.http.request(method, proxy.target + self.path, content=raw or None, headers=headers)
                    status, body = r.status_code, r.content
                    out = [(k, v) for k, v in r.headers.items() if k.lower() in proxy.KEEP_RESPONSE]
                except httpx.HTTPError:
                    status, body, out = 502, b'{"error":"proxy: target unreachable"}', [
                        ("Content-Type", "application/json")]
                try:
                    parsed = json.loads(raw) if raw else None
                except ValueError:
                    parsed = None
                with proxy.lock:
                    if method == "POST":
                        proxy.counts[self.path.split("?")[0]] += 1
                    proxy.records.append({"method": method, "path": self.path, "body": parsed, "status": status})
                reply(self, status, out, body)

            def do_GET(self) -> None:  # noqa: N802
                self._relay("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._relay("POST")

            def do_DELETE(self) -> None:  # noqa: N802
                self._relay("DELETE")

        self.serve(Handler)

    def tool_calls(self, tool: str) -> list[dict[str, Any]]:
        """The `tools/call` requests of `tool` that reached the target (requests and notifications)."""
        with self.lock:
            return [r["body"] for r in self.records if isinstance(r["body"], dict)
                    and r["body"].get("method") == "tools/call"
                    and (r["body"].get("params") or {}).get("name") == tool]

    def stop(self) -> None:
        super().stop()
        self.http.close()


# ----------------------------------------------------------------------------------------------
# The stack
# ----------------------------------------------------------------------------------------------


@dataclass
class Gateway:
    name: str
    url: str              # the MCP endpoint, http://127.0.0.1:PORT/mcp
    config: Path
    proc: Proc


@dataclass
class Stack:
    workdir: Path
    env: dict[str, str]
    procs: dict[str, Proc]
    facilitator: str                  # the dev facilitator itself
    fac_proxy: RecordingProxy         # what the gateways call as their facilitator
    upstream: str                     # sample-mcp, http://127.0.0.1:PORT (its /stats)
    up_proxy: RecordingProxy          # what the HTTP gateways call as their upstream
    template: str
    pay_to: str
    main: Gateway | None = None

    def executions(self) -> dict[str, int]:
        """How often each sample-mcp tool body ran (GET /stats)."""
        return dict(httpx.get(self.upstream + "/stats", timeout=5).json().get("executions") or {})

    def transfers(self) -> int:
        """Settlements the dev facilitator recorded in its ledger (GET /_dev/stats)."""
        return int(httpx.get(self.facilitator + "/_dev/stats", timeout=5).json()["transfers"])

    def fac_calls(self) -> dict[str, int]:
        return self.fac_proxy.snapshot()

    def snapshot(self) -> dict[str, Any]:
        return {"exec": self.executions(), "transfers": self.transfers(), "fac": self.fac_calls()}

    def start_gateway(self, name: str, text: str) -> Gateway:
        """Writes the configuration, runs `tollgate check` on it, starts `tollgate mcp` and waits until it offers
        terms for `fail` (anonymous in every configuration here)."""
        config = self.workdir / f"{name}.yaml"
        config.write_text(text)
        chk = subprocess.run([str(TOLLGATE_BIN), "check", "--config", str(config)], cwd=self.workdir, env=self.env,
                             capture_output=True, text=True, timeout=60)
        if chk.returncode != 0:
            raise RuntimeError(f"tollgate check {name}: rc={chk.returncode}\n{chk.stdout}\n{chk.stderr}\n"
                               f"--- config:\n{text}")
        port = int(re.search(r"^listen: 127\.0\.0\.1:(\d+)$", text, re.M).group(1))
        proc = start(name, [str(TOLLGATE_BIN), "mcp", "--config", str(config)], self.workdir, self.env)
        self.procs[name] = proc
        url = f"http://127.0.0.1:{port}/mcp"
        wait_until(f"{name} offers terms for `fail`", lambda: offers_terms(url), proc, 60)
        return Gateway(name, url, config, proc)

    def gateway_text(self, port: int, sqlite_name: str, *, command: list[str] | None = None) -> str:
        return mcp_config(self.template, port=port, facilitator_url=self.fac_proxy.url,
                          sqlite=self.workdir / sqlite_name,
                          upstream_url=None if command else self.up_proxy.url + "/mcp", command=command)

    def trace(self, gateway: Gateway, key: str) -> dict[str, Any]:
        """`tollgate trace KEY --config <gateway's> --json` (a payer address: every flow of that payer)."""
        r = subprocess.run([str(TOLLGATE_BIN), "trace", key, "--config", str(gateway.config), "--json"],
                           cwd=self.workdir, env=self.env, capture_output=True, text=True, timeout=60)
        try:
            return json.loads(r.stdout)
        except ValueError:
            return {"error": f"rc={r.returncode} stdout={r.stdout[:400]!r} stderr={r.stderr[:400]!r}"}


def offers_terms(url: str) -> bool:
    """True once an unpaid `fail` call gets a PaymentRequired tool result (the facilitator check is done)."""
    r = httpx.post(url, json={"jsonrpc": "2.0", "id": 0, "method": "tools/call",
                              "params": {"name": "fail", "arguments": {}}}, headers=ACCEPT, timeout=5)
    result = r.json().get("result") or {}
    return result.get("isError") is True and bool((result.get("structuredContent") or {}).get("accepts"))


@pytest.fixture(scope="module")
def stack(request) -> Stack:
    # A missing binary or file is a failure, never a skip: the suite would otherwise pass without testing the door.
    require_file(TOLLGATE_BIN, "gateway binary", "build it first, or set TOLLGATE_BIN")
    require_file(MCP_QUICKSTART, "MCP quickstart configuration")
    workdir = new_workdir("tollgate-mcp-", TOLLGATE_BIN)
    env = child_env()
    procs: dict[str, Proc] = {}
    proxies: list[RecordingProxy] = []
    try:
        fac_port, up_port, gw_port = free_port(), free_port(), free_port()
        facilitator = f"http://127.0.0.1:{fac_port}"
        procs["facilitator"] = start("facilitator", [
            str(TOLLGATE_BIN), "facilitator", "--dev", "--listen", f"127.0.0.1:{fac_port}",
            "--db", str(workdir / "ledger.sqlite"), "--network", NETWORK], workdir, env)
        wait_until("dev facilitator /supported", lambda: http_status(facilitator + "/supported") == 200,
                   procs["facilitator"], 30)
        upstream = f"http://127.0.0.1:{up_port}"
        procs["sample-mcp"] = start("sample-mcp", [
            str(TOLLGATE_BIN), "sample-mcp", "--listen", f"127.0.0.1:{up_port}"], workdir, env)
        wait_until("sample-mcp /stats", lambda: http_status(upstream + "/stats") == 200, procs["sample-mcp"], 30)
        fac_proxy = RecordingProxy(facilitator)
        proxies.append(fac_proxy)
        up_proxy = RecordingProxy(upstream)
        proxies.append(up_proxy)
        template = MCP_QUICKSTART.read_text()
        s = Stack(workdir, env, procs, facilitator, fac_proxy, upstream, up_proxy, template,
                  template_pay_to(template))
        s.main = s.start_gateway("gateway", s.gateway_text(gw_port, "gateway.sqlite"))
    except Exception as exc:  # noqa: BLE001
        startup_failed(procs, workdir, exc, *[p.stop for p in proxies])
    print(f"gateway {s.main.url}  facilitator {facilitator} (via {fac_proxy.url})  "
          f"sample-mcp {upstream} (via {up_proxy.url})")
    yield s

    for p in proxies:
        p.stop()
    finish(workdir, procs, request.session.testsfailed)


@pytest.fixture(scope="module")
def scoped(stack: Stack) -> SimpleNamespace:
    """A second gateway: forecast needs the scope tools:premium (not anonymous); clients `premium` (holds it)
    and `basic` (does not), with fresh random keys."""
    keys = {"premium": "tg_premium_" + secrets.token_hex(12), "basic": "tg_basic_" + secrets.token_hex(12)}
    text = scope_tool(stack.gateway_text(free_port(), "scoped.sqlite"), "forecast", PREMIUM_SCOPE)
    text += "\nclients:\n" + "".join(
        f"  - id: {cid}\n    api_key_sha256: {hashlib.sha256(key.encode()).hexdigest()}\n"
        f"    scopes: [{PREMIUM_SCOPE if cid == 'premium' else 'tools:basic'}]\n" for cid, key in keys.items())
    try:
        gw = stack.start_gateway("scoped", text)
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"scoped gateway did not start: {exc}", pytrace=False)
    yield SimpleNamespace(gateway=gw, keys=keys)
    gw.proc.stop()


@pytest.fixture(scope="module")
def stdio(stack: Stack) -> Gateway:
    """A gateway whose upstream is `$TOLLGATE_BIN sample-mcp --stdio`, started (and owned) by the gateway."""
    text = stack.gateway_text(free_port(), "stdio.sqlite", command=[str(TOLLGATE_BIN), "sample-mcp", "--stdio"])
    try:
        gw = stack.start_gateway("stdio", text)
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"stdio gateway did not start: {exc}", pytrace=False)
    yield gw
    # The gateway owns its stdio server: stopping the gateway must not leave it behind.
    m = re.search(r"tollgate\.mcp\.pid=(\d+)", gw.proc.log.read_text(errors="replace"))
    gw.proc.stop()
    if not m:
        print("note: the stdio gateway logged no `tollgate.mcp.pid=`; cannot check its MCP server stopped with it")
    else:
        child = int(m.group(1))
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and pid_alive(child):
            time.sleep(0.1)
        if pid_alive(child):
            os.kill(child, 15)
            pytest.fail(f"the stdio MCP server (pid {child}) outlived its gateway; killed it", pytrace=False)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped by its parent) counts as gone.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


# ----------------------------------------------------------------------------------------------
# The MCP client side: official mcp Client over streamable HTTP, official x402 signer
# ----------------------------------------------------------------------------------------------


class Wire(httpx2.AsyncBaseTransport):
    """Sits under the mcp client's HTTP client and records each exchange: (HTTP method, JSON-RPC method, status)."""

    def __init__(self) -> None:
        self.inner = httpx2.AsyncHTTPTransport(trust_env=False)
        self.exchanges: list[tuple[str, str, int]] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        rpc = ""
        if request.method == "POST":
            try:
                rpc = json.loads(request.content).get("method") or "(response)"
            except Exception:  # noqa: BLE001
                rpc = "?"
        response = await self.inner.handle_async_request(request)
        self.exchanges.append((request.method, rpc, response.status_code))
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()

    def server_errors(self) -> list[tuple[str, str, int]]:
        return [e for e in self.exchanges if e[2] >= 500]


@asynccontextmanager
async def session(url: str, mode: str, wire: Wire | None = None,
                  headers: dict[str, str] | None = None) -> AsyncIterator[Client]:
    """An mcp `Client` (mode "legacy", "auto" or a modern version) connected to `url`."""
    async with httpx2.AsyncClient(headers=headers or {}, trust_env=False, transport=wire or Wire(),
                                  timeout=httpx2.Timeout(30, read=60)) as http:
        async with Client(streamable_http_client(url, http_client=http), mode=mode,
                          read_timeout_seconds=60) as client:
            yield client


async def call(client: Client, name: str, arguments: dict[str, Any] | None = None,
               meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """tools/call through the session's request API: the raw result dict (what went over the wire).
    A JSON-RPC error raises MCPError."""
    request = mcp_types.CallToolRequest(params=mcp_types.CallToolRequestParams(
        name=name, arguments=arguments if arguments is not None else {}, _meta=meta))
    return await client.session.send_request(request, RAW_RESULT, request_read_timeout_seconds=60)


async def payment_meta(payment_required: dict[str, Any], account) -> dict[str, Any]:
    """`params._meta` carrying a PaymentPayload the x402 SDK signed for these terms (the SDK's own MCP helper
    attaches it)."""
    payload = await sdk_client(account).create_payment_payload(parse_payment_required(payment_required))
    return attach_payment_to_meta({"name": "", "arguments": {}}, payload)["_meta"]


def mcp_error(exc: BaseException) -> MCPError | None:
    """The MCPError in `exc` (itself, or inside exception groups), if any."""
    if isinstance(exc, MCPError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = mcp_error(inner)
            if found is not None:
                return found
    return None


def first_text(result: dict[str, Any]) -> str | None:
    for item in result.get("content") or []:
        if isinstance(item, dict) and item.get("type") == "text":
            return item.get("text")
    return None


def receipt_of(result: dict[str, Any]) -> Any:
    return (result.get("_meta") or {}).get(MCP_PAYMENT_RESPONSE_META_KEY)


def short(obj: Any, limit: int = 600) -> str:
    text = json.dumps(obj, default=str, sort_keys=True)
    return text if len(text) <= limit else text[:limit] + "..."


def describe(result: dict[str, Any]) -> str:
    sc = result.get("structuredContent")
    if isinstance(sc, dict) and "x402Version" in sc:
        sc = {"x402Version": sc.get("x402Version"), "error": sc.get("error"),
              "resource": sc.get("resource"), "accepts": len(sc.get("accepts") or [])}
    return short({"isError": result.get("isError"), "structuredContent": sc, "_meta": result.get("_meta"),
                  "resultType": result.get("resultType")})


# ----------------------------------------------------------------------------------------------
# Shared assertions
# ----------------------------------------------------------------------------------------------


def check_terms(c: Checks, accept: Any, pay_to: str, label: str) -> None:
    """One `accepts` entry: exact USDC on Base Sepolia, the price, the payee."""
    if not c.check(isinstance(accept, dict), f"{label}: is an object", accept):
        return
    c.eq(accept.get("scheme"), "exact", f"{label}.scheme")
    c.eq(accept.get("network"), NETWORK, f"{label}.network")
    c.eq(accept.get("amount"), PRICE_ATOMIC, f"{label}.amount")
    c.eq(accept.get("asset"), USDC_BASE_SEPOLIA, f"{label}.asset")
    c.eq(accept.get("payTo"), pay_to, f"{label}.payTo")
    extra = accept.get("extra") or {}
    c.eq((extra.get("name"), extra.get("version")), ("USDC", "2"), f"{label}.extra (EIP-712 name, version)")


def check_payment_required(c: Checks, result: dict[str, Any], label: str, *, tool: str = "forecast",
                           error: str | None = None, mode: str | None = None) -> dict[str, Any] | None:
    """The x402 MCP transport's PaymentRequired tool result: isError, the terms in structuredContent and the
    same JSON in content[0].text, no successful receipt; `error` when given."""
    c.check(result.get("isError") is True, f"{label}: isError is true", describe(result))
    sc = result.get("structuredContent")
    if not c.check(isinstance(sc, dict) and "x402Version" in sc,
                   f"{label}: structuredContent is a PaymentRequired", describe(result)):
        return None
    c.eq(sc.get("x402Version"), 2, f"{label}: PaymentRequired.x402Version")
    c.eq((sc.get("resource") or {}).get("url"), f"mcp://tool/{tool}", f"{label}: PaymentRequired.resource.url")
    c.check(isinstance(sc.get("accepts"), list) and len(sc["accepts"]) > 0,
            f"{label}: PaymentRequired.accepts is non-empty", short(sc))
    if error is not None:
        c.eq(sc.get("error"), error, f"{label}: PaymentRequired.error")
    text = first_text(result)
    try:
        parsed = json.loads(text) if text is not None else None
    except ValueError:
        parsed = None
    c.check(parsed == sc, f"{label}: content[0].text is the same PaymentRequired JSON", f"text={text!r:.300}")
    try:
        parse_payment_required(sc)
        c.check(True, f"{label}: the x402 SDK parses the PaymentRequired")
    except Exception as exc:  # noqa: BLE001
        c.check(False, f"{label}: the x402 SDK parses the PaymentRequired", f"{type(exc).__name__}: {exc}")
    receipt = receipt_of(result)
    c.check(not (isinstance(receipt, dict) and receipt.get("success") is True),
            f"{label}: no successful x402/payment-response", receipt)
    if mode is not None:
        check_era(c, result, mode, label)
    return sc


def check_receipt(c: Checks, result: dict[str, Any], payer: str, label: str) -> dict[str, Any] | None:
    receipt = receipt_of(result)
    if not c.check(isinstance(receipt, dict), f"{label}: _meta[x402/payment-response] is an object",
                   describe(result)):
        return None
    c.eq(receipt.get("success"), True, f"{label}: receipt.success")
    c.check(isinstance(receipt.get("transaction"), str) and bool(TX_HASH.match(receipt["transaction"])),
            f"{label}: receipt.transaction is a transaction hash", receipt)
    c.eq(receipt.get("network"), NETWORK, f"{label}: receipt.network")
    c.eq(str(receipt.get("payer", "")).lower(), payer.lower(), f"{label}: receipt.payer (lower-case)")
    return receipt


def check_era(c: Checks, result: dict[str, Any], mode: str, label: str) -> None:
    """On 2026-07-28 every result carries `resultType: "complete"` (the 2026 schema requires it)."""
    if MODES.get(mode, mode) == MODERN:
        c.eq(result.get("resultType"), "complete", f"{label}: resultType (2026-07-28 era)")


def check_delta(c: Checks, before: dict[str, Any], after: dict[str, Any], label: str, *,
                runs: dict[str, int] | None = None, settles: int = 0, transfers: int | None = None,
                verifies: int | None = None) -> None:
    """Tool executions per tool (`runs`, others 0), facilitator /settle calls, ledger transfers (default: the
    number of settles), facilitator /verify calls (unchecked unless given)."""
    runs = runs or {}
    for tool in ("echo", "forecast", "fail"):
        c.eq(after["exec"].get(tool, 0) - before["exec"].get(tool, 0), runs.get(tool, 0),
             f"{label}: `{tool}` executions (sample-mcp /stats) change")
    c.eq(after["fac"].get("/settle", 0) - before["fac"].get("/settle", 0), settles,
         f"{label}: facilitator /settle calls")
    c.eq(after["transfers"] - before["transfers"], settles if transfers is None else transfers,
         f"{label}: ledger transfers (settlements)")
    if verifies is not None:
        c.eq(after["fac"].get("/verify", 0) - before["fac"].get("/verify", 0), verifies,
             f"{label}: facilitator /verify calls")


def check_wire(c: Checks, wire: Wire, label: str) -> None:
    c.check(not wire.server_errors(), f"{label}: no HTTP 5xx from the gateway", wire.server_errors())


def run(coro) -> Any:
    return asyncio.run(coro)


mode_params = pytest.mark.parametrize("mode", list(MODES), ids=[f"{m}-{v}" for m, v in MODES.items()])


# ----------------------------------------------------------------------------------------------
# Scenarios
# ----------------------------------------------------------------------------------------------


@mode_params
def test_mcp_1_tools_list_prices(stack: Stack, mode: str) -> None:
    c = Checks(f"mcp 1 [{mode}]: tools/list carries the prices of the priced tools")
    wire = Wire()

    async def go() -> None:
        async with session(stack.main.url, mode, wire) as client:
            c.eq(client.protocol_version, MODES[mode], "negotiated protocol_version")
            listed = {t.name: t for t in (await client.list_tools()).tools}
        async with session(stack.upstream + "/mcp", mode) as direct:
            upstream = {t.name: t for t in (await direct.list_tools()).tools}
        print("gateway tools:", {n: t.meta for n, t in listed.items()})
        c.check({"echo", "forecast", "fail"} <= set(listed), "echo, forecast and fail are listed", sorted(listed))
        c.eq(sorted(listed), sorted(upstream), "the gateway lists the upstream's tools")
        for name in ("forecast", "fail"):
            tool = listed.get(name)
            if tool is None:
                continue
            meta = tool.meta or {}
            accepts = meta.get("x402/accepts")
            if c.check(isinstance(accepts, list) and len(accepts) > 0, f"{name}: _meta[x402/accepts] is a non-empty list",
                       meta):
                check_terms(c, accepts[0], stack.pay_to, f"{name}: x402/accepts[0]")
                c.check("tollgate" not in (accepts[0].get("extra") or {}),
                        f"{name}: the listed terms carry no per-call offer", accepts[0])
                c.check(isinstance(accepts[0].get("maxTimeoutSeconds"), int) and accepts[0]["maxTimeoutSeconds"] > 0,
                        f"{name}: x402/accepts[0].maxTimeoutSeconds is a positive integer", accepts[0])
            c.eq(meta.get("x402/price"), "$0.01", f"{name}: _meta[x402/price]")
        echo = listed.get("echo")
        if echo is not None:
            c.check(not any(k.startswith("x402/") for k in (echo.meta or {})), "echo: no x402 keys in _meta", echo.meta)
        # Everything but _meta is the upstream's own description of the tool.
        for name, tool in listed.items():
            if name in upstream:
                mine = tool.model_dump(by_alias=True, exclude_none=True, exclude={"meta"})
                theirs = upstream[name].model_dump(by_alias=True, exclude_none=True, exclude={"meta"})
                c.eq(mine, theirs, f"{name}: listed as the upstream lists it (besides _meta)")

    run(go())
    check_wire(c, wire, "tools/list")
    c.done()


@mode_params
def test_mcp_2_free_tool(stack: Stack, mode: str) -> None:
    c = Checks(f"mcp 2 [{mode}]: the free tool echo works without payment")
    wire = Wire()
    before = stack.snapshot()
    text = f"hello {mode} {secrets.token_hex(4)}"

    async def go() -> None:
        async with session(stack.main.url, mode, wire) as client:
            c.eq(client.protocol_version, MODES[mode], "negotiated protocol_version")
            result = await call(client, "echo", {"text": text})
            print("echo:", describe(result))
            c.eq(result.get("isError"), False, "isError")
            c.eq(result.get("structuredContent"), {"echo": text}, "structuredContent (the tool's)")
            c.eq(json.loads(first_text(result) or "null"), {"echo": text}, "content[0].text (the tool's JSON)")
            c.check(receipt_of(result) is None, "no x402/payment-response", result.get("_meta"))
            check_era(c, result, mode, "echo")
            # The SDK's high-level call validates the result against the negotiated version's schema.
            typed = await client.call_tool("echo", {"text": text})
            c.eq((typed.is_error, typed.structured_content), (False, {"echo": text}),
                 "Client.call_tool: (is_error, structured_content)")

    run(go())
    check_delta(c, before, stack.snapshot(), "echo twice", runs={"echo": 2}, verifies=0)
    check_wire(c, wire, "echo")
    c.done()


@mode_params
def test_mcp_3_unpaid_call(stack: Stack, mode: str) -> None:
    c = Checks(f"mcp 3 [{mode}]: an unpaid forecast call gets the PaymentRequired tool result")
    wire = Wire()
    before = stack.snapshot()
    forwarded = len(stack.up_proxy.tool_calls("forecast"))

    async def go() -> None:
        async with session(stack.main.url, mode, wire) as client:
            c.eq(client.protocol_version, MODES[mode], "negotiated protocol_version")
            listed = {t.name: t for t in (await client.list_tools()).tools}
            result = await call(client, "forecast", {"city": "Oslo"})
            print("unpaid forecast:", describe(result))
            pr = check_payment_required(c, result, "unpaid", error=None, mode=mode)
            if pr:
                c.check(isinstance(pr.get("error"), str) and pr["error"] != "",
                        "unpaid: PaymentRequired.error is a non-empty text", pr.get("error"))
                check_terms(c, pr["accepts"][0], stack.pay_to, "unpaid: accepts[0]")
                # tools/list advertises the same terms, without the per-call offer.
                offered = json.loads(json.dumps(pr["accepts"][0]))
                (offered.get("extra") or {}).pop("tollgate", None)
                advertised = ((listed.get("forecast") and listed["forecast"].meta) or {}).get("x402/accepts") or [None]
                c.eq(advertised[0], offered, "tools/list x402/accepts[0] == the PaymentRequired's (offer removed)")

    run(go())
    check_delta(c, before, stack.snapshot(), "unpaid call", verifies=0)
    c.eq(len(stack.up_proxy.tool_calls("forecast")) - forwarded, 0, "forecast calls forwarded to the MCP server")
    check_wire(c, wire, "unpaid")
    c.done()


async def pay_forecast(c: Checks, client: Client, account, city: str, mode: str,
                       label: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Unpaid call -> sign -> paid retry. Returns (the paid call's _meta, its result)."""
    first = await call(client, "forecast", {"city": city})
    pr = check_payment_required(c, first, f"{label} (unpaid)", mode=mode)
    if not pr:
        return None, None
    meta = await payment_meta(pr, account)
    c.check(isinstance(meta.get(MCP_PAYMENT_META_KEY), dict), f"{label}: the SDK put a PaymentPayload object in "
            f"_meta[{MCP_PAYMENT_META_KEY}]", short(meta))
    paid = await call(client, "forecast", {"city": city}, meta)
    print(f"{label}:", describe(paid))
    return meta, paid


@mode_params
def test_mcp_4_paid_call(stack: Stack, mode: str) -> None:
    c = Checks(f"mcp 4 [{mode}]: the paid retry gets the tool's result and the receipt")
    wire = Wire()
    account = Account.create()
    city = f"Oslo-{mode}"

    async def go() -> None:
        async with session(stack.main.url, mode, wire) as client:
            c.eq(client.protocol_version, MODES[mode], "negotiated protocol_version")
            before = stack.snapshot()
            meta, paid = await pay_forecast(c, client, account, city, mode, "paid")
            after = stack.snapshot()
        if paid is None:
            return
        c.eq(paid.get("isError"), False, "paid: isError")
        c.eq(paid.get("structuredContent"), forecast_output(city), "paid: structuredContent (the tool's result)")
        c.eq(json.loads(first_text(paid) or "null"), forecast_output(city), "paid: content[0].text (the tool's JSON)")
        check_receipt(c, paid, account.address, "paid")
        check_era(c, paid, mode, "paid")
        check_delta(c, before, after, "unpaid + paid", runs={"forecast": 1}, settles=1)
        # What the MCP server received: the call without the payment (the gateway's business, not the tool's).
        sent = stack.up_proxy.tool_calls("forecast")
        last = sent[-1] if sent else {}
        upstream_meta = (last.get("params") or {}).get("_meta") or {}
        c.eq((last.get("params") or {}).get("arguments"), {"city": city}, "forwarded call: arguments")
        c.check(MCP_PAYMENT_META_KEY not in upstream_meta, "forwarded call: x402/payment removed from _meta",
                short(upstream_meta))
        if MODES[mode] == MODERN:
            c.eq(upstream_meta.get("io.modelcontextprotocol/protocolVersion"), MODERN,
                 "forwarded call: the 2026 _meta envelope kept")
        # The audit trail of the payer's flow: delivered, settled once.
        flows = stack.trace(stack.main, account.address).get("flows") or []
        c.eq(len(flows), 1, "tollgate trace <payer>: flows")
        if flows:
            stages = [(e.get("stage"), e.get("outcome")) for e in flows[0].get("events") or []]
            c.eq(stages.count(("settle", "ok")), 1, "trace: settle/ok events")
            c.eq((flows[0].get("stoppedAt") or {}).get("reason"), "delivered", "trace: stoppedAt.reason")

    run(go())
    check_wire(c, wire, "paid")
    c.done()


@mode_params
def test_mcp_5_replay_refused(stack: Stack, mode: str) -> None:
    c = Checks(f"mcp 5 [{mode}]: the replay of a settled payment is refused, the tool does not run")
    wire = Wire()
    account = Account.create()
    city = f"Bergen-{mode}"

    async def go() -> None:
        async with session(stack.main.url, mode, wire) as client:
            c.eq(client.protocol_version, MODES[mode], "negotiated protocol_version")
            meta, paid = await pay_forecast(c, client, account, city, mode, "original")
            if paid is None or not c.check(receipt_of(paid) is not None and paid.get("isError") is False,
                                           "precondition: the original paid call was delivered", describe(paid)):
                return
            before = stack.snapshot()
            replay = await call(client, "forecast", {"city": city}, meta)
            print("replay (same session):", describe(replay))
            check_payment_required(c, replay, "replay", error=R_NONCE_USED, mode=mode)
        # The same payment from another session (another client altogether).
        async with session(stack.main.url, mode, wire) as other:
            again = await call(other, "forecast", {"city": city}, meta)
            print("replay (new session):", describe(again))
            check_payment_required(c, again, "replay from a new session", error=R_NONCE_USED, mode=mode)
        check_delta(c, before, stack.snapshot(), "two replays")

    run(go())
    check_wire(c, wire, "replay")
    c.done()


class Mcp2Adapter:
    """The call surface `x402MCPClient` (x402 2.25.0) expects, over an mcp 2.3.0 `Client`: it calls
    `call_tool({"name", "arguments", "_meta"}, read_timeout_seconds=timedelta)` and reads `content`, `isError`,
    `structuredContent` and `_meta` as attributes, while mcp 2.3.0 takes `call_tool(name, arguments,
    read_timeout_seconds=float, meta=...)` and names them `is_error`, `structured_content`, `meta`. Only the call is
    adapted: detecting the PaymentRequired, signing, attaching the payment and reading the receipt stay the SDK's."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.calls: list[dict[str, Any]] = []

    async def list_tools(self):
        return await self.client.list_tools()

    async def call_tool(self, params: dict[str, Any], read_timeout_seconds=None, **_: Any) -> SimpleNamespace:
        timeout = (read_timeout_seconds.total_seconds() if isinstance(read_timeout_seconds, timedelta)
                   else read_timeout_seconds)
        result = await self.client.call_tool(params["name"], params.get("arguments"), read_timeout_seconds=timeout,
                                             meta=params.get("_meta"))
        d = result.model_dump(by_alias=True, mode="json", exclude_none=True)
        self.calls.append({"meta": params.get("_meta"), "result": d})
        return SimpleNamespace(content=d.get("content", []), isError=d.get("isError", False),
                               structuredContent=d.get("structuredContent"), _meta=d.get("_meta") or {})


@mode_params
def test_mcp_6_sdk_x402_mcp_client(stack: Stack, mode: str) -> None:
    c = Checks(f"mcp 6 [{mode}]: the x402 SDK's own x402MCPClient pays forecast")
    wire = Wire()
    account = Account.create()
    city = f"Tromso-{mode}"
    before = stack.snapshot()

    async def go() -> None:
        async with session(stack.main.url, mode, wire) as client:
            c.eq(client.protocol_version, MODES[mode], "negotiated protocol_version")
            adapter = Mcp2Adapter(client)
            paying = x402MCPClient(adapter, sdk_client(account), auto_payment=True)
            names = [t.name for t in (await paying.list_tools()).tools]
            c.check("forecast" in names, "x402MCPClient.list_tools lists forecast", names)
            res = await paying.call_tool("forecast", {"city": city})
        pr = res.payment_response
        print(f"x402MCPClient: is_error={res.is_error} payment_made={res.payment_made} payment_response={pr!r}")
        c.eq(res.payment_made, True, "payment_made")
        c.eq(res.is_error, False, "is_error")
        c.check(pr is not None and pr.success is True, "payment_response.success", pr)
        if pr is not None:
            c.eq(str(pr.payer or "").lower(), account.address.lower(), "payment_response.payer")
            c.check(bool(TX_HASH.match(pr.transaction or "")), "payment_response.transaction is a hash", pr)
        text = next((i.get("text") for i in res.content or [] if isinstance(i, dict) and i.get("type") == "text"), None)
        c.eq(json.loads(text or "null"), forecast_output(city), "content[0].text (the tool's JSON)")
        c.eq(len(adapter.calls), 2, "tools/call made by the SDK (unpaid probe, paid retry)")

    run(go())
    check_delta(c, before, stack.snapshot(), "SDK-paid call", runs={"forecast": 1}, settles=1)
    check_wire(c, wire, "x402MCPClient")
    c.done()


def test_mcp_7_failing_tool_not_charged(stack: Stack) -> None:
    mode = "auto"
    c = Checks(f"mcp 7 [{mode}]: a paid call of the failing tool is passed back and not charged")
    wire = Wire()
    account = Account.create()
    sends: list[dict[str, Any]] = []

    async def go() -> dict[str, Any] | None:
        async with session(stack.main.url, mode, wire) as client:
            first = await call(client, "fail", {})
            pr = check_payment_required(c, first, "unpaid fail", tool="fail", mode=mode)
            if not pr:
                return None
            meta = await payment_meta(pr, account)
            for i in range(2):
                before = stack.snapshot()
                result = await call(client, "fail", {}, meta)
                after = stack.snapshot()
                print(f"paid fail #{i + 1}:", describe(result))
                sends.append({"result": result, "before": before, "after": after})
            return meta

    meta = run(go())
    for i, s in enumerate(sends):
        label = "paid fail" if i == 0 else "the same payment again"
        result = s["result"]
        c.eq(result.get("isError"), True, f"{label}: isError")
        c.eq(result.get("structuredContent"), FAIL_OUTPUT, f"{label}: structuredContent is the tool's own error")
        c.eq(json.loads(first_text(result) or "null"), FAIL_OUTPUT, f"{label}: content[0].text is the tool's")
        c.check(MCP_PAYMENT_RESPONSE_META_KEY not in (result.get("_meta") or {}),
                f"{label}: no x402/payment-response", result.get("_meta"))
        c.check(not (isinstance(result.get("structuredContent"), dict) and "x402Version" in result["structuredContent"]),
                f"{label}: not a PaymentRequired (in particular not {R_NONCE_USED})", describe(result))
        check_era(c, result, mode, label)
        check_delta(c, s["before"], s["after"], label, runs={"fail": 1}, settles=0)
    if meta is not None:
        # The dev facilitator itself: the authorization is still unused (a settled one is a used nonce).
        payload = meta[MCP_PAYMENT_META_KEY]
        r = httpx.post(stack.facilitator + "/verify", timeout=10, json={
            "x402Version": 2, "paymentPayload": payload, "paymentRequirements": payload.get("accepted")})
        verdict = r.json() if r.status_code == 200 else {"status": r.status_code, "body": r.text[:300]}
        print("dev facilitator /verify of the payment afterwards:", verdict)
        c.eq(verdict.get("isValid"), True, "the facilitator still finds the authorization unused (isValid)")
    # The audit trail: forwarded, answered unsettled, never settled.
    flows = stack.trace(stack.main, account.address).get("flows") or []
    events = [e for f in flows for e in f.get("events") or []]
    print("trace stages:", [(e.get("stage"), e.get("outcome"), e.get("reason")) for e in events])
    c.check(len(flows) >= 1, "tollgate trace <payer>: the flow is recorded", flows)
    c.eq([e for e in events if e.get("stage") == "settle"], [], "trace: no settle event")
    c.eq(sum(1 for e in events if e.get("stage") == "forward"), 2, "trace: forward events (both sends reached the tool)")
    responds = [e for e in events if e.get("stage") == "respond"]
    c.check(len(responds) == 2 and all((e.get("details") or {}).get("settled") == "false" for e in responds),
            "trace: both answers recorded as not settled", responds)
    check_wire(c, wire, "fail")
    c.done()


def test_mcp_8_scope(stack: Stack, scoped: SimpleNamespace) -> None:
    mode = "auto"
    c = Checks(f"mcp 8 [{mode}]: a scoped tool: JSON-RPC errors before terms, terms for the scoped key")
    gw = scoped.gateway
    wire = Wire()
    account = Account.create()
    before = stack.snapshot()

    async def refused(headers: dict[str, str] | None, label: str, code: int, status: int, reason: str) -> None:
        result: Any = None
        try:
            async with session(gw.url, mode, wire, headers) as client:
                result = await call(client, "forecast", {"city": "Lima"})
        except Exception as exc:  # noqa: BLE001 - the refusal must be a JSON-RPC error (MCPError)
            err = mcp_error(exc)
            if err is None:
                raise
            print(f"{label}: MCPError code={err.code} message={err.message!r} data={short(err.data)}")
            c.eq(err.code, code, f"{label}: JSON-RPC error code")
            data = err.data if isinstance(err.data, dict) else {}
            c.eq(data.get("status"), status, f"{label}: error.data.status")
            c.eq(data.get("reason"), reason, f"{label}: error.data.reason")
            c.check(bool(data.get("correlationId")), f"{label}: error.data.correlationId", data)
            c.check(not any(k in data for k in ("accepts", "x402Version")) and "accepts" not in json.dumps(data),
                    f"{label}: no PaymentRequired / terms in the error", data)
            return
        c.check(False, f"{label}: a JSON-RPC error (MCPError)", f"got a result: {describe(result)}")

    async def go() -> None:
        await refused({"X-Api-Key": scoped.keys["basic"]}, "key without the scope", -32003, 403, "missing_scope")
        await refused(None, "no key", -32001, 401, "missing_credentials")
        await refused({"X-Api-Key": "tg_nobody_" + secrets.token_hex(8)}, "unknown key", -32001, 401,
                      "unknown_api_key")
        # Only the scoped tool is closed to them: the free tool still answers the basic key.
        async with session(gw.url, mode, wire, {"X-Api-Key": scoped.keys["basic"]}) as client:
            echo = await call(client, "echo", {"text": "basic"})
            c.eq(echo.get("structuredContent"), {"echo": "basic"}, "key without the scope: echo still works")
        mid = stack.snapshot()
        check_delta(c, before, mid, "refused calls", runs={"echo": 1}, verifies=0)
        async with session(gw.url, mode, wire, {"Authorization": f"Bearer {scoped.keys['premium']}"}) as client:
            result = await call(client, "forecast", {"city": "Lima"})
            print("scoped key (Authorization: Bearer):", describe(result))
            check_payment_required(c, result, "scoped key (Authorization: Bearer)", mode=mode)
        async with session(gw.url, mode, wire, {"X-Api-Key": scoped.keys["premium"]}) as client:
            meta, paid = await pay_forecast(c, client, account, "Lima", mode, "scoped key (X-Api-Key) pays")
            if paid is not None:
                c.eq(paid.get("isError"), False, "scoped key pays: isError")
                c.eq(paid.get("structuredContent"), forecast_output("Lima"), "scoped key pays: the tool's result")
                check_receipt(c, paid, account.address, "scoped key pays")
        check_delta(c, mid, stack.snapshot(), "scoped key", runs={"forecast": 1}, settles=1)

    run(go())
    check_wire(c, wire, "scope")
    c.done()


def test_mcp_9_concurrent_copies(stack: Stack) -> None:
    copies = 10
    c = Checks(f"mcp 9: {copies} concurrent copies of one paid call over separate sessions")
    wire = Wire()
    account = Account.create()
    city = "Reykjavik"
    results: list[Any] = []

    async def go() -> None:
        async with AsyncExitStack() as stack_ctx:
            # One client (and session) per copy, half in each era, all connected before anything is sent.
            clients = [await stack_ctx.enter_async_context(session(stack.main.url, ["legacy", "auto"][i % 2], wire))
                       for i in range(copies)]
            first = await call(clients[0], "forecast", {"city": city})
            pr = check_payment_required(c, first, "unpaid")
            if not pr:
                return
            meta = await payment_meta(pr, account)
            go_signal = asyncio.Event()

            async def copy(client: Client) -> dict[str, Any]:
                await go_signal.wait()
                return await call(client, "forecast", {"city": city}, meta)

            tasks = [asyncio.create_task(copy(cl)) for cl in clients]
            await asyncio.sleep(0.05)
            go_signal.set()
            results.extend(await asyncio.gather(*tasks, return_exceptions=True))

    before = stack.snapshot()
    run(go())
    after = stack.snapshot()
    kinds: Counter[str] = Counter()
    for r in results:
        if isinstance(r, BaseException):
            kinds[f"exception {type(r).__name__}: {r}"[:160]] += 1
            continue
        sc = r.get("structuredContent")
        receipt = receipt_of(r)
        if r.get("isError") is False and isinstance(receipt, dict) and receipt.get("success") is True:
            kinds["delivered"] += 1
        elif r.get("isError") is True and isinstance(sc, dict) and "x402Version" in sc:
            kinds[f"PaymentRequired {sc.get('error')}"] += 1
        else:
            kinds[f"other {describe(r)}"[:200]] += 1
    print("outcomes:", dict(kinds))
    c.eq(len(results), copies, "answers")
    c.eq(kinds["delivered"], 1, "delivered with a successful receipt")
    # A copy refused while the first call runs says so (nothing is taken yet: the first may still fail to settle); one
    # arriving after the delivery is a replay of a used authorization.
    refused = kinds[f"PaymentRequired {R_IN_PROGRESS}"] + kinds[f"PaymentRequired {R_NONCE_USED}"]
    c.eq(refused, copies - 1, f"PaymentRequired {R_IN_PROGRESS} (in flight) or {R_NONCE_USED} (after the delivery)")
    c.check(kinds[f"PaymentRequired {R_IN_PROGRESS}"] >= 1, f"at least one copy refused in flight ({R_IN_PROGRESS})", dict(kinds))
    c.eq(sum(kinds.values()) - kinds["delivered"] - refused, 0, "other outcomes")
    for r in results:
        if isinstance(r, dict) and r.get("isError") is False:
            check_receipt(c, r, account.address, "the delivered copy")
            c.eq(r.get("structuredContent"), forecast_output(city), "the delivered copy: the tool's result")
        elif isinstance(r, dict):
            error = (r.get("structuredContent") or {}).get("error")
            check_payment_required(c, r, "a refused copy", error=error if error in (R_IN_PROGRESS, R_NONCE_USED) else R_NONCE_USED)
    check_delta(c, before, after, "concurrent copies", runs={"forecast": 1}, settles=1)
    check_wire(c, wire, "concurrent")
    c.done()


def test_mcp_10_pinned_modern_era(stack: Stack) -> None:
    mode = MODERN
    c = Checks(f"mcp 10 [mode={mode}]: unpaid, paid and replay with the version pinned (no discover, no handshake)")
    wire = Wire()
    account = Account.create()
    city = "Kyoto"

    async def go() -> None:
        async with session(stack.main.url, mode, wire) as client:
            c.eq(client.protocol_version, MODERN, "protocol_version")
            before = stack.snapshot()
            meta, paid = await pay_forecast(c, client, account, city, mode, "paid")
            if paid is None:
                return
            c.eq(paid.get("isError"), False, "paid: isError")
            c.eq(paid.get("structuredContent"), forecast_output(city), "paid: the tool's result")
            check_receipt(c, paid, account.address, "paid")
            check_era(c, paid, mode, "paid")
            replay = await call(client, "forecast", {"city": city}, meta)
            check_payment_required(c, replay, "replay", error=R_NONCE_USED, mode=mode)
            check_delta(c, before, stack.snapshot(), "unpaid + paid + replay", runs={"forecast": 1}, settles=1)
        rpc = [m for (verb, m, _) in wire.exchanges if verb == "POST"]
        print("requests:", rpc)
        c.check(bool(rpc) and rpc[0] == "tools/call" and "initialize" not in rpc and "server/discover" not in rpc,
                "the first request on the wire is tools/call (no probe, no handshake)", rpc)

    run(go())
    check_wire(c, wire, "pinned modern")
    c.done()


@mode_params
def test_mcp_11_stdio_upstream(stack: Stack, stdio: Gateway, mode: str) -> None:
    c = Checks(f"mcp 11 [{mode}]: a stdio upstream (`sample-mcp --stdio` started by the gateway)")
    wire = Wire()
    account = Account.create()
    city = f"Nuuk-{mode}"

    async def go() -> None:
        async with session(stdio.url, mode, wire) as client:
            version = client.protocol_version
            print("negotiated:", version)
            if mode == "legacy":
                c.eq(version, "2025-11-25", "negotiated protocol_version")
            else:
                # No per-request era in front of a stdio server: server/discover is refused, the client falls back.
                c.check(version.startswith("2025-"), "auto: negotiated a 2025 (handshake) version", version)
                rpc = [m for (verb, m, _) in wire.exchanges if verb == "POST"]
                c.check(rpc[:2] == ["server/discover", "initialize"], "auto: server/discover, then initialize", rpc)
            listed = {t.name: t for t in (await client.list_tools()).tools}
            c.check({"echo", "forecast", "fail"} <= set(listed), "echo, forecast and fail are listed", sorted(listed))
            for name in ("forecast", "fail"):
                meta = (listed.get(name) and listed[name].meta) or {}
                accepts = meta.get("x402/accepts") or [None]
                check_terms(c, accepts[0], stack.pay_to, f"{name}: x402/accepts[0]")
                c.eq(meta.get("x402/price"), "$0.01", f"{name}: x402/price")
            c.check(not any(k.startswith("x402/") for k in ((listed.get("echo") and listed["echo"].meta) or {})),
                    "echo: no x402 keys in _meta")
            echo = await call(client, "echo", {"text": "over stdio"})
            c.eq(echo.get("structuredContent"), {"echo": "over stdio"}, "echo (free) answers")
            before = stack.snapshot()
            meta, paid = await pay_forecast(c, client, account, city, version, "paid")
            if paid is None:
                return
            c.eq(paid.get("isError"), False, "paid: isError")
            c.eq(paid.get("structuredContent"), forecast_output(city), "paid: the tool's result")
            check_receipt(c, paid, account.address, "paid")
            replay = await call(client, "forecast", {"city": city}, meta)
            check_payment_required(c, replay, "replay", error=R_NONCE_USED, mode=version)
            after = stack.snapshot()
            # The stdio server's executions are not observable (no /stats); the HTTP sample-mcp must not be used.
            check_delta(c, before, after, "unpaid + paid + replay", settles=1)
        # Its audit trail instead: the payer's flow was forwarded to the stdio server, delivered and settled once.
        flows = stack.trace(stdio, account.address).get("flows") or []
        events = [(e.get("stage"), e.get("outcome")) for f in flows for e in f.get("events") or []]
        c.eq(events.count(("forward", "ok")), 1, "trace (stdio gateway): forward/ok events")
        c.eq(events.count(("settle", "ok")), 1, "trace (stdio gateway): settle/ok events")
        c.check(any((f.get("stoppedAt") or {}).get("reason") == "delivered" for f in flows),
                "trace (stdio gateway): a flow stopped at `delivered`", [f.get("stoppedAt") for f in flows])

    run(go())
    check_wire(c, wire, "stdio")
    c.done()


def post_raw(url: str, body: bytes | str, headers: dict[str, str] | None = None) -> tuple[int, Any, str]:
    r = httpx.post(url, content=body, headers={**ACCEPT, **(headers or {})}, timeout=30)
    try:
        parsed = r.json()
    except ValueError:
        parsed = None
    return r.status_code, parsed, r.text


def check_refused_by_gateway(c: Checks, url: str, body: str, code: int, label: str,
                             fields: dict[str, str] | None = None) -> None:
    """POSTs `body` and checks the gateway's own refusal: HTTP 400 and the JSON-RPC error `code`."""
    status, parsed, text = post_raw(url, body, fields)
    print(f"{label}: {status} {text[:160]}")
    c.eq(status, 400, f"{label}: HTTP 400")
    c.eq((((parsed or {}).get("error") or {}) if isinstance(parsed, dict) else {}).get("code"), code,
         f"{label}: JSON-RPC error code")


def test_mcp_12_bad_input(stack: Stack, stdio: Gateway) -> None:
    c = Checks("mcp 12: bad input gets a clear answer, never a 5xx, and the gateway keeps serving")
    url = stack.main.url
    before = stack.snapshot()

    # Not one JSON-RPC message.
    for gw in (stack.main, stdio):
        for label, body in [("non-JSON", b"this is not json {"), ("empty body", b""), ("JSON, not JSON-RPC", b'{"a":1}')]:
            status, parsed, text = post_raw(gw.url, body)
            print(f"{gw.name} {label}: {status} {text[:200]}")
            c.check(status < 500, f"{gw.name} {label}: HTTP status < 500", status)
            err = (parsed or {}).get("error") if isinstance(parsed, dict) else None
            c.check(isinstance(err, dict) and err.get("code") in (-32700, -32600),
                    f"{gw.name} {label}: a JSON-RPC parse / invalid-request error", text[:300])
    batch = [{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "forecast", "arguments": {}}}]
    status, parsed, text = post_raw(url, json.dumps(batch))
    print(f"batch with a paid call: {status} {text[:200]}")
    c.check(status < 500, "batch with a paid call: HTTP status < 500", status)
    c.eq(((parsed or {}).get("error") or {}).get("code") if isinstance(parsed, dict) else None, -32600,
         "batch with a paid call: JSON-RPC error code")

    # Bodies two JSON parsers read two ways: the MCP SDK's own server reads the body with pydantic_core.from_json,
    # which keeps a repeated member's last value and reads NaN, Infinity and 1e400. Passed on as it came, the first
    # was a free tool to a lenient reader and `forecast` to the SDK's server: the gateway refuses them all itself.
    head = '{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":'
    ambiguous = [
        ("a repeated name, the free tool first", head + '"echo","name":"forecast","arguments":{"city":"Oslo"}}}'),
        ("a repeated method", '{"jsonrpc":"2.0","id":9,"method":"ping","method":"tools/call",'
                              '"params":{"name":"forecast","arguments":{"city":"Oslo"}}}'),
        ("NaN in the arguments", head + '"forecast","arguments":{"city":"Oslo","days":NaN}}}'),
        ("Infinity in the arguments", head + '"echo","arguments":{"text":Infinity}}}'),
        ("1e400 in the arguments", head + '"echo","arguments":{"text":1e400}}}'),
    ]
    sdk_reads = pydantic_core.from_json(ambiguous[0][1].encode())
    c.eq(sdk_reads["params"]["name"], "forecast", "the MCP SDK server's parser reads the repeated name as forecast")
    forwarded = len(stack.up_proxy.records)
    for gw in (stack.main, stdio):
        for label, body in ambiguous:
            check_refused_by_gateway(c, gw.url, body, -32700, f"{gw.name} {label}")
    c.eq(len(stack.up_proxy.records), forwarded, "none of them was forwarded to the MCP server")

    # Routing fields that name another call than the body (a server or balancer routing on Mcp-Name would run the
    # tool the gateway did not price): refused as the SDK's own server refuses them (-32020, HTTP 400), never forwarded.
    routed = [(gw, body_tool, fields, batch) for gw in (stack.main, stdio) for body_tool, fields, batch in [
        ("echo", {"Mcp-Method": "tools/call", "Mcp-Name": "forecast"}, False),
        ("forecast", {"Mcp-Method": "tools/call", "Mcp-Name": "echo"}, False),
        ("echo", {"Mcp-Method": "tools/list"}, False),
        ("echo", {"Mcp-Method": "tools/call", "Mcp-Name": "forecast"}, True)]]
    for gw, body_tool, fields, batch in routed:
        message = {"jsonrpc": "2.0", "id": 10, "method": "tools/call", "params": {"name": body_tool, "arguments": {"text": "x"}}}
        label = f"{gw.name}: {'a batch of ' if batch else ''}body {body_tool}, fields {fields} (the SDK's header-mismatch code)"
        check_refused_by_gateway(c, gw.url, json.dumps([message] if batch else message), -32020, label, fields)
    c.eq(len(stack.up_proxy.records), forwarded, "none of the mismatched calls was forwarded")

    # Numbers the gateway could not write again exactly: a priced call (sent on written again from what the gateway
    # read) is refused before any terms on both doors, and so is any message for the stdio server (every one is written
    # again); a free call to the HTTP server passes on as it came.
    big = '{"jsonrpc":"2.0","id":11,"method":"tools/call","params":{"name":"%s","arguments":{"city":"Oslo","n":18446744073709551615}}}'
    for gw, tool in [(stack.main, "forecast"), (stdio, "forecast"), (stdio, "echo")]:
        check_refused_by_gateway(c, gw.url, big % tool, -32602, f"{gw.name}: {tool} with an integer beyond 64 bits")
    c.eq(len(stack.up_proxy.records), forwarded, "no call with such a number was forwarded")
    status, parsed, text = post_raw(url, big % "echo")
    print(f"gateway: echo with an integer beyond 64 bits: {status} {text[:160]}")
    c.eq(len(stack.up_proxy.records), forwarded + 1, "a free call with such a number is passed on as it came")
    last = stack.up_proxy.records[-1]["body"] if stack.up_proxy.records else None
    c.eq(((last or {}).get("params") or {}).get("arguments", {}).get("n"), 18446744073709551615,
         "the server got the number exactly")

    # Garbage in _meta["x402/payment"].
    garbage: list[tuple[str, Any]] = [
        ("a string", "xyz"), ("a number", 42), ("true", True), ("an empty string", ""), ("an array", []),
        ("an object with wrong fields", {"foo": 1, "bar": [1, 2]}),
        ("a PaymentPayload-shaped object with empty parts",
         {"x402Version": 2, "accepted": {}, "payload": {"signature": "0x00", "authorization": {}}}),
        ("JSON text of a wrong object", json.dumps({"x402Version": 2, "payload": "nope"})),
    ]
    for i, (label, value) in enumerate(garbage):
        rid = 100 + i
        body = {"jsonrpc": "2.0", "id": rid, "method": "tools/call",
                "params": {"name": "forecast", "arguments": {"city": "Oslo"}, "_meta": {MCP_PAYMENT_META_KEY: value}}}
        status, parsed, text = post_raw(url, json.dumps(body))
        label = f"payment = {label}"
        c.check(status < 500, f"{label}: HTTP status < 500", status)
        if not c.check(isinstance(parsed, dict), f"{label}: a JSON answer", text[:300]):
            continue
        c.eq(parsed.get("id"), rid, f"{label}: the answer's id")
        if "error" in parsed:
            print(f"{label}: {status} JSON-RPC error {short(parsed['error'], 300)}")
            c.check(isinstance(parsed["error"].get("code"), int), f"{label}: a JSON-RPC error with a code",
                    parsed["error"])
        else:
            result = parsed.get("result") or {}
            sc = result.get("structuredContent") if isinstance(result.get("structuredContent"), dict) else {}
            print(f"{label}: {status} {describe(result)}")
            check_payment_required(c, result, label)
            c.check(isinstance(sc.get("error"), str) and bool(REASON_CODE.match(sc["error"])),
                    f"{label}: PaymentRequired.error is a reason code", sc.get("error"))
    mid = stack.snapshot()
    check_delta(c, before, mid, "non-JSON, batch and garbage payments (and the one free echo passed on)", runs={"echo": 1},
                verifies=0)

    # Well-formed payments that are wrong: a forged signature, another call's payment (other arguments, other tool).
    account = Account.create()
    wire = Wire()

    async def go() -> None:
        async with session(url, "legacy", wire) as client:
            first = await call(client, "forecast", {"city": "Oslo"})
            pr = check_payment_required(c, first, "unpaid")
            if not pr:
                return
            meta = await payment_meta(pr, account)
            forged = json.loads(json.dumps(meta))
            sig = forged[MCP_PAYMENT_META_KEY]["payload"]["signature"]
            forged[MCP_PAYMENT_META_KEY]["payload"]["signature"] = sig[:20] + ("0" if sig[20] != "0" else "1") + sig[21:]
            for label, tool, args, m, reason in [
                ("a forged signature", "forecast", {"city": "Oslo"}, forged, R_SIGNATURE),
                ("the payment for other arguments", "forecast", {"city": "Paris"}, meta, R_RESOURCE),
                ("the payment for forecast sent to fail", "fail", {}, meta, R_RESOURCE),
            ]:
                result = await call(client, tool, args, m)
                print(f"{label}: {describe(result)}")
                check_payment_required(c, result, label, tool=tool, error=reason)
            # The garbage through the SDK session too (its result validates against the 2025 schema).
            result = await call(client, "forecast", {"city": "Oslo"}, {MCP_PAYMENT_META_KEY: "xyz"})
            check_payment_required(c, result, "payment = a string, through the SDK")
            # Still serving: the free tool, fresh terms, and the untouched payment still pays.
            echo = await call(client, "echo", {"text": "still here"})
            c.eq(echo.get("structuredContent"), {"echo": "still here"}, "afterwards: echo answers")
            paid = await call(client, "forecast", {"city": "Oslo"}, meta)
            c.eq(paid.get("isError"), False, "afterwards: the genuine payment is still accepted")
            check_receipt(c, paid, account.address, "afterwards: the genuine payment")

    run(go())
    check_delta(c, mid, stack.snapshot(), "wrong payments, then the genuine one", runs={"forecast": 1, "echo": 1},
                settles=1)
    check_wire(c, wire, "bad input")

    # A tools/call of the paid tool sent as a notification (no id): what does the gateway do with it?
    forwarded = len(stack.up_proxy.tool_calls("forecast"))
    runs = stack.executions().get("forecast", 0)
    status, parsed, text = post_raw(url, json.dumps({"jsonrpc": "2.0", "method": "tools/call",
                                                     "params": {"name": "forecast", "arguments": {"city": "X"}}}))
    c.check(status < 500, "paid tools/call as a notification: HTTP status < 500", status)
    c.eq(stack.executions().get("forecast", 0) - runs, 0, "paid tools/call as a notification: forecast did not run")
    leaked = len(stack.up_proxy.tool_calls("forecast")) - forwarded
    c.note(f"paid tools/call as a notification: HTTP {status}, forwarded to the MCP server {leaked} time(s) "
           f"(sample-mcp ignores notifications; an upstream that ran one would serve it unpaid)")
    for gw in (stack.main, stdio):
        c.check(gw.proc.alive(), f"{gw.name}: still running")
        c.check(offers_terms(gw.url), f"{gw.name}: still offers terms")
    c.done()


def test_mcp_13_polling_server_resumed(stack: Stack) -> None:
    """An upstream built on the official `mcp` server SDK that closes each `forecast` call's event stream after its
    priming event (the 2025-11-25 transport's polling; Tests/Interop/mcp_polling_server.py): the gateway resumes the
    stream with GET and Last-Event-ID, delivers the answer with its receipt and settles once; the same payment again
    runs nothing. Before, the gateway called the closed stream no answer and released the payment while the tool ran,
    so every retry ran it again, unpaid."""
    c = Checks("mcp 13: a polling MCP server's closed event stream is resumed, the call paid once")
    script = Path(__file__).resolve().parent / "mcp_polling_server.py"
    require_file(script, "polling MCP server script")
    port = free_port()
    server = f"http://127.0.0.1:{port}"
    proc = start("polling-mcp", [sys.executable, str(script), str(port)], stack.workdir, stack.env)
    stack.procs["polling-mcp"] = proc
    wait_until("polling MCP server /stats", lambda: http_status(server + "/stats") == 200, proc, 30)
    gateway = stack.start_gateway("polling", mcp_config(stack.template, port=free_port(),
                                                        facilitator_url=stack.fac_proxy.url,
                                                        sqlite=stack.workdir / "polling.sqlite",
                                                        upstream_url=server + "/mcp"))
    account = Account.create()
    city = "Bergen"

    def server_stats() -> dict[str, Any]:
        return httpx.get(server + "/stats", timeout=5).json()

    async def go() -> None:
        async with session(gateway.url, "legacy") as client:
            c.eq(client.protocol_version, MODES["legacy"], "negotiated protocol_version (polling needs 2025-11-25)")
            transfers = stack.transfers()
            meta, paid = await pay_forecast(c, client, account, city, "legacy", "paid through a polling server")
            if paid is None:
                return
            c.eq(paid.get("isError"), False, "paid: isError")
            c.eq(paid.get("structuredContent"), {"city": city, "forecast": "sunny", "high_c": 21},
                 "paid: the tool's result, read from the resumed stream")
            check_receipt(c, paid, account.address, "paid")
            stats = server_stats()
            c.eq((stats.get("executions") or {}).get("forecast"), 1, "forecast ran once")
            c.check(stats.get("resumptions", 0) >= 1, "the gateway resumed the stream (GET with Last-Event-ID)", stats)
            c.eq(stack.transfers() - transfers, 1, "one settlement")
            again = await call(client, "forecast", {"city": city}, meta)
            c.check(again.get("isError") is True or receipt_of(again) is not None,
                    "the same payment again: refused or the kept answer", describe(again))
            c.eq((server_stats().get("executions") or {}).get("forecast"), 1, "the same payment again: forecast did not run again")
            c.eq(stack.transfers() - transfers, 1, "the same payment again: no second settlement")

    try:
        run(go())
    finally:
        gateway.proc.stop()
        proc.stop()
    c.done()
