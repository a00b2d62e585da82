#!/usr/bin/env python3
"""Tollgate cluster tests (issue 12, item 6): TWO `tollgate serve` instances sharing ONE PostgreSQL database.

    TOLLGATE_BIN=.build/debug/tollgate TOLLGATE_TEST_POSTGRES_URL=$(scripts/postgres-cluster.sh url) \\
        python -m pytest Tests/Interop/test_cluster.py -v -s

Each test starts its own stack on free 127.0.0.1 ports:
  * the sample upstream            `$TOLLGATE_BIN sample-upstream`
  * the development facilitator    `$TOLLGATE_BIN facilitator --dev --db W/ledger.sqlite` (its ledger table
                                    `transfer` is the "chain": what really moved)
  * a PostgreSQL database          tests 1-3: a fresh database (CREATE DATABASE, unique name) on the cluster named by
                                    TOLLGATE_TEST_POSTGRES_URL; test 4: a private cluster of its own
                                    (`TOLLGATE_PG_STATE=W/pg scripts/postgres-cluster.sh start`), halted and resumed
  * gateways A and B               `$TOLLGATE_BIN serve --config W/tollgate.yaml --listen … --admin-listen …`, the same
                                    file (examples/cluster/tollgate.yaml with upstream.url and facilitators[0].url
                                    replaced, `limits` off, `settlement.reconcile_interval_seconds: 1`, test 3: a spend
                                    cap) and the same TOLLGATE_SECRET / TOLLGATE_ADMIN_TOKEN / TOLLGATE_POSTGRES_URL;
                                    both migrate the database at start-up

  test_cluster_copies_of_one_proof        one EIP-3009 proof, 10 copies of its PAYMENT-SIGNATURE at once, split over A
                                          and B: one 200 with the dataset, every other copy non-2xx, one ledger
                                          transfer, one `payment` row, one delivery, and the flow worked on once (no
                                          claim taken over from the live request, one upstream call, one /settle, the
                                          claim ends `settled`); the header sent again later to A and B moves nothing
                                          more. Three rounds, a fresh payer and proof each (the race is timing-bound).
  test_cluster_revocation_reaches_the_other_instance
                                          a payer revoked through A's admin API is refused by B (403 payer_revoked)
                                          within 1.5 s, and by A; lifted through B, A serves it again within 1.5 s. The
                                          same for the API-key client `analyst` (401 client_revoked on /reports/*).
  test_cluster_spend_cap_is_never_exceeded
                                          spend cap 0.05 USDC / payer / day on 0.01 datasets; 20 concurrent paid
                                          requests of one payer (each its own offer and proof) split over A and B: at
                                          most 5 succeed, at most 5 transfers, paid sum <= cap, refusals are 403
                                          spend_cap_exceeded.
  test_cluster_postgres_outage            paid load over A and B; PostgreSQL halted for ~4 s mid-load: paid requests
                                          answer 503 with Retry-After, never 500, both gateways stay alive; after the
                                          resume both serve paid requests again within 15 s. Then (gateways stopped):
                                          every ledger transfer has a `payment` row (same nonce) or a settlement
                                          intent, every 200 is one transfer of its nonce, no authorization delivered
                                          twice, `tollgate audit verify` exits 0.

Environment: TOLLGATE_BIN, TOLLGATE_TEST_POSTGRES_URL (required: without it the tests fail, they never skip),
TOLLGATE_INTEROP_KEEP=1 (keep the temp dirs and the test databases).
"""

from __future__ import annotations

import glob
import json
import os
import random
import re
import secrets
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from eth_account import Account

from harness import (  # shared helpers (harness.py is not a test module)
    API_KEY, CORR, NETWORK, NO_LIMITS_YAML, ROOT, TOLLGATE_BIN, Checks, Proc, answers_http, b64json_decode,
    b64json_encode, body_json, child_env, drop_top_level, finish, free_port, http_status, new_workdir,
    require_file, short, start, start_upstream, startup_failed, wait_until,
)
from test_chaos import SETTLEMENT_YAML, Attempt, Load, norm_tx, sign_offer  # the chaos module's paid client

PATH = "/datasets/prices"
CLUSTER_CONFIG = ROOT / "examples" / "cluster" / "tollgate.yaml"
PG_SCRIPT = ROOT / "scripts" / "postgres-cluster.sh"
TEST_PG_URL = os.environ.get("TOLLGATE_TEST_POSTGRES_URL") or ""
ACTOR = {"X-Admin-Actor": "cluster-test"}


# ----------------------------------------------------------------------------------------------
# PostgreSQL
# ----------------------------------------------------------------------------------------------


def find_psql() -> str | None:
    """psql as scripts/postgres-cluster.sh finds its binaries: pg_config's bindir, /usr/lib/postgresql/*/bin, PATH."""
    try:
        bindir = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, timeout=10).stdout.strip()
        if bindir and os.access(os.path.join(bindir, "psql"), os.X_OK):
            return os.path.join(bindir, "psql")
    except (OSError, subprocess.SubprocessError):
        pass
    for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: [int(x) for x in re.findall(r"\d+", p)],
                    reverse=True):
        if os.access(os.path.join(d, "psql"), os.X_OK):
            return os.path.join(d, "psql")
    return shutil.which("psql")


def require_postgres() -> str:
    """The psql binary; fails (never skips) when TOLLGATE_TEST_POSTGRES_URL or psql is missing."""
    if not TEST_PG_URL:
        pytest.fail("TOLLGATE_TEST_POSTGRES_URL is not set: start a cluster (scripts/postgres-cluster.sh start) and "
                    "run with TOLLGATE_TEST_POSTGRES_URL=$(scripts/postgres-cluster.sh url)", pytrace=False)
    psql = find_psql()
    if not psql:
        pytest.fail("psql not found (pg_config --bindir, /usr/lib/postgresql/*/bin, PATH): install PostgreSQL's "
                    "client", pytrace=False)
    require_file(TOLLGATE_BIN, "gateway binary", "build it first, or set TOLLGATE_BIN")
    require_file(CLUSTER_CONFIG, "cluster example configuration")
    return psql


