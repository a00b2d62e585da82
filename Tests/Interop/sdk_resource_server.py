#!/usr/bin/env python3
"""A reference x402 resource server built ONLY from the official Python SDK (PyPI x402==2.25.0), offline.

    python sdk_resource_server.py --facilitator-url http://127.0.0.1:PORT [--port 0] [--port-file PATH]
                                  [--price '$0.01'] [--network eip155:84532] [--pay-to 0x...]

It is a server Tollgate did not write, for `tollgate pay` (the paying client) to pay: test_pay.py runs it.

* A FastAPI app protecting  GET /data  ($0.01 USDC on eip155:84532 by default) with the SDK's own FastAPI
  middleware (`x402.http.middleware.fastapi.payment_middleware`), an `x402ResourceServer` with the SDK's
  `ExactEvmServerScheme` registered for `eip155:*` building the requirements (the network's default USDC).
* The facilitator is reached over HTTP through the SDK's `HTTPFacilitatorClient(FacilitatorConfig(url=...))`:
  in the suite it is `sdk_facilitator.py` (the SDK's x402Facilitator over an in-memory EIP-3009 chain) running as
  its own process. The middleware asks it for /supported when the app is built, so start the facilitator first.
* GET /data answers {"data": ..., "payer": <the authorization's from>} once the payment is verified; the
  middleware settles after the handler and adds PAYMENT-RESPONSE. GET /health is free. GET /_local/stats counts
  the requests /data answered (paid deliveries) for the test to assert on.
* Binds 127.0.0.1 only. `--port 0` picks a free port; `--port-file` receives the bound port (written atomically
  once the socket listens).

Pieces put together as in the x402 interop kit's reference_server.py (read, not imported).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys

import uvicorn
from fastapi import FastAPI, Request

from x402 import x402ResourceServer
from x402.http import FacilitatorConfig, HTTPFacilitatorClient
from x402.http.middleware.fastapi import payment_middleware
from x402.mechanisms.evm.exact import ExactEvmServerScheme

# The quickstart's payee (examples/quickstart/tollgate.yaml `pay_to`); the test passes its own with --pay-to.
DEFAULT_PAY_TO = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"


def create_app(facilitator_url: str, price: str = "$0.01", network: str = "eip155:84532",
               pay_to: str = DEFAULT_PAY_TO) -> FastAPI:
    server = x402ResourceServer(HTTPFacilitatorClient(FacilitatorConfig(url=facilitator_url)))
    server.register("eip155:*", ExactEvmServerScheme())
    routes = {
        "GET /data": {
            "accepts": {"scheme": "exact", "payTo": pay_to, "price": price, "network": network},
            "description": "Reference paid resource (official x402 SDK)",
            "mimeType": "application/json",
        },
    }
    counters = {"delivered": 0}

    app = FastAPI(title="x402 SDK reference resource server (offline)")
    x402_mw = payment_middleware(routes, server)

    @app.middleware("http")
    async def x402_middleware(request: Request, call_next):
        return await x402_mw(request, call_next)

    @app.get("/data")
    async def data(request: Request):
        payload = getattr(request.state, "payment_payload", None)
        payer = None
        if payload is not None:
            payer = (payload.payload.get("authorization") or {}).get("from")
        counters["delivered"] += 1
        return {"data": "paid content from the x402 SDK reference server", "payer": payer}

    @app.get("/health")
    async def health():
        return {"ok": True}

    @app.get("/_local/stats")
    async def stats():
        return {"delivered": counters["delivered"], "payTo": pay_to, "network": network, "price": price}

    return app


def main() -> int:
    ap = argparse.ArgumentParser(description="x402 reference resource server (official SDK, offline)")
    ap.add_argument("--facilitator-url", required=True,
                    help="the facilitator's base URL (GET /supported, POST /verify, POST /settle)")
    ap.add_argument("--port", type=int, default=0, help="0 = pick a free port")
    ap.add_argument("--port-file", help="write the bound port here once listening")
    ap.add_argument("--price", default="$0.01")
    ap.add_argument("--network", default="eip155:84532")
    ap.add_argument("--pay-to", default=DEFAULT_PAY_TO)
    args = ap.parse_args()

    app = create_app(args.facilitator_url, args.price, args.network, args.pay_to)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))        # loopback only, by construction
    sock.listen(1024)                          # queue early connections until uvicorn accepts
    port = sock.getsockname()[1]
    print(json.dumps({"listening": f"http://127.0.0.1:{port}", "pid": os.getpid(), "network": args.network,
                      "price": args.price, "payTo": args.pay_to, "facilitator": args.facilitator_url}),
          flush=True)
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write(str(port))
        os.replace(args.port_file + ".tmp", args.port_file)
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
