#!/usr/bin/env python3
"""The Hummingbird door against the OFFICIAL x402 Python SDK (PyPI x402==2.25.0), offline.

    TOLLGATE_HUMMINGBIRD_APP_BIN=.build/debug/HummingbirdPaidAPI python -m pytest Tests/Interop/test_hummingbird_app.py -v -s
    (or scripts/interop.sh -k hummingbird)

What runs, all on free 127.0.0.1 ports:
  * the SDK's own facilitator      `sdk_facilitator.py` (started by harness.py, as in test_interop.py)
  * the example application        `$TOLLGATE_HUMMINGBIRD_APP_BIN --config CFG`: examples/hummingbird-app, a
                                   Hummingbird app whose routes sit behind `TollgateMiddleware`; CFG is its
                                   tollgate.yaml with listen / public_url / facilitators[0].url / storage.sqlite
                                   replaced
and the payer is the SDK's httpx transport. There is no upstream process: the handlers are the upstream.
The application logs one line per quote it serves ("quote served", with the correlation id), which is how the
suite tells whether a handler ran.

Scenarios (in file order): 0 free routes, a the SDK pays a quote, b the replay of (a) is refused and the handler
does not run again, c an API-key route, d a handler that throws is not charged, e a handler that answers 404 is
not charged.

Environment:
  TOLLGATE_HUMMINGBIRD_APP_BIN  the example binary (default <repo>/.build/debug/HummingbirdPaidAPI)
  TOLLGATE_INTEROP_KEEP=1       keep the temp dir (config, sqlite, logs) after the run
  TOLLGATE_INTEROP_PIDFILE      append the pid of every process started here (scripts/interop.sh)
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from harness import (  # shared helpers (harness.py is not a test module)
    API_KEY, CORR, NETWORK, PRICE_ATOMIC, R_NONCE_USED, ROOT,
    Checks, Exchange, Proc, body_json, check_402, check_error, child_env, fac_stats, finish,
    free_port, get, http_status, make_config, new_workdir, require_file, sdk_get, start,
    start_sdk_facilitator, startup_failed, try_decode, wait_until,
)

APP_BIN = Path(os.environ.get("TOLLGATE_HUMMINGBIRD_APP_BIN")
               or ROOT / ".build" / "debug" / "HummingbirdPaidAPI")
APP_CONFIG = ROOT / "examples" / "hummingbird-app" / "tollgate.yaml"


@dataclass
class App:
    workdir: Path
    url: str
    facilitator: str
    procs: dict[str, Proc]
    state: dict[str, Any] = field(default_factory=dict)

    def fac_stats(self) -> dict[str, Any]:
        return fac_stats(self.facilitator)

    def get(self, path: str, headers: dict[str, str] | None = None) -> Exchange:
        return get(self.url + path, self.procs["app"], headers)

    def log_lines(self, *needles: str) -> list[str]:
        """The application's log lines containing every one of `needles` (what its handlers logged)."""
        try:
            text = self.procs["app"].log.read_text(errors="replace")
        except OSError:
            return []
        return [line for line in text.splitlines() if all(n in line for n in needles)]


@pytest.fixture(scope="module")
def app(request) -> App:
    # A missing binary is a failure, never a skip: the suite would otherwise pass without testing the door.
    require_file(APP_BIN, "example binary", "swift build builds it; or set TOLLGATE_HUMMINGBIRD_APP_BIN")
    require_file(APP_CONFIG, "example configuration")
    workdir = new_workdir("tollgate-hummingbird-", APP_BIN)
    procs: dict[str, Proc] = {}
    child = child_env()
    try:
        procs["facilitator"], facilitator = start_sdk_facilitator(workdir, child)

        port = free_port()
        config = workdir / "tollgate.yaml"
        # upstream.url is required by the format and unused by the middleware: port 9 (discard) is never called.
        config.write_text(make_config(APP_CONFIG.read_text(), port, 9, facilitator,
                                      workdir / "app.sqlite"))
        procs["app"] = start("app", [str(APP_BIN), "--config", str(config)], workdir, child)
        url = f"http://127.0.0.1:{port}"
        wait_until("app GET /health == 200", lambda: http_status(url + "/health") == 200,
                   procs["app"], 60)
        wait_until("app offers terms (facilitator check done)",
                   lambda: http_status(url + "/quotes/ACME") == 402, procs["app"], 20)
    except Exception as exc:
        startup_failed(procs, workdir, exc)

    a = App(workdir, url, facilitator, procs)
    print(f"app {url}  facilitator {facilitator}")
    yield a

    finish(workdir, procs, request.session.testsfailed)


