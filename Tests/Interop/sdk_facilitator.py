#!/usr/bin/env python3
"""A standalone x402 facilitator built ONLY from the official Python SDK (PyPI x402==2.25.0), offline.

    python sdk_facilitator.py [--port 0] [--port-file PATH] [--network eip155:84532]
                              [--pay-to 0x...] [--log-file PATH]

It is the peer Tollgate's interop suite settles through: Tollgate did not write it, so it checks
Tollgate's facilitator client against the SDK's own verifier and settler.

* The facilitator is the SDK's `x402Facilitator` with the SDK's `ExactEvmFacilitatorScheme`
  registered for each `--network`. Every protocol check (scheme, network, EIP-712 domain, recipient,
  exact amount, validAfter/validBefore, EIP-712 signature recovery, transfer simulation and the
  mapping of reverts to error codes) is done by unmodified SDK code.
* The chain is an in-memory EIP-3009 token (`LocalChainSigner` below implements the SDK's
  `FacilitatorEvmSigner` protocol): balances (every address starts with 1,000,000 USDC), nonce
  state (replay protection), deterministic tx hashes, a real-shaped Transfer log. No RPC at all.
* Served at the ROOT, in the standard facilitator wire format (what `x402.http.HTTPFacilitatorClient`
  sends):
      GET  /supported
      POST /verify   {"x402Version":2,"paymentPayload":{..},"paymentRequirements":{..}}
      POST /settle   (same body)
  A business failure is HTTP 200 with isValid:false / success:false. A body that cannot be parsed
  is HTTP 400 (a transport-level failure for the caller).
* GET /_local/stats: {"settled": N, "transactions": [...], "payTo": .., "payToBalance": ..,
  "settlements": [...], "verifyCalls": N, "settleCalls": N, ...} for the test to assert on.
* Binds 127.0.0.1 only. `--port 0` picks a free port; `--port-file` receives the bound port
  (written atomically once the socket listens).

The in-memory chain is adapted from the x402 interop kit's `local_chain.py` (shared kit given to the
Tollgate project, /work/shared/x402/interop/local_chain.py); it is copied here, not imported, so the
suite stands on its own.

Extra keys in `paymentRequirements.extra` / `accepted.extra` (Tollgate's signed offer token under
`extra.tollgate`) are fine: the SDK models `extra` as `dict[str, Any]` and the exact-EVM verifier
reads only `extra.name` / `extra.version`.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak, to_checksum_address
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from x402 import x402Facilitator
from x402.mechanisms.evm.default_assets import get_default_asset
from x402.mechanisms.evm.exact import ExactEvmFacilitatorScheme
from x402.mechanisms.evm.types import TransactionReceipt
from x402.schemas import PaymentPayload, PaymentRequirements
from x402.schemas.v1 import PaymentPayloadV1, PaymentRequirementsV1

# Quickstart payee (examples/quickstart/tollgate.yaml `pay_to`).
DEFAULT_PAY_TO = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"

TRANSFER_TOPIC = "0x" + keccak(text="Transfer(address,address,uint256)").hex()
# Deterministic facilitator key (a test key: keccak("tollgate-interop-facilitator")). Never funded.
FACILITATOR_KEY = "0x" + keccak(text="tollgate-interop-facilitator").hex()
_FAKE_BYTECODE = bytes.fromhex("6080604052")  # "has code" marker for the token contract

_EIP3009_TYPES = {
    "TransferWithAuthorization": [
        {"name": "from", "type": "address"},
        {"name": "to", "type": "address"},
        {"name": "value", "type": "uint256"},
        {"name": "validAfter", "type": "uint256"},
        {"name": "validBefore", "type": "uint256"},
        {"name": "nonce", "type": "bytes32"},
    ]
}

log = logging.getLogger("sdk_facilitator")


# --------------------------------------------------------------------------------------------
# In-memory chain (adapted from the x402 interop kit's local_chain.py)
# --------------------------------------------------------------------------------------------

class Revert(Exception):
    """Mimics an eth_call / tx revert ("execution reverted: <reason>")."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"execution reverted: {reason}")


