#!/usr/bin/env bash
# mesh_interop.sh - wire compatibility of the project's mesh with an independent implementation
# of spec mesh.md: tests/peers/mesh_py_peer.py (python3-websockets, python3-nacl, stdlib; shares
# no code with src/mesh). Everything goes through `agent-block relay` on an ephemeral loopback
# port:
#   1. Python peer -> agent-block agent (mesh.on + bus.serve): encrypted (Noise XX, Python as
#      initiator, several requests on one session) and plaintext requests with exact reply
#      payloads (floats, control characters, non-ASCII: the signatures cover the §6 normal form
#      on both sides), 60 kB encrypted and 300 kB plaintext messages (frames with 64-bit
#      lengths), a Lua handler error, and a no_session error for a foreign ciphertext.
#   2. agent-block mesh.request -> Python `serve`: encrypted (agent-block as initiator) and
#      {encrypted=false}, an `error` envelope both ways, the session still in step afterwards,
#      60 kB encrypted and 300 kB plaintext requests.
#   3. Python <-> Python through the relay alone: encrypted and plaintext requests, the offline
#      buffer, raw-frame relay checks (auth, resume, routing, re-canonicalization, fragments,
#      silent drops of a forged signature, a spoofed sender and a binary frame, with the
#      relay's log lines), and an idle peer kept alive by the relay's Pings.
# Every envelope either peer receives is verified; the Python peer also reports any wire text
# that differs from its own serialization, and the test fails on that. Needs AB_BIN.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

PY=/usr/bin/python3 # Debian's interpreter: the one that sees python3-nacl / python3-websockets
PEER="$here/../peers/mesh_py_peer.py"
export PYTHONDONTWRITEBYTECODE=1
. "$here/lib/mesh.sh"
mesh_setup mesh-interop

SEED_C=0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c
SEED_E=0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e

# py ARGS...: runs the Python peer (30 s at most); results in $tmp/out, $tmp/err, $rc.
py() {
    rc=0
    timeout 30 "$PY" "$PEER" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null || rc=$?
}

# expect_count N LINE WHAT: stdout has LINE exactly N times.
expect_count() {
    local n
    n=$(grep -cxF -- "$2" "$tmp/out" || true)
    [ "$n" -eq "$1" ] || fail "$3: '$2' seen $n times, want $1"
}

# expect_only LINE WHAT: stdout is exactly LINE (compared in the shell: LINE may be too long
# for a command argument).
expect_only() {
    [ "$(cat "$tmp/out")" = "$1" ] || fail "$2: stdout is not the expected line"
}

# python_clean WHAT: the Python peer verified every envelope and saw the expected wire forms.
python_clean() {
    reject_err "py: bad envelope" "$1"
    reject_err "py: wire form differs" "$1"
}

# stop_server PID OUT: SIGTERM, wait (bounded), then the serve summary line must be clean.
stop_server() {
    kill -TERM "$1" 2>/dev/null || true
    for _ in $(seq 100); do
        kill -0 "$1" 2>/dev/null || break
        sleep 0.1
    done
    wait "$1" 2>/dev/null || true
    grep -qxF "serve done bad=0 wire_diffs=0" "$2" || {
        fail "python serve: envelopes it could not verify or unexpected wire forms"
        cat "$2" "$2.err" >&2
    }
}

py selftest
expect_rc 0 "the Python peer fails its Appendix A self-check; nothing below can be trusted"
finish

start_relay

