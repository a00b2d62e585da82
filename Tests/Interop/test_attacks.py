#!/usr/bin/env python3
"""Tollgate attack suite: hostile and broken peers against `tollgate serve`, offline, on loopback.

    scripts/interop.sh -k attacks          (only this file; scripts/interop.sh alone runs both files)
    TOLLGATE_BIN=.build/debug/tollgate python -m pytest Tests/Interop/test_attacks.py -v -s

It reuses the processes and helpers of `harness.py` (shared with test_interop.py; imported, not copied): the sample upstream,
the official-x402-SDK facilitator `sdk_facilitator.py` (whose `/_local/stats` counts /verify,
/settle and settlements), the quickstart-derived config, the SDK's own payer and `eth_account`.

Gateways (each its own `tollgate serve`, its own fresh SQLite, started in parallel):
  main   the quickstart + an `admin:` listener (token from TOLLGATE_ADMIN_TOKEN), tight `limits`
         (invalid {rate_per_second: 2, burst: 10}), `spend_caps` {per: payer, period: day,
         asset: usdc-base-sepolia, max: "0.03"} and one extra route `GET /datasets/history`
         (resource `datasets-history`) with `offer_validity_seconds: 5`.
  race   the same without limits (`off`), for 100 concurrent copies of one proof.
  stub   the quickstart settling through a Python stub facilitator (this file) that answers
         /supported properly and breaks /verify (500, garbage JSON, 308, too slow);
         `facilitators[0].timeout_seconds: 2`. After failures the gateway may take the stub out
         of rotation (paid requests then fail fast, also 503) until its next /supported: a mode
         whose request did not reach /verify is tried again once the stub is back.
  slow   the quickstart without limits, settling through a proxy (this file) that holds each /settle
         for a second before passing it to the SDK facilitator.

Rate limits count per IP address: every scenario on `main` talks from its own loopback source
address (127.0.0.N), so one scenario's invalid proofs never eat another's budget.

Scenarios (file order):
  1 race of 100 copies of one proof     2 flood of 200 forged proofs -> 429 before any facilitator
  3 misdirected offers / proofs         4 tampering (terms, authorization, token, expiry, high-s)
  5 undecodable / oversized headers     6 idempotent retry of an identified client
  6b a connection reset while its payment settles (slow): an identified client's retry gets the kept answer, no
     refund; an anonymous one's payment is refunded at once and its retry told so
  7 spend cap per payer                 8 admin: revocations, incidents, token
  9 private fields                     10 facilitator failure modes (stub)
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import socket
import struct
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, Callable

import httpx
import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data

from harness import (  # shared helpers (harness.py is not a test module)
    API_KEY, CORR, PRICE_ATOMIC, QUICKSTART, TOLLGATE_BIN,
    USDC_BASE_SEPOLIA, R_NONCE_USED, R_VALUE, R_RECIPIENT, R_SIGNATURE, R_TERMS, R_OFFER_INVALID,
    R_RESOURCE, R_INVALID_PAYLOAD, R_FAC_DOWN, NO_LIMITS_YAML, _EIP712_TYPES,
    Checks, Exchange, LocalServer, Proc, ServedGateway, admin_ok, alter_token_char, answers_http, b64json_decode, close_clients,
    b64json_encode, body_json, check_402, check_error, child_env, drop_top_level, eip3009_sign,
    fac_stats, finish,
    free_port, http_status, make_config, new_workdir, require_file, sdk_get, sdk_sign,
    set_facilitator_timeout, short, start, start_sdk_facilitator, start_upstream, startup_failed,
    try_decode, wait_until,
)

R_OFFER_EXPIRED = "offer_expired"
R_OFFER_CLIENT = "offer_client_mismatch"
R_TOO_LARGE = "payment_header_too_large"
R_VERSION = "invalid_x402_version"
R_RATE_INVALID = "rate_limited_invalid"
R_SPEND_CAP = "spend_cap_exceeded"
R_PAYER_REVOKED = "payer_revoked"
R_CLIENT_REVOKED = "client_revoked"
R_INCIDENT = "incident"

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
BASE_MAINNET_USDC = "0x833589fCD6eDb6E08f4c3C32D4f71b54bdA02913"

# Loopback source address per scenario (rate limits count per IP).
IP = {"default": "127.0.0.1", "race": "127.0.0.11", "flood": "127.0.0.12", "flood_other": "127.0.0.13",
      "mismatch": "127.0.0.14", "tamper": "127.0.0.15", "decode": "127.0.0.16",
      "idem": "127.0.0.17", "cap": "127.0.0.18", "admin": "127.0.0.19", "private": "127.0.0.20",
      "stub": "127.0.0.21"}

SPEND_CAP_YAML = """
spend_caps:
  - {per: payer, period: day, asset: usdc-base-sepolia, max: "0.03"}
"""
TIGHT_LIMITS_YAML = """
limits:
  unpaid: {rate_per_second: 50, burst: 100}
  paid: {rate_per_second: 20, burst: 40}
  invalid: {rate_per_second: 2, burst: 10}
"""
# Inserted first under `routes:` (first match wins): a short-lived offer on /datasets/history.
SHORT_OFFER_ROUTE = """  - method: GET
    path: /datasets/history
    resource: datasets-history
    description: History, with offers valid 5 s
    price: "0.01"
    accepts: [usdc-base-sepolia]
    anonymous: true
    offer_validity_seconds: 5
    max_timeout_seconds: 60
