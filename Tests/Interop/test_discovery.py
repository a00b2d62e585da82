#!/usr/bin/env python3
"""Discovery on `tollgate serve`: the manifest `GET /.well-known/x402` and the bazaar extension of 402s, checked
against the quickstart's configuration, the 402s themselves and the official x402 SDK's bazaar validators. Offline.

    TOLLGATE_BIN=.build/debug/tollgate .venv-interop/bin/python -m pytest Tests/Interop/test_discovery.py -v -s
    (or scripts/interop.sh -k test_discovery)

What runs, all on free 127.0.0.1 ports (shared by the module's tests):
  * the sample upstream              `$TOLLGATE_BIN sample-upstream`
  * the development facilitator      `$TOLLGATE_BIN facilitator --dev` (no payment is made here; the gateways
                                     need a facilitator to open their paid routes)
  * gateways (`tollgate serve`, each its own SQLite, started in parallel), all derived from the quickstart
    (examples/quickstart/tollgate.yaml) with ports / facilitator / store replaced:
      quick  the quickstart as it is
      disc   + three routes first: GET /quotes/* (query_schema, query_example, output_schema, output_example),
             POST /analyses (body_type, body_schema, body_example), GET /hidden/* (`discovery: false`)
      off    with `x402: {discovery: false}` (replacing the quickstart's `x402:`)
What is expected is read from the quickstart itself (its routes, prices, units, scopes, discovery examples), so the
module follows the example as it evolves.

Scenarios (file order):
  1 the anonymous manifest: exactly the paid routes open to anonymous callers, no free route; HEAD
  2 an identified caller (X-Api-Key or Bearer) sees its scoped routes too; a wrong key is 401
  3 every item against the 402 of a concrete URL of its route: accepts (less extra.tollgate), extensions.bazaar,
    acceptsV1, price / unit / amount, the route's discovery examples; every bazaar passes the SDK's validators
  4 configured schemas and examples (GET with a query, POST with a body): the 402's bazaar validates with the SDK's
    validators and the SDK's catalogue extraction (v2 payload, v1 outputSchema) reads them; `discovery: false`
  5 `x402.discovery: false`: the manifest is not served (404 no_route), 402s carry no extensions
  6 `tollgate check` refuses discovery settings that cannot apply

Environment:
  TOLLGATE_BIN               the binary (default <repo>/.build/debug/tollgate)
  TOLLGATE_INTEROP_KEEP=1    keep the temp dir (configs, stores, logs) after the run
  TOLLGATE_INTEROP_PIDFILE   append the pid of every process started here (scripts/interop.sh)
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from x402.extensions.bazaar.facilitator import (
    extract_discovery_info, validate_discovery_extension, validate_discovery_extension_spec,
)
from x402.extensions.bazaar.types import parse_discovery_extension
from x402.extensions.bazaar.v1.facilitator import extract_discovery_info_v1, is_discoverable_v1

from harness import (  # shared helpers (harness.py is not a test module)
    API_KEY, QUICKSTART, TOLLGATE_BIN, Checks, Exchange, Proc, ServedGateway, answers_http, close_clients, body_json,
    check_402, check_error, child_env, drop_top_level, finish, free_port, http_status, insert_routes_first,
    make_config, new_workdir, require_file, sdk_sign, short, start, start_dev_facilitator, start_upstream,
    startup_failed, tollgate_check, wait_until,
)

MANIFEST = "/.well-known/x402"
KEY = {"X-Api-Key": API_KEY}
DECIMALS = 6

DISCOVERY_ROUTES = """\
  - method: GET
    path: /quotes/*
    resource: quotes
    description: Quotes by symbol
    mime_type: application/json
    price: "0.02"
    accepts: [usdc-base-sepolia]
    unit: request
    anonymous: true
    discovery:
      query_schema:
        type: object
        properties:
          symbol: {type: string, pattern: "^[A-Z]{1,5}$"}
          days: {type: integer, minimum: 1, maximum: 30}
        required: [symbol]
      query_example: {symbol: ACME, days: 7}
      output_schema:
        type: object
        properties:
          symbol: {type: string}
          quotes: {type: array, items: {type: number}}
        required: [symbol, quotes]
      output_example: {symbol: ACME, quotes: [101.25, 102.5]}
  - method: POST
    path: /analyses
    resource: analyses
    description: Runs an analysis over some symbols
    mime_type: application/json
    price: "0.03"
    accepts: [usdc-base-sepolia]
    unit: request
    anonymous: true
    discovery:
      body_type: json
      body_schema:
        type: object
        properties:
          symbols: {type: array, items: {type: string}, minItems: 1}
          window: {type: integer}
        required: [symbols]
      body_example: {symbols: [ACME, GLOBEX], window: 30}
  - method: GET
    path: /hidden/*
    resource: hidden
    description: Sold, but not listed
    price: "0.01"
    accepts: [usdc-base-sepolia]
    unit: request
    anonymous: true
    discovery: false
"""
DISCOVERY_OFF_YAML = """
x402:
  discovery: false
"""


# ----------------------------------------------------------------------------------------------
# What the quickstart says
# ----------------------------------------------------------------------------------------------


def quickstart_doc() -> dict[str, Any]:
    return yaml.safe_load(QUICKSTART.read_text())


def paid_routes(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in doc.get("routes") or [] if r.get("price") is not None]


def free_routes(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in doc.get("routes") or [] if r.get("price") is None]


def listed_for(doc: dict[str, Any], scopes: set[str] | None) -> set[str]:
    """Resource ids of the paid, listed routes a caller may buy (scopes None: anonymous)."""
    out = set()
    for r in paid_routes(doc):
        if r.get("discovery") is False:
            continue
        if r.get("anonymous") is True or (scopes is not None and (r.get("scope") is None or r["scope"] in scopes)):
            out.add(r["resource"])
    return out


def atomic(price: str, quantity: int = 1) -> str:
    return str(int(Decimal(price) * quantity * 10 ** DECIMALS))


def concrete(route: dict[str, Any]) -> str:
    """A concrete URL path (and query) of a route: wildcards filled, a metered quantity of 1."""
    path = route["path"].replace("*", "sample")
    q = (route.get("quantity") or {}).get("query")
    return path + (f"?{q}=1" if q else "")


# ----------------------------------------------------------------------------------------------
# The world
# ----------------------------------------------------------------------------------------------


class Gateway(ServedGateway):
    """A gateway of this suite (`ServedGateway`): the manifest's requests name their method before their body."""

    def request(self, path: str, headers: dict[str, str] | None = None, method: str = "GET",  # type: ignore[override]
                content: bytes | None = None, ip: str = "127.0.0.1") -> Exchange:
        return super().request(path, headers, ip=ip, method=method, content=content)


@dataclass
class World:
    workdir: Path
    env: dict[str, str]
    procs: dict[str, Proc]
    gw: dict[str, Gateway]
    started: int


@pytest.fixture(scope="module")
def world(request) -> World:
    require_file(TOLLGATE_BIN, "gateway binary", "build it first, or set TOLLGATE_BIN")
    require_file(QUICKSTART, "quickstart config")
    workdir = new_workdir("tollgate-discovery-", TOLLGATE_BIN)
    procs: dict[str, Proc] = {}
    env = child_env()
    gws: dict[str, Gateway] = {}
    started = int(time.time())
    try:
        procs["upstream"], up_port, upstream = start_upstream(workdir, env)
        procs["dev-facilitator"], dev_fac, _ = start_dev_facilitator(workdir, env)
        template = QUICKSTART.read_text()
        specs = {
            "quick": lambda t: t,
            "disc": lambda t: insert_routes_first(t, DISCOVERY_ROUTES),
            "off": lambda t: drop_top_level(t, "x402") + DISCOVERY_OFF_YAML,
        }
        for name, edit in specs.items():
            gdir = workdir / name
            gdir.mkdir()
            port = free_port()
            text = edit(make_config(template, port, up_port, dev_fac, gdir / "gateway.sqlite"))
            config = gdir / "tollgate.yaml"
            config.write_text(text)
            chk = tollgate_check(config, gdir, env)
            if chk.returncode != 0:
                raise RuntimeError(f"tollgate check {name}: rc={chk.returncode}\n{chk.stdout}\n{chk.stderr}\n"
                                   f"--- config:\n{text}")
            proc = start(f"gateway-{name}", [str(TOLLGATE_BIN), "serve", "--config", str(config)], gdir, env)
            procs[f"gateway-{name}"] = proc
            gws[name] = Gateway(name, f"http://127.0.0.1:{port}", config, workdir, proc, env)
        for name, g in gws.items():
            wait_until(f"gateway {name} answering", lambda g=g: answers_http(g.url + "/health"), g.proc, 60)
            wait_until(f"gateway {name} offering (402)", lambda g=g: http_status(g.url + "/datasets/prices") == 402,
                       g.proc, 30)
    except Exception as exc:  # noqa: BLE001
        startup_failed(procs, workdir, exc)
    w = World(workdir, env, procs, gws, started)
    print("  ".join(f"{n} {g.url}" for n, g in gws.items()) + f"  upstream {upstream}  dev facilitator {dev_fac}")
    yield w
    close_clients()
    finish(workdir, procs, request.session.testsfailed, tail_lines=20)


# ----------------------------------------------------------------------------------------------
# Shared checks
# ----------------------------------------------------------------------------------------------


def manifest(c: Checks, g: Gateway, headers: dict[str, str] | None, label: str) -> dict[str, Any]:
    ex = g.request(MANIFEST, headers)
    print(f"[{label}] {ex.describe()[:300]}")
    c.eq(ex.status, 200, f"{label}: status")
    c.check("application/json" in (ex.headers.get("content-type") or ""), f"{label}: Content-Type JSON",
            ex.headers.get("content-type"))
    doc = body_json(ex.body)
    if not c.check(isinstance(doc, dict), f"{label}: body is a JSON object", short(ex.body)):
        return {}
    return doc


def item_ids(doc: dict[str, Any]) -> set[str]:
    return {i.get("id") for i in doc.get("items") or [] if isinstance(i, dict)}


def check_bazaar(c: Checks, bazaar: Any, label: str) -> None:
    """The SDK's validators (info against schema, protocol invariants) on a bazaar extension."""
    if not c.check(isinstance(bazaar, dict), f"{label}: a bazaar extension is present", bazaar):
        return
    r = validate_discovery_extension(bazaar)
    c.check(r.valid, f"{label}: SDK validate_discovery_extension (info against schema)", r.errors)
    try:
        r = validate_discovery_extension(parse_discovery_extension(bazaar))
        c.check(r.valid, f"{label}: SDK validate_discovery_extension on the parsed model", r.errors)
    except Exception as exc:  # noqa: BLE001
        c.check(False, f"{label}: SDK parse_discovery_extension", repr(exc))
    r = validate_discovery_extension_spec(bazaar)
    c.check(r.valid, f"{label}: SDK validate_discovery_extension_spec", r.errors)
    schema = bazaar.get("schema") or {}
    c.eq(schema.get("$schema"), "https://json-schema.org/draft/2020-12/schema", f"{label}: schema dialect")


def invalid_with(bazaar: dict[str, Any], edit) -> bool:
    """True when the bazaar's info, edited by `edit`, no longer validates against its schema."""
    mutated = json.loads(json.dumps(bazaar))
    edit(mutated["info"])
    return not validate_discovery_extension(mutated).valid


def strip_token(accepts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = json.loads(json.dumps(accepts))
    for a in out:
        (a.get("extra") or {}).pop("tollgate", None)
    return out


def without(d: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in d.items() if k not in keys}


def offer(c: Checks, g: Gateway, method: str, path: str, headers: dict[str, str] | None, label: str
          ) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    content = b"{}" if method in ("POST", "PUT", "PATCH") else None
    h = {**(headers or {}), **({"Content-Type": "application/json"} if content is not None else {})}
    ex = g.request(path, h, method, content)
    pr = check_402(c, ex, "Payment required", label, body_reason="payment_required")
    return pr, body_json(ex.body) or {}


# ----------------------------------------------------------------------------------------------
# 1. the anonymous manifest
# ----------------------------------------------------------------------------------------------


def test_1_discovery_anonymous_manifest(world: World) -> None:
    c = Checks("1: the anonymous manifest lists exactly the paid routes open to anonymous callers")
    g = world.gw["quick"]
    qs = quickstart_doc()
    doc = manifest(c, g, None, "GET (anonymous)")
    ex = g.request(MANIFEST)
    c.check("private" in (ex.headers.get("cache-control") or ""), "Cache-Control is private",
            ex.headers.get("cache-control"))
    vary = (ex.headers.get("vary") or "").lower()
    c.check("x-api-key" in vary and "authorization" in vary, "Vary names X-Api-Key and Authorization", vary)
    c.eq(doc.get("version"), 1, "version")
    lu = doc.get("lastUpdated")
    c.check(isinstance(lu, int) and world.started - 120 <= lu <= int(time.time()) + 5,
            "lastUpdated is a recent unix time", lu)
    expected = listed_for(qs, None)
    print(f"expected anonymous ids: {sorted(expected)}; listed: {sorted(item_ids(doc))}")
    c.eq(item_ids(doc), expected, "item ids (the quickstart's anonymous paid routes)")
    c.eq(len(doc.get("items") or []), len(expected), "one item per route")
    free = {r["resource"] for r in free_routes(qs)}
    c.check(not (item_ids(doc) & free), "no free route is listed", item_ids(doc) & free)
    resources = doc.get("resources")
    item_resources = {i.get("resource") for i in doc.get("items") or []}
    c.check(isinstance(resources, list) and set(resources) <= item_resources, "resources are item resources",
            {"resources": resources, "items": sorted(item_resources)})
    c.eq(sorted(resources or []), sorted(item_resources), "resources: one per item")
    c.check(all(i.get("type") == "http" and i.get("x402Version") == 2 for i in doc.get("items") or []),
            "every item: type http, x402Version 2")

    head = g.request(MANIFEST, method="HEAD")
    print(f"[HEAD] status={head.status} headers={dict(head.headers)}")
    c.eq(head.status, 200, "HEAD: status")
    c.eq(head.body, b"", "HEAD: no body")
    c.eq(head.headers.get("content-type"), ex.headers.get("content-type"), "HEAD: the GET's Content-Type")
    c.eq(head.headers.get("cache-control"), ex.headers.get("cache-control"), "HEAD: the GET's Cache-Control")
    cl = head.headers.get("content-length")
    # RFC 9110 8.6: a Content-Length in a HEAD answer must be the one the GET would carry.
    c.check(cl is None or int(cl) == len(ex.body), "HEAD: Content-Length absent or the GET's body length",
            f"HEAD Content-Length={cl!r}, GET body {len(ex.body)} bytes")
    c.done()


# ----------------------------------------------------------------------------------------------
# 2. identified callers
# ----------------------------------------------------------------------------------------------


def test_2_discovery_identified(world: World) -> None:
    c = Checks("2: an identified caller sees its scoped routes too; a wrong key is 401")
    g = world.gw["quick"]
    qs = quickstart_doc()
    analyst = next((cl for cl in qs.get("clients") or [] if cl.get("id") == "analyst"), {})
    expected = listed_for(qs, set(analyst.get("scopes") or []))
    anonymous = listed_for(qs, None)
    c.check(expected > anonymous, "the quickstart gives the API key more routes than anonymous callers",
            (sorted(expected), sorted(anonymous)))
    doc = manifest(c, g, KEY, "GET (X-Api-Key)")
    print(f"expected ids with the key: {sorted(expected)}; listed: {sorted(item_ids(doc))}")
    c.eq(item_ids(doc), expected, "item ids with the API key")
    doc2 = manifest(c, g, {"Authorization": f"Bearer {API_KEY}"}, "GET (Bearer)")
    c.eq(item_ids(doc2), expected, "item ids with the key as a Bearer token")
    free = {r["resource"] for r in free_routes(qs)}
    c.check(not (item_ids(doc) & free), "no free route is listed", item_ids(doc) & free)
    for label, headers in [("wrong X-Api-Key", {"X-Api-Key": "tg_not_a_key"}),
                           ("wrong Bearer", {"Authorization": "Bearer tg_not_a_key"})]:
        ex = g.request(MANIFEST, headers)
        print(f"[{label}] {ex.describe()}")
        # 401 with the JSON error body of every refusal (and its Tollgate-Correlation-Id header).
        check_error(c, ex, 401, "unauthorized", "unknown_api_key", label)
        body = body_json(ex.body) or {}
        c.check("items" not in body and "resources" not in body, f"{label}: no manifest in the answer", body)
        head = g.request(MANIFEST, headers, method="HEAD")
        c.eq(head.status, 401, f"{label}: HEAD status")
    c.done()


# ----------------------------------------------------------------------------------------------
# 3. items against the 402s
# ----------------------------------------------------------------------------------------------


def test_3_discovery_items_match_402(world: World) -> None:
    c = Checks("3: every item's terms are the 402's for a concrete URL of its route")
    g = world.gw["quick"]
    qs = quickstart_doc()
    routes = {r["resource"]: r for r in paid_routes(qs)}
    doc = manifest(c, g, KEY, "GET (X-Api-Key)")
    for item in doc.get("items") or []:
        rid = item.get("id")
        route = routes.get(rid)
        if not c.check(route is not None, f"{rid}: is a paid route of the quickstart", item):
            continue
        label = f"{rid}"
        method = route.get("method", "GET")
        c.eq(item.get("method"), method, f"{label}: method")
        c.eq(item.get("path"), route["path"], f"{label}: path")
        c.eq(item.get("pathIsPattern"), "*" in route["path"], f"{label}: pathIsPattern")
        c.eq(item.get("resource"), g.url + route["path"], f"{label}: resource (public URL + path)")
        c.eq(item.get("description"), route.get("description"), f"{label}: description")
        if route.get("mime_type"):
            c.eq(item.get("mimeType"), route["mime_type"], f"{label}: mimeType")
        c.eq(item.get("price"), route["price"], f"{label}: price (the route's)")
        c.eq(item.get("unit"), route.get("unit", "request"), f"{label}: unit")
        c.eq(item.get("quantity"), 1, f"{label}: quantity")
        c.eq(item.get("pricedPerUnit"), route.get("quantity") is not None, f"{label}: pricedPerUnit")
        c.eq("package" in item, route.get("package") is not None, f"{label}: package listed iff the route sells one")
        c.check(isinstance(item.get("lastUpdated"), int), f"{label}: lastUpdated", item.get("lastUpdated"))
        fmts = " ".join(item.get("proofFormats") or [])
        c.check("PAYMENT-SIGNATURE" in fmts and "X-PAYMENT" in fmts, f"{label}: proofFormats name both headers", fmts)
        accepts = item.get("accepts") or []
        c.eq([a.get("amount") for a in accepts], [atomic(route["price"])], f"{label}: accepts amount (one unit)")
        c.check(all("tollgate" not in (a.get("extra") or {}) for a in accepts),
                f"{label}: no signed offer token in the manifest", accepts)
        # The 402 for a concrete URL of the route.
        headers = {} if route.get("anonymous") is True else KEY
        path = concrete(route)
        pr, body = offer(c, g, method, path, headers, f"{label}: {method} {path}")
        if pr is None:
            continue
        c.eq(accepts, strip_token(pr.get("accepts") or []), f"{label}: accepts == the 402's less extra.tollgate")
        bazaar = (item.get("extensions") or {}).get("bazaar")
        c.eq(bazaar, (pr.get("extensions") or {}).get("bazaar"), f"{label}: extensions.bazaar == the 402's")
        # Discovery data rides in 402s (which clients pass on to facilitators that may catalogue it publicly) only
        # for public routes: open to anonymous callers, no scope.
        public = route.get("anonymous") is True and route.get("scope") is None
        if public:
            check_bazaar(c, bazaar, f"{label}: bazaar")
        else:
            c.check(bazaar is None, f"{label}: no bazaar extension on a route that needs a key or a scope", bazaar)
        v1 = item.get("acceptsV1") or []
        c.eq([without(a, "resource") for a in v1], [without(a, "resource") for a in body.get("accepts") or []],
             f"{label}: acceptsV1 == the 402 body's v1 accepts (but the resource)")
        c.eq([a.get("resource") for a in v1], [item.get("resource")] * len(v1), f"{label}: acceptsV1 resource")
        # What the route's discovery settings say is published as configured.
        disc = route.get("discovery") if isinstance(route.get("discovery"), dict) else {}
        inp, out = item.get("input") or {}, item.get("output") or {}
        for key, where, field_name in [("query_schema", inp, "queryParams"), ("query_example", inp, "queryExample"),
                                       ("body_schema", inp, "body"), ("body_example", inp, "bodyExample"),
                                       ("body_type", inp, "bodyType"), ("output_schema", out, "schema"),
                                       ("output_example", out, "example")]:
            if key in disc:
                c.eq(where.get(field_name), disc[key], f"{label}: {field_name} is the configured {key}")
        if isinstance(bazaar, dict):
            info_in = (bazaar.get("info") or {}).get("input") or {}
            c.eq(info_in.get("method"), method, f"{label}: bazaar info.input.method")
            if "query_example" in disc:
                c.eq(info_in.get("queryParams"), disc["query_example"], f"{label}: bazaar queryParams (the example)")
            if "output_example" in disc:
                c.eq(((bazaar.get("info") or {}).get("output") or {}).get("example"), disc["output_example"],
                     f"{label}: bazaar output.example")
    c.done()


# ----------------------------------------------------------------------------------------------
# 4. configured schemas and examples
# ----------------------------------------------------------------------------------------------


def test_4_discovery_schemas_and_examples(world: World) -> None:
    c = Checks("4: configured schemas / examples in the bazaar extension, the v1 outputSchema and the manifest")
    g = world.gw["disc"]
    routes = {r["resource"]: r for r in yaml.safe_load(DISCOVERY_ROUTES)}
    quotes, analyses = routes["quotes"]["discovery"], routes["analyses"]["discovery"]

    # GET with a query.
    pr, body = offer(c, g, "GET", "/quotes/ACME?symbol=ACME&days=7", None, "GET /quotes/ACME")
    bazaar = ((pr or {}).get("extensions") or {}).get("bazaar")
    check_bazaar(c, bazaar, "quotes bazaar")
    if isinstance(bazaar, dict):
        info = bazaar.get("info") or {}
        c.eq(info.get("input"), {"type": "http", "method": "GET", "queryParams": quotes["query_example"]},
             "quotes: info.input")
        c.eq(info.get("output"), {"type": "json", "example": quotes["output_example"]}, "quotes: info.output")
        c.check(invalid_with(bazaar, lambda i: i["input"]["queryParams"].update(symbol="not a symbol")),
                "quotes: the schema carries query_schema (a bad symbol fails validation)")
        c.check(invalid_with(bazaar, lambda i: i["input"]["queryParams"].pop("symbol")),
                "quotes: the schema carries query_schema (a missing required symbol fails validation)")
        c.check(invalid_with(bazaar, lambda i: i["output"]["example"].update(quotes="none")),
                "quotes: the schema carries output_schema (a bad example fails validation)")
        c.check(invalid_with(bazaar, lambda i: i["input"].update(method="POST")),
                "quotes: the schema pins the method")
    # What a facilitator catalogues from a v2 payment (the SDK client copies the extensions into its payload).
    if pr:
        payload = sdk_sign(pr)
        c.eq((payload.get("extensions") or {}).get("bazaar"), bazaar, "quotes: the SDK payer echoes the extension")
        found = extract_discovery_info(payload, payload["accepted"])
        if c.check(found is not None, "quotes: SDK extract_discovery_info (v2) finds the resource"):
            c.eq(found.resource_url, g.url + "/quotes/ACME", "quotes: catalogued URL (query stripped)")
            c.eq(found.method, "GET", "quotes: catalogued method")
            c.eq(found.description, routes["quotes"]["description"], "quotes: catalogued description")
    v1 = (body.get("accepts") or [{}])[0]
    schema = v1.get("outputSchema")
    print(f"quotes v1 outputSchema: {json.dumps(schema)}")
    c.check(isinstance(schema, dict), "quotes: v1 accepts[0].outputSchema present", v1)
    c.check(is_discoverable_v1(v1), "quotes: SDK is_discoverable_v1")
    info = extract_discovery_info_v1(v1)
    if c.check(info is not None, "quotes: SDK extract_discovery_info_v1"):
        c.eq(info.input.method, "GET", "quotes (v1): method")
        c.eq(info.input.query_params, quotes["query_example"], "quotes (v1): queryParams")
        c.eq(info.output.example if info.output else None, quotes["output_example"], "quotes (v1): output example")
    found = extract_discovery_info({"x402Version": 1, "scheme": "exact", "network": v1.get("network"),
                                    "payload": {}}, v1)
    c.check(found is not None and found.method == "GET" and found.resource_url == g.url + "/quotes/ACME",
            "quotes: SDK extract_discovery_info (v1 requirements) catalogues it", found)

    # POST with a body.
    pr, body = offer(c, g, "POST", "/analyses", None, "POST /analyses")
    bazaar = ((pr or {}).get("extensions") or {}).get("bazaar")
    check_bazaar(c, bazaar, "analyses bazaar")
    if isinstance(bazaar, dict):
        info = bazaar.get("info") or {}
        c.eq(info.get("input"), {"type": "http", "method": "POST", "bodyType": "json",
                                 "body": analyses["body_example"]}, "analyses: info.input")
        c.check(invalid_with(bazaar, lambda i: i["input"]["body"].update(symbols=[])),
                "analyses: the schema carries body_schema (no symbols fails validation)")
        c.check(invalid_with(bazaar, lambda i: i["input"].update(bodyType="text")),
                "analyses: the schema pins bodyType")
    v1 = (body.get("accepts") or [{}])[0]
    print(f"analyses v1 outputSchema: {json.dumps(v1.get('outputSchema'))}")
    c.check(isinstance(v1.get("outputSchema"), dict), "analyses: v1 accepts[0].outputSchema present", v1)
    info = extract_discovery_info_v1(v1)
    if c.check(info is not None, "analyses: SDK extract_discovery_info_v1"):
        c.eq((info.input.method, info.input.body_type), ("POST", "json"), "analyses (v1): method / bodyType")
        c.eq(info.input.body, analyses["body_example"], "analyses (v1): body example")

    # The manifest publishes the same.
    doc = manifest(c, g, None, "GET manifest (disc)")
    items = {i.get("id"): i for i in doc.get("items") or []}
    q, a = items.get("quotes") or {}, items.get("analyses") or {}
    c.eq(q.get("input"), {"method": "GET", "queryParams": quotes["query_schema"],
                          "queryExample": quotes["query_example"]}, "manifest quotes: input")
    c.eq(q.get("output"), {"mimeType": "application/json", "schema": quotes["output_schema"],
                           "example": quotes["output_example"]}, "manifest quotes: output")
    c.eq(a.get("input"), {"method": "POST", "bodyType": "json", "body": analyses["body_schema"],
                          "bodyExample": analyses["body_example"]}, "manifest analyses: input")
    c.eq(q.get("path"), "/quotes/*", "manifest quotes: the path pattern")
    c.eq(q.get("resource"), g.url + "/quotes/*", "manifest quotes: resource")

    # discovery: false: not listed, no bazaar (and no v1 outputSchema), still sold.
    c.check("hidden" not in items, "hidden: not in the manifest", sorted(items))
    c.check(all(not str(i.get("resource", "")).startswith(g.url + "/hidden") for i in items.values()),
            "hidden: no item resource under /hidden")
    pr, body = offer(c, g, "GET", "/hidden/x", None, "GET /hidden/x")
    if pr:
        c.check("bazaar" not in (pr.get("extensions") or {}), "hidden: its 402 has no extensions.bazaar",
                pr.get("extensions"))
    v1 = (body.get("accepts") or [{}])[0]
    c.check(not is_discoverable_v1(v1), "hidden: its v1 accepts are not discoverable (SDK is_discoverable_v1)", v1)
    # The quickstart's own routes on this gateway are unaffected.
    c.check({"datasets", "records", "exports"} <= set(items), "the quickstart's anonymous routes are still listed",
            sorted(items))
    c.done()


# ----------------------------------------------------------------------------------------------
# 5. discovery switched off
# ----------------------------------------------------------------------------------------------


def test_5_discovery_off(world: World) -> None:
    c = Checks("5: x402.discovery false: no manifest, no extensions in 402s")
    g = world.gw["off"]
    for method in ("GET", "HEAD"):
        for headers in (None, KEY):
            ex = g.request(MANIFEST, headers, method)
            label = f"{method} {MANIFEST} ({'key' if headers else 'anonymous'})"
            print(f"[{label}] {ex.describe()}")
            if method == "GET":
                check_error(c, ex, 404, "not_found", "no_route", label)
            else:
                c.eq(ex.status, 404, f"{label}: status")
    qs = quickstart_doc()
    for route in paid_routes(qs):
        headers = {} if route.get("anonymous") is True else KEY
        method, path = route.get("method", "GET"), concrete(route)
        pr, body = offer(c, g, method, path, headers, f"off: {method} {path}")
        if pr is None:
            continue
        c.check(not pr.get("extensions"), f"off: {method} {path}: no extensions in PAYMENT-REQUIRED",
                pr.get("extensions"))
        v1 = (body.get("accepts") or [{}])[0]
        c.check(not is_discoverable_v1(v1), f"off: {method} {path}: v1 accepts not discoverable", v1)
    c.done()


# ----------------------------------------------------------------------------------------------
# 6. configuration errors
# ----------------------------------------------------------------------------------------------


def test_6_discovery_config_errors(world: World) -> None:
    c = Checks("6: tollgate check refuses discovery settings that cannot apply")
    base = world.gw["quick"].config.read_text()
    cases = [
        ("discovery on a free route", """\
  - method: GET
    path: /free-thing
    resource: free-thing
    anonymous: true
    discovery: {query_example: {a: 1}}
""", "discovery"),
        ("body_schema on a GET route", """\
  - method: GET
    path: /get-with-body
    resource: get-with-body
    price: "0.01"
    accepts: [usdc-base-sepolia]
    unit: request
    anonymous: true
    discovery: {body_schema: {type: object}}
""", "body_schema"),
        ("an unknown body_type", """\
  - method: POST
    path: /odd-body
    resource: odd-body
    price: "0.01"
    accepts: [usdc-base-sepolia]
    unit: request
    anonymous: true
    discovery: {body_type: xml}
""", "body_type"),
        ("an unknown discovery key", """\
  - method: GET
    path: /typo
    resource: typo
    price: "0.01"
    accepts: [usdc-base-sepolia]
    unit: request
    anonymous: true
    discovery: {query_exmaple: {a: 1}}
""", "query_exmaple"),
    ]
    for i, (label, route, needle) in enumerate(cases):
        cfg = world.workdir / f"bad-discovery-{i}.yaml"
        cfg.write_text(insert_routes_first(base, route))
        chk = tollgate_check(cfg, world.workdir, world.env)
        out = chk.stdout + chk.stderr
        print(f"[{label}] rc={chk.returncode} {out.strip().splitlines()[:3]}")
        c.check(chk.returncode != 0, f"{label}: tollgate check fails", chk.returncode)
        c.check(needle in out, f"{label}: the error names {needle!r}", out[-800:])
    c.done()
