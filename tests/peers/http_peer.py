#!/usr/bin/env python3
"""Local HTTP(S) peer for the http.request tests (Python 3 standard library only).

Usage: http_peer.py [--cert CERT.pem --key KEY.pem]
Binds 127.0.0.1 on ephemeral ports and prints one line "PORTS <http> <https|0>", then serves
until killed. Endpoints (same on both ports):
  /echo              JSON {method, path, headers (lower-case names), body} of the request
  /status/N          status N, body "status N"
  /slow?ms=N         sleeps N ms, then "slow done"
  /large?n=N         N bytes of "x" with Content-Length; /large?n=N&chunked=1 without it
  /sse/<name>        SSE streams: basic, done, partial, crlf, spaces, slow, error500
  /redirect/N        302 chain down to /redirect/0 ("redirected"); /redirect_ftp -> ftp://
  /headers           repeated and non-ASCII response headers
  /port              the client's source port (connection reuse check)
  /truncated         Content-Length 100 but only 10 bytes, then the connection closes
"""
import json
import socket
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

SSE = {
    "basic": [b"data: one\n\n", b"data:two\n\n", b"event: x\nid: 1\nretry: 5\n: c\ndata: three\n\n"],
    "done": [b"data: a\n\n", b"data: [DONE]\n\n", b"data: never\n\n"],
    "partial": [b"data: kept\n\n", b"data: dropped"],
    "crlf": [b"data: x\r\ndata: y\r\n\n", b"data: z\r\n\r\n"],
    "spaces": [b"data:   padded  \n\n", b"data:\n\n", b"data: a\ndata: b\n\n"],
    "split": [b"da", b"ta: sp", b"lit\n", b"\ndata: \xe2\x82", b"\xac\n\n"],
}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, status, body=b"", headers=None, ctype="text/plain"):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or []):
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def handle_any(self):
        u = urlparse(self.path)
        q = parse_qs(u.query)
        p = u.path
        if p == "/echo":
            data = {
                "method": self.command,
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": self.body().decode("utf-8", "replace"),
            }
            return self.send(200, json.dumps(data, sort_keys=True).encode(), ctype="application/json")
        self.body()
        if p.startswith("/status/"):
            n = int(p.split("/")[2])
            return self.send(n, ("status %d" % n).encode())
        if p == "/slow":
            time.sleep(int(q.get("ms", ["1000"])[0]) / 1000.0)
            return self.send(200, b"slow done")
        if p == "/large":
            n = int(q.get("n", ["0"])[0])
            if q.get("chunked"):
                self.send_response(200)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                left = n
                while left > 0:
                    k = min(left, 65536)
                    self.wfile.write(b"%x\r\n" % k + b"x" * k + b"\r\n")
                    left -= k
                self.wfile.write(b"0\r\n\r\n")
                return
            return self.send(200, b"x" * n)
        if p.startswith("/sse/"):
            return self.sse(p[5:])
        if p.startswith("/redirect/"):
            n = int(p.split("/")[2])
            if n == 0:
                return self.send(200, b"redirected")
            return self.send(302, b"", [("Location", "/redirect/%d" % (n - 1))])
        if p == "/redirect_ftp":
            return self.send(302, b"", [("Location", "ftp://127.0.0.1/file")])
        if p == "/headers":
            return self.send(200, b"h", [("X-Multi", "first"), ("X-Multi", "second"),
                                          ("X-Bin", "caf\u00e9"), ("X-Plain", "v  1")])
        if p == "/port":
            return self.send(200, str(self.client_address[1]).encode())
        if p == "/truncated":
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(b"0123456789")
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        return self.send(404, b"not found")

    def sse(self, name):
        status = 500 if name == "error500" else 200
        self.send_response(status)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        if name == "slow":
            for i in range(1000):
                self.wfile.write(b"data: tick %d\n\n" % i)
                self.wfile.flush()
                time.sleep(0.05)
            return
        if name == "error500":
            self.wfile.write(b"data: oops\n\n")
            return
        if name == "many":
            for i in range(2000):
                self.wfile.write(b"data: %d\n\n" % i)
            return
        for chunk in SSE[name]:
            self.wfile.write(chunk)
            self.wfile.flush()
            time.sleep(0.02)

    def __getattr__(self, name):
        if name.startswith("do_"):  # any method token
            return self.handle_any
        raise AttributeError(name)

    def handle_one_request(self):
        try:
            super().handle_one_request()
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self.close_connection = True


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256


def main():
    args = sys.argv[1:]
    cert = key = None
    if "--cert" in args:
        cert = args[args.index("--cert") + 1]
        key = args[args.index("--key") + 1]
    plain = Server(("127.0.0.1", 0), Handler)
    servers = [plain]
    tls_port = 0
    if cert:
        tls = Server(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        tls.socket = ctx.wrap_socket(tls.socket, server_side=True)
        tls_port = tls.server_address[1]
        servers.append(tls)
    for s in servers[1:]:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    print("PORTS %d %d" % (plain.server_address[1], tls_port), flush=True)
    plain.serve_forever()


if __name__ == "__main__":
    main()