def check_not_charged(c: Checks, app: App, before: dict[str, Any], ex: Exchange | None, label: str) -> None:
    after = app.fac_stats()
    c.eq(after["settled"] - before["settled"], 0, f"{label}: settlements")
    c.eq(int(after["payToBalance"]) - int(before["payToBalance"]), 0, f"{label}: payee balance change")
    if ex is not None:
        receipt = try_decode(ex.headers.get("payment-response"))[0] if "payment-response" in ex.headers else None
        c.check(not (isinstance(receipt, dict) and receipt.get("success") is True),
                f"{label}: no successful PAYMENT-RESPONSE", ex.describe())


def test_hummingbird_0_free_routes(app: App) -> None:
    c = Checks("hummingbird 0: free routes are served by the application's handlers")
    ex = app.get("/health")
    print(ex.describe())
    c.eq(ex.status, 200, "GET /health status")
    c.eq(ex.body, b"ok\n", "GET /health body (the handler's)")
    c.check("payment-required" not in ex.headers, "no PAYMENT-REQUIRED header", ex.describe())
    c.check(bool(ex.headers.get(CORR)), f"has {CORR} header", ex.describe())
    # Not in the configuration: `unmatched: pass` lets the handler serve it free, with its correlation id.
    ex = app.get("/about")
    print(ex.describe())
    c.eq(ex.status, 200, "GET /about status")
    about = body_json(ex.body) or {}
    c.eq(about.get("correlationId"), ex.headers.get(CORR), "the handler's correlation id is the client's")
    c.done()


def test_hummingbird_a_sdk_client_pays(app: App) -> None:
    c = Checks("hummingbird a: the SDK client pays GET /quotes/ACME")
    before = app.fac_stats()
    res = sdk_get(app.url + "/quotes/ACME")
    print(res.describe())
    c.check(res.error is None, "SDK transport raised no error", res.error)
    c.eq([e.status for e in res.exchanges], [402, 200], "SDK exchange statuses (402 then paid retry)")
    pr = check_402(c, res.first, "Payment required", "first response")
    if pr:
        offer = pr["accepts"][0]
        c.eq(offer.get("amount"), PRICE_ATOMIC, "offer amount")
        c.eq(pr.get("resource", {}).get("url"), app.url + "/quotes/ACME", "resource.url")
    last, paid = res.last, res.paid
    c.check(paid is not None and paid is last, "the last request carried PAYMENT-SIGNATURE")
    if last is not None:
        receipt = try_decode(last.headers.get("payment-response"))[0] or {}
        c.eq(receipt.get("success"), True, "receipt.success")
        c.eq(receipt.get("network"), NETWORK, "receipt.network")
        quote = body_json(last.body) or {}
        # What the handler read from its context: the payer and correlation id the gateway decided.
        c.eq(str(quote.get("payer", "")).lower(), res.payer.lower(), "the handler saw the payer")
        c.eq(quote.get("client"), "anonymous", "the handler saw the client")
        cid = last.headers.get(CORR)
        c.eq(quote.get("correlationId"), cid, "the handler's correlation id is the client's")
        c.eq(cid, res.first.headers.get(CORR) if res.first else None,
             "the paid retry keeps the correlation id of its 402")
        c.eq(len(app.log_lines("quote served", f" correlation_id={cid}")), 1,
             "the handler ran once for this request")
        app.state["a"] = {"signature": paid.request_headers.get("payment-signature") if paid else None,
                          "corr": cid}
    after = app.fac_stats()
    c.eq(after["settled"] - before["settled"], 1, "facilitator settlements made by this flow")
    c.eq(int(after["payToBalance"]) - int(before["payToBalance"]), int(PRICE_ATOMIC),
         "payee balance grew by the price")
    c.done()


