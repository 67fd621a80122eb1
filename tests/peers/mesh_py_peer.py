#!/usr/bin/python3
"""mesh_py_peer.py - an independent agent-mesh 0.3.2 peer, written from spec/mesh.md only.

Purpose: the project's mesh (its own RFC 6455 codec, relay, link, canonical JSON, signatures,
Noise XX) would otherwise be tested only against itself. This peer shares no code with it: the
WebSocket side is Debian's python3-websockets, Ed25519/X25519/ChaCha20-Poly1305 come from
python3-nacl (libsodium through nacl.bindings), BLAKE2s/HMAC/JSON/base64/UUID from the stdlib,
and the serde_json normal form (mesh §6) and Noise XX (mesh §9, Noise rev. 34) are implemented
here from the spec. It must run under /usr/bin/python3 (the Debian interpreter that sees the
python3-* packages).

Modes (every network wait is bounded; URLs are ws://127.0.0.1:PORT/ws in the tests):

  selftest
      Checks every Appendix A vector (identities, auth and revocation signatures, canonical
      bytes, envelope signatures and wire forms, the Noise XX transcript and transport
      ciphertexts) and the §6 number/string examples. Prints "selftest ok (N checks)"; exit 1 on
      any mismatch. Nothing else in this file is trusted before this passes.
  id SEED_HEX
      Prints the AgentId of a 32-byte seed (§3).
  serve URL SEED_HEX [--seconds S]
      Authenticates (§4.1), prints "serving <AgentId>", answers `request` envelopes with the
      fixed transform below (encrypted iff the request was, §8.1), acts as Noise responder
      (and reuses a session in either role, §9.3), answers undecryptable encrypted requests
      with a plaintext error {"error":"no_session"}. Stops after S seconds (default 60) or
      on SIGTERM, printing "serve done bad=<unverifiable envelopes> wire_diffs=<unexpected
      wire forms>". The transform:
        payload P (an object)  ->  response {"peer":"py","encrypted":<bool>,
                                     "text":P.text upper-cased,"num":P.num,"from":<sender>}
        P.fail present         ->  error {"error":"py_fail","capability":P.capability}
  request URL SEED_HEX TO_ID PAYLOAD_JSON [--plain] [--count N] [--timeout S] [--no-handshake]
      Sends N requests (default 1) to TO_ID, encrypted by default (Noise XX handshake first as
      initiator), and prints one line per reply: "reply <msg_type> <payload in normal form>".
      PAYLOAD_JSON may be @FILE (big payloads do not fit in one argument).
      --no-handshake sends a ciphertext under a made-up session (to provoke a no_session error).
      Exit 0 when every reply came, 2 on timeout, 1 on a protocol error.
  relay-probe URL
      Raw frames against a relay: auth success/failures and resume (§4), no extensions or
      subprotocol, routing, fragmented messages, Ping/Pong, self-delivery, relay-side
      re-canonicalization of non-normal-form payloads (§6, §7.1), silent drops of a forged
      signature, a spoofed `from` and a binary frame (§7.1), and the offline buffer (§7.3).
      Prints "ok <case>" or "FAIL <case>: <why>"; exit 1 if any failed.
  relay-idle URL SECONDS
      An agent that stays silent for SECONDS (answering the relay's Pings, which it counts and
      prints as "pings N") must still receive an envelope afterwards (§7.4).

Every received envelope is parsed into typed values, re-serialized in normal form and its
signature verified (as the Rust receivers do); an envelope that fails is reported on stderr as
"py: bad envelope: ..." and dropped. A received wire text that differs from this peer's own
wire serialization of the same values (§5 field order, normal-form payload) is reported on
stderr as "py: wire form differs: ...".
"""

import asyncio
import base64
import decimal
import hashlib
import hmac
import json
import logging
import math
import re
import signal
import sys
import time
import uuid

import nacl.bindings as sodium
import nacl.exceptions
import websockets
import websockets.exceptions

# ---------------------------------------------------------------------------------------------
# Encodings (mesh §3)

B64U_RE = re.compile(r"^[A-Za-z0-9_-]*$")


def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64u(text):
    """Strict base64url without padding: no '=', no other alphabet, zero trailing bits."""
    if not isinstance(text, str) or not B64U_RE.match(text) or len(text) % 4 == 1:
        raise ValueError("bad base64url")
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if b64u(raw) != text:
        raise ValueError("base64url has non-zero trailing bits")
    return raw


class Identity:
    def __init__(self, seed):
        if len(seed) != 32:
            raise ValueError("seed must be 32 bytes")
        self.pk, self.sk = sodium.crypto_sign_seed_keypair(seed)
        self.agent_id = b64u(self.pk)

    def sign(self, data):
        return sodium.crypto_sign(data, self.sk)[:64]


def verify(agent_id, data, sig):
    """True iff sig (64 raw bytes) is agent_id's Ed25519 signature over data."""
    try:
        pk = unb64u(agent_id)
        if len(pk) != 32 or len(sig) != 64:
            return False
        sodium.crypto_sign_open(sig + data, pk)
        return True
    except (ValueError, nacl.exceptions.CryptoError):
        return False


def new_uuid():
    return str(uuid.uuid4())


def now_ms():
    return int(time.time() * 1000)


# ---------------------------------------------------------------------------------------------
# serde_json normal form (mesh §6)

I64_MIN, U64_MAX = -(2**63), 2**64 - 1
MAX_DEPTH = 128


class JsonError(ValueError):
    pass


def _parse_int(s):
    if s == "-0":
        return -0.0  # rule 3: -0 is the float -0.0
    v = int(s)
    if I64_MIN <= v <= U64_MAX:
        return v
    return _parse_float(s)  # beyond u64/i64: a float


def _parse_float(s):
    v = float(s)
    if math.isinf(v):
        raise JsonError("number out of range")
    return v


def _no_constant(s):
    raise JsonError("invalid number " + s)


def parse_json(text):
    """Parses JSON text into Python values with serde_json's number typing (int stays int only
    within i64/u64, -0 and out-of-range integers become floats); last duplicate key wins."""
    try:
        return json.loads(text, parse_int=_parse_int, parse_float=_parse_float,
                          parse_constant=_no_constant)
    except JsonError:
        raise
    except (ValueError, RecursionError) as e:
        raise JsonError(str(e)) from None