@dataclass
class FakeToken:
    address: str
    name: str
    version: str
    chain_id: int
    default_balance: int
    balances: dict[str, int] = field(default_factory=dict)
    used_nonces: set[tuple[str, bytes]] = field(default_factory=set)

    def balance_of(self, who: str) -> int:
        return self.balances.get(who.lower(), self.default_balance)

    def check_transfer(self, frm: str, to: str, value: int, valid_after: int,
                       valid_before: int, nonce: bytes, signature: bytes) -> None:
        """Same require()s as FiatTokenV2_2._transferWithAuthorization, in the same order."""
        now = int(time.time())
        if now <= valid_after:
            raise Revert("FiatTokenV2: authorization is not yet valid")
        if now >= valid_before:
            raise Revert("FiatTokenV2: authorization is expired")
        if (frm.lower(), bytes(nonce)) in self.used_nonces:
            raise Revert("FiatTokenV2: authorization is used or canceled")
        typed = {
            "types": {
                "EIP712Domain": [
                    {"name": "name", "type": "string"},
                    {"name": "version", "type": "string"},
                    {"name": "chainId", "type": "uint256"},
                    {"name": "verifyingContract", "type": "address"},
                ],
                **_EIP3009_TYPES,
            },
            "primaryType": "TransferWithAuthorization",
            "domain": {"name": self.name, "version": self.version, "chainId": self.chain_id,
                       "verifyingContract": self.address},
            "message": {"from": frm, "to": to, "value": value, "validAfter": valid_after,
                        "validBefore": valid_before, "nonce": bytes(nonce)},
        }
        try:
            recovered = Account.recover_message(encode_typed_data(full_message=typed),
                                                signature=bytes(signature))
        except Exception:
            raise Revert("FiatTokenV2: invalid signature") from None
        if recovered.lower() != frm.lower():
            raise Revert("FiatTokenV2: invalid signature")
        if self.balance_of(frm) < value:
            raise Revert("ERC20: transfer amount exceeds balance")


def _sig_from_args(args: tuple[Any, ...]) -> tuple[tuple, bytes]:
    """transferWithAuthorization has a (v,r,s) overload (9 args) and a bytes overload (7 args)."""
    if len(args) == 9:
        v, r, s = args[6], args[7], args[8]
        return args[:6], bytes(r) + bytes(s) + bytes([int(v)])
    if len(args) == 7:
        return args[:6], bytes(args[6])
    raise Revert(f"unexpected transferWithAuthorization arity {len(args)}")


