#!/usr/bin/env bash
# What `make run` shows (examples/run.sh) works: the offline demo's results, and the mesh round
# (relay, a server agent with --workers 2, 400 encrypted requests) completes with every request
# served and none failed.
set -euo pipefail
: "${AB_BIN:?}" "${AB_SRC:?}"
out=$(AB_BIN="$AB_BIN" timeout 120 "$AB_SRC/examples/run.sh" 2>&1)
fail=0
for want in '3 tasks of ~55 ms each finished in' 'with_timeout:	false	task.with_timeout: exceeded 20 ms' \
    'tool.call word_count ->	{"words":4}' 'first reply: {"upper":"HELLO AGENT MESH","words":3}' \
    '400 end-to-end encrypted requests in' 'server stopped: 401 requests served, 0 failed'; do
    grep -qF -- "$want" <<<"$out" || { echo "FAIL: output lacks: $want"; fail=1; }
done
[ "$fail" -eq 0 ] || { echo "$out"; exit 1; }
echo "make run demo: ok"
