"""The upstream-contract snippets of docs/upstream-contract.md, run as a backend would run them.

A real `tollgate serve` forwards requests to a recording upstream written here; the Python and the Node
snippets (taken verbatim from the document) then check what arrived: the genuine request passes, and an
altered body, target or header, a stale timestamp and a replay are refused. Node is required: the test fails,
naming it, when `node` is not installed.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from harness import TOLLGATE_BIN, free_port, start, wait_until

DOC = Path(__file__).resolve().parents[2] / "docs" / "upstream-contract.md"


def snippet(language: str) -> str:
    blocks = re.findall(rf"```{language}\n(.*?)```", DOC.read_text(), re.S)
    assert len(blocks) == 1, f"docs/upstream-contract.md should hold exactly one {language} block"
    return blocks[0]


class Recorder(BaseHTTPRequestHandler):
    received: list[dict] = []

    def _record(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        Recorder.received.append({"method": self.command, "target": self.path,
                                  "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body.hex()})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"ok":true}')

    do_GET = do_POST = _record

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def forwarded():
    """Two requests (a GET and a POST with a body) as the gateway forwarded them, and the secret it used."""
    workdir = Path(tempfile.mkdtemp(prefix="tollgate-contract-"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    secret = secrets.token_hex(32)
    port = free_port()
    config = workdir / "tollgate.yaml"
    config.write_text(f"""
listen: 127.0.0.1:{port}
public_url: http://127.0.0.1:{port}
upstream: {{url: "http://127.0.0.1:{server.server_address[1]}"}}
secrets: [{{id: k1, env: TOLLGATE_SECRET}}]
storage: {{sqlite: "{workdir}/gateway.sqlite"}}
routes:
  - {{path: /echo, resource: echo, anonymous: true}}
""")
    env = dict(os.environ, TOLLGATE_SECRET=secret)
    env.pop("TOLLGATE_INTEROP_PIDFILE", None)
    gateway = start("gateway", [str(TOLLGATE_BIN), "serve", "--config", str(config)], workdir, env)
    try:
        wait_until("gateway", lambda: httpx.get(f"http://127.0.0.1:{port}/echo", timeout=2).status_code == 200, gateway, 60)
        Recorder.received.clear()
        httpx.get(f"http://127.0.0.1:{port}/echo?day=1", headers={"Tollgate-Client": "forged"}, timeout=10)
        httpx.post(f"http://127.0.0.1:{port}/echo?q=acme", content=b'{"query":{"count":3}}', timeout=10)
        assert len(Recorder.received) == 2, Recorder.received
        yield secret, list(Recorder.received)
    finally:
        gateway.stop()
        server.shutdown()
        shutil.rmtree(workdir, ignore_errors=True)


def cases(request: dict) -> list[tuple[str, dict, str | None]]:
    """(name, request as the backend sees it, expected refusal or None)."""
    now = int(request["headers"]["tollgate-timestamp"])
    altered_body = dict(request, body=(bytes.fromhex(request["body"]) + b" ").hex())
    altered_target = dict(request, target=request["target"] + "&more=1")
    altered_client = dict(request, headers=dict(request["headers"], **{"tollgate-client": "mallory"}))
    return [
        ("genuine", dict(request, now=now), None),
        ("replayed", dict(request, now=now + 1), "replayed"),
        ("altered body", dict(altered_body, now=now), "signature_mismatch"),
        ("altered target", dict(altered_target, now=now), "signature_mismatch"),
        ("altered client", dict(altered_client, now=now), "signature_mismatch"),
        ("stale", dict(request, now=now + 61), "timestamp_outside_window"),
    ]


def test_python_snippet_accepts_the_gateway_and_refuses_tampering(forwarded):
    secret, requests = forwarded
    scope: dict = {}
    exec(snippet("python"), scope)  # noqa: S102 - the documented snippet itself is under test
    for request in requests:
        assert request["headers"]["tollgate-client"] == "anonymous", "a client-sent Tollgate-Client reached the upstream"
        verifier = scope["TollgateContract"]({"k1": secret})
        for name, case, expected in cases(request):
            headers = {k.title(): v for k, v in case["headers"].items()}
            got = verifier.verify(case["method"], case["target"], headers, bytes.fromhex(case["body"]), now=case["now"])
            assert got == expected, f"{request['method']} {name}: {got!r}, expected {expected!r}"
        # The offer secret used as the contract key (no derivation) is not the contract key.
        wrong = scope["TollgateContract"]({"k1": secret}, derive=False)
        assert wrong.verify(request["method"], request["target"], {k.title(): v for k, v in request["headers"].items()},
                            bytes.fromhex(request["body"]), now=int(request["headers"]["tollgate-timestamp"])) == "signature_mismatch"


def test_node_snippet_accepts_the_gateway_and_refuses_tampering(forwarded):
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed: it is needed to test the Node snippet of docs/upstream-contract.md "
                    "(apt-get install nodejs)", pytrace=False)
    secret, requests = forwarded
    workdir = Path(tempfile.mkdtemp(prefix="tollgate-node-"))
    try:
        (workdir / "contract.js").write_text(snippet("javascript"))
        (workdir / "run.js").write_text("""
const { TollgateContract } = require("./contract.js");
const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
const out = [];
for (const batch of input.batches) {
  const verifier = new TollgateContract({ k1: input.secret });
  for (const c of batch) out.push(verifier.verify(c.method, c.target, c.headers, Buffer.from(c.body, "hex"), c.now));
}
console.log(JSON.stringify(out));
""")
        batches = [cases(request) for request in requests]
        payload = {"secret": secret, "batches": [[case for _, case, _ in batch] for batch in batches]}
        run = subprocess.run([node, str(workdir / "run.js")], input=json.dumps(payload), capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stderr
        results = json.loads(run.stdout)
        expected = [want for batch in batches for _, _, want in batch]
        names = [f"{request['method']} {name}" for request, batch in zip(requests, batches) for name, _, _ in batch]
        assert results == expected, list(zip(names, results, expected))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