"""

# ----------------------------------------------------------------------------------------------
# Config editing
# ----------------------------------------------------------------------------------------------


def insert_first_route(text: str, route_yaml: str) -> str:
    lines = text.splitlines()
    idx = next(i for i, line in enumerate(lines) if re.match(r"^routes:\s*$", line))
    return "\n".join(lines[:idx + 1] + route_yaml.rstrip("\n").splitlines() + lines[idx + 1:]) + "\n"


# ----------------------------------------------------------------------------------------------
# HTTP from a chosen loopback source address
# ----------------------------------------------------------------------------------------------

# client_from (harness): one keep-alive client per loopback source address.


class Gateway(ServedGateway):
    """A gateway of this suite: requests, 402s, paid retries, traces and admin commands (`ServedGateway`)."""


# ----------------------------------------------------------------------------------------------
# The stub facilitator (scenario 10)
# ----------------------------------------------------------------------------------------------


class StubFacilitator(LocalServer):
    """/supported copied from the real (SDK) facilitator; /verify broken in the current `mode`:
      "500"      HTTP 500 whose body nevertheless says {"isValid": true}
      "garbage"  HTTP 200, body that is not JSON
      "redirect" HTTP 308 to the REAL facilitator's /verify (which would say isValid: true)
      "slow"     answers {"isValid": true} only after `slow_seconds` (> the gateway's timeout)
    /settle always 500 and counted: any /settle here is a failure of the gateway."""

    def __init__(self, supported: dict[str, Any], real_url: str, slow_seconds: float = 5.0) -> None:
        self.supported = json.dumps(supported).encode()
        self.real_url = real_url
        self.slow_seconds = slow_seconds
        self.mode = "500"
        self.counts = {"supported": 0, "verify": 0, "settle": 0}
        self.requests: list[str] = []          # "t=<s> port=<client port> <METHOD> <path> [mode]"
        self.t0 = time.monotonic()
        self.lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _send(self, status: int, body: bytes, ctype: str = "application/json",
                      extra: dict[str, str] | None = None) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(body)))
                    for k, v in (extra or {}).items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the gateway gave up (slow mode)

            def do_GET(self) -> None:  # noqa: N802
                stub.record(self)
                if self.path.split("?")[0] == "/supported":
                    with stub.lock:
                        stub.counts["supported"] += 1
                    self._send(200, stub.supported)
                else:
                    self._send(404, b'{"error":"not_found"}')

            def do_POST(self) -> None:  # noqa: N802
                stub.record(self)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                path = self.path.split("?")[0]
                payer = ""
                try:
                    payer = json.loads(raw)["paymentPayload"]["payload"]["authorization"]["from"]
                except Exception:  # noqa: BLE001
                    pass
                valid = json.dumps({"isValid": True, "payer": payer}).encode()
                if path == "/settle":
                    with stub.lock:
                        stub.counts["settle"] += 1
                    self._send(500, b'{"error":"stub: settle must never be called"}')
                    return
                if path != "/verify":
                    self._send(404, b'{"error":"not_found"}')
                    return
                with stub.lock:
                    stub.counts["verify"] += 1
                    mode = stub.mode
                if mode == "500":
                    self._send(500, valid)
                elif mode == "garbage":
                    self._send(200, b"{\"isValid\": tru<html>garbage", "application/json")
                elif mode == "redirect":
                    self._send(308, b"", extra={"Location": stub.real_url + "/verify"})
                elif mode == "slow":
                    time.sleep(stub.slow_seconds)
                    self._send(200, valid)
                else:
                    self._send(200, valid)

        self.serve(Handler)

    def record(self, handler: BaseHTTPRequestHandler) -> None:
        with self.lock:
            self.requests.append(f"t={time.monotonic() - self.t0:.2f} port={handler.client_address[1]} "
                                 f"{handler.command} {handler.path} [{self.mode}]")

class SlowSettleProxy(LocalServer):
    """The real (SDK) facilitator behind a proxy that holds each /settle for `delay` seconds before passing it on:
    long enough for a client to reset its connection while its payment settles."""

    def __init__(self, real_url: str, delay: float = 1.0) -> None:
        self.real_url = real_url
        self.delay = delay
        self.counts = {"settle": 0}
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _pass_on(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                if self.path.split("?")[0] == "/settle":
                    with proxy.lock:
                        proxy.counts["settle"] += 1
                    time.sleep(proxy.delay)
                r = httpx.request(method, proxy.real_url + self.path, content=raw or None,
                                  headers={"Content-Type": self.headers.get("Content-Type") or "application/json"}, timeout=10)
                try:
                    self.send_response(r.status_code)
                    self.send_header("Content-Type", r.headers.get("content-type", "application/json"))
                    self.send_header("Content-Length", str(len(r.content)))
                    self.end_headers()
                    self.wfile.write(r.content)
                except OSError:
                    pass

            def do_GET(self) -> None:  # noqa: N802
                self._pass_on("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._pass_on("POST")

        self.serve(Handler)


# ----------------------------------------------------------------------------------------------
# The world: upstream, SDK facilitator, stub facilitator, slow-settling proxy, four gateways
# ----------------------------------------------------------------------------------------------


@dataclass
class World:
    workdir: Path
    upstream: str
    facilitator: str
    stub: StubFacilitator
    slow: SlowSettleProxy
    gw: dict[str, Gateway]
    procs: dict[str, Proc]
    env: dict[str, str]
    state: dict[str, Any] = field(default_factory=dict)

    def fac_stats(self) -> dict[str, Any]:
        return fac_stats(self.facilitator)


def fac_delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, int]:
    return {k: after[k] - before[k] for k in ("verifyCalls", "settleCalls", "settled")}


@pytest.fixture(scope="module")
def world(request) -> World:
    require_file(TOLLGATE_BIN, "gateway binary")
    workdir = new_workdir("tollgate-attacks-", TOLLGATE_BIN)
    procs: dict[str, Proc] = {}
    child = child_env(TOLLGATE_ADMIN_TOKEN=secrets.token_hex(32))
    stub: StubFacilitator | None = None
    slow: SlowSettleProxy | None = None
    gws: dict[str, Gateway] = {}
    try:
        procs["upstream"], up_port, upstream = start_upstream(workdir, child)
        procs["facilitator"], facilitator = start_sdk_facilitator(workdir, child)
        supported = httpx.get(facilitator + "/supported", timeout=5).json()
        stub = StubFacilitator(supported, facilitator)
        slow = SlowSettleProxy(facilitator)

        template = QUICKSTART.read_text()
        specs = {
            # name: (facilitator url, limits yaml, admin?, spend caps?, facilitator timeout, route)
            "main": (facilitator, TIGHT_LIMITS_YAML, True, True, None, SHORT_OFFER_ROUTE),
            "race": (facilitator, NO_LIMITS_YAML, False, True, None, None),
            "stub": (stub.url, TIGHT_LIMITS_YAML, False, False, 2, None),
            "slow": (slow.url, NO_LIMITS_YAML, False, False, None, None),
        }
        for name, (fac_url, limits, admin, caps, fac_timeout, route) in specs.items():
            gdir = workdir / name
            gdir.mkdir()
            port = free_port()
            text = make_config(template, port, up_port, fac_url, gdir / "gateway.sqlite")
            text = drop_top_level(text, "limits") + limits
            if caps:
                text += SPEND_CAP_YAML
            admin_url = None
            if admin:
                aport = free_port()
                admin_url = f"http://127.0.0.1:{aport}"
                text += f"\nadmin:\n  listen: 127.0.0.1:{aport}\n  token: {{env: TOLLGATE_ADMIN_TOKEN}}\n"
            if fac_timeout:
                text = set_facilitator_timeout(text, fac_timeout)
            if route:
                text = insert_first_route(text, route)
            config = gdir / "tollgate.yaml"
            config.write_text(text)
            chk = subprocess.run([str(TOLLGATE_BIN), "check", "--config", str(config)], cwd=gdir,
                                 env=child, capture_output=True, text=True, timeout=60)
            if chk.returncode != 0:
                raise RuntimeError(f"tollgate check {name}: rc={chk.returncode}\n{chk.stdout}\n"
                                   f"{chk.stderr}\n--- config:\n{text}")
            proc = start(f"gateway-{name}", [str(TOLLGATE_BIN), "serve", "--config", str(config)],
                         gdir, child)
            procs[f"gateway-{name}"] = proc
            gws[name] = Gateway(name, f"http://127.0.0.1:{port}", config, gdir, proc, child,
                                admin_url)
        for name, g in gws.items():
            # Ready = answers HTTP and the paid route makes offers (the network is open, i.e.
            # the facilitator's /supported was read).
            wait_until(f"gateway {name} answering", lambda g=g: answers_http(g.url + "/health"),
                       g.proc, 60)
            wait_until(f"gateway {name} offering (402)",
                       lambda g=g: http_status(g.url + "/datasets/prices") == 402, g.proc, 20)
            # Offers are made before the facilitator's /supported was read; paid requests need it.
            try:
                wait_until(f"gateway {name} log: facilitators ready",
                           lambda g=g: "facilitators ready" in g.proc.log.read_text(errors="replace"),
                           g.proc, 10)
            except RuntimeError as exc:
                print(f"warning: {str(exc).splitlines()[0]}")
    except Exception as exc:
        startup_failed(procs, workdir, exc, *[server.stop for server in (stub, slow) if server])

    w = World(workdir, upstream, facilitator, stub, slow, gws, procs, child)
    print("  ".join(f"{n} {g.url}" for n, g in gws.items())
          + f"  admin {gws['main'].admin_url}  upstream {upstream}  facilitator {facilitator}"
          + f"  stub {stub.url}")
    yield w

    stub.stop()
    slow.stop()
    close_clients()
    finish(workdir, procs, request.session.testsfailed, tail_lines=20)


# ----------------------------------------------------------------------------------------------
# Proof construction
# ----------------------------------------------------------------------------------------------


def forge(pr: dict[str, Any], account=None, *, accepted: dict[str, Any] | None = None,
          to: str | None = None, value: int | None = None, chain_id: int | None = None,
          contract: str | None = None) -> dict[str, Any]:
    """A PaymentPayload whose `accepted` is the offered entry with `accepted` overrides applied,
    and whose EIP-3009 authorization is PROPERLY signed by `account` for the (tampered) accepted
    terms, unless to/value/chain_id/contract say otherwise. So each case isolates one lie."""
    account = account or Account.create()
    acc = json.loads(json.dumps(pr["accepts"][0]))
    acc.update(accepted or {})
    now = int(time.time())
    nonce = secrets.token_bytes(32)
    to = to or acc["payTo"]
    value = int(acc["amount"]) if value is None else value
    chain_id = chain_id or int(acc["network"].split(":")[1])
    contract = contract or acc["asset"]
    sig = eip3009_sign(account, to=to, value=value, chain_id=chain_id, contract=contract,
                       name=acc["extra"]["name"], version=acc["extra"]["version"],
                       valid_after=0, valid_before=now + 60, nonce=nonce)
    return {"x402Version": 2, "resource": pr.get("resource"), "accepted": acc,
            "payload": {"signature": sig,
                        "authorization": {"from": account.address, "to": to, "value": str(value),
                                          "validAfter": "0", "validBefore": str(now + 60),
                                          "nonce": "0x" + nonce.hex()}}}


def high_s(signature_hex: str) -> str:
    """The malleable twin of a (low-s) signature: s' = n - s, v flipped. Same signer."""
    raw = bytes.fromhex(signature_hex[2:])
    r, s, v = raw[:32], int.from_bytes(raw[32:64], "big"), raw[64]
    s2 = SECP256K1_N - s
    v2 = {27: 28, 28: 27, 0: 1, 1: 0}[v]
    return "0x" + (r + s2.to_bytes(32, "big") + bytes([v2])).hex()


def recover_signer(payload: dict[str, Any]) -> tuple[str, bool]:
    """(address recovered from the payload's signature over its EIP-712 digest, s > n/2)."""
    from eth_account.messages import _hash_eip191_message
    from eth_keys import keys
    acc, auth = payload["accepted"], payload["payload"]["authorization"]
    typed = {"types": _EIP712_TYPES, "primaryType": "TransferWithAuthorization",
             "domain": {"name": acc["extra"]["name"], "version": acc["extra"]["version"],
                        "chainId": int(acc["network"].split(":")[1]),
                        "verifyingContract": acc["asset"]},
             "message": {"from": auth["from"], "to": auth["to"], "value": int(auth["value"]),
                         "validAfter": int(auth["validAfter"]),
                         "validBefore": int(auth["validBefore"]),
                         "nonce": bytes.fromhex(auth["nonce"][2:])}}
    digest = _hash_eip191_message(encode_typed_data(full_message=typed))
    raw = bytes.fromhex(payload["payload"]["signature"][2:])
    r, s, v = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:64], "big"), raw[64]
    pub = keys.Signature(vrs=(v - 27 if v >= 27 else v, r, s)).recover_public_key_from_msg_hash(digest)
    return pub.to_checksum_address(), s > SECP256K1_N // 2


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64url_encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def edit_middle_char(text: str) -> str:
    i = len(text) // 2
    return text[:i] + ("A" if text[i] != "A" else "B") + text[i + 1:]


