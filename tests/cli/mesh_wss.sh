#!/usr/bin/env bash
# mesh_wss.sh - wss:// relay URLs against a real TLS peer: nginx on 127.0.0.1 terminates TLS
# with self-signed certificates made here by the openssl CLI and proxies WebSocket upgrades to
# `agent-block relay`. Checks: an untrusted certificate and a wrong host name fail the run with
# the connect error and its TLS reason (exit 1); with SSL_CERT_FILE naming the certificates,
# agent A (wss:// through nginx) and agent B (plain ws:// to the relay) exchange encrypted
# mesh.requests both ways; after nginx dies and comes back A reconnects over wss:// and is
# reachable again. Every wait is bounded. Needs AB_BIN, nginx and openssl.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

command -v nginx >/dev/null || { echo "nginx not installed (Makefile DEB_PACKAGES)" >&2; exit 1; }
command -v openssl >/dev/null || { echo "openssl not installed" >&2; exit 1; }
. "$here/lib/mesh.sh"
mesh_setup mesh-wss
mkdir -p "$tmp/ng"
unset SSL_CERT_FILE SSL_CERT_DIR

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# --- the relay (plain ws) ---
relay_wait=50 start_relay
rport=$port

# --- certificates: "good" names localhost, "wrong" names another host; trust.pem has both ---
for c in good:localhost wrong:wrong.example; do
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
        -subj "/CN=${c#*:}" -addext "subjectAltName=DNS:${c#*:}" \
        -keyout "$tmp/${c%%:*}.key" -out "$tmp/${c%%:*}.pem" 2>"$tmp/openssl.err" ||
        { cat "$tmp/openssl.err" >&2; fail "openssl req"; finish; }
done
cat "$tmp/good.pem" "$tmp/wrong.pem" >"$tmp/trust.pem"

