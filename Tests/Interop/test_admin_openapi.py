#!/usr/bin/env python3
"""The admin API against its own OpenAPI document, with schemathesis (PyPI schemathesis==4.32.5).

    scripts/interop.sh -k admin_openapi
    TOLLGATE_BIN=.build/debug/tollgate python -m pytest Tests/Interop/test_admin_openapi.py -v -s

One `tollgate serve` (the quickstart config, its own fresh SQLite, plus an `admin:` listener whose
token comes from TOLLGATE_ADMIN_TOKEN) in front of the sample upstream, settling through the official
SDK's facilitator (`sdk_facilitator.py`), all on 127.0.0.1, offline. Two flows are paid with the SDK
first, so refunds have something real to refund.

  1 the document: served at /admin/openapi.json behind the token, byte for byte the repository's
    docs/admin-openapi.json (= Sources/TollgateAdmin/Admin/openapi.json)
  2 schemathesis over EVERY operation, schema loaded from the running server: positive and negative
    data (--mode all), every check (--checks all), every phase, fixed seed, bounded examples.
    Any failure fails the test (the server is fixed, not the checks).
  3 refunds end to end on the paid flows, through `tollgate admin refund|refunds|refund-close`, each
    answer validated against the response schema the document gives for its status
  4 usage of the paid flows, answers validated the same way

Environment: TOLLGATE_BIN, TOLLGATE_INTEROP_KEEP=1 (keep the temp dir), SCHEMATHESIS_MAX_EXAMPLES
(default 100), SCHEMATHESIS_SEED (default 402).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from harness import (  # shared helpers (harness.py is not a test module)
    CORR, PRICE_ATOMIC, QUICKSTART, ROOT, TOLLGATE_BIN, Proc, answers_http, child_env, finish,
    free_port, http_status, make_config, new_workdir, require_file, sdk_get, start,
    start_sdk_facilitator, start_upstream, startup_failed, wait_until,
)

DOCUMENT = ROOT / "docs" / "admin-openapi.json"
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "100"))
SEED = int(os.environ.get("SCHEMATHESIS_SEED", "402"))
TX = "0x" + "ab" * 32


@dataclass
class Admin:
    workdir: Path
    url: str
    gateway: str
    token: str
    env: dict[str, str]
    procs: dict[str, Proc]
    flows: list[str] = field(default_factory=list)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def cli(self, *args: str) -> tuple[int, str, str]:
        p = subprocess.run([str(TOLLGATE_BIN), "admin", *args, "--url", self.url, "--actor", "openapi-suite"],
                           cwd=self.workdir, env=self.env, capture_output=True, text=True, timeout=60)
        print(f"$ tollgate admin {' '.join(args)} -> rc={p.returncode} {p.stdout.strip()[:300]} {p.stderr.strip()[:300]}")
        return p.returncode, p.stdout, p.stderr


@pytest.fixture(scope="module")
def admin(request) -> Admin:
    require_file(TOLLGATE_BIN, "gateway binary")
    workdir = new_workdir("tollgate-admin-openapi-", TOLLGATE_BIN)
    procs: dict[str, Proc] = {}
    env = child_env(TOLLGATE_ADMIN_TOKEN=secrets.token_hex(32))
    try:
        procs["upstream"], up_port, _ = start_upstream(workdir, env)
        procs["facilitator"], facilitator = start_sdk_facilitator(workdir, env)

        port, admin_port = free_port(), free_port()
        text = make_config(QUICKSTART.read_text(), port, up_port, facilitator, workdir / "gateway.sqlite")
        text += f"\nadmin:\n  listen: 127.0.0.1:{admin_port}\n  token: {{env: TOLLGATE_ADMIN_TOKEN}}\n"
        config = workdir / "tollgate.yaml"
        config.write_text(text)
        procs["gateway"] = start("gateway", [str(TOLLGATE_BIN), "serve", "--config", str(config)], workdir, env)
        gateway, url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{admin_port}"
        wait_until("admin listener", lambda: answers_http(url + "/admin/status"), procs["gateway"], 60)
        wait_until("gateway offers terms", lambda: http_status(gateway + "/datasets/prices") == 402, procs["gateway"], 30)
    except Exception as exc:  # noqa: BLE001
        startup_failed(procs, workdir, exc)

    a = Admin(workdir, url, gateway, env["TOLLGATE_ADMIN_TOKEN"], env, procs)
    # Paid flows to refund, made before schemathesis (which may switch incidents on).
    for path in ("/datasets/prices", "/datasets/prices"):
        result = sdk_get(gateway + path)
        last = result.last
        if result.error or last is None or last.status != 200:
            for p in procs.values():
                p.stop()
            pytest.fail(f"paid request {path} failed:\n{result.describe()}\n(workdir kept: {workdir})", pytrace=False)
        a.flows.append(last.headers.get(CORR))
    print(f"gateway {gateway}  admin {url}  paid flows {a.flows}")
    yield a

    finish(workdir, procs, request.session.testsfailed)


# ----------------------------------------------------------------------------------------------
# Answers against the document
# ----------------------------------------------------------------------------------------------

_document: dict[str, Any] | None = None


def document() -> dict[str, Any]:
    global _document
    if _document is None:
        _document = json.loads(DOCUMENT.read_text())
    return _document


def check_answer(method: str, path: str, status: int, body: Any) -> None:
    """`body` is valid against the schema the document gives `method path` for `status`."""
    doc = document()
    response = doc["paths"][path][method.lower()]["responses"].get(str(status))
    assert response is not None, f"{method} {path}: status {status} is not documented"
    if "$ref" in response:
        pointer = response["$ref"][1:]
    else:
        escaped = path.replace("~", "~0").replace("/", "~1")
        pointer = f"/paths/{escaped}/{method.lower()}/responses/{status}"
    pointer += "/content/application~1json/schema"
    registry = Registry().with_resource(
        "urn:admin-openapi", Resource.from_contents(doc, default_specification=DRAFT202012))
    validator = jsonschema.Draft202012Validator({"$ref": "urn:admin-openapi#" + quote(pointer, safe="/~")},
                                                registry=registry,
                                                format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(body), key=str)
    assert not errors, f"{method} {path} {status}: {errors[0].message} in {json.dumps(body)[:400]}"


def answer(r: httpx.Response) -> Any:
    try:
        return r.json()
    except ValueError:
        raise AssertionError(f"{r.request.method} {r.request.url}: {r.status_code} with a body that is not JSON: {r.text[:300]!r}")


# ----------------------------------------------------------------------------------------------
# 1. the document
# ----------------------------------------------------------------------------------------------


def test_1_document_is_served_behind_the_token(admin: Admin) -> None:
    r = httpx.get(admin.url + "/admin/openapi.json", headers=admin.headers, timeout=10)
    assert r.status_code == 200, r.text[:300]
    assert r.headers["content-type"] == "application/json"
    assert r.content == DOCUMENT.read_bytes(), "the served document is not docs/admin-openapi.json"
    assert r.json()["openapi"].startswith("3.1.")
    anonymous = httpx.get(admin.url + "/admin/openapi.json", timeout=10)
    assert anonymous.status_code == 401
    assert anonymous.headers.get("www-authenticate") == "Bearer"
    check_answer("GET", "/admin/openapi.json", 401, answer(anonymous))


# ----------------------------------------------------------------------------------------------
# 2. schemathesis
# ----------------------------------------------------------------------------------------------


def test_2_schemathesis_every_operation(admin: Admin) -> None:
    operations = sum(len([m for m in item if m in ("get", "post", "put", "patch", "delete")])
                     for item in document()["paths"].values())
    executable = Path(sys.executable).parent / "schemathesis"
    report = admin.workdir / "schemathesis-junit.xml"
    argv = [str(executable), "run", admin.url + "/admin/openapi.json",
            "--header", f"Authorization: Bearer {admin.token}",
            "--mode", "all",                                        # positive and negative data
            "--checks", "all",
            "--phases", "examples,coverage,fuzzing,stateful",
            # Every path, named explicitly: schemathesis leaves out the operation that served the
            # document (GET /admin/openapi.json) unless a filter selects it.
            "--include-path-regex", "^/",
            "--seed", str(SEED), "--max-examples", str(MAX_EXAMPLES), "--workers", "1",
            "--request-timeout", "10", "--max-failures", "50",
            "--report", "junit", "--report-junit-path", str(report)]
    print("$ " + " ".join(a if not a.startswith("Authorization") else "Authorization: Bearer $TOLLGATE_ADMIN_TOKEN" for a in argv))
    env = {**admin.env, "NO_COLOR": "1", "COLUMNS": "160"}
    p = subprocess.run(argv, cwd=admin.workdir, env=env, capture_output=True, text=True, timeout=600)
    output = p.stdout + p.stderr
    print(output[-30000:])
    tested = re.search(r"Tested:\s*(\d+)", output)
    assert p.returncode == 0, f"schemathesis reported failures (exit {p.returncode}); junit report {report}"
    # A warning, not a failure, for schemathesis: here it would mean nothing got past the bearer check.
    assert "Authentication failed" not in output, "schemathesis got only 401/403 answers: the token was not sent or not accepted"
    assert tested is not None and int(tested.group(1)) == operations, \
        f"schemathesis tested {tested.group(1) if tested else '?'} of the {operations} documented operations"


# ----------------------------------------------------------------------------------------------
# 3. refunds end to end, through the CLI client
# ----------------------------------------------------------------------------------------------


def test_3_refunds_of_a_paid_flow(admin: Admin) -> None:
    flow = admin.flows[0]
    rc, out, err = admin.cli("refund", flow, "--amount", "4000", "--reason", "partial: stale data")
    assert rc == 0, err
    first = json.loads(out)
    check_answer("POST", "/admin/refunds", 201, first)
    assert (first["amount"], first["state"], first["kind"]) == ("4000", "pending_payout", "payout")
    assert first["correlationId"] == flow and first["actor"] == "admin:openapi-suite"
    assert isinstance(first["createdAtMillis"], int) and not any("_" in key for key in first), f"camelCase keys: {sorted(first)}"

    # One casing for the whole API: the old snake_case field is an unknown field, refused before anything is recorded.
    snake = httpx.post(admin.url + "/admin/refunds", headers=admin.headers, timeout=10,
                       json={"correlation_id": flow, "amount": "1", "reason": "snake_case"})
    assert snake.status_code == 400 and "correlation_id" in answer(snake)["reason"], snake.text[:300]
    check_answer("POST", "/admin/refunds", 400, answer(snake))

    rc, out, err = admin.cli("refund", flow, "--amount", str(int(PRICE_ATOMIC)), "--reason", "too much")
    assert rc == 1 and "409" in err and "exceeds_paid" in err, err
    over = httpx.post(admin.url + "/admin/refunds", headers=admin.headers, timeout=10,
                      json={"correlationId": flow, "amount": PRICE_ATOMIC, "reason": "too much"})
    assert over.status_code == 409
    check_answer("POST", "/admin/refunds", 409, answer(over))

    rc, out, err = admin.cli("refund", flow, "--reason", "the rest")
    assert rc == 0, err
    rest = json.loads(out)
    assert rest["amount"] == str(int(PRICE_ATOMIC) - 4000)
    done = httpx.post(admin.url + "/admin/refunds", headers=admin.headers, timeout=10, json={"correlationId": flow, "reason": "again"})
    assert done.status_code == 409 and answer(done)["error"] == "already_refunded"
    check_answer("POST", "/admin/refunds", 409, answer(done))

    unknown = httpx.post(admin.url + "/admin/refunds", headers=admin.headers, timeout=10,
                         json={"correlationId": "tg_" + "0" * 32, "reason": "never paid"})
    assert unknown.status_code == 404
    check_answer("POST", "/admin/refunds", 404, answer(unknown))

    rc, out, err = admin.cli("refunds", "--state", "pending", "--correlation-id", flow)
    assert rc == 0, err
    listed = json.loads(out)
    check_answer("GET", "/admin/refunds", 200, listed)
    assert [r["id"] for r in listed["refunds"]] == [rest["id"], first["id"]], "newest first"
    by_flow = httpx.get(admin.url + "/admin/refunds", params={"correlationId": flow}, headers=admin.headers, timeout=10)
    assert by_flow.status_code == 200, by_flow.text[:300]
    check_answer("GET", "/admin/refunds", 200, answer(by_flow))
    assert {r["correlationId"] for r in answer(by_flow)["refunds"]} == {flow}

    rc, out, err = admin.cli("refund-close", first["id"], "--tx", TX)
    assert rc == 0, err
    closed = json.loads(out)
    check_answer("POST", "/admin/refunds/{id}/close", 200, closed)
    assert closed["state"] == "paid" and closed["payoutTransaction"] == TX and isinstance(closed["closedAtMillis"], int)
    snake = httpx.post(f"{admin.url}/admin/refunds/{rest['id']}/close", headers=admin.headers, timeout=10,
                       json={"payout_transaction": TX})
    assert snake.status_code == 400, snake.text[:300]
    check_answer("POST", "/admin/refunds/{id}/close", 400, answer(snake))
    again = httpx.post(f"{admin.url}/admin/refunds/{first['id']}/close", headers=admin.headers, timeout=10,
                       json={"payoutTransaction": TX})
    assert again.status_code == 409 and answer(again)["error"] == "not_pending"
    check_answer("POST", "/admin/refunds/{id}/close", 409, answer(again))

    rc, out, err = admin.cli("refunds", "--state", "paid")
    assert rc == 0, err
    assert first["id"] in [r["id"] for r in json.loads(out)["refunds"]]

    # The refunds are in the flow's trace.
    trace = subprocess.run([str(TOLLGATE_BIN), "trace", flow, "--config", str(admin.workdir / "tollgate.yaml"), "--json"],
                           cwd=admin.workdir, env=admin.env, capture_output=True, text=True, timeout=60)
    stages = [e.get("stage") for e in json.loads(trace.stdout).get("events", [])] if trace.returncode == 0 else []
    assert stages.count("refund") == 3, f"refund events in `tollgate trace {flow}`: {stages} {trace.stderr[:300]}"


# ----------------------------------------------------------------------------------------------
# 4. usage
# ----------------------------------------------------------------------------------------------


def test_4_usage_of_the_paid_flows(admin: Admin) -> None:
    r = httpx.get(admin.url + "/admin/usage", headers=admin.headers, timeout=10)
    assert r.status_code == 200, r.text[:300]
    usage = answer(r)
    check_answer("GET", "/admin/usage", 200, usage)
    datasets = [u for u in usage["usage"] if u["resource"] == "datasets"]
    assert datasets and datasets[0]["events"] >= 2, usage
    assert sum(int(v) for v in datasets[0]["paid"].values()) >= 2 * int(PRICE_ATOMIC), usage

    r = httpx.get(admin.url + "/admin/usage", params={"from": "2000-01-01T00:00:00Z", "to": "2000-02-01T00:00:00+01:00"},
                  headers=admin.headers, timeout=10)
    assert r.status_code == 200 and answer(r)["usage"] == [], r.text[:300]
    bad = httpx.get(admin.url + "/admin/usage", params={"from": "yesterday"}, headers=admin.headers, timeout=10)
    assert bad.status_code == 400
    check_answer("GET", "/admin/usage", 400, answer(bad))

    r = httpx.get(admin.url + "/admin/usage/balances", params={"client": "analyst"}, headers=admin.headers, timeout=10)
    assert r.status_code == 200, r.text[:300]
    check_answer("GET", "/admin/usage/balances", 200, answer(r))
