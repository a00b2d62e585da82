#!/usr/bin/env python3
"""Tollgate interop suite: the gateway against the OFFICIAL x402 Python SDK (PyPI x402==2.25.0).

    TOLLGATE_BIN=.build/debug/tollgate python -m pytest Tests/Interop/test_interop.py -v -s
    (or scripts/interop.sh, which makes the venv and runs exactly this)

What runs, all on free 127.0.0.1 ports, offline:
  * the sample upstream            `$TOLLGATE_BIN sample-upstream --listen 127.0.0.1:PORT`
  * the SDK's own facilitator      `sdk_facilitator.py` (x402Facilitator + ExactEvmFacilitatorScheme
                                    over an in-memory EIP-3009 chain)
  * the gateway                    `$TOLLGATE_BIN serve --config CFG`, CFG = the quickstart
                                    (examples/quickstart/tollgate.yaml) with listen / public_url /
                                    upstream.url / facilitators[0].url / storage.sqlite replaced
and the payer is the SDK's own httpx transport (`x402AsyncTransport` + `register_exact_evm_client`,
default spend controls), or hand-made proofs (SDK-signed then tampered, or signed with eth_account).

Scenarios (tests run in file order; later ones use results of earlier ones):
  a  happy path            b  replay of (a)'s PAYMENT-SIGNATURE      c  API-key route (401/402/200)
  d  tampered proofs       e  expired / not-yet-valid                 f  proof sent to another URL
  g  undecodable header    h  facilitator down -> 503 + Retry-After   i  `tollgate trace --json`

Every check prints a PASS/FAIL line; a test fails if any of its checks failed (all checks of a
test run, so one run shows every deviation). Environment:
  TOLLGATE_BIN              gateway binary (default <repo>/.build/debug/tollgate)
  TOLLGATE_QUICKSTART       quickstart config to derive the test config from
  TOLLGATE_INTEROP_KEEP=1   keep the temp dir (config, sqlite, logs) after the run
  TOLLGATE_INTEROP_PIDFILE  append the pid of every process started here (scripts/interop.sh
                            kills them from its trap even if this process is killed hard)
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
import time
from dataclasses import dataclass, field
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


def hand_sign(payment_required: dict[str, Any], valid_after: int, valid_before: int,
              account=None, offer_index: int = 0) -> dict[str, Any]:
    """A PaymentPayload signed directly with eth_account (EIP-3009 TransferWithAuthorization),
    with a chosen validity window; `accepted` is the offered entry copied whole."""
    account = account or Account.create()
    offer = payment_required["accepts"][offer_index]
    chain_id = int(offer["network"].split(":")[1])
    nonce = secrets.token_bytes(32)
    message = {"from": account.address, "to": offer["payTo"], "value": int(offer["amount"]),
               "validAfter": valid_after, "validBefore": valid_before, "nonce": nonce}
    typed = {"types": _EIP712_TYPES, "primaryType": "TransferWithAuthorization",
             "domain": {"name": offer["extra"]["name"], "version": offer["extra"]["version"],
                        "chainId": chain_id, "verifyingContract": offer["asset"]},
             "message": message}
    signed = Account.sign_message(encode_typed_data(full_message=typed), private_key=account.key)
    return {
        "x402Version": 2,
        "resource": payment_required.get("resource"),
        "accepted": json.loads(json.dumps(offer)),
        "payload": {
            "signature": "0x" + bytes(signed.signature).hex(),
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


def start(name: str, argv: list[str], workdir: Path, env: dict[str, str] | None = None) -> Proc:
    log = workdir / f"{name}.log"
    fh = open(log, "ab")
    popen = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             cwd=workdir, env=env)
    fh.close()
    _children.append(popen)
    if PIDFILE:
        with open(PIDFILE, "a") as f:
            f.write(f"{popen.pid}\n")
    return Proc(name, popen, log)


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


@dataclass
class Env:
    workdir: Path
    config: Path
    gateway: str
    upstream: str
    facilitator: str
    procs: dict[str, Proc]
    env: dict[str, str]
    state: dict[str, Any] = field(default_factory=dict)

    def fac_stats(self) -> dict[str, Any]:
        return httpx.get(self.facilitator + "/_local/stats", timeout=5).json()

    def get(self, path: str, headers: dict[str, str] | None = None) -> Exchange:
        url = self.gateway + path
        try:
            r = httpx.get(url, headers=headers or {}, timeout=20)
        except httpx.HTTPError as exc:
            gw = self.procs["gateway"]
            raise AssertionError(f"GET {url} failed: {exc!r}; gateway alive={gw.alive()} "
                                 f"log tail:\n{gw.tail()}") from exc
        return Exchange("GET", url, r.request.headers, r.status_code, r.headers, r.content)

    def offer(self, path: str = "/datasets/prices",
              headers: dict[str, str] | None = None) -> tuple[Exchange, dict[str, Any]]:
        """A fresh 402 and its decoded PAYMENT-REQUIRED."""
        ex = self.get(path, headers)
        if ex.status != 402:
            raise AssertionError(f"expected a 402 offer for {path}: {ex.describe()}")
        return ex, b64json_decode(ex.headers.get("payment-required"))

    def trace(self, correlation_id: str) -> tuple[int, str, str]:
        p = subprocess.run([str(TOLLGATE_BIN), "trace", correlation_id, "--config",
                            str(self.config), "--json"], cwd=self.workdir, env=self.env,
                           capture_output=True, text=True, timeout=60)
        return p.returncode, p.stdout, p.stderr


@pytest.fixture(scope="module")
def env(request) -> Env:
    if not TOLLGATE_BIN.exists():
        pytest.fail(f"gateway binary not found: {TOLLGATE_BIN} (build it first, or set "
                    f"TOLLGATE_BIN)", pytrace=False)
    workdir = Path(tempfile.mkdtemp(prefix="tollgate-interop-"))
    procs: dict[str, Proc] = {}
    child_env = dict(os.environ)
    child_env["TOLLGATE_SECRET"] = secrets.token_hex(32)       # 64 hex chars
    child_env.pop("TOLLGATE_INTEROP_PIDFILE", None)
    print(f"\nworkdir: {workdir}\nbinary:  {TOLLGATE_BIN}")
    try:
        # 1. sample upstream
        up_port = free_port()
        procs["upstream"] = start("upstream", [str(TOLLGATE_BIN), "sample-upstream", "--listen",
                                               f"127.0.0.1:{up_port}"], workdir, child_env)
        upstream = f"http://127.0.0.1:{up_port}"
        wait_until("sample upstream /health", lambda: http_status(upstream + "/health") < 500,
                   procs["upstream"], 30)

        # 2. the SDK facilitator
        port_file = workdir / "facilitator.port"
        procs["facilitator"] = start("facilitator", [
            sys.executable, str(HERE / "sdk_facilitator.py"), "--port", "0", "--port-file",
            str(port_file), "--network", NETWORK, "--pay-to", QUICKSTART_PAY_TO,
            "--log-file", str(workdir / "facilitator-calls.log")], workdir, child_env)
        wait_until("facilitator port file", port_file.exists, procs["facilitator"], 30)
        facilitator = f"http://127.0.0.1:{port_file.read_text().strip()}"
        wait_until("facilitator /supported", lambda: http_status(facilitator + "/supported") == 200,
                   procs["facilitator"], 30)

        # 3. the gateway
        gw_port = free_port()
        config = workdir / "tollgate.yaml"
        config.write_text(make_config(QUICKSTART.read_text(), gw_port, up_port, facilitator,
                                      workdir / "gateway.sqlite"))
        procs["gateway"] = start("gateway", [str(TOLLGATE_BIN), "serve", "--config", str(config)],
                                 workdir, child_env)
        gateway = f"http://127.0.0.1:{gw_port}"
        # Up = answers HTTP; then give /health a moment to turn 200 (it is a pass-through to the
        # upstream). test_0_health asserts the 200 itself, so a wrong /health status is reported
        # as one failed scenario instead of hiding every other one.
        wait_until("gateway answering HTTP", lambda: answers_http(gateway + "/health"),
                   procs["gateway"], 60)
        try:
            wait_until("gateway GET /health == 200",
                       lambda: http_status(gateway + "/health") == 200, procs["gateway"], 5)
        except RuntimeError as exc:
            print(f"warning: {str(exc).splitlines()[0]}")
        # Paid routes open once the gateway's facilitator check has succeeded (503 until then).
        wait_until("gateway offers terms (facilitator check done)",
                   lambda: http_status(gateway + "/datasets/prices") == 402, procs["gateway"], 20)
    except Exception as exc:
        for p in procs.values():
            p.stop()
        pytest.fail(f"environment did not start: {exc}\n(workdir kept: {workdir})",
                    pytrace=False)

    e = Env(workdir, config, gateway, upstream, facilitator, procs, child_env)
    print(f"gateway {gateway}  upstream {upstream}  facilitator {facilitator}")
    yield e

    for p in procs.values():
        p.stop()
    failed = request.session.testsfailed
    if failed or os.environ.get("TOLLGATE_INTEROP_KEEP"):
        print(f"\n--- {failed} test(s) failed; workdir kept: {workdir}")
        for name, p in procs.items():
            print(f"--- {name} log tail ({p.log}):\n{p.tail(30)}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)


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


def check_quickstart_offer(c: Checks, pr: dict[str, Any], env: Env, path: str, label: str) -> None:
    accepts = pr.get("accepts") or [{}]
    offer = accepts[0]
    c.eq(offer.get("scheme"), "exact", f"{label}: accepts[0].scheme")
    c.eq(offer.get("network"), NETWORK, f"{label}: accepts[0].network")
    c.eq(str(offer.get("asset", "")).lower(), USDC_BASE_SEPOLIA.lower(), f"{label}: accepts[0].asset")
    c.eq(offer.get("amount"), PRICE_ATOMIC, f"{label}: accepts[0].amount")
    c.eq(str(offer.get("payTo", "")).lower(), QUICKSTART_PAY_TO.lower(), f"{label}: accepts[0].payTo")
    extra = offer.get("extra") or {}
    c.eq((extra.get("name"), extra.get("version")), ("USDC", "2"),
         f"{label}: accepts[0].extra name/version")
    c.check(isinstance(extra.get("tollgate"), str) and len(extra["tollgate"]) > 10,
            f"{label}: accepts[0].extra.tollgate is an offer token string", extra)
    c.eq((pr.get("resource") or {}).get("url"), env.gateway + path, f"{label}: resource.url")


def send_proof(env: Env, path: str, payload: dict[str, Any]) -> Exchange:
    return env.get(path, {"PAYMENT-SIGNATURE": b64json_encode(payload)})


# ----------------------------------------------------------------------------------------------
# Scenarios
# ----------------------------------------------------------------------------------------------


def test_0_health(env: Env) -> None:
    c = Checks("0: GET /health is an unpriced pass-through (readiness probe)")
    ex = env.get("/health")
    print(ex.describe())
    c.eq(ex.status, 200, "GET /health status")
    c.check("payment-required" not in ex.headers, "no PAYMENT-REQUIRED header", ex.describe())
    c.check(bool(ex.headers.get(CORR)), f"has {CORR} header", ex.describe())
    up = httpx.get(env.upstream + "/health", timeout=5)
    c.eq(ex.status, up.status_code, "same status as the upstream's own /health")
    c.done()


def test_a_sdk_client_pays(env: Env) -> None:
    c = Checks("a: SDK client pays /datasets/prices")
    before = env.fac_stats()
    res = sdk_get(env.gateway + "/datasets/prices")
    print(res.describe())
    c.check(res.error is None, "SDK transport raised no error", res.error)
    c.eq(len(res.exchanges), 2, "number of HTTP exchanges (402 then paid retry)")
    first, last = res.first, res.last
    pr = check_402(c, first, "Payment required", "first response")
    if pr:
        check_quickstart_offer(c, pr, env, "/datasets/prices", "first response")
    paid = res.paid
    c.check(paid is not None and paid is last, "the last request carried PAYMENT-SIGNATURE")
    if last is not None:
        c.eq(last.status, 200, "final status")
        receipt, err = try_decode(last.headers.get("payment-response"))
        c.check(receipt is not None, "PAYMENT-RESPONSE header decodes (base64 JSON)", err)
        receipt = receipt or {}
        c.eq(receipt.get("success"), True, "receipt.success")
        tx = receipt.get("transaction")
        c.check(isinstance(tx, str) and re.fullmatch(r"0x[0-9a-fA-F]{64}", tx or "") is not None,
                "receipt.transaction is a tx hash", receipt)
        c.eq(receipt.get("network"), NETWORK, "receipt.network")
        c.eq(str(receipt.get("payer", "")).lower(), res.payer.lower(), "receipt.payer")
        c.check(isinstance(body_json(last.body), (dict, list)),
                "final body is JSON from the sample upstream", short(last.body))
        cid = last.headers.get(CORR)
        c.check(bool(cid), f"final response has {CORR}", last.describe())
        if first is not None:
            c.eq(cid, first.headers.get(CORR),
                 "paid retry reuses the correlation id of the 402 that issued the offer")
        env.state["a"] = {"signature": paid.request_headers.get("payment-signature") if paid else None,
                          "tx": tx, "corr": cid, "corr_402": first.headers.get(CORR) if first else None}
    after = env.fac_stats()
    c.eq(after["settled"] - before["settled"], 1, "facilitator settlements made by this flow")
    if after["transactions"] and "a" in env.state:
        c.eq(after["transactions"][-1], env.state["a"]["tx"],
             "facilitator's settled tx == receipt.transaction")
    c.eq(int(after["payToBalance"]) - int(before["payToBalance"]), int(PRICE_ATOMIC),
         "payee balance grew by the price")
    c.done()


def test_b_replay_refused(env: Env) -> None:
    c = Checks("b: replay of (a)'s PAYMENT-SIGNATURE")
    sig = (env.state.get("a") or {}).get("signature")
    if not sig:
        pytest.fail("scenario (a) produced no PAYMENT-SIGNATURE to replay", pytrace=False)
    before = env.fac_stats()
    ex = env.get("/datasets/prices", {"PAYMENT-SIGNATURE": sig})
    print(ex.describe())
    check_402(c, ex, R_NONCE_USED, "replay")
    c.check("payment-response" not in ex.headers or
            (try_decode(ex.headers.get("payment-response"))[0] or {}).get("success") is not True,
            "no successful PAYMENT-RESPONSE on the replay", ex.describe())
    after = env.fac_stats()
    c.eq(after["settled"] - before["settled"], 0, "settlements made by the replay")
    env.state["b"] = {"corr": ex.headers.get(CORR)}
    c.done()


def test_c_api_key_route(env: Env) -> None:
    c = Checks("c: /reports/daily needs an API key")
    ex = env.get("/reports/daily")
    print(ex.describe())
    body = check_error(c, ex, 401, "unauthorized", None, "no API key")
    c.check("payment-required" not in ex.headers, "no API key: no PAYMENT-REQUIRED header",
            ex.describe())
    if body:
        c.note(f"401 reason = {body.get('reason')!r}")
    env.state["c401"] = {"corr": ex.headers.get(CORR)}

    ex = env.get("/reports/daily", {"X-Api-Key": API_KEY})
    print(ex.describe())
    pr = check_402(c, ex, "Payment required", "with API key")
    if pr:
        check_quickstart_offer(c, pr, env, "/reports/daily", "with API key")

    before = env.fac_stats()
    res = sdk_get(env.gateway + "/reports/daily", headers={"X-Api-Key": API_KEY})
    print(res.describe())
    c.check(res.error is None, "SDK transport raised no error", res.error)
    c.eq([e.status for e in res.exchanges], [402, 200], "SDK exchange statuses")
    if res.last is not None:
        receipt = try_decode(res.last.headers.get("payment-response"))[0] or {}
        c.eq(receipt.get("success"), True, "receipt.success")
        c.eq(receipt.get("network"), NETWORK, "receipt.network")
    after = env.fac_stats()
    c.eq(after["settled"] - before["settled"], 1, "facilitator settlements made by the paid call")
    c.done()


def _tamper_case(env: Env, c: Checks, label: str, mutate: Callable[[dict[str, Any]], None],
                 expected: str) -> None:
    _, pr = env.offer("/datasets/prices")
    payload = sdk_sign(pr)
    mutate(payload)
    ex = send_proof(env, "/datasets/prices", payload)
    print(f"[{label}] {ex.describe()}")
    check_402(c, ex, expected, label)


def test_d_tampered_proofs(env: Env) -> None:
    c = Checks("d: tampered proofs")
    before = env.fac_stats()

    def value(p):
        auth = p["payload"]["authorization"]
        auth["value"] = str(int(auth["value"]) + 1)

    def to(p):
        p["payload"]["authorization"]["to"] = Account.create().address

    def sig_r(p):
        p["payload"]["signature"] = flip_hex_digit(p["payload"]["signature"], 10)  # inside r

    def amount(p):
        new = str(int(p["accepted"]["amount"]) * 2)
        p["accepted"]["amount"] = new
        p["payload"]["authorization"]["value"] = new

    def token(p):
        p["accepted"]["extra"]["tollgate"] = alter_token_char(p["accepted"]["extra"]["tollgate"])

    for label, mutate, expected in [
        ("authorization.value changed", value, R_VALUE),
        ("authorization.to changed", to, R_RECIPIENT),
        ("one hex digit of signature r changed", sig_r, R_SIGNATURE),
        ("accepted.amount (and value) changed", amount, R_TERMS),
        ("accepted.extra.tollgate altered by one character", token, R_OFFER_INVALID),
    ]:
        try:
            _tamper_case(env, c, label, mutate, expected)
        except Exception as exc:  # noqa: BLE001 - report and go on with the other cases
            c.check(False, f"{label}: ran", f"{type(exc).__name__}: {exc}")
    after = env.fac_stats()
    c.eq(after["settled"] - before["settled"], 0, "settlements made by tampered proofs")
    c.done()


def test_e_validity_window(env: Env) -> None:
    c = Checks("e: validity window")
    # Control: a hand-signed proof with a sane window is accepted (validates the signer below).
    _, pr = env.offer("/datasets/prices")
    now = int(time.time())
    ex = send_proof(env, "/datasets/prices", hand_sign(pr, 0, now + 60))
    print(f"[control] {ex.describe()}")
    c.eq(ex.status, 200, "control: a valid hand-signed (eth_account) proof is paid")

    before = env.fac_stats()
    _, pr = env.offer("/datasets/prices")
    now = int(time.time())
    ex = send_proof(env, "/datasets/prices", hand_sign(pr, 0, now - 5))
    print(f"[expired] {ex.describe()}")
    check_402(c, ex, R_VALID_BEFORE, "expired (validBefore = now - 5)")

    _, pr = env.offer("/datasets/prices")
    now = int(time.time())
    ex = send_proof(env, "/datasets/prices", hand_sign(pr, now + 3600, now + 3660))
    print(f"[not yet valid] {ex.describe()}")
    check_402(c, ex, R_VALID_AFTER, "not yet valid (validAfter = now + 3600)")
    after = env.fac_stats()
    c.eq(after["settled"] - before["settled"], 0, "settlements made by out-of-window proofs")
    c.done()


def test_f_proof_for_other_resource(env: Env) -> None:
    c = Checks("f: proof for /datasets/prices sent to /datasets/history")
    before = env.fac_stats()
    _, pr = env.offer("/datasets/prices")
    payload = sdk_sign(pr)
    ex = send_proof(env, "/datasets/history", payload)
    print(ex.describe())
    check_402(c, ex, R_RESOURCE, "other resource")
    after = env.fac_stats()
    c.eq(after["settled"] - before["settled"], 0, "settlements made by the misdirected proof")
    c.done()


def test_g_undecodable_header(env: Env) -> None:
    c = Checks("g: PAYMENT-SIGNATURE that is not base64 JSON")
    for label, value in [("not base64", "not-base64!!"),
                         ("base64 of non-JSON", base64.b64encode(b"hello").decode()),
                         ("base64 of a JSON non-object", base64.b64encode(b"[1,2]").decode())]:
        ex = env.get("/datasets/prices", {"PAYMENT-SIGNATURE": value})
        print(f"[{label}] {ex.describe()}")
        c.check(ex.status < 500, f"{label}: never 5xx", ex.describe())
        check_402(c, ex, R_INVALID_PAYLOAD, label)
    c.done()


def test_h_facilitator_down(env: Env) -> None:
    c = Checks("h: facilitator down -> 503 + Retry-After")
    fac = env.procs["facilitator"]
    fac.stop()
    c.check(not fac.alive(), "facilitator process stopped")
    try:
        httpx.get(env.facilitator + "/supported", timeout=2)
        c.check(False, "facilitator port refuses connections")
    except httpx.HTTPError:
        c.check(True, "facilitator port refuses connections")

    res = sdk_get(env.gateway + "/datasets/prices")
    print(res.describe())
    c.eq([e.status for e in res.exchanges], [402, 503], "SDK exchange statuses (offer, paid retry)")
    paid = res.paid
    c.check(paid is not None, "the SDK sent a paid retry", res.describe())
    if paid is not None:
        c.check(paid.status not in (200, 402), "paid retry is never 200 and never 402",
                paid.describe())
        check_error(c, paid, 503, "service_unavailable", R_FAC_DOWN, "paid retry")
        ra = paid.headers.get("retry-after")
        c.check(bool(ra) and (ra.strip().isdigit() or "GMT" in ra),
                "paid retry has a Retry-After header (seconds or HTTP date)", ra)
        receipt = try_decode(paid.headers.get("payment-response"))[0] or {}
        c.check(receipt.get("success") is not True, "no successful PAYMENT-RESPONSE", receipt)
        env.state["h"] = {"corr": paid.headers.get(CORR)}
    if res.last is not None:
        c.eq(res.last.status, 503, "final status surfaced by the SDK client")
    c.done()


# ---- i: trace ---------------------------------------------------------------------------------


def _trace_json(env: Env, c: Checks, label: str, cid: str | None,
                ready: Callable[[dict[str, Any]], bool]) -> dict[str, Any] | None:
    """Run `tollgate trace <id> --config CFG --json` until `ready(doc)` (unpaid-path audit events
    may be flushed late) or 10 s; check the JSON shape."""
    if not c.check(bool(cid), f"{label}: have a correlation id from the flow"):
        return None
    deadline = time.monotonic() + 10
    doc, last = None, None
    while True:
        rc, out, err = env.trace(cid)
        last = (rc, out, err)
        try:
            doc = json.loads(out) if rc == 0 else None
        except json.JSONDecodeError:
            doc = None
        if doc is not None and isinstance(doc, dict) and ready(doc):
            break
        if time.monotonic() > deadline:
            break
        time.sleep(0.5)
    rc, out, err = last
    if not c.check(rc == 0, f"{label}: `tollgate trace` exit status 0",
                   f"rc={rc} stdout={out[:500]!r} stderr={err[-800:]!r}"):
        return None
    if not c.check(isinstance(doc, dict), f"{label}: stdout is a JSON object", out[:800]):
        return None
    print(f"[{label}] trace: {json.dumps(doc)[:3000]}")
    c.eq(doc.get("correlationId"), cid, f"{label}: correlationId")
    events = doc.get("events")
    if not c.check(isinstance(events, list) and len(events) > 0, f"{label}: events is a non-empty list",
                   doc):
        return None
    shape_ok, bad = True, None
    for ev in events:
        if not (isinstance(ev, dict) and isinstance(ev.get("seq"), int)
                and isinstance(ev.get("time"), str) and isinstance(ev.get("stage"), str)
                and isinstance(ev.get("outcome"), str)
                and isinstance(ev.get("reason", ""), (str, type(None)))
                and isinstance(ev.get("details", {}), (dict, type(None)))):
            shape_ok, bad = False, ev
            break
    c.check(shape_ok, f"{label}: every event has seq:int, time, stage, outcome (reason, details)",
            bad)
    # Events are listed in the order they happened. Sequence numbers are unique but follow commit
    # order, and unpaid-path events are committed in batches, so they are not required to increase.
    seqs = [ev.get("seq") for ev in events if isinstance(ev, dict)]
    times = [ev.get("time") for ev in events if isinstance(ev, dict)]
    c.check(all(isinstance(s, int) for s in seqs) and len(set(seqs)) == len(seqs)
            and times == sorted(times), f"{label}: unique seq, time non-decreasing", seqs)
    stopped = doc.get("stoppedAt")
    c.check(stopped is None or (isinstance(stopped, dict) and {"stage", "outcome"} <= set(stopped)
                                and isinstance(stopped.get("reason", ""), (str, type(None)))),
            f"{label}: stoppedAt is null or {{stage, outcome, reason}}", stopped)
    return doc


def _is_subsequence(wanted: list[str], seen: list[str]) -> bool:
    it = iter(seen)
    return all(any(s == w for s in it) for w in wanted)


def test_i_trace(env: Env) -> None:
    c = Checks("i: tollgate trace --json")
    st = env.state

    # (a) happy path
    a = st.get("a") or {}
    doc = _trace_json(env, c, "trace(a)", a.get("corr"),
                      lambda d: _is_subsequence(HAPPY_STAGES, [e.get("stage") for e in
                                                               d.get("events") or []]))
    if doc:
        stages = [e.get("stage") for e in doc["events"]]
        c.check(_is_subsequence(HAPPY_STAGES, stages),
                f"trace(a): stages in order {HAPPY_STAGES}",
                [(e.get("seq"), e.get("time"), e.get("stage"), e.get("outcome"))
                 for e in doc["events"]])
        settle = [e for e in doc["events"] if e.get("stage") == "settle"]
        c.check(bool(settle), "trace(a): has a settle event", stages)
        if settle:
            c.eq((settle[-1].get("details") or {}).get("transaction"), a.get("tx"),
                 "trace(a): settle details.transaction equals the receipt's tx")

    # (b) replay
    b = st.get("b") or {}
    doc = _trace_json(env, c, "trace(b)", b.get("corr"),
                      lambda d: bool(d.get("events"))
                      and d["events"][-1].get("reason") == R_NONCE_USED)
    if doc:
        evs = doc["events"]
        c.eq(evs[-1].get("reason"), R_NONCE_USED, "trace(b): last event reason")
        # "Ends with a denial": the last `denied` event carries the reason, and whatever follows it
        # (e.g. the fresh 402 that reports the refusal) carries the same reason.
        denied = [i for i, e in enumerate(evs) if e.get("outcome") == "denied"]
        c.check(bool(denied) and evs[denied[-1]].get("reason") == R_NONCE_USED
                and all(e.get("reason") == R_NONCE_USED for e in evs[denied[-1]:]),
                f"trace(b): ends with a denied event whose reason is {R_NONCE_USED}",
                [(e.get("stage"), e.get("outcome"), e.get("reason")) for e in evs[-4:]])
        # The flow's payment ended in a delivery; the refused replay of its proof is reported after it.
        stop = doc.get("stoppedAt") or {}
        c.eq(stop.get("reason"), "delivered", "trace(b): stoppedAt.reason (the delivery, not the later replay)")
        c.check(R_NONCE_USED in (stop.get("summary") or "") and "afterwards" in (stop.get("summary") or ""),
                "trace(b): stoppedAt.summary names the refused replay afterwards", stop.get("summary"))

    # (c) 401
    c401 = st.get("c401") or {}
    doc = _trace_json(env, c, "trace(c-401)", c401.get("corr"),
                      lambda d: any(e.get("stage") == "identify" for e in d.get("events") or []))
    if doc:
        ident = [e for e in doc["events"] if e.get("stage") == "identify"]
        c.check(any(e.get("outcome") == "denied" for e in ident),
                "trace(c-401): an identify event with outcome denied", ident or doc["events"])

    # (h) facilitator down
    h = st.get("h") or {}
    doc = _trace_json(env, c, "trace(h)", h.get("corr"),
                      lambda d: bool(d.get("events"))
                      and d["events"][-1].get("reason") == R_FAC_DOWN)
    if doc:
        c.eq(doc["events"][-1].get("reason"), R_FAC_DOWN, "trace(h): last event reason")
        c.eq((doc.get("stoppedAt") or {}).get("reason"), R_FAC_DOWN, "trace(h): stoppedAt.reason")
    c.done()


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-v", "-s", "-p", "no:cacheprovider"]))
