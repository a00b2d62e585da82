#!/usr/bin/env python3
"""The paying client of the cluster demo (scripts/cluster.sh), with the official x402 Python SDK only.

    .venv-interop/bin/python scripts/cluster-pay.py [--front http://127.0.0.1:8402] [--path /datasets/prices]

1. Free `GET /health` requests through the round-robin front until instance B answered one, so the next request
   goes to A (the front alternates per request).
2. One GET of the paid path with the SDK's httpx payment transport and a fresh eth_account key: the 402 comes from
   one instance, the SDK signs the terms (EIP-3009) and its paid retry (PAYMENT-SIGNATURE) goes to the other.
Every exchange is printed (status, X-Tollgate-Instance, Tollgate-Correlation-Id; the PAYMENT-RESPONSE receipt
decoded). The last line is `correlation-id: tg_…`, the flow to trace. Exits non-zero, saying why, unless it was
exactly one 402 and one paid 200, answered by two different instances.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import sys

import httpx
from eth_account import Account
from x402 import x402Client
from x402.http.clients import x402AsyncTransport
from x402.mechanisms.evm.exact import register_exact_evm_client
from x402.mechanisms.evm.signers import EthAccountSigner

INSTANCE = "X-Tollgate-Instance"
CORR = "Tollgate-Correlation-Id"


def fail(message: str) -> None:
    print(f"cluster-pay: FAILED: {message}", file=sys.stderr)
    sys.exit(1)


def b64json(value: str) -> object:
    return json.loads(base64.b64decode(value, validate=True).decode("utf-8"))


class Recorder(httpx.AsyncBaseTransport):
    """Sits under the SDK's transport and keeps what really went over the socket."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.exchanges: list[tuple[httpx.Request, httpx.Response, bytes]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        body = await response.aread()
        self.exchanges.append((request, response, body))
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


def align(front: str) -> None:
    """Free /health requests until B answered one: the paid path's first request then goes to A."""
    for _ in range(3):
        r = httpx.get(front + "/health", timeout=10.0)
        instance = r.headers.get(INSTANCE, "?")
        print(f"  GET /health -> {r.status_code} from instance {instance} (free, aligns the round robin)")
        if r.status_code != 200:
            fail(f"GET /health through the front answered {r.status_code}: {r.text[:300]}")
        if instance == "B":
            return
    fail("the front never sent /health to instance B")


async def pay(url: str) -> tuple[Recorder, str]:
    account = Account.create()
    client = x402Client()
    register_exact_evm_client(client, EthAccountSigner(account))
    recorder = Recorder()
    async with httpx.AsyncClient(transport=x402AsyncTransport(client, transport=recorder), timeout=90.0) as http:
        await http.get(url)
    return recorder, account.address


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--front", default="http://127.0.0.1:8402")
    parser.add_argument("--path", default="/datasets/prices")
    args = parser.parse_args()
    front = args.front.rstrip("/")

    print("step 1: align the round robin")
    align(front)

    print(f"step 2: GET {args.path} through the front, paid by the x402 SDK")
    try:
        recorder, payer = asyncio.run(pay(front + args.path))
    except Exception as exc:  # noqa: BLE001 - reported, then a non-zero exit
        fail(f"the SDK request failed: {type(exc).__name__}: {exc}")
    print(f"  payer (fresh key): {payer}")

    for n, (request, response, body) in enumerate(recorder.exchanges, 1):
        signed = "with PAYMENT-SIGNATURE" if "payment-signature" in request.headers else "no payment"
        print(f"  exchange {n}: {request.method} {request.url.path} ({signed}) -> {response.status_code} "
              f"from instance {response.headers.get(INSTANCE, '?')}, {CORR}: {response.headers.get(CORR, '-')}")
        if response.status_code == 402 and response.headers.get("PAYMENT-REQUIRED"):
            terms = b64json(response.headers["PAYMENT-REQUIRED"])
            offer = (terms.get("accepts") or [{}])[0]
            print(f"    terms: {offer.get('amount')} atomic units on {offer.get('network')} to {offer.get('payTo')} "
                  f"for {(terms.get('resource') or {}).get('url')}")
        if "payment-signature" in request.headers:
            proof = b64json(request.headers["payment-signature"])
            nonce = ((proof.get("payload") or {}).get("authorization") or {}).get("nonce", "?")
            print(f"    proof: EIP-3009 authorization, nonce {nonce}")
        if response.headers.get("PAYMENT-RESPONSE"):
            print(f"    PAYMENT-RESPONSE: {json.dumps(b64json(response.headers['PAYMENT-RESPONSE']))}")
        if response.status_code == 200:
            print(f"    body: {body[:160].decode('utf-8', 'replace')}{'…' if len(body) > 160 else ''}")
        elif response.status_code != 402:
            print(f"    body: {body[:400].decode('utf-8', 'replace')}")

    ex = recorder.exchanges
    if len(ex) != 2:
        fail(f"expected 2 exchanges (402, then the paid 200), saw {len(ex)}")
    (_, first, _), (paid_req, paid, _) = ex
    if first.status_code != 402:
        fail(f"the first answer was {first.status_code}, not 402")
    if "payment-signature" not in paid_req.headers:
        fail("the SDK's retry carried no PAYMENT-SIGNATURE")
    if paid.status_code != 200:
        fail(f"the paid retry answered {paid.status_code}, not 200")
    if not paid.headers.get("PAYMENT-RESPONSE"):
        fail("the paid 200 carried no PAYMENT-RESPONSE receipt")
    a, b = first.headers.get(INSTANCE), paid.headers.get(INSTANCE)
    if not a or not b or a == b:
        fail(f"the 402 and the paid retry were not answered by two instances ({a} then {b})")
    print(f"  the 402 came from instance {a}, the paid 200 from instance {b}")
    cid = paid.headers.get(CORR) or first.headers.get(CORR)
    if not cid:
        fail(f"no {CORR} header on the answers")
    if first.headers.get(CORR) and first.headers.get(CORR) != cid:
        print(f"  note: the 402's correlation id {first.headers.get(CORR)} differs from the paid 200's {cid}")
    print(f"correlation-id: {cid}")


if __name__ == "__main__":
    main()