def psql_json(psql: str, url: str, query: str) -> list[dict[str, Any]]:
    """The rows of `query` as dicts (json_agg through psql)."""
    p = subprocess.run([psql, "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-d", url, "-c",
                        f"SELECT coalesce(json_agg(t), '[]'::json) FROM ({query}) t"],
                       capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise RuntimeError(f"psql failed (rc={p.returncode}) on {query!r}: {p.stderr.strip()}")
    return json.loads(p.stdout.strip() or "[]")


def psql_exec(psql: str, url: str, statement: str) -> None:
    p = subprocess.run([psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", statement],
                       capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise RuntimeError(f"psql failed (rc={p.returncode}) on {statement!r}: {p.stderr.strip()}")


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def create_test_database(psql: str, label: str) -> str:
    """A fresh, empty database with a unique name on the shared test cluster; returns its URL."""
    name = f"tollgate_cluster_{label}_{secrets.token_hex(4)}"
    psql_exec(psql, TEST_PG_URL, f'CREATE DATABASE "{name}"')
    url = with_database(TEST_PG_URL, name)
    print(f"database: {url}")
    return url


def drop_test_database(psql: str, url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    try:
        psql_exec(psql, TEST_PG_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except RuntimeError as exc:
        print(f"  (could not drop {name}: {exc})")


def pg_script(state: Path, *args: str, timeout: float = 180) -> str:
    """scripts/postgres-cluster.sh with its state in `state` (a private cluster, never the shared one)."""
    env = dict(os.environ, TOLLGATE_PG_STATE=str(state))
    p = subprocess.run([str(PG_SCRIPT), *args], capture_output=True, text=True, timeout=timeout, env=env)
    if p.returncode != 0:
        raise RuntimeError(f"postgres-cluster.sh {' '.join(args)}: rc={p.returncode}\n{p.stdout}\n{p.stderr}")
    return p.stdout.strip()


# ----------------------------------------------------------------------------------------------
# The stack: upstream, dev facilitator, gateways A and B on one database
# ----------------------------------------------------------------------------------------------


def cluster_config(template: str, upstream_port: int, facilitator_url: str) -> str:
    """examples/cluster/tollgate.yaml with upstream.url and facilitators[0].url replaced (public_url, listen and
    admin.listen kept: the instances get --listen / --admin-listen), `limits` off, reconcile every second."""
    out: list[str] = []
    done = {"upstream.url": 0, "facilitators.url": 0}
    section = None
    for line in template.splitlines():
        top = re.match(r"^([A-Za-z_][A-Za-z0-9_]*):", line)
        if top:
            section = top.group(1)
        if section == "upstream" and re.match(r"^\s+url:\s", line) and not done["upstream.url"]:
            line = re.sub(r"url:.*$", f"url: http://127.0.0.1:{upstream_port}", line)
            done["upstream.url"] += 1
        elif section == "facilitators" and re.match(r"^\s+(- )?url:\s", line) and not done["facilitators.url"]:
            line = re.sub(r"url:.*$", f"url: {facilitator_url}", line)
            done["facilitators.url"] += 1
        out.append(line)
    missing = [k for k, n in done.items() if n != 1]
    if missing:
        raise RuntimeError(f"{CLUSTER_CONFIG} no longer has the expected keys: {missing}")
    if not any(re.match(r"^\s+url:\s*\$\{TOLLGATE_POSTGRES_URL\}", x) for x in out):
        raise RuntimeError(f"{CLUSTER_CONFIG}: storage.postgres.url is no longer ${{TOLLGATE_POSTGRES_URL}}")
    text = "\n".join(out) + "\n"
    return drop_top_level(text, "limits") + NO_LIMITS_YAML + SETTLEMENT_YAML


@dataclass
class Cluster:
    workdir: Path
    config: Path
    env: dict[str, str]
    psql: str
    db_url: str
    ledger: Path
    facilitator: str
    token: str
    procs: dict[str, Proc]
    ports: dict[str, tuple[int, int]] = field(default_factory=dict)     # name -> (listen, admin)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name][0]}"

    def admin(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name][1]}"

    def start_gateway(self, name: str, ready_timeout: float = 60) -> Proc:
        port, admin_port = self.ports.setdefault(name, (free_port(), free_port()))
        proc = start(name, [str(TOLLGATE_BIN), "serve", "--config", str(self.config), "--listen",
                            f"127.0.0.1:{port}", "--admin-listen", f"127.0.0.1:{admin_port}"], self.workdir, self.env)
        self.procs[name] = proc
        wait_until(f"{name} answering HTTP", lambda: answers_http(self.url(name) + "/health"), proc, ready_timeout)
        wait_until(f"{name} offers terms", lambda: http_status(self.url(name) + PATH) == 402, proc, 30)
        return proc

    def tollgate(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([str(TOLLGATE_BIN), *args], cwd=self.workdir, env=self.env, capture_output=True,
                              text=True, timeout=timeout)

    def sql(self, query: str) -> list[dict[str, Any]]:
        return psql_json(self.psql, self.db_url, query)

    def transfers(self) -> list[dict[str, Any]]:
        con = sqlite3.connect(f"file:{self.ledger}?mode=ro", uri=True, timeout=10)
        con.row_factory = sqlite3.Row
        try:
            return [dict(r) for r in con.execute("SELECT * FROM transfer")]
        finally:
            con.close()

    def admin_call(self, name: str, method: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}", **ACTOR}
        return httpx.request(method, self.admin(name) + path, json=body, headers=headers, timeout=10)

    def audit_verify(self, c: Checks) -> None:
        p = self.tollgate("audit", "verify", "--config", str(self.config))
        first = p.stdout.strip().splitlines()[0] if p.stdout.strip() else ""
        print(f"  audit verify: rc={p.returncode} {first}")
        c.check(p.returncode == 0, "`tollgate audit verify` exits 0",
                f"rc={p.returncode}\n{p.stdout[-2000:]}\n{p.stderr[-1000:]}")


def set_postgres_timeout(text: str, seconds: int) -> str:
    """storage.postgres.timeout_seconds (how long a paid request waits for the database before its 503)."""
    out, section, sub, done = [], None, None, 0
    for line in text.splitlines():
        top = re.match(r"^([A-Za-z_][A-Za-z0-9_]*):", line)
        if top:
            section, sub = top.group(1), None
        m = re.match(r"^  ([A-Za-z_]+):", line)
        if m:
            sub = m.group(1)
        if section == "storage" and sub == "postgres" and re.match(r"^\s+timeout_seconds:\s", line) and not done:
            line = re.sub(r"timeout_seconds:.*$", f"timeout_seconds: {seconds}", line)
            done += 1
        out.append(line)
    if done != 1:
        raise RuntimeError("storage.postgres.timeout_seconds not found in the cluster example")
    return "\n".join(out) + "\n"


def build_cluster(name: str, psql: str, db_url: str, extra_yaml: str = "", *,
                  workdir: Path | None = None, pg_timeout: int | None = None,
                  transform: Callable[[str], str] | None = None) -> Cluster:
    workdir = workdir or new_workdir(f"tollgate-cluster-{name}-", TOLLGATE_BIN)
    token = secrets.token_hex(32)
    env = child_env(TOLLGATE_ADMIN_TOKEN=token, TOLLGATE_POSTGRES_URL=db_url)   # ONE secret for both instances
    procs: dict[str, Proc] = {}
    try:
        up_port, fac_port = free_port(), free_port()
        facilitator = f"http://127.0.0.1:{fac_port}"
        ledger = workdir / "ledger.sqlite"
        procs["upstream"], _, upstream = start_upstream(workdir, env, up_port)
        procs["facilitator"] = start("facilitator", [
            str(TOLLGATE_BIN), "facilitator", "--dev", "--listen", f"127.0.0.1:{fac_port}", "--db", str(ledger),
            "--network", NETWORK], workdir, env)
        wait_until("dev facilitator /supported", lambda: http_status(facilitator + "/supported") == 200,
                   procs["facilitator"], 30)
        text = cluster_config(CLUSTER_CONFIG.read_text(), up_port, facilitator) + extra_yaml
        if pg_timeout:
            text = set_postgres_timeout(text, pg_timeout)
        if transform:
            text = transform(text)
        config = workdir / "tollgate.yaml"
        config.write_text(text)
        chk = subprocess.run([str(TOLLGATE_BIN), "check", "--config", str(config)], cwd=workdir, env=env,
                             capture_output=True, text=True, timeout=60)
        if chk.returncode != 0:
            raise RuntimeError(f"tollgate check: rc={chk.returncode}\n{chk.stdout}\n{chk.stderr}\n--- config:\n{text}")
        cl = Cluster(workdir, config, env, psql, db_url, ledger, facilitator, token, procs)
        # Both at once: they migrate the empty database together (advisory lock).
        starter = threading.Thread(target=lambda: cl.start_gateway("gateway-b"), daemon=True)
        cl.ports["gateway-b"] = (free_port(), free_port())
        starter.start()
        cl.start_gateway("gateway-a")
        starter.join(timeout=90)
        if "gateway-b" not in procs or not procs["gateway-b"].alive():
            raise RuntimeError("gateway-b did not start" + (f"; log:\n{procs['gateway-b'].tail()}"
                                                           if "gateway-b" in procs else ""))
        wait_until("gateway-b offers terms", lambda: http_status(cl.url("gateway-b") + PATH) == 402,
                   procs["gateway-b"], 60)
    except Exception as exc:  # noqa: BLE001
        startup_failed(procs, workdir, exc)
    print(f"A {cl.url('gateway-a')} (admin {cl.admin('gateway-a')})  B {cl.url('gateway-b')} "
          f"(admin {cl.admin('gateway-b')})  upstream {upstream}  facilitator {facilitator}")
    return cl


# ----------------------------------------------------------------------------------------------
# Small client helpers
# ----------------------------------------------------------------------------------------------


@dataclass
class Answer:
    where: str
    status: int | None            # None: connection error
    reason: str | None = None
    error: str | None = None
    retry_after: str | None = None
    receipt: dict[str, Any] | None = None
    body: bytes = b""
    exc: str | None = None
    t: float = 0.0
    cid: str | None = None

    def line(self) -> str:
        if self.status is None:
            return f"{self.where}: connection error {self.exc}"
        extra = f" Retry-After={self.retry_after}" if self.retry_after else ""
        if self.receipt is not None:
            extra += f" PAYMENT-RESPONSE={json.dumps(self.receipt, sort_keys=True)[:240]}"
        if self.cid:
            extra += f" cid={self.cid}"
        return f"{self.where}: {self.status} {self.error or ''}/{self.reason or ''}{extra} body={short(self.body, 160)}"


def answer_of(where: str, r: httpx.Response) -> Answer:
    body = body_json(r.content)
    receipt = None
    if r.headers.get("payment-response"):
        try:
            receipt = b64json_decode(r.headers.get("payment-response"))
        except Exception:  # noqa: BLE001
            receipt = {"_undecodable": r.headers.get("payment-response")}
    return Answer(where, r.status_code, body.get("reason") if isinstance(body, dict) else None,
                  body.get("error") if isinstance(body, dict) else None, r.headers.get("retry-after"), receipt,
                  r.content, t=time.monotonic(), cid=r.headers.get(CORR))


def send(where: str, url: str, headers: dict[str, str] | None = None, timeout: float = 30) -> Answer:
    try:
        r = httpx.get(url, headers=headers or {}, timeout=timeout)
    except httpx.HTTPError as exc:
        return Answer(where, None, exc=f"{type(exc).__name__}: {exc}", t=time.monotonic())
    return answer_of(where, r)


def offer(base: str, path: str = PATH, headers: dict[str, str] | None = None) -> dict[str, Any]:
    r = httpx.get(base + path, headers=headers or {}, timeout=20)
    assert r.status_code == 402, f"expected a 402 offer from {base}{path}, got {r.status_code} {short(r.content)}"
    return b64json_decode(r.headers.get("payment-required"))


def fresh_proof(base: str, account, path: str = PATH, headers: dict[str, str] | None = None) -> tuple[str, str]:
    """An offer from `base` and a fresh EIP-3009 proof for it: (PAYMENT-SIGNATURE header, nonce)."""
    payload, nonce = sign_offer(offer(base, path, headers), account, None)
    return b64json_encode(payload), nonce.lower()


def pay(where: str, base: str, account, path: str = PATH, headers: dict[str, str] | None = None) -> tuple[Answer, str]:
    header, nonce = fresh_proof(base, account, path, headers)
    return send(where, base + path, {**(headers or {}), "PAYMENT-SIGNATURE": header}), nonce


def ledger_for(cl: Cluster, payer: str, nonce: str | None = None) -> list[dict[str, Any]]:
    return [t for t in cl.transfers() if t["payer"].lower() == payer.lower()
            and (nonce is None or t["nonce"].lower() == nonce.lower())]


def finish_cluster(cl: Cluster, failed: bool, drop_db: bool = True) -> None:
    for p in cl.procs.values():
        p.stop()
    if drop_db and not failed and not os.environ.get("TOLLGATE_INTEROP_KEEP"):
        drop_test_database(cl.psql, cl.db_url)
    elif drop_db:
        print(f"--- database kept: {cl.db_url}")
    finish(cl.workdir, cl.procs, failed, tail_lines=30)


def deliveries_of(cl: Cluster, payer: str, nonce: str) -> list[dict[str, Any]]:
    """respond/ok/delivered audit events of the flows that carried (payer, nonce)."""
    return cl.sql(
        "SELECT e.seq, e.correlation_id FROM audit_event e WHERE e.stage = 'respond' AND e.outcome = 'ok' "
        "AND e.reason = 'delivered' AND e.correlation_id IN ("
        f"  SELECT correlation_id FROM payment WHERE lower(payer) = '{payer.lower()}' AND lower(nonce) = '{nonce}'"
        f"  UNION SELECT correlation_id FROM reservation WHERE lower(payer) = '{payer.lower()}' AND lower(nonce) = '{nonce}'"
        f"  UNION SELECT correlation_id FROM settlement_intent WHERE lower(payer) = '{payer.lower()}' AND lower(nonce) = '{nonce}'"
        f"  UNION SELECT correlation_id FROM audit_event WHERE stage = 'proof' AND lower((details::jsonb) ->> 'nonce') = '{nonce}')"
        " ORDER BY e.seq")


# ----------------------------------------------------------------------------------------------
# 1. copies of one proof at both instances
# ----------------------------------------------------------------------------------------------


class Prefixed:
    """A Checks whose labels carry a prefix (the round of a repeated scenario)."""

    def __init__(self, c: Checks, prefix: str) -> None:
        self.c, self.prefix = c, prefix

    def check(self, ok: bool, label: str, detail: Any = None) -> bool:
        return self.c.check(ok, f"{self.prefix}: {label}", detail)

    def eq(self, actual: Any, expected: Any, label: str) -> bool:
        return self.c.eq(actual, expected, f"{self.prefix}: {label}")

    def note(self, text: str) -> None:
        self.c.note(f"{self.prefix}: {text}")


COPY_ROUNDS = 3              # the race between instances is timing-dependent: one proof per round, fresh each time


def copies_round(c: Prefixed, cl: Cluster) -> None:
    """One proof, 10 simultaneous copies split over A and B, then one more copy at each instance."""
    a, b = cl.url("gateway-a"), cl.url("gateway-b")
    account = Account.create()
    payer = account.address.lower()
    header, nonce = fresh_proof(a, account)           # the 402 comes from A
    print(f"payer {payer} nonce {nonce}")
    n_copies = 10
    barrier = threading.Barrier(n_copies)
    answers: list[Answer] = [None] * n_copies  # type: ignore[list-item]

    def copy(i: int) -> None:
        base, where = (a, f"A#{i}") if i % 2 == 0 else (b, f"B#{i}")
        barrier.wait()
        answers[i] = send(where, base + PATH, {"PAYMENT-SIGNATURE": header})

    threads = [threading.Thread(target=copy, args=(i,), daemon=True) for i in range(n_copies)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=90)
    for ans in answers:
        print(f"  copy {ans.line() if ans else 'no answer (thread did not finish)'}")
    c.check(all(ans is not None for ans in answers), "every copy got an answer (threads finished)")
    got = [x for x in answers if x is not None]
    ok = [x for x in got if x.status == 200]
    c.eq(len(ok), 1, "number of 200 answers among the copies")
    other = [x for x in got if x.status != 200]
    c.check(all(x.status is not None and not (200 <= x.status < 300) for x in other),
            "every other copy is answered non-2xx", [x.line() for x in other])
    c.check(not [x for x in got if x.status is not None and x.status >= 500 and x.status != 503],
            "no copy got a 5xx other than 503", [x.line() for x in got])
    c.check(all(x.retry_after for x in got if x.status == 503), "every 503 copy carries Retry-After",
            [x.line() for x in got if x.status == 503])
    print(f"  copy statuses: {dict(Counter(f'{x.status}:{x.reason}' for x in got))}")
    if ok:
        data = body_json(ok[0].body)
        c.check(data is not None and ok[0].body.strip() != b"", "the 200 carries the JSON dataset",
                short(ok[0].body))
        c.check(bool(ok[0].receipt) and ok[0].receipt.get("success") is True,
                "the 200 has a successful PAYMENT-RESPONSE", ok[0].receipt)
    # The 200 is recorded at once, but the other copies may still be settling elsewhere: let the dust settle.
    time.sleep(2.0)
    moved = ledger_for(cl, payer)
    print(f"  ledger transfers of the payer: {moved}")
    c.eq(len([t for t in moved if t["nonce"].lower() == nonce]), 1, "ledger transfers for the nonce")
    c.eq(len(moved), 1, "ledger transfers of the payer")
    if ok and ok[0].receipt and moved:
        c.check(norm_tx(ok[0].receipt.get("transaction")) in ("", norm_tx(moved[0]["tx"])),
                "the receipt names the ledger's transaction", (ok[0].receipt, moved[0]["tx"]))
    rows = cl.sql(f"SELECT id, correlation_id, payer, nonce, amount, tx FROM payment WHERE lower(nonce) = '{nonce}'")
    print(f"  payment rows for the nonce: {rows}")
    c.eq(len(rows), 1, "payment rows for the nonce")
    c.eq(len(deliveries_of(cl, payer, nonce)), 1, "deliveries (respond/ok/delivered) of the authorization")
    # The flow of the offer (every copy carries its correlation id): it must have been worked on ONCE. No process
    # stopped in this test, so no claim may be "taken over", the upstream is asked once, `/settle` sent once.
    flow = cl.sql("SELECT seq, stage, outcome, coalesce(reason, '') AS reason FROM audit_event WHERE correlation_id "
                  f"IN (SELECT correlation_id FROM reservation WHERE lower(nonce) = '{nonce}') ORDER BY seq")
    steps = Counter(f"{e['stage']}/{e['outcome']}/{e['reason']}" for e in flow)
    print(f"  flow of the offer: {dict(steps)}")
    c.eq(steps.get("reserve/ok/claim_taken_over", 0), 0, "claims taken over from a live request (reserve/ok/"
         "claim_taken_over)")
    c.eq(steps.get("forward/ok/", 0), 1, "upstream calls (forward/ok) for the one proof")
    c.eq(steps.get("settle/received/settle_intent", 0), 1, "settlement intents (/settle calls) for the one proof")
    c.eq(sum(n for k, n in steps.items() if k.startswith("settle/ok/")), 1, "settle/ok events of the flow")
    c.check(not [k for k in steps if k.startswith("respond/denied/settlement_failed")],
            "no copy was told the settlement failed (a 402 while the money moved)", dict(steps))
    state = cl.sql(f"SELECT state FROM reservation WHERE lower(nonce) = '{nonce}'")
    c.eq([r["state"] for r in state], ["settled"], "the claim's final state")

    # Afterwards, the same header once more at each instance: nothing moves again.
    later = [send("A(later)", a + PATH, {"PAYMENT-SIGNATURE": header}),
             send("B(later)", b + PATH, {"PAYMENT-SIGNATURE": header})]
    for x in later:
        print(f"  {x.line()}")
        if x.status == 200:
            c.note(f"{x.where}: the stored answer was replayed (acceptable only with no new transfer)")
    c.check(all(x.status is not None and x.status != 500 for x in later), "later copies: no 500, no dead socket",
            [x.line() for x in later])
    time.sleep(1.0)
    c.eq(len(ledger_for(cl, payer)), 1, "ledger transfers of the payer after the later copies")
    c.eq(len(cl.sql(f"SELECT id FROM payment WHERE lower(nonce) = '{nonce}'")), 1,
         "payment rows for the nonce after the later copies")


def test_cluster_copies_of_one_proof() -> None:
    psql = require_postgres()
    cl = build_cluster("copies", psql, create_test_database(psql, "copies"))
    c = Checks("cluster 1: 10 copies of one proof over A and B")
    failed = True
    try:
        for r in range(1, COPY_ROUNDS + 1):
            print(f"\n  --- round {r}")
            copies_round(Prefixed(c, f"round {r}"), cl)
        c.check(cl.procs["gateway-a"].alive() and cl.procs["gateway-b"].alive(), "both gateways still run")
        for name in ("gateway-a", "gateway-b"):
            cl.procs[name].stop()
        cl.audit_verify(c)
        failed = bool(c.failures)
        c.done()
    finally:
        finish_cluster(cl, failed)


# ----------------------------------------------------------------------------------------------
# 2. revocations reach the other instance
# ----------------------------------------------------------------------------------------------


def poll_until(probe, predicate, bound: float, period: float = 0.05) -> tuple[float | None, list[Answer]]:
    """Call `probe()` every `period` s until `predicate(answer)` or `bound` s: (seconds taken or None, answers)."""
    t0 = time.monotonic()
    seen: list[Answer] = []
    while True:
        ans = probe()
        seen.append(ans)
        if predicate(ans):
            return time.monotonic() - t0, seen
        if time.monotonic() - t0 > bound:
            return None, seen
        time.sleep(period)


def test_cluster_revocation_reaches_the_other_instance() -> None:
    psql = require_postgres()
    cl = build_cluster("revocation", psql, create_test_database(psql, "revocation"))
    c = Checks("cluster 2: a revocation made at A applies at B, lifted at B applies at A")
    failed = True
    bound = 1.5
    try:
        a, b = cl.url("gateway-a"), cl.url("gateway-b")
        account = Account.create()
        payer = account.address

        # --- payer revocation ----------------------------------------------------------------------------
        before_b, _ = pay("B(before)", b, account)
        before_a, _ = pay("A(before)", a, account)
        print(f"  {before_b.line()}\n  {before_a.line()}")
        c.eq(before_b.status, 200, "B serves the payer before the revocation")
        c.eq(before_a.status, 200, "A serves the payer before the revocation")
        # The probe: B's own (now used) proof. Before the revocation B refuses it as a used nonce; once B knows the
        # revocation it refuses the payer first (403 payer_revoked), before any reservation or facilitator call.
        header_b, nonce_b = fresh_proof(b, account)
        first = send("B(probe proof)", b + PATH, {"PAYMENT-SIGNATURE": header_b})
        c.eq(first.status, 200, "B serves the probe proof once")
        used_b = header_b
        pre = send("B(used proof, not revoked)", b + PATH, {"PAYMENT-SIGNATURE": used_b})
        print(f"  {pre.line()}")
        c.check(pre.status not in (200, 403), "before the revocation B refuses the used probe proof otherwise "
                "than 403", pre.line())

        t_sent = time.monotonic()
        r = cl.admin_call("gateway-a", "POST", "/admin/revocations",
                          {"kind": "payer", "subject": payer, "reason": "cluster test: chargeback fraud"})
        t_done = time.monotonic()
        print(f"  revoke at A: {r.status_code} {short(r.content)} ({t_done - t_sent:.3f} s)")
        c.eq(r.status_code, 201, "POST /admin/revocations at A")
        took, seen = poll_until(lambda: send("B", b + PATH, {"PAYMENT-SIGNATURE": used_b}),
                                lambda x: x.status == 403, bound + 1.0)
        print(f"  B refused after {None if took is None else round(took, 3)} s ({len(seen)} probes; answers "
              f"{dict(Counter(f'{x.status}:{x.reason}' for x in seen))})")
        c.check(took is not None and took <= bound, f"B refuses the revoked payer within {bound} s of the 201 at A",
                f"took {took}; last {seen[-1].line()}")
        if took is not None:
            c.eq((seen[-1].error, seen[-1].reason), ("forbidden", "payer_revoked"), "B's refusal (error, reason)")
        # A fresh proof of the revoked payer: refused by both, nothing moves.
        moved_before = len(ledger_for(cl, payer))
        for where, base in (("A", a), ("B", b)):
            ans, nonce = pay(f"{where}(fresh, revoked)", base, account)
            print(f"  {ans.line()}")
            c.eq((ans.status, ans.reason), (403, "payer_revoked"), f"{where} refuses a fresh proof of the revoked payer")
            c.eq(len(ledger_for(cl, payer, nonce)), 0, f"{where}: no transfer for the refused fresh proof")
        c.eq(len(ledger_for(cl, payer)), moved_before, "no transfer of the payer while revoked")

        # Lift through B; A serves again.
        r = cl.admin_call("gateway-b", "DELETE", f"/admin/revocations/payer/{payer}")
        print(f"  unrevoke at B: {r.status_code} {short(r.content)}")
        c.eq(r.status_code, 200, "DELETE /admin/revocations/payer/… at B")
        header_a, _ = fresh_proof(a, account)
        took, seen = poll_until(lambda: send("A", a + PATH, {"PAYMENT-SIGNATURE": header_a}),
                                lambda x: x.status != 403, bound + 1.0)
        print(f"  A accepted again after {None if took is None else round(took, 3)} s ({len(seen)} probes; answers "
              f"{dict(Counter(f'{x.status}:{x.reason}' for x in seen))})")
        c.check(took is not None and took <= bound, f"A serves the payer again within {bound} s of the lift at B",
                f"took {took}; last {seen[-1].line()}")
        c.eq(seen[-1].status, 200, "A's first answer after the lift (a fresh proof)")
        again_b, _ = pay("B(after lift)", b, account)
        c.eq(again_b.status, 200, "B serves the payer after the lift")

        # --- API-key client revocation (401 client_revoked, before any price) -----------------------------
        key = {"X-Api-Key": API_KEY}
        c.eq(send("B(analyst)", b + "/reports/daily", key).status, 402, "B offers /reports/daily to analyst")
        r = cl.admin_call("gateway-a", "POST", "/admin/revocations",
                          {"kind": "client", "subject": "analyst", "reason": "cluster test: key leaked"})
        c.eq(r.status_code, 201, "POST /admin/revocations (client analyst) at A")
        took, seen = poll_until(lambda: send("B", b + "/reports/daily", key), lambda x: x.status == 401, bound + 1.0)
        print(f"  B refused analyst after {None if took is None else round(took, 3)} s ({len(seen)} probes)")
        c.check(took is not None and took <= bound, f"B refuses the revoked client within {bound} s",
                f"took {took}; last {seen[-1].line()}")
        if took is not None:
            c.eq(seen[-1].reason, "client_revoked", "B's refusal reason")
        ans = send("A(analyst)", a + "/reports/daily", key)
        c.eq((ans.status, ans.reason), (401, "client_revoked"), "A refuses the revoked client")
        r = cl.admin_call("gateway-b", "DELETE", "/admin/revocations/client/analyst")
        c.eq(r.status_code, 200, "DELETE /admin/revocations/client/analyst at B")
        took, seen = poll_until(lambda: send("A", a + "/reports/daily", key), lambda x: x.status == 402, bound + 1.0)
        print(f"  A offers to analyst again after {None if took is None else round(took, 3)} s")
        c.check(took is not None and took <= bound, f"A offers to the client again within {bound} s of the lift",
                f"took {took}; last {seen[-1].line()}")

        c.check(cl.procs["gateway-a"].alive() and cl.procs["gateway-b"].alive(), "both gateways still run")
        for name in ("gateway-a", "gateway-b"):
            cl.procs[name].stop()
        cl.audit_verify(c)
        failed = bool(c.failures)
        c.done()
    finally:
        finish_cluster(cl, failed)


# ----------------------------------------------------------------------------------------------
# 3. a spend cap under concurrency over both instances
# ----------------------------------------------------------------------------------------------

SPEND_CAP_YAML = """
spend_caps:
  - {per: payer, period: day, asset: usdc-base-sepolia, max: "0.05"}
"""
CAP_ATOMIC = 50_000          # 0.05 USDC
PRICE = 10_000               # 0.01 USDC


def test_cluster_spend_cap_is_never_exceeded() -> None:
    psql = require_postgres()
    cl = build_cluster("spendcap", psql, create_test_database(psql, "spendcap"), SPEND_CAP_YAML)
    c = Checks("cluster 3: one payer's spend cap under 20 concurrent payments over A and B")
    failed = True
    try:
        a, b = cl.url("gateway-a"), cl.url("gateway-b")
        account = Account.create()
        payer = account.address.lower()
        n = 20
        # Every request its own offer (from the instance it pays at) and its own proof, prepared first.
        prepared = []
        for i in range(n):
            base, where = (a, f"A#{i}") if i % 2 == 0 else (b, f"B#{i}")
            header, nonce = fresh_proof(base, account)
            prepared.append((where, base, header, nonce))
        barrier = threading.Barrier(n)
        final: list[Answer | None] = [None] * n
        trail: list[list[str]] = [[] for _ in range(n)]

        def go(i: int) -> None:
            where, base, header, _ = prepared[i]
            barrier.wait()
            deadline = time.monotonic() + 30
            while True:
                ans = send(where, base + PATH, {"PAYMENT-SIGNATURE": header})
                trail[i].append(f"{ans.status}:{ans.reason}")
                if ans.status not in (503, None) or time.monotonic() > deadline:
                    final[i] = ans
                    return
                time.sleep(0.3)                 # a 503 (payment in progress, store busy): the same proof again

        threads = [threading.Thread(target=go, args=(i,), daemon=True) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=90)
        for i, ans in enumerate(final):
            print(f"  {ans.line() if ans else prepared[i][0] + ': no answer'}  trail={trail[i]}")
        got = [x for x in final if x is not None]
        c.eq(len(got), n, "every request got a final answer")
        ok = [x for x in got if x.status == 200]
        refused = [x for x in got if x.status != 200]
        print(f"  final answers: {dict(Counter(f'{x.where[0]} {x.status}:{x.reason}' for x in got))}")
        c.check(len(ok) <= 5, "at most 5 paid requests succeed (cap 0.05 at 0.01 each)", f"{len(ok)} succeeded")
        c.check(len(ok) >= 1, "at least one paid request succeeds (not vacuous)", f"{len(ok)} succeeded")
        if len(ok) < 5:
            c.note(f"only {len(ok)} of the 5 the cap allows succeeded")
        c.check(all((x.status, x.error, x.reason) == (403, "forbidden", "spend_cap_exceeded") for x in refused),
                "every refusal is 403 forbidden/spend_cap_exceeded",
                [x.line() for x in refused if (x.status, x.reason) != (403, "spend_cap_exceeded")])
        time.sleep(2.0)                             # settlements of late copies, if any, land
        moved = ledger_for(cl, payer)
        print(f"  ledger transfers of the payer: {len(moved)} totalling {sum(int(t['amount']) for t in moved)}")
        c.check(len(moved) <= 5, "at most 5 ledger transfers from the payer", len(moved))
        c.check(sum(int(t["amount"]) for t in moved) <= CAP_ATOMIC, "ledger amount of the payer <= cap",
                sum(int(t["amount"]) for t in moved))
        c.eq(len(moved), len(ok), "ledger transfers == 200 answers")
        refused_nonces = {prepared[i][3] for i, x in enumerate(final) if x is not None and x.status != 200}
        c.check(not [t for t in moved if t["nonce"].lower() in refused_nonces],
                "no refused proof moved money", [t for t in moved if t["nonce"].lower() in refused_nonces])
        rows = cl.sql(f"SELECT nonce, amount, correlation_id FROM payment WHERE lower(payer) = '{payer}'")
        paid_sum = sum(int(r["amount"]) for r in rows)
        print(f"  payment rows of the payer: {len(rows)} totalling {paid_sum}")
        c.check(paid_sum <= CAP_ATOMIC, "sum of payment amounts <= cap", paid_sum)
        c.eq(len(rows), len(ok), "payment rows == 200 answers")
        totals = cl.sql(f"SELECT subject, bucket, total FROM spend_total WHERE subject = 'payer:{payer}'")
        print(f"  spend_total: {totals}")
        c.check(bool(totals) and all(int(t["total"]) <= CAP_ATOMIC for t in totals),
                "spend_total of the payer exists and is <= cap", totals)
        c.check(cl.procs["gateway-a"].alive() and cl.procs["gateway-b"].alive(), "both gateways still run")
        for name in ("gateway-a", "gateway-b"):
            cl.procs[name].stop()
        cl.audit_verify(c)
        failed = bool(c.failures)
        c.done()
    finally:
        finish_cluster(cl, failed)


# ----------------------------------------------------------------------------------------------
# 4. PostgreSQL outage under paid load
# ----------------------------------------------------------------------------------------------


class ClusterLoad(Load):
    """test_chaos's paid client loop against one instance, recording every paid answer with its time and
    Retry-After (the chaos loop keeps only status and reason)."""

    def __init__(self, name: str, base: str, n_clients: int, proof_bound: float) -> None:
        super().__init__(SimpleNamespace(gateway=base), random.Random(), n_clients, proof_bound)
        self.name = name
        self.paid: list[tuple[float, float, Answer]] = []      # (sent, answered, answer)
        self.offers: list[tuple[float, int | None]] = []       # unpaid requests: (answered, status)

    def _loop(self, i: int) -> None:
        # As Load._loop, with every unpaid answer recorded.
        account = self.accounts[i]
        http = httpx.Client(timeout=httpx.Timeout(30.0, connect=3.0), limits=httpx.Limits(max_keepalive_connections=0))
        try:
            while self.new_proofs.is_set() and time.monotonic() < self.hard_deadline:
                try:
                    r = http.get(self.url)
                except httpx.HTTPError:
                    with self.lock:
                        self.offers.append((time.monotonic(), None))
                    self.bump("offer_conn_errors")
                    time.sleep(0.3)
                    continue
                with self.lock:
                    self.offers.append((time.monotonic(), r.status_code))
                if r.status_code != 402:
                    self.bump(f"offer_{r.status_code}")
                    time.sleep(0.3)
                    continue
                payload, nonce = sign_offer(b64json_decode(r.headers.get("payment-required")), account, None)
                att = Attempt(i, account.address.lower(), nonce.lower(), None, r.headers.get(CORR), time.monotonic())
                with self.lock:
                    self.attempts.append(att)
                    self.stats["proofs"] += 1
                self._pay(http, att, b64json_encode(payload), min(att.t0 + self.proof_bound, self.hard_deadline))
        finally:
            http.close()

    def _pay(self, http: httpx.Client, att: Attempt, header: str, bound: float) -> None:
        first = True
        while True:
            if not first:
                if time.monotonic() + 0.3 > bound:
                    self.bump("gave_up")
                    return
                time.sleep(0.3)
                self.bump("retries")
            first = False
            sent = time.monotonic()
            try:
                r = http.get(self.url, headers={"PAYMENT-SIGNATURE": header})
                ans = answer_of(self.name, r)
            except httpx.HTTPError as exc:
                ans = Answer(self.name, None, exc=type(exc).__name__, t=time.monotonic())
            with self.lock:
                self.paid.append((sent, ans.t, ans))
            att.answers.append(f"{ans.status}:{ans.reason}" if ans.status else f"conn:{ans.exc}")
            self.bump(f"paid_{ans.status if ans.status else 'conn_errors'}")
            if ans.status in (None, 503, 429):
                continue
            att.status, att.reason = ans.status, ans.reason
            if ans.status == 200 and ans.receipt:
                att.tx = ans.receipt.get("transaction") or None
                att.receipt_success = ans.receipt.get("success")
            return


PG_TIMEOUT = 2               # test 4: storage.postgres.timeout_seconds, shorter than the ~4 s outage
OUTAGE = 4.0


def test_cluster_postgres_outage() -> None:
    psql = require_postgres()
    workdir = new_workdir("tollgate-cluster-outage-", TOLLGATE_BIN)
    pg_state = workdir / "pg"
    try:
        db_url = pg_script(pg_state, "start")
    except Exception as exc:  # noqa: BLE001
        try:
            pg_script(pg_state, "stop")
        finally:
            pytest.fail(f"private PostgreSQL cluster did not start: {exc}\n(workdir kept: {workdir})", pytrace=False)
    print(f"private cluster: {db_url} (state {pg_state})")
    pg_down = False
    cl: Cluster | None = None
    failed = True
    try:
        cl = build_cluster("outage", psql, db_url, workdir=workdir, pg_timeout=PG_TIMEOUT)
        c = Checks(f"cluster 4: PostgreSQL halted for ~{OUTAGE:.0f} s under paid load over A and B")
        a, b = cl.url("gateway-a"), cl.url("gateway-b")
        loads = [ClusterLoad("A", a, 3, proof_bound=40.0), ClusterLoad("B", b, 3, proof_bound=40.0)]
        t0 = time.monotonic()
        for ld in loads:
            ld.start(hard_deadline=t0 + 90)
        time.sleep(3.0)                                         # payments flow first
        halt_start = time.monotonic()
        pg_script(pg_state, "halt")
        pg_down = True
        halt_done = time.monotonic()
        print(f"  PostgreSQL halted at t={halt_done - t0:.2f} s (halt took {halt_done - halt_start:.2f} s)")
        # Fresh clients that start paying only while the database is down (the load's clients may be mid-request).
        during = [ClusterLoad("A(outage)", a, 1, proof_bound=40.0), ClusterLoad("B(outage)", b, 1, proof_bound=40.0)]
        for ld in during:
            ld.start(hard_deadline=t0 + 90)
        time.sleep(OUTAGE / 2)
        during_unpaid = [send("A(unpaid, outage)", a + PATH), send("B(unpaid, outage)", b + PATH)]
        time.sleep(max(0.0, OUTAGE - (time.monotonic() - halt_done)))
        for ld in during:
            ld.stop_new()                                       # their pending proofs are retried after the resume
        resume_start = time.monotonic()
        pg_script(pg_state, "resume")
        pg_down = False
        resumed = time.monotonic()
        print(f"  PostgreSQL resumed at t={resumed - t0:.2f} s (down {resume_start - halt_done:.2f} s)")
        for x in during_unpaid:
            print(f"  {x.line()}")
        c.check(all(x.status in (402, 503) for x in during_unpaid), "unpaid requests during the outage: 402 or 503",
                [x.line() for x in during_unpaid])
        # Recovery: a fresh paid request succeeds at each instance within 15 s.
        recovered: dict[str, float | None] = {}
        probe_accounts = {"A": Account.create(), "B": Account.create()}
        probes: list[tuple[str, str, Answer]] = []               # (where, nonce, answer)
        for where, base in (("A", a), ("B", b)):
            took = None
            while time.monotonic() - resumed <= 15.0:
                try:
                    ans, nonce = pay(f"{where}(recovery)", base, probe_accounts[where])
                except (AssertionError, httpx.HTTPError) as exc:   # no 402 offer yet
                    probes.append((where, "", Answer(f"{where}(recovery offer)", None, exc=str(exc)[:200])))
                    time.sleep(0.3)
                    continue
                probes.append((where, nonce, ans))
                if ans.status == 200:
                    took = time.monotonic() - resumed
                    break
                time.sleep(0.3)
            recovered[where] = took
        print(f"  recovery after resume (s): { {k: (None if v is None else round(v, 2)) for k, v in recovered.items()} }")
        for where, took in recovered.items():
            c.check(took is not None, f"{where} serves a paid request again within 15 s of the resume",
                    [p[2].line() for p in probes if p[0] == where][-5:])
        time.sleep(2.0)                                         # load goes on with the database back
        for ld in loads:
            ld.stop_new()
        for ld in loads + during:
            ld.join()
        every = loads + during
        c.check(not [e for ld in every for e in ld.errors], "client threads ran without test-side exceptions",
                [e for ld in every for e in ld.errors])
        c.check(cl.procs["gateway-a"].alive() and cl.procs["gateway-b"].alive(),
                "both gateways survived the outage (processes alive)",
                {n: cl.procs[n].popen.returncode for n in ("gateway-a", "gateway-b")})

        def rel(t: float) -> str:
            return f"{t - halt_done:+.2f}s"

        paid = [(s, e, x) for ld in every for s, e, x in ld.paid]
        print(f"  client stats: { {ld.name: dict(ld.stats) for ld in every} }")
        all_answers = [x for _, _, x in paid] + [p[2] for p in probes] + during_unpaid
        fives = [x.line() for x in all_answers if x.status is not None and x.status >= 500 and x.status != 503]
        c.check(not fives, "no 5xx other than 503 was ever answered (no 500)", fives)
        no_retry = [x.line() for x in all_answers if x.status == 503 and not x.retry_after]
        c.check(not no_retry, "every 503 carries Retry-After", no_retry)
        offers_500 = [(rel(t), s) for ld in every for t, s in ld.offers if s is not None and s >= 500 and s != 503]
        c.check(not offers_500, "no unpaid request got a 5xx other than 503", offers_500)
        # The gateways never died, so every paid request must have been answered (no connection error, no request
        # left hanging for the client's 30 s read timeout).
        unanswered = [f"sent {rel(s)} (relative to the halt), gave up {rel(e)}: {x.line()}" for s, e, x in paid
                      if x.status is None]
        c.check(not unanswered, "every paid request got an HTTP answer (none hung, none dropped)",
                "\n    " + "\n    ".join(unanswered))
        for ld in during:
            print(f"  {ld.name} paid requests (sent, answered, relative to the halt): "
                  + "; ".join(f"{rel(s)} {rel(e)} {x.status}:{x.reason or x.exc}" for s, e, x in ld.paid))
        print(f"  resume started at {rel(resume_start)}")
        inside = [(s, e, x) for s, e, x in paid if s >= halt_done and e <= resume_start]
        print(f"  paid answers sent and answered while PostgreSQL was down: "
              f"{dict(Counter(f'{x.where} {x.status}:{x.reason}' for _, _, x in inside))}")
        c.check(len(inside) > 0, f"(not vacuous) a paid request sent while PostgreSQL was down was answered before it "
                f"came back (storage.postgres.timeout_seconds {PG_TIMEOUT} s < the {OUTAGE:.0f} s outage)", len(inside))
        c.check(all(x.status == 503 and x.retry_after for _, _, x in inside),
                "paid requests answered while PostgreSQL was down are 503 with Retry-After",
                [x.line() for _, _, x in inside if not (x.status == 503 and x.retry_after)])
        c.check(sum(1 for _, _, x in paid if x.status == 200 and x.t < halt_start) > 0,
                "(not vacuous) payments succeeded before the outage")

        # --- consistency, gateways stopped -----------------------------------------------------------------
        for name in ("gateway-a", "gateway-b"):
            cl.procs[name].stop()
        attempts = [att for ld in every for att in ld.attempts]
        for where, nonce, ans in probes:
            if nonce:
                attempts.append(Attempt(-1, probe_accounts[where].address.lower(), nonce, None, None, 0.0,
                                        [f"{ans.status}:{ans.reason}"], ans.status, ans.reason,
                                        (ans.receipt or {}).get("transaction")))
        check_consistency(c, cl, attempts)
        cl.audit_verify(c)
        failed = bool(c.failures)
        if failed:
            for att in attempts:
                if not att.ok:
                    print(f"  attempt: {att.line()}")
                    if att.cid:
                        for e in cl.sql("SELECT seq, time_ms, stage, outcome, coalesce(reason, '') AS reason, "
                                        f"left(details, 160) AS details FROM audit_event WHERE correlation_id = "
                                        f"'{att.cid}' AND coalesce(reason, '') <> 'payment_in_progress' "
                                        "AND stage NOT IN ('proof', 'verify') ORDER BY seq"):
                            print(f"      {e['seq']} {e['time_ms']} {e['stage']}/{e['outcome']}/{e['reason']} "
                                  f"{e['details']}")
        c.done()
    finally:
        if cl is not None:
            for p in cl.procs.values():
                p.stop()
        if pg_down:
            print("  (PostgreSQL was left halted by a failure; stopping it)")
        try:
            pg_script(pg_state, "stop")
        except Exception as exc:  # noqa: BLE001
            print(f"  private cluster stop failed: {exc}")
        finish(workdir, cl.procs if cl else {}, failed, tail_lines=30)


def check_consistency(c: Checks, cl: Cluster, attempts: list[Attempt]) -> None:
    """The ledger against the database and the clients (test_chaos's invariants a, b, e, read from PostgreSQL)."""
    transfers = {(t["payer"].lower(), t["nonce"].lower()): t for t in cl.transfers()}
    payments = cl.sql("SELECT id, correlation_id, payer, nonce, amount, tx FROM payment ORDER BY id")
    intents = {(i["payer"].lower(), i["nonce"].lower()): i for i in cl.sql(
        "SELECT payer, nonce, correlation_id, outcome, delivered, tx FROM settlement_intent")}
    reservations = {(r["payer"].lower(), r["nonce"].lower()): r for r in cl.sql(
        "SELECT payer, nonce, correlation_id, state FROM reservation")}
    proof_cids = cl.sql("SELECT correlation_id, lower((details::jsonb) ->> 'payer') AS payer, "
                        "lower((details::jsonb) ->> 'nonce') AS nonce FROM audit_event WHERE stage = 'proof' "
                        "AND (details::jsonb) ->> 'nonce' IS NOT NULL")
    delivered_events = cl.sql("SELECT seq, correlation_id FROM audit_event WHERE stage = 'respond' "
                              "AND outcome = 'ok' AND reason = 'delivered' ORDER BY seq")
    print(f"  ledger transfers {len(transfers)}, payment rows {len(payments)}, intents "
          f"{dict(Counter(i['outcome'] for i in intents.values()))}, reservations "
          f"{dict(Counter(r['state'] for r in reservations.values()))}")
    by_key: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for p in payments:
        by_key[(p["payer"].lower(), p["nonce"].lower())].append(p)

    # a. every transfer is recorded: a payment row with the same nonce, or a settlement intent (reported).
    missing, held = [], []
    for key, t in sorted(transfers.items()):
        if by_key.get(key):
            continue
        intent = intents.get(key)
        if intent and intent["outcome"] in ("settled", "review", "refunded", "open"):
            held.append(f"{key[0]} {key[1][:18]}… intent {intent['correlation_id']} outcome={intent['outcome']} "
                        f"delivered={intent['delivered']}")
            continue
        missing.append(f"transfer {t['tx']} payer {key[0]} nonce {key[1]}: intent {intent}, reservation "
                       f"{reservations.get(key)}")
    for line in held:
        print(f"  (a) transfer held by its settlement intent, no payment row: {line}")
    c.check(not missing, f"(a) every ledger transfer ({len(transfers)}) has a payment row or a settlement intent",
            "\n    " + "\n    ".join(missing))
    phantom = [f"payment {p['id']} {p['payer']} {p['nonce']} tx {p['tx']!r}" for p in payments
               if (t := transfers.get((p["payer"].lower(), p["nonce"].lower()))) is None
               or (norm_tx(p["tx"]) and norm_tx(p["tx"]) != norm_tx(t["tx"]))]
    c.check(not phantom, "(a) every payment row is a ledger transfer (same tx)", phantom)
    dupes = [f"{k}: {[(p['id'], p['correlation_id']) for p in v]}" for k, v in by_key.items() if len(v) > 1]
    c.check(not dupes, "(a) no authorization has two payment rows", dupes)

    # b. no authorization delivered twice.
    cid_key: dict[str, tuple[str, str]] = {}
    for d in list(intents.values()) + list(reservations.values()) + payments:
        cid_key[d["correlation_id"]] = (d["payer"].lower(), d["nonce"].lower())
    for d in proof_cids:
        if d["payer"] and d["nonce"]:
            cid_key.setdefault(d["correlation_id"], (d["payer"], d["nonce"]))
    delivered: dict[tuple[str, str], list[int]] = defaultdict(list)
    unmapped = []
    for e in delivered_events:
        key = cid_key.get(e["correlation_id"])
        if key is None:
            unmapped.append(e)
        else:
            delivered[key].append(e["seq"])
    c.check(not unmapped, "(b) every delivery event belongs to a known authorization", unmapped)
    twice = {f"{k[0]} {k[1]}": v for k, v in delivered.items() if len(v) > 1}
    c.check(not twice, "(b) no authorization delivered twice", twice)

    # e. what the clients saw against the ledger.
    wrong_200, unexplained = [], []
    seen = {(att.payer, att.nonce): att for att in attempts}
    for att in attempts:
        t = transfers.get((att.payer, att.nonce))
        if att.ok and (t is None or (att.tx and norm_tx(att.tx) != norm_tx(t["tx"]))):
            wrong_200.append(f"{att.line()}: ledger {t}")
    for key, t in transfers.items():
        att = seen.get(key)
        if att is None:
            unexplained.append(f"transfer {t['tx']} {key} made by no client of this test")
        elif not att.ok:
            intent = intents.get(key)
            c.note(f"paid without a 200: {att.line()} -- intent {intent and (intent['outcome'], intent['delivered'])}"
                   f", payment rows {len(by_key.get(key, []))}")
    c.check(not wrong_200, "(e) every 200 is one ledger transfer of its nonce (same tx as the receipt)", wrong_200)
    c.check(not unexplained, "(e) every transfer was made by a client of this test", unexplained)
    print(f"  clients: proofs {len(attempts)}, 200s {sum(1 for x in attempts if x.ok)}, final answers "
          f"{dict(Counter(f'{x.status}:{x.reason}' for x in attempts if not x.ok))}")


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-v", "-s", "-p", "no:cacheprovider"]))


# ----------------------------------------------------------------------------------------------
# 5. a request slower than the grace keeps its claim (leases renewed while it runs)
# ----------------------------------------------------------------------------------------------

SLOW_MS = 6000
LEASE_GRACE = 2              # storage.postgres.settling_grace_seconds: the slow request outlives it three times
SLOW_ROUTE = """  - method: GET
    path: /slow
    resource: slow
    description: A slow answer (the sample upstream sleeps ms)
    price: "0.001"
    accepts: [usdc-base-sepolia]
    unit: request
    consumed: on_success
    anonymous: true
    max_timeout_seconds: 120

"""


def with_slow_route_and_short_grace(text: str) -> str:
    """The cluster example with a paid route to the sample upstream's /slow and a 2 s settling grace."""
    assert "\nroutes:\n" in text and "    migrate_on_start: true\n" in text, "the cluster example changed shape"
    text = text.replace("\nroutes:\n", "\nroutes:\n" + SLOW_ROUTE, 1)
    return text.replace("    migrate_on_start: true\n", f"    migrate_on_start: true\n    settling_grace_seconds: {LEASE_GRACE}\n", 1)


def test_cluster_a_slow_request_keeps_its_claim() -> None:
    """A paid request whose upstream takes 6 s, three times the settling grace, at instance A; the same proof sent to
    instance B after 3 s (a client retrying elsewhere, or an attacker replaying it). A renews its claim's lease while it
    waits, so B must not take the claim over and run the work again: B answers 503 payment_in_progress, the upstream
    runs once, one transfer, one delivery."""
    psql = require_postgres()
    cl = build_cluster("slow", psql, create_test_database(psql, "slow"), transform=with_slow_route_and_short_grace)
    c = Checks("cluster 5: a request slower than the grace keeps its claim")
    failed = True
    try:
        a, b = cl.url("gateway-a"), cl.url("gateway-b")
        path = f"/slow?ms={SLOW_MS}"
        account = Account.create()
        header, nonce = fresh_proof(a, account, path)
        first: list[Answer] = []
        runner = threading.Thread(target=lambda: first.append(send("A", a + path, {"PAYMENT-SIGNATURE": header}, timeout=60)),
                                  daemon=True)
        started = time.monotonic()
        runner.start()
        time.sleep(LEASE_GRACE * 1.5)
        copy_at = time.monotonic() - started
        copy = send("B(copy)", b + path, {"PAYMENT-SIGNATURE": header}, timeout=60)
        runner.join(timeout=90)
        print(f"  {copy.line()} (sent {copy_at:.1f} s after the first)")
        for ans in first:
            print(f"  {ans.line()}")
        c.check(bool(first) and first[0].status == 200, "the slow request at A is delivered (200)", [x.line() for x in first])
        c.check(copy_at < SLOW_MS / 1000, "the copy reached B while A's request still ran", copy_at)
        c.eq(copy.status, 503, "the copy at B is told to wait (503), not served by running the work again")
        c.eq(copy.reason, "payment_in_progress", "the copy's reason")
        time.sleep(1.0)
        flow = cl.sql("SELECT stage, outcome, coalesce(reason, '') AS reason FROM audit_event WHERE correlation_id "
                      f"IN (SELECT correlation_id FROM reservation WHERE lower(nonce) = '{nonce}') ORDER BY seq")
        steps = Counter(f"{e['stage']}/{e['outcome']}/{e['reason']}" for e in flow)
        print(f"  flow of the offer: {dict(steps)}")
        c.eq(steps.get("reserve/ok/claim_taken_over", 0), 0, "claims taken over from the live request")
        c.eq(steps.get("forward/ok/", 0), 1, "upstream calls (forward/ok)")
        c.eq(len(ledger_for(cl, account.address, nonce)), 1, "ledger transfers for the nonce")
        c.eq(len(deliveries_of(cl, account.address, nonce)), 1, "deliveries of the authorization")
        cl.procs["gateway-a"].stop()
        cl.procs["gateway-b"].stop()
        cl.audit_verify(c)
        failed = bool(c.failures)
        c.done()
    finally:
        finish_cluster(cl, failed)

