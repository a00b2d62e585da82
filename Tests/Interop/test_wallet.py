#!/usr/bin/env python3
"""`tollgate pay` and `tollgate wallet` against servers scripted here: what a hostile or an older server does.

    TOLLGATE_BIN=.build/debug/tollgate python -m pytest Tests/Interop/test_wallet.py -v -s
    (or scripts/interop.sh -k wallet)

The servers run in this process on free 127.0.0.1 ports; the payer's signatures are checked with eth_account
(EIP-712 recovery written by others, not by Tollgate). Scenarios:
  1 an x402 v1 server (402 with the v1 body, `X-PAYMENT`, v1 network name): the client pays it; the payment is a v1
    payload whose EIP-3009 signature recovers to the payer, for the exact amount and payee; the ledger says v1
  2 a server that answers the paid retry with a new 402 asking ten times more: nothing more is signed (one
    signature seen, one purchase, in doubt: its "Payment required" is no code of a refusal before settlement, so the
    server may have taken it), exit 3 with payment_in_doubt
  3 `tollgate wallet balance --rpc`: the balance read from a scripted JSON-RPC node (`eth_call balanceOf`)
  4 `tollgate wallet export`: CSV and JSON carry the purchase, never the signed proof; `wallet ledger`, `spend`
  5 bad input: a budget file with a wrong key, an unreadable key, an argument pay cannot parse: exit 1, one line
  6 on a terminal (a pty): the terms and the budget, then `Pay? [y/N]`; `n` pays nothing (exit 2), `y` pays once
"""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import secrets
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data

from harness import TOLLGATE_BIN, USDC_BASE_SEPOLIA, new_workdir, reply

PAY_TO = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"
TYPES = {
    "EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                     {"name": "chainId", "type": "uint256"}, {"name": "verifyingContract", "type": "address"}],
    "TransferWithAuthorization": [{"name": "from", "type": "address"}, {"name": "to", "type": "address"},
                                  {"name": "value", "type": "uint256"}, {"name": "validAfter", "type": "uint256"},
                                  {"name": "validBefore", "type": "uint256"}, {"name": "nonce", "type": "bytes32"}],
}


def recover(authorization: dict[str, Any], signature: str, chain_id: int) -> str:
    """The address that signed an EIP-3009 authorization (eth_account)."""
    typed = {"types": TYPES, "primaryType": "TransferWithAuthorization",
             "domain": {"name": "USDC", "version": "2", "chainId": chain_id, "verifyingContract": USDC_BASE_SEPOLIA},
             "message": {"from": authorization["from"], "to": authorization["to"], "value": int(authorization["value"]),
                         "validAfter": int(authorization["validAfter"]), "validBefore": int(authorization["validBefore"]),
                         "nonce": bytes.fromhex(authorization["nonce"][2:])}}
    return Account.recover_message(encode_typed_data(full_message=typed), signature=signature)


