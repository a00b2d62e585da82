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

The processes, the checks and the wire helpers are in harness.py (shared by every module here).
Every check prints a PASS/FAIL line; a test fails if any of its checks failed (all checks of a
test run, so one run shows every deviation). Environment:
  TOLLGATE_BIN              gateway binary (default <repo>/.build/debug/tollgate)
  TOLLGATE_QUICKSTART       quickstart config to derive the test config from
  TOLLGATE_INTEROP_KEEP=1   keep the temp dir (config, sqlite, logs) after the run
  TOLLGATE_INTEROP_PIDFILE  append the pid of every process started here (scripts/interop.sh
                            kills them from its trap even if this process is killed hard)
"""


from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import httpx
import pytest
from eth_account import Account

from harness import (  # shared helpers (harness.py is not a test module)
    API_KEY, CORR, HAPPY_STAGES, NETWORK, PRICE_ATOMIC, QUICKSTART, QUICKSTART_PAY_TO, R_FAC_DOWN,
    R_INVALID_PAYLOAD, R_NONCE_USED, R_OFFER_INVALID, R_RECIPIENT, R_RESOURCE, R_SIGNATURE,
    R_TERMS, R_VALID_AFTER, R_VALID_BEFORE, R_VALUE, TOLLGATE_BIN, USDC_BASE_SEPOLIA, Checks,
    Exchange, Proc, alter_token_char, answers_http, b64json_decode, b64json_encode, body_json,
    check_402, check_error, child_env, fac_stats, finish, flip_hex_digit, free_port, get, hand_sign,
    http_status, make_config, new_workdir, require_file, sdk_get, sdk_sign, short, start,
    start_sdk_facilitator, start_upstream, startup_failed, try_decode, wait_until,
)

# ----------------------------------------------------------------------------------------------
# The environment: sample upstream, SDK facilitator, gateway
# ----------------------------------------------------------------------------------------------


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
        return fac_stats(self.facilitator)

    def get(self, path: str, headers: dict[str, str] | None = None) -> Exchange:
        return get(self.gateway + path, self.procs["gateway"], headers)

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
    require_file(TOLLGATE_BIN, "gateway binary", "build it first, or set TOLLGATE_BIN")
    workdir = new_workdir("tollgate-interop-", TOLLGATE_BIN)
    procs: dict[str, Proc] = {}
    child = child_env()
    try:
        # 1. sample upstream
        procs["upstream"], up_port, upstream = start_upstream(workdir, child)

        # 2. the SDK facilitator
        procs["facilitator"], facilitator = start_sdk_facilitator(workdir, child)

        # 3. the gateway
        gw_port = free_port()
        config = workdir / "tollgate.yaml"
        config.write_text(make_config(QUICKSTART.read_text(), gw_port, up_port, facilitator,
                                      workdir / "gateway.sqlite"))
        procs["gateway"] = start("gateway", [str(TOLLGATE_BIN), "serve", "--config", str(config)],
                                 workdir, child)
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
        startup_failed(procs, workdir, exc)

    e = Env(workdir, config, gateway, upstream, facilitator, procs, child)
    print(f"gateway {gateway}  upstream {upstream}  facilitator {facilitator}")
    yield e

    finish(workdir, procs, request.session.testsfailed)


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
