#!/usr/bin/env python3
"""`tollgate init` driven through a pseudo-terminal, as a person would answer it.

    TOLLGATE_BIN=.build/debug/tollgate python -m pytest Tests/Interop/test_init_pty.py -v -s
    (or scripts/interop.sh, which runs every Tests/Interop/test_*.py)

The test opens a pty (stdlib `os.openpty`), starts `tollgate init` on it, answers every question
(pressing Enter on most defaults, and giving one invalid upstream URL that must be refused with its
reason and asked again), then checks that:
  * the file was written, the API key was printed once and only its SHA-256 is in the file;
  * `tollgate check` accepts it (exit 0, lint passed) and `tollgate design` runs on it;
  * `tollgate serve` runs it in front of `tollgate sample-upstream` with `tollgate facilitator --dev`:
    a paid route answers 402 to an anonymous caller and to the generated key, 401 to an unknown key,
    and (when the x402 SDK is installed, as in the interop venv) the SDK pays it: 200.
The whole terminal transcript is printed and kept in the work directory (init-transcript.txt).
A second test runs `tollgate init` without a terminal: missing answers listed (exit 2), an existing
file refused without --force (exit 1).

Environment: TOLLGATE_BIN (default <repo>/.build/debug/tollgate), TOLLGATE_INTEROP_KEEP=1 keeps the
work directory, TOLLGATE_INTEROP_PIDFILE receives the pid of every process started here.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import re
import secrets
import select
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
TOLLGATE_BIN = Path(os.environ.get("TOLLGATE_BIN") or ROOT / ".build" / "debug" / "tollgate")
PIDFILE = os.environ.get("TOLLGATE_INTEROP_PIDFILE")
PAY_TO = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"

_children: list[subprocess.Popen] = []


def _kill_children() -> None:
    for p in _children:
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()


atexit.register(_kill_children)


def track(popen: subprocess.Popen) -> subprocess.Popen:
    _children.append(popen)
    if PIDFILE:
        with open(PIDFILE, "a") as f:
            f.write(f"{popen.pid}\n")
    return popen


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_status(url: str, headers: dict[str, str] | None = None) -> int:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def wait_for(what: str, probe, timeout: float, proc: subprocess.Popen | None = None, log: Path | None = None):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"process exited ({proc.returncode}) before {what}:\n{log.read_text() if log else ''}")
        try:
            result = probe()
            if result:
                return result
            last = result
        except Exception as exc:  # noqa: BLE001
            last = f"{type(exc).__name__}: {exc}"
        time.sleep(0.2)
    raise AssertionError(f"timeout waiting for {what} (last: {last})\n{log.read_text() if log else ''}")


class Terminal:
    """A child process on a pseudo-terminal: read what it prints, type lines."""

    def __init__(self, argv: list[str], cwd: Path, env: dict[str, str]) -> None:
        self.master, slave = os.openpty()
        self.proc = track(subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=env,
                                           close_fds=True, start_new_session=True))
        os.close(slave)
        self.transcript = ""
        self.position = 0

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return True
        try:
            data = os.read(self.master, 4096)
        except OSError:  # EIO: the child closed the terminal
            return False
        if not data:
            return False
        self.transcript += data.decode("utf-8", errors="replace").replace("\r\n", "\n")
        return True

    def expect(self, text: str, timeout: float = 20) -> str:
        """Waits until `text` appears after what was already matched; returns what came before it."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.transcript.find(text, self.position)
            if found >= 0:
                before = self.transcript[self.position:found]
                self.position = found + len(text)
                return before
            if time.monotonic() > deadline or not self._read(0.2) and text not in self.transcript[self.position:]:
                raise AssertionError(f"never saw {text!r}; transcript so far:\n{self.transcript}")

    def answer(self, prompt: str, line: str) -> None:
        self.expect(prompt)
        self.expect(": ")  # the end of the prompt, after the default in brackets
        os.write(self.master, (line + "\n").encode())

    def finish(self, timeout: float = 60) -> int:
        deadline = time.monotonic() + timeout
        while self._read(0.2) and time.monotonic() < deadline:
            pass
        code = self.proc.wait(timeout=max(1, deadline - time.monotonic()))
        os.close(self.master)
        return code


@pytest.fixture(scope="module")
def workdir():
    if not TOLLGATE_BIN.exists():
        pytest.fail(f"gateway binary not found: {TOLLGATE_BIN} (build it first, or set TOLLGATE_BIN)", pytrace=False)
    path = Path(tempfile.mkdtemp(prefix="tollgate-init-pty-"))
    print(f"\nworkdir: {path}")
    yield path
    _kill_children()
    if os.environ.get("TOLLGATE_INTEROP_KEEP") != "1":
        shutil.rmtree(path, ignore_errors=True)


