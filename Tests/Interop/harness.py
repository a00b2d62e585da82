"""Shared harness of the interop suite (not a test module: pytest collects only test_*.py).

What every Tests/Interop/test_*.py module used to repeat, in one place:
  * constants: paths (TOLLGATE_BIN, QUICKSTART, ...), the quickstart's network / asset / payee / price,
    x402 and Tollgate reason codes
  * Checks (soft assertions with PASS/FAIL lines), the x402 wire helpers (base64 JSON headers, Exchange),
    the SDK payer (sdk_get / sdk_sign) and hand-signed EIP-3009 proofs (eip3009_sign, hand_sign)
  * processes: start (logs to WORKDIR/NAME.log, pid appended to TOLLGATE_INTEROP_PIDFILE, killed at exit
    and on SIGTERM), Proc (stop / tail), wait_until, free_port, http_status, answers_http
  * configuration: make_config (the quickstart with listen / public_url / upstream.url /
    facilitators[0].url / storage.sqlite replaced), drop_top_level, set_facilitator_timeout,
    NO_LIMITS_YAML
  * start-up: child_env, require_file (a missing tool or binary is a failure, never a skip),
    start_upstream, start_sdk_facilitator (`sdk_facilitator.py`, waited for until /supported answers),
    startup_failed
  * talking to what runs: fac_stats (the SDK facilitator's /_local/stats), get (an Exchange, with the
    process log tail when the request fails), ServedGateway (a running `tollgate serve`: requests from a given
    source address, its 402, a paid retry, `tollgate trace` and `tollgate admin` against it), admin_ok
  * LocalServer: base of the in-process stub / proxy servers (serve, snapshot, stop)
  * teardown: finish (stop every process; keep the workdir and print log tails when tests failed or
    TOLLGATE_INTEROP_KEEP is set, else remove it)
  * shared assertions: check_error, check_402
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable

import httpx
import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data

from x402 import x402Client
from x402.http.clients import x402AsyncTransport
from x402.mechanisms.evm.exact import register_exact_evm_client
from x402.mechanisms.evm.signers import EthAccountSigner
from x402.schemas import PaymentRequired

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
TOLLGATE_BIN = Path(os.environ.get("TOLLGATE_BIN") or ROOT / ".build" / "debug" / "tollgate")
QUICKSTART = Path(os.environ.get("TOLLGATE_QUICKSTART")
                  or ROOT / "examples" / "quickstart" / "tollgate.yaml")
PIDFILE = os.environ.get("TOLLGATE_INTEROP_PIDFILE")

NETWORK = "eip155:84532"
USDC_BASE_SEPOLIA = "0x036CbD53842c5426634e7929541eC2318f3dCF7e"
QUICKSTART_PAY_TO = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"
PRICE_ATOMIC = "10000"                       # 0.01 USDC, 6 decimals
API_KEY = "tg_demo_reports_key"
CORR = "Tollgate-Correlation-Id"

# Error reason codes (x402 SDK codes + Tollgate's own offer-binding codes).
R_NONCE_USED = "invalid_exact_evm_nonce_already_used"
R_IN_PROGRESS = "payment_in_progress"   # a copy of a proof the first request still uses
R_VALUE = "invalid_exact_evm_payload_authorization_value_mismatch"
R_RECIPIENT = "invalid_exact_evm_payload_recipient_mismatch"
R_SIGNATURE = "invalid_exact_evm_payload_signature"
R_VALID_BEFORE = "invalid_exact_evm_payload_authorization_valid_before"
R_VALID_AFTER = "invalid_exact_evm_payload_authorization_valid_after"
R_TERMS = "offer_terms_mismatch"
R_OFFER_INVALID = "offer_invalid"
R_RESOURCE = "offer_resource_mismatch"
R_INVALID_PAYLOAD = "invalid_payload"
R_FAC_DOWN = "facilitator_unavailable"

HAPPY_STAGES = ["offer", "proof", "verify", "reserve", "facilitator_verify", "forward", "settle",
                "respond"]

# ----------------------------------------------------------------------------------------------
# Checks: soft assertions with PASS/FAIL lines
# ----------------------------------------------------------------------------------------------


class Checks:
    """Collects every check of one scenario; `done()` fails the test listing all failures."""

    def __init__(self, scenario: str) -> None:
        self.scenario = scenario
        self.failures: list[str] = []
        self.notes: list[str] = []
        print(f"\n=== {scenario}")

    def check(self, ok: bool, label: str, detail: Any = None) -> bool:
        if ok:
            print(f"PASS [{self.scenario}] {label}")
        else:
            msg = f"{label}" + (f" -- {detail}" if detail is not None else "")
            print(f"FAIL [{self.scenario}] {msg}")
            self.failures.append(msg)
        return ok

    def eq(self, actual: Any, expected: Any, label: str) -> bool:
        return self.check(actual == expected, f"{label} == {expected!r}", f"got {actual!r}")

    def note(self, text: str) -> None:
        print(f"  note [{self.scenario}] {text}")
        self.notes.append(text)

    def done(self) -> None:
        if self.failures:
            pytest.fail(f"{self.scenario}: {len(self.failures)} check(s) failed:\n  - "
                        + "\n  - ".join(self.failures), pytrace=False)


# ----------------------------------------------------------------------------------------------
# Wire helpers
# ----------------------------------------------------------------------------------------------


def b64json_decode(value: str | None) -> Any:
    """Strict decode of an x402 header: standard base64 of UTF-8 JSON. Raises on bad input."""
    if value is None:
        raise ValueError("header missing")
    return json.loads(base64.b64decode(value, validate=True).decode("utf-8"))


def b64json_encode(obj: Any) -> str:
    """Standard base64 of compact JSON (what the SDK sends)."""
    return base64.b64encode(json.dumps(obj, separators=(",", ":")).encode("utf-8")).decode("ascii")


def try_decode(value: str | None) -> tuple[Any, str | None]:
    try:
        return b64json_decode(value), None
    except Exception as exc:  # noqa: BLE001
        return None, f"{type(exc).__name__}: {exc} (raw={value!r:.200})"


def body_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except Exception:  # noqa: BLE001
        return None


def short(body: bytes, limit: int = 400) -> str:
    text = body.decode("utf-8", errors="replace")
    return text if len(text) <= limit else text[:limit] + "..."


@dataclass
class Exchange:
    method: str
    url: str
    request_headers: httpx.Headers
    status: int
    headers: httpx.Headers
    body: bytes

    def describe(self) -> str:
        """One line: status, the interesting headers (x402 ones decoded), the body."""
        hdrs: dict[str, Any] = {}
        for k, v in self.headers.items():
            k = k.lower()
            if k == "payment-required":
                pr, err = try_decode(v)
                hdrs[k] = {"error": pr.get("error"), "accepts": len(pr.get("accepts") or [])} \
                    if isinstance(pr, dict) else err
            elif k == "payment-response":
                hdrs[k] = try_decode(v)[0] or v
            elif k in ("retry-after", "tollgate-correlation-id", "content-type", "cache-control"):
                hdrs[k] = v
        return f"{self.method} {self.url} -> {self.status} headers={hdrs} body={short(self.body)}"


class RecordingTransport(httpx.AsyncBaseTransport):
    """Sits under the SDK's x402AsyncTransport and records what really went over the socket.
    (Idea from the x402 interop kit's x402_client.py.)"""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.exchanges: list[Exchange] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        body = await response.aread()
        self.exchanges.append(Exchange(request.method, str(request.url),
                                       httpx.Headers(request.headers), response.status_code,
                                       httpx.Headers(response.headers), body))
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


@dataclass
class SdkResult:
    payer: str
    exchanges: list[Exchange] = field(default_factory=list)
    error: str | None = None

    @property
    def first(self) -> Exchange | None:
        return self.exchanges[0] if self.exchanges else None

    @property
    def last(self) -> Exchange | None:
        return self.exchanges[-1] if self.exchanges else None

    @property
    def paid(self) -> Exchange | None:
        """The exchange that carried PAYMENT-SIGNATURE (the SDK's paid retry)."""
        for ex in reversed(self.exchanges):
            if "payment-signature" in ex.request_headers:
                return ex
        return None

    def describe(self) -> str:
        lines = [f"payer={self.payer} error={self.error}"]
        lines += ["  " + ex.describe() for ex in self.exchanges]
        return "\n".join(lines)


def sdk_client(account) -> x402Client:
    """The stock SDK client: exact-EVM registered, DEFAULT spend controls (known assets, <= $1)."""
    client = x402Client()
    register_exact_evm_client(client, EthAccountSigner(account))
    return client


def sdk_get(url: str, headers: dict[str, str] | None = None, account=None,
            timeout: float = 60.0) -> SdkResult:
    """A GET made by the SDK's own httpx payment transport (402 -> sign -> retry once)."""
    account = account or Account.create()
    recorder = RecordingTransport()
    transport = x402AsyncTransport(sdk_client(account), transport=recorder)
    result = SdkResult(payer=account.address)

    async def go() -> None:
        async with httpx.AsyncClient(transport=transport, timeout=timeout) as http:
            await http.get(url, headers=headers or {})

    try:
        asyncio.run(go())
    except Exception as exc:  # noqa: BLE001 - the SDK refusing to pay is a result too
        result.error = f"{type(exc).__name__}: {exc}"
        if exc.__cause__ is not None:
            result.error += f" (cause: {type(exc.__cause__).__name__}: {exc.__cause__})"
    result.exchanges = recorder.exchanges
    return result


def sdk_sign(payment_required: dict[str, Any], account=None) -> dict[str, Any]:
    """A proper PaymentPayload (as a JSON dict) signed by the SDK client for the given terms."""
    account = account or Account.create()
    pr = PaymentRequired.model_validate(payment_required)
    payload = asyncio.run(sdk_client(account).create_payment_payload(pr))
    return json.loads(payload.model_dump_json(by_alias=True, exclude_none=True))


_EIP712_TYPES = {
    "EIP712Domain": [
        {"name": "name", "type": "string"},
        {"name": "version", "type": "string"},
        {"name": "chainId", "type": "uint256"},
        {"name": "verifyingContract", "type": "address"},
    ],
    "TransferWithAuthorization": [
        {"name": "from", "type": "address"},
        {"name": "to", "type": "address"},
        {"name": "value", "type": "uint256"},
        {"name": "validAfter", "type": "uint256"},
        {"name": "validBefore", "type": "uint256"},
        {"name": "nonce", "type": "bytes32"},
    ],
}


def eip3009_sign(account, *, to: str, value: int, chain_id: int, contract: str, name: str,
                 version: str, valid_after: int, valid_before: int, nonce: bytes) -> str:
    """The EIP-712 signature (0x hex) of an EIP-3009 TransferWithAuthorization, made with eth_account."""
    typed = {"types": _EIP712_TYPES, "primaryType": "TransferWithAuthorization",
             "domain": {"name": name, "version": version, "chainId": chain_id,
                        "verifyingContract": contract},
             "message": {"from": account.address, "to": to, "value": value,
                         "validAfter": valid_after, "validBefore": valid_before, "nonce": nonce}}
    signed = Account.sign_message(encode_typed_data(full_message=typed), private_key=account.key)
    return "0x" + bytes(signed.signature).hex()


def hand_sign(payment_required: dict[str, Any], valid_after: int, valid_before: int,
              account=None, offer_index: int = 0) -> dict[str, Any]:
    """A PaymentPayload signed directly with eth_account (EIP-3009 TransferWithAuthorization),
    with a chosen validity window; `accepted` is the offered entry copied whole."""
    account = account or Account.create()
    offer = payment_required["accepts"][offer_index]
    nonce = secrets.token_bytes(32)
    signature = eip3009_sign(account, to=offer["payTo"], value=int(offer["amount"]),
                             chain_id=int(offer["network"].split(":")[1]), contract=offer["asset"],
                             name=offer["extra"]["name"], version=offer["extra"]["version"],
                             valid_after=valid_after, valid_before=valid_before, nonce=nonce)
    return {
        "x402Version": 2,
        "resource": payment_required.get("resource"),
        "accepted": json.loads(json.dumps(offer)),
        "payload": {
            "signature": signature,
            "authorization": {"from": account.address, "to": offer["payTo"],
                              "value": str(offer["amount"]), "validAfter": str(valid_after),
                              "validBefore": str(valid_before), "nonce": "0x" + nonce.hex()},
        },
    }


def flip_hex_digit(s: str, index: int) -> str:
    c = s[index]
    repl = "0" if c.lower() != "0" else "1"
    return s[:index] + repl + s[index + 1:]


def alter_token_char(token: str) -> str:
    """Change exactly one alphanumeric character near the middle of the token (same class, so the
    token keeps its alphabet; a middle base64/hex character always changes the decoded bytes)."""
    order = sorted(range(len(token)), key=lambda i: abs(i - len(token) // 2))
    for i in order:
        c = token[i]
        if c.isdigit():
            return token[:i] + ("1" if c != "1" else "2") + token[i + 1:]
        if c.isalpha() and c.isascii():
            if c.islower():
                return token[:i] + ("a" if c != "a" else "b") + token[i + 1:]
            return token[:i] + ("A" if c != "A" else "B") + token[i + 1:]
    raise ValueError(f"no alphanumeric character in token {token!r}")


# ----------------------------------------------------------------------------------------------
# Processes
# ----------------------------------------------------------------------------------------------

_children: list[subprocess.Popen] = []


def _kill_children() -> None:
    for p in _children:
        if p.poll() is None:
            try:
                p.terminate()
                p.wait(timeout=5)
            except Exception:  # noqa: BLE001
                try:
                    p.kill()
                    p.wait(timeout=5)
                except Exception:  # noqa: BLE001
                    pass


atexit.register(_kill_children)


def _on_sigterm(signum, frame):  # noqa: ARG001
    _kill_children()
    raise SystemExit(128 + signum)


signal.signal(signal.SIGTERM, _on_sigterm)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    log: Path

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(text[-lines:])

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=5)


def track(popen: subprocess.Popen) -> subprocess.Popen:
    """Kill `popen` when this process ends (and tell scripts/interop.sh, which kills what is left)."""
    _children.append(popen)
    if PIDFILE:
        with open(PIDFILE, "a") as f:
            f.write(f"{popen.pid}\n")
    return popen


def kill_tracked() -> None:
    _kill_children()


def start(name: str, argv: list[str], workdir: Path, env: dict[str, str] | None = None) -> Proc:
    log = workdir / f"{name}.log"
    fh = open(log, "ab")
    popen = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             cwd=workdir, env=env)
    fh.close()
    return Proc(name, track(popen), log)


def wait_until(what: str, probe: Callable[[], Any], proc: Proc, timeout: float) -> None:
    """Poll `probe` (truthy = ready) every 0.2 s; fail early if the process exits."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode} before {what}; "
                               f"log tail:\n{proc.tail()}")
        try:
            result = probe()
            if result:
                return
            last = f"probe returned {result!r}"
        except Exception as exc:  # noqa: BLE001
            last = f"{type(exc).__name__}: {exc}"
        time.sleep(0.2)
    raise RuntimeError(f"timeout ({timeout}s) waiting for {what} (last: {last}); "
                       f"{proc.name} log tail:\n{proc.tail()}")


def http_status(url: str) -> int:
    return httpx.get(url, timeout=2.0).status_code


def answers_http(url: str) -> bool:
    """True once anything answers HTTP at `url` (any status)."""
    httpx.get(url, timeout=2.0)
    return True


def make_config(template: str, gw_port: int, upstream_port: int, facilitator_url: str,
                sqlite_path: Path) -> str:
    """The quickstart config with listen / public_url / upstream.url / facilitators[0].url /
    storage.sqlite replaced; everything else (prices, routes, clients, assets) kept verbatim."""
    out: list[str] = []
    done = {"listen": 0, "public_url": 0, "upstream.url": 0, "facilitators.url": 0,
            "storage.sqlite": 0}
    section = None
    for line in template.splitlines():
        top = re.match(r"^([A-Za-z_][A-Za-z0-9_]*):", line)
        if top:
            section = top.group(1)
        if re.match(r"^listen:\s", line):
            line = f"listen: 127.0.0.1:{gw_port}"
            done["listen"] += 1
        elif re.match(r"^public_url:\s", line):
            line = f"public_url: http://127.0.0.1:{gw_port}"
            done["public_url"] += 1
        elif section == "upstream" and re.match(r"^\s+url:\s", line) and not done["upstream.url"]:
            line = re.sub(r"url:.*$", f"url: http://127.0.0.1:{upstream_port}", line)
            done["upstream.url"] += 1
        elif (section == "facilitators" and re.match(r"^\s+(- )?url:\s", line)
              and not done["facilitators.url"]):
            line = re.sub(r"url:.*$", f"url: {facilitator_url}", line)
            done["facilitators.url"] += 1
        elif section == "storage" and re.match(r"^\s+sqlite:\s", line):
            line = re.sub(r"sqlite:.*$", f"sqlite: {sqlite_path}", line)
            done["storage.sqlite"] += 1
        out.append(line)
    missing = [k for k, n in done.items() if n != 1]
    if missing:
        raise RuntimeError(f"quickstart config {QUICKSTART} no longer has the expected keys: "
                           f"{missing}")
    return "\n".join(out) + "\n"




# `limits` all off (appended after drop_top_level(text, "limits")).
NO_LIMITS_YAML = """
limits:
  unpaid: off
  paid: off
  invalid: off
"""


def drop_top_level(text: str, key: str) -> str:
    """Remove a top-level `key:` block (its line and the indented / comment lines under it)."""
    out, skipping = [], False
    for line in text.splitlines():
        if re.match(rf"^{re.escape(key)}:", line):
            skipping = True
            continue
        if skipping and (line.startswith((" ", "\t")) or line.strip() == ""
                         or line.lstrip().startswith("#")):
            continue
        skipping = False
        out.append(line)
    return "\n".join(out) + "\n"


def set_facilitator_timeout(text: str, seconds: int) -> str:
    out, section, done = [], None, 0
    for line in text.splitlines():
        top = re.match(r"^([A-Za-z_][A-Za-z0-9_]*):", line)
        if top:
            section = top.group(1)
        if section == "facilitators" and re.match(r"^\s+timeout_seconds:\s", line) and not done:
            line = re.sub(r"timeout_seconds:.*$", f"timeout_seconds: {seconds}", line)
            done += 1
        out.append(line)
    if done != 1:
        raise RuntimeError("facilitators[0].timeout_seconds not found in the quickstart")
    return "\n".join(out) + "\n"


# ----------------------------------------------------------------------------------------------
# Start-up, requests, teardown
# ----------------------------------------------------------------------------------------------


def require_file(path: Path, what: str, hint: str | None = None) -> None:
    """A missing tool, binary or file is a failure, never a skip (the suite would otherwise pass
    without testing anything)."""
    if not path.exists():
        pytest.fail(f"{what} not found: {path}" + (f" ({hint})" if hint else ""), pytrace=False)


def child_env(**extra: str) -> dict[str, str]:
    """The environment of the processes a module starts: this one's, a fresh TOLLGATE_SECRET (64 hex
    chars), `extra`, and no TOLLGATE_INTEROP_PIDFILE (only this process appends to it)."""
    env = dict(os.environ)
    env["TOLLGATE_SECRET"] = secrets.token_hex(32)
    env.update(extra)
    env.pop("TOLLGATE_INTEROP_PIDFILE", None)
    return env


def new_workdir(prefix: str, binary: Path) -> Path:
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    print(f"\nworkdir: {workdir}\nbinary:  {binary}")
    return workdir


def start_upstream(workdir: Path, env: dict[str, str], port: int | None = None) -> tuple[Proc, int, str]:
    """`$TOLLGATE_BIN sample-upstream` on a free port, waited for until /health answers (< 500)."""
    port = port or free_port()
    proc = start("upstream", [str(TOLLGATE_BIN), "sample-upstream", "--listen", f"127.0.0.1:{port}"],
                 workdir, env)
    url = f"http://127.0.0.1:{port}"
    wait_until("sample upstream /health", lambda: http_status(url + "/health") < 500, proc, 30)
    return proc, port, url


def start_sdk_facilitator(workdir: Path, env: dict[str, str]) -> tuple[Proc, str]:
    """The SDK's own facilitator (`sdk_facilitator.py`, quickstart network and payee) on a port it
    picks, waited for until GET /supported answers 200. Returns the process and its URL."""
    port_file = workdir / "facilitator.port"
    proc = start("facilitator", [
        sys.executable, str(HERE / "sdk_facilitator.py"), "--port", "0", "--port-file",
        str(port_file), "--network", NETWORK, "--pay-to", QUICKSTART_PAY_TO,
        "--log-file", str(workdir / "facilitator-calls.log")], workdir, env)
    wait_until("facilitator port file", port_file.exists, proc, 30)
    url = f"http://127.0.0.1:{port_file.read_text().strip()}"
    wait_until("facilitator /supported", lambda: http_status(url + "/supported") == 200, proc, 30)
    return proc, url


def startup_failed(procs: dict[str, Proc], workdir: Path, exc: BaseException | str,
                   *also: Callable[[], None]) -> None:
    """Stop what started (`also`: further stop callbacks) and fail: the environment did not start."""
    for p in procs.values():
        p.stop()
    for stop in also:
        stop()
    pytest.fail(f"environment did not start: {exc}\n(workdir kept: {workdir})", pytrace=False)


def fac_stats(facilitator: str) -> dict[str, Any]:
    """The SDK facilitator's counters and balances (GET /_local/stats)."""
    return httpx.get(facilitator + "/_local/stats", timeout=5).json()