class LocalChainSigner:
    """In-memory implementation of x402's FacilitatorEvmSigner protocol (one chain)."""

    def __init__(self, chain_id: int, tokens: list[FakeToken]) -> None:
        self.chain_id = chain_id
        self.account = Account.from_key(FACILITATOR_KEY)
        self.tokens = {t.address.lower(): t for t in tokens}
        self.receipts: dict[str, TransactionReceipt] = {}
        self.settlements: list[dict[str, Any]] = []
        self._block = 1_000_000
        self._lock = threading.Lock()

    # --- protocol -------------------------------------------------------
    def get_addresses(self) -> list[str]:
        return [self.account.address]

    def get_chain_id(self) -> int:
        return self.chain_id

    def get_code(self, address: str) -> bytes:
        return _FAKE_BYTECODE if address.lower() in self.tokens else b""

    def get_balance(self, address: str, token_address: str) -> int:
        return self._token(token_address).balance_of(address)

    def verify_typed_data(self, address, domain, types, primary_type, message, signature) -> bool:
        from x402.mechanisms.evm.verify import verify_typed_data_strict
        return verify_typed_data_strict(self, address, domain, types, primary_type, message,
                                        signature)

    def read_contract(self, address: str, abi: list[dict[str, Any]], function_name: str,
                      *args: Any) -> Any:
        tok = self._token(address)
        with self._lock:
            if function_name == "transferWithAuthorization":  # eth_call simulation
                fields, sig = _sig_from_args(args)
                tok.check_transfer(fields[0], fields[1], int(fields[2]), int(fields[3]),
                                   int(fields[4]), bytes(fields[5]), sig)
                return []
            if function_name == "balanceOf":
                return tok.balance_of(args[0])
            if function_name == "authorizationState":
                return (args[0].lower(), bytes(args[1])) in tok.used_nonces
            if function_name == "name":
                return tok.name
            if function_name == "version":
                return tok.version
            if function_name == "decimals":
                return 6
        raise Revert(f"LocalChainSigner: unsupported read {function_name}")

    def write_contract(self, address: str, abi: list[dict[str, Any]], function_name: str,
                       *args: Any, data_suffix: str | None = None) -> str:
        if function_name != "transferWithAuthorization":
            raise Revert(f"LocalChainSigner: unsupported write {function_name}")
        tok = self._token(address)
        fields, sig = _sig_from_args(args)
        frm, to, value = fields[0], fields[1], int(fields[2])
        nonce = bytes(fields[5])
        with self._lock:
            tok.check_transfer(frm, to, value, int(fields[3]), int(fields[4]), nonce, sig)
            tok.used_nonces.add((frm.lower(), nonce))
            tok.balances[frm.lower()] = tok.balance_of(frm) - value
            tok.balances[to.lower()] = tok.balance_of(to) + value
            tx_hash = "0x" + keccak(
                b"tollgate-interop-settle" + self.chain_id.to_bytes(32, "big")
                + bytes.fromhex(tok.address[2:]) + bytes.fromhex(frm[2:]) + nonce).hex()
            self._block += 1
            log_entry = {
                "address": tok.address,
                "topics": [TRANSFER_TOPIC, "0x" + "00" * 12 + frm[2:].lower(),
                           "0x" + "00" * 12 + to[2:].lower()],
                "data": "0x" + value.to_bytes(32, "big").hex(),
            }
            self.receipts[tx_hash] = TransactionReceipt(status=1, block_number=self._block,
                                                        tx_hash=tx_hash, logs=[log_entry])
            self.settlements.append({"transaction": tx_hash, "from": to_checksum_address(frm),
                                     "to": to_checksum_address(to), "value": str(value),
                                     "nonce": "0x" + nonce.hex(), "asset": tok.address,
                                     "block": self._block})
        return tx_hash

    def send_transaction(self, to: str, data: bytes) -> str:
        raise Revert("LocalChainSigner: raw transactions (ERC-6492 deploys) not supported")

    def wait_for_transaction_receipt(self, tx_hash: str) -> TransactionReceipt:
        receipt = self.receipts.get(tx_hash)
        if receipt is None:
            raise RuntimeError(f"unknown tx {tx_hash}")
        return receipt

    # --- helpers --------------------------------------------------------
    def _token(self, address: str) -> FakeToken:
        tok = self.tokens.get(address.lower())
        if tok is None:
            raise Revert(f"no contract at {address}")
        return tok


def build_local_facilitator(networks: list[str], default_balance: int = 1_000_000_000_000
                            ) -> tuple[x402Facilitator, dict[str, LocalChainSigner]]:
    """The SDK's x402Facilitator with the SDK's ExactEvmFacilitatorScheme per network."""
    facilitator = x402Facilitator()
    signers: dict[str, LocalChainSigner] = {}
    for net in networks:
        chain_id = int(net.split(":")[1])
        asset = get_default_asset(net)
        token = FakeToken(address=to_checksum_address(asset["asset"]), name=asset["name"],
                          version=asset["version"], chain_id=chain_id,
                          default_balance=default_balance)
        signer = LocalChainSigner(chain_id, [token])
        facilitator.register([net], ExactEvmFacilitatorScheme(signer))
        signers[net] = signer
    return facilitator, signers


# --------------------------------------------------------------------------------------------
# HTTP facilitator API
# --------------------------------------------------------------------------------------------

