#!/usr/bin/env python3
"""x402 v1 (`X-PAYMENT`) on `tollgate serve`: the official x402 SDK's v1 client, third-party v1 tools, and the
attacks of the v2 suite replayed over v1. Offline, on loopback.

    TOLLGATE_BIN=.build/debug/tollgate TOLLGATE_PY312_VENV=.venv-interop-py312/bin \\
        .venv-interop/bin/python -m pytest Tests/Interop/test_v1.py -v -s
    (or scripts/interop.sh -k test_v1, which makes both venvs and sets TOLLGATE_PY312_VENV)

What runs, all on free 127.0.0.1 ports (shared by the module's tests):
  * the sample upstream              `$TOLLGATE_BIN sample-upstream`
  * the development facilitator      `$TOLLGATE_BIN facilitator --dev --db W/dev-facilitator.sqlite`: its ledger
                                     table `transfer` is the "chain" (what really moved); every transfer is counted
                                     there, per payer and nonce
  * a recording proxy (this process) between the gateways and the development facilitator: it counts /verify and
                                     /settle calls and keeps their bodies (what the gateway sends the facilitator)
  * the x402 SDK's facilitator       `sdk_facilitator.py`, started through a launcher (written to the workdir) that
                                     also registers the SDK's own v1 exact-EVM facilitator scheme (`ExactEvmSchemeV1`,
                                     network `base-sepolia`) on the same in-memory chain: sdk_facilitator.py itself
                                     registers v2 only
  * gateways (`tollgate serve`, each its own SQLite, started in parallel), all the quickstart
    (examples/quickstart/tollgate.yaml, its own `limits`) with ports / facilitator / store replaced:
      main   + a second API-key client `auditor` (reports:read), one more route first, GET /datasets/history
             (resource `datasets-history-v2only`, 0.01, anonymous) with `x402_v1: false`, `spend_caps` {per: payer,
             period: day, max: "0.03"} and an `admin:` listener (token TOLLGATE_ADMIN_TOKEN); through the recording
             proxy
      nov1   with `x402: {v1: false}` (replacing the quickstart's `x402:`); through the recording proxy
      sdk    settling through the SDK's facilitator
The v1 payer is the SDK's v1 signer (`ExactEvmSchemeV1(account).create_payment_payload`, then
`encode_payment_signature_header`, sent as X-PAYMENT), the SDK's full client (`x402ClientSync` +
`register_exact_evm_client` + `x402HTTPClientSync.handle_402_response`), hand-signed EIP-3009 authorizations
(eth_account) for tampering, and the third-party tools x402lint and x402-conformance (PyPI, Python >= 3.12: they
run from the second venv, TOLLGATE_PY312_VENV = its bin directory; missing -> the test fails, never skips).
Rate limits count per source address: scenarios talk from their own loopback addresses (127.0.N.M).

Scenarios (file order):
  1 the 402: PAYMENT-REQUIRED (v2) and a body PaymentRequiredV1 accepts (v1 network name, resource URL)
  2 the SDK's v1 signer pays: 200, X-PAYMENT-RESPONSE, the upstream's answer, one transfer, a v1 body sent to the
    facilitator
  3 the SDK's full client: a body-only 402 is paid with X-PAYMENT, the full 402 with PAYMENT-SIGNATURE
  4 replays: anonymous bare replay refused; the identified client's replay answered from the store; any other use
    (other path, route, query, client, request body) refused; one transfer each
  5 cross-version: one authorization as v1 then v2 (and v2 then v1) is one claim; both headers -> v2 is read
  6 tampering and undecodable X-PAYMENT: the right reason each, never 200/500, no transfer, no facilitator call
  7 10 concurrent copies of one X-PAYMENT (anonymous, then an identified client): one transfer
  8 a flood of invalid X-PAYMENT: 402 then 429 after the invalid budget, the facilitator never called
  9 `x402.v1: false` (gateway) and `x402_v1: false` (route): no v1 terms, X-PAYMENT refused invalid_x402_version
 10 the SDK's own facilitator receives the v1 body and accepts it (verify + settle), the replay is refused
 11 x402lint check / roundtrip (and its documented `--x402-version 2` refusal), x402conf resource (P1..P7)
 12 the spend cap counts v1 and v2 payments of a payer alike (nothing settles past it, also under concurrency); a
    revoked payer's and an incident's v1 payment is refused before the facilitator, and paid once lifted

Environment:
  TOLLGATE_BIN               the binary (default <repo>/.build/debug/tollgate)
  TOLLGATE_PY312_VENV        bin directory of the Python 3.12 venv with x402lint and x402conf (scripts/interop.sh)
  TOLLGATE_INTEROP_KEEP=1    keep the temp dir (configs, stores, logs) after the run
  TOLLGATE_INTEROP_PIDFILE   append the pid of every process started here (scripts/interop.sh)
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from eth_account import Account

from x402 import x402ClientSync
from x402.http.utils import decode_payment_response_header, encode_payment_signature_header
from x402.http.x402_http_client import x402HTTPClientSync
from x402.mechanisms.evm.exact import register_exact_evm_client
from x402.mechanisms.evm.exact.v1 import ExactEvmSchemeV1
from x402.mechanisms.evm.signers import EthAccountSigner
from x402.schemas.v1 import PaymentPayloadV1, PaymentRequiredV1, PaymentRequirementsV1

from harness import (  # shared helpers (harness.py is not a test module)
    API_KEY, CORR, HERE, NETWORK, PRICE_ATOMIC, QUICKSTART, QUICKSTART_PAY_TO, R_IN_PROGRESS, R_INVALID_PAYLOAD,
    R_NONCE_USED, R_RECIPIENT, R_SIGNATURE, R_TERMS, R_VALID_AFTER, R_VALID_BEFORE, R_VALUE, TOLLGATE_BIN, USDC_BASE_SEPOLIA,
    Checks, Exchange, LocalServer, Proc, ServedGateway, answers_http, b64json_decode, b64json_encode, body_json, check_402, client_from, close_clients,
    admin_ok, check_error, child_env, dev_transfers, drop_top_level, eip3009_sign, fac_stats, finish, flip_hex_digit, free_port,
    http_status, insert_routes_first, make_config, new_workdir, reply, require_file, sdk_sign, short, start,
    start_dev_facilitator, start_upstream, startup_failed, tollgate_check, try_decode, wait_until,
)

V1_NETWORK = "base-sepolia"
R_VERSION = "invalid_x402_version"
R_NETWORK = "invalid_network"
R_TOO_LARGE = "payment_header_too_large"
R_RATE_INVALID = "rate_limited_invalid"
TX_HASH = re.compile(r"^0x[0-9a-fA-F]{64}$")
PATH = "/datasets/prices"

# A second API-key client with the analyst's scope (the quickstart has one client only).
AUDITOR_KEY = "tg_v1_auditor_key_" + hashlib.sha256(b"tollgate-interop-v1-auditor").hexdigest()[:16]
AUDITOR_CLIENT = f"""\
  - id: auditor
    api_key_sha256: {hashlib.sha256(AUDITOR_KEY.encode()).hexdigest()}
    scopes: [reports:read]
"""
V2_ONLY_ROUTE = """\
  - method: GET
    path: /datasets/history
    resource: datasets-history-v2only
    description: A dataset sold to x402 v2 clients only
    mime_type: application/json
    price: "0.01"
    accepts: [usdc-base-sepolia]
    unit: request
    anonymous: true
    x402_v1: false
"""
SPEND_CAP_YAML = """
spend_caps:
  - {per: payer, period: day, asset: usdc-base-sepolia, max: "0.03"}
"""
R_SPEND_CAP = "spend_cap_exceeded"
R_PAYER_REVOKED = "payer_revoked"
R_INCIDENT = "incident"
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
NO_V1_YAML = """
x402:
  v1: false
"""

# sdk_facilitator.py registers the SDK's v2 exact-EVM facilitator only; this launcher adds the SDK's v1 one
# (same in-memory chain signer, v1 network name) before running its main().
SDK_FACILITATOR_V1_LAUNCHER = '''\
"""Runs Tests/Interop/sdk_facilitator.py with the x402 SDK's v1 exact-EVM facilitator registered too."""
import sys
sys.path.insert(0, {here!r})
import sdk_facilitator
from x402.mechanisms.evm.exact.v1.facilitator import ExactEvmSchemeV1

V1_NAMES = {{"eip155:84532": "base-sepolia"}}
_build = sdk_facilitator.build_local_facilitator


def build_with_v1(networks, *args, **kwargs):
    facilitator, signers = _build(networks, *args, **kwargs)
    for network, signer in signers.items():
        facilitator.register_v1([V1_NAMES[network]], ExactEvmSchemeV1(signer))
    return facilitator, signers