# --- nginx: TLS on two loopback ports, WebSocket upgrades proxied to the relay ---
write_conf() {
    cat >"$tmp/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $tmp/ng/nginx.pid;
error_log $tmp/nginx.err info;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $tmp/ng/body;
    proxy_temp_path $tmp/ng/proxy;
    fastcgi_temp_path $tmp/ng/fastcgi;
    uwsgi_temp_path $tmp/ng/uwsgi;
    scgi_temp_path $tmp/ng/scgi;
    proxy_http_version 1.1;
    proxy_set_header Upgrade \$http_upgrade;
    proxy_set_header Connection "upgrade";
    proxy_read_timeout 600s;
    server {
        listen 127.0.0.1:$gport ssl;
        ssl_certificate $tmp/good.pem;
        ssl_certificate_key $tmp/good.key;
        location / { proxy_pass http://127.0.0.1:$rport; }
    }
    server {
        listen 127.0.0.1:$wport ssl;
        ssl_certificate $tmp/wrong.pem;
        ssl_certificate_key $tmp/wrong.key;
        location / { proxy_pass http://127.0.0.1:$rport; }
    }
}
EOF
}

# port_open PORT: 0 when something accepts TCP connections on 127.0.0.1:PORT.
port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# start_nginx: starts nginx on $gport/$wport and waits until both accept (sets nginx_pid).
start_nginx() {
    : >"$tmp/nginx.err"
    nginx -p "$tmp/ng/" -c "$tmp/nginx.conf" -e "$tmp/nginx.err" </dev/null >/dev/null 2>&1 &
    nginx_pid=$!
    pids+=("$nginx_pid")
    for _ in $(seq 100); do
        kill -0 "$nginx_pid" 2>/dev/null || return 1
        port_open "$gport" && port_open "$wport" && return 0
        sleep 0.1
    done
    return 1
}

started=0
for _ in 1 2 3; do # a free port can be taken between free_port and nginx's bind: retry
    gport=$(free_port)
    wport=$(free_port)
    write_conf
    if start_nginx; then
        started=1
        break
    fi
    kill -KILL "$nginx_pid" 2>/dev/null || true
    wait "$nginx_pid" 2>/dev/null || true
done
[ "$started" = 1 ] || { cat "$tmp/nginx.err" >&2; fail "nginx did not start"; finish; }

good="wss://localhost:$gport/relay/ws"
wrong="wss://localhost:$wport/relay/ws"
echo 'print("ok")' >noop.lua

# --- verification failures (core §1: exit 1, "mesh error: connect to <url> failed: ...") ---
run run -s noop.lua -r "$good"
expect_rc 1 "untrusted certificate"
expect_err "Error: mesh error: connect to $good failed: connection failed: TLS error: certificate verify failed: self-signed certificate" "untrusted certificate"
SSL_CERT_FILE="$tmp/trust.pem" run run -s noop.lua -r "$wrong"
expect_rc 1 "wrong host name"
expect_err "Error: mesh error: connect to $wrong failed: connection failed: TLS error: certificate verify failed: hostname mismatch" "wrong host name"
# trust through SSL_CERT_DIR as well (c_rehash layout: <subject hash>.0)
mkdir -p "$tmp/certs"
cp "$tmp/good.pem" "$tmp/certs/$(openssl x509 -noout -subject_hash -in "$tmp/good.pem").0"
SSL_CERT_DIR="$tmp/certs" run run -s noop.lua -r "$good"
expect_rc 0 "trusted through SSL_CERT_DIR"
expect_out "ok" "trusted through SSL_CERT_DIR"
export SSL_CERT_FILE="$tmp/trust.pem"
run run -s noop.lua -r "$good"
expect_rc 0 "trusted certificate"
cat "$tmp/out" "$tmp/err" | grep -qF "mesh: authenticated to the relay $good" ||
    fail "authenticated over wss"

# --- B: plain ws://, serves requests and asks A twice (the second time after A reconnects) ---
cat >b.lua <<'EOF'
local A = _CONTEXT
mesh.on(function(ev) return { got = ev.payload.hello, from = ev.meta.from } end)
std.task.spawn(bus.serve)
print("B up")
io.stdout:flush()
for round = 1, 2 do
  if round == 2 then
    local t = std.time.millis() + 60000
    while not std.fs.exists("go2") and std.time.millis() < t do std.task.sleep(100) end
  end
  local deadline = std.time.millis() + 30000
  local ok, r
  repeat
    ok, r = pcall(mesh.request, A, { round = round }, { timeout = 2 })
    if not ok then std.task.sleep(200) end
  until ok or std.time.millis() > deadline
  print("B->A " .. round .. " " .. tostring(ok) .. " " .. (ok and std.json.encode(r) or tostring(r)))
  io.stdout:flush()
end
EOF
: >"$tmp/b.out"
"$AB_BIN" run -s b.lua -r "ws://127.0.0.1:$rport/ws" --secret-key "$SEED_B" -c "$ID_A" \
    >"$tmp/b.out" 2>&1 </dev/null &
b_pid=$!
pids+=("$b_pid")
wait_for "$tmp/b.out" "B up" 100 || fail "B did not start"

# --- A: wss:// through nginx, asks B, then serves ---
cat >a.lua <<'EOF'
local B = _CONTEXT
mesh.on(function(ev) return { got = ev.payload.round, from = ev.meta.from } end)
local deadline = std.time.millis() + 30000
local ok, r
repeat
  ok, r = pcall(mesh.request, B, { hello = "over wss" }, { timeout = 2 })
  if not ok then std.task.sleep(200) end
until ok or std.time.millis() > deadline
print("A->B " .. tostring(ok) .. " " .. (ok and std.json.encode(r) or tostring(r)))
io.stdout:flush()
bus.serve()
EOF
: >"$tmp/a.out"
"$AB_BIN" run -s a.lua -r "$good" --secret-key "$SEED_A" -c "$ID_B" >"$tmp/a.out" 2>&1 </dev/null &
a_pid=$!
pids+=("$a_pid")

wait_for "$tmp/a.out" "A->B " 400 || fail "A never got an answer"
grep -qxF "A->B true {\"from\":\"$ID_A\",\"got\":\"over wss\"}" "$tmp/a.out" ||
    fail "A (wss) -> B (ws) encrypted request: $(cat "$tmp/a.out")"
wait_for "$tmp/b.out" "B->A 1 " 400 || fail "B never got an answer"
grep -qxF "B->A 1 true {\"from\":\"$ID_B\",\"got\":1}" "$tmp/b.out" ||
    fail "B (ws) -> A (wss) encrypted request: $(cat "$tmp/b.out")"
grep -qF "event=mesh_request component=mesh" "$tmp/a.out" || fail "A's request was not logged"

# --- the TLS terminator dies and comes back: A reconnects over wss:// with backoff ---
kill -KILL "$nginx_pid"
wait "$nginx_pid" 2>/dev/null || true
wait_for "$tmp/a.out" "mesh: relay connection lost" 100 || fail "A did not notice the loss"
wait_for "$tmp/a.out" "mesh: reconnecting in" 100 || fail "A did not schedule a reconnect"
sleep 0.5
start_nginx || { cat "$tmp/nginx.err" >&2; fail "nginx did not restart"; }
: >"$tmp/go2"
wait_for "$tmp/b.out" "B->A 2 " 600 || fail "B's second request never ended"
grep -qxF "B->A 2 true {\"from\":\"$ID_B\",\"got\":2}" "$tmp/b.out" ||
    fail "A reachable again after reconnecting over wss: $(cat "$tmp/b.out")"
[ "$(grep -cE "mesh: (authenticated|session resumed) to the relay $good" "$tmp/a.out")" -ge 2 ] ||
    fail "A's log lacks a second authentication over wss: $(cat "$tmp/a.out")"

# both agents end normally on SIGTERM (bus.serve stops; sanitizer reports would fail them)
for who in a b; do
    p=$a_pid
    [ "$who" = b ] && p=$b_pid
    kill -TERM "$p" 2>/dev/null || true
    rc=0
    wait "$p" || rc=$?
    [ "$rc" -eq 0 ] || fail "agent $who exited with $rc: $(tail -20 "$tmp/$who.out")"
done
kill -TERM "$nginx_pid" 2>/dev/null || true
wait "$nginx_pid" 2>/dev/null || true
finish