# --- 1. Python peer -> agent-block agent --------------------------------------------------------
cat >b.lua <<'EOF'
mesh.on(function(ev)
  local p = ev.payload
  if p.fail then error("py asked to fail") end
  return { text = string.upper(p.text), num = p.num, n = (p.n or 0) + 1, from = ev.meta.from,
           tenth = 0.1, tiny = 1e-7, big = 1.5e20, ints = { 1, -2, 3 }, s = "é/\1\"\t" }
end)
print("B " .. mesh.agent_id())
io.stdout:flush()
bus.serve()
EOF
: >"$tmp/b.out"
"$AB_BIN" run -s b.lua -r "$url" --secret-key "$SEED_B" >"$tmp/b.out" 2>&1 </dev/null &
b_pid=$!
pids+=("$b_pid")
wait_for "$tmp/b.out" "B $ID_B" 150 || fail "agent-block B did not start"

fixed='"big":1.5e+20,"from":"'$ID_A'","ints":[1,-2,3]'
tail_='"s":"é/\u0001\"\t","tenth":0.1'
py request "$url" "$SEED_A" "$ID_B" '{"text":"héllo\u0001/","num":1.5e20,"n":41}' --count 3
expect_rc 0 "py -> agent-block encrypted"
want='{'"$fixed"',"n":42,"num":1.5e+20,'"$tail_"',"text":"HéLLO\u0001/","tiny":1e-7}'
expect_count 3 "reply response $want (encrypted)" \
    "py -> agent-block: 3 encrypted requests on one Noise session"
python_clean "py -> agent-block encrypted"

py request "$url" "$SEED_A" "$ID_B" '{"text":"plain","num":-0,"n":1.0}' --plain
expect_rc 0 "py -> agent-block plaintext"
expect_out 'reply response {'"$fixed"',"n":2.0,"num":-0.0,'"$tail_"',"text":"PLAIN","tiny":1e-7}' \
    "py -> agent-block plaintext (the -0.0 and 2.0 floats survive)"
python_clean "py -> agent-block plaintext"

# frames over 65535 bytes (64-bit lengths) both ways through the relay and the link
x60k=$(head -c 60000 /dev/zero | tr '\0' x)
X60k=$(head -c 60000 /dev/zero | tr '\0' X)
py request "$url" "$SEED_A" "$ID_B" '{"text":"'"$x60k"'"}'
expect_only 'reply response {'"$fixed"',"n":1,'"$tail_"',"text":"'"$X60k"'","tiny":1e-7} (encrypted)' \
    "py -> agent-block: 60 kB encrypted request and response"
printf '{"text":"%s"}' "$(head -c 300000 /dev/zero | tr '\0' z)" >big.json
py request "$url" "$SEED_A" "$ID_B" @big.json --plain
Z300k=$(head -c 300000 /dev/zero | tr '\0' Z)
expect_only 'reply response {'"$fixed"',"n":1,'"$tail_"',"text":"'"$Z300k"'","tiny":1e-7}' \
    "py -> agent-block: 300 kB plaintext request and response"
python_clean "py -> agent-block big payloads"

py request "$url" "$SEED_A" "$ID_B" '{"fail":true}'
expect_rc 0 "py -> agent-block handler error"
lua_err='{"error":"bus error: isle error: lua error: py asked to fail"}'
expect_out "reply response $lua_err (encrypted)" "a Lua handler error is an encrypted response"
python_clean "py -> agent-block handler error"

py request "$url" "$SEED_A" "$ID_B" '{"fail":true}' --plain
expect_out "reply response $lua_err" "a Lua handler error, plaintext"

py request "$url" "$SEED_A" "$ID_B" '{"text":"x"}' --no-handshake
expect_rc 0 "py -> agent-block foreign ciphertext"
expect_out 'reply error {"error":"no_session"}' "a ciphertext under an unknown session"
python_clean "py -> agent-block no_session"

# --- 2. agent-block mesh.request -> Python serve ------------------------------------------------
: >"$tmp/serve.out"
"$PY" "$PEER" serve "$url" "$SEED_C" --seconds 60 >"$tmp/serve.out" 2>"$tmp/serve.out.err" \
    </dev/null &