# ----------------------------------------------------------------------------------------------
# Assertion helpers
# ----------------------------------------------------------------------------------------------


def trace_doc(g: Gateway, c: Checks, label: str, cid: str | None,
              ready: Callable[[dict[str, Any]], bool], timeout: float = 8.0) -> dict[str, Any] | None:
    """`tollgate trace CID --config CFG --json`, polled until `ready(doc)` (unpaid-path events are
    committed in batches) or `timeout`. Returns the last document (checked: exit 0, JSON)."""
    if not c.check(bool(cid), f"{label}: have a correlation id"):
        return None
    deadline = time.monotonic() + timeout
    while True:
        rc, out, err = g.trace(cid)
        doc = None
        if rc == 0:
            try:
                doc = json.loads(out)
            except json.JSONDecodeError:
                doc = None
        if isinstance(doc, dict) and ready(doc):
            break
        if time.monotonic() > deadline:
            break
        time.sleep(0.3)
    if not c.check(rc == 0 and isinstance(doc, dict), f"{label}: `tollgate trace --json` gives a "
                   f"JSON document", f"rc={rc} stdout={out[:300]!r} stderr={err[-500:]!r}"):
        return None
    return doc


def events(doc: dict[str, Any] | None) -> list[dict[str, Any]]:
    return [e for e in (doc or {}).get("events") or [] if isinstance(e, dict)]


def summary(doc: dict[str, Any] | None) -> list[tuple]:
    return [(e.get("stage"), e.get("outcome"), e.get("reason")) for e in events(doc)]


def check_trace_refusal(g: Gateway, c: Checks, label: str, ex: Exchange, reason: str) -> None:
    """The flow of a refused proof ends denied with `reason`, and nothing was forwarded/settled."""
    doc = trace_doc(g, c, f"{label}: trace", ex.headers.get(CORR),
                    lambda d: any(e.get("reason") == reason and e.get("outcome") == "denied"
                                  for e in events(d)))
    if doc is None:
        return
    c.check(any(e.get("reason") == reason and e.get("outcome") == "denied" for e in events(doc)),
            f"{label}: trace has a denied event with reason {reason}", summary(doc))
    c.check(not any(e.get("stage") in ("forward", "settle") for e in events(doc)),
            f"{label}: trace has no forward / settle event", summary(doc))


def check_no_success_receipt(c: Checks, ex: Exchange, label: str) -> None:
    receipt = try_decode(ex.headers.get("payment-response"))[0] if "payment-response" in ex.headers \
        else None
    c.check(not (isinstance(receipt, dict) and receipt.get("success") is True),
            f"{label}: no successful PAYMENT-RESPONSE", receipt)


def check_fac_zero(c: Checks, before: dict[str, Any], after: dict[str, Any], label: str,
                   verify: bool = True) -> None:
    d = fac_delta(before, after)
    c.eq(d["settleCalls"], 0, f"{label}: facilitator /settle calls")
    c.eq(d["settled"], 0, f"{label}: facilitator settlements")
    if verify:
        c.eq(d["verifyCalls"], 0, f"{label}: facilitator /verify calls")


def receipt_of(ex: Exchange | None) -> dict[str, Any]:
    if ex is None:
        return {}
    return try_decode(ex.headers.get("payment-response"))[0] or {}


# ----------------------------------------------------------------------------------------------
# 1. race: 100 concurrent copies of one valid proof
# ----------------------------------------------------------------------------------------------


def test_1_attacks_race_one_proof_100_times(world: World) -> None:
    c = Checks("1: 100 concurrent copies of one valid anonymous proof (limits off)")
    g = world.gw["race"]
    offer_ex, pr = g.offer(ip=IP["race"])
    payload = sdk_sign(pr)                      # signed once, by the SDK's signer
    sig = b64json_encode(payload)
    url = g.url + "/datasets/prices"
    n = 100
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def worker(i: int) -> None:
        with httpx.Client(transport=httpx.HTTPTransport(local_address=IP["race"]),
                          timeout=60) as http:
            try:
                http.get(g.url + "/health")     # warm, kept-alive connection
            except httpx.HTTPError:
                pass
            barrier.wait()
            try:
                r = http.get(url, headers={"PAYMENT-SIGNATURE": sig})
                results[i] = Exchange("GET", url, r.request.headers, r.status_code, r.headers,
                                      r.content)
            except Exception as exc:  # noqa: BLE001
                results[i] = exc

    before = world.fac_stats()
    t0 = time.monotonic()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    print(f"100 requests answered in {time.monotonic() - t0:.2f}s")
    after = world.fac_stats()

    errors = [r for r in results if not isinstance(r, Exchange)]
    c.check(not errors, "every request got an HTTP answer", errors[:3])
    exs = [r for r in results if isinstance(r, Exchange)]
    statuses: dict[int, int] = {}
    for ex in exs:
        statuses[ex.status] = statuses.get(ex.status, 0) + 1
    print(f"statuses: {statuses}")
    c.eq(statuses.get(200, 0), 1, "number of 200")
    # The losers arriving while the winner is in flight get 503 payment_in_progress (never a 402 while the
    # money may be moving: a stock client would pay again); those arriving after its delivery get the 402.
    c.eq(statuses.get(402, 0) + statuses.get(503, 0), n - 1, "number of 402 + 503")
    c.check(all(ex.status == 503 and (body_json(ex.body) or {}).get("reason") == "payment_in_progress"
                and ex.headers.get("retry-after") for ex in exs if ex.status >= 500),
            "every 5xx is 503 payment_in_progress with Retry-After",
            [ex.describe() for ex in exs if ex.status >= 500 and (body_json(ex.body) or {}).get("reason") != "payment_in_progress"][:2])
    bad = []
    for ex in exs:
        if ex.status == 402:
            body = body_json(ex.body) or {}
            pre = (try_decode(ex.headers.get("payment-required"))[0] or {}).get("error")
            if body.get("reason") != R_NONCE_USED or pre != R_NONCE_USED:
                bad.append(ex.describe())
    c.check(not bad, f"every 402 has body.reason and PAYMENT-REQUIRED.error {R_NONCE_USED}",
            bad[:3])
    c.check(all(receipt_of(ex).get("success") is not True for ex in exs if ex.status != 200),
            "no loser carries a successful PAYMENT-RESPONSE")
    winner = next((ex for ex in exs if ex.status == 200), None)
    d = fac_delta(before, after)
    c.eq(d["settled"], 1, "facilitator settlements")
    c.eq(d["settleCalls"], 1, "facilitator /settle calls")
    c.eq(d["verifyCalls"], 1, "facilitator /verify calls (the losers never reached it)")
    if winner is not None:
        rc = receipt_of(winner)
        c.eq(rc.get("success"), True, "winner receipt.success")
        if after["transactions"]:
            c.eq(rc.get("transaction"), after["transactions"][-1],
                 "winner receipt.transaction is the facilitator's settlement")
        cid = winner.headers.get(CORR)
        c.eq(cid, offer_ex.headers.get(CORR), "winner continues the offer's flow")

        def ready(d):
            return sum(1 for e in events(d) if e.get("stage") == "reserve") >= n

        doc = trace_doc(g, c, "trace(offer flow)", cid, ready, timeout=10)
        if doc:
            ev = events(doc)
            reserve_ok = [e for e in ev if e.get("stage") == "reserve" and e.get("outcome") == "ok"]
            reserve_denied = [e for e in ev if e.get("stage") == "reserve"
                              and e.get("outcome") == "denied"]
            settles = [e for e in ev if e.get("stage") == "settle"]
            c.eq(len(reserve_ok), 1, "trace: reserve ok events")
            c.eq(len(reserve_denied), n - 1, "trace: denied reserve events (one per loser)")
            c.check(all(e.get("reason") in (R_NONCE_USED, "payment_in_progress") for e in reserve_denied),
                    f"trace: every denied reserve has reason {R_NONCE_USED} or payment_in_progress",
                    {e.get("reason") for e in reserve_denied})
            # The intent (committed before /settle), then exactly one settlement.
            c.eq([(e.get("outcome"), e.get("reason"), (e.get("details") or {}).get("transaction"))
                  for e in settles],
                 [("received", "settle_intent", None), ("ok", None, receipt_of(winner).get("transaction"))],
                 "trace: the settle intent, then exactly one settle, ok, with the receipt's transaction")
    c.done()


