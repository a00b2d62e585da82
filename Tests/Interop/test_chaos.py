#!/usr/bin/env python3
"""Tollgate crash and chaos tests (issue 9, item 14): paid load while the gateway is SIGKILLed at random
moments, and paid load while the facilitator times out, answers garbage, answers 500 or dies mid-`/settle`.

    scripts/interop.sh -k chaos
    TOLLGATE_BIN=.build/debug/tollgate python -m pytest Tests/Interop/test_chaos.py -v -s

Each test starts its own stack on free 127.0.0.1 ports, with its own SQLite files:
  * the sample upstream            `$TOLLGATE_BIN sample-upstream`
  * the development facilitator    `$TOLLGATE_BIN facilitator --dev --db W/ledger.sqlite` (its ledger table
                                    `transfer` is the "chain": what really moved)
  * (test 2) a fault-injecting HTTP proxy in this process, in front of the dev facilitator
  * the gateway                    `$TOLLGATE_BIN serve --config W/tollgate.yaml`: the quickstart with
                                    `limits` off, `settlement.reconcile_interval_seconds: 1`, and (test 2)
                                    `facilitators[0].timeout_seconds: 2`

Paid load: N client threads, each with its own payer key, loop: GET /datasets/prices -> 402 -> sign a fresh
EIP-3009 authorization (eth_account) -> send it; on 503, 429 or a connection error send THE SAME header again
(0.3 s apart) until 200 or a final answer, within a bound. Half of the clients name the payment with the x402
`payment-identifier` extension (a stored answer is then replayed to them after a lost response); the other half
are bare anonymous clients.

  test_chaos_gateway_sigkill       a killer thread SIGKILLs the gateway every 1.5-4 s (4-6 times) and restarts
                                   it on the same port and config.
  test_chaos_facilitator_faults    30 % of `/settle` calls are forwarded to the dev facilitator FIRST (the money
                                   moves) and then answered late (> the gateway's 2 s timeout), with garbage, with
                                   500, or not at all (socket closed); one in five is dropped before forwarding. Then
                                   the proxy turns healthy and the clients retry their pending proofs.

Afterwards (gateway stopped, `tollgate reconcile --gateway-stopped --json` run once), from the two SQLite files:
  a  every ledger transfer has a `payment` row with the same tx, or a `settlement_intent` settled/review/refunded;
     every `payment` row is a ledger transfer (same tx, or tx unknown), and no authorization has two rows
  b  no authorization was delivered twice (`respond`/`ok`/`delivered` at most once per (payer, nonce))
  c  every `payment` row's flow has a `settle`/`ok` audit event, and no flow has two (settled once, resolved once)
  d  `tollgate audit verify` exits 0
  e  every 200 a client got is exactly one ledger transfer of its nonce (same tx as the receipt when it names
     one); every transfer whose client got no 200 is reported: it ran out of time (open/settled intent), or it is
     a bare anonymous client whose response was lost after delivery was recorded (its retry of a used proof is
     refused by design, see docs/configuration.md `idempotency_window_seconds`); anything else fails
  -  every settlement intent is resolved after the final reconcile (the facilitator is healthy by then)
  f  the chaos really happened (kills with requests in flight / faults of every kind, 503s or connection errors
     seen) and payments settled

Environment: TOLLGATE_BIN, TOLLGATE_INTEROP_KEEP=1 (keep the temp dirs), TOLLGATE_CHAOS_SEED (the same random
choices as a printed run; thread timing still differs), TOLLGATE_CHAOS_CLIENTS (client threads, default 8).
"""

from __future__ import annotations

import itertools
import json
import os
import random
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account

from harness import (  # shared helpers (harness.py is not a test module)
    CORR, NETWORK, NO_LIMITS_YAML, QUICKSTART, TOLLGATE_BIN, Checks, LocalServer, Proc, answers_http,
    b64json_decode, b64json_encode, body_json, child_env, drop_top_level, finish, free_port, hand_sign,
    http_status, make_config, new_workdir, require_file, set_facilitator_timeout, start, start_upstream,
    startup_failed, wait_until,
)

PATH = "/datasets/prices"
N_CLIENTS = int(os.environ.get("TOLLGATE_CHAOS_CLIENTS") or 8)
RETRY_SLEEP = 0.3

SETTLEMENT_YAML = """
settlement:
  reconcile_interval_seconds: 1
"""


# ----------------------------------------------------------------------------------------------
# Signing
# ----------------------------------------------------------------------------------------------


def sign_offer(pr: dict[str, Any], account, identifier: str | None) -> tuple[dict[str, Any], str]:
    """A fresh EIP-3009 TransferWithAuthorization for the first offer of `pr` (harness.hand_sign),
    valid now .. now + 60 s, optionally naming the payment (x402 `payment-identifier`). Returns (payload, nonce)."""
    payload = hand_sign(pr, 0, int(time.time()) + 60, account)
    if identifier:
        payload["extensions"] = {"payment-identifier": {"info": {"id": identifier}}}
    return payload, payload["payload"]["authorization"]["nonce"]


# ----------------------------------------------------------------------------------------------
# The fault-injecting facilitator proxy (test 2)
# ----------------------------------------------------------------------------------------------


