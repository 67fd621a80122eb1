#!/usr/bin/python3
"""fake_relay.py - a hostile mesh relay for tests/cli/mesh_link_fake_relay.sh (stdlib only).

    fake_relay.py SCENARIO [SCENARIO...]

Listens on an ephemeral 127.0.0.1 port, prints "fake relay listening on PORT", then plays
scenario i on the i-th accepted connection (the last one repeats). Every event is printed as
"conn N: ..." so the test can assert what the link did. A scenario is one of:

  garbage             answers the upgrade request with "garbage\\r\\n\\r\\n"
  http_error          answers it with "HTTP/1.1 403 Forbidden"
  endless_head        a 101 status line followed by 16 KiB of header without an end
  silent              accepts the TCP connection and never answers
  silent_upgraded     upgrades, reads the hello and never answers
  big_before_auth     upgrades and sends a 2 MiB frame header (and 64 KiB of it)
  nonjson_challenge   upgrades, reads the hello, sends the text frame "not json"
  auth_error          full challenge, then {"success":false,"error":"nonce signature invalid: forged"}
  no_token            full challenge, then {"success":true} (no session_token), then echoes
  echo                auth (challenge or resume) with a token, then echoes every text frame back
                      (envelopes addressed to the agent itself come back as a relay would route
                      them)
  ok_then_reserved    auth, then on the first text frame a frame with RSV1 set
  ok_then_big         auth, then on the first text frame (a request in flight) a whole 2 MiB text
                      frame and a 1.5 MiB text message in two fragments with a Ping "big"
                      between them (the link must drop both, answer the Ping and keep the
                      connection; its Pong is printed as "pong big"), then echoes every text
                      frame back, that request included, until the second request envelope,
                      which gets a frame with RSV1 set
  ok_then_junk        auth, then a non-JSON text frame, a binary frame and a JSON text without
                      `from`, then echoes

Nothing here verifies signatures (stdlib has no Ed25519): the agent is what is under test.
Every socket operation has a timeout and the process exits by itself after 170 s.
"""
import base64
import hashlib
import json
import os
import signal
import socket
import struct
import sys
import threading
import uuid

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
out_lock = threading.Lock()


def say(n, text):
    with out_lock:
        print(f"conn {n}: {text}", flush=True)


class Closed(Exception):
    pass