# ----------------------------------------------------------------------------------------------
# 2. flood of forged proofs from one client
# ----------------------------------------------------------------------------------------------


def test_2_attacks_invalid_flood(world: World) -> None:
    c = Checks("2: flood of 200 invalid proofs from one client -> 402 then 429, facilitator untouched")
    g = world.gw["main"]
    ip = IP["flood"]
    _, pr = g.offer(ip=ip)
    base = sdk_sign(pr)
    proofs = []
    for _ in range(200):
        p = json.loads(json.dumps(base))
        # Valid structure, broken signature: a fresh nonce the signature does not cover, so every
        # proof is distinct (no cache hit) and recovers to someone other than `from`.
        p["payload"]["authorization"]["nonce"] = "0x" + secrets.token_hex(32)
        proofs.append(b64json_encode(p))
    before = world.fac_stats()
    t0 = time.monotonic()
    exs = [g.send("/datasets/prices", sig, ip=ip) for sig in proofs]
    elapsed = time.monotonic() - t0
    after = world.fac_stats()
    seq = [ex.status for ex in exs]
    print(f"200 proofs in {elapsed:.2f}s; statuses: "
          + " ".join(f"{s}x{seq.count(s)}" for s in sorted(set(seq))))
    print("first 16:", seq[:16])
    c.check(set(seq) <= {402, 429}, "every answer is 402 or 429",
            [ex.describe() for ex in exs if ex.status not in (402, 429)][:2])
    c.eq(seq[:10], [402] * 10, "the first 10 (the burst) are 402")
    n402 = seq.count(402)
    allowed = 10 + int(2 * elapsed) + 2
    c.check(n402 <= allowed, f"402s <= burst + rate x elapsed ({allowed})", n402)
    c.check(seq.count(429) >= 200 - allowed, "the rest are 429", seq.count(429))
    first402 = exs[0]
    check_402(c, first402, R_SIGNATURE, "first forged proof")
    bad402 = [ex.describe() for ex in exs if ex.status == 402
              and (body_json(ex.body) or {}).get("reason") != R_SIGNATURE]
    c.check(not bad402, f"every 402 says {R_SIGNATURE}", bad402[:2])
    first429 = next((ex for ex in exs if ex.status == 429), None)
    if c.check(first429 is not None, "a 429 was answered"):
        print(first429.describe())
        check_error(c, first429, 429, "too_many_requests", R_RATE_INVALID, "429")
        problems = []
        for ex in exs:
            if ex.status != 429:
                continue
            ra = ex.headers.get("retry-after") or ""
            pol = ex.headers.get("ratelimit-policy") or ""
            rl = ex.headers.get("ratelimit") or ""
            reason = (body_json(ex.body) or {}).get("reason")
            if not (ra.strip().isdigit() and int(ra) >= 1 and re.search(r'"invalid";q=10;w=\d+', pol)
                    and re.search(r'"invalid";r=\d+;t=\d+', rl) and reason == R_RATE_INVALID):
                problems.append(f"Retry-After={ra!r} RateLimit-Policy={pol!r} RateLimit={rl!r} "
                                f"reason={reason!r}")
        c.check(not problems, "every 429: Retry-After >= 1, RateLimit-Policy \"invalid\";q=10;w=.., "
                "RateLimit \"invalid\";r=..;t=.., reason rate_limited_invalid", problems[:2])
        print(f"429 headers: Retry-After={first429.headers.get('retry-after')} "
              f"RateLimit-Policy={first429.headers.get('ratelimit-policy')} "
              f"RateLimit={first429.headers.get('ratelimit')}")
        doc = trace_doc(g, c, "trace(429)", first429.headers.get(CORR),
                        lambda d: any(e.get("stage") == "admit" for e in events(d)))
        if doc:
            c.check(any(e.get("stage") == "admit" and e.get("reason") == R_RATE_INVALID
                        for e in events(doc)), "trace(429): an admit event rate_limited_invalid",
                    summary(doc))
    check_fac_zero(c, before, after, "flood")

    # The flood starved nobody else: another address still gets an offer and pays.
    ex = g.get("/datasets/prices", ip=IP["flood_other"])
    c.eq(ex.status, 402, "another client right after the flood: offer status")
    before = world.fac_stats()
    res = sdk_get(g.url + "/datasets/prices")
    c.eq([e.status for e in res.exchanges], [402, 200], "another client pays right after the flood")
    c.eq(fac_delta(before, world.fac_stats())["settled"], 1, "its settlement")
    c.done()


# ----------------------------------------------------------------------------------------------
# 3. misdirected proofs and offers
# ----------------------------------------------------------------------------------------------