s_pid=$!
pids+=("$s_pid")
wait_for "$tmp/serve.out" "serving " 100 || fail "python serve did not start"
ID_C=$(sed -n 's/^serving \(.*\)$/\1/p' "$tmp/serve.out")
cat >a.lua <<'EOF'
local PY = _CONTEXT
local function show(tag, ok, v)
  if type(v) == "table" then v = std.json.encode(v) end
  print(tag .. " " .. tostring(ok) .. " " .. tostring(v))
end
show("enc", pcall(mesh.request, PY, { text = "from lua é\1", num = 2.5 }))
show("enc2", pcall(mesh.request, PY, { text = "again", num = 1e-7 }))
show("plain", pcall(mesh.request, PY, { text = "plain lua", num = 7 }, { encrypted = false }))
show("fail", pcall(mesh.request, PY, { fail = true, capability = "cap" }))
show("plainfail", pcall(mesh.request, PY, { fail = true }, { encrypted = false }))
show("enc3", pcall(mesh.request, PY, { text = "still in step" }))
local ok, r = pcall(mesh.request, PY, { text = string.rep("y", 60000) })
print("big " .. tostring(ok and r.text == string.rep("Y", 60000)))
ok, r = pcall(mesh.request, PY, { text = string.rep("z", 300000) }, { encrypted = false })
print("bigplain " .. tostring(ok and r.text == string.rep("Z", 300000)))
EOF
run run -s a.lua -r "$url" --secret-key "$SEED_A" -c "$ID_C"
expect_rc 0 "agent-block -> py"
from='"from":"'$ID_A'"'
from_lua='"text":"FROM LUA É\u0001"'
expect_out 'enc true {"encrypted":true,'"$from"',"num":2.5,"peer":"py",'"$from_lua"'}' \
    "agent-block -> py encrypted (agent-block initiates the handshake)"
expect_out 'enc2 true {"encrypted":true,'"$from"',"num":1e-7,"peer":"py","text":"AGAIN"}' \
    "agent-block -> py second encrypted request"
expect_out 'plain true {"encrypted":false,'"$from"',"num":7,"peer":"py","text":"PLAIN LUA"}' \
    "agent-block -> py {encrypted=false}"
expect_out 'fail false remote error: {"error":"py_fail","capability":"cap"}' \
    "an encrypted error envelope from Python"
expect_out 'plainfail false remote error: {"capability":"unknown","error":"py_fail"}' \
    "a plaintext error envelope from Python"
expect_out 'enc3 true {"encrypted":true,'"$from"',"num":null,"peer":"py","text":"STILL IN STEP"}' \
    "the Noise session is still in step after errors and plaintext"
expect_out "big true" "agent-block -> py: 60 kB encrypted request and response"
expect_out "bigplain true" "agent-block -> py: 300 kB plaintext request and response"
stop_server "$s_pid" "$tmp/serve.out"
grep -qF "session established as responder with $ID_A" "$tmp/serve.out.err" ||
    fail "python serve did not complete the handshake as responder"

kill -TERM "$b_pid" 2>/dev/null || true
rc=0
wait "$b_pid" || rc=$?
expect_rc 0 "agent-block B stops cleanly on SIGTERM (sanitizer builds fail here on a report)"
grep -qF "has no session here: no_session" "$tmp/b.out" || fail "B logs the no_session answer"

# --- 3. Python <-> Python through the relay alone -----------------------------------------------
: >"$tmp/serve.out"
"$PY" "$PEER" serve "ws://127.0.0.1:$port/relay/ws" "$SEED_C" --seconds 60 \
    >"$tmp/serve.out" 2>"$tmp/serve.out.err" </dev/null &
s_pid=$!
pids+=("$s_pid")
wait_for "$tmp/serve.out" "serving " 100 || fail "python serve (/relay/ws) did not start"
py request "$url" "$SEED_B" "$ID_C" '{"text":"py to py","num":0.1}' --count 2
expect_rc 0 "py -> py encrypted"
want='{"encrypted":true,"from":"'$ID_B'","num":0.1,"peer":"py","text":"PY TO PY"}'
expect_count 2 "reply response $want (encrypted)" \
    "py -> py encrypted through the relay"