def fmt_float(x):
    """Shortest round-trip digits laid out as serde_json 1.0.149 does (§6 rule 4)."""
    if math.isnan(x) or math.isinf(x):
        raise JsonError("NaN/Infinity cannot be serialized")
    if x == 0.0:
        return "-0.0" if math.copysign(1.0, x) < 0 else "0.0"
    sign = "-" if x < 0 else ""
    t = decimal.Decimal(repr(abs(x))).normalize().as_tuple()  # repr: shortest round trip
    digits, exp = "".join(map(str, t.digits)), t.exponent
    # value = digits × 10^exp; scientific exponent e: value = d.ddd × 10^e
    e = exp + len(digits) - 1
    if -5 <= e <= 15:
        if e >= 0:
            if len(digits) <= e + 1:
                return sign + digits + "0" * (e + 1 - len(digits)) + ".0"
            return sign + digits[: e + 1] + "." + digits[e + 1:]
        return sign + "0." + "0" * (-e - 1) + digits
    mant = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    return sign + mant + "e" + ("-" if e < 0 else "+") + str(abs(e))


_ESC = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r",
        "\t": "\\t"}


def fmt_string(s):
    out = ['"']
    for ch in s:
        if ch in _ESC:
            out.append(_ESC[ch])
        elif ord(ch) < 0x20:
            out.append("\\u%04x" % ord(ch))
        else:
            out.append(ch)
    out.append('"')
    r = "".join(out)
    try:
        r.encode("utf-8")
    except UnicodeEncodeError:
        raise JsonError("lone surrogate in string") from None
    return r


def canon(v, depth=0):
    """The serde_json compact normal form of a parsed value (keys sorted byte-wise over UTF-8)."""
    if depth > MAX_DEPTH:
        raise JsonError("recursion limit exceeded")
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return fmt_float(v)
    if isinstance(v, str):
        return fmt_string(v)
    if isinstance(v, list):
        return "[" + ",".join(canon(x, depth + 1) for x in v) + "]"
    if isinstance(v, dict):
        items = sorted(v.items(), key=lambda kv: kv[0].encode("utf-8", "surrogatepass"))
        return "{" + ",".join(fmt_string(k) + ":" + canon(x, depth + 1) for k, x in items) + "}"
    raise JsonError("unsupported type %r" % type(v))


# ---------------------------------------------------------------------------------------------
# The envelope (mesh §5, §6)

MSG_TYPES = ("request", "response", "error", "control", "handshake", "stream_request",
             "stream_chunk", "stream_end", "cancel")


class Envelope:
    def __init__(self, id, frm, to, msg_type, payload, in_reply_to=None, encrypted=False,
                 timestamp=None, signature=None):
        self.id, self.frm, self.to, self.msg_type = id, frm, to, msg_type
        self.payload, self.in_reply_to, self.encrypted = payload, in_reply_to, encrypted
        self.timestamp = now_ms() if timestamp is None else timestamp
        self.signature = signature

    def canonical(self):
        """The exact bytes the signature covers (§6)."""
        s = '{"id":%s,"from":%s,"to":%s,"msg_type":%s,"in_reply_to":%s,"payload":%s,' \
            '"encrypted":%s,"timestamp":%d}' % (
                fmt_string(self.id), fmt_string(self.frm), fmt_string(self.to),
                fmt_string(self.msg_type),
                "null" if self.in_reply_to is None else fmt_string(self.in_reply_to),
                canon(self.payload), "true" if self.encrypted else "false", self.timestamp)
        return s.encode("utf-8")

    def sign(self, ident):
        self.signature = b64u(ident.sign(self.canonical()))
        return self

    def wire(self):
        """The wire form as the Rust serializer emits it (§5 order, omissions)."""
        parts = ['"id":' + fmt_string(self.id), '"from":' + fmt_string(self.frm),
                 '"to":' + fmt_string(self.to), '"msg_type":' + fmt_string(self.msg_type)]
        if self.in_reply_to is not None:
            parts.append('"in_reply_to":' + fmt_string(self.in_reply_to))
        parts.append('"payload":' + canon(self.payload))
        if self.encrypted:
            parts.append('"encrypted":true')
        parts.append('"signature":' + fmt_string(self.signature))
        parts.append('"timestamp":%d' % self.timestamp)
        return "{" + ",".join(parts) + "}"

    def verify(self):
        try:
            sig = unb64u(self.signature)
        except ValueError:
            return False
        return verify(self.frm, self.canonical(), sig)


def _uuid_field(v, name):
    if not isinstance(v, str):
        raise JsonError(name + " is not a string")
    try:
        return str(uuid.UUID(v))  # any accepted spelling, re-serialized lowercase hyphenated
    except ValueError:
        raise JsonError(name + " is not a UUID") from None


def parse_envelope(text):
    """Parses a wire envelope into typed values (raises JsonError on anything malformed)."""
    o = parse_json(text)
    if not isinstance(o, dict):
        raise JsonError("envelope is not an object")
    for k in ("id", "from", "to", "msg_type", "payload", "signature", "timestamp"):
        if k not in o:
            raise JsonError("missing field " + k)
    for k in ("from", "to", "signature"):
        if not isinstance(o[k], str):
            raise JsonError(k + " is not a string")
    if o["msg_type"] not in MSG_TYPES:
        raise JsonError("unknown msg_type")
    ts = o["timestamp"]
    if isinstance(ts, bool) or not isinstance(ts, int) or not I64_MIN <= ts < 2**63:
        raise JsonError("timestamp is not an i64")
    irt = o.get("in_reply_to")
    enc = o.get("encrypted", False)
    if not isinstance(enc, bool):
        raise JsonError("encrypted is not a bool")
    canon(o["payload"])  # depth and string checks
    return Envelope(_uuid_field(o["id"], "id"), o["from"], o["to"], o["msg_type"], o["payload"],
                    None if irt is None else _uuid_field(irt, "in_reply_to"), enc, ts,
                    o["signature"])


# ---------------------------------------------------------------------------------------------
# Noise XX (mesh §9): Noise_XX_25519_ChaChaPoly_BLAKE2s, empty prologue and payloads

PROTOCOL = b"Noise_XX_25519_ChaChaPoly_BLAKE2s"
DHLEN = HASHLEN = 32
MAX_NOISE_MSG = 65535


def _hash(data):
    return hashlib.blake2s(data).digest()


def _hmac(key, data):
    return hmac.new(key, data, hashlib.blake2s).digest()


def _hkdf2(ck, ikm):
    tk = _hmac(ck, ikm)
    o1 = _hmac(tk, b"\x01")
    return o1, _hmac(tk, o1 + b"\x02")


def _nonce(n):
    return b"\x00" * 4 + n.to_bytes(8, "little")


class KeyPair:
    def __init__(self, priv=None):
        self.priv = priv if priv is not None else sodium.randombytes(32)
        self.pub = sodium.crypto_scalarmult_base(self.priv)


def _dh(kp, pub):
    return sodium.crypto_scalarmult(kp.priv, pub)