class Scripted:
    """An HTTP server whose GET handler is `answer(handler) -> (status, headers, body)`; it keeps what it was sent."""

    def __init__(self, answer) -> None:
        self.seen: list[dict[str, str]] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def handle_any(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                with outer.lock:
                    outer.seen.append({k.lower(): v for k, v in self.headers.items()} | {":body": body.decode(errors="replace")})
                reply(self, *answer(self, body))

            do_GET = handle_any
            do_POST = handle_any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def pay(workdir: Path, *args: str, key: str, ledger: Path, budget: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, TOLLGATE_PAYER_KEY=key, TOLLGATE_LEDGER=str(ledger))
    argv = [str(TOLLGATE_BIN), *args]
    if budget is not None:
        path = workdir / f"budget-{secrets.token_hex(4)}.yaml"
        path.write_text(budget)
        argv += ["--budget", str(path)]
    return subprocess.run(argv, capture_output=True, env=env, timeout=60, cwd=workdir)


@pytest.fixture()
def workdir() -> Path:
    assert TOLLGATE_BIN.exists(), f"tollgate binary not found at {TOLLGATE_BIN}: build it first (swift build)"
    return new_workdir("tollgate-wallet-", TOLLGATE_BIN)


def v1_terms(url: str, amount: str = "10000") -> dict[str, Any]:
    return {"x402Version": 1, "error": "X-PAYMENT header is required", "accepts": [{
        "scheme": "exact", "network": "base-sepolia", "maxAmountRequired": amount, "resource": url,
        "description": "v1 data", "mimeType": "application/json", "payTo": PAY_TO, "maxTimeoutSeconds": 60,
        "asset": USDC_BASE_SEPOLIA, "extra": {"name": "USDC", "version": "2"}}]}


def test_a_v1_server_is_paid_with_a_v1_payment(workdir: Path) -> None:
    account = Account.create()
    checked: list[str] = []

    def answer(handler, body):
        header = handler.headers.get("X-PAYMENT")
        if not header:
            return 402, {"Content-Type": "application/json"}, json.dumps(v1_terms(server.url + "/data")).encode()
        payment = json.loads(base64.b64decode(header))
        auth = payment["payload"]["authorization"]
        signer = recover(auth, payment["payload"]["signature"], 84532)
        ok = (payment["x402Version"] == 1 and payment["scheme"] == "exact" and payment["network"] == "base-sepolia"
              and "accepted" not in payment and auth["value"] == "10000" and auth["to"].lower() == PAY_TO.lower()
              and signer == account.address == auth["from"])
        checked.append("ok" if ok else f"bad payment {payment} (signer {signer})")
        if not ok:
            return 402, {"Content-Type": "application/json"}, json.dumps(v1_terms(server.url + "/data") | {"error": "invalid"}).encode()
        receipt = base64.b64encode(json.dumps({"success": True, "transaction": "0x" + "ab" * 32, "network": "base-sepolia",
                                               "payer": account.address}).encode()).decode()
        return 200, {"Content-Type": "application/json", "X-PAYMENT-RESPONSE": receipt}, b'{"v1":"delivered"}'

    server = Scripted(answer)
    try:
        ledger = workdir / "wallet.sqlite"
        run = pay(workdir, "pay", server.url + "/data", "--yes", key=account.key.hex(), ledger=ledger)
        assert run.returncode == 0, run.stderr.decode()
        assert run.stdout == b'{"v1":"delivered"}'
        assert checked == ["ok"], checked
        export = json.loads(pay(workdir, "wallet", "export", "--format", "json", key=account.key.hex(), ledger=ledger).stdout)
        assert len(export) == 1
        assert export[0]["x402_version"] == "1", export[0]
        assert export[0]["state"] == "delivered" and export[0]["network"] == "eip155:84532"
        assert export[0]["transaction"] == "0x" + "ab" * 32
    finally:
        server.stop()


def test_a_server_raising_its_price_after_payment_gets_nothing_more(workdir: Path) -> None:
    account = Account.create()
    v2 = lambda amount: base64.b64encode(json.dumps({  # noqa: E731
        "x402Version": 2, "error": "Payment required", "resource": {"url": server.url + "/data"},
        "accepts": [{"scheme": "exact", "network": "eip155:84532", "asset": USDC_BASE_SEPOLIA, "amount": amount,
                     "payTo": PAY_TO, "maxTimeoutSeconds": 60, "extra": {"name": "USDC", "version": "2"}}]}).encode()).decode()

    def answer(handler, body):
        paid = handler.headers.get("PAYMENT-SIGNATURE") is not None
        return 402, {"PAYMENT-REQUIRED": v2("100000" if paid else "10000"), "Content-Type": "application/json"}, b"{}"

    server = Scripted(answer)
    try:
        ledger = workdir / "wallet.sqlite"
        run = pay(workdir, "pay", server.url + "/data", "--yes", key=account.key.hex(), ledger=ledger)
        assert run.returncode == 3, run.stderr.decode()
        assert b"payment_in_doubt" in run.stderr, run.stderr.decode()
        signatures = [s["payment-signature"] for s in server.seen if "payment-signature" in s]
        assert len(signatures) == 1, f"the client signed again for the raised price: {len(signatures)} signatures"
        proof = json.loads(base64.b64decode(signatures[0]))
        assert proof["accepted"]["amount"] == "10000"
        assert proof["extensions"]["payment-identifier"]["info"]["id"].startswith("pay_")
        rows = list(csv.DictReader(io.StringIO(pay(workdir, "wallet", "export", key=account.key.hex(), ledger=ledger).stdout.decode())))
        # Not `refused`: a 402 without a code saying it came before settlement may hide a payment taken, so the
        # purchase stays in doubt and blocks its request (the next run sends the same authorization, signs nothing).
        assert [(r["state"], r["amount"]) for r in rows] == [("unknown", "10000")], rows
    finally:
        server.stop()


def test_wallet_balance_reads_a_json_rpc_node(workdir: Path) -> None:
    account = Account.create()
    calls: list[dict[str, Any]] = []

    def answer(handler, body):
        call = json.loads(body)
        calls.append(call)
        result = "0x" + format(1_234_500_000, "064x")   # 1234.5 USDC
        return 200, {"Content-Type": "application/json"}, json.dumps({"jsonrpc": "2.0", "id": call["id"], "result": result}).encode()

    node = Scripted(answer)
    try:
        run = pay(workdir, "wallet", "balance", "--rpc", node.url, key=account.key.hex(), ledger=workdir / "w.sqlite")
        assert run.returncode == 0, run.stderr.decode()
        assert f"{account.address} holds 1234.5 USDC" in run.stdout.decode()
        assert calls[0]["method"] == "eth_call"
        params = calls[0]["params"][0]
        assert params["to"].lower() == USDC_BASE_SEPOLIA.lower()
        assert params["data"] == "0x70a08231" + "0" * 24 + account.address[2:].lower()
        # No node: a clear error, exit 3 (unreachable), no crash.
        run = pay(workdir, "wallet", "balance", "--rpc", "http://127.0.0.1:1", "--timeout", "2", key=account.key.hex(), ledger=workdir / "w.sqlite")
        assert run.returncode == 3 and b"did not answer" in run.stderr
    finally:
        node.stop()


def test_ledger_spend_and_export_never_leak_the_proof(workdir: Path) -> None:
    account = Account.create()

    def answer(handler, body):
        if handler.headers.get("X-PAYMENT"):
            return 200, {"Content-Type": "text/plain"}, b"ok"
        return 402, {"Content-Type": "application/json"}, json.dumps(v1_terms(server.url + "/x")).encode()

    server = Scripted(answer)
    try:
        ledger = workdir / "wallet.sqlite"
        assert pay(workdir, "pay", server.url + "/x", "--yes", "-s", key=account.key.hex(), ledger=ledger).returncode == 0
        proof = [s["x-payment"] for s in server.seen if "x-payment" in s][0]
        for fmt in ("csv", "json"):
            out = pay(workdir, "wallet", "export", "--format", fmt, key=account.key.hex(), ledger=ledger).stdout.decode()
            assert "0.01 USDC" in out and proof not in out and json.loads(base64.b64decode(proof))["payload"]["signature"] not in out
        listed = pay(workdir, "wallet", "ledger", key=account.key.hex(), ledger=ledger).stdout.decode()
        assert "delivered" in listed and "0.01 USDC" in listed
        spend = pay(workdir, "wallet", "spend", key=account.key.hex(), ledger=ledger).stdout.decode()
        assert "per_day (overall)" in spend and "0.01" in spend
        assert oct(os.stat(ledger).st_mode & 0o777) == "0o600"
    finally:
        server.stop()


def test_bad_input_exits_1_with_one_line(workdir: Path) -> None:
    key = Account.create().key.hex()
    ledger = workdir / "w.sqlite"
    run = pay(workdir, "pay", "http://127.0.0.1:1/x", "--yes", "--timeout", "2", key=key, ledger=ledger, budget="per_week: 1\n")
    assert run.returncode == 1 and b"per_week" in run.stderr, run.stderr
    run = pay(workdir, "pay", "http://127.0.0.1:1/x", "--yes", "--timeout", "2", key="not-a-key", ledger=ledger)
    assert run.returncode == 1 and b"invalid_key" in run.stderr and b"not-a-key" not in run.stderr
    run = pay(workdir, "pay", "--no-such-option", key=key, ledger=ledger)
    assert run.returncode == 1, run
    run = pay(workdir, "pay", "ftp://example.com/x", "--yes", key=key, ledger=ledger)
    assert run.returncode == 1 and b"invalid_request" in run.stderr
    run = pay(workdir, "pay", "http://127.0.0.1:1/x", "--yes", "--timeout", "2", key=key, ledger=ledger)
    assert run.returncode == 3 and b"unreachable" in run.stderr, run.stderr   # nothing listens: the server failed


def test_on_a_terminal_it_asks_and_pays_only_on_yes(workdir: Path) -> None:
    """The prompt: the terms and the budget on the terminal, then `Pay? [y/N]`; `n` pays nothing (exit 2), `y` pays."""
    import pty
    import select

    account = Account.create()
    paid: list[str] = []

    def answer(handler, body):
        if handler.headers.get("X-PAYMENT"):
            paid.append(handler.headers["X-PAYMENT"])
            return 200, {"Content-Type": "text/plain"}, b"bought"
        return 402, {"Content-Type": "application/json"}, json.dumps(v1_terms(server.url + "/t")).encode()

    server = Scripted(answer)
    try:
        ledger = workdir / "wallet.sqlite"
        for reply_text, status in (("n", 2), ("y", 0)):
            master, slave = pty.openpty()
            env = dict(os.environ, TOLLGATE_PAYER_KEY=account.key.hex(), TOLLGATE_LEDGER=str(ledger))
            proc = subprocess.Popen([str(TOLLGATE_BIN), "pay", server.url + "/t"], stdin=slave, stdout=subprocess.PIPE,
                                    stderr=slave, env=env, cwd=workdir)
            os.close(slave)
            seen = b""
            deadline = 30.0
            while b"Pay? [y/N]" not in seen and deadline > 0:
                ready, _, _ = select.select([master], [], [], 0.5)
                deadline -= 0.5
                if ready:
                    seen += os.read(master, 4096)
            assert b"Pay? [y/N]" in seen, seen
            assert b"would pay: 0.01 USDC" in seen and b"budget per_day (overall)" in seen, seen
            os.write(master, (reply_text + "\n").encode())
            out, _ = proc.communicate(timeout=30)
            os.close(master)
            assert proc.returncode == status, (reply_text, proc.returncode, seen)
            assert out == (b"bought" if reply_text == "y" else b"")
        assert len(paid) == 1
    finally:
        server.stop()