sdk_facilitator.build_local_facilitator = build_with_v1
sys.exit(sdk_facilitator.main())
'''


# ----------------------------------------------------------------------------------------------
# The recording proxy in front of the development facilitator
# ----------------------------------------------------------------------------------------------


class FacilitatorRecorder(LocalServer):
    """Forwards every request to the facilitator at `target`; counts GET /supported, POST /verify and
    POST /settle and keeps each POST's request and answer bodies (decoded JSON)."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.lock = threading.Lock()
        self.counts = {"supported": 0, "verify": 0, "settle": 0, "other": 0}
        self.calls: list[dict[str, Any]] = []
        self.http = httpx.Client(timeout=30)
        rec = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _forward(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                path = self.path.split("?")[0]
                try:
                    r = rec.http.request(method, rec.target + self.path, content=raw if method == "POST" else None,
                                         headers={"Content-Type": self.headers.get("Content-Type")
                                                  or "application/json"})
                    status, answer = r.status_code, r.content
                    ctype = r.headers.get("content-type") or "application/json"
                except httpx.HTTPError as exc:
                    status, answer, ctype = 502, json.dumps({"error": repr(exc)}).encode(), "application/json"
                key = path.strip("/") if path.strip("/") in ("supported", "verify", "settle") else "other"
                with rec.lock:
                    rec.counts[key] += 1
                    if method == "POST":
                        rec.calls.append({"path": path, "request": body_json(raw), "status": status,
                                          "response": body_json(answer)})
                reply(self, status, {"Content-Type": ctype}, answer)

            def do_GET(self) -> None:  # noqa: N802
                self._forward("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._forward("POST")

        self.serve(Handler)

    def calls_of(self, payer: str) -> list[dict[str, Any]]:
        """The /verify and /settle calls whose payload's authorization.from is `payer`."""
        def frm(call: dict[str, Any]) -> str:
            try:
                return call["request"]["paymentPayload"]["payload"]["authorization"]["from"]
            except (KeyError, TypeError):
                return ""
        with self.lock:
            return [c for c in self.calls if frm(c).lower() == payer.lower()]

    def stop(self) -> None:
        super().stop()
        self.http.close()


# ----------------------------------------------------------------------------------------------
# HTTP from a chosen loopback source address
# ----------------------------------------------------------------------------------------------

# client_from (harness): one keep-alive client per loopback source address.


class Gateway(ServedGateway):
    """A gateway of this suite (`ServedGateway`), with the v1 wire: its 402's body terms and `X-PAYMENT` retries."""

    def offer(self, path: str = PATH, headers: dict[str, str] | None = None,
              ip: str = "127.0.0.1") -> tuple[Exchange, dict[str, Any], dict[str, Any]]:
        """A fresh 402: the exchange, the decoded PAYMENT-REQUIRED (v2) and the JSON body (v1 terms)."""
        ex, required = super().offer(path, headers, ip)
        return ex, required, body_json(ex.body) or {}

    def xpay(self, path: str, payload: dict[str, Any] | str, headers: dict[str, str] | None = None,
             ip: str = "127.0.0.1") -> Exchange:
        return self.send(path, payload, headers, ip, header="X-PAYMENT")

    def v2pay(self, path: str, payload: dict[str, Any], headers: dict[str, str] | None = None,
              ip: str = "127.0.0.1") -> Exchange:
        return self.send(path, payload, headers, ip)


@dataclass
class World:
    workdir: Path
    env: dict[str, str]
    procs: dict[str, Proc]
    gw: dict[str, Gateway]
    dev_facilitator: str
    ledger: Path
    recorder: FacilitatorRecorder
    sdk_facilitator: str
    state: dict[str, Any] = field(default_factory=dict)

    def transfers(self, payer: str | None = None) -> list[dict[str, Any]]:
        return dev_transfers(self.ledger, payer)

    def dev_stats(self) -> dict[str, Any]:
        return httpx.get(self.dev_facilitator + "/_dev/stats", timeout=5).json()

    def fac_calls(self) -> dict[str, int]:
        return self.recorder.snapshot()


def start_sdk_facilitator_v1(workdir: Path, env: dict[str, str]) -> tuple[Proc, str]:
    """sdk_facilitator.py (quickstart network and payee) with the SDK's v1 scheme registered too."""
    require_file(HERE / "sdk_facilitator.py", "the SDK facilitator script")
    launcher = workdir / "sdk_facilitator_v1.py"
    launcher.write_text(SDK_FACILITATOR_V1_LAUNCHER.format(here=str(HERE)))
    port_file = workdir / "sdk-facilitator.port"
    proc = start("sdk-facilitator", [
        sys.executable, str(launcher), "--port", "0", "--port-file", str(port_file), "--network", NETWORK,
        "--pay-to", QUICKSTART_PAY_TO, "--log-file", str(workdir / "sdk-facilitator-calls.log")], workdir, env)
    wait_until("SDK facilitator port file", port_file.exists, proc, 30)
    url = f"http://127.0.0.1:{port_file.read_text().strip()}"
    wait_until("SDK facilitator /supported", lambda: http_status(url + "/supported") == 200, proc, 30)
    return proc, url


def add_client(text: str, client_yaml: str) -> str:
    lines = text.splitlines()
    idx = next((i for i, line in enumerate(lines) if re.match(r"^clients:\s*$", line)), None)
    if idx is None:
        raise RuntimeError("the quickstart has no top-level `clients:` line")
    return "\n".join(lines[:idx + 1] + client_yaml.rstrip("\n").splitlines() + lines[idx + 1:]) + "\n"


@pytest.fixture(scope="module")
def world(request) -> World:
    require_file(TOLLGATE_BIN, "gateway binary", "build it first, or set TOLLGATE_BIN")
    workdir = new_workdir("tollgate-v1-", TOLLGATE_BIN)
    procs: dict[str, Proc] = {}
    env = child_env(TOLLGATE_ADMIN_TOKEN=secrets.token_hex(32))
    recorder: FacilitatorRecorder | None = None
    gws: dict[str, Gateway] = {}
    try:
        procs["upstream"], up_port, upstream = start_upstream(workdir, env)
        procs["dev-facilitator"], dev_fac, ledger = start_dev_facilitator(workdir, env)
        recorder = FacilitatorRecorder(dev_fac)
        procs["sdk-facilitator"], sdk_fac = start_sdk_facilitator_v1(workdir, env)
        supported = httpx.get(sdk_fac + "/supported", timeout=5).json()
        if {"x402Version": 1, "scheme": "exact", "network": V1_NETWORK} not in supported.get("kinds", []):
            raise RuntimeError(f"the SDK facilitator does not list the v1 kind: {supported}")

        template = QUICKSTART.read_text()
        specs = {
            # name: (facilitator url, edit)
            "main": (recorder.url, lambda t: insert_routes_first(add_client(t, AUDITOR_CLIENT), V2_ONLY_ROUTE)
                     + SPEND_CAP_YAML),
            "nov1": (recorder.url, lambda t: drop_top_level(t, "x402") + NO_V1_YAML),
            "sdk": (sdk_fac, lambda t: t),
        }
        for name, (fac_url, edit) in specs.items():
            gdir = workdir / name
            gdir.mkdir()
            port = free_port()
            text = edit(make_config(template, port, up_port, fac_url, gdir / "gateway.sqlite"))
            admin_url = None
            if name == "main":
                aport = free_port()
                admin_url = f"http://127.0.0.1:{aport}"
                text += f"\nadmin:\n  listen: 127.0.0.1:{aport}\n  token: {{env: TOLLGATE_ADMIN_TOKEN}}\n"
            config = gdir / "tollgate.yaml"
            config.write_text(text)
            chk = tollgate_check(config, gdir, env)
            if chk.returncode != 0:
                raise RuntimeError(f"tollgate check {name}: rc={chk.returncode}\n{chk.stdout}\n{chk.stderr}\n"
                                   f"--- config:\n{text}")
            proc = start(f"gateway-{name}", [str(TOLLGATE_BIN), "serve", "--config", str(config)], gdir, env)
            procs[f"gateway-{name}"] = proc
            gws[name] = Gateway(name, f"http://127.0.0.1:{port}", config, gdir, proc, env, admin_url)
        for name, g in gws.items():
            wait_until(f"gateway {name} answering", lambda g=g: answers_http(g.url + "/health"), g.proc, 60)
            # Paid routes open once the gateway's facilitator check has succeeded (503 until then).
            wait_until(f"gateway {name} offering (402)", lambda g=g: http_status(g.url + PATH) == 402, g.proc, 30)
    except Exception as exc:  # noqa: BLE001
        startup_failed(procs, workdir, exc, *([recorder.stop] if recorder else []))

    w = World(workdir, env, procs, gws, dev_fac, ledger, recorder, sdk_fac)
    print("  ".join(f"{n} {g.url}" for n, g in gws.items())
          + f"  upstream {upstream}  dev facilitator {dev_fac} (recorded at {recorder.url})  SDK facilitator {sdk_fac}")
    yield w

    recorder.stop()
    close_clients()
    finish(workdir, procs, request.session.testsfailed, tail_lines=20)


# ----------------------------------------------------------------------------------------------
# v1 payloads
# ----------------------------------------------------------------------------------------------


def sdk_v1_header(body: dict[str, Any], account=None) -> tuple[str, dict[str, Any]]:
    """The official SDK's v1 signer on the body's accepts[0]: (X-PAYMENT value, the decoded payload)."""
    account = account or Account.create()
    req = PaymentRequiredV1.model_validate(body).accepts[0]
    inner = ExactEvmSchemeV1(account).create_payment_payload(req)
    header = encode_payment_signature_header(PaymentPayloadV1(scheme=req.scheme, network=req.network, payload=inner))
    return header, b64json_decode(header)


def v1_sign(req: dict[str, Any], account=None, *, to: str | None = None, value: int | None = None,
            chain_id: int = 84532, contract: str | None = None, valid_after: int | None = None,
            valid_before: int | None = None, nonce: bytes | None = None, network: str | None = None
            ) -> dict[str, Any]:
    """A v1 PaymentPayload for the v1 requirements `req`, its EIP-3009 authorization PROPERLY signed with
    eth_account for the given (possibly tampered) values, so each case isolates one lie."""
    account = account or Account.create()
    now = int(time.time())
    valid_after = now - 600 if valid_after is None else valid_after
    valid_before = now + 60 if valid_before is None else valid_before
    nonce = nonce or secrets.token_bytes(32)
    to = to or req["payTo"]
    value = int(req["maxAmountRequired"]) if value is None else value
    sig = eip3009_sign(account, to=to, value=value, chain_id=chain_id, contract=contract or req["asset"],
                       name=req["extra"]["name"], version=req["extra"]["version"], valid_after=valid_after,
                       valid_before=valid_before, nonce=nonce)
    return {"x402Version": 1, "scheme": "exact", "network": network or req["network"],
            "payload": {"signature": sig,
                        "authorization": {"from": account.address, "to": to, "value": str(value),
                                          "validAfter": str(valid_after), "validBefore": str(valid_before),
                                          "nonce": "0x" + nonce.hex()}}}


def copy(obj: Any) -> Any:
    return json.loads(json.dumps(obj))


def as_v2(v1_payload: dict[str, Any], pr: dict[str, Any]) -> dict[str, Any]:
    """The same authorization and signature re-wrapped as a v2 PaymentPayload for a fresh offer `pr`."""
    return {"x402Version": 2, "resource": pr.get("resource"), "accepted": copy(pr["accepts"][0]),
            "payload": copy(v1_payload["payload"])}


def as_v1(v2_payload: dict[str, Any]) -> dict[str, Any]:
    """The same authorization and signature re-wrapped as a v1 PaymentPayload."""
    return {"x402Version": 1, "scheme": "exact", "network": V1_NETWORK, "payload": copy(v2_payload["payload"])}


def x_receipt(ex: Exchange | None) -> dict[str, Any]:
    if ex is None:
        return {}
    return try_decode(ex.headers.get("x-payment-response"))[0] or {}


def v2_receipt(ex: Exchange | None) -> dict[str, Any]:
    if ex is None:
        return {}
    return try_decode(ex.headers.get("payment-response"))[0] or {}


# ----------------------------------------------------------------------------------------------
# Shared checks
# ----------------------------------------------------------------------------------------------


def check_v1_terms(c: Checks, body: dict[str, Any], pr: dict[str, Any], url: str, label: str,
                   amount: str = PRICE_ATOMIC) -> dict[str, Any] | None:
    """The 402 body is a v1 PaymentRequired (SDK model) whose accepts[0] are the v2 terms in v1 form."""
    c.eq(body.get("x402Version"), 1, f"{label}: body.x402Version")
    try:
        model = PaymentRequiredV1.model_validate(body)
    except Exception as exc:  # noqa: BLE001
        c.check(False, f"{label}: body validates as the SDK's PaymentRequiredV1", f"{exc}; body={body}")
        return None
    c.check(True, f"{label}: body validates as the SDK's PaymentRequiredV1")
    c.eq(len(model.accepts), len(pr.get("accepts") or []), f"{label}: as many v1 accepts as v2 offers")
    v1 = (body.get("accepts") or [{}])[0]
    v2 = (pr.get("accepts") or [{}])[0]
    c.eq(v1.get("scheme"), "exact", f"{label}: accepts[0].scheme")
    c.eq(v1.get("network"), V1_NETWORK, f"{label}: accepts[0].network (v1 name)")
    c.eq(v1.get("maxAmountRequired"), amount, f"{label}: accepts[0].maxAmountRequired")
    c.eq(v1.get("maxAmountRequired"), v2.get("amount"), f"{label}: maxAmountRequired is the v2 offer's amount")
    c.eq(v1.get("resource"), url, f"{label}: accepts[0].resource (the full URL)")
    c.eq(v1.get("resource"), (pr.get("resource") or {}).get("url"), f"{label}: v1 resource == v2 resource.url")
    c.eq(str(v1.get("payTo", "")).lower(), QUICKSTART_PAY_TO.lower(), f"{label}: accepts[0].payTo")
    c.eq(str(v1.get("asset", "")).lower(), USDC_BASE_SEPOLIA.lower(), f"{label}: accepts[0].asset")
    c.eq(v1.get("maxTimeoutSeconds"), v2.get("maxTimeoutSeconds"), f"{label}: accepts[0].maxTimeoutSeconds")
    c.eq(v1.get("extra"), {"name": "USDC", "version": "2"}, f"{label}: accepts[0].extra (EIP-712 domain only)")
    c.eq(v1.get("description"), (pr.get("resource") or {}).get("description"), f"{label}: accepts[0].description")
    c.eq(v1.get("mimeType"), (pr.get("resource") or {}).get("mimeType"), f"{label}: accepts[0].mimeType")
    return v1


def check_v1_refusal(c: Checks, ex: Exchange, reason: str, label: str) -> None:
    """A 402 with `reason` (body and PAYMENT-REQUIRED.error), fresh terms in both versions, no success receipt."""
    check_402(c, ex, reason, label)
    body = body_json(ex.body) or {}
    c.eq(body.get("x402Version"), 1, f"{label}: the refusal carries fresh v1 terms (body.x402Version)")
    c.check(isinstance(body.get("accepts"), list) and len(body["accepts"]) > 0
            and "maxAmountRequired" in body["accepts"][0], f"{label}: body.accepts are v1 requirements", short(ex.body))
    for name in ("x-payment-response", "payment-response"):
        rc = try_decode(ex.headers.get(name))[0] if name in ex.headers else None
        c.check(not (isinstance(rc, dict) and rc.get("success") is True), f"{label}: no successful {name}", rc)


def check_paid_v1(c: Checks, w: World, ex: Exchange, payer: str, nonce: str, label: str,
                  ledger_before: int) -> dict[str, Any]:
    """200, X-PAYMENT-RESPONSE (success, base-sepolia, payer, tx), the upstream's answer delivered, and exactly
    one ledger transfer by `payer` (the receipt's tx, this nonce, the price, the payee)."""
    c.eq(ex.status, 200, f"{label}: status")
    raw = ex.headers.get("x-payment-response")
    receipt, err = try_decode(raw)
    c.check(receipt is not None, f"{label}: X-PAYMENT-RESPONSE decodes (base64 JSON)", err or ex.describe())
    receipt = receipt or {}
    c.eq(receipt.get("success"), True, f"{label}: receipt.success")
    c.eq(receipt.get("network"), V1_NETWORK, f"{label}: receipt.network (v1 name)")
    c.eq(str(receipt.get("payer", "")).lower(), payer.lower(), f"{label}: receipt.payer")
    c.check(bool(TX_HASH.match(str(receipt.get("transaction", "")))), f"{label}: receipt.transaction is a tx hash",
            receipt)
    if raw:
        try:
            sdk = decode_payment_response_header(raw)
            c.check(sdk.success is True and sdk.transaction == receipt.get("transaction"),
                    f"{label}: the SDK decodes X-PAYMENT-RESPONSE (success, same transaction)", sdk)
        except Exception as exc:  # noqa: BLE001
            c.check(False, f"{label}: the SDK decodes X-PAYMENT-RESPONSE", repr(exc))
    body = body_json(ex.body)
    if c.check(isinstance(body, dict), f"{label}: body is the upstream's JSON object", short(ex.body)):
        c.eq(body.get("dataset"), "prices", f"{label}: body.dataset")
        c.check(isinstance(body.get("records"), list) and len(body["records"]) > 0,
                f"{label}: body.records is a non-empty list", short(ex.body))
        c.check(all(isinstance(r, dict) and "trader_id" not in r for r in body.get("records") or []),
                f"{label}: the private field trader_id was removed (anonymous payer)", short(ex.body))
        delivery = body.get("delivery") or {}
        c.eq(str(delivery.get("payer", "")).lower(), payer.lower(), f"{label}: body.delivery.payer")
        c.eq(delivery.get("correlationId"), ex.headers.get(CORR), f"{label}: body.delivery.correlationId is the flow")
    c.eq(len(w.transfers()) - ledger_before, 1, f"{label}: ledger transfers (all payers)")
    moved = w.transfers(payer)
    if c.eq(len(moved), 1, f"{label}: ledger transfers by the payer"):
        t = moved[0]
        c.eq(t["tx"], receipt.get("transaction"), f"{label}: the ledger's tx is the receipt's")
        c.eq(str(t["nonce"]).lower(), nonce.lower(), f"{label}: the ledger's nonce is the authorization's")
        c.eq(int(t["amount"]), int(PRICE_ATOMIC), f"{label}: the ledger's amount")
        c.eq(str(t["payee"]).lower(), QUICKSTART_PAY_TO.lower(), f"{label}: the ledger's payee")
    return receipt


def check_v1_facilitator_body(c: Checks, call: dict[str, Any], url: str, label: str) -> None:
    """A /verify or /settle body the gateway sent for a v1 payment: the v1 envelope, v1 network name."""
    req = call.get("request") or {}
    c.eq(req.get("x402Version"), 1, f"{label}: body.x402Version")
    payload = req.get("paymentPayload") or {}
    reqs = req.get("paymentRequirements") or {}
    c.eq(payload.get("x402Version"), 1, f"{label}: paymentPayload.x402Version")
    c.eq(payload.get("network"), V1_NETWORK, f"{label}: paymentPayload.network (v1 name)")
    c.check("accepted" not in payload, f"{label}: paymentPayload has no v2 `accepted`", payload)
    try:
        PaymentPayloadV1.model_validate(payload)
        PaymentRequirementsV1.model_validate(reqs)
        c.check(True, f"{label}: paymentPayload / paymentRequirements validate as the SDK's v1 models")
    except Exception as exc:  # noqa: BLE001
        c.check(False, f"{label}: paymentPayload / paymentRequirements validate as the SDK's v1 models", repr(exc))
    c.eq(reqs.get("network"), V1_NETWORK, f"{label}: paymentRequirements.network")
    c.eq(reqs.get("maxAmountRequired"), PRICE_ATOMIC, f"{label}: paymentRequirements.maxAmountRequired")
    c.eq(reqs.get("resource"), url, f"{label}: paymentRequirements.resource")
    c.eq(str(reqs.get("payTo", "")).lower(), QUICKSTART_PAY_TO.lower(), f"{label}: paymentRequirements.payTo")
    c.check("tollgate" not in (reqs.get("extra") or {}), f"{label}: no Tollgate offer token in v1 requirements",
            reqs.get("extra"))


# ----------------------------------------------------------------------------------------------
# 1. the 402
# ----------------------------------------------------------------------------------------------


def test_1_v1_offer(world: World) -> None:
    c = Checks("1: the 402 carries the v2 PAYMENT-REQUIRED and v1 terms in the body")
    g = world.gw["main"]
    ip = "127.0.1.1"
    for path in (PATH, PATH + "?symbol=ACME&day=2026-11-25"):
        ex = g.request(path, ip=ip)
        print(ex.describe())
        pr = check_402(c, ex, "Payment required", f"GET {path}", body_reason="payment_required")
        body = body_json(ex.body) or {}
        if pr is None:
            continue
        c.eq((pr.get("accepts") or [{}])[0].get("network"), NETWORK, f"GET {path}: the v2 offer's network (CAIP-2)")
        c.check(isinstance(((pr.get("accepts") or [{}])[0].get("extra") or {}).get("tollgate"), str),
                f"GET {path}: the v2 offer keeps its signed offer token", pr.get("accepts"))
        check_v1_terms(c, body, pr, g.url + path, f"GET {path}")
        c.eq((body.get("price"), body.get("unit")), ("0.01", "request"), f"GET {path}: human-readable price / unit")
        c.check("X-PAYMENT" in str(body.get("proofFormat", "")), f"GET {path}: proofFormat names X-PAYMENT",
                body.get("proofFormat"))
    # The identified client's terms too (scoped route, v1 resource is the full URL).
    ex = g.request("/reports/daily", {"X-Api-Key": API_KEY}, ip=ip)
    pr = check_402(c, ex, "Payment required", "GET /reports/daily (key)", body_reason="payment_required")
    if pr:
        check_v1_terms(c, body_json(ex.body) or {}, pr, g.url + "/reports/daily", "GET /reports/daily (key)")
    # The SDK's own 402 parser takes the header when present and the body when the header is stripped.
    ex = g.request(PATH, ip=ip)
    http = x402HTTPClientSync(x402ClientSync())
    headers = dict(ex.headers)
    parsed = http.get_payment_required_response(lambda n: {k.lower(): v for k, v in headers.items()}.get(n.lower()),
                                                body_json(ex.body))
    c.eq(parsed.x402_version, 2, "SDK parser with the header: x402Version")
    parsed = http.get_payment_required_response(lambda n: None, body_json(ex.body))
    c.eq(parsed.x402_version, 1, "SDK parser on the body alone: x402Version")
    c.eq(parsed.accepts[0].network, V1_NETWORK, "SDK parser on the body alone: accepts[0].network")
    c.done()


# ----------------------------------------------------------------------------------------------
# 2. the SDK's v1 signer pays
# ----------------------------------------------------------------------------------------------


def test_2_v1_sdk_signer_pays(world: World) -> None:
    c = Checks("2: the official SDK's v1 signer pays with X-PAYMENT")
    g = world.gw["main"]
    ip = "127.0.1.2"
    account = Account.create()
    _, pr, body = g.offer(ip=ip)
    header, payload = sdk_v1_header(body, account)
    print(f"X-PAYMENT: {json.dumps(payload)}")
    c.eq((payload.get("x402Version"), payload.get("network")), (1, V1_NETWORK), "the SDK's payload: version / network")
    c.check("accepted" not in payload, "the SDK's v1 payload has no `accepted`", payload)
    ledger_before = len(world.transfers())
    stats_before = world.dev_stats().get("transfers")
    calls_before = world.fac_calls()
    ex = g.xpay(PATH, header, ip=ip)
    print(ex.describe())
    nonce = payload["payload"]["authorization"]["nonce"]
    receipt = check_paid_v1(c, world, ex, account.address, nonce, "paid", ledger_before)
    c.eq(world.dev_stats().get("transfers") - stats_before, 1, "dev facilitator /_dev/stats transfers")
    calls = world.fac_calls()
    c.eq((calls["verify"] - calls_before["verify"], calls["settle"] - calls_before["settle"]), (1, 1),
         "facilitator calls (verify, settle)")
    mine = world.recorder.calls_of(account.address)
    c.eq([x["path"] for x in mine], ["/verify", "/settle"], "the payer's facilitator calls")
    for call in mine:
        check_v1_facilitator_body(c, call, g.url + PATH, f"{call['path']} body")
    if mine:
        c.eq((mine[-1].get("response") or {}).get("transaction"), receipt.get("transaction"),
             "the facilitator's settle answer is the receipt's transaction")
    world.state["paid_header"] = header
    world.state["paid_payer"] = account.address
    c.done()


# ----------------------------------------------------------------------------------------------
# 3. the SDK's full client
# ----------------------------------------------------------------------------------------------


def test_3_v1_sdk_full_client(world: World) -> None:
    c = Checks("3: the SDK's full client pays a body-only 402 with X-PAYMENT and the full 402 with PAYMENT-SIGNATURE")
    g = world.gw["main"]
    ip = "127.0.1.3"
    for view in ("body-only", "full"):
        account = Account.create()
        client = x402ClientSync()
        register_exact_evm_client(client, EthAccountSigner(account))
        client.set_spend_controls(False)
        http = x402HTTPClientSync(client)
        ex, _, _ = g.offer(ip=ip)
        headers = dict(ex.headers)
        if view == "body-only":
            headers = {k: v for k, v in headers.items() if k.lower() != "payment-required"}
        try:
            add, payload = http.handle_402_response(headers, ex.body, g.url + PATH)
        except Exception as exc:  # noqa: BLE001
            c.check(False, f"{view}: the SDK client makes a payment", repr(exc))
            continue
        expected_header = "X-PAYMENT" if view == "body-only" else "PAYMENT-SIGNATURE"
        c.eq(sorted(add), [expected_header], f"{view}: the header the SDK chose")
        c.eq(getattr(payload, "x402_version", None), 1 if view == "body-only" else 2,
             f"{view}: the SDK payload version")
        before = len(world.transfers())
        paid = g.request(PATH, add, ip=ip)
        print(f"[{view}] {paid.describe()}")
        c.eq(paid.status, 200, f"{view}: status")
        receipt_header = "x-payment-response" if view == "body-only" else "payment-response"
        c.check(receipt_header in paid.headers, f"{view}: the answer carries {receipt_header}", paid.describe())
        try:
            lowered = {k.lower(): v for k, v in paid.headers.items()}
            settle = http.get_payment_settle_response(lambda n: lowered.get(n.lower()))
            c.check(settle.success is True, f"{view}: the SDK reads a successful settlement", settle)
            c.eq(settle.network, V1_NETWORK if view == "body-only" else NETWORK, f"{view}: settlement network")
        except Exception as exc:  # noqa: BLE001
            c.check(False, f"{view}: the SDK reads the settlement", repr(exc))
        c.eq(len(world.transfers()) - before, 1, f"{view}: ledger transfers")
        c.eq(len(world.transfers(account.address)), 1, f"{view}: ledger transfers by the payer")
    c.done()


# ----------------------------------------------------------------------------------------------
# 4. replays
# ----------------------------------------------------------------------------------------------


def test_4_v1_replay(world: World) -> None:
    c = Checks("4: v1 replays: anonymous refused, identified client answered from the store, other uses refused")
    g = world.gw["main"]
    ip = "127.0.1.4"
    key = {"X-Api-Key": API_KEY}
    auditor = {"X-Api-Key": AUDITOR_KEY}

    # Anonymous: the bare replay of test 2's payment (or a fresh one if test 2 did not run).
    header = world.state.get("paid_header")
    if header is None:
        _, _, body = g.offer(ip=ip)
        header, _ = sdk_v1_header(body)
        c.eq(g.xpay(PATH, header, ip=ip).status, 200, "anonymous: first use")
    before, calls_before = len(world.transfers()), world.fac_calls()
    for path in (PATH, PATH + "?symbol=ACME", "/datasets/volumes"):
        ex = g.xpay(path, header, ip=ip)
        print(f"[anonymous replay -> {path}] {ex.describe()}")
        check_v1_refusal(c, ex, R_NONCE_USED, f"anonymous replay on {path}")
    ex = g.xpay("/reports/daily", header, key, ip=ip)
    check_v1_refusal(c, ex, R_NONCE_USED, "anonymous payment replayed by the analyst on /reports/daily")
    c.eq(len(world.transfers()) - before, 0, "anonymous replays: ledger transfers")
    calls = world.fac_calls()
    c.eq((calls["verify"] - calls_before["verify"], calls["settle"] - calls_before["settle"]), (0, 0),
         "anonymous replays: facilitator calls (verify, settle)")

    # The identified client: its replay of the same request is the same purchase.
    account = Account.create()
    _, _, body = g.offer("/reports/daily", key, ip=ip)
    header, payload = sdk_v1_header(body, account)
    before = len(world.transfers())
    first = g.xpay("/reports/daily", header, key, ip=ip)
    print(f"[analyst, first] {first.describe()}")
    c.eq(first.status, 200, "analyst: first use status")
    c.eq(x_receipt(first).get("success"), True, "analyst: first use receipt.success")
    calls_before = world.fac_calls()
    again = g.xpay("/reports/daily", header, key, ip=ip)
    print(f"[analyst, again] {again.describe()}")
    c.eq(again.status, 200, "analyst: the same X-PAYMENT again: status (the stored answer)")
    c.eq(again.body, first.body, "analyst: the same X-PAYMENT again: the same body")
    c.eq(x_receipt(again), x_receipt(first), "analyst: the same X-PAYMENT again: the same X-PAYMENT-RESPONSE")
    c.eq(again.headers.get(CORR), first.headers.get(CORR), "analyst: the same X-PAYMENT again: the same flow")
    calls = world.fac_calls()
    c.eq((calls["verify"] - calls_before["verify"], calls["settle"] - calls_before["settle"]), (0, 0),
         "analyst replay: facilitator calls (verify, settle)")
    # Any other use is a replay.
    for label, path, headers in [
        ("analyst on another path of the route", "/reports/weekly", key),
        ("analyst on the same path with a query", "/reports/daily?format=full", key),
        ("analyst on another route", PATH, key),
        ("another client (auditor) on the same request", "/reports/daily", auditor),
        ("anonymous on a datasets route", PATH, {}),
    ]:
        ex = g.xpay(path, header, headers, ip=ip)
        print(f"[{label}] {ex.describe()}")
        check_v1_refusal(c, ex, R_NONCE_USED, label)
    ex = g.xpay("/reports/daily", header, ip=ip)
    print(f"[no key on /reports/daily] {ex.describe()}")
    check_error(c, ex, 401, "unauthorized", "missing_credentials", "the analyst's payment without the key")
    # The refusals did not spoil the purchase: the analyst still gets the stored answer.
    last = g.xpay("/reports/daily", header, key, ip=ip)
    c.eq((last.status, last.body), (200, first.body), "analyst after the refusals: the stored answer again")
    moved = world.transfers(account.address)
    c.eq(len(world.transfers()) - before, 1, "identified replays: ledger transfers (all payers)")
    c.eq(len(moved), 1, "identified replays: ledger transfers by the payer")

    # The body is part of the request: POST /jobs/render (settle: before) with the same X-PAYMENT and the same
    # body is the stored answer; with another body it is a replay.
    account = Account.create()
    post = {**key, "Content-Type": "application/json"}
    r = client_from(ip).post(g.url + "/jobs/render", headers=post, content=b'{"scene":"a"}')
    c.eq(r.status_code, 402, "POST /jobs/render: offer")
    header, _ = sdk_v1_header(r.json(), account)
    answers = []
    for body in (b'{"scene":"a"}', b'{"scene":"a"}', b'{"scene":"b"}'):
        r = client_from(ip).post(g.url + "/jobs/render", headers={**post, "X-PAYMENT": header}, content=body)
        answers.append(Exchange("POST", g.url + "/jobs/render", r.request.headers, r.status_code, r.headers, r.content))
        print(f"[POST /jobs/render {body.decode()}] {answers[-1].describe()}")
    c.eq(answers[0].status, 200, "POST /jobs/render: paid")
    c.eq((answers[1].status, answers[1].body, answers[1].headers.get(CORR)),
         (200, answers[0].body, answers[0].headers.get(CORR)), "POST /jobs/render, same body again: the stored answer")
    check_v1_refusal(c, answers[2], R_NONCE_USED, "POST /jobs/render, another body")
    c.eq(len(world.transfers(account.address)), 1, "POST /jobs/render: ledger transfers by the payer")
    c.done()


# ----------------------------------------------------------------------------------------------
# 5. cross-version replay
# ----------------------------------------------------------------------------------------------


def test_5_v1_cross_version(world: World) -> None:
    c = Checks("5: one authorization sent as v1 and as v2 is one claim")
    g = world.gw["main"]
    ip = "127.0.1.5"

    # v1 first, then the same authorization re-wrapped as v2 for a fresh offer.
    account = Account.create()
    _, _, body = g.offer(ip=ip)
    header, payload = sdk_v1_header(body, account)
    ex = g.xpay(PATH, header, ip=ip)
    c.eq(ex.status, 200, "v1 first: status")
    _, pr, _ = g.offer(ip=ip)
    ex = g.v2pay(PATH, as_v2(payload, pr), ip=ip)
    print(f"[v1 then v2] {ex.describe()}")
    check_402(c, ex, R_NONCE_USED, "v1 then v2")
    c.check(v2_receipt(ex).get("success") is not True, "v1 then v2: no successful PAYMENT-RESPONSE")
    c.eq(len(world.transfers(account.address)), 1, "v1 then v2: ledger transfers by the payer")

    # v2 first (the SDK's v2 signer), then the same authorization as v1.
    account = Account.create()
    _, pr, _ = g.offer(ip=ip)
    v2 = sdk_sign(pr, account)
    ex = g.v2pay(PATH, v2, ip=ip)
    c.eq(ex.status, 200, "v2 first: status")
    ex = g.xpay(PATH, as_v1(v2), ip=ip)
    print(f"[v2 then v1] {ex.describe()}")
    check_v1_refusal(c, ex, R_NONCE_USED, "v2 then v1")
    ex = g.xpay(PATH, {**as_v1(v2), "network": NETWORK}, ip=ip)
    check_v1_refusal(c, ex, R_NONCE_USED, "v2 then v1 (CAIP-2 network)")
    c.eq(len(world.transfers(account.address)), 1, "v2 then v1: ledger transfers by the payer")

    # The identified client: re-wrapping its v1 payment as v2 for the same request is not its replay.
    key = {"X-Api-Key": API_KEY}
    account = Account.create()
    _, _, body = g.offer("/reports/daily", key, ip=ip)
    header, payload = sdk_v1_header(body, account)
    c.eq(g.xpay("/reports/daily", header, key, ip=ip).status, 200, "analyst v1 first: status")
    _, pr, _ = g.offer("/reports/daily", key, ip=ip)
    ex = g.v2pay("/reports/daily", as_v2(payload, pr), key, ip=ip)
    print(f"[analyst v1 then v2] {ex.describe()}")
    check_402(c, ex, R_NONCE_USED, "analyst v1 then v2")
    c.eq(len(world.transfers(account.address)), 1, "analyst v1 then v2: ledger transfers by the payer")

    # Both headers: PAYMENT-SIGNATURE is read; the X-PAYMENT is left unused (it pays on its own afterwards).
    a2, a1 = Account.create(), Account.create()
    _, pr, body = g.offer(ip=ip)
    v2 = sdk_sign(pr, a2)
    header, _ = sdk_v1_header(body, a1)
    ex = g.request(PATH, {"PAYMENT-SIGNATURE": b64json_encode(v2), "X-PAYMENT": header}, ip=ip)
    print(f"[both headers] {ex.describe()}")
    c.eq(ex.status, 200, "both headers: status")
    c.eq(v2_receipt(ex).get("success"), True, "both headers: PAYMENT-RESPONSE (v2) success")
    c.check("x-payment-response" not in ex.headers, "both headers: no X-PAYMENT-RESPONSE", ex.describe())
    c.eq((len(world.transfers(a2.address)), len(world.transfers(a1.address))), (1, 0),
         "both headers: ledger transfers by the v2 payer / the v1 payer")
    ex = g.xpay(PATH, header, ip=ip)
    c.eq(ex.status, 200, "the unused X-PAYMENT afterwards: status")
    c.eq(len(world.transfers(a1.address)), 1, "the unused X-PAYMENT afterwards: ledger transfers by its payer")
    c.done()


# ----------------------------------------------------------------------------------------------
# 6. tampering and undecodable headers
# ----------------------------------------------------------------------------------------------


def high_s(signature_hex: str) -> str:
    """The malleable twin of a (low-s) signature: s' = n - s, v flipped. Same signer."""
    raw = bytes.fromhex(signature_hex[2:])
    r, s, v = raw[:32], int.from_bytes(raw[32:64], "big"), raw[64]
    v2 = {27: 28, 28: 27, 0: 1, 1: 0}[v]
    return "0x" + (r + (SECP256K1_N - s).to_bytes(32, "big") + bytes([v2])).hex()


def raw_header(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_6_v1_tampering(world: World) -> None:
    c = Checks("6: tampered, expired, mislabelled and undecodable X-PAYMENT")
    g = world.gw["main"]
    ips = iter(range(1, 250))

    def next_ip() -> str:            # one source address per case: no case eats another's invalid budget
        return f"127.0.6.{next(ips)}"

    _, _, body = g.offer(ip=next_ip())
    req = body["accepts"][0]
    now = int(time.time())
    attacker = Account.create().address

    def sig_flipped() -> dict[str, Any]:
        p = v1_sign(req)
        p["payload"]["signature"] = flip_hex_digit(p["payload"]["signature"], 10)
        return p

    def twin() -> dict[str, Any]:
        p = v1_sign(req)
        p["payload"]["signature"] = high_s(p["payload"]["signature"])
        return p

    def version(v: Any) -> dict[str, Any]:
        p = v1_sign(req)
        p["x402Version"] = v
        return p

    def dup_key(old: str, new: str) -> str:
        text = json.dumps(v1_sign(req), separators=(",", ":"))
        assert old in text, (old, text)
        return raw_header(text.replace(old, new, 1))

    def oversized() -> dict[str, Any]:
        p = v1_sign(req)
        p["payload"]["padding"] = "x" * 17000
        return p

    cases: list[tuple[str, Any, str]] = [
        ("amount raised (signed)", lambda: v1_sign(req, value=int(PRICE_ATOMIC) * 2), R_VALUE),
        ("amount lowered (signed)", lambda: v1_sign(req, value=1), R_VALUE),
        ("payee changed (signed)", lambda: v1_sign(req, to=attacker), R_RECIPIENT),
        ("network base (known, not offered; signed for chain 8453)",
         lambda: v1_sign(req, network="base", chain_id=8453), R_TERMS),
        ("network base (known, not offered; signed for 84532)", lambda: v1_sign(req, network="base"), R_TERMS),
        ("network unknown name", lambda: v1_sign(req, network="not-a-network"), R_NETWORK),
        ("signature flipped", sig_flipped, R_SIGNATURE),
        ("high-s twin of a valid signature", twin, R_SIGNATURE),
        ("validBefore in the past", lambda: v1_sign(req, valid_before=now - 5), R_VALID_BEFORE),
        ("validAfter in the future", lambda: v1_sign(req, valid_after=now + 300, valid_before=now + 400),
         R_VALID_AFTER),
        ("x402Version 2 in X-PAYMENT", lambda: version(2), R_VERSION),
        ("not base64", lambda: "%%%not*base64%%%", R_INVALID_PAYLOAD),
        ("base64 of not JSON", lambda: raw_header("{\"x402Version\":1,"), R_INVALID_PAYLOAD),
        ("duplicate key authorization.value", lambda: dup_key('"value":"10000"', '"value":"10000","value":"1"'),
         R_INVALID_PAYLOAD),
        ("duplicate key x402Version", lambda: dup_key('{"x402Version":1,', '{"x402Version":1,"x402Version":1,'),
         R_INVALID_PAYLOAD),
        ("oversized header (> 16 KiB)", oversized, R_TOO_LARGE),
        ("oversized header of garbage (17000 bytes)", lambda: "A" * 17000, R_TOO_LARGE),
    ]
    before, calls_before = len(world.transfers()), world.fac_calls()
    for label, make, reason in cases:
        proof = make()
        ex = g.xpay(PATH, proof, ip=next_ip())
        print(f"[{label}] {ex.describe()}")
        c.check(ex.status not in (200, 500), f"{label}: never 200 / 500", ex.status)
        check_v1_refusal(c, ex, reason, label)
    c.eq(len(world.transfers()) - before, 0, "tampered proofs: ledger transfers")
    calls = world.fac_calls()
    c.eq((calls["verify"] - calls_before["verify"], calls["settle"] - calls_before["settle"]), (0, 0),
         "tampered proofs: facilitator calls (verify, settle): refused before the facilitator")

    # After use, the same authorization spelled differently is still the same claim.
    account = Account.create()
    used = v1_sign(req, account)
    ex = g.xpay(PATH, used, ip=next_ip())
    c.eq(ex.status, 200, "respelling: the original is paid")
    before, calls_before = len(world.transfers()), world.fac_calls()
    auth = used["payload"]["authorization"]

    def respelled(**changes: str) -> dict[str, Any]:
        p = copy(used)
        p["payload"]["authorization"].update(changes)
        return p

    respellings = [
        ("nonce in upper-case hex", respelled(nonce="0x" + auth["nonce"][2:].upper())),
        ("nonce without 0x", respelled(nonce=auth["nonce"][2:])),
        ("from in lower case", respelled(**{"from": auth["from"].lower()})),
        ("payTo in lower case", respelled(to=auth["to"].lower())),
        ("validAfter with a leading zero", respelled(validAfter="0" + auth["validAfter"])),
        ("network as CAIP-2", {**copy(used), "network": NETWORK}),
    ]
    for label, proof in respellings:
        ex = g.xpay(PATH, proof, ip=next_ip())
        print(f"[after use: {label}] {ex.describe()}")
        c.check(ex.status not in (200, 500), f"after use, {label}: never 200 / 500", ex.status)
        check_v1_refusal(c, ex, R_NONCE_USED, f"after use, {label}")
    twin_of_used = copy(used)
    twin_of_used["payload"]["signature"] = high_s(used["payload"]["signature"])
    ex = g.xpay(PATH, twin_of_used, ip=next_ip())
    print(f"[after use: high-s twin of its signature] {ex.describe()}")
    check_v1_refusal(c, ex, R_SIGNATURE, "after use, the high-s twin of its signature")
    c.eq(len(world.transfers()) - before, 0, "respellings: ledger transfers")
    c.eq(len(world.transfers(account.address)), 1, "respellings: ledger transfers by the payer")
    calls = world.fac_calls()
    c.eq((calls["verify"] - calls_before["verify"], calls["settle"] - calls_before["settle"]), (0, 0),
         "respellings: facilitator calls (verify, settle)")
    c.done()


# ----------------------------------------------------------------------------------------------
# 7. concurrent copies
# ----------------------------------------------------------------------------------------------


def race(g: Gateway, header: str, n: int, ip: str, path: str, extra: dict[str, str] | None = None
         ) -> list[Exchange | Exception]:
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def worker(i: int) -> None:
        with httpx.Client(transport=httpx.HTTPTransport(local_address=ip), timeout=60) as http:
            try:
                http.get(g.url + "/health")     # warm, kept-alive connection
            except httpx.HTTPError:
                pass
            barrier.wait()
            try:
                results[i] = g.request(path, {**(extra or {}), "X-PAYMENT": header}, client=http)
            except Exception as exc:  # noqa: BLE001
                results[i] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results


def test_7_v1_concurrent_copies(world: World) -> None:
    c = Checks("7: 10 concurrent copies of one X-PAYMENT (anonymous, then an identified client)")
    g = world.gw["main"]
    n = 10
    for who, ip, path, extra in [("anonymous", "127.0.7.1", PATH, {}),
                                 ("analyst", "127.0.7.2", "/reports/daily", {"X-Api-Key": API_KEY})]:
        account = Account.create()
        _, _, body = g.offer(path, extra, ip=ip)
        header, _ = sdk_v1_header(body, account)
        before, calls_before = len(world.transfers()), world.fac_calls()
        results = race(g, header, n, ip, path, extra)
        errors = [r for r in results if not isinstance(r, Exchange)]
        c.check(not errors, f"{who}: every copy got an HTTP answer", errors[:3])
        exs = [r for r in results if isinstance(r, Exchange)]
        statuses = sorted(ex.status for ex in exs)
        print(f"{who}: statuses {statuses}")
        ok = [ex for ex in exs if ex.status == 200]
        in_progress = [ex for ex in exs if ex.status == 503]
        refused = [ex for ex in exs if ex.status == 402]
        c.check(len(ok) + len(in_progress) + len(refused) == len(exs), f"{who}: every answer is 200, 402 or 503",
                statuses)
        c.check(all((body_json(ex.body) or {}).get("reason") == R_IN_PROGRESS and ex.headers.get("retry-after")
                    for ex in in_progress), f"{who}: every 503 is {R_IN_PROGRESS} with Retry-After",
                [ex.describe() for ex in in_progress][:2])
        c.check(all((body_json(ex.body) or {}).get("reason") == R_NONCE_USED for ex in refused),
                f"{who}: every 402 is {R_NONCE_USED}", [ex.describe() for ex in refused][:2])
        if who == "anonymous":
            c.eq(len(ok), 1, f"{who}: number of 200")
        else:
            # The identified client's copies are one purchase: every 200 is the same stored answer.
            c.check(len(ok) >= 1, f"{who}: at least one 200", statuses)
            c.eq(len(refused), 0, f"{who}: no copy of the client's own purchase is refused as a replay")
            c.check(len({ex.body for ex in ok}) <= 1 and len({ex.headers.get("x-payment-response") for ex in ok}) <= 1,
                    f"{who}: every 200 is the same answer with the same receipt", [ex.describe() for ex in ok][:3])
        c.check(all(x_receipt(ex).get("success") is not True for ex in exs if ex.status != 200),
                f"{who}: no non-200 carries a successful X-PAYMENT-RESPONSE")
        calls = world.fac_calls()
        c.eq(len(world.transfers()) - before, 1, f"{who}: ledger transfers")
        c.eq(len(world.transfers(account.address)), 1, f"{who}: ledger transfers by the payer")
        c.eq(calls["settle"] - calls_before["settle"], 1, f"{who}: facilitator /settle calls")
        c.eq(calls["verify"] - calls_before["verify"], 1,
             f"{who}: facilitator /verify calls (the copies never reach it)")
    c.done()


# ----------------------------------------------------------------------------------------------
# 8. flood of invalid X-PAYMENT
# ----------------------------------------------------------------------------------------------


def test_8_v1_invalid_flood(world: World) -> None:
    c = Checks("8: a flood of invalid X-PAYMENT is rate limited and never reaches the facilitator")
    g = world.gw["main"]
    ip = "127.0.8.1"
    # The quickstart's invalid-proof budget (per source address), which the main gateway keeps.
    invalid = (yaml.safe_load(QUICKSTART.read_text()).get("limits") or {}).get("invalid")
    if not (isinstance(invalid, dict) and {"rate_per_second", "burst"} <= set(invalid)):
        pytest.fail(f"the quickstart's limits.invalid is not a {{rate_per_second, burst}} budget: {invalid!r}",
                    pytrace=False)
    rate, burst = float(invalid["rate_per_second"]), int(invalid["burst"])
    n = burst + 60
    _, _, body = g.offer(ip=ip)
    req = body["accepts"][0]
    base = v1_sign(req)
    proofs = []
    for _ in range(n):
        p = copy(base)
        # Valid structure, broken signature: a fresh nonce the signature does not cover, so every proof is
        # distinct and recovers to someone other than `from`.
        p["payload"]["authorization"]["nonce"] = "0x" + secrets.token_hex(32)
        proofs.append(b64json_encode(p))
    before, calls_before, stats_before = len(world.transfers()), world.fac_calls(), world.dev_stats()
    t0 = time.monotonic()
    exs = [g.xpay(PATH, proof, ip=ip) for proof in proofs]
    elapsed = time.monotonic() - t0
    seq = [ex.status for ex in exs]
    print(f"{n} invalid X-PAYMENT in {elapsed:.2f}s: " + " ".join(f"{s}x{seq.count(s)}" for s in sorted(set(seq))))
    c.check(set(seq) <= {402, 429}, "every answer is 402 or 429", [ex.describe() for ex in exs
                                                                  if ex.status not in (402, 429)][:2])
    c.eq(seq[:burst], [402] * burst, f"the first {burst} (the burst) are 402")
    allowed = burst + int(rate * elapsed) + 2
    c.check(seq.count(402) <= allowed, f"402s <= burst + rate x elapsed ({allowed})", seq.count(402))
    c.check(seq.count(429) >= n - allowed, "the rest are 429", seq.count(429))
    bad = [ex.describe() for ex in exs if ex.status == 402 and (body_json(ex.body) or {}).get("reason") != R_SIGNATURE]
    c.check(not bad, f"every 402 says {R_SIGNATURE}", bad[:2])
    first429 = next((ex for ex in exs if ex.status == 429), None)
    if c.check(first429 is not None, "a 429 was answered"):
        check_error(c, first429, 429, "too_many_requests", R_RATE_INVALID, "429")
        ra = first429.headers.get("retry-after") or ""
        c.check(ra.strip().isdigit() and int(ra) >= 1, "429: Retry-After >= 1 s", ra)
    calls = world.fac_calls()
    c.eq((calls["verify"] - calls_before["verify"], calls["settle"] - calls_before["settle"]), (0, 0),
         "flood: facilitator calls (verify, settle)")
    c.eq(world.dev_stats(), stats_before, "flood: dev facilitator /_dev/stats unchanged")
    c.eq(len(world.transfers()) - before, 0, "flood: ledger transfers")
    # Nobody else was starved: another address pays with v1 right after.
    ip2 = "127.0.8.2"
    account = Account.create()
    _, _, body = g.offer(ip=ip2)
    header, payload = sdk_v1_header(body, account)
    ex = g.xpay(PATH, header, ip=ip2)
    c.eq(ex.status, 200, "another address right after the flood: paid")
    c.eq(len(world.transfers(account.address)), 1, "another address: its transfer")
    c.done()


# ----------------------------------------------------------------------------------------------
# 9. v1 switched off
# ----------------------------------------------------------------------------------------------


def test_9_v1_off(world: World) -> None:
    c = Checks("9: x402.v1 false (gateway) and x402_v1 false (route)")
    ip = "127.0.9.1"
    key = {"X-Api-Key": API_KEY}
    main, nov1 = world.gw["main"], world.gw["nov1"]
    # v1 terms to sign with (the same asset, payee and amount), taken from a gateway that offers v1.
    _, _, body_main = main.offer(ip=ip)
    req = body_main["accepts"][0]

    cases = [(nov1, PATH, {}, "x402.v1 false: /datasets/prices"),
             (nov1, "/reports/daily", key, "x402.v1 false: /reports/daily (key)"),
             (main, "/datasets/history", {}, "route x402_v1 false: /datasets/history")]
    before, calls_before = len(world.transfers()), world.fac_calls()
    for g, path, headers, label in cases:
        ex = g.request(path, headers, ip=ip)
        print(f"[{label}: 402] {ex.describe()}")
        pr = check_402(c, ex, "Payment required", f"{label}: 402", body_reason="payment_required")
        body = body_json(ex.body) or {}
        c.check("x402Version" not in body, f"{label}: the body has no x402Version", short(ex.body))
        c.check(not any(isinstance(a, dict) and "maxAmountRequired" in a for a in body.get("accepts") or []),
                f"{label}: the body has no v1 accepts", body.get("accepts"))
        c.check("X-PAYMENT" not in str(body.get("detail", "")) + str(body.get("proofFormat", "")),
                f"{label}: detail / proofFormat do not offer X-PAYMENT",
                {"detail": body.get("detail"), "proofFormat": body.get("proofFormat")})
        if pr:
            c.eq((pr.get("accepts") or [{}])[0].get("network"), NETWORK, f"{label}: the v2 offer is intact")
        v1req = {**req, "resource": g.url + path}
        ex = g.xpay(path, v1_sign(v1req), headers, ip=ip)
        print(f"[{label}: X-PAYMENT] {ex.describe()}")
        check_402(c, ex, R_VERSION, f"{label}: X-PAYMENT")
        c.check("x-payment-response" not in ex.headers, f"{label}: X-PAYMENT: no X-PAYMENT-RESPONSE", ex.describe())
    c.eq(len(world.transfers()) - before, 0, "v1 off: ledger transfers")
    calls = world.fac_calls()
    c.eq((calls["verify"] - calls_before["verify"], calls["settle"] - calls_before["settle"]), (0, 0),
         "v1 off: facilitator calls (verify, settle)")

    # The rest still works: v2 on both, v1 on the main gateway's other routes.
    for g, path in ((nov1, PATH), (main, "/datasets/history")):
        account = Account.create()
        _, pr, _ = g.offer(path, ip=ip)
        ex = g.v2pay(path, sdk_sign(pr, account), ip=ip)
        c.eq(ex.status, 200, f"{g.name} {path}: v2 still pays")
        c.eq(len(world.transfers(account.address)), 1, f"{g.name} {path}: its transfer")
    _, pr, body = main.offer(PATH, ip=ip)
    c.eq(body.get("x402Version"), 1, "main /datasets/prices (x402_v1 not set): still offers v1")

    # x402_v1: true on a route of a gateway with x402.v1: false is a configuration error.
    text = nov1.config.read_text().replace("    consumed: on_success\n    anonymous: true\n    offer_validity_seconds",
                                           "    consumed: on_success\n    anonymous: true\n    x402_v1: true\n"
                                           "    offer_validity_seconds", 1)
    bad = world.workdir / "nov1-contradiction.yaml"
    bad.write_text(text)
    if c.check("x402_v1: true" in text, "contradiction config: x402_v1 true was inserted on a route"):
        chk = tollgate_check(bad, world.workdir, world.env)
        print(f"tollgate check (x402.v1 false + route x402_v1 true): rc={chk.returncode}\n{chk.stdout[-600:]}"
              f"{chk.stderr[-600:]}")
        c.check(chk.returncode != 0, "tollgate check refuses x402_v1 true with x402.v1 false", chk.returncode)
        c.check("x402_v1" in chk.stdout + chk.stderr, "tollgate check names x402_v1", chk.stdout + chk.stderr)
    c.done()


# ----------------------------------------------------------------------------------------------
# 10. the SDK's own facilitator
# ----------------------------------------------------------------------------------------------


def test_10_v1_sdk_facilitator(world: World) -> None:
    c = Checks("10: the SDK's facilitator receives the v1 body and accepts it")
    g = world.gw["sdk"]
    ip = "127.0.10.1"
    account = Account.create()
    _, pr, body = g.offer(ip=ip)
    check_v1_terms(c, body, pr, g.url + PATH, "SDK-facilitator gateway offer")
    header, payload = sdk_v1_header(body, account)
    before = fac_stats(world.sdk_facilitator)
    ex = g.xpay(PATH, header, ip=ip)
    print(ex.describe())
    after = fac_stats(world.sdk_facilitator)
    c.eq(ex.status, 200, "status")
    receipt = x_receipt(ex)
    c.eq((receipt.get("success"), receipt.get("network")), (True, V1_NETWORK), "X-PAYMENT-RESPONSE success / network")
    c.eq(after["settled"] - before["settled"], 1, "SDK facilitator settlements")
    c.eq(after["verifyCalls"] - before["verifyCalls"], 1, "SDK facilitator /verify calls")
    c.eq(after["settleCalls"] - before["settleCalls"], 1, "SDK facilitator /settle calls")
    if after["settlements"]:
        s = after["settlements"][-1]
        c.eq(s.get("transaction"), receipt.get("transaction"), "the SDK facilitator's settlement is the receipt's")
        c.eq(str(s.get("from", "")).lower(), account.address.lower(), "the SDK facilitator's settlement payer")
        c.eq(str(s.get("nonce", "")).lower(), payload["payload"]["authorization"]["nonce"].lower(),
             "the SDK facilitator's settlement nonce")
    calls = httpx.get(world.sdk_facilitator + "/_local/calls", timeout=5).json().get("calls", [])
    mine = [x for x in calls if (((x.get("request") or {}).get("paymentPayload") or {}).get("payload") or {})
            .get("authorization", {}).get("from", "").lower() == account.address.lower()]
    c.eq([x.get("endpoint") for x in mine], ["verify", "settle"], "the payer's SDK facilitator calls")
    for x in mine:
        check_v1_facilitator_body(c, {"request": x.get("request")}, g.url + PATH,
                                  f"SDK facilitator {x.get('endpoint')}")
        c.eq(x.get("status"), 200, f"SDK facilitator {x.get('endpoint')}: HTTP status")
    if len(mine) == 2:
        c.eq((mine[0].get("response") or {}).get("isValid"), True, "SDK facilitator /verify: isValid")
        c.eq((mine[1].get("response") or {}).get("success"), True, "SDK facilitator /settle: success")
    # The replay is refused by the gateway; the SDK facilitator sees nothing more.
    ex = g.xpay(PATH, header, ip=ip)
    check_v1_refusal(c, ex, R_NONCE_USED, "replay")
    again = fac_stats(world.sdk_facilitator)
    c.eq((again["verifyCalls"], again["settleCalls"], again["settled"]),
         (after["verifyCalls"], after["settleCalls"], after["settled"]), "replay: SDK facilitator counters unchanged")
    c.done()


# ----------------------------------------------------------------------------------------------
# 11. third-party tools: x402lint and x402-conformance
# ----------------------------------------------------------------------------------------------


def py312_tool(name: str) -> Path:
    venv = os.environ.get("TOLLGATE_PY312_VENV")
    if not venv:
        pytest.fail("TOLLGATE_PY312_VENV is not set: it must name the bin directory of the Python 3.12 venv with "
                    "x402lint and x402-conformance (Tests/Interop/requirements-py312.txt; scripts/interop.sh "
                    "makes it and sets it)", pytrace=False)
    tool = Path(venv) / name
    require_file(tool, f"{name} (TOLLGATE_PY312_VENV={venv})",
                 "install Tests/Interop/requirements-py312.txt into that venv (scripts/interop.sh does)")
    return tool


@dataclass
class ToolRun:
    argv: list[str]
    rc: int
    stdout: str
    stderr: str

    def describe(self) -> str:
        return (f"$ {' '.join(Path(self.argv[0]).name if i == 0 else a for i, a in enumerate(self.argv))}\n"
                f"  exit={self.rc}\n  stdout: {self.stdout[-1500:]}\n  stderr: {self.stderr[-800:]}")


def run_tool(w: World, argv: list[str], env: dict[str, str] | None = None, timeout: float = 60) -> ToolRun:
    e = dict(w.env)
    e.update(env or {})
    try:
        p = subprocess.run(argv, cwd=w.workdir, env=e, capture_output=True, text=True, timeout=timeout)
        return ToolRun(argv, p.returncode, p.stdout, p.stderr)
    except subprocess.TimeoutExpired as exc:
        return ToolRun(argv, -1, str(exc.stdout or ""), f"timeout after {timeout}s")


def first_json(text: str) -> Any:
    start_at = text.find("{")
    if start_at < 0:
        return None
    try:
        return json.JSONDecoder().raw_decode(text[start_at:])[0]
    except json.JSONDecodeError:
        return None


def test_11_v1_x402lint_and_conformance(world: World) -> None:
    c = Checks("11: x402lint check / roundtrip and x402conf resource against /datasets/prices")
    x402lint = py312_tool("x402lint")
    x402conf = py312_tool("x402conf")
    g = world.gw["main"]
    url = g.url + PATH

    run = run_tool(world, [str(x402lint), "check", url])
    print(run.describe())
    c.eq(run.rc, 0, "x402lint check: exit status")
    c.check("CONFORMANT" in run.stdout and " 0 fail" in run.stdout, "x402lint check: CONFORMANT, 0 fail", run.stdout)

    # roundtrip: signs from the 402 (v2 header, CAIP-2 network copied), sends X-PAYMENT x402Version 1.
    key = "0x" + secrets.token_hex(32)
    payer = Account.from_key(key).address
    before = len(world.transfers())
    run = run_tool(world, [str(x402lint), "roundtrip", url], {"X402LINT_PRIVATE_KEY": key})
    print(run.describe())
    c.eq(run.rc, 0, "x402lint roundtrip: exit status")
    m = re.search(r"SETTLED\s+tx (0x[0-9a-fA-F]{64})", run.stdout)
    c.check(m is not None and "NOT SETTLED" not in run.stdout, "x402lint roundtrip: SETTLED tx 0x...", run.stdout)
    moved = world.transfers(payer)
    if c.eq(len(moved), 1, "x402lint roundtrip: ledger transfers by its payer") and m:
        c.eq(moved[0]["tx"], m.group(1), "x402lint roundtrip: the tx it reports is the ledger's")
    c.eq(len(world.transfers()) - before, 1, "x402lint roundtrip: ledger transfers")

    # The same with --json: the settlement response it decoded.
    key2 = "0x" + secrets.token_hex(32)
    run = run_tool(world, [str(x402lint), "roundtrip", "--json", url], {"X402LINT_PRIVATE_KEY": key2})
    doc = first_json(run.stdout) or {}
    c.eq(run.rc, 0, "x402lint roundtrip --json: exit status")
    c.eq((doc.get("retry_status"), doc.get("settled")), (200, True),
         "x402lint roundtrip --json: retry_status / settled")
    c.eq((doc.get("settlement_response") or {}).get("network"), V1_NETWORK,
         "x402lint roundtrip --json: X-PAYMENT-RESPONSE network")

    # --x402-version 2: an X-PAYMENT labelled v2 (no `accepted`): documented refusal, nothing moves.
    key3 = "0x" + secrets.token_hex(32)
    payer3 = Account.from_key(key3).address
    before = len(world.transfers())
    run = run_tool(world, [str(x402lint), "roundtrip", "--json", "--x402-version", "2", url],
                   {"X402LINT_PRIVATE_KEY": key3})
    print(run.describe())
    doc = first_json(run.stdout) or {}
    c.eq(run.rc, 1, "x402lint roundtrip --x402-version 2: exit status (not settled)")
    c.eq((doc.get("retry_status"), doc.get("settled")), (402, False),
         "x402lint roundtrip --x402-version 2: retry_status / settled")
    c.eq(len(world.transfers(payer3)), 0, "x402lint roundtrip --x402-version 2: no transfer by its payer")
    # What it sent, re-made by `x402lint pay` (offline) and sent here to read the 402 body's reason.
    run = run_tool(world, [str(x402lint), "pay", "--json", "--x402-version", "2", url], {"X402LINT_PRIVATE_KEY": key3})
    doc = first_json(run.stdout) or {}
    c.eq(run.rc, 0, "x402lint pay --x402-version 2: exit status")
    header = doc.get("header")
    if c.check(isinstance(header, str), "x402lint pay: prints the X-PAYMENT header", run.describe()):
        sent = try_decode(header)[0] or {}
        c.eq((sent.get("x402Version"), "accepted" in sent), (2, False),
             "x402lint's v2 X-PAYMENT: version 2, no accepted")
        ex = g.xpay(PATH, header)
        print(f"[x402lint v2 X-PAYMENT] {ex.describe()}")
        check_402(c, ex, R_VERSION, "x402lint's v2-labelled X-PAYMENT")
    c.eq(len(world.transfers()) - before, 0, "x402lint --x402-version 2: ledger transfers")

    run = run_tool(world, [str(x402conf), "resource", "--fail-on-error", url], timeout=90)
    print(run.describe())
    c.eq(run.rc, 0, "x402conf resource --fail-on-error: exit status")
    doc = first_json(run.stdout)
    if c.check(isinstance(doc, dict), "x402conf resource: JSON on stdout", run.stdout[:500]):
        results = doc.get("results") or [{}]
        checks = results[0].get("checks") or []
        ids = {str(x.get("check", "")).split(" ")[0]: x.get("pass") for x in checks}
        print(f"x402conf checks: {ids}")
        c.eq(sorted(ids), [f"P{i}" for i in range(1, 8)], "x402conf resource: checks P1..P7")
        c.check(all(v is True for v in ids.values()), "x402conf resource: every check passes",
                [x for x in checks if x.get("pass") is not True])
        c.eq(results[0].get("http"), 402, "x402conf resource: the unpaid GET answered 402")
    c.done()


# ----------------------------------------------------------------------------------------------
# 12. spend cap, payer revocation, incident
# ----------------------------------------------------------------------------------------------


def v1_admin_ok(c: Checks, g: Gateway, label: str, *args: str) -> dict[str, Any]:
    return admin_ok(c, g, label, *args, actor="v1-suite")


def test_12_v1_cap_revocation_incident(world: World) -> None:
    c = Checks("12: the spend cap, a payer revocation and an incident apply to v1 payments")
    g = world.gw["main"]
    ip = "127.0.12.1"

    # Spend cap 0.03/day per payer: two v1 payments and one v2 payment spend it; the next v1 one is refused.
    payer = Account.create()
    for i, version in enumerate(("v1", "v2", "v1")):
        _, pr, body = g.offer(ip=ip)
        ex = g.xpay(PATH, sdk_v1_header(body, payer)[0], ip=ip) if version == "v1" else \
            g.v2pay(PATH, sdk_sign(pr, payer), ip=ip)
        c.eq(ex.status, 200, f"cap: payment {i + 1} ({version})")
    _, _, body = g.offer(ip=ip)
    before, calls_before = len(world.transfers()), world.fac_calls()
    ex = g.xpay(PATH, sdk_v1_header(body, payer)[0], ip=ip)
    print(f"[cap: payment 4 (v1)] {ex.describe()}")
    check_error(c, ex, 403, "forbidden", R_SPEND_CAP, "cap: payment 4 (v1)")
    c.check("x-payment-response" not in ex.headers, "cap: payment 4: no X-PAYMENT-RESPONSE", ex.describe())
    calls = world.fac_calls()
    # The cap is held after the facilitator's /verify (stage decide, as for v2): nothing is settled.
    c.eq(calls["settle"] - calls_before["settle"], 0, "cap: payment 4: facilitator /settle calls")
    c.eq(len(world.transfers()) - before, 0, "cap: payment 4: ledger transfers")
    c.eq(len(world.transfers(payer.address)), 3, "cap: ledger transfers by the payer")

    # Under concurrency: a fresh payer sends 5 distinct valid v1 payments at once -> exactly 3 pass.
    payer2 = Account.create()
    headers = [sdk_v1_header(g.offer(ip=ip)[2], payer2)[0] for _ in range(5)]
    results: list[Exchange | None] = [None] * 5
    barrier = threading.Barrier(5)

    def fire(i: int) -> None:
        barrier.wait()
        results[i] = g.xpay(PATH, headers[i], ip=ip)

    threads = [threading.Thread(target=fire, args=(i,)) for i in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    statuses = sorted(ex.status if ex else -1 for ex in results)
    print(f"5 concurrent v1 payments by one payer: {statuses}")
    c.eq(statuses, [200, 200, 200, 403, 403], "cap, concurrent: statuses")
    c.check(all((body_json(ex.body) or {}).get("reason") == R_SPEND_CAP for ex in results if ex and ex.status == 403),
            "cap, concurrent: the 403s say spend_cap_exceeded")
    c.eq(len(world.transfers(payer2.address)), 3, "cap, concurrent: ledger transfers by the payer")

    # Payer revocation: a revoked payer's valid v1 payment is refused before the facilitator; paid once lifted.
    payer3 = Account.create()
    header = sdk_v1_header(g.offer(ip=ip)[2], payer3)[0]
    v1_admin_ok(c, g, "revoke payer", "revoke", "--payer", payer3.address, "--reason", "v1 suite")
    calls_before = world.fac_calls()
    ex = g.xpay(PATH, header, ip=ip)
    print(f"[revoked payer] {ex.describe()}")
    check_error(c, ex, 403, "forbidden", R_PAYER_REVOKED, "revoked payer's v1 payment")
    calls = world.fac_calls()
    c.eq((calls["verify"] - calls_before["verify"], calls["settle"] - calls_before["settle"]), (0, 0),
         "revoked payer: facilitator calls (verify, settle)")
    v1_admin_ok(c, g, "unrevoke payer", "unrevoke", "--payer", payer3.address)
    ex = g.xpay(PATH, header, ip=ip)
    c.eq(ex.status, 200, "after unrevoke, the same X-PAYMENT is paid")
    c.eq(len(world.transfers(payer3.address)), 1, "after unrevoke: ledger transfers by the payer")

    # Incident on the datasets route: a v1 payment is refused (503), nothing moves; paid once it is over.
    payer4 = Account.create()
    header = sdk_v1_header(g.offer(ip=ip)[2], payer4)[0]
    v1_admin_ok(c, g, "incident on", "incident", "on", "--route", "datasets", "--reason", "v1 suite")
    calls_before = world.fac_calls()
    try:
        ex = g.xpay(PATH, header, ip=ip)
        print(f"[incident] {ex.describe()}")
        check_error(c, ex, 503, "service_unavailable", R_INCIDENT, "incident: a v1 payment for /datasets")
        calls = world.fac_calls()
        c.eq((calls["verify"] - calls_before["verify"], calls["settle"] - calls_before["settle"]), (0, 0),
             "incident: facilitator calls (verify, settle)")
    finally:
        v1_admin_ok(c, g, "incident off", "incident", "off", "--route", "datasets")
    ex = g.xpay(PATH, header, ip=ip)
    c.eq(ex.status, 200, "incident off: the v1 payment refused during the incident is paid")
    c.eq(len(world.transfers(payer4.address)), 1, "incident off: ledger transfers by the payer")
    c.done()