class CipherState:
    def __init__(self, k=None):
        self.k, self.n = k, 0

    def encrypt(self, ad, pt):
        if self.k is None:
            return pt
        ct = sodium.crypto_aead_chacha20poly1305_ietf_encrypt(pt, ad, _nonce(self.n), self.k)
        self.n += 1
        return ct

    def decrypt(self, ad, ct):
        """Raises CryptoError on a bad tag; the counter advances only on success (§9.3)."""
        if self.k is None:
            return ct
        pt = sodium.crypto_aead_chacha20poly1305_ietf_decrypt(ct, ad, _nonce(self.n), self.k)
        self.n += 1
        return pt


class Handshake:
    """One side of an XX handshake: -> e; <- e, ee, s, es; -> s, se."""

    def __init__(self, initiator, s=None, e=None):
        self.initiator = initiator
        self.s = s if s is not None else KeyPair()
        self.e_fixed = e
        self.e = self.re = self.rs = None
        if len(PROTOCOL) <= HASHLEN:
            self.h = PROTOCOL + b"\x00" * (HASHLEN - len(PROTOCOL))
        else:
            self.h = _hash(PROTOCOL)
        self.ck = self.h
        self.cs = CipherState()
        self.mix_hash(b"")  # empty prologue
        self.step = 0

    def mix_hash(self, data):
        self.h = _hash(self.h + data)

    def mix_key(self, ikm):
        self.ck, k = _hkdf2(self.ck, ikm)
        self.cs = CipherState(k)

    def enc_hash(self, pt):
        ct = self.cs.encrypt(self.h, pt)
        self.mix_hash(ct)
        return ct

    def dec_hash(self, ct):
        pt = self.cs.decrypt(self.h, ct)
        self.mix_hash(ct)
        return pt

    def _new_e(self):
        self.e = self.e_fixed if self.e_fixed is not None else KeyPair()
        self.mix_hash(self.e.pub)
        return self.e.pub

    def write(self):
        if self.initiator and self.step == 0:  # -> e
            out = self._new_e() + self.enc_hash(b"")
        elif not self.initiator and self.step == 1:  # <- e, ee, s, es
            out = self._new_e()
            self.mix_key(_dh(self.e, self.re))
            out += self.enc_hash(self.s.pub)
            self.mix_key(_dh(self.s, self.re))
            out += self.enc_hash(b"")
        elif self.initiator and self.step == 2:  # -> s, se
            out = self.enc_hash(self.s.pub)
            self.mix_key(_dh(self.s, self.re))
            out += self.enc_hash(b"")
        else:
            raise ValueError("handshake: not our turn to write")
        self.step += 1
        return out

    def read(self, msg):
        if not self.initiator and self.step == 0:  # -> e
            if len(msg) != 32:
                raise ValueError("handshake msg1 must be 32 bytes")
            self.re = msg[:32]
            self.mix_hash(self.re)
            self.dec_hash(msg[32:])
        elif self.initiator and self.step == 1:  # <- e, ee, s, es
            if len(msg) != 96:
                raise ValueError("handshake msg2 must be 96 bytes")
            self.re = msg[:32]
            self.mix_hash(self.re)
            self.mix_key(_dh(self.e, self.re))
            self.rs = self.dec_hash(msg[32:80])
            self.mix_key(_dh(self.e, self.rs))
            self.dec_hash(msg[80:])
        elif not self.initiator and self.step == 2:  # -> s, se
            if len(msg) != 64:
                raise ValueError("handshake msg3 must be 64 bytes")
            self.rs = self.dec_hash(msg[:48])
            self.mix_key(_dh(self.e, self.rs))
            self.dec_hash(msg[48:])
        else:
            raise ValueError("handshake: not our turn to read")
        self.step += 1

    def done(self):
        return self.step == 3

    def split(self):
        """(send, recv) CipherStates: the initiator sends with the first key (§9.3)."""
        k1, k2 = _hkdf2(self.ck, b"")
        c1, c2 = CipherState(k1), CipherState(k2)
        return (c1, c2) if self.initiator else (c2, c1)


class Session:
    def __init__(self, hs):
        self.send, self.recv = hs.split()
        self.hash = hs.h

    def encrypt_json(self, value):
        pt = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        if len(pt) + 16 > MAX_NOISE_MSG:
            raise ValueError("encrypted payload too large")
        return b64u(self.send.encrypt(b"", pt))

    def decrypt_json(self, text):
        return parse_json(self.recv.decrypt(b"", unb64u(text)).decode("utf-8"))


# ---------------------------------------------------------------------------------------------
# Self-test against Appendix A (and the §6 examples)

SEED_A = bytes(range(32))
SEED_B = b"\x42" * 32
ID_A = "A6EHv_POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg"
ID_B = "IVL40Zt5HSRFMkLhXy6rbLfP-ntqXtMAl5YOBpiB2xI"
NONCE_AA = "qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqo"
SIG_AUTH = ("gMV3YggZR8ki0K9HZP23dLC5yoVmk35JJp81q2pnmW2klYGW8lKLvmTTrpD_b71Io9Kkxis3er-Unrfwsh-"
            "TBw")
SIG_REVOKE = ("0VnLLIAbKDrXuHZSWGHfYS6lw0pQz8WXC7ZMEqRnWVfNOMT6qfDlnVbo0d24eDyBIt-yJWrnvW7LBamvA"
              "O42Aw")
U = "00000000-0000-4000-8000-0000000000"  # + two hex digits