class FaultProxy(LocalServer):
    """Forwards every request to the real (dev) facilitator. While `chaos` is on, a `share` of `/settle` calls
    is faulted, the kind taken in turn from `kinds`:
      timeout       forwarded (the money moves), answered only after `slow_seconds` (> the gateway's timeout)
      garbage       forwarded, then HTTP 200 with a body that is not JSON
      http500       forwarded, then HTTP 500
      close         forwarded, then the socket is closed without an answer (the facilitator "died")
      close_unsent  the socket is closed without forwarding (nothing moved; the gateway cannot know)
    """

    KINDS = ["timeout", "garbage", "http500", "close", "close_unsent"]

    def __init__(self, target: str, rng: random.Random, share: float = 0.3, slow_seconds: float = 3.0) -> None:
        self.target = target
        self.rng = rng
        self.share = share
        self.slow_seconds = slow_seconds
        self.chaos = True
        self.lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.faulted: list[dict[str, Any]] = []          # {kind, payer, nonce, t}
        self._cycle = itertools.cycle(self.KINDS)
        self.http = httpx.Client(timeout=30, limits=httpx.Limits(max_keepalive_connections=0))
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _reply(self, status: int, body: bytes, ctype: str = "application/json") -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    self.wfile.flush()
                except OSError:
                    pass

            def _die(self) -> None:
                """Close the connection without a single byte of answer."""
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

            def _forward(self, method: str, body: bytes | None) -> httpx.Response:
                headers = {"Content-Type": self.headers.get("Content-Type") or "application/json"}
                return proxy.http.request(method, proxy.target + self.path, content=body, headers=headers)

            def do_GET(self) -> None:  # noqa: N802
                try:
                    r = self._forward("GET", None)
                except httpx.HTTPError:
                    self._reply(502, b'{"error":"proxy: facilitator unreachable"}')
                    return
                self._reply(r.status_code, r.content, r.headers.get("content-type") or "application/json")

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                path = self.path.split("?")[0]
                kind = proxy.pick() if path == "/settle" else None
                with proxy.lock:
                    proxy.counts[path] += 1
                    if kind:
                        proxy.counts[kind] += 1
                        try:
                            auth = json.loads(raw)["paymentPayload"]["payload"]["authorization"]
                            who = (auth["from"].lower(), auth["nonce"].lower())
                        except Exception:  # noqa: BLE001
                            who = ("?", "?")
                        proxy.faulted.append({"kind": kind, "payer": who[0], "nonce": who[1],
                                              "t": time.monotonic()})
                if kind == "close_unsent":
                    self._die()
                    return
                try:
                    r = self._forward("POST", raw)
                except httpx.HTTPError:
                    self._reply(502, b'{"error":"proxy: facilitator unreachable"}')
                    return
                if kind == "timeout":
                    time.sleep(proxy.slow_seconds)
                    self._reply(r.status_code, r.content)
                elif kind == "garbage":
                    self._reply(200, b'{"success": tru<html><body>502 Bad Gateway</body>', "application/json")
                elif kind == "http500":
                    self._reply(500, b'{"error":"internal error"}')
                elif kind == "close":
                    self._die()
                else:
                    self._reply(r.status_code, r.content, r.headers.get("content-type") or "application/json")

        self.serve(Handler)

    def pick(self) -> str | None:
        with self.lock:
            if not self.chaos or self.rng.random() >= self.share:
                return None
            return next(self._cycle)

    def stop(self) -> None:
        super().stop()
        self.http.close()


# ----------------------------------------------------------------------------------------------
# The stack
# ----------------------------------------------------------------------------------------------