def test_3_attacks_misdirected(world: World) -> None:
    c = Checks("3: proofs / offers presented for another resource or by another client")
    g = world.gw["main"]
    ip = IP["mismatch"]
    before = world.fac_stats()

    _, pr = g.offer("/datasets/prices", ip=ip)
    payload = sdk_sign(pr)
    ex = g.send("/datasets/history", payload, ip=ip)
    print(f"[prices proof -> /datasets/history] {ex.describe()}")
    check_402(c, ex, R_RESOURCE, "resource A proof sent to resource B")
    check_trace_refusal(g, c, "A->B", ex, R_RESOURCE)
    ex = g.send("/datasets/prices?symbol=ACME", payload, ip=ip)
    print(f"[prices proof -> prices?symbol=ACME] {ex.describe()}")
    check_402(c, ex, R_RESOURCE, "same route, other query")

    # An offer made to the API-key client `analyst` ...
    _, apr = g.offer("/reports/daily", {"X-Api-Key": API_KEY}, ip=ip)
    apayload = sdk_sign(apr)
    # ... presented without the key: identification comes first.
    ex = g.send("/reports/daily", apayload, ip=ip)
    print(f"[analyst proof, no key] {ex.describe()}")
    check_error(c, ex, 401, "unauthorized", "missing_credentials", "analyst proof without the key")
    c.check("payment-required" not in ex.headers, "401: no PAYMENT-REQUIRED", ex.describe())
    # ... presented by an anonymous caller on a datasets route.
    ex = g.send("/datasets/prices", apayload, ip=ip)
    print(f"[analyst proof, anonymous on /datasets/prices] {ex.describe()}")
    reason = (body_json(ex.body) or {}).get("reason")
    c.check(reason in (R_OFFER_CLIENT, R_RESOURCE),
            f"anonymous with the analyst's offer: reason {R_OFFER_CLIENT} or {R_RESOURCE}", reason)
    check_402(c, ex, reason if reason in (R_OFFER_CLIENT, R_RESOURCE) else R_OFFER_CLIENT,
              "anonymous with the analyst's offer")
    # An anonymous offer presented by the analyst (with its key) on the same request.
    _, anon_pr = g.offer("/datasets/prices", ip=ip)
    ex = g.send("/datasets/prices", sdk_sign(anon_pr), {"X-Api-Key": API_KEY}, ip=ip)
    print(f"[anonymous offer presented by analyst] {ex.describe()}")
    check_402(c, ex, R_OFFER_CLIENT, "anonymous offer presented by the analyst")
    check_fac_zero(c, before, world.fac_stats(), "misdirected")

    # None of this burnt the analyst's proof: the analyst, with its key, still gets its report.
    before = world.fac_stats()
    ex = g.send("/reports/daily", apayload, {"X-Api-Key": API_KEY}, ip=ip)
    print(f"[analyst proof, by the analyst] {ex.describe()}")
    c.eq(ex.status, 200, "the analyst's own (unburnt) proof is then paid")
    c.eq(fac_delta(before, world.fac_stats())["settled"], 1, "its settlement")
    c.done()


# ----------------------------------------------------------------------------------------------
# 4. tampering
# ----------------------------------------------------------------------------------------------


def test_4_attacks_tampering(world: World) -> None:
    c = Checks("4: tampered terms, authorization, offer token, expiry, high-s")
    g = world.gw["main"]
    ip_n = iter(range(1, 250))

    def next_ip() -> str:            # one source address per case: no case eats another's budget
        return f"127.0.4.{next(ip_n)}"

    # The expired-offer case starts first (offer on the 5 s route), the others run meanwhile.
    exp_ip = next_ip()
    exp_ex, exp_pr = g.offer("/datasets/history", ip=exp_ip)
    exp_issued = time.monotonic()
    exp_payload = sdk_sign(exp_pr)
    c.eq(exp_pr["accepts"][0]["extra"].get("name"), "USDC", "short-validity route offers USDC")

    attacker = Account.create().address
    other_token = BASE_MAINNET_USDC

    def tok_payload_edit(p):
        p["accepted"]["extra"]["tollgate"] = alter_token_char(p["accepted"]["extra"]["tollgate"])

    def tok_mac_edit(p):
        kid, body, mac = p["accepted"]["extra"]["tollgate"].split(".")
        p["accepted"]["extra"]["tollgate"] = ".".join([kid, body, edit_middle_char(mac)])

    def tok_unknown_kid(p):
        kid, body, mac = p["accepted"]["extra"]["tollgate"].split(".")
        p["accepted"]["extra"]["tollgate"] = ".".join(["k9", body, mac])

    cases: list[tuple[str, Callable[[dict[str, Any]], dict[str, Any]], str]] = [
        # accepted (what the client claims it was offered), authorization untouched
        ("accepted.payTo -> attacker", lambda pr: forge(pr, accepted={"payTo": attacker},
                                                       to=pr["accepts"][0]["payTo"]), R_TERMS),
        ("accepted.amount -> 1", lambda pr: forge(pr, accepted={"amount": "1"},
                                                 value=int(PRICE_ATOMIC)), R_TERMS),
        ("accepted.network -> eip155:8453", lambda pr: forge(pr, accepted={"network": "eip155:8453"},
                                                            chain_id=84532), R_TERMS),
        ("accepted.asset -> Base mainnet USDC", lambda pr: forge(pr, accepted={"asset": other_token},
                                                                contract=USDC_BASE_SEPOLIA), R_TERMS),
        # accepted and authorization both tampered, consistently, and properly signed
        ("accepted.payTo + authorization.to -> attacker",
         lambda pr: forge(pr, accepted={"payTo": attacker}), R_TERMS),
        ("accepted.amount + authorization.value -> 1",
         lambda pr: forge(pr, accepted={"amount": "1"}), R_TERMS),
        ("accepted.network + signed for chain 8453",
         lambda pr: forge(pr, accepted={"network": "eip155:8453"}), R_TERMS),
        ("accepted.asset + signed for another token",
         lambda pr: forge(pr, accepted={"asset": other_token}), R_TERMS),
        ("payTo + amount + asset all changed, signed",
         lambda pr: forge(pr, accepted={"payTo": attacker, "amount": "1", "asset": other_token}),
         R_TERMS),
        # authorization only (accepted intact), properly signed
        ("authorization.to -> attacker (signed)", lambda pr: forge(pr, to=attacker), R_RECIPIENT),
        ("authorization.value -> 1 (signed)", lambda pr: forge(pr, value=1), R_VALUE),
        ("authorization.value -> 2x price (signed)",
         lambda pr: forge(pr, value=2 * int(PRICE_ATOMIC)), R_VALUE),
        ("signed for chain 8453 (network in the EIP-712 domain)",
         lambda pr: forge(pr, chain_id=8453), R_SIGNATURE),
        ("signed for another token contract (asset in the EIP-712 domain)",
         lambda pr: forge(pr, contract=other_token), R_SIGNATURE),
        # the offer token
        ("offer token: one character of its body edited",
         lambda pr: _mut(sdk_sign(pr), tok_payload_edit), R_OFFER_INVALID),
        ("offer token: one character of its MAC edited",
         lambda pr: _mut(sdk_sign(pr), tok_mac_edit), R_OFFER_INVALID),
        ("offer token: unknown key id", lambda pr: _mut(sdk_sign(pr), tok_unknown_kid),
         R_OFFER_INVALID),
        ("offer token re-signed with a wrong key (amount 1)", _wrong_key_token, R_OFFER_INVALID),
        # signature malleability
        ("high-s twin of a valid signature", _high_s_case, R_SIGNATURE),
    ]
    before = world.fac_stats()
    for label, make, expected in cases:
        ip = next_ip()
        try:
            _, pr = g.offer("/datasets/prices", ip=ip)
            payload = make(pr)
            if label.startswith("high-s"):
                signer, high = recover_signer(payload)
                c.check(high and signer.lower() == payload["payload"]["authorization"]["from"].lower(),
                        "high-s twin: s > n/2 and it still recovers to `from` (a valid malleable "
                        "signature, so only the low-s rule can refuse it)", (high, signer))
            ex = g.send("/datasets/prices", payload, ip=ip)
            print(f"[{label}] {ex.describe()}")
            check_402(c, ex, expected, label)
            check_no_success_receipt(c, ex, label)
            if label.startswith(("high-s", "payTo + amount")):
                check_trace_refusal(g, c, label, ex, expected)
        except Exception as exc:  # noqa: BLE001 - report and go on
            c.check(False, f"{label}: ran", f"{type(exc).__name__}: {exc}")

    # The expired offer: wait until 6 s after it was issued (validity 5 s).
    wait = 6.0 - (time.monotonic() - exp_issued)
    if wait > 0:
        time.sleep(wait)
    ex = g.send("/datasets/history", exp_payload, ip=exp_ip)
    print(f"[expired offer] {ex.describe()}")
    check_402(c, ex, R_OFFER_EXPIRED, "offer presented 6 s after issue (validity 5 s)")
    check_trace_refusal(g, c, "expired", ex, R_OFFER_EXPIRED)
    check_fac_zero(c, before, world.fac_stats(), "all tampered / expired proofs")

    # Control: the same route pays when the offer is fresh (the refusal above is the expiry).
    before = world.fac_stats()
    res = sdk_get(g.url + "/datasets/history")
    c.eq([e.status for e in res.exchanges], [402, 200], "control: a fresh offer on the 5 s route pays")
    c.eq(fac_delta(before, world.fac_stats())["settled"], 1, "control settlement")
    c.done()