# (canonical bytes or None, wire text) for every envelope of A.1
A1_ENVELOPES = [
    ('{"id":"%s01","from":"%s","to":"%s","msg_type":"request","in_reply_to":null,"payload":'
     '{"capability":"echo","n":1,"text":"hi"},"encrypted":false,"timestamp":1700000000000}'
     % (U, ID_A, ID_B),
     '{"id":"%s01","from":"%s","to":"%s","msg_type":"request","payload":{"capability":"echo",'
     '"n":1,"text":"hi"},"signature":"VzrjCYGC8atwud41uENo6Pa4SmwkXlVBqyh1d63PVIbwdZw7iSnLxvpgz'
     'Y0l2pHALyBTobIaUWSMyJz-dBPUAQ","timestamp":1700000000000}' % (U, ID_A, ID_B)),
    ('{"id":"%s15","from":"%s","to":"%s","msg_type":"error","in_reply_to":"%s01","payload":'
     '{"capability":"echo","error":"acl_denied"},"encrypted":false,"timestamp":1700000000100}'
     % (U, ID_B, ID_A, U),
     '{"id":"%s15","from":"%s","to":"%s","msg_type":"error","in_reply_to":"%s01","payload":'
     '{"capability":"echo","error":"acl_denied"},"signature":"EWAe9-X6soX1s-Z-6N8oDOiTjjfOxdrgl'
     '2U0_gku_-plCSCZ_1-Ume3QFriT38Sv4rad-ntNQvD7iDuOXaHQAQ","timestamp":1700000000100}'
     % (U, ID_B, ID_A, U)),
    ('{"id":"%s02","from":"%s","to":"%s","msg_type":"cancel","in_reply_to":"%s01","payload":'
     'null,"encrypted":false,"timestamp":1700000000500}' % (U, ID_A, ID_B, U),
     '{"id":"%s02","from":"%s","to":"%s","msg_type":"cancel","in_reply_to":"%s01","payload":'
     'null,"signature":"EYzoQsBqkB_ysoS6SFvdHa5CSAPDPyGZ2521kWJdR7YzL24JLhV8FyQgSujelraRvNJ0yOh'
     'Xk7BZhL7ThYYhBg","timestamp":1700000000500}' % (U, ID_A, ID_B, U)),
]
MSG1 = "D6poTtKIZ7l_Smot7l34zpdOdrcBjj8iocTPJnhXDyA"
MSG2 = ("_y7kVgHsG2cxDHeQQEWFrmlzMe7hwfjPJBlzHB__Pms0hEqzeLBtJjRlKh630rbGfCCCrxiLQd1efaV89kQ585"
        "5BZCUt7OhuA2ZbLIFw5zYmdYNyuVNjl38WF431sHz2")
MSG3 = ("dVN---mJ-4QGoNzOUtvsD4Mv1w88N6j277DYt0r8waV_BwAo-XsndIZWGefpVjV5ig9m8ae_GgUk16bWAUPt"
        "oA")
HS_HASH = "d8c98117de2824856612c13cda9c2dd1785d92bea9ec0d22eeaf930554676b3b"
CT_I0 = "Dhx5RjU5cb6etBJR2LGUravh1MYjiZHfHhnfPz59qmWE86qMwJbbtK6qE2hHg_NvNg"
CT_R0 = "8vmBsXoKR1N6sjT1AeOaQ5OQvlIYW4vXHjMm"
CT_I1 = "xqj83r5gm2iTjWKcr4WhoBjLBlUr-tpwWjm7OKRljH-67RScV4gomigVP2GGQETshA"
A1_NOISE_WIRE = [
    '{"id":"%s10","from":"%s","to":"%s","msg_type":"handshake","payload":"%s","signature":"2CJ2'
    'uCq5pz6rSQJ9KwxQn0L501-gZebyRRYwdDI5xxAROz96iPxgz1TicwzA8VXib3YeNm-SINQrOTG2T8arDg","timest'
    'amp":1700000001000}' % (U, ID_A, ID_B, MSG1),
    '{"id":"%s11","from":"%s","to":"%s","msg_type":"handshake","in_reply_to":"%s10","payload":"'
    '%s","signature":"7cBAqpKyB-NTl7mr40cqB-k4-uulG0VFAQxh5K-mRX6oV6OIix1wRmQQS4VlmeBZNZfJs6oGom'
    '2qxeVoolLNAg","timestamp":1700000001100}' % (U, ID_B, ID_A, U, MSG2),
    '{"id":"%s12","from":"%s","to":"%s","msg_type":"handshake","in_reply_to":"%s11","payload":"'
    '%s","signature":"8X6iQAKC3zGKGMp4eLhgIYgyCh1IgNnyPbQ8QGYBkrYBjdUusH0dHmHPZZf4nSs_c-4lsqhRhc'
    'aGVXdqwwjhBA","timestamp":1700000001200}' % (U, ID_A, ID_B, U, MSG3),
    '{"id":"%s13","from":"%s","to":"%s","msg_type":"request","payload":"%s","encrypted":true,"s'
    'ignature":"Lc2NM2K1zVVoJRt_hkOo3tRQWGFfg18i7GjD20Fr8s3PsHBxOaMgKOoIo8OlVo44qQLdZUeV2n0p2d27'
    '36A8CQ","timestamp":1700000001300}' % (U, ID_A, ID_B, CT_I0),
    '{"id":"%s14","from":"%s","to":"%s","msg_type":"response","in_reply_to":"%s13","payload":"'
    '%s","encrypted":true,"signature":"rW0T2fCnI2p9xbYh9Mdb0ic3uYmY1oVOeQQ9QwB60nMLhzTjoiF4j87DK'
    'w_E5f1TzMK3tMq3RAbnYhw-L6HnBQ","timestamp":1700000001400}' % (U, ID_B, ID_A, U, CT_R0),
]
A1_ENC_CANON = (
    '{"id":"%s13","from":"%s","to":"%s","msg_type":"request","in_reply_to":null,"payload":"%s",'
    '"encrypted":true,"timestamp":1700000001300}' % (U, ID_A, ID_B, CT_I0))
CANON_CASES = [
    ('{"b":1.5E20,"a":"x\\u0001y/\u00e9","c":[1,2.0,-0,1e16]}',
     '{"a":"x\\u0001y/\u00e9","b":1.5e+20,"c":[1,2.0,-0.0,1e+16]}'),
    ("100", "100"), ("100.0", "100.0"), ("1e2", "100.0"), ("0.001234", "0.001234"),
    ("1.5", "1.5"), ("1234567890123456", "1234567890123456"),
    ("1234567890123456.0", "1234567890123456.0"), ("0.00001", "0.00001"), ("1e16", "1e+16"),
    ("1.5e20", "1.5e+20"), ("0.000001", "1e-6"), ("6.62607015e-34", "6.62607015e-34"),
    ("0.0", "0.0"), ("-0.0", "-0.0"), ("-0", "-0.0"), ("18446744073709551615",
                                                         "18446744073709551615"),
    ("18446744073709551616", "1.8446744073709552e+19"),
    ("-9223372036854775808", "-9223372036854775808"),
    ("-9223372036854775809", "-9.223372036854776e+18"),
    ('"\\u00e9\\/\\b\\f\\n\\r\\t\\u001f\u007f\\""', '"\u00e9/\\b\\f\\n\\r\\t\\u001f\u007f\\""'),
    ('{"\u00e9":1,"z":2,"a":{"b":1,"a":2},"aa":3,"a":0}', '{"a":0,"aa":3,"z":2,"\u00e9":1}'),
]