def start(name: str, argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[subprocess.Popen, Path]:
    log = cwd / f"{name}.log"
    with open(log, "ab") as fh:
        proc = track(subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=cwd, env=env))
    return proc, log


def test_init_interactive_then_check_design_and_serve(workdir: Path) -> None:
    env = dict(os.environ, TERM="dumb")
    env.pop("TOLLGATE_INTEROP_PIDFILE", None)
    ports = {name: free_port() for name in ("upstream", "facilitator", "gateway", "admin")}
    upstream = f"http://127.0.0.1:{ports['upstream']}"
    facilitator = f"http://127.0.0.1:{ports['facilitator']}"
    gateway = f"http://127.0.0.1:{ports['gateway']}"
    config = workdir / "tollgate.yaml"

    # 1. The interview, through a pseudo-terminal. The gateway's own addresses come as flags
    #    (free ports); flags become the defaults, every question is still asked.
    term = Terminal([str(TOLLGATE_BIN), "init", "--output", str(config), "--listen", f"127.0.0.1:{ports['gateway']}",
                     "--set", f"failures.admin.listen=127.0.0.1:{ports['admin']}"], workdir, env)
    term.expect("1/7 What is protected?")
    term.answer("Resource id", "datasets")
    term.answer("Upstream URL", "ftp://nowhere.example")
    refusal = term.expect("Please answer again.")
    assert "is not an http(s) URL" in refusal, refusal
    term.answer("Upstream URL", upstream)                 # asked again, now valid
    term.answer("Path pattern(s)", "")                    # [/datasets/*]
    term.answer("Description", "Daily market datasets")
    term.answer("Read-only?", "")                         # [yes]
    term.answer("HTTP method", "")                        # [GET]
    term.expect("2/7 Who sends requests?")
    term.answer("Callers", "agent, script")
    term.answer("Identify them by", "")                   # [anonymous, api_keys]
    term.answer("API clients to create", "nightly")
    term.expect("3/7 What is billed?")
    term.answer("Unit billed", "")                        # [request]
    term.answer("Price in USDC", "0.01")
    term.answer("Network", "")                            # [base-sepolia]
    term.answer("Pay to", PAY_TO)
    term.answer("Quantity from the request", "")          # [none]
    term.expect("4/7 Which roles and permissions exist?")
    term.answer("Scopes your clients already hold", "datasets:read")
    term.answer("Other actions with their own scope", "")
    term.answer("Private response fields", "trader_id")
    term.answer("Scope that may see the private fields", "")   # [datasets:private]
    term.answer("Scopes held by API client nightly", "")       # [datasets:read]
    term.expect("5/7 Which limits apply?")
    term.answer("Before payment", "")                     # [20/40]
    term.answer("After payment", "")                      # [10/20]
    term.answer("Invalid proofs", "")                     # [1/5]
    term.answer("Spend cap:", "2.50")
    term.answer("Spend cap counted per", "")              # [payer]: anonymous payers are capped per address
    term.answer("Spend cap period", "")                   # [day]
    term.answer("Quota:", "")                             # [none]
    term.expect("6/7 What must the audit log keep?")
    term.answer("Keep events for how many days", "30")
    term.answer("Archive directory", "")
    term.expect("7/7 Which failures and refunds must be handled?")
    term.answer("Facilitator URL(s)", facilitator)
    term.answer("Settle after", "")                       # [after]
    term.answer("Record a refund automatically", "")      # [yes]
    term.answer("Who pays refunds out", "payouts@example.com")
    term.answer("Admin API on loopback", "")              # [yes]
    term.answer("Environment variable holding the admin token", "")
    code = term.finish()
    (workdir / "init-transcript.txt").write_text(term.transcript)
    print("\n----- tollgate init transcript -----\n" + term.transcript + "----- end of transcript -----")
    assert code == 0, term.transcript

    # 2. The file, and the key printed once.
    assert config.exists()
    text = config.read_text()
    match = re.search(r"nightly: (tg_[0-9a-f]{64})", term.transcript)
    assert match, "the API key was not printed"
    key = match.group(1)
    assert key not in text
    assert hashlib.sha256(key.encode()).hexdigest() in text
    assert term.transcript.count(key) == 1
    assert "unpaid: {rate_per_second: 20, burst: 40}" in text
    assert f"url: {upstream}" in text and "private_fields: {scope: datasets:private, fields: [trader_id]}" in text
    for command in ("tollgate check", "tollgate design", "tollgate serve"):
        assert command in term.transcript

    # 3. `tollgate check` accepts it; `tollgate design` runs on it.
    check = subprocess.run([str(TOLLGATE_BIN), "check", "-c", str(config)], cwd=workdir, env=env,
                           capture_output=True, text=True, timeout=60)
    print(check.stdout + check.stderr)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "lint passed" in check.stdout
    commands = subprocess.run([str(TOLLGATE_BIN), "--help"], capture_output=True, text=True, timeout=60).stdout
    if re.search(r"^\s+design\b", commands, re.M):
        design = subprocess.run([str(TOLLGATE_BIN), "design", "-c", str(config)], cwd=workdir, env=env,
                                capture_output=True, text=True, timeout=60)
        assert design.returncode == 0, design.stdout + design.stderr
        assert "datasets" in design.stdout
    else:
        print("note: `tollgate design` is not available in this build; skipped")

    # 4. `tollgate serve` runs it in front of the sample upstream and the development facilitator.
    serve_env = dict(env, TOLLGATE_SECRET=secrets.token_hex(32), TOLLGATE_ADMIN_TOKEN=secrets.token_hex(32))
    start("upstream", [str(TOLLGATE_BIN), "sample-upstream", "--listen", f"127.0.0.1:{ports['upstream']}"], workdir, serve_env)
    start("facilitator", [str(TOLLGATE_BIN), "facilitator", "--dev", "--listen", f"127.0.0.1:{ports['facilitator']}",
                          "--db", str(workdir / "facilitator.sqlite")], workdir, serve_env)
    wait_for("the development facilitator", lambda: http_status(facilitator + "/supported") == 200, 30)
    gw, gw_log = start("gateway", [str(TOLLGATE_BIN), "serve", "-c", str(config)], workdir, serve_env)
    wait_for("a 402 on the paid route", lambda: http_status(gateway + "/datasets/prices") == 402, 60, gw, gw_log)
    assert http_status(gateway + "/datasets/prices", {"X-Api-Key": key}) == 402
    assert http_status(gateway + "/datasets/prices", {"X-Api-Key": "tg_not_a_key"}) == 401
    assert http_status(gateway + "/elsewhere") == 404

    # 5. A stock x402 client pays it (when the SDK is installed: the interop venv has it).
    try:
        import asyncio

        import httpx
        from eth_account import Account
        from x402 import x402Client
        from x402.http.clients import x402AsyncTransport
        from x402.mechanisms.evm.exact import register_exact_evm_client
        from x402.mechanisms.evm.signers import EthAccountSigner
    except ImportError:
        print("note: the x402 SDK is not installed; the paid request is skipped")
        return
    client = x402Client()
    register_exact_evm_client(client, EthAccountSigner(Account.create()))

    async def pay() -> httpx.Response:
        async with httpx.AsyncClient(transport=x402AsyncTransport(client), timeout=60) as http:
            return await http.get(gateway + "/datasets/prices")

    response = asyncio.run(pay())
    assert response.status_code == 200, (response.status_code, response.text, gw_log.read_text()[-2000:])
    assert response.headers.get("payment-response"), "no PAYMENT-RESPONSE receipt"
    assert json.loads(response.text)["dataset"] == "prices"