class Conn:
    def __init__(self, sock, n):
        self.s = sock
        self.n = n
        self.buf = b""

    def read_more(self):
        d = self.s.recv(65536)
        if not d:
            raise Closed()
        self.buf += d

    def read_head(self):
        while b"\r\n\r\n" not in self.buf:
            if len(self.buf) > 8192:
                raise Closed()
            self.read_more()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        return head.decode("latin-1")

    def upgrade(self):
        head = self.read_head()
        key = ""
        for line in head.split("\r\n")[1:]:
            name, _, val = line.partition(":")
            if name.strip().lower() == "sec-websocket-key":
                key = val.strip()
        acc = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
        self.s.sendall(
            (
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Accept: {acc}\r\n\r\n"
            ).encode()
        )
        say(self.n, "upgraded")

    def frame(self, op, data, first=None):
        b0 = first if first is not None else 0x80 | op
        n = len(data)
        if n < 126:
            hdr = struct.pack("!BB", b0, n)
        elif n < 65536:
            hdr = struct.pack("!BBH", b0, 126, n)
        else:
            hdr = struct.pack("!BBQ", b0, 127, n)
        self.s.sendall(hdr + data)

    def text(self, obj):
        self.frame(1, (obj if isinstance(obj, str) else json.dumps(obj)).encode())

    def big_frame(self):
        """A text frame declaring 2 MiB, of which 64 KiB are sent."""
        self.s.sendall(struct.pack("!BBQ", 0x81, 127, 2 << 20) + b"x" * 65536)

    def big_messages(self):
        """A whole 2 MiB text frame, then 768 KiB + Ping + 768 KiB as one fragmented text."""
        self.frame(1, b"x" * (2 << 20))
        self.frame(1, b"y" * (768 << 10), first=0x01)
        self.frame(9, b"big")
        self.frame(0, b"y" * (768 << 10))
        say(self.n, "big messages sent")

    def recv_msg(self):
        """The next text message (control frames answered or skipped)."""
        while True:
            while len(self.buf) < 2:
                self.read_more()
            b0, b1 = self.buf[0], self.buf[1]
            op, masked, ln = b0 & 15, b1 & 0x80, b1 & 0x7F
            off = 2
            if ln == 126:
                need = 4
            elif ln == 127:
                need = 10
            else:
                need = 2
            while len(self.buf) < need + (4 if masked else 0):
                self.read_more()
            if ln == 126:
                ln = struct.unpack("!H", self.buf[2:4])[0]
                off = 4
            elif ln == 127:
                ln = struct.unpack("!Q", self.buf[2:10])[0]
                off = 10
            mask = self.buf[off : off + 4] if masked else b"\0\0\0\0"
            off += 4 if masked else 0
            while len(self.buf) < off + ln:
                self.read_more()
            data = bytes(c ^ mask[i % 4] for i, c in enumerate(self.buf[off : off + ln]))
            self.buf = self.buf[off + ln :]
            if op == 8:
                raise Closed()
            if op == 9:
                self.frame(10, data)
                continue
            if op == 10:
                say(self.n, "pong " + data.decode(errors="replace"))
                continue
            if op == 1:
                return data.decode()

    def auth(self, token=True):
        first = json.loads(self.recv_msg())
        if "session_token" in first:
            say(self.n, "resume")
        else:
            say(self.n, "hello")
            self.text({"nonce": base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")})
            resp = json.loads(self.recv_msg())
            say(self.n, "response" if "signature" in resp else "bad response")
        ok = {"success": True}
        if token:
            ok["session_token"] = str(uuid.uuid4())
        self.text(ok)
        say(self.n, "authenticated")

    def echo(self):
        while True:
            m = self.recv_msg()
            say(self.n, "echo")
            self.text(m)

    def hold(self):
        """Keeps the socket until the peer closes it."""
        while True:
            self.read_more()
            self.buf = b""


def play(conn, scenario):
    c = conn
    if scenario == "silent":
        c.hold()
    if scenario == "garbage":
        c.read_head()
        c.s.sendall(b"garbage\r\n\r\n")
        c.hold()
    if scenario == "http_error":
        c.read_head()
        c.s.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
        c.hold()
    if scenario == "endless_head":
        c.read_head()
        c.s.sendall(b"HTTP/1.1 101 Switching Protocols\r\nX-Pad: " + b"a" * 16384)
        c.hold()
    c.upgrade()
    if scenario == "big_before_auth":
        c.big_frame()
        c.hold()
    if scenario == "silent_upgraded":
        first = json.loads(c.recv_msg())
        say(c.n, "resume, no answer" if "session_token" in first else "hello, no answer")
        c.hold()
    if scenario == "nonjson_challenge":
        c.recv_msg()
        c.text("not json")
        c.hold()
    if scenario == "auth_error":
        c.recv_msg()
        c.text({"nonce": "qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqo"})
        c.recv_msg()
        c.text({"success": False, "error": "nonce signature invalid: forged"})
        c.hold()
    c.auth(token=scenario != "no_token")
    if scenario == "ok_then_reserved":
        c.recv_msg()
        say(c.n, "request in flight")
        c.frame(1, b"{}", first=0xC1)
        c.hold()
    if scenario == "ok_then_big":
        m = c.recv_msg()
        say(c.n, "request in flight")
        c.big_messages()
        requests = 0
        while True:
            if json.loads(m).get("msg_type") == "request":
                requests += 1
                if requests == 2:
                    say(c.n, "second request")
                    c.frame(1, b"{}", first=0xC1)
                    c.hold()
            say(c.n, "echo")
            c.text(m)
            m = c.recv_msg()
    if scenario == "ok_then_junk":
        c.text("not json")
        c.frame(2, b"\x00\x01binary")
        c.text({"hello": 1})
    c.echo()


def serve(sock, n, scenario):
    sock.settimeout(120)
    say(n, f"accepted ({scenario})")
    try:
        play(Conn(sock, n), scenario)
    except (Closed, OSError, ValueError) as e:
        say(n, f"closed by the peer ({type(e).__name__})")
    finally:
        sock.close()


def main():
    scenarios = sys.argv[1:]
    if not scenarios:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    signal.signal(signal.SIGALRM, lambda *_: os._exit(3))
    signal.alarm(170)
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(16)
    print(f"fake relay listening on {ls.getsockname()[1]}", flush=True)
    n = 0
    while True:
        s, _ = ls.accept()
        n += 1
        sc = scenarios[min(n, len(scenarios)) - 1]
        threading.Thread(target=serve, args=(s, n, sc), daemon=True).start()


if __name__ == "__main__":
    main()