@dataclass
class Stack:
    workdir: Path
    config: Path
    gw_port: int
    gateway: str
    facilitator: str          # the real dev facilitator
    ledger: Path
    db: Path
    env: dict[str, str]
    procs: dict[str, Proc]
    proxy: FaultProxy | None = None
    gateway_starts: int = 0

    def start_gateway(self, ready_timeout: float = 60) -> Proc:
        self.gateway_starts += 1
        proc = start("gateway", [str(TOLLGATE_BIN), "serve", "--config", str(self.config)], self.workdir, self.env)
        self.procs["gateway"] = proc
        wait_until("gateway answering HTTP", lambda: answers_http(self.gateway + "/health"), proc, ready_timeout)
        return proc

    def wait_offering(self, timeout: float = 20) -> None:
        wait_until("gateway offers terms", lambda: http_status(self.gateway + PATH) == 402,
                   self.procs["gateway"], timeout)

    def tollgate(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([str(TOLLGATE_BIN), *args], cwd=self.workdir, env=self.env, capture_output=True,
                              text=True, timeout=timeout)

    def stop_all(self) -> None:
        for p in self.procs.values():
            p.stop()
        if self.proxy:
            self.proxy.stop()


def build_stack(name: str, *, facilitator_timeout: int | None, proxy_rng: random.Random | None) -> Stack:
    require_file(TOLLGATE_BIN, "gateway binary", "build it first, or set TOLLGATE_BIN")
    workdir = new_workdir(f"tollgate-chaos-{name}-", TOLLGATE_BIN)
    env = child_env()
    procs: dict[str, Proc] = {}
    proxy: FaultProxy | None = None
    try:
        up_port, fac_port, gw_port = free_port(), free_port(), free_port()
        facilitator = f"http://127.0.0.1:{fac_port}"
        ledger = workdir / "ledger.sqlite"
        procs["upstream"], _, upstream = start_upstream(workdir, env, up_port)
        procs["facilitator"] = start("facilitator", [
            str(TOLLGATE_BIN), "facilitator", "--dev", "--listen", f"127.0.0.1:{fac_port}", "--db", str(ledger),
            "--network", NETWORK], workdir, env)
        wait_until("dev facilitator /supported", lambda: http_status(facilitator + "/supported") == 200,
                   procs["facilitator"], 30)
        fac_url = facilitator
        if proxy_rng is not None:
            proxy = FaultProxy(facilitator, proxy_rng)
            fac_url = proxy.url
        db = workdir / "gateway.sqlite"
        text = make_config(QUICKSTART.read_text(), gw_port, up_port, fac_url, db)
        text = drop_top_level(text, "limits") + NO_LIMITS_YAML + SETTLEMENT_YAML
        if facilitator_timeout:
            text = set_facilitator_timeout(text, facilitator_timeout)
        config = workdir / "tollgate.yaml"
        config.write_text(text)
        chk = subprocess.run([str(TOLLGATE_BIN), "check", "--config", str(config)], cwd=workdir, env=env,
                             capture_output=True, text=True, timeout=60)
        if chk.returncode != 0:
            raise RuntimeError(f"tollgate check: rc={chk.returncode}\n{chk.stdout}\n{chk.stderr}\n--- config:\n{text}")
        stack = Stack(workdir, config, gw_port, f"http://127.0.0.1:{gw_port}", facilitator, ledger, db, env, procs,
                      proxy)
        if proxy:
            proxy.chaos = False            # a clean start-up: /supported and the first offers
        stack.start_gateway()
        stack.wait_offering()
        if proxy:
            proxy.chaos = True
    except Exception as exc:  # noqa: BLE001
        startup_failed(procs, workdir, exc, *([proxy.stop] if proxy else []))
    print(f"gateway {stack.gateway}  upstream {upstream}  facilitator {facilitator}"
          + (f"  fault proxy {proxy.url}" if proxy else ""))
    return stack


def finish_stack(stack: Stack, request, failed: bool) -> None:
    stack.stop_all()
    finish(stack.workdir, stack.procs, failed, tail_lines=25)


# ----------------------------------------------------------------------------------------------
# Paid load
# ----------------------------------------------------------------------------------------------


@dataclass
class Attempt:
    """One proof and every answer it got."""
    client: int
    payer: str                   # lowercase 0x-hex
    nonce: str                   # lowercase 0x-hex
    identifier: str | None
    cid: str | None              # correlation id of the 402 that made the offer
    t0: float
    answers: list[str] = field(default_factory=list)      # "200", "503:reason", "conn:ConnectError", ...
    status: int | None = None    # the final HTTP status, None when the client gave up (out of time)
    reason: str | None = None    # the final answer's body.reason
    tx: str | None = None        # PAYMENT-RESPONSE transaction of the 200
    receipt_success: bool | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200

    def line(self) -> str:
        tail = self.answers if len(self.answers) <= 12 else self.answers[:4] + ["..."] + self.answers[-7:]
        return (f"client {self.client} payer {self.payer} nonce {self.nonce[:18]}… cid {self.cid} "
                f"id={'yes' if self.identifier else 'no'} final={self.status}:{self.reason} answers={tail}")


class Load:
    """N client threads paying GET /datasets/prices in a loop; each proof is retried (same header) on 503, 429
    and connection errors until a final answer or the per-proof / global bound."""

    def __init__(self, stack: Stack, rng: random.Random, n_clients: int, proof_bound: float) -> None:
        self.stack = stack
        self.url = stack.gateway + PATH
        self.n = n_clients
        self.proof_bound = proof_bound
        self.accounts = [Account.create() for _ in range(n_clients)]
        self.lock = threading.Lock()
        self.attempts: list[Attempt] = []
        self.stats: Counter[str] = Counter()
        self.in_flight = 0                         # paid requests currently sent and unanswered
        self.new_proofs = threading.Event()        # set: clients may start new proofs
        self.new_proofs.set()
        self.hard_deadline = 0.0
        self.threads: list[threading.Thread] = []
        self.errors: list[str] = []
        self.rng = rng

    def bump(self, key: str, n: int = 1) -> None:
        with self.lock:
            self.stats[key] += n

    def start(self, hard_deadline: float) -> None:
        self.hard_deadline = hard_deadline
        for i in range(self.n):
            t = threading.Thread(target=self._client, args=(i,), name=f"chaos-client-{i}", daemon=True)
            t.start()
            self.threads.append(t)

    def stop_new(self) -> None:
        self.new_proofs.clear()

    def join(self) -> None:
        for t in self.threads:
            t.join(timeout=max(1.0, self.hard_deadline - time.monotonic() + 30))

    def _client(self, i: int) -> None:
        try:
            self._loop(i)
        except Exception as exc:  # noqa: BLE001 - a test-side crash must not pass silently
            with self.lock:
                self.errors.append(f"client {i}: {type(exc).__name__}: {exc}")

    def _loop(self, i: int) -> None:
        account = self.accounts[i]
        with_identifier = i % 2 == 0
        http = httpx.Client(timeout=httpx.Timeout(30.0, connect=3.0),
                            limits=httpx.Limits(max_keepalive_connections=0))
        try:
            while self.new_proofs.is_set() and time.monotonic() < self.hard_deadline:
                # 1. the offer
                try:
                    r = http.get(self.url)
                except httpx.HTTPError:
                    self.bump("offer_conn_errors")
                    time.sleep(RETRY_SLEEP)
                    continue
                if r.status_code != 402:
                    self.bump(f"offer_{r.status_code}")
                    time.sleep(RETRY_SLEEP)
                    continue
                try:
                    pr = b64json_decode(r.headers.get("payment-required"))
                except Exception:  # noqa: BLE001
                    self.bump("offer_undecodable")
                    time.sleep(RETRY_SLEEP)
                    continue
                identifier = f"chaos_{i}_{secrets.token_hex(10)}" if with_identifier else None
                payload, nonce = sign_offer(pr, account, identifier)
                header = b64json_encode(payload)
                att = Attempt(i, account.address.lower(), nonce, identifier, r.headers.get(CORR), time.monotonic())
                with self.lock:
                    self.attempts.append(att)
                    self.stats["proofs"] += 1
                # 2. the paid request, the same header again until a final answer
                bound = min(att.t0 + self.proof_bound, self.hard_deadline)
                self._pay(http, att, header, bound)
        finally:
            http.close()

    def _pay(self, http: httpx.Client, att: Attempt, header: str, bound: float) -> None:
        first = True
        while True:
            if not first:
                if time.monotonic() + RETRY_SLEEP > bound:
                    self.bump("gave_up")
                    return
                time.sleep(RETRY_SLEEP)
                self.bump("retries")
            first = False
            with self.lock:
                self.in_flight += 1
            try:
                r = http.get(self.url, headers={"PAYMENT-SIGNATURE": header})
            except httpx.HTTPError as exc:
                att.answers.append(f"conn:{type(exc).__name__}")
                self.bump("paid_conn_errors")
                continue
            finally:
                with self.lock:
                    self.in_flight -= 1
            body = body_json(r.content)
            reason = body.get("reason") if isinstance(body, dict) else None
            att.answers.append(f"{r.status_code}" + (f":{reason}" if reason else ""))
            self.bump(f"paid_{r.status_code}")
            if r.status_code in (503, 429):
                continue
            att.status, att.reason = r.status_code, reason
            if r.status_code == 200:
                try:
                    receipt = b64json_decode(r.headers.get("payment-response"))
                    att.tx = receipt.get("transaction") or None
                    att.receipt_success = receipt.get("success")
                except Exception:  # noqa: BLE001
                    att.receipt_success = None
            return


# ----------------------------------------------------------------------------------------------
# Reading the evidence
# ----------------------------------------------------------------------------------------------


def read_rows(db: Path, sql: str) -> list[sqlite3.Row]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    con.row_factory = sqlite3.Row
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@dataclass
class Evidence:
    transfers: dict[tuple[str, str], dict[str, Any]]          # (payer, nonce) -> ledger row
    payments: list[dict[str, Any]]
    intents: dict[tuple[str, str], dict[str, Any]]
    reservations: dict[tuple[str, str], dict[str, Any]]
    events: list[dict[str, Any]]
    cid_key: dict[str, tuple[str, str]]                       # correlation id -> (payer, nonce)

    @classmethod
    def load(cls, stack: Stack) -> "Evidence":
        transfers = {}
        for row in read_rows(stack.ledger, "SELECT * FROM transfer"):
            d = dict(row)
            transfers[(d["payer"].lower(), d["nonce"].lower())] = d
        payments = [dict(r) for r in read_rows(stack.db, "SELECT * FROM payment ORDER BY id")]
        intents = {}
        for row in read_rows(stack.db, "SELECT network, asset, payer, nonce, correlation_id, outcome, delivered, tx "
                                       "FROM settlement_intent"):
            d = dict(row)
            intents[(d["payer"].lower(), d["nonce"].lower())] = d
        reservations = {}
        for row in read_rows(stack.db, "SELECT payer, nonce, correlation_id, state FROM reservation"):
            d = dict(row)
            reservations[(d["payer"].lower(), d["nonce"].lower())] = d
        events = []
        for row in read_rows(stack.db, "SELECT seq, correlation_id, stage, outcome, reason, details FROM audit_event "
                                       "ORDER BY seq"):
            d = dict(row)
            try:
                d["details"] = json.loads(d["details"] or "{}")
            except json.JSONDecodeError:
                d["details"] = {"_raw": d["details"]}
            events.append(d)
        cid_key: dict[str, tuple[str, str]] = {}
        for d in list(intents.values()) + list(reservations.values()) + payments:
            cid_key[d["correlation_id"]] = (d["payer"].lower(), d["nonce"].lower())
        for e in events:
            det = e["details"] if isinstance(e["details"], dict) else {}
            if e["stage"] == "proof" and det.get("payer") and det.get("nonce"):
                cid_key.setdefault(e["correlation_id"], (str(det["payer"]).lower(), str(det["nonce"]).lower()))
        return cls(transfers, payments, intents, reservations, events, cid_key)

    def flow(self, cid: str | None) -> list[str]:
        return [f"{e['seq']} {e['stage']}/{e['outcome']}/{e['reason'] or ''}"
                + (f" {json.dumps(e['details'], sort_keys=True)[:160]}" if e["stage"] in ("settle", "respond") else "")
                for e in self.events if e["correlation_id"] == cid]


def norm_tx(tx: str | None) -> str:
    return (tx or "").strip().lower()


def check_invariants(c: Checks, stack: Stack, load: Load, summary: dict[str, Any]) -> Evidence:
    """a-e on the stopped, reconciled stack."""
    ev = Evidence.load(stack)
    payments_by_key: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for p in ev.payments:
        payments_by_key[(p["payer"].lower(), p["nonce"].lower())].append(p)
    summary["ledger transfers"] = len(ev.transfers)
    summary["payment rows"] = len(ev.payments)
    summary["intents by outcome"] = dict(Counter(i["outcome"] for i in ev.intents.values()))
    summary["reservations by state"] = dict(Counter(r["state"] for r in ev.reservations.values()))

    # a. every transfer is recorded ----------------------------------------------------------------
    by_payment, by_intent, missing = 0, [], []
    for key, t in sorted(ev.transfers.items()):
        rows = payments_by_key.get(key, [])
        if any(norm_tx(p["tx"]) == norm_tx(t["tx"]) for p in rows):
            by_payment += 1
            continue
        intent = ev.intents.get(key)
        if intent and intent["outcome"] in ("settled", "review", "refunded"):
            by_intent.append(f"{key[0]} {key[1][:18]}… intent {intent['correlation_id']} outcome={intent['outcome']} "
                             f"tx={intent['tx']!r} payment tx={[p['tx'] for p in rows]}")
            continue
        cid = intent["correlation_id"] if intent else (ev.reservations.get(key) or {}).get("correlation_id")
        missing.append(f"transfer tx {t['tx']} payer {key[0]} nonce {key[1]}: payment rows {rows}, intent {intent}, "
                       f"reservation {ev.reservations.get(key)}; flow {cid}: {ev.flow(cid)}")
    for line in by_intent[:8]:
        print(f"  (a) recorded by its settlement intent, not a payment row with the tx: {line}")
    if len(by_intent) > 8:
        print(f"  (a) ... and {len(by_intent) - 8} more recorded by their settlement intent")
    summary["transfers matched by payment tx"] = by_payment
    summary["transfers matched by intent only"] = len(by_intent)
    c.check(not missing, f"(a) every ledger transfer ({len(ev.transfers)}) has a payment row with its tx or a "
            f"settled/review/refunded intent", "\n    " + "\n    ".join(missing))
    phantom, dupes = [], []
    for key, rows in payments_by_key.items():
        t = ev.transfers.get(key)
        for p in rows:
            if t is None or (norm_tx(p["tx"]) and norm_tx(p["tx"]) != norm_tx(t["tx"])):
                phantom.append(f"payment {p['id']} cid {p['correlation_id']} payer {key[0]} nonce {key[1]} tx "
                               f"{p['tx']!r}, ledger {t}; flow: {ev.flow(p['correlation_id'])}")
        if len(rows) > 1:
            dupes.append(f"payer {key[0]} nonce {key[1]}: {[(p['id'], p['correlation_id'], p['tx']) for p in rows]}")
    c.check(not phantom, "(a) every payment row is a ledger transfer (same tx, or tx not known)",
            "\n    " + "\n    ".join(phantom))
    c.check(not dupes, "(a) no authorization has two payment rows", "\n    " + "\n    ".join(dupes))
    no_tx = [p for p in ev.payments if not norm_tx(p["tx"])]
    summary["payment rows without tx"] = len(no_tx)

    # b. no authorization delivered twice ------------------------------------------------------------
    delivered: dict[tuple[str, str], list[tuple[str, int]]] = defaultdict(list)
    unmapped = []
    for e in ev.events:
        if (e["stage"], e["outcome"], e["reason"]) == ("respond", "ok", "delivered"):
            key = ev.cid_key.get(e["correlation_id"])
            if key is None:
                unmapped.append(f"{e['seq']} {e['correlation_id']}")
                continue
            delivered[key].append((e["correlation_id"], e["seq"]))
    twice = [f"payer {k[0]} nonce {k[1]}: {v}; flows: " + " | ".join(f"{cid}: {ev.flow(cid)}" for cid in {x for x, _ in v})
             for k, v in delivered.items() if len(v) > 1]
    summary["deliveries (respond/ok/delivered)"] = sum(len(v) for v in delivered.values())
    c.check(not unmapped, "(b) every delivery event belongs to a known authorization", unmapped)
    c.check(not twice, "(b) no authorization delivered twice", "\n    " + "\n    ".join(twice))
    undelivered_transfers = [k for k in ev.transfers if k not in delivered]
    summary["transfers never delivered"] = len(undelivered_transfers)

    # c. every payment's flow has its settle/ok ------------------------------------------------------
    settled_cids = {e["correlation_id"] for e in ev.events if e["stage"] == "settle" and e["outcome"] == "ok"}
    resolved = {e["correlation_id"] for e in ev.events if e["stage"] == "settle" and e["outcome"] == "ok"
                and e["reason"] == "settlement_resolved"}
    summary["flows settled by resolution (settlement_resolved)"] = len(resolved)
    lacking = [f"payment {p['id']} cid {p['correlation_id']}: {ev.flow(p['correlation_id'])}"
               for p in ev.payments if p["correlation_id"] not in settled_cids]
    c.check(not lacking, "(c) every payment row's flow has a settle/ok audit event", "\n    " + "\n    ".join(lacking))
    settle_ok_count = Counter(e["correlation_id"] for e in ev.events if e["stage"] == "settle" and e["outcome"] == "ok")
    twice_settled = [f"cid {cid}: {ev.flow(cid)}" for cid, n in settle_ok_count.items() if n > 1]
    c.check(not twice_settled, "(c) no flow has two settle/ok events (a live settlement and a resolution of it)",
            "\n    " + "\n    ".join(twice_settled))
    bad_reason = [f"{e['seq']} {e['correlation_id']} reason {e['reason']!r}" for e in ev.events
                  if e["stage"] == "settle" and e["outcome"] == "ok" and (e["reason"] or "") not in ("", "settlement_resolved")]
    c.check(not bad_reason, "(c) settle/ok events have reason '' or settlement_resolved", bad_reason)

    # d. audit chain ---------------------------------------------------------------------------------
    p = stack.tollgate("audit", "verify", "--config", str(stack.config))
    print(f"  audit verify: rc={p.returncode} {p.stdout.strip().splitlines()[0] if p.stdout.strip() else ''}")
    c.check(p.returncode == 0, "(d) `tollgate audit verify` exits 0", f"rc={p.returncode}\n{p.stdout[-2000:]}\n{p.stderr[-1000:]}")

    # e. what the clients saw against the ledger ---------------------------------------------------
    attempts = list(load.attempts)
    by_key = {(a.payer, a.nonce): a for a in attempts}
    wrong_200, paid_no_200, notes = [], [], []
    out_of_time = lost_anonymous = 0
    for a in attempts:
        t = ev.transfers.get((a.payer, a.nonce))
        if a.ok:
            if t is None:
                wrong_200.append(f"{a.line()}: a 200 without a ledger transfer; flow: {ev.flow(a.cid)}")
            elif a.tx and norm_tx(a.tx) != norm_tx(t["tx"]):
                wrong_200.append(f"{a.line()}: receipt tx {a.tx} != ledger tx {t['tx']}")
            elif a.receipt_success is not True:
                wrong_200.append(f"{a.line()}: 200 without a successful PAYMENT-RESPONSE")
    for key, t in ev.transfers.items():
        a = by_key.get(key)
        if a is None:
            paid_no_200.append(f"ledger transfer {t['tx']} payer {key[0]} nonce {key[1]} made by no client of this test")
            continue
        if a.ok:
            continue
        intent = ev.intents.get(key)
        cid = intent["correlation_id"] if intent else a.cid
        desc = (f"{a.line()} -- intent {None if intent is None else (intent['outcome'], 'delivered' if intent['delivered'] else 'undelivered')}"
                f"; flow {cid}: {ev.flow(cid)}")
        if a.status is None:
            # Ran out of time: the payment must be held, never silently lost.
            out_of_time += 1
            if intent and intent["outcome"] in ("open", "settled", "review", "refunded"):
                notes.append(f"(e) out of time, held by its intent: {desc}")
            else:
                paid_no_200.append(f"out of time and NOT held by an open/settled intent: {desc}")
            continue
        lost_conn = any(x.startswith("conn:") for x in a.answers)
        if (a.identifier is None and a.status == 402 and a.reason == "invalid_exact_evm_nonce_already_used"
                and lost_conn and intent and intent["outcome"] == "settled" and intent["delivered"]
                and len(delivered.get(key, [])) == 1):
            # The delivery was recorded, then the response was lost with the connection; a bare anonymous
            # retry of a used proof is refused by design (only an identified client or a payment-identifier
            # gets the stored answer).
            lost_anonymous += 1
            notes.append(f"(e) bare anonymous client, response lost after the delivery was recorded: {desc}")
            continue
        paid_no_200.append(f"paid, final answer without a 200 although time was left: {desc}")
    for n in notes:
        print(f"  note {n}")
    summary["clients: proofs"] = len(attempts)
    summary["clients: 200"] = sum(1 for a in attempts if a.ok)
    summary["clients: final answers"] = dict(Counter(f"{a.status}:{a.reason}" for a in attempts if not a.ok))
    summary["paid, out of time (held)"] = out_of_time
    summary["paid, bare anonymous response lost (by design)"] = lost_anonymous
    c.check(not wrong_200, "(e) every 200 is exactly one ledger transfer of its nonce (same tx as the receipt)",
            "\n    " + "\n    ".join(wrong_200))
    c.check(not paid_no_200, "(e) no client paid without its 200 (except out of time, held by an intent)",
            "\n    " + "\n    ".join(paid_no_200))
    summary["200s whose receipt names no transaction"] = sum(1 for a in attempts if a.ok and not a.tx)
    open_left = [f"{k[0]} {k[1][:18]}… {i['correlation_id']} reservation {(ev.reservations.get(k) or {}).get('state')}: "
                 f"{ev.flow(i['correlation_id'])}" for k, i in ev.intents.items() if i["outcome"] == "open"]
    summary["intents still open after reconcile"] = len(open_left)
    c.check(not open_left, "every settlement intent is resolved after the last reconcile (facilitator healthy)",
            "\n    " + "\n    ".join(open_left))
    return ev


def reconcile(c: Checks, stack: Stack, summary: dict[str, Any]) -> None:
    p = stack.tollgate("reconcile", "--config", str(stack.config), "--gateway-stopped", "--json")
    doc = None
    try:
        doc = json.loads(p.stdout)
    except json.JSONDecodeError:
        pass
    c.check(p.returncode == 0 and isinstance(doc, dict), "`tollgate reconcile --gateway-stopped --json` ran",
            f"rc={p.returncode}\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    report = (doc or {}).get("report") or {}
    counts = {k: len(v) for k, v in report.items() if isinstance(v, list) and v}
    summary["reconcile --gateway-stopped"] = counts or "nothing to resolve"
    summary["reconcile review list"] = len((doc or {}).get("review") or [])
    print(f"  reconcile report: {json.dumps(report, sort_keys=True)[:1500]}")


def print_summary(title: str, summary: dict[str, Any]) -> None:
    print(f"\n--- {title} summary")
    for k, v in summary.items():
        print(f"  {k:52s} {v}")


# ----------------------------------------------------------------------------------------------
# 1. SIGKILL under paid load
# ----------------------------------------------------------------------------------------------


def _seed(default_name: str) -> int:
    s = os.environ.get("TOLLGATE_CHAOS_SEED")
    seed = int(s) if s else random.SystemRandom().randrange(1 << 32)
    print(f"\n{default_name}: seed {seed} (TOLLGATE_CHAOS_SEED={seed} replays the random choices)")
    return seed


def test_chaos_gateway_sigkill(request) -> None:
    t_start = time.monotonic()
    seed = _seed("chaos/sigkill")
    rng = random.Random(seed)
    stack = build_stack("sigkill", facilitator_timeout=None, proxy_rng=None)
    c = Checks("chaos 1: SIGKILL the gateway under paid load")
    summary: dict[str, Any] = {"seed": seed}
    failed = True
    try:
        load = Load(stack, rng, N_CLIENTS, proof_bound=25.0)
        load_window = 36.0
        t0 = time.monotonic()
        load.start(hard_deadline=t0 + load_window + 20.0)
        kills: list[dict[str, Any]] = []
        restart_times: list[float] = []
        n_kills = rng.randint(4, 6)
        time.sleep(1.5)                                    # let payments flow first
        while len(kills) < n_kills and time.monotonic() < t0 + load_window - 4:
            time.sleep(rng.uniform(1.5, 4.0))
            gw = stack.procs["gateway"]
            with load.lock:
                in_flight = load.in_flight
            try:
                settled_before = httpx.get(stack.facilitator + "/_dev/stats", timeout=5).json().get("transfers")
            except Exception:  # noqa: BLE001
                settled_before = None
            gw.popen.send_signal(signal.SIGKILL)
            gw.popen.wait(timeout=10)
            kills.append({"t": round(time.monotonic() - t0, 2), "in_flight": in_flight, "ledger": settled_before})
            time.sleep(rng.uniform(0.0, 0.5))               # clients hit a dead port meanwhile
            r0 = time.monotonic()
            stack.start_gateway()
            restart_times.append(time.monotonic() - r0)
        # Paid load goes on for the rest of the window with the gateway up, then the proofs in progress finish.
        while time.monotonic() < t0 + load_window:
            time.sleep(0.2)
        load.stop_new()
        load.join()
        summary["load wall time (s)"] = round(time.monotonic() - t0, 1)
        c.check(not load.errors, "client threads ran without test-side exceptions", load.errors)
        print(f"kills: {kills}")
        summary["kills"] = len(kills)
        summary["kills with paid requests in flight"] = sum(1 for k in kills if k["in_flight"] > 0)
        summary["restart to answering HTTP (s)"] = [round(x, 2) for x in restart_times]
        for k in ("proofs", "paid_200", "paid_503", "paid_402", "paid_conn_errors", "retries", "gave_up",
                  "offer_conn_errors", "offer_503"):
            summary[f"client {k}"] = load.stats.get(k, 0)
        other = {k: v for k, v in load.stats.items() if k.startswith("paid_") and k not in
                 ("paid_200", "paid_503", "paid_402", "paid_conn_errors")}
        if other:
            summary["client other paid statuses"] = other
        # The gateway's own reconciler ran (start-up + every second); one more pass by hand, gateway stopped.
        stack.procs["gateway"].stop()
        reconcile(c, stack, summary)
        stack.procs["facilitator"].stop()
        check_invariants(c, stack, load, summary)
        # f. not vacuous
        c.check(len(kills) >= 4, "(f) the gateway was SIGKILLed at least 4 times", kills)
        c.check(any(k["in_flight"] > 0 for k in kills), "(f) at least one kill hit paid requests in flight", kills)
        c.check(load.stats.get("paid_503", 0) + load.stats.get("paid_conn_errors", 0) > 0,
                "(f) clients saw 503s or connection errors on paid requests", dict(load.stats))
        c.check(summary.get("ledger transfers", 0) >= 20 and load.stats.get("paid_200", 0) >= 20,
                "(f) payments settled and were delivered (>= 20)", summary)
        summary["test wall time (s)"] = round(time.monotonic() - t_start, 1)
        print_summary("chaos 1 (SIGKILL)", summary)
        failed = bool(c.failures)
        if failed:
            for a in load.attempts:
                if not a.ok:
                    print(f"  attempt: {a.line()}")
        c.done()
    finally:
        finish_stack(stack, request, failed)


# ----------------------------------------------------------------------------------------------
# 2. facilitator chaos
# ----------------------------------------------------------------------------------------------


def test_chaos_facilitator_faults(request) -> None:
    t_start = time.monotonic()
    seed = _seed("chaos/facilitator")
    rng = random.Random(seed)
    stack = build_stack("facilitator", facilitator_timeout=2, proxy_rng=random.Random(seed ^ 0x5EED))
    proxy = stack.proxy
    assert proxy is not None
    c = Checks("chaos 2: facilitator times out, answers garbage / 500, dies mid-/settle")
    summary: dict[str, Any] = {"seed": seed}
    failed = True
    try:
        load = Load(stack, rng, N_CLIENTS, proof_bound=60.0)
        chaos_window, drain = 32.0, 26.0
        t0 = time.monotonic()
        load.start(hard_deadline=t0 + chaos_window + drain)
        while time.monotonic() < t0 + chaos_window:
            time.sleep(0.2)
        # The facilitator heals; no new proofs, the pending ones are retried until 200 (bounded).
        load.stop_new()
        proxy.chaos = False
        healed_at = time.monotonic()
        summary["faulted /settle calls"] = len(proxy.faulted)
        load.join()
        summary["drain after healing (s)"] = round(time.monotonic() - healed_at, 1)
        summary["load wall time (s)"] = round(time.monotonic() - t0, 1)
        c.check(not load.errors, "client threads ran without test-side exceptions", load.errors)
        snap = proxy.snapshot()
        summary["proxy calls"] = {k: snap.get(k, 0) for k in ("/verify", "/settle")}
        summary["faults by kind"] = {k: snap.get(k, 0) for k in FaultProxy.KINDS}
        for k in ("proofs", "paid_200", "paid_503", "paid_402", "paid_conn_errors", "retries", "gave_up", "offer_503"):
            summary[f"client {k}"] = load.stats.get(k, 0)
        other = {k: v for k, v in load.stats.items() if k.startswith("paid_") and k not in
                 ("paid_200", "paid_503", "paid_402", "paid_conn_errors")}
        if other:
            summary["client other paid statuses"] = other
        stack.procs["gateway"].stop()
        reconcile(c, stack, summary)
        stack.procs["facilitator"].stop()
        ev = check_invariants(c, stack, load, summary)
        # The faulted authorizations: what became of them.
        fates = Counter()
        for f in proxy.faulted:
            key = (f["payer"], f["nonce"])
            a = next((x for x in load.attempts if (x.payer, x.nonce) == key), None)
            moved = key in ev.transfers
            fates[f"{f['kind']}: {'moved' if moved else 'not moved'}, client {'200' if a and a.ok else (a.status if a else '?')}"] += 1
        summary["faulted authorizations (kind: ledger, client)"] = dict(sorted(fates.items()))
        # f. not vacuous
        for kind in ("timeout", "garbage", "http500", "close"):
            c.check(snap.get(kind, 0) > 0, f"(f) fault '{kind}' fired at least once", snap)
        c.check(load.stats.get("paid_503", 0) + load.stats.get("paid_conn_errors", 0) > 0,
                "(f) clients saw 503s on paid requests", dict(load.stats))
        faulted_moved = [f for f in proxy.faulted if f["kind"] != "close_unsent" and (f["payer"], f["nonce"]) in ev.transfers]
        c.check(len(faulted_moved) > 0, "(f) some faulted /settle calls moved money", len(faulted_moved))
        c.check(summary.get("ledger transfers", 0) >= 10 and load.stats.get("paid_200", 0) >= 10,
                "(f) payments settled and were delivered (>= 10)", summary)
        summary["test wall time (s)"] = round(time.monotonic() - t_start, 1)
        print_summary("chaos 2 (facilitator faults)", summary)
        failed = bool(c.failures)
        if failed:
            for a in load.attempts:
                if not a.ok:
                    print(f"  attempt: {a.line()}")
        c.done()
    finally:
        finish_stack(stack, request, failed)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-v", "-s", "-p", "no:cacheprovider"]))