py request "$url" "$SEED_B" "$ID_C" '{"text":"plain","capability":"c","fail":0}' --plain
expect_out 'reply error {"capability":"c","error":"py_fail"}' "py -> py plaintext error envelope"
stop_server "$s_pid" "$tmp/serve.out"

# offline buffer: the request waits in the relay until its target authenticates
: >"$tmp/req.out"
timeout 30 "$PY" "$PEER" request "$url" "$SEED_B" \
    "$("$PY" "$PEER" id "$SEED_E")" \
    '{"text":"buffered"}' --plain --timeout 20 >"$tmp/req.out" 2>&1 </dev/null &
r_pid=$!
pids+=("$r_pid")
sleep 1
: >"$tmp/serve.out"
"$PY" "$PEER" serve "$url" "$SEED_E" --seconds 60 >"$tmp/serve.out" 2>"$tmp/serve.out.err" \
    </dev/null &
s_pid=$!
pids+=("$s_pid")
rc=0
wait "$r_pid" || rc=$?
want='{"encrypted":false,"from":"'$ID_B'","num":null,"peer":"py","text":"BUFFERED"}'
if ! grep -qxF "reply response $want" "$tmp/req.out"; then
    fail "a request buffered for an offline target is delivered"
    cat "$tmp/req.out" >&2
fi
stop_server "$s_pid" "$tmp/serve.out"

py relay-probe "$url"
expect_rc 0 "relay probe"
grep -q '^FAIL' "$tmp/out" && fail "relay probe cases"
n=$(grep -c '^ok ' "$tmp/out" || true)
[ "$n" -ge 27 ] || fail "relay probe ran $n cases, want 27"
grep -qF "relay drop reason=bad_signature from=$ID_A to=$ID_B" "$tmp/relay.out" ||
    fail "the forged signature's drop is not logged"
grep -qF "relay drop reason=from_mismatch from=$ID_A to=$ID_B" "$tmp/relay.out" ||
    fail "the spoofed sender's drop is not logged"
grep -qF "relay drop reason=invalid_envelope from=$ID_A to=- detail=binary frame ignored" \
    "$tmp/relay.out" || fail "the binary frame's drop is not logged"
grep -qF 'error="nonce signature invalid: ' "$tmp/relay.out" || fail "auth failure not logged"
kill -TERM "$relay_pid"
rc=0
wait "$relay_pid" || rc=$?
expect_rc 0 "the relay stops cleanly on SIGTERM"
# 3 probe envelopes and the request above waited in offline buffers
grep -Eq "relay stats .* flushed=([4-9]|[1-9][0-9]+) " "$tmp/relay.out" ||
    fail "the relay's stats show no flushed offline buffer"

# heartbeat: a relay that pings after 0.5 s idle and reaps after 2.5 s; websockets answers the
# Pings by itself, so the Python agent, silent for 4 s, must stay routable
relay_out=$tmp/relay2.out AGENT_BLOCK_RELAY_PING_AFTER_MS=500 \
    AGENT_BLOCK_RELAY_REAP_AFTER_MS=2500 AGENT_BLOCK_RELAY_REAP_INTERVAL_MS=100 start_relay
py relay-idle "$url" 4
expect_rc 0 "idle peer"
expect_out "ok an idle peer that answers Pings stays routable" "idle peer"
grep -Eqx 'pings [1-9][0-9]*' "$tmp/out" || fail "the relay's Pings reach an independent client"
kill -TERM "$relay_pid"
rc=0
wait "$relay_pid" || rc=$?
expect_rc 0 "the relay stops cleanly on SIGTERM"
grep -qF "reaped=0" "$tmp/relay2.out" || fail "the ponging Python agent was reaped"
finish