def selftest():
    checks = [0]
    bad = []

    def check(name, got, want):
        checks[0] += 1
        if got != want:
            bad.append("%s:\n  got  %r\n  want %r" % (name, got, want))

    a, b = Identity(SEED_A), Identity(SEED_B)
    check("A public key", a.pk.hex(),
          "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8")
    check("A AgentId", a.agent_id, ID_A)
    check("B AgentId", b.agent_id, ID_B)
    check("AgentId length", len(a.agent_id), 43)
    check("nonce decodes to 0xAA", unb64u(NONCE_AA), b"\xaa" * 32)
    check("auth signature", b64u(a.sign(NONCE_AA.encode("ascii"))), SIG_AUTH)
    check("auth signature verifies", verify(ID_A, NONCE_AA.encode(), unb64u(SIG_AUTH)), True)
    check("revocation signature",
          b64u(a.sign(("%s:REVOKE:1700000000000" % ID_A).encode())), SIG_REVOKE)
    for raw, want in CANON_CASES:
        check("normal form of " + raw, canon(parse_json(raw)), want)
    for bad_b64 in ("A6EHv_POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbh", "qq==", "q+o", "q"):
        try:
            unb64u(bad_b64)
            check("base64url rejects " + bad_b64, "accepted", "rejected")
        except ValueError:
            check("base64url rejects " + bad_b64, "rejected", "rejected")

    keys = {ID_A: a, ID_B: b}
    for canonical, wire in A1_ENVELOPES:
        e = parse_envelope(wire)
        check("canonical bytes " + e.id, e.canonical().decode(), canonical)
        sig = e.signature
        check("signature " + e.id, e.sign(keys[e.frm]).signature, sig)
        check("wire form " + e.id, e.wire(), wire)
        check("verify " + e.id, e.verify(), True)
    for wire in A1_NOISE_WIRE:
        e = parse_envelope(wire)
        sig = e.signature
        check("signature " + e.id, e.sign(keys[e.frm]).signature, sig)
        check("wire form " + e.id, e.wire(), wire)
    check("encrypted request canonical", parse_envelope(A1_NOISE_WIRE[3]).canonical().decode(),
          A1_ENC_CANON)
    tampered = parse_envelope(A1_ENVELOPES[0][1])
    tampered.payload["n"] = 2
    check("tampered payload fails to verify", tampered.verify(), False)

    # A.2: the whole handshake with fixed keys, both roles
    ini = Handshake(True, KeyPair(b"\x11" * 32), KeyPair(b"\x22" * 32))
    res = Handshake(False, KeyPair(b"\x33" * 32), KeyPair(b"\x44" * 32))
    m1 = ini.write()
    res.read(m1)
    m2 = res.write()
    ini.read(m2)
    m3 = ini.write()
    res.read(m3)
    check("msg1", b64u(m1), MSG1)
    check("msg2", b64u(m2), MSG2)
    check("msg3", b64u(m3), MSG3)
    check("handshake hash (initiator)", ini.h.hex(), HS_HASH)
    check("handshake hash (responder)", res.h.hex(), HS_HASH)
    check("initiator learned the responder static", ini.rs, KeyPair(b"\x33" * 32).pub)
    check("responder learned the initiator static", res.rs, KeyPair(b"\x11" * 32).pub)
    si, sr = Session(ini), Session(res)
    req = {"capability": "echo", "text": "hi"}
    c0 = si.encrypt_json(req)
    check("I->R nonce 0", c0, CT_I0)
    check("R decrypts nonce 0", sr.decrypt_json(c0), req)
    r0 = sr.encrypt_json({"ok": True})
    check("R->I nonce 0", r0, CT_R0)
    check("I decrypts R nonce 0", si.decrypt_json(r0), {"ok": True})
    c1 = si.encrypt_json(req)
    check("I->R nonce 1", c1, CT_I1)
    try:
        sr.recv.n = 0  # replaying at the wrong counter must fail and not advance
        sr.decrypt_json(c1)
        check("wrong counter fails", "decrypted", "failed")
    except nacl.exceptions.CryptoError:
        check("wrong counter fails", sr.recv.n, 0)

    if bad:
        print("selftest FAILED (%d of %d checks):" % (len(bad), checks[0]))
        for x in bad:
            print("  " + x)
        return 1
    print("selftest ok (%d checks)" % checks[0])
    return 0


# ---------------------------------------------------------------------------------------------
# The peer: one authenticated connection to a relay (mesh §4, §8, §9)


def log(*args):
    print("py:", *args, file=sys.stderr, flush=True)


async def ws_connect(url, compression=None, logger=None):
    # No subprotocol, no extensions (as the Rust clients, §2); no client pings (§4.4, §7.4).
    return await websockets.connect(url, compression=compression, ping_interval=None,
                                    max_size=64 << 20, open_timeout=10, close_timeout=2,
                                    logger=logger)


async def recv_json(ws, timeout=10.0):
    text = await asyncio.wait_for(ws.recv(), timeout)
    if not isinstance(text, str):
        raise ValueError("expected a Text frame during auth")
    return json.loads(text)


async def authenticate(ws, ident):
    """Full challenge-response (§4.1); returns the AuthResult object."""
    await ws.send(json.dumps({"agent_id": ident.agent_id}))
    ch = await recv_json(ws)
    nonce = ch["nonce"]
    if len(nonce) != 43 or len(unb64u(nonce)) != 32:
        raise ValueError("nonce is not 32 bytes of base64url: %r" % nonce)
    await ws.send(json.dumps({"agent_id": ident.agent_id,
                              "signature": b64u(ident.sign(nonce.encode("ascii")))}))
    res = await recv_json(ws)
    if res.get("success") is not True:
        raise ValueError("auth failed: %r" % res)
    return res