def get(url: str, proc: Proc, headers: dict[str, str] | None = None,
        client: httpx.Client | None = None, ip: str | None = None) -> Exchange:
    """GET `url` (served by `proc`; with `client`, bound to source address `ip`, if given); a failed
    request raises with the process's log tail."""
    try:
        if client is None:
            r = httpx.get(url, headers=headers or {}, timeout=20)
        else:
            r = client.get(url, headers=headers or {})
    except httpx.HTTPError as exc:
        source = f" from {ip}" if ip else ""
        raise AssertionError(f"GET {url}{source} failed: {exc!r}; {proc.name} alive={proc.alive()} "
                             f"log tail:\n{proc.tail()}") from exc
    return Exchange("GET", url, r.request.headers, r.status_code, r.headers, r.content)


def finish(workdir: Path, procs: dict[str, Proc], failed: int | bool, tail_lines: int = 30) -> None:
    """Stop every process; keep the workdir and print each log tail when tests failed (or
    TOLLGATE_INTEROP_KEEP is set), else remove the workdir."""
    for p in procs.values():
        p.stop()
    if failed or os.environ.get("TOLLGATE_INTEROP_KEEP"):
        what = f"{int(failed)} test(s) failed; " if failed is not True else "the test failed; "
        print(f"\n--- {what}workdir kept: {workdir}")
        for name, p in procs.items():
            print(f"--- {name} log tail ({p.log}):\n{p.tail(tail_lines)}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)


def reply(handler: BaseHTTPRequestHandler, status: int, headers, body: bytes) -> None:
    """Answers from a stub or proxy handler (`headers`: pairs or a dict); a client that went away is not an error."""
    try:
        handler.send_response(status)
        for name, value in (headers.items() if isinstance(headers, dict) else headers):
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
        handler.wfile.flush()
    except OSError:
        pass


class LocalServer:
    """Base of an HTTP server run by this process on a free 127.0.0.1 port (a stub or a proxy the
    gateway talks to). Subclasses set `lock` and `counts`, then call `serve(Handler)`."""

    lock: threading.Lock
    counts: dict[str, int]

    def serve(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def snapshot(self) -> dict[str, int]:
        with self.lock:
            return dict(self.counts)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# ----------------------------------------------------------------------------------------------
# Shared assertions
# ----------------------------------------------------------------------------------------------


def check_error(c: Checks, ex: Exchange | None, status: int, error: str, reason: str | None,
                label: str) -> dict[str, Any] | None:
    """status + Tollgate JSON error body {"error","reason","correlationId"} (+ header id)."""
    if not c.check(ex is not None, f"{label}: a response was received"):
        return None
    c.check(ex.status == status, f"{label}: status == {status}", ex.describe())
    body = body_json(ex.body)
    if not c.check(isinstance(body, dict), f"{label}: body is a JSON object",
                   f"body={short(ex.body)}"):
        return None
    c.eq(body.get("error"), error, f"{label}: body.error")
    if reason is None:
        c.check(isinstance(body.get("reason"), str) and body.get("reason") != "",
                f"{label}: body.reason is a non-empty code", f"body={body}")
    else:
        c.eq(body.get("reason"), reason, f"{label}: body.reason")
    cid = ex.headers.get(CORR)
    c.check(bool(cid), f"{label}: has {CORR} header", ex.describe())
    c.eq(body.get("correlationId"), cid, f"{label}: body.correlationId equals the header")
    return body


def check_402(c: Checks, ex: Exchange | None, pr_error: str, label: str,
              body_reason: str | None = None) -> dict[str, Any] | None:
    """A 402 with a decodable PAYMENT-REQUIRED whose error is `pr_error`; JSON error body."""
    reason = body_reason if body_reason is not None else (
        None if pr_error == "Payment required" else pr_error)
    check_error(c, ex, 402, "payment_required", reason, label)
    if ex is None:
        return None
    pr, err = try_decode(ex.headers.get("payment-required"))
    if not c.check(pr is not None, f"{label}: PAYMENT-REQUIRED header decodes (base64 JSON)", err):
        return None
    c.eq(pr.get("x402Version"), 2, f"{label}: PAYMENT-REQUIRED.x402Version")
    c.eq(pr.get("error"), pr_error, f"{label}: PAYMENT-REQUIRED.error")
    c.check(isinstance(pr.get("accepts"), list) and len(pr["accepts"]) > 0,
            f"{label}: PAYMENT-REQUIRED.accepts is non-empty", pr)
    c.check("no-store" in (ex.headers.get("cache-control") or ""),
            f"{label}: Cache-Control: no-store", ex.headers.get("cache-control"))
    return pr


# ----------------------------------------------------------------------------------------------
# Appended helpers (test_v1.py, test_discovery.py): the development facilitator, config editing
# ----------------------------------------------------------------------------------------------


def start_dev_facilitator(workdir: Path, env: dict[str, str], name: str = "dev-facilitator"
                          ) -> tuple[Proc, str, Path]:
    """`$TOLLGATE_BIN facilitator --dev` (quickstart network) on a free port with its own ledger file,
    waited for until GET /supported answers 200. Returns the process, its URL and the ledger path (its
    `transfer` table is what really moved; GET /_dev/stats counts the rows)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    ledger = workdir / f"{name}.sqlite"
    proc = start(name, [str(TOLLGATE_BIN), "facilitator", "--dev", "--listen", f"127.0.0.1:{port}", "--db",
                        str(ledger), "--network", NETWORK], workdir, env)
    wait_until(f"{name} /supported", lambda: http_status(url + "/supported") == 200, proc, 30)
    return proc, url, ledger


def dev_transfers(ledger: Path, payer: str | None = None) -> list[dict[str, Any]]:
    """The development facilitator's ledger rows (table `transfer`: tx, network, asset, payer, payee,
    amount, nonce, at), all or those of `payer` (case-insensitive); [] before the table exists."""
    import sqlite3
    if not ledger.exists():
        return []
    con = sqlite3.connect(f"file:{ledger}?mode=ro", uri=True, timeout=10)
    con.row_factory = sqlite3.Row
    try:
        rows = [dict(r) for r in con.execute("SELECT * FROM transfer ORDER BY at, tx")]
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return []
        raise
    finally:
        con.close()
    if payer is not None:
        rows = [r for r in rows if str(r.get("payer", "")).lower() == payer.lower()]
    return rows


def insert_routes_first(text: str, routes_yaml: str) -> str:
    """Insert route entries (YAML list items indented two spaces) first under `routes:` (first match
    wins, so they take precedence over the quickstart's)."""
    lines = text.splitlines()
    idx = next((i for i, line in enumerate(lines) if re.match(r"^routes:\s*$", line)), None)
    if idx is None:
        raise RuntimeError("config has no top-level `routes:` line")
    return "\n".join(lines[:idx + 1] + routes_yaml.rstrip("\n").splitlines() + lines[idx + 1:]) + "\n"


def tollgate_check(config: Path, workdir: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """`$TOLLGATE_BIN check --config CONFIG` (captured; the caller judges the exit status)."""
    return subprocess.run([str(TOLLGATE_BIN), "check", "--config", str(config)], cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=60)


# ----------------------------------------------------------------------------------------------
# HTTP from a chosen loopback source address (each scenario its own, so rate limits do not interfere)
# ----------------------------------------------------------------------------------------------

_clients: dict[str, httpx.Client] = {}
_clients_lock = threading.Lock()


@dataclass
class ServedGateway:
    """A running `tollgate serve` and the CLI commands run against it (a suite subclasses it for its own wire)."""
    name: str
    url: str
    config: Path
    workdir: Path
    proc: Proc
    env: dict[str, str]
    admin_url: str | None = None

    def request(self, path: str, headers: dict[str, str] | None = None, ip: str = "127.0.0.1",
                method: str = "GET", client: httpx.Client | None = None, content: bytes | None = None) -> Exchange:
        """`method path` from source address `ip`; a failed request raises with the gateway's log tail."""
        url = self.url + path
        try:
            r = (client or client_from(ip)).request(method, url, headers=headers or {}, content=content)
        except httpx.HTTPError as exc:
            raise AssertionError(f"{method} {url} from {ip} failed: {exc!r}; {self.proc.name} alive="
                                 f"{self.proc.alive()} log tail:\n{self.proc.tail()}") from exc
        return Exchange(method, url, r.request.headers, r.status_code, r.headers, r.content)

    def get(self, path: str, headers: dict[str, str] | None = None, ip: str = "127.0.0.1") -> Exchange:
        return self.request(path, headers, ip=ip)

    def offer(self, path: str = "/datasets/prices", headers: dict[str, str] | None = None,
              ip: str = "127.0.0.1") -> tuple[Exchange, dict[str, Any]]:
        """A fresh 402 and its decoded PAYMENT-REQUIRED; anything else fails the test."""
        ex = self.get(path, headers, ip)
        if ex.status != 402:
            raise AssertionError(f"expected a 402 offer for {path}: {ex.describe()}")
        return ex, b64json_decode(ex.headers.get("payment-required"))

    def send(self, path: str, payload: dict[str, Any] | str, headers: dict[str, str] | None = None,
             ip: str = "127.0.0.1", header: str = "PAYMENT-SIGNATURE") -> Exchange:
        """The retry carrying `payload` (a dict is base64-encoded JSON, a string is sent as it is) in `header`."""
        value = payload if isinstance(payload, str) else b64json_encode(payload)
        return self.get(path, {**(headers or {}), header: value}, ip)

    def trace(self, cid: str) -> tuple[int, str, str]:
        """`tollgate trace CID --json`: exit status, stdout, stderr."""
        p = subprocess.run([str(TOLLGATE_BIN), "trace", cid, "--config", str(self.config), "--json"],
                           cwd=self.workdir, env=self.env, capture_output=True, text=True, timeout=60)
        return p.returncode, p.stdout, p.stderr

    def admin(self, *args: str, token: bool = True) -> tuple[int, str, str]:
        """`tollgate admin ARGS --url ADMIN` (the token from TOLLGATE_ADMIN_TOKEN, or none with `token=False`)."""
        env = dict(self.env)
        if not token:
            env.pop("TOLLGATE_ADMIN_TOKEN", None)
        p = subprocess.run([str(TOLLGATE_BIN), "admin", *args, "--url", self.admin_url or ""],
                           cwd=self.workdir, env=env, capture_output=True, text=True, timeout=60)
        return p.returncode, p.stdout, p.stderr


def admin_ok(c: Checks, g: ServedGateway, label: str, *args: str, actor: str) -> dict[str, Any]:
    """`tollgate admin ARGS --actor ACTOR`, checked to exit 0 and print JSON; the JSON (empty when it did not)."""
    rc, out, err = g.admin(*args, "--actor", actor)
    print(f"$ tollgate admin {' '.join(args)} -> rc={rc} {out.strip()} {err.strip()}")
    c.check(rc == 0, f"{label}: CLI exit status 0", f"rc={rc} stderr={err.strip()}")
    try:
        return json.loads(out)
    except json.JSONDecodeError:
        c.check(False, f"{label}: CLI printed JSON", out)
        return {}


def client_from(ip: str) -> httpx.Client:
    with _clients_lock:
        c = _clients.get(ip)
        if c is None:
            c = httpx.Client(transport=httpx.HTTPTransport(local_address=ip), timeout=30)
            _clients[ip] = c
        return c


def close_clients() -> None:
    """Closes every client `client_from` made (a module's teardown)."""
    with _clients_lock:
        for c in _clients.values():
            c.close()
        _clients.clear()