def test_init_without_a_terminal_lists_missing_answers(workdir: Path) -> None:
    """Standard input that is not a terminal: nothing is asked, every missing answer is listed, exit 2;
    an existing file is never overwritten without --force."""
    out = workdir / "scripted.yaml"
    run = subprocess.run([str(TOLLGATE_BIN), "init", "--output", str(out), "--resource", "datasets", "--price", "0.01"],
                         stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, cwd=workdir)
    assert run.returncode == 2, run.stdout + run.stderr
    for field, flag in [("resource.upstream", "--upstream"), ("callers", "--callers"), ("billing.pay_to", "--pay-to")]:
        assert field in run.stderr and flag in run.stderr, run.stderr
    assert "resource.name" not in run.stderr and not out.exists()

    argv = [str(TOLLGATE_BIN), "init", "--output", str(out), "--resource", "datasets", "--price", "0.01",
            "--upstream", "http://127.0.0.1:8403", "--callers", "agent", "--pay-to", PAY_TO]
    first = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, cwd=workdir)
    assert first.returncode == 0 and out.exists(), first.stdout + first.stderr
    again = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, cwd=workdir)
    assert again.returncode == 1 and "--force" in again.stderr, again.stdout + again.stderr
    forced = subprocess.run(argv + ["--force"], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, cwd=workdir)
    assert forced.returncode == 0, forced.stdout + forced.stderr