class Peer:
    """An authenticated mesh agent: pending requests by id, Noise sessions by peer, and an
    optional request handler (serve)."""

    def __init__(self, ident, handler=None):
        self.ident = ident
        self.handler = handler
        self.ws = None
        self.pending = {}  # envelope id -> Future of the reply envelope (decrypted payload)
        self.sessions = {}  # peer AgentId -> Session
        self.responders = {}  # peer AgentId -> Handshake waiting for msg3
        self.initiators = {}  # msg1 envelope id -> (peer, Handshake)
        self.bad = 0
        self.wire_diffs = 0
        self.reader = None

    async def start(self, url):
        self.ws = await ws_connect(url)
        self.auth = await authenticate(self.ws, self.ident)
        self.reader = asyncio.ensure_future(self.read_loop())

    async def close(self):
        if self.reader:
            self.reader.cancel()
        if self.ws:
            await self.ws.close()

    async def send_env(self, env):
        await self.ws.send(env.sign(self.ident).wire())

    def envelope(self, to, msg_type, payload, in_reply_to=None, encrypted=False):
        return Envelope(new_uuid(), self.ident.agent_id, to, msg_type, payload, in_reply_to,
                        encrypted)

    async def read_loop(self):
        try:
            async for text in self.ws:
                if not isinstance(text, str):
                    log("binary frame ignored")
                    continue
                try:
                    await self.on_text(text)
                except Exception as e:  # one bad envelope never stops the peer
                    log("error handling envelope:", repr(e))
        except websockets.exceptions.ConnectionClosed:
            pass
        for f in self.pending.values():
            if not f.done():
                f.set_exception(ConnectionError("connection to the relay lost"))

    async def on_text(self, text):
        try:
            env = parse_envelope(text)
        except JsonError as e:
            self.bad += 1
            log("bad envelope: unparsable:", e)
            return
        if not env.verify():
            self.bad += 1
            log("bad envelope: signature does not verify:", env.id, "from", env.frm)
            return
        if env.wire() != text:
            self.wire_diffs += 1
            log("wire form differs:\n  got  %s\n  want %s" % (text, env.wire()))
        if env.to != self.ident.agent_id:
            log("envelope for someone else dropped:", env.to)
            return
        if env.msg_type == "handshake":
            await self.on_handshake(env)
            return
        if env.msg_type == "cancel":
            return
        payload, dec_err = env.payload, None
        if env.encrypted:  # decrypt now, in arrival order, whatever happens next (§9.3)
            s = self.sessions.get(env.frm)
            try:
                if s is None or not isinstance(env.payload, str):
                    raise ValueError("no session")
                payload = s.decrypt_json(env.payload)
            except (ValueError, nacl.exceptions.CryptoError) as e:
                dec_err = e
        fut = self.pending.pop(env.in_reply_to, None) if env.in_reply_to else None
        if fut is not None:
            if not fut.done():
                if dec_err is not None:
                    fut.set_exception(ValueError("cannot decrypt the reply: %r" % dec_err))
                else:
                    fut.set_result((env, payload))
            return
        if env.msg_type != "request":
            log("unmatched %s dropped" % env.msg_type)  # never reply to a reply (§16 Q4)
            return
        if dec_err is not None:
            await self.send_env(self.envelope(env.frm, "error", {"error": "no_session"}, env.id))
            return
        if self.handler is None:
            return
        kind, reply = self.handler(env, payload)
        if env.encrypted:
            reply = self.sessions[env.frm].encrypt_json(reply)
        await self.send_env(self.envelope(env.frm, kind, reply, env.id, env.encrypted))

    async def on_handshake(self, env):
        try:
            msg = unb64u(env.payload) if isinstance(env.payload, str) else b""
        except ValueError:
            msg = b""
        if env.in_reply_to is None and len(msg) == 32:  # msg1: (re)start as responder (§9.2)
            hs = Handshake(False)
            hs.read(msg)
            out = hs.write()
            self.responders[env.frm] = hs
            await self.send_env(self.envelope(env.frm, "handshake", b64u(out), env.id))
        elif env.in_reply_to in self.initiators and len(msg) == 96:  # msg2
            peer, hs = self.initiators.pop(env.in_reply_to)
            if peer != env.frm:
                log("handshake reply from the wrong peer dropped")
                return
            hs.read(msg)
            out = hs.write()
            await self.send_env(self.envelope(peer, "handshake", b64u(out), env.id))
            self.sessions[peer] = Session(hs)
            fut = self.pending.pop("hs:" + peer, None)
            if fut and not fut.done():
                fut.set_result(True)
        elif env.frm in self.responders and len(msg) == 64:  # msg3
            hs = self.responders.pop(env.frm)
            hs.read(msg)
            self.sessions[env.frm] = Session(hs)
            log("session established as responder with", env.frm)
        else:
            log("unexpected handshake message dropped (%d bytes)" % len(msg))

    async def handshake(self, peer, timeout):
        hs = Handshake(True)
        env = self.envelope(peer, "handshake", b64u(hs.write()))
        self.initiators[env.id] = (peer, hs)
        fut = asyncio.get_running_loop().create_future()
        self.pending["hs:" + peer] = fut
        await self.send_env(env)
        await asyncio.wait_for(fut, timeout)

    async def request(self, to, payload, encrypted=True, timeout=10.0):
        """Returns (reply envelope, decrypted payload)."""
        if encrypted and to not in self.sessions:
            await self.handshake(to, timeout)
        body = self.sessions[to].encrypt_json(payload) if encrypted else payload
        env = self.envelope(to, "request", body, None, encrypted)
        fut = asyncio.get_running_loop().create_future()
        self.pending[env.id] = fut
        await self.send_env(env)
        return await asyncio.wait_for(fut, timeout)


def serve_transform(env, payload):
    """The fixed transform of `serve` (see the top of the file)."""
    p = payload if isinstance(payload, dict) else {}
    if "fail" in p:
        return "error", {"error": "py_fail", "capability": p.get("capability", "unknown")}
    text = p.get("text")
    return "response", {"peer": "py", "encrypted": env.encrypted,
                        "text": text.upper() if isinstance(text, str) else None,
                        "num": p.get("num"), "from": env.frm}


async def cmd_serve(url, seed, seconds):
    peer = Peer(Identity(seed), serve_transform)
    await peer.start(url)
    print("serving " + peer.ident.agent_id, flush=True)
    stop = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.cancel)
    try:
        await asyncio.wait_for(asyncio.wait([peer.reader, stop],
                                            return_when=asyncio.FIRST_COMPLETED), seconds)
    except asyncio.TimeoutError:
        pass
    print("serve done bad=%d wire_diffs=%d" % (peer.bad, peer.wire_diffs), flush=True)
    await peer.close()
    return 0


async def cmd_request(url, seed, to, payload, encrypted, count, timeout, no_handshake):
    peer = Peer(Identity(seed))
    await peer.start(url)
    rc = 0
    try:
        if no_handshake:  # a ciphertext under a session the target never saw
            hs_i, hs_r = Handshake(True), Handshake(False)
            hs_r.read(hs_i.write())
            hs_i.read(hs_r.write())
            hs_r.read(hs_i.write())
            peer.sessions[to] = Session(hs_i)
        for _ in range(count):
            env, reply = await peer.request(to, payload, encrypted, timeout)
            print("reply %s %s%s" % (env.msg_type, canon(reply),
                                     " (encrypted)" if env.encrypted else ""), flush=True)
    except asyncio.TimeoutError:
        print("timeout", flush=True)
        rc = 2
    if peer.bad or peer.wire_diffs:
        print("bad=%d wire_diffs=%d" % (peer.bad, peer.wire_diffs), flush=True)
        rc = rc or 1
    await peer.close()
    return rc


# ---------------------------------------------------------------------------------------------
# relay-probe: raw frames against a relay (mesh §2, §4, §7)