def _mut(p: dict[str, Any], fn: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    fn(p)
    return p


def _wrong_key_token(pr: dict[str, Any]) -> dict[str, Any]:
    """Decode the token, lower its amount to 1, re-MAC it with a key that is not the gateway's,
    and pay 1 atomic unit, properly signed."""
    import hashlib
    import hmac
    token = pr["accepts"][0]["extra"]["tollgate"]
    kid, body, _mac = token.split(".")
    claims = json.loads(b64url_decode(body))
    claims["amt"] = "1"
    new_body = b64url_encode(json.dumps(claims, separators=(",", ":")).encode())
    mac = b64url_encode(hmac.new(secrets.token_bytes(32), f"{kid}.{new_body}".encode(),
                                 hashlib.sha256).digest())
    extra = dict(pr["accepts"][0]["extra"], tollgate=f"{kid}.{new_body}.{mac}")
    return forge(pr, accepted={"amount": "1", "extra": extra})


def _high_s_case(pr: dict[str, Any]) -> dict[str, Any]:
    p = sdk_sign(pr)
    p["payload"]["signature"] = high_s(p["payload"]["signature"])
    return p


# ----------------------------------------------------------------------------------------------
# 5. undecodable / oversized headers
# ----------------------------------------------------------------------------------------------


def test_5_attacks_bad_headers(world: World) -> None:
    c = Checks("5: oversized / garbage / wrong-version PAYMENT-SIGNATURE")
    g = world.gw["main"]
    ip = IP["decode"]
    _, pr = g.offer(ip=ip)
    good = sdk_sign(pr)
    big = json.loads(json.dumps(good))
    big["accepted"]["extra"]["padding"] = "x" * 15500
    big_header = b64json_encode(big)
    v1 = dict(json.loads(json.dumps(good)), x402Version=1)
    v3 = dict(json.loads(json.dumps(good)), x402Version=3)
    before = world.fac_stats()
    for label, header, expected in [
        (f"oversized ({len(big_header)} bytes)", big_header, R_TOO_LARGE),
        ("garbage base64", "%%%this is not base64%%%" * 4, R_INVALID_PAYLOAD),
        ("base64 of binary garbage", base64.b64encode(secrets.token_bytes(300)).decode(),
         R_INVALID_PAYLOAD),
        ("x402Version 1", b64json_encode(v1), R_VERSION),
        ("x402Version 3", b64json_encode(v3), R_VERSION),
    ]:
        ex = g.send("/datasets/prices", header, ip=ip)
        print(f"[{label}] {ex.describe()}")
        c.check(ex.status < 500, f"{label}: never 5xx", ex.describe())
        check_402(c, ex, expected, label)
    c.check(len(big_header) >= 20000, "oversized header is >= 20 KB", len(big_header))
    check_fac_zero(c, before, world.fac_stats(), "bad headers")
    c.done()


# ----------------------------------------------------------------------------------------------
# 6. idempotent retry of an identified client
# ----------------------------------------------------------------------------------------------


def test_6_attacks_idempotent_retry(world: World) -> None:
    c = Checks("6: the analyst resends its paid request (response lost) -> same answer, one settlement")
    g = world.gw["main"]
    before = world.fac_stats()
    res = sdk_get(g.url + "/reports/daily", headers={"X-Api-Key": API_KEY})
    print(res.describe())
    c.eq([e.status for e in res.exchanges], [402, 200], "SDK pays /reports/daily")
    paid = res.paid
    if paid is None or paid.status != 200:
        c.done()
        return
    sig = paid.request_headers.get("payment-signature")
    first_receipt = receipt_of(paid)
    ex = g.get("/reports/daily", {"X-Api-Key": API_KEY, "PAYMENT-SIGNATURE": sig})
    print(f"[retry] {ex.describe()}")
    c.eq(ex.status, 200, "retry status")
    c.eq(ex.body, paid.body, "retry body is the same bytes")
    c.eq(receipt_of(ex).get("transaction"), first_receipt.get("transaction"),
         "retry PAYMENT-RESPONSE.transaction")
    c.eq(receipt_of(ex).get("success"), True, "retry PAYMENT-RESPONSE.success")
    d = fac_delta(before, world.fac_stats())
    c.eq(d["settled"], 1, "facilitator settlements (first call + retry)")
    c.eq(d["settleCalls"], 1, "facilitator /settle calls (first call + retry)")
    c.eq(d["verifyCalls"], 1, "facilitator /verify calls (first call + retry)")
    # The same proof from an anonymous caller is a replay, not a retry.
    ex = g.get("/reports/daily", {"PAYMENT-SIGNATURE": sig}, ip=IP["idem"])
    c.eq(ex.status, 401, "the same proof without the key: 401")
    c.done()


def reset_while_settling(world: World, g: Gateway, path: str, headers: dict[str, str], header: str) -> None:
    """Sends the paid request on a raw connection and resets it (no FIN) while the slow proxy holds its /settle:
    not one byte of the answer can reach this client."""
    settles = world.slow.snapshot()["settle"]
    port = int(g.url.rsplit(":", 1)[1])
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    lines = "".join(f"{name}: {value}\r\n" for name, value in {**headers, "PAYMENT-SIGNATURE": header}.items())
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{lines}\r\n".encode())
    wait_until("the gateway asks to settle", lambda: world.slow.snapshot()["settle"] > settles, g.proc, 10)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def lost_then(g: Gateway, c: Checks, label: str, cid: str | None) -> str | None:
    """What the flow's `respond / connection_failed` event says became of the payment."""
    doc = trace_doc(g, c, f"{label}: trace", cid, lambda d: any(e.get("reason") == "connection_failed" for e in events(d)),
                    timeout=10)
    lost = next((e for e in events(doc) if e.get("reason") == "connection_failed"), None)
    c.check(lost is not None, f"{label}: the lost answer is audited (respond / connection_failed)", summary(doc))
    return (lost or {}).get("details", {}).get("then")


def test_6b_attacks_lost_answer(world: World) -> None:
    c = Checks("6b: a connection reset while its payment settles -> an identified client's retry gets the kept answer "
               "(one settlement, no refund); an anonymous one's is refunded at once")
    g = world.gw["slow"]
    before = world.fac_stats()
    offer_ex, pr = g.offer("/reports/daily", {"X-Api-Key": API_KEY})
    cid = offer_ex.headers.get(CORR)
    header = b64json_encode(sdk_sign(pr))
    reset_while_settling(world, g, "/reports/daily", {"X-Api-Key": API_KEY}, header)
    c.eq(lost_then(g, c, "6b analyst", cid), "kept_for_retry", "6b analyst: kept for the retry")
    ex = g.get("/reports/daily", {"X-Api-Key": API_KEY, "PAYMENT-SIGNATURE": header})
    print(f"[retry] {ex.describe()}")
    c.eq(ex.status, 200, "6b analyst: the same proof again: 200")
    c.check(b"daily" in ex.body, "6b analyst: the retry gets the report", ex.body[:200])
    c.eq(receipt_of(ex).get("success"), True, "6b analyst: with its receipt")
    d = fac_delta(before, world.fac_stats())
    c.eq(d["settled"], 1, "6b analyst: one settlement (the lost answer and its retry)")
    c.eq(d["settleCalls"], 1, "6b analyst: one /settle call")
    after = trace_doc(g, c, "6b analyst: trace after the retry", cid,
                      lambda d: sum(e.get("reason") == "delivered" for e in events(d)) >= 2)
    c.check(not any("refund" in (e.get("reason") or "") for e in events(after)), "6b analyst: no refund in the flow",
            summary(after))

    # Anonymous: nobody can be told apart from a thief of the header, so the answer is not kept: refunded at once.
    offer_ex, pr = g.offer("/datasets/prices")
    cid = offer_ex.headers.get(CORR)
    header = b64json_encode(sdk_sign(pr))
    reset_while_settling(world, g, "/datasets/prices", {}, header)
    c.eq(lost_then(g, c, "6b anonymous", cid), "refund_due", "6b anonymous: to be refunded")
    # The refund is its own write, just after: a retry before it would find the work undelivered and run it again.
    refunded = trace_doc(g, c, "6b anonymous: refund", cid, lambda d: any("refund" in (e.get("reason") or "") for e in events(d)))
    c.check(any("refund" in (e.get("reason") or "") for e in events(refunded)), "6b anonymous: a refund is recorded",
            summary(refunded))
    ex = g.get("/datasets/prices", {"PAYMENT-SIGNATURE": header})
    print(f"[retry] {ex.describe()}")
    c.eq(ex.status, 502, "6b anonymous: the same proof again: 502")
    c.eq((body_json(ex.body) or {}).get("reason"), "not_delivered", "6b anonymous: not_delivered")
    c.check(bool(ex.headers.get("tollgate-refund")), "6b anonymous: names its refund (Tollgate-Refund)", dict(ex.headers))
    c.check(b"trader" not in ex.body and b"prices" not in ex.body.replace(b"/datasets/prices", b""),
            "6b anonymous: not the answer too", ex.body[:200])
    c.eq(fac_delta(before, world.fac_stats())["settled"], 2, "6b anonymous: its one settlement")
    c.done()


# ----------------------------------------------------------------------------------------------
# 7. spend cap per payer
# ----------------------------------------------------------------------------------------------


def test_7_attacks_spend_cap(world: World) -> None:
    c = Checks("7: spend cap 0.03/day per payer -> the 4th payment of 0.01 is refused")
    g = world.gw["main"]
    acct = Account.create()
    before = world.fac_stats()
    for i in range(3):
        res = sdk_get(g.url + "/datasets/prices", account=acct)
        c.eq([e.status for e in res.exchanges], [402, 200], f"payment {i + 1}")
    res = sdk_get(g.url + "/datasets/prices", account=acct)
    print(res.describe())
    c.eq([e.status for e in res.exchanges], [402, 403], "payment 4 (offer, paid retry)")
    if res.paid is not None:
        check_error(c, res.paid, 403, "forbidden", R_SPEND_CAP, "payment 4")
        check_no_success_receipt(c, res.paid, "payment 4")
        check_trace_refusal(g, c, "payment 4", res.paid, R_SPEND_CAP)
    d = fac_delta(before, world.fac_stats())
    c.eq(d["settled"], 3, "facilitator settlements")
    c.eq(d["settleCalls"], 3, "facilitator /settle calls")
    rc, out, err = g.admin("spend", "--payer", acct.address)
    print(f"admin spend --payer: rc={rc} {out.strip()} {err.strip()}")
    doc = json.loads(out) if rc == 0 and out.strip().startswith("{") else {}
    c.eq(doc.get("count"), 3, "admin spend: count")
    c.eq([t.get("amount") for t in doc.get("totals") or []], ["30000"], "admin spend: total")

    # Under concurrency: a fresh payer sends 5 distinct valid proofs at once -> exactly 3 pass.
    acct2 = Account.create()
    proofs = []
    for _ in range(5):
        _, pr = g.offer("/datasets/prices", ip=IP["cap"])
        proofs.append(b64json_encode(sdk_sign(pr, acct2)))
    before = world.fac_stats()
    out_ex: list[Exchange | None] = [None] * 5
    barrier = threading.Barrier(5)

    def fire(i: int) -> None:
        barrier.wait()
        out_ex[i] = g.send("/datasets/prices", proofs[i], ip=IP["cap"])

    ts = [threading.Thread(target=fire, args=(i,)) for i in range(5)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    sts = sorted(ex.status if ex else -1 for ex in out_ex)
    print(f"5 concurrent payments by one payer: {sts}")
    c.eq(sts, [200, 200, 200, 403, 403], "5 concurrent payments: statuses")
    c.check(all((body_json(ex.body) or {}).get("reason") == R_SPEND_CAP
                for ex in out_ex if ex and ex.status == 403), "the 403s say spend_cap_exceeded")
    c.eq(fac_delta(before, world.fac_stats())["settled"], 3, "concurrent: settlements")
    c.done()


# ----------------------------------------------------------------------------------------------
# 8. admin API: revocations, incidents, token
# ----------------------------------------------------------------------------------------------


def _admin_ok(c: Checks, g: Gateway, label: str, *args: str) -> dict[str, Any]:
    return admin_ok(c, g, label, *args, actor="attack-suite")


def test_8_attacks_admin(world: World) -> None:
    c = Checks("8: admin revocations, incidents, token")
    g = world.gw["main"]
    ip = IP["admin"]
    token = g.env["TOLLGATE_ADMIN_TOKEN"]

    # The admin API wants its token.
    r = httpx.get(g.admin_url + "/admin/status", timeout=5)
    c.eq(r.status_code, 401, "admin API without token")
    r = httpx.get(g.admin_url + "/admin/status", headers={"Authorization": "Bearer " + "0" * 64},
                  timeout=5)
    c.eq(r.status_code, 401, "admin API with a wrong token")
    r = httpx.post(g.admin_url + "/admin/incidents", json={"reason": "no token"}, timeout=5)
    c.eq(r.status_code, 401, "admin API POST without token")
    rc, out, err = g.admin("status", token=False)
    c.check(rc != 0, "CLI without the token env var fails", f"rc={rc} out={out!r}")
    r = httpx.get(g.admin_url + "/admin/status", headers={"Authorization": f"Bearer {token}"},
                  timeout=5)
    c.eq(r.status_code, 200, "admin API with the token")
    c.check(g.get("/datasets/prices", ip=ip).status == 402, "no incident yet (control)")
    actions = 0

    # --- payer revocation
    payer = Account.create()
    _, pr = g.offer("/datasets/prices", ip=ip)
    proof = b64json_encode(sdk_sign(pr, payer))
    doc = _admin_ok(c, g, "revoke payer", "revoke", "--payer", payer.address, "--reason", "test")
    actions += 1
    c.eq(str(doc.get("subject", "")).lower(), payer.address.lower(), "revoke payer: subject")
    before = world.fac_stats()
    ex = g.send("/datasets/prices", proof, ip=ip)
    print(f"[revoked payer] {ex.describe()}")
    check_error(c, ex, 403, "forbidden", R_PAYER_REVOKED, "revoked payer's valid proof")
    check_no_success_receipt(c, ex, "revoked payer")
    check_fac_zero(c, before, world.fac_stats(), "revoked payer")
    check_trace_refusal(g, c, "revoked payer", ex, R_PAYER_REVOKED)
    _admin_ok(c, g, "unrevoke payer", "unrevoke", "--payer", payer.address)
    actions += 1
    before = world.fac_stats()
    ex = g.send("/datasets/prices", proof, ip=ip)
    print(f"[unrevoked payer, same proof] {ex.describe()}")
    c.eq(ex.status, 200, "after unrevoke, the same proof is paid")
    c.eq(fac_delta(before, world.fac_stats())["settled"], 1, "after unrevoke: one settlement")

    # --- client revocation
    _admin_ok(c, g, "revoke client", "revoke", "--client", "analyst", "--reason", "test")
    actions += 1
    st = _admin_ok(c, g, "status", "status")
    c.check(any(rv.get("kind") == "client" and rv.get("subject") == "analyst"
                for rv in st.get("revocations") or []), "status lists the client revocation", st)
    ex = g.get("/reports/daily", {"X-Api-Key": API_KEY}, ip=ip)
    print(f"[revoked client] {ex.describe()}")
    check_error(c, ex, 401, "unauthorized", R_CLIENT_REVOKED, "revoked client")
    c.check("payment-required" not in ex.headers, "revoked client: no PAYMENT-REQUIRED", ex.describe())
    _admin_ok(c, g, "unrevoke client", "unrevoke", "--client", "analyst")
    actions += 1
    ex = g.get("/reports/daily", {"X-Api-Key": API_KEY}, ip=ip)
    c.eq(ex.status, 402, "after unrevoke, the analyst gets an offer again")

    # --- incident on the datasets route
    _, pr = g.offer("/datasets/prices", ip=ip)             # an offer made before the incident
    held = b64json_encode(sdk_sign(pr))
    inc = _admin_ok(c, g, "incident on", "incident", "on", "--route", "datasets", "--reason", "test")
    actions += 1
    inc_id = inc.get("id")
    ex = g.get("/datasets/prices", ip=ip)
    print(f"[incident, unpaid] {ex.describe()}")
    check_error(c, ex, 503, "service_unavailable", R_INCIDENT, "incident: /datasets/prices")
    ra = ex.headers.get("retry-after") or ""
    c.check(ra.strip().isdigit(), "incident: Retry-After", ra)
    c.check("payment-required" not in ex.headers, "incident: no PAYMENT-REQUIRED", ex.describe())
    c.check(bool(inc_id) and inc_id in ex.body.decode(errors="replace"),
            "incident: the body names the incident id", (inc_id, short(ex.body)))
    before = world.fac_stats()
    ex = g.send("/datasets/prices", held, ip=ip)
    print(f"[incident, paid] {ex.describe()}")
    check_error(c, ex, 503, "service_unavailable", R_INCIDENT, "incident: a proof for /datasets")
    check_no_success_receipt(c, ex, "incident paid")
    check_fac_zero(c, before, world.fac_stats(), "incident")
    ex = g.get("/reports/daily", {"X-Api-Key": API_KEY}, ip=ip)
    c.eq(ex.status, 402, "incident on datasets: /reports/daily still offers to the analyst")
    _admin_ok(c, g, "incident off", "incident", "off", "--route", "datasets")
    actions += 1
    ex = g.get("/datasets/prices", ip=ip)
    c.eq(ex.status, 402, "incident off: /datasets/prices offers again")
    before = world.fac_stats()
    ex = g.send("/datasets/prices", held, ip=ip)
    print(f"[after incident, held proof] {ex.describe()}")
    c.eq(ex.status, 200, "incident off: the proof refused during the incident is paid")
    c.eq(fac_delta(before, world.fac_stats())["settled"], 1, "after incident: one settlement")
    st = _admin_ok(c, g, "status", "status")
    c.eq((st.get("incidents"), st.get("revocations")), ([], []), "status: nothing left in force")

    # --- every admin action is in the audit log (stage admin, its own admin_ correlation id)
    import sqlite3
    db = g.workdir / "gateway.sqlite"
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        rows = con.execute("SELECT correlation_id, outcome, reason, client_id, details FROM "
                           "audit_event WHERE stage = 'admin' ORDER BY seq").fetchall()
        con.close()
    except sqlite3.Error as exc:
        rows = []
        c.check(False, "read the audit log (read-only)", repr(exc))
    for row in rows:
        print(f"  audit admin event: {row}")
    mine = [row for row in rows if row[3] == "admin:attack-suite"]
    c.eq(len(mine), actions, "audit: admin events by admin:attack-suite")
    c.check(all(str(row[0]).startswith("admin_") for row in mine),
            "audit: admin events have admin_ correlation ids", [row[0] for row in mine])
    whats = []
    for row in mine:
        doc = trace_doc(g, c, f"trace({row[0]})", row[0], lambda d: bool(events(d)))
        adm = [e for e in events(doc) if e.get("stage") == "admin"]
        c.check(len(adm) == 1 and adm[0].get("client") == "admin:attack-suite"
                and adm[0].get("outcome") == "ok",
                f"`tollgate trace {row[0]}` shows one admin event by admin:attack-suite", summary(doc))
        whats += [(e.get("details") or {}).get("what") or e.get("reason") for e in adm]
    print(f"admin events in the audit log, in order: {whats}")
    c.done()


# ----------------------------------------------------------------------------------------------
# 9. private fields
# ----------------------------------------------------------------------------------------------


def test_9_attacks_private_fields(world: World) -> None:
    c = Checks("9: private fields are removed for an anonymous payer")
    g = world.gw["main"]
    raw = httpx.get(world.upstream + "/datasets/prices", timeout=5).text
    c.check('"trader_id":' in raw, "control: the upstream's own answer has trader_id", raw[:200])
    res = sdk_get(g.url + "/datasets/prices")
    c.eq([e.status for e in res.exchanges], [402, 200], "anonymous payer gets /datasets/prices")
    last = res.last
    if last is not None and last.status == 200:
        text = last.body.decode(errors="replace")
        print(short(last.body, 600))
        c.check('"trader_id":' not in text, 'no "trader_id": in the paid body', text[:300])
        records = (body_json(last.body) or {}).get("records")
        c.check(isinstance(records, list) and len(records) > 0
                and all("symbol" in r and "trader_id" not in r for r in records),
                "records kept, trader_id removed from each", records)
        doc = trace_doc(g, c, "trace(private)", last.headers.get(CORR),
                        lambda d: any(e.get("stage") == "respond" for e in events(d)))
        if doc:
            c.check(any(e.get("stage") == "decide" for e in events(doc)),
                    "trace: the removal is audited (stage decide)", summary(doc))
    c.done()


# ----------------------------------------------------------------------------------------------
# 10. facilitator failure modes
# ----------------------------------------------------------------------------------------------


def test_10_attacks_facilitator_failures(world: World) -> None:
    c = Checks("10: broken facilitator /verify -> 503 + Retry-After, never 200/402, no /settle")
    g = world.gw["stub"]
    stub = world.stub
    ip = IP["stub"]
    real_before = world.fac_stats()

    def wait_reprobe(baseline: int) -> bool:
        """Wait until the gateway asked /supported again: a facilitator out of rotation (circuit
        breaker open, default 5 s) comes back through the health check's /supported (every 2 s)."""
        deadline = time.monotonic() + 12
        while stub.snapshot()["supported"] <= baseline and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.3)        # the answer is parsed and the network marked ready after the call
        return stub.snapshot()["supported"] > baseline

    def offer_when_open() -> dict[str, Any]:
        """While every facilitator is out of rotation the route is closed: no offer (503, no
        PAYMENT-REQUIRED) rather than terms nobody can settle. Wait for it to open again."""
        deadline = time.monotonic() + 15
        while True:
            ex = g.get("/datasets/prices", ip=ip)
            if ex.status == 402:
                return b64json_decode(ex.headers.get("payment-required"))
            c.check(ex.status == 503 and "payment-required" not in ex.headers,
                    "closed route: 503 without terms while no facilitator can verify", ex.describe())
            if time.monotonic() > deadline:
                raise AssertionError(f"the route did not open again: {ex.describe()}")
            time.sleep(0.3)

    for mode in ("500", "garbage", "redirect", "slow"):
        stub.mode = mode
        # A paid request made while the facilitator is out of rotation (after failures the circuit
        # breaker opens until a later /supported) fails fast without reaching /verify: also a 503,
        # checked, and then tried again with a fresh proof once the facilitator is back.
        reached = False
        for attempt in range(1, 5):
            s_before = stub.snapshot()
            pr = offer_when_open()
            payload = sdk_sign(pr)
            t0 = time.monotonic()
            ex = g.send("/datasets/prices", payload, ip=ip)
            took = time.monotonic() - t0
            s_after = stub.snapshot()
            reached = s_after["verify"] > s_before["verify"]
            label = mode if attempt == 1 else f"{mode} (attempt {attempt})"
            print(f"[{label}] sent at t={t0 - stub.t0:.2f}, {took:.2f}s, stub /verify reached: "
                  f"{reached}; {ex.describe()}")
            c.check(ex.status not in (200, 402), f"{label}: never 200, never 402", ex.describe())
            check_error(c, ex, 503, "service_unavailable", R_FAC_DOWN, label)
            ra = ex.headers.get("retry-after") or ""
            c.check(ra.strip().isdigit() and int(ra) >= 1, f"{label}: Retry-After", ra)
            check_no_success_receipt(c, ex, label)
            c.eq(s_after["settle"] - s_before["settle"], 0, f"{label}: stub /settle calls")
            if reached:
                break
            wait_reprobe(s_before["supported"])
        c.check(reached, f"{mode}: a paid request reached the stub's /verify (and got 503)",
                f"{stub.snapshot()}; stub requests: {stub.requests}")
        if mode == "slow":
            c.check(took < stub.slow_seconds - 0.5,
                    f"slow: the gateway gave up before the stub answered ({stub.slow_seconds}s)",
                    f"{took:.2f}s")
        check_trace_refusal(g, c, mode, ex, R_FAC_DOWN)
    stub.mode = "500"
    d = fac_delta(real_before, world.fac_stats())
    c.eq(d["verifyCalls"], 0, "the redirect target (real facilitator) got no /verify")
    c.eq(d["settleCalls"], 0, "the real facilitator got no /settle")
    c.done()