def create_app(networks: list[str], pay_to: str) -> FastAPI:
    facilitator, chains = build_local_facilitator(networks)
    counters = {"verifyCalls": 0, "settleCalls": 0, "badRequests": 0}
    calls: list[dict[str, Any]] = []   # last requests/answers, for debugging a failing run
    app = FastAPI(title="Tollgate interop facilitator (official x402 SDK, offline chain)")

    def _parse(body: Any):
        if not isinstance(body, dict):
            raise ValueError("body is not a JSON object")
        version = body.get("x402Version",
                           (body.get("paymentPayload") or {}).get("x402Version", 2))
        if version == 1:
            return (PaymentPayloadV1.model_validate(body["paymentPayload"]),
                    PaymentRequirementsV1.model_validate(body["paymentRequirements"]))
        return (PaymentPayload.model_validate(body["paymentPayload"]),
                PaymentRequirements.model_validate(body["paymentRequirements"]))

    def _record(kind: str, body: Any, answer: dict[str, Any], status: int) -> None:
        calls.append({"endpoint": kind, "time": time.time(), "status": status,
                      "request": body, "response": answer})
        del calls[:-50]
        log.info("%s -> %s %s", kind, status, json.dumps(answer))

    @app.get("/supported")
    async def supported():
        return JSONResponse(facilitator.get_supported().model_dump(by_alias=True,
                                                                   exclude_none=True))

    async def _handle(kind: str, request: Request) -> JSONResponse:
        counters[kind + "Calls"] += 1
        body: Any = None
        try:
            body = await request.json()
            payload, reqs = _parse(body)
        except Exception as exc:  # noqa: BLE001 - malformed request: transport-level failure
            counters["badRequests"] += 1
            if kind == "verify":
                answer = {"isValid": False, "invalidReason": "invalid_payload",
                          "invalidMessage": str(exc)[:500]}
            else:
                answer = {"success": False, "errorReason": "invalid_payload",
                          "errorMessage": str(exc)[:500], "transaction": "", "network": ""}
            _record(kind, body, answer, 400)
            return JSONResponse(answer, status_code=400)
        try:
            if kind == "verify":
                result = await facilitator.verify(payload, reqs)
            else:
                result = await facilitator.settle(payload, reqs)
            answer = result.model_dump(by_alias=True, exclude_none=True)
            status = 200
        except Exception as exc:  # noqa: BLE001
            name = type(exc).__name__
            if name == "SchemeNotFoundError":
                # Unsupported scheme/network is a business answer, not a transport failure.
                status = 200
                if kind == "verify":
                    answer = {"isValid": False, "invalidReason": "invalid_network",
                              "invalidMessage": str(exc)}
                else:
                    answer = {"success": False, "errorReason": "invalid_network",
                              "errorMessage": str(exc), "transaction": "",
                              "network": str(getattr(reqs, "network", ""))}
            else:
                log.exception("%s failed", kind)
                status = 500
                answer = {"error": f"{name}: {exc}"[:500]}
        _record(kind, body, answer, status)
        return JSONResponse(answer, status_code=status)

    @app.post("/verify")
    async def verify(request: Request):
        return await _handle("verify", request)

    @app.post("/settle")
    async def settle(request: Request):
        return await _handle("settle", request)

    @app.get("/_local/stats")
    async def stats():
        settlements = [s for net in networks for s in chains[net].settlements]
        per_network = {}
        for net in networks:
            signer = chains[net]
            token = next(iter(signer.tokens.values()))
            per_network[net] = {"asset": token.address, "settled": len(signer.settlements),
                                "payToBalance": str(token.balance_of(pay_to)),
                                "defaultBalance": str(token.default_balance)}
        first = per_network[networks[0]]
        return {"network": networks[0], "networks": per_network, "payTo": pay_to,
                "settled": len(settlements),
                "payToBalance": first["payToBalance"],
                "defaultBalance": first["defaultBalance"],
                "transactions": [s["transaction"] for s in settlements],
                "settlements": settlements, **counters}

    @app.get("/_local/calls")
    async def recent_calls():
        return {"calls": calls}

    return app


def main() -> int:
    ap = argparse.ArgumentParser(description="x402 facilitator (official SDK, in-memory chain)")
    ap.add_argument("--port", type=int, default=0, help="0 = pick a free port")
    ap.add_argument("--port-file", help="write the bound port here once listening")
    ap.add_argument("--network", action="append", default=None,
                    help="CAIP-2 network (repeatable); default eip155:84532")
    ap.add_argument("--pay-to", default=DEFAULT_PAY_TO,
                    help="address whose balance /_local/stats reports as payToBalance")
    ap.add_argument("--log-file", help="append one line per verify/settle call here")
    args = ap.parse_args()
    networks = args.network or ["eip155:84532"]

    logging.basicConfig(filename=args.log_file, level=logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    app = create_app(networks, args.pay_to)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))        # loopback only, by construction
    sock.listen(1024)                          # queue early connections until uvicorn accepts
    port = sock.getsockname()[1]
    print(json.dumps({"listening": f"http://127.0.0.1:{port}", "pid": os.getpid(),
                      "networks": networks, "payTo": args.pay_to}), flush=True)
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write(str(port))
        os.replace(args.port_file + ".tmp", args.port_file)
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
