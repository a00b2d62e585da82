#!/usr/bin/env python3
"""A tiny HTTP round-robin front for the cluster demo (scripts/cluster.sh): Python 3.11 standard library only.

    scripts/round-robin-front.py --listen 127.0.0.1:8402 --backend A=127.0.0.1:8412 --backend B=127.0.0.1:8422

Every incoming request (not connection: one keep-alive connection's requests are spread too) goes to the next
backend in turn. The method, path, headers (hop-by-hop ones dropped, Host kept) and body are forwarded; the answer
is the backend's status, headers and body, plus `X-Tollgate-Instance: <name>` naming the backend that answered.
One line per request goes to stderr, e.g. `GET /datasets/prices -> A 402 (PAYMENT-SIGNATURE: no)`.

Bounded: a request body over 1 MiB is refused with 413 (never forwarded); a backend that cannot be reached (or
fails mid-answer) gives 502 with a short JSON error. Not a production load balancer: no health checks, no retries,
the whole answer is buffered.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = 1024 * 1024  # 1 MiB
BACKEND_TIMEOUT = 90.0  # above the gateway's worst paid request (max_timeout_seconds 60)
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "trailers",
              "transfer-encoding", "upgrade", "proxy-connection"}


class BodyTooLarge(Exception):
    pass


class BadRequestBody(Exception):
    pass


def log(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


class Front:
    def __init__(self, backends: list[tuple[str, str, int]]) -> None:
        self.backends = backends
        self._cycle = itertools.cycle(backends)
        self._lock = threading.Lock()

    def next_backend(self) -> tuple[str, str, int]:
        with self._lock:
            return next(self._cycle)


def hop_by_hop(headers) -> set[str]:
    """The hop-by-hop header names: the fixed list plus whatever the Connection header names."""
    names = set(HOP_BY_HOP)
    for value in headers.get_all("Connection") or []:
        names.update(token.strip().lower() for token in value.split(",") if token.strip())
    return names


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "tollgate-round-robin-front"
    front: Front  # set on the class by main()

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - BaseHTTPRequestHandler's signature
        pass  # one line per request is written by handle_any instead

    # --- request body -------------------------------------------------------------------------------------

    def read_body(self) -> bytes:
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            return self.read_chunked()
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        try:
            n = int(length)
        except ValueError as exc:
            raise BadRequestBody("invalid Content-Length") from exc
        if n < 0:
            raise BadRequestBody("invalid Content-Length")
        if n > MAX_BODY:
            raise BodyTooLarge()
        body = self.rfile.read(n)
        if len(body) != n:
            raise BadRequestBody("body shorter than Content-Length")
        return body

    def read_chunked(self) -> bytes:
        out = bytearray()
        while True:
            line = self.rfile.readline(1024)
            if not line.endswith(b"\n"):
                raise BadRequestBody("bad chunk size line")
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError as exc:
                raise BadRequestBody("bad chunk size") from exc
            if size == 0:
                while True:  # trailers, up to the empty line
                    trailer = self.rfile.readline(8192)
                    if trailer in (b"\r\n", b"\n", b""):
                        return bytes(out)
            if len(out) + size > MAX_BODY:
                raise BodyTooLarge()
            chunk = self.rfile.read(size)
            if len(chunk) != size:
                raise BadRequestBody("truncated chunk")
            out += chunk
            self.rfile.readline(8)  # CRLF after the chunk

    # --- answering ----------------------------------------------------------------------------------------

    def answer(self, status: int, headers: list[tuple[str, str]], body: bytes, instance: str | None,
               head_length: str | None = None) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        if instance is not None:
            self.send_header("X-Tollgate-Instance", instance)
        # A HEAD answer keeps the backend's Content-Length (the size a GET would have), with no body.
        self.send_header("Content-Length", head_length if self.command == "HEAD" and head_length else str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def answer_error(self, status: int, error: str, detail: str, instance: str | None = None) -> None:
        body = json.dumps({"error": error, "detail": detail}).encode()
        self.answer(status, [("Content-Type", "application/json")], body, instance)

    def handle_any(self) -> None:
        paid = "yes" if self.headers.get("PAYMENT-SIGNATURE") is not None else "no"
        where = f"{self.command} {self.path}"
        try:
            body = self.read_body()
        except BodyTooLarge:
            self.close_connection = True  # the unread body stays on the socket
            self.answer_error(413, "body_too_large", f"request bodies are limited to {MAX_BODY} bytes")
            log(f"{where} -> - 413 (body over {MAX_BODY} bytes, not forwarded; PAYMENT-SIGNATURE: {paid})")
            return
        except BadRequestBody as exc:
            self.close_connection = True
            self.answer_error(400, "bad_request_body", str(exc))
            log(f"{where} -> - 400 ({exc}; PAYMENT-SIGNATURE: {paid})")
            return

        name, host, port = self.front.next_backend()
        skip = hop_by_hop(self.headers)
        conn = http.client.HTTPConnection(host, port, timeout=BACKEND_TIMEOUT)
        try:
            conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for header, value in self.headers.items():
                if header.lower() in skip or header.lower() == "content-length":
                    continue
                conn.putheader(header, value)
            if body or self.command in ("POST", "PUT", "PATCH"):
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body or None)
            resp = conn.getresponse()
            resp_body = resp.read()
            status = resp.status
            resp_skip = hop_by_hop(resp.headers) | {"content-length", "date", "server"}
            resp_headers = [(h, v) for h, v in resp.headers.items() if h.lower() not in resp_skip]
            head_length = resp.headers.get("Content-Length")
        except (OSError, http.client.HTTPException) as exc:
            self.answer_error(502, "backend_unreachable", f"instance {name} ({host}:{port}): {type(exc).__name__}: {exc}",
                              name)
            log(f"{where} -> {name} 502 (backend unreachable: {type(exc).__name__}: {exc}; PAYMENT-SIGNATURE: {paid})")
            return
        finally:
            conn.close()
        self.answer(status, resp_headers, resp_body, name, head_length)
        log(f"{where} -> {name} {status} (PAYMENT-SIGNATURE: {paid})")

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = handle_any


def host_port(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    return host, int(port)


def backend(value: str) -> tuple[str, str, int]:
    name, sep, address = value.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=HOST:PORT, got {value!r}")
    return (name, *host_port(address))


def main() -> None:
    parser = argparse.ArgumentParser(description="HTTP round-robin reverse proxy (per request).")
    parser.add_argument("--listen", type=host_port, default=("127.0.0.1", 8402), help="HOST:PORT (127.0.0.1:8402)")
    parser.add_argument("--backend", type=backend, action="append", required=True,
                        help="NAME=HOST:PORT, repeatable; requests go to them in the order given")
    args = parser.parse_args()

    Handler.front = Front(args.backend)
    ThreadingHTTPServer.daemon_threads = True
    server = ThreadingHTTPServer(args.listen, Handler)
    names = ", ".join(f"{n}={h}:{p}" for n, h, p in args.backend)
    log(f"round-robin front on {args.listen[0]}:{args.listen[1]} -> {names}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
