#!/usr/bin/env python3
"""An agent paying a tool through `tollgate mcp`, with the official SDKs only (PyPI mcp + x402[mcp]).

    python agent.py [URL] [--tool forecast] [--args '{"city": "Oslo"}'] [--mode auto|legacy|2026-07-28]

Lists the tools with their prices (tools/list `_meta["x402/price"]`), calls the tool, and when the answer is a
PaymentRequired tool result, signs it with the x402 SDK (a fresh test key) and sends the same call once more
with the payment in `params._meta["x402/payment"]`. Prints what happened at each step.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

import mcp.types as types
from eth_account import Account
from mcp import Client
from pydantic import TypeAdapter
from x402 import x402Client
from x402.mcp.utils import attach_payment_to_meta
from x402.mechanisms.evm.exact import register_exact_evm_client
from x402.mechanisms.evm.signers import EthAccountSigner
from x402.schemas import parse_payment_required

RAW = TypeAdapter(dict[str, Any])


async def call(client: Client, name: str, arguments: dict[str, Any], meta: dict[str, Any] | None = None) -> dict[str, Any]:
    # The session's raw request keeps the result as it came (its `_meta` included).
    request = types.CallToolRequest(params=types.CallToolRequestParams(name=name, arguments=arguments, _meta=meta))
    return await client.session.send_request(request, RAW)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url", nargs="?", default="http://127.0.0.1:8405/mcp")
    parser.add_argument("--tool", default="forecast")
    parser.add_argument("--args", default='{"city": "Oslo"}')
    parser.add_argument("--mode", default="auto")
    a = parser.parse_args()
    arguments = json.loads(a.args)

    payer = x402Client()
    account = Account.create()
    register_exact_evm_client(payer, EthAccountSigner(account))

    async with Client(a.url, mode=a.mode) as client:
        print(f"connected: MCP {client.protocol_version}")
        for tool in (await client.list_tools()).tools:
            price = (tool.meta or {}).get("x402/price", "free")
            print(f"  tool {tool.name:<9} {price:<6} {tool.description}")

        print(f"\n→ tools/call {a.tool} {json.dumps(arguments)}")
        first = await call(client, a.tool, arguments)
        terms = first.get("structuredContent") or {}
        if not (first.get("isError") and terms.get("x402Version")):
            print(f"← {json.dumps(first.get('structuredContent') or first.get('content'))}")
            return
        offer = terms["accepts"][0]
        print(f"← payment required: {offer['amount']} atomic units of {offer['extra'].get('name')} on {offer['network']} "
              f"to {offer['payTo']} for {terms['resource']['url']}")

        payload = await payer.create_payment_payload(parse_payment_required(terms))
        print(f"  signed by {account.address} (EIP-3009 authorization, nonce {payload.payload['authorization']['nonce'][:18]}…)")
        params = attach_payment_to_meta({"name": a.tool, "arguments": arguments}, payload)

        print(f"→ tools/call {a.tool} with _meta[\"x402/payment\"]")
        paid = await call(client, a.tool, arguments, params["_meta"])
        receipt = (paid.get("_meta") or {}).get("x402/payment-response") or {}
        print(f"← {json.dumps(paid.get('structuredContent'))}")
        print(f"  receipt: success={receipt.get('success')} transaction={receipt.get('transaction')}")

        print("→ the same payment again")
        again = await call(client, a.tool, arguments, params["_meta"])
        print(f"← refused: {(again.get('structuredContent') or {}).get('error')}")


if __name__ == "__main__":
    asyncio.run(main())