class Probe:
    def __init__(self, url):
        self.url = url
        self.failures = 0

    def result(self, name, ok, why=""):
        print(("ok %s" % name) if ok else ("FAIL %s: %s" % (name, why)), flush=True)
        if not ok:
            self.failures += 1

    async def join(self, ident):
        ws = await ws_connect(self.url)
        res = await authenticate(ws, ident)
        return ws, res

    async def expect_closed(self, ws, timeout=10.0):
        """True iff the relay ends the socket without sending anything more."""
        try:
            msg = await asyncio.wait_for(ws.recv(), timeout)
            return "got %r" % msg
        except websockets.exceptions.ConnectionClosed:
            return True
        except asyncio.TimeoutError:
            return "still open after %.0f s" % timeout

    async def next_env(self, ws, timeout=10.0):
        text = await asyncio.wait_for(ws.recv(), timeout)
        env = parse_envelope(text)
        if not env.verify():
            raise ValueError("delivered envelope does not verify: " + text)
        return env, text

    async def run(self):
        a, b, c = Identity(SEED_A), Identity(SEED_B), Identity(b"\x07" * 32)
        await self.health()
        wa, ra = await self.auth_cases(a)
        wb, _ = await self.join(b)
        await self.routing_cases(a, b, c, wa, wb)
        await self.offline_buffer(a, c, wa)
        await self.resume_cases(a, b, ra["session_token"])
        await wa.close()
        await wb.close()
        return 1 if self.failures else 0

    async def health(self):
        host = self.url.split("//", 1)[1].split("/", 1)[0]
        h, p = host.rsplit(":", 1)
        r, w = await asyncio.open_connection(h, int(p))
        w.write(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = await asyncio.wait_for(r.read(), 5)
        w.close()
        self.result("GET /health is 200 ok", data.startswith(b"HTTP/1.1 200")
                    and data.endswith(b"\r\n\r\nok"), repr(data))

    async def auth_cases(self, a):
        # an offered permessage-deflate must be declined; no subprotocol is chosen (§2)
        ws = await ws_connect(self.url, compression="deflate")
        hdrs = ws.response_headers
        self.result("upgrade declines extensions and subprotocols",
                    "Sec-WebSocket-Extensions" not in hdrs and ws.subprotocol is None,
                    repr(dict(hdrs)))
        await ws.send(json.dumps({"agent_id": a.agent_id}))
        ch = await recv_json(ws)
        nonce = ch.get("nonce", "")
        ok = len(nonce) == 43 and len(unb64u(nonce)) == 32 and list(ch) == ["nonce"]
        self.result("AuthChallenge is 32 bytes of base64url", ok, repr(ch))
        await ws.send(json.dumps({"agent_id": a.agent_id,
                                  "signature": b64u(a.sign(nonce.encode()))}))
        res = await recv_json(ws)
        tok = res.get("session_token", "")
        ok = (res.get("success") is True and "error" not in res and len(tok) == 36
              and str(uuid.UUID(tok)) == tok and uuid.UUID(tok).version == 4)
        self.result("AuthResult success with a lowercase UUID v4 token", ok, repr(res))
        pong = await ws.ping(b"probe")
        try:
            await asyncio.wait_for(pong, 5)
            self.result("Ping after auth is answered by a Pong", True)
        except asyncio.TimeoutError:
            self.result("Ping after auth is answered by a Pong", False, "no pong in 5 s")

        async def failing(name, response_of, want_prefix):
            w = await ws_connect(self.url)
            await w.send(json.dumps({"agent_id": a.agent_id}))
            n = (await recv_json(w))["nonce"]
            await w.send(json.dumps(response_of(n)))
            r = await recv_json(w)
            err = r.get("error", "")
            self.result(name, r.get("success") is False and err.startswith(want_prefix)
                        and "session_token" not in r, repr(r))
            closed = await self.expect_closed(w)
            self.result(name + ", then the socket is dropped", closed is True, closed)

        await failing("signature over the decoded nonce is refused",
                      lambda n: {"agent_id": a.agent_id,
                                 "signature": b64u(a.sign(unb64u(n)))},
                      "nonce signature invalid: ")
        await failing("AuthResponse for another agent_id is refused",
                      lambda n: {"agent_id": ID_B, "signature": b64u(a.sign(n.encode()))},
                      "agent_id mismatch")
        await failing("a 63-byte signature is refused",
                      lambda n: {"agent_id": a.agent_id,
                                 "signature": b64u(a.sign(n.encode())[:63])},
                      "signature must be 64 bytes")
        await failing("an AuthResponse without signature is refused",
                      lambda n: {"agent_id": a.agent_id}, "no response")
        w = await ws_connect(self.url)
        await w.send('{"hello":"relay"}')
        closed = await self.expect_closed(w)
        self.result("a first frame that is no auth message gets no answer", closed is True,
                    closed)
        return ws, res

    async def routing_cases(self, a, b, c, wa, wb):
        # plaintext request A -> B, delivered as one Text frame that verifies
        e = Envelope(new_uuid(), a.agent_id, b.agent_id, "request",
                     {"capability": "echo", "text": "hi", "n": 1}).sign(a)
        await wa.send(e.wire())
        got, text = await self.next_env(wb)
        self.result("an envelope is routed to its target unchanged",
                    got.id == e.id and got.payload == e.payload and text == e.wire(), text)

        # a non-normal-form payload signed over its normal form: the relay must parse and
        # re-canonicalize before verifying (§6, §7.1), like the Rust relay
        raw = ('{"b":1.5E20,"a":"x\\u0001y/\\u00e9","c":[1,2.0,-0,1e16],"u":18446744073709551615,'
               '"big":18446744073709551616, "z" : {"y":1,"x":[true,false,null]}}')
        e = Envelope(new_uuid(), a.agent_id, b.agent_id, "request", parse_json(raw)).sign(a)
        wire = e.wire().replace('"payload":' + canon(e.payload), '"payload":' + raw)
        wire = wire.replace('"id":' + fmt_string(e.id), '"id":"%s"' % e.id.upper())
        assert wire != e.wire()
        await wa.send(wire)
        try:
            got, text = await self.next_env(wb)
            self.result("a payload in another spelling is verified in normal form",
                        got.id == e.id and canon(got.payload) == canon(e.payload), text)
        except asyncio.TimeoutError:
            self.result("a payload in another spelling is verified in normal form", False,
                        "not delivered (the relay's canonical bytes differ from §6)")

        # a fragmented message (3 frames) is reassembled (§2)
        e = Envelope(new_uuid(), a.agent_id, b.agent_id, "request", {"frag": "x" * 3000}).sign(a)
        w = e.wire()
        await wa.send([w[:1000], w[1000:2000], w[2000:]])
        got, text = await self.next_env(wb)
        self.result("a fragmented message is reassembled", text == w, text[:80])

        # silent drops: a forged signature, a spoofed from, a binary frame; the next honest
        # envelope is the next thing the target sees (per-sender order, §7.2)
        forged = Envelope(new_uuid(), a.agent_id, b.agent_id, "request", {"n": 1}).sign(a)
        forged.payload = {"n": 2}
        await wa.send(forged.wire())
        spoof = Envelope(new_uuid(), c.agent_id, b.agent_id, "request", {"spoof": 1}).sign(c)
        await wa.send(spoof.wire())
        await wa.send(b"\x00binary")
        await wa.send('{"not":"an envelope"}')
        marker = Envelope(new_uuid(), a.agent_id, b.agent_id, "request", {"marker": 1}).sign(a)
        await wa.send(marker.wire())
        got, text = await self.next_env(wb)
        self.result("forged, spoofed, binary and invalid frames are dropped silently",
                    got.id == marker.id, text)
        try:
            extra = await asyncio.wait_for(wa.recv(), 0.5)
            self.result("the relay never answers the sender", False, repr(extra))
        except asyncio.TimeoutError:
            self.result("the relay never answers the sender", True)

        # to == from is delivered back to the sender (§7.1)
        e = Envelope(new_uuid(), a.agent_id, a.agent_id, "request", {"self": True}).sign(a)
        await wa.send(e.wire())
        got, _ = await self.next_env(wa)
        self.result("an envelope to oneself comes back", got.id == e.id, got.id)

    async def offline_buffer(self, a, c, wa):
        sent = []
        for i in range(3):
            e = Envelope(new_uuid(), a.agent_id, c.agent_id, "request", {"i": i}).sign(a)
            sent.append(e.id)
            await wa.send(e.wire())
        await asyncio.sleep(1.0)  # let the relay buffer them before C appears (the shell test
        # checks the relay's flushed counter)
        wc, _ = await self.join(c)
        got = []
        try:
            for _ in range(3):
                env, _ = await self.next_env(wc)
                got.append(env.id)
        except asyncio.TimeoutError:
            pass
        self.result("the offline buffer is flushed in order on auth", got == sent,
                    "%r != %r" % (got, sent))
        await wc.close()

    async def resume_cases(self, a, b, token):
        async def resume(agent_id, tok):
            w = await ws_connect(self.url)
            await w.send(json.dumps({"agent_id": agent_id, "session_token": tok}))
            return w, await recv_json(w)

        w, r = await resume(a.agent_id, token)
        tok = r.get("session_token", "")
        self.result("AuthResume with a fresh token succeeds with a new token",
                    r.get("success") is True and tok != token and uuid.UUID(tok).version == 4,
                    repr(r))
        # the resumed socket is the delivery target now
        e = Envelope(new_uuid(), b.agent_id, a.agent_id, "request", {"resumed": 1}).sign(b)
        wb2, _ = await self.join(b)
        await wb2.send(e.wire())
        got, _ = await self.next_env(w)
        self.result("a resumed connection receives envelopes", got.id == e.id, got.id)
        await w.close()
        await wb2.close()
        for name, agent, tk in (("an unknown token", a.agent_id, new_uuid()),
                                ("another agent's token", b.agent_id, token)):
            w, r = await resume(agent, tk)
            self.result("AuthResume with %s is refused" % name,
                        r == {"success": False, "error": "invalid or expired session token"},
                        repr(r))
            closed = await self.expect_closed(w)
            self.result("AuthResume with %s, then the socket is dropped" % name,
                        closed is True, closed)


async def cmd_relay_probe(url):
    return await Probe(url).run()


class PingCounter(logging.Handler):
    """Counts the Ping frames websockets reports receiving (it answers them by itself)."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.pings = 0

    def emit(self, record):
        if record.msg == "< %s" and str(record.args[0]).startswith("PING"):
            self.pings += 1


async def cmd_relay_idle(url, seconds):
    """An authenticated agent that only answers the relay's Pings for SECONDS must still be
    routable afterwards (§7.4)."""
    counter = PingCounter()
    lg = logging.getLogger("mesh_py_peer.idle")
    lg.setLevel(logging.DEBUG)
    lg.propagate = False
    lg.addHandler(counter)
    a, b = Identity(b"\x09" * 32), Identity(b"\x0a" * 32)
    wa = await ws_connect(url, logger=lg)
    await authenticate(wa, a)
    await asyncio.sleep(seconds)
    wb = await ws_connect(url)
    await authenticate(wb, b)
    e = Envelope(new_uuid(), b.agent_id, a.agent_id, "request", {"after_idle": True}).sign(b)
    await wb.send(e.wire())
    try:
        got = parse_envelope(await asyncio.wait_for(wa.recv(), 10))
        ok = got.id == e.id and got.verify()
    except (asyncio.TimeoutError, websockets.exceptions.ConnectionClosed) as x:
        ok = False
        print("idle peer lost: %r" % x)
    print("pings %d" % counter.pings)
    print(("ok" if ok else "FAIL") + " an idle peer that answers Pings stays routable", flush=True)
    await wa.close()
    await wb.close()
    return 0 if ok else 1


# ---------------------------------------------------------------------------------------------


def usage():
    print(__doc__.split("Modes")[1].split("Every received")[0], file=sys.stderr)
    return 64


def main(argv):
    if not argv:
        return usage()
    mode, args = argv[0], argv[1:]
    opts = {}
    pos = []
    i = 0
    while i < len(args):
        if args[i] in ("--seconds", "--count", "--timeout"):
            opts[args[i]] = float(args[i + 1])
            i += 2
        elif args[i].startswith("--"):
            opts[args[i]] = True
            i += 1
        else:
            pos.append(args[i])
            i += 1
    if mode == "selftest":
        return selftest()
    if mode == "id" and len(pos) == 1:
        print(Identity(bytes.fromhex(pos[0])).agent_id)
        return 0
    if mode == "serve" and len(pos) == 2:
        return asyncio.run(cmd_serve(pos[0], bytes.fromhex(pos[1]), opts.get("--seconds", 60)))
    if mode == "request" and len(pos) == 4:
        body = open(pos[3][1:]).read() if pos[3].startswith("@") else pos[3]
        return asyncio.run(cmd_request(pos[0], bytes.fromhex(pos[1]), pos[2], parse_json(body),
                                       not opts.get("--plain"), int(opts.get("--count", 1)),
                                       opts.get("--timeout", 10), opts.get("--no-handshake")))
    if mode == "relay-idle" and len(pos) == 2:
        return asyncio.run(asyncio.wait_for(cmd_relay_idle(pos[0], float(pos[1])), 60))
    if mode == "relay-probe" and len(pos) == 1:
        return asyncio.run(asyncio.wait_for(cmd_relay_probe(pos[0]), 60))
    return usage()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
