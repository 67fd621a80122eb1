#!/usr/bin/env bash
# http_peer.sh - runs the http.request fixtures (tests/peer/*.lua) against a real local peer:
# tests/peers/http_peer.py on 127.0.0.1 (HTTP and HTTPS with a self-signed certificate made
# here with the openssl CLI). Exports HTTP_PEER, HTTPS_PEER (and SSL_CERT_FILE for fixtures
# named *_ca.lua only, so the others see the system roots and must refuse the certificate).
# Needs AB_BIN and AB_SRC.
set -euo pipefail

: "${AB_BIN:?AB_BIN must point at the agent-block binary}"
: "${AB_SRC:?AB_SRC must point at the source tree}"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ab-http-peer.XXXXXX")
peer_pid=
cleanup() {
    if [ -n "$peer_pid" ]; then
        kill "$peer_pid" 2>/dev/null || true
        wait "$peer_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY \
    SSL_CERT_FILE

openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=127.0.0.1" \
    -addext "subjectAltName=IP:127.0.0.1" -keyout "$tmp/key.pem" -out "$tmp/cert.pem" \
    >/dev/null 2>&1

python3 "$AB_SRC/tests/peers/http_peer.py" --cert "$tmp/cert.pem" --key "$tmp/key.pem" \
    >"$tmp/ports" 2>"$tmp/peer.err" &
peer_pid=$!
for _ in $(seq 1 100); do
    [ -s "$tmp/ports" ] && break
    sleep 0.05
done
read -r _ http_port https_port <"$tmp/ports" || { echo "peer did not start" >&2; cat "$tmp/peer.err" >&2; exit 1; }
export HTTP_PEER="http://127.0.0.1:$http_port"
export HTTPS_PEER="https://127.0.0.1:$https_port"
export HTTPS_PEER_PORT="$https_port"

failures=0
for fx in "$AB_SRC"/tests/peer/*.lua; do
    name=$(basename "$fx" .lua)
    rc=0
    if [[ "$name" == *_ca ]]; then
        SSL_CERT_FILE="$tmp/cert.pem" timeout 90 python3 "$AB_SRC/tests/e2e/run_fixture.py" \
            "$AB_BIN" "$fx" >"$tmp/out" 2>&1 || rc=$?
    else
        timeout 90 python3 "$AB_SRC/tests/e2e/run_fixture.py" "$AB_BIN" "$fx" >"$tmp/out" 2>&1 \
            || rc=$?
    fi
    if [ "$rc" -ne 0 ]; then
        echo "FAIL: $name" >&2
        cat "$tmp/out" >&2
        failures=$((failures + 1))
    else
        echo "ok: $name"
    fi
done
kill -0 "$peer_pid" 2>/dev/null || { echo "FAIL: the peer died" >&2; cat "$tmp/peer.err" >&2; failures=$((failures + 1)); }
[ "$failures" -eq 0 ] || { echo "$failures fixture(s) failed" >&2; exit 1; }
echo "all http peer fixtures passed"