def test_hummingbird_b_replay_refused(app: App) -> None:
    c = Checks("hummingbird b: the replay of (a)'s PAYMENT-SIGNATURE")
    earlier = app.state.get("a") or {}
    if not earlier.get("signature"):
        pytest.fail("scenario (a) produced no PAYMENT-SIGNATURE to replay", pytrace=False)
    served = len(app.log_lines("quote served"))
    before = app.fac_stats()
    ex = app.get("/quotes/ACME", {"PAYMENT-SIGNATURE": earlier["signature"]})
    print(ex.describe())
    check_402(c, ex, R_NONCE_USED, "replay")
    check_not_charged(c, app, before, ex, "replay")
    c.eq(len(app.log_lines("quote served")), served, "quotes served by the handler (it did not run)")
    c.eq(len(app.log_lines("quote served", f" correlation_id={earlier['corr']}")), 1,
         "handler runs under (a)'s correlation id")
    c.done()


def test_hummingbird_c_api_key_route(app: App) -> None:
    c = Checks("hummingbird c: /reports/daily needs an API key, then a payment")
    ex = app.get("/reports/daily")
    print(ex.describe())
    check_error(c, ex, 401, "unauthorized", None, "no API key")
    c.check("payment-required" not in ex.headers, "no API key: no PAYMENT-REQUIRED header", ex.describe())
    before = app.fac_stats()
    res = sdk_get(app.url + "/reports/daily", headers={"X-Api-Key": API_KEY})
    print(res.describe())
    c.check(res.error is None, "SDK transport raised no error", res.error)
    c.eq([e.status for e in res.exchanges], [402, 200], "SDK exchange statuses")
    if res.last is not None:
        report = body_json(res.last.body) or {}
        c.eq(report.get("client"), "analyst", "the handler saw the API key's client")
        c.eq(str(report.get("payer", "")).lower(), res.payer.lower(), "the handler saw the payer")
    after = app.fac_stats()
    c.eq(after["settled"] - before["settled"], 1, "facilitator settlements made by the paid call")
    c.done()


def test_hummingbird_d_failing_handler_not_charged(app: App) -> None:
    c = Checks("hummingbird d: a handler that throws is not charged")
    before = app.fac_stats()
    res = sdk_get(app.url + "/forecasts/ACME")
    print(res.describe())
    c.eq([e.status for e in res.exchanges], [402, 502], "SDK exchange statuses (402, paid retry -> 502)")
    check_error(c, res.last, 502, "bad_gateway", "upstream_unavailable", "paid retry")
    check_not_charged(c, app, before, res.last, "failing handler")
    cid = res.last.headers.get(CORR) if res.last else None
    c.eq(len(app.log_lines("forecast model unavailable", f" correlation_id={cid}")), 1,
         "the handler ran (and failed) once")
    # Nothing was collected, so the same signed payment may be presented again: still nothing is charged.
    sig = res.paid.request_headers.get("payment-signature") if res.paid else None
    if c.check(bool(sig), "the paid retry carried PAYMENT-SIGNATURE"):
        before = app.fac_stats()
        again = app.get("/forecasts/ACME", {"PAYMENT-SIGNATURE": sig})
        print(again.describe())
        c.eq(again.status, 502, "the same proof again: status")
        check_not_charged(c, app, before, again, "the same proof again")
    c.done()


def test_hummingbird_e_not_found_not_charged(app: App) -> None:
    c = Checks("hummingbird e: a handler answering 404 (HTTPError) is not charged")
    before = app.fac_stats()
    res = sdk_get(app.url + "/quotes/NOSUCH")
    print(res.describe())
    c.eq([e.status for e in res.exchanges], [402, 404], "SDK exchange statuses (402, paid retry -> 404)")
    check_not_charged(c, app, before, res.last, "unknown symbol")
    c.done()
